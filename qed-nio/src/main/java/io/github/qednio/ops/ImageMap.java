package io.github.qednio.ops;

import io.github.qednio.format.QedFormatException;
import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.MappedExtent;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.internal.qed.Backing;
import io.github.qednio.internal.chain.BackingChain;
import io.github.qednio.internal.qed.ChainMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * What {@code qemu-img map} reports for a QED or qcow2 image: the runs of its guest bytes through its whole backing
 * chain (raw, QED or qcow2 backing files), adjacent runs with the same mapping merged. A compressed qcow2 cluster
 * is data without a host offset ({@link MappedExtent#hostOffset()} -1), as qemu-img prints it.
 *
 * <pre>{@code
 * for (MappedExtent e : ImageMap.of(Path.of("disk.qcow2"), null, false)) {
 *     System.out.println(e.start() + " " + e.length() + " " + e.type() + " " + e.depth());
 * }
 * }</pre>
 */
public final class ImageMap {
    private ImageMap() {
    }

    /**
     * What {@code qemu-img map} gets of an image before an invalid table entry stops it.
     *
     * @param extents the runs it prints: those before the first cluster that cannot be mapped, less the last one
     *                (qemu-img was still extending it); all of them when nothing failed
     * @param failure the error that stopped the mapping, or null
     */
    public record Partial(List<MappedExtent> extents, QedFormatException failure) {
    }

    /**
     * Maps a whole qcow2 image as {@link #of} does, but on an invalid table entry (of the image or a backing file)
     * returns the runs qemu-img map prints before it stops, with the error, instead of throwing it.
     *
     * @param file       the qcow2 image, named as its data extents should name it
     * @param forceShare true to read an image another process writes, as qemu-img's {@code -U}
     * @return the runs and the failure, if any
     * @throws IOException if the image or a backing file cannot be opened or read
     */
    public static Partial qcow2UpToFailure(Path file, boolean forceShare) throws IOException {
        try (Backing img = BackingChain.openQcow2Top(file, OpenOptions.readOnlyDefaults()
                .withForceShare(forceShare))) {
            try {
                return new Partial(ChainMapper.mapQcow2Top(img, 0, img.size()), null);
            } catch (QedFormatException e) {
                // Bisection over the clusters for the longest prefix that maps.
                long cs = img.qcow2().header().clusterSize();
                long good = 0;
                long bad = (img.size() + cs - 1) / cs;
                while (bad - good > 1) {
                    long mid = (good + bad) >>> 1;
                    try {
                        ChainMapper.mapQcow2Top(img, 0, mid * cs);
                        good = mid;
                    } catch (QedFormatException f) {
                        bad = mid;
                    }
                }
                List<MappedExtent> mapped = good == 0 ? List.of() : ChainMapper.mapQcow2Top(img, 0, good * cs);
                return new Partial(mapped.isEmpty() ? mapped : mapped.subList(0, mapped.size() - 1), e);
            }
        }
    }

    /**
     * Maps a whole image, read-only.
     *
     * @param file       the image, named as its data extents should name it
     * @param format     its format (QED or qcow2), or null to probe it
     * @param forceShare true to read an image another process writes, as qemu-img's {@code -U}
     * @return the runs in guest order, covering the image
     * @throws IOException if the image or a backing file cannot be read, is not a valid image, or is a raw file
     *                     (which has no mapping of its own here)
     */
    public static List<MappedExtent> of(Path file, ImageFormat format, boolean forceShare) throws IOException {
        ImageFormat f = format != null ? format : ImageFormat.probe(file);
        OpenOptions options = OpenOptions.readOnlyDefaults().withForceShare(forceShare);
        switch (f) {
            case QCOW2 -> {
                try (Backing img = BackingChain.openQcow2Top(file, options)) {
                    return ChainMapper.mapQcow2Top(img, 0, img.size());
                }
            }
            case QED -> {
                try (QedImage img = QedImage.open(file, options)) {
                    return img.map(0, img.size());
                }
            }
            default -> throw new IOException(file + ": is a raw file, which map does not read (it has no"
                    + " mapping of its own)");
        }
    }
}
