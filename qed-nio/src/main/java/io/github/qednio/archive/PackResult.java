package io.github.qednio.archive;

import java.util.List;

/**
 * What {@link ImageArchives#pack} wrote.
 *
 * @param format       the archive's format
 * @param archiveBytes the archive's length on the disk
 * @param diskSize     the image's virtual disk size
 * @param copied       true if an existing archive was copied as is (decompressed if it was gzipped)
 * @param linksOutside the symbolic links packed whose targets lead outside the packed sources (absolute, or climbing
 *                     above them with {@code ..}, following the sources' own links), in archive order: stored as
 *                     they are, as tar stores them, they point outside the unpacked tree too; empty for a copied
 *                     archive (not read)
 */
public record PackResult(ArchiveFormat format, long archiveBytes, long diskSize, boolean copied,
                         List<Link> linksOutside) {
    /**
     * A result; {@code linksOutside} is copied.
     *
     * @param format       the archive's format
     * @param archiveBytes the archive's length on the disk
     * @param diskSize     the image's virtual disk size
     * @param copied       true if an existing archive was copied as is
     * @param linksOutside the symbolic links leading outside the packed sources
     */
    public PackResult {
        linksOutside = List.copyOf(linksOutside);
    }

    /**
     * A symbolic link as packed.
     *
     * @param name   its entry name in the archive
     * @param target its target, as stored
     */
    public record Link(String name, String target) {
    }
}
