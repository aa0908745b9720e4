package io.github.qednio.image;

/**
 * What a consistency check found, with {@code qemu-img check}'s names and meanings (notes §11). After a repair,
 * the counts are those of a check of the file alone made once the repair's writes were durable (qemu-img's "double
 * check"), and the {@code *Fixed} fields are how many fewer corruptions and leaks it found than the check before.
 *
 * <p>Leaks are counted with correct cluster arithmetic, so on files of more than {@code cluster_size - 1}
 * clusters QEMU 7.2 reports {@code floor(clusters / (cluster_size - 1))} more leaks than this (notes §11.4). The
 * file size is its length rounded down to a whole cluster; a partial cluster at the end is neither referenced nor
 * counted (QEMU first rounds the length up to 512 bytes, so it may count such a tail as one more leak).
 *
 * @param totalClusters      clusters of guest space: {@code ceil(image_size / cluster_size)}
 * @param allocatedClusters  L2 entries that point at a cluster (including invalid ones; zero clusters are not
 *                           counted), in the L2 tables that were scanned
 * @param fragmentedClusters allocated clusters not directly after the previous one in the same L2 table
 * @param corruptions        invalid table entries not repaired, plus each cluster referenced a second time: by
 *                           two entries, or by an entry and the L1 table or an L2 table (a duplicate L2 table
 *                           counts once per cluster it shares and is not scanned)
 * @param leaks              clusters of the file after the header that nothing references; 0 if any table could
 *                           not be read (then the count would be meaningless)
 * @param checkErrors        L2 tables that could not be read
 * @param corruptionsFixed   corruptions found before the repair and not after it (invalid entries cleared to 0)
 * @param leaksFixed         leaked clusters found before the repair and not after it (cut off the end of the file
 *                           or filled by a move, by {@link Repair#LEAKS})
 * @param imageEndOffset     qcow2 only ({@code image-end-offset}): the end of the last cluster that the refcounts
 *                           or the tables use; 0 for QED, whose check does not report it
 * @param compressedClusters qcow2 only ({@code compressed-clusters}): compressed L2 entries; 0 for QED
 */
public record CheckResult(long totalClusters, long allocatedClusters, long fragmentedClusters, long corruptions,
                          long leaks, long checkErrors, long corruptionsFixed, long leaksFixed, long imageEndOffset,
                          long compressedClusters) {

    /**
     * A result without the qcow2-only figures, as QED's check reports it.
     *
     * @param totalClusters      see the record description
     * @param allocatedClusters  see the record description
     * @param fragmentedClusters see the record description
     * @param corruptions        see the record description
     * @param leaks              see the record description
     * @param checkErrors        see the record description
     * @param corruptionsFixed   see the record description
     * @param leaksFixed         see the record description
     */
    public CheckResult(long totalClusters, long allocatedClusters, long fragmentedClusters, long corruptions,
                       long leaks, long checkErrors, long corruptionsFixed, long leaksFixed) {
        this(totalClusters, allocatedClusters, fragmentedClusters, corruptions, leaks, checkErrors, corruptionsFixed,
                leaksFixed, 0, 0);
    }

    /** {@return true if there are no corruptions and no check errors (leaks are harmless)} */
    public boolean isConsistent() {
        return corruptions == 0 && checkErrors == 0;
    }

    /** {@return true if nothing at all was found} */
    public boolean isClean() {
        return isConsistent() && leaks == 0;
    }

    /** {@return {@code qemu-img check}'s exit code: 0 clean, 1 check errors, 2 corruptions, 3 only leaks} */
    public int exitCode() {
        if (checkErrors > 0) {
            return 1;
        }
        if (corruptions > 0) {
            return 2;
        }
        return leaks > 0 ? 3 : 0;
    }
}
