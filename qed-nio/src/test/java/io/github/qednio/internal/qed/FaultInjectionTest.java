package io.github.qednio.internal.qed;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.CheckResult;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.image.Repair;
import io.github.qednio.internal.storage.SimulatedDisk;
import io.github.qednio.internal.storage.Storage;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.common.jimfs.Configuration;
import com.google.common.jimfs.Jimfs;
import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.FileSystem;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * An I/O error, a failed fsync or a full disk in the middle of a write is reported as an IOException, leaves the
 * image consistent ({@code qemu-img check}: no corruption), and later writes that fit still work and read back.
 */
class FaultInjectionTest {
    private static final int CLUSTER = 4096;
    private static final long SIZE = 10L << 20;

    @TempDir
    Path tmp;
    private FileSystem fs;
    private Path plain;
    private Path overlay;
    private byte[] backing;

    @BeforeEach
    void createImages() throws IOException {
        fs = Jimfs.newFileSystem(Configuration.unix());
        Path dir = Files.createDirectories(fs.getPath("/images"));
        backing = new byte[(int) SIZE - 5000];
        new Random(3).nextBytes(backing);
        Files.write(dir.resolve("base.raw"), backing);
        Files.write(tmp.resolve("base.raw"), backing);
        plain = dir.resolve("plain.qed");
        overlay = dir.resolve("overlay.qed");
        CreateOptions small = CreateOptions.ofSize(SIZE).withClusterSize(CLUSTER).withTableSize(2);
        QedImage.create(plain, small).close();
        QedImage.create(overlay, small.withBackingFile("base.raw", ImageFormat.RAW)).close();
    }

    @AfterEach
    void closeFs() throws IOException {
        fs.close();
    }

    /** A workload step that allocates: data in a new L2 table's range, a multi-cluster run, a partial cluster. */
    private static final long[][] ALLOCATING_WRITES = {
        {5L << 20, 3 * CLUSTER + 100}, {100, 50}, {2 * CLUSTER - 7, 9000}};

    /** A fault that strikes at the k-th write or force of an allocation. */
    enum FaultAtStep {
        IO_ERROR_AT_WRITE("write"), FAILED_FSYNC("force");

        final String call;

        FaultAtStep(String call) {
            this.call = call;
        }

        Fault at(long k) {
            return this == IO_ERROR_AT_WRITE ? disk -> disk.failWriteAt(k) : disk -> disk.failForceAt(k);
        }
    }

    @ParameterizedTest
    @EnumSource(FaultAtStep.class)
    void aFaultAtEveryStepOfAnAllocationIsReportedAndLeavesTheImageConsistent(FaultAtStep fault) throws IOException {
        for (Path image : new Path[] {plain, overlay}) {
            for (long[] w : ALLOCATING_WRITES) {
                long mutations = mutationsOf(image, w);
                for (long k = 1; k <= mutations; k++) {
                    checkFaultThenRecover(image, w, fault.at(k), fault.call + " " + k + " fails");
                }
            }
        }
    }

    @Test
    void aFullDiskPartWayThroughAnAllocationIsReportedAndLaterWritesThatFitWork() throws IOException {
        for (Path image : new Path[] {plain, overlay}) {
            long base = Files.size(image);
            for (long limit = base; limit < base + 8 * CLUSTER; limit += 2500) {
                final long l = limit;
                for (long[] w : ALLOCATING_WRITES) {
                    checkFaultThenRecover(image, w, disk -> disk.limitSize(l), "disk full at " + limit);
                }
            }
        }
    }

    @Test
    void aDiskThatFillsUpKeepsServingInPlaceWritesAndReads() throws IOException {
        SimulatedDisk disk = new SimulatedDisk(Files.readAllBytes(plain), 1, 1).limitSize(Files.size(plain)
                + 40 * CLUSTER);
        GuestModel model = new GuestModel(new byte[(int) SIZE]);
        CrashWorkload workload = new CrashWorkload(99, SIZE, CLUSTER);
        int failures = 0;
        try (QedImage img = QedImage.open(plain, options(disk, plain))) {
            for (int i = 0; i < 400; i++) {
                CrashWorkload.Op op = workload.next();
                try {
                    op.apply(img);
                    model.issued(op, true);
                    if (op.kind() == CrashWorkload.Kind.FLUSH) {
                        model.flushed(img);
                    }
                } catch (IOException e) {
                    assertThat(e).hasMessageContaining(SimulatedDisk.ENOSPC);
                    model.issued(op, false);
                    failures++;
                }
            }
            assertThat(failures).as("the disk must fill up during the workload").isPositive();
            // The image keeps working where no space is needed.
            long allocated = firstAllocatedCluster(img);
            CrashWorkload.Op inPlace = new CrashWorkload.Op(1000, CrashWorkload.Kind.WRITE, allocated, CLUSTER, 5);
            inPlace.apply(img);
            model.issued(inPlace, true);
            img.flush();
            model.flushed(img);
            assertThat(img.check(Repair.NONE).isConsistent()).isTrue();
            ByteBuffer back = ByteBuffer.allocate(CLUSTER);
            img.readFully(back, allocated);
            assertThat(back.array()).isEqualTo(inPlace.data());
        }
        qemuCheck(plain, disk.currentImage(), "disk full during a workload");
        SimulatedDisk reread = new SimulatedDisk(disk.currentImage(), 0, 1);
        try (QedImage img = QedImage.open(plain, options(reread, plain))) {
            model.verify(img, "reopened after the disk filled up");
        }
    }

    @Test
    void aFailedFlushIsReportedAndTheNextFlushMakesTheWritesDurable() throws IOException {
        SimulatedDisk disk = new SimulatedDisk(Files.readAllBytes(plain), 1, 1);
        byte[] data = new byte[3 * CLUSTER];
        new Random(11).nextBytes(data);
        QedImage crashing = QedImage.open(plain, options(disk, plain));
        crashing.write(ByteBuffer.wrap(data), 12345);
        disk.failForceAt(1);
        assertThatThrownBy(crashing::flush).isInstanceOf(IOException.class).hasMessageContaining("fsync");
        crashing.flush();
        disk.crashNow(SimulatedDisk.CrashMode.LOSE_ALL);
        try (QedImage img = QedImage.open(plain, options(new SimulatedDisk(disk.crashImage(), 0, 1), plain))) {
            ByteBuffer back = ByteBuffer.allocate(data.length);
            img.readFully(back, 12345);
            assertThat(back.array()).isEqualTo(data);
        }
    }

    interface Fault {
        void inject(SimulatedDisk disk);
    }

    /** How many storage mutations the write {@code w} makes on a fresh image (after the image is open). */
    private long mutationsOf(Path image, long[] w) throws IOException {
        SimulatedDisk disk = new SimulatedDisk(Files.readAllBytes(image), 0, 1);
        try (QedImage img = QedImage.open(image, options(disk, image))) {
            long before = disk.mutations();
            img.write(ByteBuffer.wrap(data(w)), w[0]);
            return disk.mutations() - before;
        }
    }

    /**
     * Injects the fault, runs the write (which must fail with an IOException or succeed), then checks the image is
     * consistent, that a later write in place and a later allocation work and read back, and that qemu-img agrees.
     */
    private void checkFaultThenRecover(Path image, long[] w, Fault fault, String what) throws IOException {
        boolean withBacking = image.equals(overlay);
        String context = image.getFileName() + ", write of " + w[1] + " bytes at " + w[0] + ", " + what;
        byte[] initial = new byte[(int) SIZE];
        if (withBacking) {
            System.arraycopy(backing, 0, initial, 0, backing.length);
        }
        GuestModel model = new GuestModel(initial);
        SimulatedDisk disk = new SimulatedDisk(Files.readAllBytes(image), w[0] ^ w[1], 8);
        try (QedImage img = QedImage.open(image, options(disk, image))) {
            fault.inject(disk);
            CrashWorkload.Op op = new CrashWorkload.Op(0, CrashWorkload.Kind.WRITE, w[0], (int) w[1], w[0] * 31 + w[1]);
            boolean completed = true;
            try {
                op.apply(img);
            } catch (IOException e) {
                completed = false;
                assertThat(e.getMessage()).as(context).matches("(?s).*(Input/output error|No space left).*");
            }
            model.issued(op, completed);
            disk.limitSize(Long.MAX_VALUE);
            img.flush();
            model.flushed(img);
            CheckResult check = img.check(Repair.NONE);
            assertThat(check.isConsistent()).as("%s: %s", context, check).isTrue();

            // Later writes work: the same range again (in place or allocating), and a fresh allocation elsewhere.
            CrashWorkload.Op again = new CrashWorkload.Op(1, CrashWorkload.Kind.WRITE, w[0], (int) w[1], 77);
            CrashWorkload.Op fresh = new CrashWorkload.Op(2, CrashWorkload.Kind.WRITE, SIZE - 3 * CLUSTER - 11,
                    2 * CLUSTER, 78);
            for (CrashWorkload.Op later : new CrashWorkload.Op[] {again, fresh}) {
                later.apply(img);
                model.issued(later, true);
            }
            img.flush();
            model.flushed(img);
            model.verify(img, context);
        }
        qemuCheck(image, disk.currentImage(), context);
        try (QedImage img = QedImage.open(image, options(new SimulatedDisk(disk.currentImage(), 0, 1), image))) {
            model.verify(img, context + ", reopened");
        }
    }

    /** Without QEMU only this cross-check is skipped. */
    private void qemuCheck(Path image, byte[] bytes, String context) throws IOException {
        if (!Qemu.crossChecks()) {
            return;
        }
        Path file = tmp.resolve(image.getFileName().toString());
        Files.write(file, bytes);
        Qemu.Result q = Qemu.img("check", "-f", "qed", "--output=json", file.toString());
        assertThat(q.exitCode()).as("%s: qemu-img check: %s %s", context, q.stdout(), q.stderr()).isIn(0, 3);
        assertThat(Qemu.jsonLong(q.stdout(), "corruptions")).as("%s: %s", context, q.stdout()).isZero();
    }

    private static long firstAllocatedCluster(QedImage img) throws IOException {
        for (long pos = 0; pos < img.size(); ) {
            Extent e = img.extentAt(pos);
            if (e.kind() == Extent.Kind.DATA) {
                return img.geometry().roundDownToCluster(e.start());
            }
            pos = e.end();
        }
        throw new AssertionError("nothing allocated");
    }

    private static byte[] data(long[] w) {
        return new CrashWorkload.Op(0, CrashWorkload.Kind.WRITE, w[0], (int) w[1], w[0] * 31 + w[1]).data();
    }

    private static OpenOptions options(SimulatedDisk disk, Path image) {
        return OpenOptions.defaults().withStorageFactory((file, readOnly) -> file.equals(image)
                ? disk.storage(file.toString()) : Storage.open(file, readOnly));
    }
}
