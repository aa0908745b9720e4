package io.github.qednio.engine;

/**
 * What a consistency check found, with {@code qemu-img check}'s names and meanings (notes §11). After a repair,
 * the counts describe the image as checked again after the repair, and the {@code *Fixed} fields say what was
 * repaired.
 *
 * @param totalClusters      clusters of guest space: {@code ceil(image_size / cluster_size)}
 * @param allocatedClusters  L2 entries that point at a cluster (including invalid ones)
 * @param fragmentedClusters allocated clusters not directly after the previous one in the same L2 table
 * @param corruptions        invalid table entries and clusters referenced twice (or overlapping metadata)
 * @param leaks              clusters of the file that nothing references
 * @param checkErrors        tables that could not be read
 * @param corruptionsFixed   invalid entries cleared by the repair
 * @param leaksFixed         leaked clusters cut off the end of the file by the repair
 */
public record CheckResult(long totalClusters, long allocatedClusters, long fragmentedClusters, long corruptions,
                          long leaks, long checkErrors, long corruptionsFixed, long leaksFixed) {

    /** True if there are no corruptions and no check errors (leaks are harmless). */
    public boolean isConsistent() {
        return corruptions == 0 && checkErrors == 0;
    }

    /** True if nothing at all was found. */
    public boolean isClean() {
        return isConsistent() && leaks == 0;
    }

    /** {@code qemu-img check}'s exit code: 0 clean, 1 check errors, 2 corruptions, 3 only leaks. */
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
