package io.github.qednio.ops;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.internal.convert.Qcow2Source;
import io.github.qednio.internal.convert.Qcow2Target;
import io.github.qednio.internal.convert.QedSource;
import io.github.qednio.internal.convert.QedTarget;
import io.github.qednio.internal.convert.SourceLayout;
import io.github.qednio.internal.convert.TargetPlan;
import io.github.qednio.image.Progress;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.internal.storage.RawImageFile;
import io.github.qednio.format.QedFormatException;
import io.github.qednio.format.QedHeader;
import io.github.qednio.format.Qcow2Header;
import io.github.qednio.internal.qcow2.Qcow2Image;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/**
 * Converts an image file between QED and qcow2 in place: the data clusters stay where they are, only the mapping
 * is rewritten. One reader per source format turns the image into a format-neutral {@link SourceLayout} (its own
 * {@link io.github.qednio.image.BlockMapping} runs), one writer per target format plans and writes the new
 * metadata from it; no code is specific to a pair of formats.
 *
 * <p>Crash safety: until the last step the file is a valid image of the old format with unchanged guest content.
 * Every new structure is written past the old end of the file (or into bytes of cluster 0 the old format does
 * not use) and flushed; then one write of at most one 512-byte sector at offset 0 replaces the old header with
 * the new one, and a flush makes it durable. Disks write a sector atomically, so a crash leaves either format,
 * never a mixture; running the conversion again on the file finishes it, or reports that it is already done.
 * The old format's metadata is left unreferenced (in qcow2, clusters of refcount 0: free space, not leaks).
 */
public final class InPlaceConverter {
    private InPlaceConverter() {
    }

    /**
     * Reports what {@link #convert} would do, or throws why it would refuse, without writing a byte.
     *
     * @param image  the image file
     * @param target the format to convert to
     * @return the plan: metadata bytes and the final file length, or that the image already is in that format
     * @throws ConversionRefusedException naming the reason if the image cannot be converted in place, or is already in
     *         the target format but damaged (a header or table that cannot be read, corruption the check finds)
     * @throws IOException if the image cannot be read
     */
    public static ConversionReport dryRun(Path image, ImageFormat target) throws IOException {
        try (RawImageFile file = RawImageFile.open(image, true)) {
            return run(image, file, target, true, Progress.NONE);
        }
    }

    /**
     * Converts the image in place. A QED image with {@code QED_F_NEED_CHECK} set is checked and repaired first,
     * as a read-write open does.
     *
     * @param image    the image file
     * @param target   the format to convert to
     * @param progress told how many bytes of metadata have been written
     * @return what was done
     * @throws ConversionRefusedException naming the reason if the image cannot be converted in place, or is already in
     *         the target format but damaged (nothing was written then)
     * @throws io.github.qednio.image.ImageLockedException if another process has the image open for writing
     * @throws IOException if a read or write fails (the file is then still a valid image of one of the formats)
     */
    public static ConversionReport convert(Path image, ImageFormat target, Progress progress)
            throws IOException {
        if (target != ImageFormat.QED) {
            QedImage.repairIfNeeded(image);
        }
        try (RawImageFile file = RawImageFile.open(image, false)) {
            return run(image, file, target, false, progress);
        }
    }

    /**
     * The conversion on an open file (tests pass a file whose writes can fail or crash). The source is read
     * through the engine from {@code image}, which must hold the same bytes as {@code file}.
     *
     * @param image the image file
     * @param file the same file, opened for the conversion's writes
     * @param target the format to convert to
     * @param dryRun plan only, writing nothing
     * @param progress told how many bytes of metadata have been written
     * @return what was done, or would be
     * @throws IOException if the image cannot be read or written, or cannot be converted in place
     */
    public static ConversionReport run(Path image, RawImageFile file, ImageFormat target, boolean dryRun,
                                Progress progress) throws IOException {
        if (target == ImageFormat.RAW) {
            throw new IllegalArgumentException(image + ": target format raw: converting in place goes between qed and"
                    + " qcow2");
        }
        long length = file.size();
        ImageFormat from = probe(file, image);
        if (from == target) {
            read(image, from, length, true); // a damaged image is refused, not reported as done
            return new ConversionReport(image, from, target, true, dryRun, 0, length, length);
        }
        SourceLayout src = read(image, from, length, false);
        TargetPlan plan = switch (target) {
            case QCOW2 -> Qcow2Target.plan(src, image.toString());
            case QED -> QedTarget.plan(src, image.toString());
            case RAW -> throw new IllegalStateException("refused above");
        };
        ConversionReport report = new ConversionReport(image, from, target, false, dryRun, plan.metadataBytes(),
                length, plan.finalLength());
        if (dryRun) {
            return report;
        }
        long total = plan.metadataBytes();
        long[] done = {0};
        plan.writeMetadata(file, n -> {
            done[0] += n;
            progress.update(Math.min(done[0], total), total);
        });
        file.force(); // every new structure is durable before the header names it
        ByteBuffer sector = plan.headerSector();
        if (sector.remaining() > TargetPlan.SECTOR) {
            throw new IllegalStateException("header of " + sector.remaining() + " bytes exceeds one sector");
        }
        file.write(sector, 0);
        file.force();
        progress.update(total, total);
        return report;
    }

    private static ImageFormat probe(RawImageFile file, Path image) throws IOException {
        ByteBuffer head = ByteBuffer.allocate(QedHeader.HEADER_LENGTH);
        file.read(head, 0);
        head.flip();
        if (QedHeader.hasMagic(head.duplicate())) {
            return ImageFormat.QED;
        }
        if (Qcow2Header.hasMagic(head.duplicate())) {
            return ImageFormat.QCOW2;
        }
        throw new ConversionRefusedException("format", image + ": neither a QED nor a qcow2 image", null);
    }

    /**
     * Opens the image with its format's reader and describes it; with {@code damageOnly}, only refuses a damaged
     * image (for one already in the target format, whose features need not be convertible) and returns null.
     */
    private static SourceLayout read(Path image, ImageFormat from, long length, boolean damageOnly)
            throws IOException {
        try {
            return switch (from) {
                case QED -> {
                    try (QedImage qed = QedImage.open(image, OpenOptions.readOnlyDefaults())) {
                        if (damageOnly) {
                            QedSource.requireConsistent(qed, false);
                            yield null;
                        }
                        yield QedSource.read(qed, length);
                    }
                }
                case QCOW2 -> {
                    try (Qcow2Image qcow2 = Qcow2Image.open(image)) {
                        if (damageOnly) {
                            Qcow2Source.requireIntact(qcow2, length);
                            yield null;
                        }
                        yield Qcow2Source.read(qcow2, length);
                    }
                }
                case RAW -> throw new IllegalStateException("probe returns qed or qcow2");
            };
        } catch (QedFormatException e) {
            throw new ConversionRefusedException(e.field(), e.getMessage(), e);
        }
    }
}
