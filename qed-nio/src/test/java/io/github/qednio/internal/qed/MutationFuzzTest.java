package io.github.qednio.internal.qed;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.CheckResult;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.image.Repair;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import com.google.common.jimfs.Configuration;
import com.google.common.jimfs.Jimfs;
import io.github.qednio.format.CorruptImageException;
import io.github.qednio.format.QedFormatException;
import io.github.qednio.testing.Qemu;
import java.io.EOFException;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.FileSystem;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeSet;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Seeded mutation fuzzing of small valid images (4 KiB clusters, a few L2 tables, with and without a backing file;
 * made by the engine and by {@code qemu-io}): bit and byte flips in the header and tables, interesting values in
 * header fields and table entries, truncation, appending.
 *
 * <p>Each case opens the mutant read-only (which must not change a byte), reads every cluster its tables mention
 * plus random ranges and compares them with {@link ReferenceImage}, and checks it; then opens a writable copy,
 * writes a few ranges, closes and reopens it. The contract: correct data or a documented {@link IOException}
 * subclass with a message, within a time limit; never another exception type, a hang or an OutOfMemoryError.
 *
 * <p>System properties: {@code qed.fuzz.cases} (default 6000), {@code qed.fuzz.seed} (default fixed; "random"
 * for a new one each run), {@code qed.fuzz.case} to rerun a single case. A failure prints the seed, the case
 * number and the mutations, which reproduce it.
 */
class MutationFuzzTest {
    private static final int CS = 4096;
    private static final long DEFAULT_SEED = 0x5EED_0F_0ED1L;
    /** Every this many cases, the read-only mutant is also checked by qemu-img and the counts compared. */
    private static final int QEMU_EVERY = 40;

    @TempDir
    static Path real;
    static FileSystem fs;
    static Path dir;
    static final List<Base> BASES = new ArrayList<>();
    /** Guest content of QED backing files, by file name (raw backing files are read as they are). */
    static final Map<String, byte[]> QED_CONTENT = new HashMap<>();
    /** Whether the QEMU cross-checks run; without QEMU the cases run without them (and without QEMU's bases). */
    static volatile boolean qemuChecks;
    /** What the cases ran into, printed at the end so that a weakened fuzzer shows. */
    static final Map<String, Integer> EVENTS = new java.util.concurrent.ConcurrentSkipListMap<>();

    static void event(String what) {
        EVENTS.merge(what, 1, Integer::sum);
    }

    record Base(String name, byte[] bytes) {
    }

    @BeforeAll
    static void makeBases() throws IOException {
        fs = Jimfs.newFileSystem(Configuration.unix());
        dir = Files.createDirectories(fs.getPath("/fuzz"));
        Random r = new Random(1);
        byte[] raw = new byte[3 * (1 << 20) + 1234];
        r.nextBytes(raw);
        Files.write(real.resolve("base.raw"), raw);

        // Made by the engine: no backing file, three L2 tables, data and zero clusters.
        Path e1 = real.resolve("engine.qed");
        try (QedImage img = QedImage.create(e1, CreateOptions.ofSize(24 << 20).withClusterSize(CS))) {
            writeSome(img, r);
        }
        // Made by the engine: overlay of a raw file.
        Path e2 = real.resolve("engine-ov.qed");
        try (QedImage img = QedImage.create(e2, CreateOptions.ofSize(20 << 20).withClusterSize(CS)
                .withBackingFile("base.raw", ImageFormat.RAW))) {
            writeSome(img, r);
        }
        BASES.add(new Base("engine", Files.readAllBytes(e1)));
        BASES.add(new Base("engine-overlay-raw", Files.readAllBytes(e2)));

        if (Qemu.crossChecks()) {
            Path q1 = real.resolve("qemu.qed");
            Qemu.img("create", "-f", "qed", "-o", "cluster_size=4096", q1.toString(), "24M").assertSuccess();
            Qemu.io("-f", "qed", "-c", "write -P 0x61 0 12k", "-c", "write -P 0x62 100k 4k", "-c",
                    "write -z 200k 8k", "-c", "write -P 0x63 9M 6k", "-c", "write -P 0x64 17M 4k",
                    q1.toString()).assertSuccess();
            // A QED backing file without NO_PROBE (probed), under an overlay.
            Path q2 = real.resolve("qemu-base.qed");
            Qemu.img("create", "-f", "qed", "-o", "cluster_size=4096", q2.toString(), "12M").assertSuccess();
            Qemu.io("-f", "qed", "-c", "write -P 0x71 0 64k", "-c", "write -P 0x72 8M 8k", q2.toString())
                    .assertSuccess();
            Path q3 = real.resolve("qemu-ov.qed");
            Qemu.img("create", "-f", "qed", "-o", "cluster_size=4096", "-b", "qemu-base.qed", "-F", "qed",
                    q3.toString(), "16M").assertSuccess();
            Qemu.io("-f", "qed", "-c", "write -P 0x81 4k 4k", "-c", "write -z 8k 4k", "-c",
                    "write -P 0x82 8190k 8k", q3.toString()).assertSuccess();
            QED_CONTENT.put("qemu-base.qed",
                    Files.readAllBytes(Qemu.convertToRaw(q2, real.resolve("qemu-base.content"))));
            BASES.add(new Base("qemu", Files.readAllBytes(q1)));
            BASES.add(new Base("qemu-overlay-qed", Files.readAllBytes(q3)));
        }
        for (String f : new String[] {"base.raw", "qemu-base.qed"}) {
            if (Files.exists(real.resolve(f))) {
                Files.copy(real.resolve(f), dir.resolve(f));
            }
        }
    }

    private static void writeSome(QedImage img, Random r) throws IOException {
        long[] at = {0, 5 * CS + 100, 40 * CS, (8 << 20) + 3 * CS, (16 << 20) - CS / 2};
        for (long off : at) {
            byte[] b = new byte[CS + r.nextInt(2 * CS)];
            r.nextBytes(b);
            img.write(ByteBuffer.wrap(b), Math.min(off, img.size() - b.length));
        }
        img.writeZeroes(64 * CS, 3 * CS);
    }

    @AfterAll
    static void closeFs() throws IOException {
        if (fs != null) {
            fs.close();
        }
    }

    @Test
    void mutantsGiveCorrectDataOrDocumentedIoExceptions() {
        qemuChecks = Qemu.crossChecks();
        int cases = Integer.getInteger("qed.fuzz.cases", 6000);
        String seedProp = System.getProperty("qed.fuzz.seed", "");
        long seed = seedProp.isEmpty() ? DEFAULT_SEED
                : seedProp.equals("random") ? System.nanoTime() : Long.decode(seedProp);
        Integer only = Integer.getInteger("qed.fuzz.case");
        List<String> failures = new ArrayList<>();
        Map<String, Integer> outcomes = new java.util.TreeMap<>();
        for (int n = only == null ? 0 : only; n < (only == null ? cases : only + 1) && failures.size() < 10; n++) {
            FuzzCase[] holder = new FuzzCase[1];
            try {
                FuzzCase c = new FuzzCase(seed, n);
                holder[0] = c;
                String outcome = assertTimeoutPreemptively(Duration.ofSeconds(20), c::run,
                        () -> "timed out: " + c.describe());
                outcomes.merge(outcome, 1, Integer::sum);
            } catch (Throwable t) {
                StringWriter sw = new StringWriter();
                t.printStackTrace(new PrintWriter(sw));
                failures.add((holder[0] == null ? "case " + n : holder[0].describe()) + "\n    reproduce: -Dqed.fuzz.seed=" + seed + " -Dqed.fuzz.case=" + n
                        + "\n    " + sw.toString().lines().limit(14).reduce((a, b) -> a + "\n    " + b).orElse(""));
            }
        }
        System.out.println("MutationFuzzTest seed " + seed + ": " + outcomes + " " + EVENTS);
        assertThat(failures).as("fuzz failures (seed %d)", seed).isEmpty();
        assertThat(outcomes.getOrDefault("read-ok", 0)).as("some mutants open and read").isPositive();
    }

    /** One reproducible case: a base image and one to three mutations chosen by {@code Random(seed ^ n)}. */
    static final class FuzzCase {
        final long seed;
        final int n;
        final Random r;
        final Base base;
        final List<String> mutations = new ArrayList<>();
        byte[] bytes;

        FuzzCase(long seed, int n) {
            this.seed = seed;
            this.n = n;
            this.r = new Random(seed * 31 + n);
            this.base = BASES.get(r.nextInt(BASES.size()));
            this.bytes = base.bytes().clone();
            int k = 1 + (r.nextInt(4) == 0 ? r.nextInt(3) : 0);
            for (int i = 0; i < k; i++) {
                mutate();
            }
        }

        String describe() {
            return "case " + n + " (seed " + seed + ") base " + base.name() + " mutations " + mutations;
        }

        // ---------------------------------------------------------------------------------------- mutations

        private void mutate() {
            ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
            long cs = bytes.length >= 8 ? Integer.toUnsignedLong(b.getInt(4)) : CS;
            long l1 = bytes.length >= 48 ? b.getLong(40) : 0;
            List<Long> tableEntries = tableEntryOffsets(b, cs, l1);
            switch (r.nextInt(12)) {
                case 0 -> {
                    int bit = r.nextInt(64 * 8);
                    flip(bit >>> 3, bit & 7, "header bit");
                }
                case 1 -> {
                    int[][] fields = {{4, 4}, {8, 4}, {12, 4}, {16, 8}, {24, 8}, {32, 8}, {40, 8}, {48, 8},
                            {56, 4}, {60, 4}};
                    int[] f = fields[r.nextInt(fields.length)];
                    long v = interesting(b, cs, l1);
                    put(f[0], f[1], v, "header field @" + f[0]);
                }
                case 2, 3 -> {
                    if (tableEntries.isEmpty()) {
                        mutations.add("no table entries");
                        return;
                    }
                    long at = tableEntries.get(r.nextInt(tableEntries.size()));
                    put((int) at, 8, interesting(b, cs, l1), "table entry @0x" + Long.toHexString(at));
                }
                case 4 -> {
                    if (tableEntries.isEmpty()) {
                        mutations.add("no table entries");
                        return;
                    }
                    long at = tableEntries.get(r.nextInt(tableEntries.size()));
                    flip((int) at + r.nextInt(8), r.nextInt(8), "table entry bit");
                }
                case 5 -> {
                    // Any set entry of any table, or the first L1 entries.
                    long at = l1 + 8L * r.nextInt(4);
                    if (at + 8 <= bytes.length && at >= 0) {
                        put((int) at, 8, interesting(b, cs, l1), "L1 entry @0x" + Long.toHexString(at));
                    }
                }
                case 6 -> {
                    int at = r.nextInt(bytes.length);
                    byte v = (byte) r.nextInt(256);
                    mutations.add(String.format("byte @0x%x = 0x%02x", at, v & 0xff));
                    bytes[at] = v;
                }
                case 7 -> {
                    int len = r.nextBoolean() ? r.nextInt(bytes.length + 1)
                            : (int) Math.max(0, bytes.length - (long) CS * (1 + r.nextInt(8)) + (r.nextBoolean()
                                    ? 0 : r.nextInt(CS)));
                    mutations.add("truncate to 0x" + Integer.toHexString(len));
                    bytes = Arrays.copyOf(bytes, len);
                }
                case 10 -> {
                    // A different geometry that still opens: the rest of the file is read as other tables.
                    long ncs = (long) CS << r.nextInt(3);
                    long nts = 1L << r.nextInt(5);
                    long nhs = 1 + r.nextInt(3);
                    long nl1 = ncs * (nhs + r.nextInt(3));
                    put(4, 4, ncs, "cluster_size");
                    put(8, 4, nts, "table_size");
                    put(12, 4, nhs, "header_size");
                    put(40, 8, nl1, "l1_table_offset");
                    if (r.nextBoolean()) {
                        put(48, 8, (ncs * nts / 8) * (ncs * nts / 8) * ncs / (1 + r.nextInt(1000)) & ~511L,
                                "image_size");
                    }
                }
                case 9 -> {
                    // As a crash leaves it: the automatic check and repair of a read-write open must cope.
                    long features = bytes.length >= 24 ? b.getLong(16) : 0;
                    put(16, 8, features | io.github.qednio.format.QedHeader.QED_F_NEED_CHECK, "NEED_CHECK");
                }
                case 8 -> {
                    int extra = r.nextBoolean() ? 1 + r.nextInt(CS) : CS * (1 + r.nextInt(3));
                    byte fill = r.nextBoolean() ? 0 : (byte) r.nextInt(256);
                    mutations.add("append " + extra + " bytes of 0x" + Integer.toHexString(fill & 0xff));
                    int old = bytes.length;
                    bytes = Arrays.copyOf(bytes, old + extra);
                    Arrays.fill(bytes, old, bytes.length, fill);
                }
                default -> {
                    // Several random byte flips inside the tables.
                    if (tableEntries.isEmpty()) {
                        mutations.add("no table entries");
                        return;
                    }
                    for (int i = 0; i < 1 + r.nextInt(4); i++) {
                        long at = tableEntries.get(r.nextInt(tableEntries.size())) + r.nextInt(8);
                        flip((int) at, r.nextInt(8), "table byte");
                    }
                }
            }
        }

        /** File offsets of L1 entries and of the set entries of valid-looking L2 tables. */
        private List<Long> tableEntryOffsets(ByteBuffer b, long cs, long l1) {
            List<Long> out = new ArrayList<>();
            if (bytes.length < 64 || cs != CS || l1 <= 0 || l1 > bytes.length - 4 * cs) {
                return out;
            }
            for (int i = 0; i < 8; i++) {
                out.add(l1 + 8L * i);
            }
            for (int i = 0; i < 512; i++) {
                long e = b.getLong((int) (l1 + 8L * i));
                if (e > 0 && e % cs == 0 && e <= bytes.length - 4 * cs) {
                    for (int j = 0; j < 2048; j++) {
                        long at = e + 8L * j;
                        if (b.getLong((int) at) != 0) {
                            out.add(at);
                        }
                    }
                }
            }
            return out;
        }

        private long interesting(ByteBuffer b, long cs, long l1) {
            long fileEnd = bytes.length;
            long[] v = {0, 1, 2, 7, 8, 64, 512, cs - 1, cs, cs + 1, 2 * cs, l1, l1 + cs, l1 + 8, fileEnd,
                    fileEnd - cs, fileEnd & ~(cs - 1), (fileEnd & ~(cs - 1)) - cs, fileEnd + cs, 1L << 31,
                    0xFFFFFFFFL, 1L << 32, 1L << 40, 1L << 62, Long.MAX_VALUE, -1, Long.MIN_VALUE,
                    0xFFFFFFFFFFFF0000L, 16, 1 << 16, 1 << 26, 1 << 30, 3 << 20, 64L << 20};
            long x = v[r.nextInt(v.length)];
            if (r.nextInt(4) == 0 && bytes.length > 0) {
                // An existing entry's value, perhaps nudged: duplicates and misaligned references.
                int at = (int) (l1 + 8L * r.nextInt(4));
                if (at >= 0 && at + 8 <= bytes.length) {
                    x = b.getLong(at) + (r.nextBoolean() ? 0 : r.nextBoolean() ? cs : 8);
                }
            }
            return x;
        }

        private void flip(int at, int bit, String what) {
            if (at >= bytes.length) {
                mutations.add(what + " past end");
                return;
            }
            bytes[at] ^= (byte) (1 << bit);
            mutations.add(String.format("%s @0x%x bit %d", what, at, bit));
        }

        private void put(int at, int width, long value, String what) {
            if (at < 0 || at + width > bytes.length) {
                mutations.add(what + " past end");
                return;
            }
            ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
            if (width == 4) {
                b.putInt(at, (int) value);
            } else {
                b.putLong(at, value);
            }
            mutations.add(String.format("%s = 0x%x", what, value));
        }

        // ---------------------------------------------------------------------------------------------- run

        /** Runs the case; returns a word for the statistics. */
        String run() throws Exception {
            var threads = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
            long id = Thread.currentThread().getId();
            long allocated = threads.getThreadAllocatedBytes(id);
            String outcome = runPhases();
            allocated = threads.getThreadAllocatedBytes(id) - allocated;
            // The images are at most a few hundred KiB: an allocation of this size means something sized a buffer
            // from a hostile field.
            assertThat(allocated).as("bytes allocated by the case").isLessThan(256L << 20);
            EVENTS.merge("max-MiB-allocated", (int) (allocated >> 20), Math::max);
            return outcome;
        }

        private String runPhases() throws Exception {
            Path ro = dir.resolve("ro-" + n + ".qed");
            Path rw = dir.resolve("rw-" + n + ".qed");
            try {
                Files.write(ro, bytes);
                Files.write(rw, bytes);
                String outcome = readOnlyPhase(ro);
                writePhase(rw, outcome.equals("read-ok"));
                return outcome;
            } finally {
                Files.deleteIfExists(ro);
                Files.deleteIfExists(rw);
            }
        }

        private String readOnlyPhase(Path file) throws Exception {
            QedImage img;
            try {
                img = QedImage.open(file, OpenOptions.readOnlyDefaults());
            } catch (IOException e) {
                assertDocumented(e, file);
                assertThat(Files.readAllBytes(file)).isEqualTo(bytes);
                return "refused:" + e.getClass().getSimpleName();
            }
            CheckResult check;
            event("opened cs=" + img.geometry().clusterSize() + " ts=" + img.geometry().tableSize() + " hs="
                    + img.geometry().headerSize());
            try (img) {
                ReferenceImage ref = new ReferenceImage(bytes, backingContent(img));
                readAndCompare(img, ref, file);
                if (qemuChecks && n % QEMU_EVERY == 7 && sameFileSizeAsQemu(null)) {
                    compareReadsWithQemu(img, ref);
                }
                check = img.check(Repair.NONE);
                assertThat(check.corruptions()).isNotNegative();
                assertThat(check.leaks()).isNotNegative();
            }
            assertThat(Files.readAllBytes(file)).as("read-only open changed the file").isEqualTo(bytes);
            if (qemuChecks && n % QEMU_EVERY == 0 && sameFileSizeAsQemu(check)) {
                compareWithQemuCheck(check);
            }
            return "read-ok";
        }

        /**
         * QEMU takes the file length rounded up to 512 bytes (its sector-based bdrv_getlength) before rounding it
         * down to a cluster, so a partial tail cluster of more than cs-512 bytes counts as a whole cluster there.
         * We round the real length down, strictly; the counts can only be compared when both agree.
         */
        private boolean sameFileSizeAsQemu(CheckResult ignored) {
            long cs = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getInt(4) & 0xFFFFFFFFL;
            long len = bytes.length;
            return (len + 511) / 512 * 512 / cs == len / cs;
        }

        /**
         * The oracle itself checked against QEMU: a few short reads in clusters the tables mention give the bytes
         * the reference gives, or fail in QEMU ({@code read failed}) exactly where the reference says they must.
         */
        private void compareReadsWithQemu(QedImage img, ReferenceImage ref) throws IOException {
            List<Long> clusters = new ArrayList<>(ref.interestingClusters(64));
            java.util.Collections.shuffle(clusters, r);
            List<long[]> reads = new ArrayList<>();
            for (long k : clusters.subList(0, Math.min(4, clusters.size()))) {
                long off = k * ref.clusterSize + r.nextInt((int) ref.clusterSize - 64);
                if (off + 64 <= img.size()) {
                    reads.add(new long[] {off, 64});
                }
            }
            if (reads.isEmpty()) {
                return;
            }
            Path p = real.resolve("fuzz-" + n + ".qed");
            Files.write(p, bytes);
            try {
                List<String> args = new ArrayList<>(List.of("-r", "-f", "qed"));
                for (long[] rd : reads) {
                    args.add("-c");
                    args.add("read -v " + rd[0] + " " + rd[1]);
                }
                args.add(p.toString());
                Qemu.Result q = Qemu.io(args.toArray(String[]::new));
                if ((q.stdout() + q.stderr()).contains("can't open")) {
                    return; // QEMU refuses an image we accept (table_size 1, ...)
                }
                event("qemu-reads-compared");
                List<String> lines = q.stdout().lines().toList();
                int li = 0;
                for (long[] rd : reads) {
                    java.io.ByteArrayOutputStream got = new java.io.ByteArrayOutputStream();
                    while (li < lines.size() && !lines.get(li).startsWith("read ")) {
                        String rest = lines.get(li++);
                        int colon = rest.indexOf(":  ");
                        if (colon < 0) {
                            continue;
                        }
                        rest = rest.substring(colon + 3);
                        int count = (rest.length() - 1) / 4;
                        for (int i = 0; i < count; i++) {
                            got.write(Integer.parseInt(rest.substring(3 * i, 3 * i + 2), 16));
                        }
                    }
                    assertThat(li).as("qemu-io output: %s", q.stdout()).isLessThan(lines.size());
                    boolean failed = lines.get(li).startsWith("read failed");
                    li += failed ? 1 : 2;
                    byte[] want = expected(ref, rd[0], (int) rd[1]);
                    assertThat(want == null).as("QEMU read of 64 at %d %s; %s", rd[0], failed ? "failed" : "worked",
                            q.stdout()).isEqualTo(failed);
                    if (!failed) {
                        assertThat(got.toByteArray()).as("QEMU's bytes at %d", rd[0]).isEqualTo(want);
                    }
                }
            } finally {
                Files.deleteIfExists(p);
            }
        }

        /** Our repair (already done on {@code file}) left the same bytes as {@code qemu-img check -r all}. */
        private void compareWithQemuRepair(Path file) throws IOException {
            Path p = real.resolve("fuzz-" + n + ".qed");
            Files.write(p, bytes);
            try {
                Qemu.Result q = Qemu.img("check", "-f", "qed", "-r", "all", "--output=json", p.toString());
                if (!q.stdout().contains("total-clusters")) {
                    return; // QEMU refused to open it
                }
                event("qemu-repair-compared");
                // Our open has not closed yet: NEED_CHECK may still be set in our copy, QEMU clears it on close.
                byte[] ours = Files.readAllBytes(file);
                byte[] theirs = Files.readAllBytes(p);
                ByteBuffer.wrap(ours).order(ByteOrder.LITTLE_ENDIAN).putLong(16,
                        ByteBuffer.wrap(ours).order(ByteOrder.LITTLE_ENDIAN).getLong(16)
                                & ~io.github.qednio.format.QedHeader.QED_F_NEED_CHECK);
                assertThat(ours).as("bytes after repair vs qemu-img check -r all: %s", q.stdout()).isEqualTo(theirs);
            } finally {
                Files.deleteIfExists(p);
            }
        }

        private void compareWithQemuCheck(CheckResult ours) throws IOException {
            event("qemu-compared");
            Path p = real.resolve("fuzz-" + n + ".qed");
            Files.write(p, bytes);
            try {
                Qemu.Result q = Qemu.img("check", "-f", "qed", "--output=json", p.toString());
                if (!q.stdout().contains("\"corruptions\"") && !q.stdout().contains("total-clusters")) {
                    return; // QEMU refused to open it (table_size 1, wrapped max size, ...)
                }
                String json = q.stdout();
                assertThat(ours.corruptions()).as("corruptions vs %s", json)
                        .isEqualTo(Qemu.jsonLong(json, "corruptions"));
                assertThat(ours.leaks()).as("leaks vs %s", json)
                        .isEqualTo(Qemu.jsonLong(json, "leaks") - Qemu.phantomLeaks(p));
                assertThat(ours.allocatedClusters()).as("allocated vs %s", json)
                        .isEqualTo(Qemu.jsonLong(json, "allocated-clusters"));
                assertThat(ours.fragmentedClusters()).as("fragmented vs %s", json)
                        .isEqualTo(Qemu.jsonLong(json, "fragmented-clusters"));
                assertThat(ours.checkErrors()).as("check errors vs %s", json)
                        .isEqualTo(Qemu.jsonLong(json, "check-errors"));
            } finally {
                Files.deleteIfExists(p);
            }
        }

        private void readAndCompare(QedImage img, ReferenceImage ref, Path file) throws IOException {
            long cs = ref.clusterSize;
            TreeSet<Long> clusters = new TreeSet<>(ref.interestingClusters(1000));
            long total = ref.clusters();
            if (total > 0) {
                clusters.add(0L);
                clusters.add(total - 1);
                for (int i = 0; i < 4; i++) {
                    clusters.add(Math.floorMod(r.nextLong(), total));
                }
            }
            for (long k : clusters) {
                long off = k * cs;
                int len = (int) Math.min(Math.min(cs, 64 << 10), img.size() - off);
                compareRange(img, ref, off, len, file);
            }
            for (int i = 0; i < 6 && img.size() > 0; i++) {
                long off = Math.floorMod(r.nextLong(), img.size());
                int len = (int) Math.min(1 + r.nextInt((int) Math.min(3 * cs, 1 << 20)), img.size() - off);
                compareRange(img, ref, off, len, file);
            }
        }

        private void compareRange(QedImage img, ReferenceImage ref, long off, int len, Path file)
                throws IOException {
            byte[] want = expected(ref, off, len);
            ByteBuffer got = ByteBuffer.allocate(len);
            try {
                img.readFully(got, off);
            } catch (IOException e) {
                assertDocumented(e, file);
                assertThat(want).as("read of %d bytes at %d failed (%s) but the reference reads it", len, off, e)
                        .isNull();
                assertThat(e).isInstanceOf(CorruptImageException.class);
                event("read-refused");
                return;
            }
            assertThat(want).as("read of %d bytes at %d succeeded but the reference says it must fail", len, off)
                    .isNotNull();
            assertThat(got.array()).as("%d bytes at %d", len, off).isEqualTo(want);
        }

        /** What the reference reads at {@code [off, off + len)}, or null if any cluster there is invalid. */
        private static byte[] expected(ReferenceImage ref, long off, int len) {
            long cs = ref.clusterSize;
            byte[] out = new byte[len];
            for (long p = off; p < off + len; ) {
                long k = p / cs;
                byte[] c = ref.cluster(k);
                if (c == null) {
                    return null;
                }
                int in = (int) (p - k * cs);
                int n = (int) Math.min(cs - in, off + len - p);
                System.arraycopy(c, in, out, (int) (p - off), n);
                p += n;
            }
            return out;
        }

        private static byte[] backingContent(QedImage img) throws IOException {
            if (img.backingFile() == null) {
                return null;
            }
            if (img.backingFormat() == ImageFormat.RAW) {
                return Files.readAllBytes(img.backingFile());
            }
            byte[] c = QED_CONTENT.get(img.backingFile().getFileName().toString());
            assertThat(c).as("content of %s", img.backingFile()).isNotNull();
            return c;
        }

        private void writePhase(Path file, boolean readable) throws Exception {
            QedImage img;
            boolean cor = r.nextInt(3) == 0;
            try {
                img = QedImage.open(file, OpenOptions.defaults().withCopyOnRead(cor));
            } catch (IOException e) {
                assertDocumented(e, file);
                return;
            }
            boolean consistent;
            List<long[]> ranges = new ArrayList<>();
            List<byte[]> data = new ArrayList<>();
            try (img) {
                Repair repair = Repair.values()[r.nextInt(Repair.values().length)];
                CheckResult before = img.check(repair);
                consistent = before.isConsistent();
                event("repair-" + repair + (consistent ? "-consistent" : ""));
                if (qemuChecks && repair == Repair.ERRORS && n % QEMU_EVERY == QEMU_EVERY / 2
                        && sameFileSizeAsQemu(null)) {
                    compareWithQemuRepair(file);
                }
                if (cor && img.size() > 0) {
                    // Copy-on-read allocates what it reads from the backing file; the content must not change.
                    for (int i = 0; i < 3; i++) {
                        // Fresh each time: the allocations grow the file, and an entry that pointed past its end
                        // may now point inside it (as in QEMU, such an entry comes back to life).
                        ReferenceImage ref = new ReferenceImage(Files.readAllBytes(file), backingContent(img));
                        long off = Math.floorMod(r.nextLong(), img.size());
                        int len = (int) Math.min(1 + r.nextInt(5 * CS / 2), img.size() - off);
                        byte[] want = expected(ref, off, len);
                        ByteBuffer got = ByteBuffer.allocate(len);
                        try {
                            img.readFully(got, off);
                        } catch (IOException e) {
                            assertDocumented(e, file);
                            assertThat(want).as("copy-on-read of %d at %d failed: %s", len, off, e).isNull();
                            continue;
                        }
                        assertThat(want).as("copy-on-read of %d at %d succeeded where the reference fails", len, off)
                                .isNotNull();
                        assertThat(got.array()).as("copy-on-read of %d bytes at %d", len, off).isEqualTo(want);
                        if (consistent) {
                            ranges.add(new long[] {off, len});
                            data.add(want);
                        }
                    }
                    event("copy-on-read" + (img.backingFile() == null ? "" : " with backing"));
                }
                for (int i = 0; i < 3 && img.size() > 0; i++) {
                    long off = Math.floorMod(r.nextLong(), img.size());
                    int len = (int) Math.min(1 + r.nextInt(5 * CS / 2), img.size() - off);
                    byte[] d = new byte[len];
                    boolean zero = r.nextInt(4) == 0;
                    if (!zero) {
                        r.nextBytes(d);
                    }
                    try {
                        if (zero) {
                            img.writeZeroes(off, len);
                        } else {
                            img.write(ByteBuffer.wrap(d), off);
                        }
                        ranges.add(new long[] {off, len});
                        data.add(d);
                    } catch (IOException e) {
                        assertDocumented(e, file);
                        event("write-refused");
                        assertThat(consistent).as("write at %d failed on a consistent image: %s", off, e)
                                .isFalse();
                    }
                }
            }
            QedImage again;
            try {
                again = QedImage.open(file, OpenOptions.readOnlyDefaults());
            } catch (IOException e) {
                assertDocumented(e, file);
                assertThat(consistent).as("reopen failed after writes to a consistent image: %s", e).isFalse();
                return;
            }
            try (again) {
                for (int i = 0; i < ranges.size(); i++) {
                    long off = ranges.get(i)[0];
                    int len = (int) ranges.get(i)[1];
                    ByteBuffer got = ByteBuffer.allocate(len);
                    try {
                        again.readFully(got, off);
                    } catch (IOException e) {
                        assertDocumented(e, file);
                        assertThat(consistent).as("reading back a write failed on a consistent image: %s", e)
                                .isFalse();
                        continue;
                    }
                    if (consistent) {
                        assertThat(got.array()).as("write %d (%d bytes at %d) reads back", i, len, off)
                                .isEqualTo(latest(ranges, data, i));
                    }
                }
                if (consistent) {
                    event("rw-verified");
                    CheckResult after = again.check(Repair.NONE);
                    assertThat(after.isConsistent()).as("consistent image stays so after writes: %s", after)
                            .isTrue();
                    ReferenceImage ref = new ReferenceImage(Files.readAllBytes(file), backingContent(again));
                    readAndCompare(again, ref, file);
                }
            }
        }

        /** The bytes of write {@code i}'s range after all writes, later ones overlaying earlier ones. */
        private static byte[] latest(List<long[]> ranges, List<byte[]> data, int i) {
            long off = ranges.get(i)[0];
            byte[] out = data.get(i).clone();
            for (int j = i + 1; j < ranges.size(); j++) {
                long o = ranges.get(j)[0];
                long from = Math.max(off, o);
                long to = Math.min(off + out.length, o + ranges.get(j)[1]);
                if (from < to) {
                    System.arraycopy(data.get(j), (int) (from - o), out, (int) (from - off), (int) (to - from));
                }
            }
            return out;
        }

        private static void assertDocumented(IOException e, Path file) {
            assertThat(e).as("exception type").satisfiesAnyOf(
                    x -> assertThat(x).isInstanceOf(QedFormatException.class),
                    x -> assertThat(x).isInstanceOf(EOFException.class),
                    x -> assertThat(x).isInstanceOf(FileSystemException.class));
            assertThat(e.getMessage()).as("message of %s", e.getClass()).isNotBlank();
            if (e instanceof QedFormatException || e instanceof EOFException) {
                assertThat(e.getMessage()).as("message names the image").contains(file.getFileName().toString());
            }
        }
    }
}
