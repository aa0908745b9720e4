package io.github.qednio.convert;

import java.util.List;

/**
 * The format-neutral description of an image that a target format's writer needs: its size, cluster size and
 * backing file, where the old format's bytes end, which bytes of cluster 0 the old format uses, and its own
 * guest-to-host mapping (depth 0 of {@link io.github.qednio.engine.BlockMapping}: data runs with their host
 * offsets and zero runs; everything else reads from the backing file).
 *
 * @param from          the source format
 * @param virtualSize   guest-visible size
 * @param clusterSize   the source's cluster size (host data runs are aligned to it)
 * @param backingFile   the backing file name as stored, or null
 * @param backingFormat QEMU's name of the backing file's format ({@code raw}, {@code qed}, {@code qcow2}), or null
 *                      if the source does not record it
 * @param fileLength    the file's length now
 * @param freeFrom      the first offset the old format does not use: new metadata goes from here on
 * @param cluster0Used  {@code [start, end)} ranges of cluster 0 the old format uses (its header, its backing name)
 * @param runs          data and zero runs in guest order, each within the virtual size
 */
record SourceLayout(DiskFormat from, long virtualSize, long clusterSize, String backingFile, String backingFormat,
                    long fileLength, long freeFrom, List<long[]> cluster0Used, List<Run> runs) {

    /**
     * A run of guest clusters the source holds itself.
     *
     * @param start  guest offset, cluster-aligned
     * @param length bytes (the last run may end at the unaligned virtual size)
     * @param host   host offset of the first byte, or -1 for a zero run
     */
    record Run(long start, long length, long host) {
        boolean zero() {
            return host < 0;
        }

        long end() {
            return start + length;
        }
    }
}
