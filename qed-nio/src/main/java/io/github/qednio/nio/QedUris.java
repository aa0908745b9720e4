package io.github.qednio.nio;

import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Path;

/**
 * The {@code qed:} URI syntax: {@code qed:} followed by the image file's own URI exactly as {@link Path#toUri()}
 * gives it, for example {@code qed:file:///var/images/a%20b.qed} or {@code qed:jimfs://test/disk.qed}.
 *
 * <p>The inner URI is taken from the <em>raw</em> scheme-specific part, so its escapes are never decoded and
 * re-encoded: names with spaces, {@code %}, {@code #}, {@code +} and non-ASCII characters round-trip.
 *
 * <p>A fragment, if present, must be an absolute path inside the {@code qed:} file system ({@code #/} for the
 * root directory, {@code #/disk} is the disk like no fragment at all), as {@link QedPath#toUri()} writes it. Every
 * entry point that takes a {@code qed:} URI checks it the same way: {@code Path.of(uri)} returns that path;
 * {@code newFileSystem(uri, env)} and {@code getFileSystem(uri)} concern the whole image and accept it. Any other
 * fragment (empty, relative) is refused with an IllegalArgumentException naming the URI.
 */
final class QedUris {
    static final String SCHEME = "qed";

    private QedUris() {
    }

    /** The {@code qed:} URI of the disk of {@code image}. */
    static URI diskUri(Path image) {
        return URI.create(SCHEME + ":" + image.toUri());
    }

    /** The {@code qed:} URI of {@code path} (not the disk) inside the file system of {@code image}. */
    static URI pathUri(Path image, String path) {
        try {
            String fragment = new URI(null, null, path).getRawFragment();
            return URI.create(diskUri(image) + "#" + fragment);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("path '" + path + "' cannot be put in a URI fragment", e);
        }
    }

    /**
     * The image file's URI inside a {@code qed:} URI.
     *
     * @throws IllegalArgumentException if {@code uri} is not {@code qed:} followed by an absolute URI
     */
    static URI innerUri(URI uri) {
        checkScheme(uri);
        String ssp = uri.getRawSchemeSpecificPart();
        URI inner;
        try {
            inner = new URI(ssp);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("'" + uri + "' is not 'qed:' followed by an image file's URI: "
                    + e.getMessage(), e);
        }
        if (!inner.isAbsolute()) {
            throw new IllegalArgumentException("'" + uri + "' is not 'qed:' followed by an image file's URI"
                    + " (the inner URI '" + ssp + "' has no scheme), e.g. \"qed:\" + image.toUri()");
        }
        return inner;
    }

    /** The image file named by a {@code qed:} URI, through the provider of the inner URI's scheme. */
    static Path imagePath(URI uri) {
        URI inner = innerUri(uri);
        fragmentPath(uri); // refused the same way everywhere
        try {
            return Path.of(inner);
        } catch (java.nio.file.FileSystemNotFoundException e) {
            throw new java.nio.file.FileSystemNotFoundException("the file system of the image in '" + uri
                    + "' (" + inner.getScheme() + ":) is not open");
        }
    }

    /**
     * The path named by the fragment of a {@code qed:} URI, or null for the disk.
     *
     * @throws IllegalArgumentException naming the URI if the fragment is not an absolute path
     */
    static String fragmentPath(URI uri) {
        if (uri.getRawFragment() == null) {
            return null;
        }
        String f = uri.getFragment();
        if (!f.startsWith("/")) {
            throw new IllegalArgumentException("'" + uri + "': the fragment '" + f + "' is not an absolute path in"
                    + " the qed: file system (use #/ for the root directory, or no fragment for the disk)");
        }
        return f;
    }

    private static void checkScheme(URI uri) {
        if (!SCHEME.equalsIgnoreCase(uri.getScheme())) {
            throw new IllegalArgumentException("'" + uri + "' is not a qed: URI (its scheme is '" + uri.getScheme()
                    + "')");
        }
        if (!uri.isOpaque()) {
            throw new IllegalArgumentException("'" + uri + "' is not 'qed:' followed by an image file's URI,"
                    + " e.g. \"qed:\" + image.toUri()");
        }
    }
}
