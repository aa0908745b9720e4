package io.github.qednio.archive;

/**
 * What {@link ImageArchives#pack} wrote.
 *
 * @param format       the archive's format
 * @param archiveBytes the archive's length on the disk
 * @param diskSize     the image's virtual disk size
 * @param copied       true if an existing archive was copied as is (decompressed if it was gzipped)
 */
public record PackResult(ArchiveFormat format, long archiveBytes, long diskSize, boolean copied) {
}
