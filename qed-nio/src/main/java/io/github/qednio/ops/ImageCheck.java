package io.github.qednio.ops;

import io.github.qednio.image.QedImage;
import io.github.qednio.image.CheckResult;
import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.Repair;
import io.github.qednio.internal.qcow2.Qcow2Check;
import java.io.IOException;
import java.nio.file.Path;

/**
 * {@code qemu-img check} without repair, for every format the library reads: a QED image through its engine, a
 * qcow2 image by its refcounts, as QEMU's qcow2 driver checks it. Nothing is written. (QED images are repaired
 * through {@link QedImage#check}; qcow2 images are repaired by {@code qemu-img check -r}.)
 *
 * <pre>{@code
 * CheckResult r = ImageCheck.of(Path.of("disk.qcow2"), ImageFormat.QCOW2, false);
 * if (!r.isConsistent()) { ... }
 * }</pre>
 */
public final class ImageCheck {
    private ImageCheck() {
    }

    /**
     * Checks {@code file} read-only.
     *
     * @param file the image
     * @param format its format, or null to probe it
     * @param forceShare read even while another process writes the image ({@link OpenOptions#withForceShare});
     *     QED only
     * @return the counts {@code qemu-img check} reports for the same file
     * @throws IllegalArgumentException if the image is raw, which has nothing to check
     * @throws IOException if the image cannot be read, or its header or tables are malformed beyond checking
     */
    public static CheckResult of(Path file, ImageFormat format, boolean forceShare) throws IOException {
        ImageFormat f = format != null ? format : ImageFormat.probe(file);
        switch (f) {
            case QED:
                try (QedImage img = QedImage.open(file, OpenOptions.readOnlyDefaults().withForceShare(forceShare))) {
                    return img.check(Repair.NONE);
                }
            case QCOW2:
                return Qcow2Check.check(file);
            default:
                throw new IllegalArgumentException(file + ": a raw file has nothing to check");
        }
    }
}
