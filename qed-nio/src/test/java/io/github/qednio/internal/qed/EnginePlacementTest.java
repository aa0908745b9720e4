package io.github.qednio.internal.qed;

import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Where things land (notes §8.3, §8.5, Appendix A): the same writes through {@code qemu-io -t writeback} and
 * through the engine on twin images give the same L1 entries, the same L2 entries and the same file size, and in
 * fact the same file, byte for byte.
 */
class EnginePlacementTest {
    private static final long KIB = 1024;
    private static final long MIB = 1024 * KIB;

    @TempDir
    Path dir;

    static Stream<Arguments> sequences() {
        return Stream.of(
                Arguments.of("Appendix A: data before its new L2, then appended", "1G", 0L, 0L,
                        List.of("write 0 64k", "write 1M 4k", "write 600M 4k")),
                Arguments.of("notes 8.3 trace: allocate, extend table, in place", "1G", 0L, 0L,
                        List.of("write 1M 4k", "write -P 0x11 2M 64k", "write -P 0x22 2M 4k")),
                Arguments.of("zero write on a missing L2 allocates only the table", "10G", 0L, 0L,
                        List.of("write -z 4G 128k")),
                Arguments.of("Appendix A standalone: data then zero clusters", "4M", 0L, 0L,
                        List.of("write -P 0xab 0 64k", "write -z 1M 128k")),
                Arguments.of("unaligned writes spanning clusters", "8M", 0L, 0L,
                        List.of("write -P 0x11 1000 200000", "write -P 0x22 65000 70000", "write -P 0x33 300000 1",
                                "write -P 0x44 131071 2", "write -P 0x55 8388607 1")),
                Arguments.of("partial zero writes become data, whole ones entry 1", "8M", 0L, 0L,
                        List.of("write -z 12k 8k", "write -z 100000 300000", "write -z 3M 64k",
                                "write -z 3M 64k", "write -z 5M 1")),
                Arguments.of("zero writes over allocated, zero and unallocated clusters", "4M", 0L, 0L,
                        List.of("write -P 0xab 1M 64k", "write -z 1M 64k", "write -z 0 64k",
                                "write -P 0xcd 8k 4k", "write -P 0xef 2M 192k", "write -z 60k 2200k",
                                "write -P 0x12 3M 512", "write -z 2M 2M")),
                Arguments.of("4K/ts2: writes across the 4 MiB L2 boundaries", "16M", 4096L, 2L,
                        List.of("write -P 0x44 4188160 12288", "write -P 0x55 3M 3M", "write -z 7M 2M",
                                "write -P 0x66 16777215 1", "write -P 0x77 8388000 1000",
                                "write -z 11M 5M")),
                Arguments.of("2 MiB clusters", "40M", 2 * MIB, 4L,
                        List.of("write -P 0x77 1M 3M", "write -z 8M 4M", "write -z 13M 1M", "write -P 0x78 39M 1M",
                                "write -P 0x79 12M 100")),
                Arguments.of("size not a cluster multiple: the last partial cluster", "5244416", 0L, 0L,
                        List.of("write -P 0x12 5M 1536", "write -z 4096k 1050112", "write -P 0x13 5244415 1")),
                Arguments.of("the largest default disk, 64 TiB: last L1 entry, last byte", "64T", 0L, 0L,
                        List.of("write -P 0x31 70368744177663 1", "write -z 32T 128k",
                                "write -P 0x32 35184372088831 2", "write -P 0x33 0 1")),
                Arguments.of("table_size 8, 4K: one L2 maps 16 MiB", "40M", 4096L, 8L,
                        List.of("write -P 0x21 16773120 8192", "write -z 32M 8M", "write -P 0x22 33M 4096")));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("sequences")
    void sameWritesGiveSameTablesAndFileAsQemu(String name, String size, long clusterSize, long tableSize,
                                               List<String> commands) throws IOException {
        assertTwinsMatch(dir, size, clusterSize, tableSize, commands);
    }

    @Test
    void randomSequencesPlaceLikeQemu() throws IOException {
        for (long seed = 1; seed <= 3L * Workload.SOAK; seed++) {
            // 4 KiB clusters, table_size 2: one L2 maps 4 MiB, so 18 MiB has five tables.
            long size = 18 * MIB;
            List<String> commands = new ArrayList<>();
            for (Workload.Op op : Workload.random(seed, size, 4096, 4 * MIB, 60, true)) {
                commands.add(Workload.qemuIo(op));
            }
            assertTwinsMatch(dir, Long.toString(size), 4096, 2, commands);
            for (Path p : List.of(dir.resolve("qemu.qed"), dir.resolve("engine.qed"))) {
                Files.delete(p);
            }
        }
    }

    /**
     * Creates {@code qemu.qed} and {@code engine.qed} in {@code dir} with qemu-img, applies {@code commands} to the
     * first with {@code qemu-io -t writeback} and to the second with the engine, and asserts identical tables,
     * file sizes and files. Returns the engine's layout.
     */
    static QedLayout assertTwinsMatch(Path dir, String size, long clusterSize, long tableSize, List<String> commands)
            throws IOException {
        return assertTwinsMatch(dir, size, clusterSize, tableSize, List.of(), commands);
    }

    /** As above, with extra {@code qemu-img create} arguments (e.g. a backing file) for both twins. */
    static QedLayout assertTwinsMatch(Path dir, String size, long clusterSize, long tableSize, List<String> createArgs,
                                      List<String> commands) throws IOException {
        Qemu.assumeAvailable();
        Path qemu = dir.resolve("qemu.qed");
        Path engine = dir.resolve("engine.qed");
        String opts = "cluster_size=" + (clusterSize == 0 ? 65536 : clusterSize) + ",table_size="
                + (tableSize == 0 ? 4 : tableSize);
        for (Path p : List.of(qemu, engine)) {
            List<String> create = new ArrayList<>(List.of("create", "-f", "qed", "-o", opts));
            create.addAll(createArgs);
            create.addAll(List.of(p.toString(), size));
            Qemu.img(create.toArray(String[]::new)).assertSuccess();
        }
        List<String> args = new ArrayList<>(List.of("-f", "qed", "-t", "writeback"));
        for (String c : commands) {
            args.add("-c");
            args.add(c);
        }
        args.add(qemu.toString());
        Qemu.io(args.toArray(String[]::new)).assertSuccess();

        try (QedImage img = QedImage.open(engine, OpenOptions.defaults())) {
            for (String c : commands) {
                apply(img, c);
            }
        }

        QedLayout theirs = QedLayout.read(qemu);
        QedLayout ours = QedLayout.read(engine);
        String story = String.join("; ", commands);
        assertThat(ours.l1()).as("L1 entries after %s\nqemu:   %s\nengine: %s", story, theirs, ours)
                .isEqualTo(theirs.l1());
        assertThat(ours.l2()).as("L2 entries after %s\nqemu:   %s\nengine: %s", story, theirs, ours)
                .isEqualTo(theirs.l2());
        assertThat(ours.fileLength()).as("file size after %s", story).isEqualTo(theirs.fileLength());
        assertThat(Files.mismatch(engine, qemu)).as("first differing byte of the files after %s", story)
                .isEqualTo(-1L);
        Qemu.assertCheckClean(engine);
        return ours;
    }

    /**
     * With a raw backing file, copy-on-write fills the untouched head and tail of each new cluster from it (zeros
     * past its end), so the files are still identical. (Partial writes into zero clusters are left out: there QEMU
     * 7.2 copies backing data where the spec wants zeros, notes §14.5.)
     */
    @Test
    void copyOnWriteFromARawBackingFilePlacesAndFillsLikeQemu() throws IOException {
        byte[] base = new byte[(int) (MIB + 1000)];
        new Random(5).nextBytes(base);
        Files.write(dir.resolve("base.raw"), base);
        assertTwinsMatch(dir, "4M", 0, 0, List.of("-b", "base.raw", "-F", "raw"),
                List.of("write -P 0xab 8k 4k", "write -P 0xac 100000 70000", "write -P 0xad 1000k 30k",
                        "write -z 2M 64k", "write -P 0xae 2M 64k", "write -z 512k 100k", "write -P 0xaf 4194303 1"));
    }

    /**
     * The file length is the allocator's state: a trailing partial cluster (here 100 stray bytes) is overwritten
     * by the next allocation, in QEMU and in the engine alike (notes §1).
     */
    @Test
    void trailingPartialClusterIsOverwrittenByTheNextAllocationLikeQemu() throws IOException {
        Path seed = dir.resolve("seed");
        Files.createDirectory(seed);
        assertTwinsMatch(seed, "4M", 0, 0, List.of("write -P 0x11 0 4k"));
        for (String name : List.of("qemu.qed", "engine.qed")) {
            Path p = seed.resolve(name);
            byte[] junk = new byte[100];
            Arrays.fill(junk, (byte) 0x99);
            Files.write(p, junk, StandardOpenOption.APPEND);
        }
        List<String> commands = List.of("write -P 0x22 1M 4k", "write -z 2M 64k", "write -P 0x33 3M 100");
        List<String> args = new ArrayList<>(List.of("-f", "qed", "-t", "writeback"));
        commands.forEach(c -> {
            args.add("-c");
            args.add(c);
        });
        args.add(seed.resolve("qemu.qed").toString());
        Qemu.io(args.toArray(String[]::new)).assertSuccess();
        try (QedImage img = QedImage.open(seed.resolve("engine.qed"), OpenOptions.defaults())) {
            for (String c : commands) {
                apply(img, c);
            }
        }
        QedLayout theirs = QedLayout.read(seed.resolve("qemu.qed"));
        assertThat(QedLayout.read(seed.resolve("engine.qed"))).isEqualTo(theirs);
        assertThat(theirs.l2Entry(0, 16)).as("the new cluster went where the stray bytes were")
                .isEqualTo(theirs.l2Entry(0, 0) + 4 * 65536 + 65536);
        assertThat(Files.mismatch(seed.resolve("engine.qed"), seed.resolve("qemu.qed"))).isEqualTo(-1L);
    }

    /**
     * A hand-made image with {@code header_size} 2 (QEMU never creates one but opens it, notes §6): the L1 table
     * and all allocations start after two header clusters.
     */
    @Test
    void headerSizeTwoImageIsWrittenLikeQemu() throws IOException {
        Qemu.assumeAvailable();
        Path seed = dir.resolve("seed.qed");
        Qemu.img("create", "-f", "qed", seed.toString(), "8M").assertSuccess();
        byte[] header = Arrays.copyOf(Files.readAllBytes(seed), 64);
        ByteBuffer h = ByteBuffer.wrap(header).order(ByteOrder.LITTLE_ENDIAN);
        h.putInt(0x0C, 2);                 // header_size
        h.putLong(0x28, 2L * 65536);        // l1_table_offset
        byte[] image = new byte[6 * 65536]; // two header clusters and a 4-cluster L1
        System.arraycopy(header, 0, image, 0, 64);
        List<String> commands = List.of("write -P 0x41 0 100k", "write -z 1M 64k", "write -P 0x42 7M 4k");
        for (String name : List.of("qemu.qed", "engine.qed")) {
            Files.write(dir.resolve(name), image);
        }
        List<String> args = new ArrayList<>(List.of("-f", "qed", "-t", "writeback"));
        commands.forEach(c -> {
            args.add("-c");
            args.add(c);
        });
        args.add(dir.resolve("qemu.qed").toString());
        Qemu.io(args.toArray(String[]::new)).assertSuccess();
        try (QedImage img = QedImage.open(dir.resolve("engine.qed"), OpenOptions.defaults())) {
            for (String c : commands) {
                apply(img, c);
            }
        }
        QedLayout theirs = QedLayout.read(dir.resolve("qemu.qed"));
        assertThat(QedLayout.read(dir.resolve("engine.qed"))).isEqualTo(theirs);
        assertThat(theirs.l2Entry(0, 0)).as("first data cluster after header and L1").isEqualTo(6L * 65536);
        assertThat(Files.mismatch(dir.resolve("engine.qed"), dir.resolve("qemu.qed"))).isEqualTo(-1L);
        Qemu.assertCheckClean(dir.resolve("engine.qed"));
    }

    /** Applies one {@code qemu-io} write command ({@code write [-P 0xNN] [-z] OFFSET LENGTH}) to the engine. */
    static void apply(QedImage img, String command) throws IOException {
        String[] w = command.trim().split("\\s+");
        assertThat(w[0]).isEqualTo("write");
        int pattern = 0xcd; // qemu-io's default pattern
        boolean zero = false;
        int i = 1;
        while (w[i].startsWith("-")) {
            if (w[i].equals("-z")) {
                zero = true;
                i++;
            } else if (w[i].equals("-P")) {
                pattern = Integer.decode(w[i + 1]);
                i += 2;
            } else {
                throw new IllegalArgumentException("unsupported option in " + command);
            }
        }
        long offset = parseSize(w[i]);
        long length = parseSize(w[i + 1]);
        if (zero) {
            img.writeZeroes(offset, length);
        } else {
            byte[] data = new byte[Math.toIntExact(length)];
            Arrays.fill(data, (byte) pattern);
            img.write(ByteBuffer.wrap(data), offset);
        }
    }

    static long parseSize(String s) {
        char unit = Character.toLowerCase(s.charAt(s.length() - 1));
        int shift = switch (unit) {
            case 'k' -> 10;
            case 'm' -> 20;
            case 'g' -> 30;
            case 't' -> 40;
            default -> 0;
        };
        return Long.parseLong(shift == 0 ? s : s.substring(0, s.length() - 1)) << shift;
    }
}
