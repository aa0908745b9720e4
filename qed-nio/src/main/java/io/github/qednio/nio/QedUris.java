package io.github.qednio.nio;

import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Path;

/**
 * The {@code qed:} URI syntax: {@code qed:} followed by the image file's own URI exactly as {@link Path#toUri()}
 * gives it, for example {@code qed:file:///var/images/a%20b.qed} or {@code qed:jimfs://test/disk.qed}.
 *
 * <p>The inner URI is taken from the <em>raw</em> scheme-specific part, so its escapes are never decoded and
 * re-encoded: names with spaces, {@code %}, {@code #}, {@code +} and non-ASCII characters round-trip. A fragment,
 * if present, names a path inside the {@code qed:} file system other than the disk (see {@link QedPath#toUri()}).
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
        try {
            return Path.of(inner);
        } catch (java.nio.file.FileSystemNotFoundException e) {
            throw new java.nio.file.FileSystemNotFoundException("the file system of the image in '" + uri
                    + "' (" + inner.getScheme() + ":) is not open");
        }
    }

    /** The path named by the fragment of a {@code qed:} URI, or null for the disk. */
    static String fragmentPath(URI uri) {
        return uri.getRawFragment() == null ? null : uri.getFragment();
    }

    private static void checkScheme(URI uri) {
        if (!SCHEME.equalsIgnoreCase(uri.getScheme())) {
            throw new IllegalArgumentException("'" + uri + "' is not a qed: URI");
        }
        if (!uri.isOpaque()) {
            throw new IllegalArgumentException("'" + uri + "' is not 'qed:' followed by an image file's URI,"
                    + " e.g. \"qed:\" + image.toUri()");
        }
    }
}
