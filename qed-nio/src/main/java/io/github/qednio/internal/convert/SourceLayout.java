package io.github.qednio.internal.convert;

import io.github.qednio.image.ImageFormat;
import java.util.List;
import java.util.stream.LongStream;

/**
 * The format-neutral description of an image that a target format's writer needs: its size, cluster size and
 * backing file, where the old format's bytes end, which bytes of cluster 0 the old format uses, and its own
 * guest-to-host mapping (depth 0 of {@link io.github.qednio.image.BlockMapping}: data runs with their host
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
public record SourceLayout(ImageFormat from, long virtualSize, long clusterSize, String backingFile, String backingFormat,
                    long fileLength, long freeFrom, List<long[]> cluster0Used, List<Run> runs) {

    /**
     * The first 8-aligned offset at or after {@code from} where {@code length} bytes overlap nothing the old format
     * uses in cluster 0, or -1 if none ends by {@code limit}.
     */
    long freeInCluster0(long from, int length, long limit) {
        long at = (from + 7) & ~7L;
        boolean moved = true;
        while (moved) {
            moved = false;
            for (long[] r : cluster0Used) {
                if (at < r[1] && r[0] < at + length) {
                    at = (r[1] + 7) & ~7L;
                    moved = true;
                }
            }
        }
        return at + length <= limit ? at : -1;
    }

    /** {@return the sorted indices of the tables of {@code perTable} guest bytes that some run touches} */
    long[] tablesTouched(long perTable) {
        return runs.stream().flatMapToLong(r -> LongStream.rangeClosed(r.start() / perTable, (r.end() - 1) / perTable))
                .distinct().sorted().toArray();
    }

    /**
     * Calls {@code sink} for each cluster of {@code step} bytes that a run holds in guest range
     * {@code [from, to)}, in guest order.
     */
    void forEachCluster(long from, long to, long step, ClusterSink sink) throws java.io.IOException {
        int lo = 0;
        int hi = runs.size();
        while (lo < hi) { // the first run that ends after from
            int mid = (lo + hi) >>> 1;
            if (runs.get(mid).end() <= from) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        for (int i = lo; i < runs.size() && runs.get(i).start() < to; i++) {
            Run r = runs.get(i);
            for (long g = Math.max(r.start(), from); g < Math.min(r.end(), to); g += step) {
                sink.cluster(g, r.zero() ? -1 : r.host() + (g - r.start()));
            }
        }
    }

    /** Receives one guest cluster of a run. */
    @FunctionalInterface
    interface ClusterSink {
        /**
         * @param guest guest offset of the cluster
         * @param host  its host offset, or -1 if it reads as zeros
         */
        void cluster(long guest, long host) throws java.io.IOException;
    }

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
