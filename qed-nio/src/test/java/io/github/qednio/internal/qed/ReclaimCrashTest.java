package io.github.qednio.internal.qed;

import io.github.qednio.image.CheckResult;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.image.Repair;
import io.github.qednio.internal.storage.SimulatedDisk;
import io.github.qednio.internal.storage.Storage;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Power loss at <em>every</em> mutation (write, truncate, force) of a discard-and-reuse sequence, a compaction and a
 * leak-reclaiming check, in every {@link SimulatedDisk.CrashMode}, with sector tears: the image opens, is
 * consistent, and reads back what the last successful flush left, where later operations may have written only
 * their own data (or zeros) at their own positions. {@link CrashTest} covers the same operations at random points
 * of random workloads.
 */
class ReclaimCrashTest {
    private static final int CS = 4096;
    private static final long SIZE = 16L << 20;

    @TempDir
    Path dir;

    private static CrashWorkload.Op op(int i, CrashWorkload.Kind kind, long pos, int len) {
        return new CrashWorkload.Op(i, kind, pos, len, 1000 + i);
    }

    /**
     * 40 clusters written under the first L2 table (4 MiB each), then two under a second one, which lands at the end
     * of the file, where compaction has to move it from.
     */
    private static byte[] template(Path file) throws IOException {
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(SIZE).withClusterSize(CS).withTableSize(2))) {
            for (int k = 0; k < 40; k++) {
                op(k, CrashWorkload.Kind.WRITE, (long) k * CS, CS).apply(img);
            }
            op(50, CrashWorkload.Kind.WRITE, 12L << 20, 2 * CS).apply(img);
        }
        return Files.readAllBytes(file);
    }

    private static List<CrashWorkload.Op> discardAndReuse() {
        List<CrashWorkload.Op> ops = new ArrayList<>();
        ops.add(op(100, CrashWorkload.Kind.DISCARD, 4L * CS, 8 * CS));
        ops.add(op(101, CrashWorkload.Kind.DISCARD, 20L * CS + 100, CS));
        ops.add(op(102, CrashWorkload.Kind.WRITE, 600L * CS, 3 * CS)); // takes freed clusters (flushes first)
        ops.add(op(103, CrashWorkload.Kind.WRITE, 700L * CS + 10, 100)); // a partial cluster into a reused one
        ops.add(op(104, CrashWorkload.Kind.FLUSH, 0, 0));
        ops.add(op(105, CrashWorkload.Kind.DISCARD, 36L * CS, 4 * CS)); // the end of the data: cut at the flush
        ops.add(op(106, CrashWorkload.Kind.FLUSH, 0, 0));
        return ops;
    }

    private static List<CrashWorkload.Op> compaction() {
        List<CrashWorkload.Op> ops = new ArrayList<>();
        ops.add(op(200, CrashWorkload.Kind.DISCARD, 0, 30 * CS));
        ops.add(op(201, CrashWorkload.Kind.FLUSH, 0, 0));
        ops.add(op(202, CrashWorkload.Kind.COMPACT, 0, 0));
        return ops;
    }

    private static List<CrashWorkload.Op> leakReclaim() {
        List<CrashWorkload.Op> ops = new ArrayList<>();
        ops.add(op(300, CrashWorkload.Kind.DISCARD, 10L * CS, 5 * CS));
        ops.add(op(301, CrashWorkload.Kind.DISCARD, 38L * CS, 2 * CS));
        ops.add(op(302, CrashWorkload.Kind.RECLAIM_LEAKS, 0, 0));
        ops.add(op(303, CrashWorkload.Kind.WRITE, 900L * CS, 2 * CS));
        ops.add(op(304, CrashWorkload.Kind.FLUSH, 0, 0));
        return ops;
    }

    /**
     * Six clusters discarded in the middle of the first table's data, then {@link Repair#LEAKS}: the second L2
     * table and the four data clusters after the gap move into it, and the file is cut; then a write and a flush.
     */
    private static List<CrashWorkload.Op> leakRepair() {
        List<CrashWorkload.Op> ops = new ArrayList<>();
        ops.add(op(500, CrashWorkload.Kind.DISCARD, 5L * CS, 6 * CS));
        ops.add(op(501, CrashWorkload.Kind.REPAIR_LEAKS, 0, 0));
        ops.add(op(502, CrashWorkload.Kind.WRITE, 900L * CS, 2 * CS));
        ops.add(op(503, CrashWorkload.Kind.FLUSH, 0, 0));
        return ops;
    }

    @Test
    void aLeakRepairMovingDataSurvivesPowerLossAtEveryMutation() throws IOException {
        Path file = dir.resolve("leak-repair-dry.qed");
        byte[] template = template(file);
        SimulatedDisk disk = new SimulatedDisk(template, 0, 512);
        run(file, disk, leakRepair().subList(0, 2), new GuestModel(new byte[(int) SIZE]));
        assertThat(disk.durableImage().length).as("file length after the repair: the gap is filled, not kept")
                .isEqualTo(template.length - 6 * CS);
        crashEverywhere("leak-repair", leakRepair());
    }

    @Test
    void aDiscardAndReuseSequenceSurvivesPowerLossAtEveryMutation() throws IOException {
        crashEverywhere("discard-reuse", discardAndReuse());
    }

    @Test
    void aCompactionSurvivesPowerLossAtEveryMutation() throws IOException {
        crashEverywhere("compaction", compaction());
    }

    @Test
    void aLeakReclaimingCheckSurvivesPowerLossAtEveryMutation() throws IOException {
        crashEverywhere("leak-reclaim", leakReclaim());
    }

    /**
     * The template with its L1 table copied to the end of the file (as an in-place conversion leaves it), the old
     * one leaked right after the header: compaction moves every cluster, L2 tables and the L1 table included.
     */
    @Test
    void aCompactionMovingEveryTableSurvivesPowerLossAtEveryMutation() throws IOException {
        Path file = dir.resolve("l1-move.qed");
        byte[] template = template(file);
        ImageFiles.moveL1ToEnd(file);
        byte[] moved = Files.readAllBytes(file);
        List<CrashWorkload.Op> ops = List.of(op(400, CrashWorkload.Kind.DISCARD, 4L * CS, 30 * CS),
                op(401, CrashWorkload.Kind.COMPACT, 0, 0));
        long l1Offset = ImageFiles.getU64(file, 40);
        crashEverywhere("l1-move", ops, moved, disk -> {
            Path done = Files.write(dir.resolve("l1-move-done.qed"), disk.durableImage());
            assertThat(ImageFiles.getU64(done, 40)).as("the L1 table moved").isLessThan(l1Offset);
            assertThat((long) disk.durableImage().length).as("the file shrank").isLessThan(template.length);
        });
    }

    private void crashEverywhere(String name, List<CrashWorkload.Op> ops) throws IOException {
        Path file = dir.resolve(name + ".qed");
        crashEverywhere(name, ops, template(file), disk -> { });
    }

    /** After the run without a crash: asserts on its outcome. */
    private interface DryRunCheck {
        void verify(SimulatedDisk disk) throws IOException;
    }

    private void crashEverywhere(String name, List<CrashWorkload.Op> ops, byte[] template, DryRunCheck dryRun)
            throws IOException {
        Path file = dir.resolve(name + ".qed");
        byte[] initial;
        try (QedImage img = QedImage.open(file, OpenOptions.readOnlyDefaults())) {
            initial = GuestModel.readAll(img);
        }
        SimulatedDisk dry = new SimulatedDisk(template, 0, 512);
        run(file, dry, ops, new GuestModel(initial));
        dryRun.verify(dry);
        long mutations = dry.mutations();
        assertThat(mutations).as("mutations of the %s sequence", name).isGreaterThan(5);
        boolean qemu = Qemu.crossChecks();
        for (long at = 1; at <= mutations; at++) {
            List<SimulatedDisk.CrashMode> modes = new ArrayList<>(List.of(SimulatedDisk.CrashMode.values()));
            for (int k = 0; k < 7; k++) {
                // A random subset is drawn per crash: draw several, so that every reordering of the few writes
                // since the last force is likely to be seen.
                modes.add(SimulatedDisk.CrashMode.KEEP_SUBSET);
            }
            for (int m = 0; m < modes.size(); m++) {
                SimulatedDisk.CrashMode mode = modes.get(m);
                // Mixed: java.util.Random's first draws are alike for nearby seeds.
                SimulatedDisk disk = new SimulatedDisk(template, new java.util.SplittableRandom(at * 31 + m).nextLong(),
                        512);
                disk.crashAt(at, mode);
                GuestModel model = new GuestModel(initial);
                run(file, disk, ops, model);
                disk.crashNow(mode);
                String context = name + ": power lost at mutation " + at + " of " + mutations + " (" + mode + ")";
                SimulatedDisk rebooted = new SimulatedDisk(disk.crashImage(), 0, 1);
                try (QedImage img = QedImage.open(file, options(rebooted, file))) {
                    CheckResult check = img.check(Repair.NONE);
                    assertThat(check.isConsistent()).as("%s: %s", context, check).isTrue();
                    model.verify(img, context);
                }
                if (qemu && m == SimulatedDisk.CrashMode.KEEP_SUBSET.ordinal() && at % 8 == 0) {
                    Path copy = dir.resolve(name + "-crashed.qed");
                    Files.write(copy, rebooted.durableImage());
                    Qemu.Result q = Qemu.img("check", "-f", "qed", "--output=json", copy.toString());
                    assertThat(Qemu.jsonLong(q.stdout(), "corruptions")).as("%s: %s", context, q.stdout()).isZero();
                }
            }
        }
    }

    /** Runs the operations until the disk crashes, telling the model what completed. */
    private static void run(Path file, SimulatedDisk disk, List<CrashWorkload.Op> ops, GuestModel model)
            throws IOException {
        QedImage img;
        try {
            img = QedImage.open(file, options(disk, file));
        } catch (IOException crashedWhileOpening) {
            return;
        }
        for (CrashWorkload.Op op : ops) {
            try {
                op.apply(img);
            } catch (IOException e) {
                model.issued(op, false);
                break;
            }
            model.issued(op, true);
            if (op.kind() == CrashWorkload.Kind.FLUSH) {
                model.flushed(img);
            }
        }
        try {
            img.close();
        } catch (IOException crashed) {
            // the disk is gone; the crash image is what matters
        }
    }

    private static OpenOptions options(SimulatedDisk disk, Path image) {
        return OpenOptions.defaults().withStorageFactory((f, readOnly) -> f.equals(image)
                ? disk.storage(f.toString()) : Storage.open(f, readOnly));
    }
}
