package io.github.qednio.cli;

import static io.github.qednio.cli.CheckMatrixTest.put;
import static io.github.qednio.cli.CheckMatrixTest.truncate;
import static io.github.qednio.cli.QedCliTest.cli;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.cli.QedCliTest.Run;
import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * One table of commands run by qemu-img (or qemu-io) 7.2 and by {@code qed} on the same images: standard output,
 * standard error and exit code must be equal. The only normalisations are the differences CHANGELOG.md lists under
 * "Differences from QEMU 7.2", each named by a {@link Norm} and applied only to the rows that carry it; the program
 * name before a message ({@code qemu-img:} / {@code qed:}) and the directory of the per-row copies are always
 * replaced. Each row also states qemu-img's exit code, so that a broken fixture (both tools failing alike) fails the
 * row instead of passing it.
 *
 * <p>Left out, because they differ by design (CHANGELOG.md): {@code check -r} on images with leaks ({@code qed}
 * reclaims leaks) or with corruptions {@code -r leaks} would clear ({@code -r leaks} repairs leaks only), the
 * {@code check -r errors} mode (qemu-img has none), {@code measure -O qed}, {@code resize --shrink} and
 * {@code amend} of QED (qemu-img refuses them), and raw files with holes under {@code map} and
 * {@code compare -s}. Not equal yet, so not in the table either: {@code map} of a raw file (qed refuses it), and
 * {@code info} of a raw file whose length is not a multiple of 512 (qemu-img rounds its virtual size up).
 */
class QemuImgTextParityTest {
    private static final long L1 = 0x10000;
    private static final long L2 = 0x60000;
    /** The backing file of each overlay among the fixtures. */
    private static final Map<String, String> BACKING = Map.of("ov2.qed", "ov.qed", "ov.qed", "base.raw");

    @TempDir
    static Path dir;

    private static Path fixtures;

    /** A documented difference the row's output is normalised for. */
    enum Norm {
        /** {@code disk size} / {@code actual-size} is approximated on Java 17 (a raw file's length, for one). */
        DISK_SIZE,
        /** {@code info --output=json} adds {@code table-size} and {@code allocated-bytes}. */
        INFO_KEYS,
        /** qemu-io's statistics line: time and rates are measured. */
        TIMING,
        /** {@code info} reports {@code QED_F_NEED_CHECK} ({@code dirty-flag}); qemu-img 7.2 never does for QED. */
        DIRTY_FLAG,
        /** {@code qed io}'s read -P adds, on standard error, where the first differing byte is. */
        FIRST_MISMATCH,
        /** {@code qed io} names the image before "Block node is read-only", qemu-io itself. */
        READ_ONLY_PREFIX,
        /** A failure: {@code qed} prints its own one-line message; only that both failed alike is compared. */
        FAILURE_TEXT
    }

    /**
     * One command. Arguments starting with {@code @} name a file of the fixture directory (or, for rows that
     * write, of the row's own copy of it).
     */
    record Row(String name, boolean qemuIo, List<String> qemuArgs, List<String> qedArgs, int qemuExit,
               boolean writes, Set<Norm> norms) {
        @Override
        public String toString() {
            return name;
        }
    }

    @BeforeAll
    static void buildImages() throws IOException {
        Qemu.assumeAvailable();
        fixtures = Files.createDirectory(dir.resolve("fixtures"));
        // The §11.3 matrix of the notes: base1 and its corruptions.
        for (String name : List.of("clean", "leaks", "c1", "c2", "c3", "c4", "c10", "c12", "d1", "c8", "c16", "c9",
                "dirty", "dirtyc1")) {
            base1(name + ".qed");
        }
        put(f("c1.qed"), L2 + 160 * 8, 0x1000000); // L2 entry past the end: a corruption and a leak
        put(f("c2.qed"), L2 + 160 * 8, 0xB0800); // misaligned L2 entry
        put(f("c3.qed"), L1 + 8, 0x2000000); // L1 entry past the end
        put(f("c10.qed"), L1 + 8, 1); // 1 is never valid in L1
        put(f("c12.qed"), L2 + 5 * 8, 1); // a zero cluster: valid
        put(f("c4.qed"), L2 + 160 * 8, 0x50000); // duplicates L2[0]
        put(f("d1.qed"), L1 + 8, L2); // the same L2 table twice
        truncate(f("c8.qed"), 0x90000); // cuts the L2 table
        truncate(f("c16.qed"), 0xB8000); // cuts the last data cluster
        put(f("dirty.qed"), 16, 2); // QED_F_NEED_CHECK, as a crashed writer leaves it
        put(f("dirtyc1.qed"), 16, 2);
        put(f("dirtyc1.qed"), L2 + 160 * 8, 0x1000000);
        append(f("leaks.qed"), 2 * 65536); // two leaked clusters
        append(f("c9.qed"), 100); // a partial cluster past the last: no leak
        qed("zero.qed", "8M", "write -z 0 128k", "write -P 1 1M 64k", "write -z 4M 64k");
        qed("pct.qed", "64M", "write -P 1 0 2M"); // 32/1024 = 3.125% allocated: C prints 3.12
        qed("odd511.qed", "511", "write -P 1 0 512");
        qed("big.qed", "1073742336", "write -P 1 1G 512"); // 1 GiB + 512
        Qemu.img("create", "-f", "qed", "-o", "cluster_size=4k,table_size=2", f("c4k.qed").toString(), "64M")
                .assertSuccess();
        Qemu.io("-c", "write -P 1 0 100k", "-c", "write -P 2 32M 4k", f("c4k.qed").toString()).assertSuccess();
        Qemu.img("create", "-f", "qed", "-o", "cluster_size=256k", f("c256k.qed").toString(), "3G").assertSuccess();
        Qemu.io("-c", "write -P 1 1M 300k", "-c", "write -z 2G 256k", f("c256k.qed").toString()).assertSuccess();
        byte[] base = new byte[4 << 20]; // written whole, so that no tool sees a hole in it
        Arrays.fill(base, (byte) 0x55);
        Files.write(f("base.raw"), base);
        Qemu.img("create", "-f", "qed", "-b", "base.raw", "-F", "raw", f("ov.qed").toString()).assertSuccess();
        Qemu.io("-c", "write -z 0 64k", "-c", "write -P 0xab 1M 64k", "-c", "write -z 2M 128k", f("ov.qed")
                .toString()).assertSuccess();
        Qemu.img("create", "-f", "qed", "-b", "ov.qed", "-F", "qed", f("ov2.qed").toString()).assertSuccess();
        Qemu.io("-c", "write -P 7 3M 4k", f("ov2.qed").toString()).assertSuccess();
        Qemu.img("convert", "-O", "raw", f("ov.qed").toString(), f("flat.raw").toString()).assertSuccess();
        qed("plain8.qed", "8M", "write -P 1 1M 64k"); // reads as zero.qed, without zero clusters
        qed("s4.qed", "4M");
        qed("s5.qed", "5M");
        qed("s5tail.qed", "5M", "write -P 1 4194305 1"); // differs only past 4M
        qed("s5head.qed", "5M", "write -P 1 0 1"); // differs in the common part
    }

    private static Path f(String name) {
        return fixtures.resolve(name);
    }

    /** base1.qed of the notes (§11.3): 1 GiB, writes at 0, 64K and 10M. */
    private static void base1(String name) {
        qed(name, "1G", "write -P 1 0 64k", "write -P 2 64k 64k", "write -P 3 10M 64k");
    }

    private static void qed(String name, String size, String... writes) {
        Qemu.img("create", "-f", "qed", f(name).toString(), size).assertSuccess();
        if (writes.length > 0) {
            Qemu.ioCommands(f(name), "qed", writes);
        }
    }

    private static void append(Path p, int bytes) throws IOException {
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(bytes), ch.size());
        }
    }

    static Stream<Row> rows() {
        List<Row> rows = new ArrayList<>();
        List<String> images = List.of("clean", "leaks", "c1", "c2", "c3", "c4", "c10", "c12", "d1", "c8", "c16", "c9",
                "dirty", "dirtyc1", "zero", "pct", "odd511", "big", "c4k", "c256k", "ov", "ov2");
        for (String i : images) {
            String img = "@" + i + ".qed";
            boolean broken = List.of("c1", "c2", "c3", "c4", "c10", "d1", "c8", "c16", "dirtyc1").contains(i);
            int checkExit = i.equals("leaks") ? 3 : broken ? 2 : 0;
            Set<Norm> dirty = i.startsWith("dirty") ? EnumSet.of(Norm.DIRTY_FLAG) : EnumSet.noneOf(Norm.class);
            rows.add(img("info " + i, 0, dirty, "info", img));
            Set<Norm> json = EnumSet.of(Norm.INFO_KEYS);
            json.addAll(dirty);
            rows.add(img("info json " + i, 0, json, "info", "--output=json", img));
            rows.add(img("check " + i, checkExit, Set.of(), "check", img));
            rows.add(img("check json " + i, checkExit, Set.of(), "check", "--output=json", img));
            // map stops at an invalid entry, after the extents before it
            boolean mapFails = List.of("c1", "c2", "c8", "c16", "dirtyc1").contains(i);
            Set<Norm> mapNorms = mapFails ? Set.of(Norm.FAILURE_TEXT) : Set.of();
            rows.add(img("map " + i, mapFails ? 1 : 0, mapNorms, "map", img));
            rows.add(img("map json " + i, mapFails ? 1 : 0, mapNorms, "map", "--output=json", img));
        }
        rows.add(img("info base.raw", 0, Set.of(Norm.DISK_SIZE), "info", "@base.raw"));
        rows.add(img("info json base.raw", 0, Set.of(Norm.DISK_SIZE), "info", "--output=json", "@base.raw"));
        rows.add(img("info -f raw of qed", 0, Set.of(Norm.DISK_SIZE), "info", "-f", "raw", "--output=json",
                "@zero.qed"));
        rows.add(img("info chain ov2", 0, Set.of(), "info", "--backing-chain", "@ov2.qed"));
        rows.add(img("info chain json ov2", 0, Set.of(Norm.INFO_KEYS), "info", "--backing-chain",
                "--output=json", "@ov2.qed"));

        // Repairs where qemu-img and qed repair alike: corruptions -r all clears, no leak left.
        for (String i : List.of("clean", "c3", "c16", "zero", "dirty")) {
            for (String mode : List.of("leaks", "all")) {
                if (mode.equals("leaks") && List.of("c3", "c16").contains(i)) {
                    continue; // -r leaks repairs leaks only in qed; qemu-img's clears corruptions too
                }
                rows.add(writing("check -r " + mode + " " + i, 0, Set.of(), "check", "-r", mode, "@" + i + ".qed"));
                rows.add(writing("check -r " + mode + " json " + i, 0, Set.of(), "check", "-r", mode,
                        "--output=json", "@" + i + ".qed"));
            }
        }

        rows.add(img("check raw", 63, Set.of(), "check", "@flat.raw"));
        rows.add(img("check raw json", 63, Set.of(), "check", "--output=json", "@flat.raw"));

        rows.add(img("compare equal", 0, Set.of(), "compare", "@ov.qed", "@flat.raw"));
        rows.add(img("compare equal -s", 0, Set.of(), "compare", "-s", "@ov2.qed", "@ov2.qed"));
        rows.add(img("compare different", 1, Set.of(), "compare", "@ov.qed", "@ov2.qed"));
        rows.add(img("compare different -q", 1, Set.of(), "compare", "-q", "@ov.qed", "@ov2.qed"));
        rows.add(img("compare formats", 0, Set.of(), "compare", "-f", "raw", "-F", "qed", "@flat.raw", "@ov.qed"));
        rows.add(img("compare zero clusters", 0, Set.of(), "compare", "@zero.qed", "@plain8.qed"));
        rows.add(img("compare zero clusters -s", 1, Set.of(), "compare", "-s", "@zero.qed", "@plain8.qed"));
        for (String[] pair : new String[][] {{"s4", "s5", "0"}, {"s4", "s5tail", "1"}, {"s4", "s5head", "1"}}) {
            for (boolean swap : new boolean[] {false, true}) {
                String a = "@" + (swap ? pair[1] : pair[0]) + ".qed";
                String b = "@" + (swap ? pair[0] : pair[1]) + ".qed";
                String name = "compare sizes " + a + " " + b;
                rows.add(img(name, Integer.parseInt(pair[2]), Set.of(), "compare", a, b));
                rows.add(img(name + " -s", 1, Set.of(), "compare", "-s", a, b));
            }
        }

        rows.add(img("compare missing", 2, Set.of(Norm.FAILURE_TEXT), "compare", "@ov.qed", "@missing.qed"));

        rows.add(writing("commit", 0, Set.of(), "commit", "@ov2.qed"));
        rows.add(writing("commit -d", 0, Set.of(), "commit", "-d", "@ov2.qed"));
        rows.add(writing("rebase -u", 0, Set.of(), "rebase", "-u", "-b", "base.raw", "-F", "raw", "@ov2.qed"));
        rows.add(writing("rebase", 0, Set.of(), "rebase", "-b", "base.raw", "-F", "raw", "@ov2.qed"));
        rows.add(writing("convert to qed", 0, Set.of(), "convert", "-O", "qed", "@ov2.qed", "@out.qed"));
        rows.add(writing("convert to raw", 0, Set.of(), "convert", "-O", "raw", "@zero.qed", "@out.raw"));

        for (String size : List.of("511", "1073742336", "0.3K", "1.5K", "0", "64M")) {
            rows.add(new Row("create " + size, false, List.of("create", "-f", "qed", "@new.qed", size),
                    List.of("create", "@new.qed", size), 0, true, Set.of()));
        }
        rows.add(writing("create -f qed", 0, Set.of(), "create", "-f", "qed", "@new.qed", "1M"));
        rows.add(new Row("create geometry", false, List.of("create", "-f", "qed", "-o",
                "table_size=2,cluster_size=4k", "@new.qed", "1G"), List.of("create", "-o",
                "table_size=2,cluster_size=4k", "@new.qed", "1G"), 0, true, Set.of()));
        rows.add(new Row("create overlay", false, List.of("create", "-f", "qed", "-b", "base.raw", "-F", "raw",
                "@new.qed"), List.of("create", "-b", "base.raw", "-F", "raw", "@new.qed"), 0, true, Set.of()));
        rows.add(new Row("create overlay 511", false, List.of("create", "-f", "qed", "-b", "ov.qed", "-F", "qed",
                "@new.qed", "511"), List.of("create", "-b", "ov.qed", "-F", "qed", "@new.qed", "511"), 0, true,
                Set.of()));

        rows.add(img("measure size", 0, Set.of(), "measure", "-O", "raw", "--size", "1G"));
        rows.add(img("measure size 511 json", 0, Set.of(), "measure", "--output=json", "-O", "raw", "--size",
                "511"));
        rows.add(img("measure raw", 0, Set.of(), "measure", "-O", "raw", "@base.raw"));
        rows.add(img("measure qed", 0, Set.of(), "measure", "-O", "raw", "@zero.qed"));
        rows.add(img("measure qed as raw", 0, Set.of(), "measure", "-O", "raw", "-f", "raw", "@zero.qed"));
        rows.add(img("measure overlay json", 0, Set.of(), "measure", "--output=json", "-O", "raw", "@ov2.qed"));

        rows.add(writing("resize grow", 0, Set.of(), "resize", "@zero.qed", "16M"));
        rows.add(writing("resize relative", 0, Set.of(), "resize", "@zero.qed", "+1M"));
        rows.add(writing("resize 512 more", 0, Set.of(), "resize", "@clean.qed", "1073742336"));
        rows.add(writing("resize quiet", 0, Set.of(), "resize", "-q", "@odd511.qed", "64k"));
        rows.add(writing("resize raw", 0, Set.of(), "resize", "-f", "raw", "@flat.raw", "5M"));
        rows.add(writing("resize to the largest", 0, Set.of(), "resize", "@zero.qed", "64T"));
        rows.add(writing("resize shrink refused", 1, Set.of(Norm.FAILURE_TEXT), "resize", "@zero.qed", "1000"));
        rows.add(writing("resize odd refused", 1, Set.of(Norm.FAILURE_TEXT), "resize", "@zero.qed", "16777217"));
        rows.add(writing("resize too large", 1, Set.of(Norm.FAILURE_TEXT), "resize", "@zero.qed", "70T"));

        rows.add(io("io read zero clusters", 0, Set.of(), false, "zero.qed", "read -P 0 0 128k", "read -P 1 1M 64k",
                "read -v 1M 32", "map"));
        rows.add(io("io read -P mismatch", 1, Set.of(Norm.FIRST_MISMATCH), false, "zero.qed",
                "read -P 2 1M 4k"));
        rows.add(io("io write", 1, Set.of(), true, "zero.qed", "write -P 3 5M 3k", "read -P 3 5M 3k",
                "write 8M 512", "write -z 0 4k", "read 7M 2M", "map"));
        rows.add(io("io discard and quiet", 0, Set.of(), true, "zero.qed", "discard 1M 64k", "write -q -P 5 0 4k",
                "read -q -P 5 0 4k", "read -P 5 -s 512 -l 512 0 4k", "flush", "read -v 0 17"));
        rows.add(io("io syntax errors", 1, Set.of(), true, "zero.qed", "write -P 1 0", "bogus", "read 0 1x",
                "write -P 1 1 1", "read -P 300 0 1"));
        rows.add(io("io chain", 0, Set.of(), true, "ov2.qed", "map", "read -P 0x55 64k 4k", "read -P 0xab 1M 64k",
                "write -P 1 2M 64k", "map"));
        rows.add(io("io 511", 1, Set.of(), true, "odd511.qed", "read 0 512", "read 0 511", "write 0 1024",
                "read -P 1 0 512"));
        rows.add(io("io 1G+512", 1, Set.of(), true, "big.qed", "read -P 1 1G 512", "map", "write -P 2 1G 1k"));
        rows.add(io("io 4k clusters", 0, Set.of(), true, "c4k.qed", "write -P 9 60k 8k", "read -P 9 60k 8k",
                "map"));
        rows.add(new Row("io read-only", true, List.of("-r", "-c", "write 0 4k", "-c", "read -P 1 1M 64k",
                "@zero.qed"), List.of("io", "-r", "-c", "write 0 4k", "-c", "read -P 1 1M 64k", "@zero.qed"), 1,
                false, EnumSet.of(Norm.TIMING, Norm.READ_ONLY_PREFIX)));
        return rows.stream();
    }

    /** A qemu-img command that {@code qed} takes with the same arguments, on the shared fixtures. */
    private static Row img(String name, int qemuExit, Set<Norm> norms, String... args) {
        return new Row(name, false, List.of(args), List.of(args), qemuExit, false, norms);
    }

    /** The same, on copies of the fixtures of its own (it writes). */
    private static Row writing(String name, int qemuExit, Set<Norm> norms, String... args) {
        return new Row(name, false, List.of(args), List.of(args), qemuExit, true, norms);
    }

    /** {@code qemu-io -c ... IMAGE} and {@code qed io -c ... IMAGE}. */
    private static Row io(String name, int qemuExit, Set<Norm> norms, boolean writes, String image,
                          String... commands) {
        List<String> args = new ArrayList<>();
        for (String c : commands) {
            args.add("-c");
            args.add(c);
        }
        args.add("@" + image);
        List<String> ours = new ArrayList<>(List.of("io"));
        ours.addAll(args);
        Set<Norm> all = EnumSet.of(Norm.TIMING);
        all.addAll(norms);
        return new Row(name, true, args, ours, qemuExit, writes, all);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("rows")
    void qedPrintsWhatQemuPrints(Row row) throws IOException, InterruptedException {
        assertParity(row, false);
    }

    /** Rows whose images make the engine log or repair, run as a user runs {@code qed}: its own JVM. */
    static Stream<Row> processRows() {
        return rows().filter(r -> r.name().matches("(info|check|map) (json )?dirty(c1)?|map c1|io read-only|io write"
                + "|check -r all c3|compare sizes @s4.qed @s5tail.qed"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("processRows")
    void theJarsMainPrintsWhatQemuPrints(Row row) throws IOException, InterruptedException {
        assertParity(row, true);
    }

    private static void assertParity(Row row, boolean ownJvm) throws IOException, InterruptedException {
        Path qemuDir = row.writes() ? copyOfFixtures(row, "qemu" + (ownJvm ? "-jvm" : "")) : fixtures;
        Path qedDir = row.writes() ? copyOfFixtures(row, "qed" + (ownJvm ? "-jvm" : "")) : fixtures;
        List<String> qemuArgs = resolve(row.qemuArgs(), qemuDir);
        Qemu.Result q = row.qemuIo() ? Qemu.io(qemuArgs.toArray(String[]::new))
                : Qemu.img(qemuArgs.toArray(String[]::new));
        String[] qedArgs = resolve(row.qedArgs(), qedDir).toArray(String[]::new);
        Run ours = ownJvm ? MainRunner.run(qedArgs) : cli(qedArgs);

        assertThat(q.exitCode()).as("qemu's exit code of %s (the fixture): %s%s", qemuArgs, q.stdout(), q.stderr())
                .isEqualTo(row.qemuExit());
        assertThat(ours.code()).as("exit code; qed said %s%s", ours.out(), ours.err()).isEqualTo(q.exitCode());
        assertThat(normalise(ours.out(), row, qedDir)).as("standard output")
                .isEqualTo(normalise(q.stdout(), row, qemuDir));
        if (row.norms().contains(Norm.FAILURE_TEXT)) {
            assertThat(ours.err()).as("one line of failure").startsWith("qed: ").hasLineCount(1);
            assertThat(q.stderr()).startsWith("qemu-img: ");
        } else {
            String ourErr = ours.err();
            if (row.norms().contains(Norm.FIRST_MISMATCH)) {
                ourErr = ourErr.replaceAll("(?m)^first mismatch at offset .*\n", "");
            }
            if (row.norms().contains(Norm.READ_ONLY_PREFIX)) {
                String image = resolve(row.qedArgs(), qedDir).get(row.qedArgs().size() - 1);
                ourErr = ourErr.replace(image + ": Block node", "qemu-io: Block node");
            }
            assertThat(normalise(ourErr, row, qedDir)).as("standard error")
                    .isEqualTo(normalise(q.stderr(), row, qemuDir));
        }
    }

    /** A directory of the row's own with copies of the fixtures it names, and of their backing files. */
    private static Path copyOfFixtures(Row row, String side) throws IOException {
        Path target = Files.createDirectories(dir.resolve("rows").resolve(row.name().replaceAll("\\W+", "_"))
                .resolve(side));
        List<String> names = new ArrayList<>();
        for (String a : row.qemuArgs()) {
            String name = a.startsWith("@") ? a.substring(1) : a;
            while (Files.exists(f(name)) && !names.contains(name)) {
                names.add(name);
                name = BACKING.getOrDefault(name, name);
            }
        }
        for (String name : names) {
            Files.copy(f(name), target.resolve(name));
        }
        return target;
    }

    private static List<String> resolve(List<String> args, Path in) {
        return args.stream().map(a -> a.startsWith("@") ? in.resolve(a.substring(1)).toString() : a).toList();
    }

    private static String normalise(String text, Row row, Path rowDir) {
        String t = text.replace(rowDir + "/", "DIR/")
                .replaceAll("(?m)^(qemu-img|qemu-io|qed): ", "PROG: ");
        if (row.norms().contains(Norm.TIMING)) {
            t = t.replaceAll("(?m)^(.*ops; )[0-9:.]+ sec \\(.*\\)$", "$1TIME");
        }
        if (row.norms().contains(Norm.DISK_SIZE)) {
            t = t.replaceAll("(?m)^disk size: .*$", "disk size: N")
                    .replaceAll("(?m)^(\\s*\"actual-size\": )\\d+", "$1N");
        }
        if (row.norms().contains(Norm.DIRTY_FLAG)) {
            t = t.replace("cleanly shut down: no\n", "").replace("\"dirty-flag\": true", "\"dirty-flag\": false");
        }
        if (row.norms().contains(Norm.INFO_KEYS)) {
            t = t.replaceAll("(?m)^\\s*\"(table-size|allocated-bytes)\": \\d+,?\n", "")
                    .replaceAll(",\n(\\s*)}", "\n$1}");
        }
        return t;
    }
}
