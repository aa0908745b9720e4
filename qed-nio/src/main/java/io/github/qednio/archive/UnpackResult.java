package io.github.qednio.archive;

/**
 * What {@link ImageArchives#unpack} extracted.
 *
 * @param format  the format found on the disk
 * @param entries files, directories and links created
 * @param bytes   bytes of file content written
 */
public record UnpackResult(ArchiveFormat format, int entries, long bytes) {
}
