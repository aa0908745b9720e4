package io.github.qednio.ops;

import io.github.qednio.image.ImageFormat;
import java.nio.file.Path;

/**
 * What an in-place conversion did, or (for a dry run) would do.
 *
 * @param image            the image file
 * @param from             the format the file had
 * @param to               the format it has (or would have) afterwards
 * @param alreadyConverted true if the file already was in the target format, so nothing was (or would be) done
 * @param dryRun           true if nothing was written
 * @param metadataBytes    bytes of new metadata written past the old end of the file (the header sector and the
 *                         bytes written into the header cluster not counted)
 * @param sizeBefore       the file's length before
 * @param sizeAfter        the file's length after
 */
public record ConversionReport(Path image, ImageFormat from, ImageFormat to, boolean alreadyConverted, boolean dryRun,
                               long metadataBytes, long sizeBefore, long sizeAfter) {
}
