package io.github.qednio.format;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

class GeometryTest {
    private static final int KIB = 1024;
    private static final int MIB = 1024 * KIB;
    private static final Geometry DEFAULT = Geometry.of(64 * KIB, 4, 1);

    /**
     * The maximum-size table of notes §4 (N^2 * cluster_size), one row per cluster size, columns table_size 1, 2,
     * 4, 8, 16. "0!" marks where QEMU's u64 product wraps to 0: we saturate at Long.MAX_VALUE and QEMU cannot open
     * such an image. 8 EiB (2^63) does not fit a long either and also saturates, though QEMU does not wrap there.
     */
    private static final String[] MAX_SIZE_TABLE = {
        "4K   1G   4G   16G  64G  256G",
        "8K   8G   32G  128G 512G 2T",
        "16K  64G  256G 1T   4T   16T",
        "32K  512G 2T   8T   32T  128T",
        "64K  4T   16T  64T  256T 1P",
        "128K 32T  128T 512T 2P   8P",
        "256K 256T 1P   4P   16P  64P",
        "512K 2P   8P   32P  128P 512P",
        "1M   16P  64P  256P 1E   4E",
        "2M   128P 512P 2E   8E   0!",
        "4M   1E   4E   0!   0!   0!",
        "8M   8E   0!   0!   0!   0!",
        "16M  0!   0!   0!   0!   0!",
        "32M  0!   0!   0!   0!   0!",
        "64M  0!   0!   0!   0!   0!",
    };
    private static final int[] TABLE_SIZES = {1, 2, 4, 8, 16};

    static List<Arguments> maxSizeTable() {
        List<Arguments> cells = new ArrayList<>();
        for (String row : MAX_SIZE_TABLE) {
            String[] f = row.trim().split("\\s+");
            for (int i = 0; i < TABLE_SIZES.length; i++) {
                cells.add(Arguments.of((int) parseSize(f[0]), TABLE_SIZES[i], f[i + 1]));
            }
        }
        return cells;
    }

    @ParameterizedTest(name = "cluster_size {0}, table_size {1}: {2}")
    @MethodSource("maxSizeTable")
    void maxImageSizeFollowsTheNotesTableAndSaturatesInsteadOfWrapping(int clusterSize, int tableSize,
                                                                         String cell) {
        Geometry g = Geometry.of(clusterSize, tableSize, 1);
        boolean wrapsInQemu = cell.equals("0!");
        long expected = wrapsInQemu || cell.equals("8E") ? Long.MAX_VALUE : parseSize(cell);
        assertThat(g.maxImageSize()).isEqualTo(expected);
        assertThat(g.isQemuCompatible()).as("QEMU 7.2 can open it (table_size 1 never, notes §14.1)")
                .isEqualTo(tableSize > 1 && !wrapsInQemu);
    }

    @Test
    void derivedSizesOfTheDefaultGeometry() {
        assertThat(DEFAULT.clusterBits()).isEqualTo(16);
        assertThat(DEFAULT.entriesPerTable()).isEqualTo(32768);
        assertThat(DEFAULT.tableBytes()).isEqualTo(256 * KIB);
        assertThat(DEFAULT.headerBytes()).isEqualTo(64 * KIB);
        assertThat(DEFAULT.bytesPerL2()).as("one L2 table spans 2 GiB").isEqualTo(2L << 30);
        assertThat(DEFAULT.maxImageSize()).as("64 TiB").isEqualTo(64L << 40);
    }

    @Test
    void largestGeometryKeepsItsDerivedSizesInRange() {
        Geometry g = Geometry.of(64 * MIB, 16, 63);
        assertThat(g.entriesPerTable()).isEqualTo(1 << 27);
        assertThat(g.tableBytes()).as("1 GiB").isEqualTo(1L << 30);
        assertThat(g.headerBytes()).isEqualTo(63L * 64 * MIB).isLessThan(1L << 32);
        assertThat(g.bytesPerL2()).isEqualTo(1L << 53);
    }

    @Test
    void indicesMatchPlacementsQemuWasSeenToMake() {
        // notes Appendix A: "write 1M 4k" -> L2[16]; "write 600M 4k" -> L2[9600]; "write -z 4G" -> L1[2].
        assertThat(DEFAULT.l1Index(1 << 20)).isZero();
        assertThat(DEFAULT.l2Index(1 << 20)).isEqualTo(16);
        assertThat(DEFAULT.l2Index(600L << 20)).isEqualTo(9600);
        assertThat(DEFAULT.l1Index(4L << 30)).isEqualTo(2);
        assertThat(DEFAULT.l2Index(4L << 30)).isZero();
    }

    @Test
    void indicesAtTableAndClusterBoundaries() {
        long span = DEFAULT.bytesPerL2();
        assertThat(DEFAULT.l1Index(span - 1)).isZero();
        assertThat(DEFAULT.l2Index(span - 1)).isEqualTo(DEFAULT.entriesPerTable() - 1);
        assertThat(DEFAULT.offsetInCluster(span - 1)).isEqualTo(64 * KIB - 1);
        assertThat(DEFAULT.l1Index(span)).isEqualTo(1);
        assertThat(DEFAULT.l2Index(span)).isZero();
        assertThat(DEFAULT.offsetInCluster(span)).isZero();
        long last = DEFAULT.maxImageSize() - 1;
        assertThat(DEFAULT.l1Index(last)).isEqualTo(DEFAULT.entriesPerTable() - 1);
        assertThat(DEFAULT.l2Index(last)).isEqualTo(DEFAULT.entriesPerTable() - 1);
    }

    @Test
    void indicesRecomposeTheOffsetInEveryGeometry() {
        SplittableRandom random = new SplittableRandom(42);
        for (int cs = 4 * KIB; cs <= 64 * MIB; cs <<= 1) {
            for (int ts : TABLE_SIZES) {
                Geometry g = Geometry.of(cs, ts, 1);
                long bound = Math.min(g.maxImageSize(), 1L << 62);
                for (int i = 0; i < 200; i++) {
                    long off = random.nextLong(bound);
                    int l1 = g.l1Index(off);
                    int l2 = g.l2Index(off);
                    long in = g.offsetInCluster(off);
                    assertThat(l1).isBetween(0, g.entriesPerTable() - 1);
                    assertThat(l2).isBetween(0, g.entriesPerTable() - 1);
                    assertThat(in).isBetween(0L, cs - 1L);
                    assertThat(l1 * g.bytesPerL2() + (long) l2 * cs + in).as("%s at %d", g, off).isEqualTo(off);
                }
            }
        }
    }

    @Test
    void roundingAndClusterCounts() {
        int cs = 64 * KIB;
        assertThat(DEFAULT.roundDownToCluster(cs + 1)).isEqualTo(cs);
        assertThat(DEFAULT.roundDownToCluster(cs - 1)).isZero();
        assertThat(DEFAULT.roundUpToCluster(0)).isZero();
        assertThat(DEFAULT.roundUpToCluster(1)).isEqualTo(cs);
        assertThat(DEFAULT.roundUpToCluster(cs)).isEqualTo(cs);
        assertThat(DEFAULT.roundUpToCluster(cs + 1)).isEqualTo(2L * cs);
        assertThat(DEFAULT.clustersFor(0)).isZero();
        assertThat(DEFAULT.clustersFor(1)).isEqualTo(1);
        assertThat(DEFAULT.clustersFor(cs)).isEqualTo(1);
        assertThat(DEFAULT.clustersFor(cs + 1L)).isEqualTo(2);
        assertThat(DEFAULT.clustersFor(Long.MAX_VALUE)).as("no overflow").isEqualTo((Long.MAX_VALUE >>> 16) + 1);
        assertThat(DEFAULT.roundUpToCluster(Long.MAX_VALUE - cs + 1)).isEqualTo(Long.MAX_VALUE - cs + 1);
    }

    @Test
    void validClusterOffsetIsAlignedPastTheHeaderAndBeforeTheFileEnd() {
        long cs = 64 * KIB;
        long fileSize = 5 * cs;
        assertThat(DEFAULT.isValidClusterOffset(cs, fileSize)).isTrue();
        assertThat(DEFAULT.isValidClusterOffset(4 * cs, fileSize)).as("last cluster").isTrue();
        assertThat(DEFAULT.isValidClusterOffset(5 * cs, fileSize)).as("at the file end").isFalse();
        assertThat(DEFAULT.isValidClusterOffset(0, fileSize)).as("the header").isFalse();
        assertThat(DEFAULT.isValidClusterOffset(Geometry.ENTRY_ZERO, fileSize)).as("zero-cluster marker").isFalse();
        assertThat(DEFAULT.isValidClusterOffset(cs + 512, fileSize)).as("misaligned").isFalse();
        assertThat(DEFAULT.isValidClusterOffset(-cs, fileSize)).as("negative").isFalse();
        assertThat(DEFAULT.isValidClusterOffset(0xb0800, 1L << 30)).as("low bits set (notes §5.1)").isFalse();
        Geometry twoHeaderClusters = Geometry.of((int) cs, 4, 2);
        assertThat(twoHeaderClusters.isValidClusterOffset(cs, fileSize)).isFalse();
        assertThat(twoHeaderClusters.isValidClusterOffset(2 * cs, fileSize)).isTrue();
    }

    @Test
    void validTableOffsetNeedsTheWholeTableInsideTheFile() {
        long cs = 64 * KIB;
        long fileSize = 5 * cs;
        assertThat(DEFAULT.isValidTableOffset(cs, fileSize)).as("L1 of a fresh image").isTrue();
        assertThat(DEFAULT.isValidTableOffset(2 * cs, fileSize)).as("last cluster past the end").isFalse();
        assertThat(DEFAULT.isValidTableOffset(2 * cs, 6 * cs)).isTrue();
        assertThat(DEFAULT.isValidTableOffset(0, fileSize)).as("inside the header").isFalse();
        assertThat(DEFAULT.isValidTableOffset(cs + 8, fileSize)).as("misaligned").isFalse();
        long aligned = Long.MAX_VALUE & ~(cs - 1);
        assertThat(DEFAULT.isValidTableOffset(aligned, Long.MAX_VALUE)).as("end overflows").isFalse();
        assertThat(DEFAULT.isValidTableOffset(-cs, Long.MAX_VALUE)).isFalse();
    }

    @Test
    void tableSizeOneTablesAreValidUnlikeInQemu() {
        Geometry g = Geometry.of(64 * KIB, 1, 1);
        assertThat(g.isValidTableOffset(64 * KIB, 2L * 64 * KIB)).isTrue();
        assertThat(g.isValidTableOffset(2L * 64 * KIB, 2L * 64 * KIB)).isFalse();
    }

    @ParameterizedTest(name = "cluster_size {0}, table_size {1}, header_size {2}: {3}")
    @CsvSource({
        "0, 4, 1, cluster_size 0 is not a power of two in [4096, 67108864]",
        "2048, 4, 1, cluster_size 2048 is not a power of two in [4096, 67108864]",
        "134217728, 4, 1, cluster_size 134217728 is not a power of two in [4096, 67108864]",
        "65537, 4, 1, cluster_size 65537 is not a power of two in [4096, 67108864]",
        "-65536, 4, 1, cluster_size -65536 is not a power of two in [4096, 67108864]",
        "65536, 0, 1, table_size 0 is not a power of two in [1, 16]",
        "65536, 3, 1, table_size 3 is not a power of two in [1, 16]",
        "65536, 32, 1, table_size 32 is not a power of two in [1, 16]",
        "65536, 4, 0, header_size 0 is not in [1, 65535]",
        "65536, 4, -1, header_size -1 is not in [1, 65535]",
        "65536, 4, 65536, header_size 65536 is not in [1, 65535]",
        "67108864, 16, 64, header_size 64 is not in [1, 63]",
    })
    void ofRefusesEveryFieldOutOfRangeNamingIt(int clusterSize, int tableSize, int headerSize, String message) {
        assertThatThrownBy(() -> Geometry.of(clusterSize, tableSize, headerSize))
                .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith(message);
    }

    @ParameterizedTest(name = "cluster_size {0}, table_size {1}, header_size {2}")
    @CsvSource({"4096, 1, 1", "4096, 16, 1048575", "67108864, 16, 63", "67108864, 1, 1", "65536, 2, 65535"})
    void ofAcceptsTheEdgesOfEveryRange(int clusterSize, int tableSize, int headerSize) {
        Geometry g = Geometry.of(clusterSize, tableSize, headerSize);
        assertThat(g.clusterSize()).isEqualTo(clusterSize);
        assertThat(g.tableSize()).isEqualTo(tableSize);
        assertThat(g.headerSize()).isEqualTo(headerSize);
    }

    @Test
    void toStringNamesTheHeaderFields() {
        assertThat(Geometry.of(4096, 16, 2)).hasToString("Geometry[cluster_size=4096, table_size=16, header_size=2]");
    }

    @Test
    void geometryHasNoPublicConstructor() {
        // Only the validating factories make a Geometry, so every instance's arithmetic is overflow-safe.
        assertThat(Geometry.class.getConstructors()).isEmpty();
    }

    private static long parseSize(String s) {
        int shift = switch (s.charAt(s.length() - 1)) {
            case 'K' -> 10;
            case 'M' -> 20;
            case 'G' -> 30;
            case 'T' -> 40;
            case 'P' -> 50;
            case 'E' -> 60;
            default -> throw new IllegalArgumentException(s);
        };
        return Long.parseLong(s.substring(0, s.length() - 1)) << shift;
    }
}
