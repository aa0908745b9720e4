package io.github.qednio.internal.storage;

import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.ImageLockedException;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.internal.qed.ChildJvm;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.testing.Qemu;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The lock manager over the life of the users of one file: refused opens leave nothing behind, a writer's locks go
 * with it while readers stay, and a reader's one lock ({@code qemu-io -r -U}'s byte 100) is held and kept.
 */
class ImageLockLifecycleTest {
    @TempDir
    Path dir;
    Path image;

    @BeforeEach
    void createImage() throws IOException {
        image = dir.resolve("disk.qed");
        QedImage.create(image, CreateOptions.ofSize(16 << 20)).close();
    }

    /** Descriptors of this process open on {@code file}, as the kernel lists them. */
    private static int descriptorsOn(Path file) throws IOException {
        Path fds = Path.of("/proc/self/fd");
        Assumptions.assumeTrue(Files.isDirectory(fds), "needs /proc");
        Path real = file.toRealPath();
        int n = 0;
        try (DirectoryStream<Path> s = Files.newDirectoryStream(fds)) {
            for (Path fd : s) {
                try {
                    if (Files.readSymbolicLink(fd).equals(real)) {
                        n++;
                    }
                } catch (IOException gone) {
                    // the directory stream's own descriptor, closed meanwhile
                }
            }
        }
        return n;
    }

    /** The byte ranges this process holds locked on {@code file}, as {@code /proc/locks} shows them to QEMU. */
    private static List<long[]> heldRanges(Path file, long someHeldByte) throws IOException {
        String token = ProcLocks.tokenOf(file, someHeldByte);
        return token == null ? List.of() : ProcLocks.ranges(token);
    }

    private static boolean qemuCanWrite(Path image) {
        Qemu.Result w = Qemu.io("-f", "qed", "-c", "write 0 512", image.toString());
        return w.exitCode() == 0;
    }

    @Test
    void aSecondWriterRefusedInThisJvmTakesNothingFromTheFirst() throws IOException {
        Qemu.assumeAvailable();
        try (QedImage first = QedImage.open(image, OpenOptions.defaults())) {
            assertThatThrownBy(() -> QedImage.open(image, OpenOptions.defaults()))
                    .isInstanceOf(ImageLockedException.class).hasMessageContaining("already open for writing");
            assertThat(qemuCanWrite(image)).as("QEMU still refused").isFalse();
            first.write(ByteBuffer.wrap(new byte[] {1}), 0);
            first.flush();
        }
        assertThat(descriptorsOn(image)).isZero();
        assertThat(qemuCanWrite(image)).isTrue();
    }

    @Test
    void anOpenRefusedBecauseQemuHoldsTheImageLeavesNoDescriptorOpen() throws Exception {
        Qemu.assumeAvailable();
        Process qemu = new ProcessBuilder("qemu-io", "-f", "qed", image.toString()).redirectErrorStream(true).start();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(qemu.getInputStream(),
                    StandardCharsets.UTF_8));
            qemu.getOutputStream().write("write 0 512\n".getBytes(StandardCharsets.US_ASCII));
            qemu.getOutputStream().flush();
            for (String line = out.readLine(); line != null && !line.contains("wrote 512/512"); ) {
                line = out.readLine();
            }
            assertThatThrownBy(() -> QedImage.open(image, OpenOptions.defaults()))
                    .isInstanceOf(ImageLockedException.class);
            assertThat(descriptorsOn(image)).isZero();
            assertThat(ImageLock.openChannels(image)).isZero();
        } finally {
            qemu.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        }
        // Nothing of the refused open lingers: we can write now.
        try (QedImage w = QedImage.open(image, OpenOptions.defaults())) {
            w.write(ByteBuffer.wrap(new byte[] {2}), 0);
        }
    }

    @Test
    void aWriterClosingBesideAReaderGivesItsLocksBackAndTheReaderKeepsItsOwn() throws IOException {
        Qemu.assumeAvailable();
        try (QedImage reader = QedImage.open(image, OpenOptions.readOnlyDefaults())) {
            try (QedImage writer = QedImage.open(image, OpenOptions.defaults())) {
                writer.write(ByteBuffer.wrap(new byte[] {3}), 0);
            }
            assertThat(ProcLocks.covers(heldRanges(image, 100), 100)).as("reader's byte 100").isTrue();
            assertThat(ProcLocks.covers(heldRanges(image, 100), 101)).as("no write permission left").isFalse();
            assertThat(ProcLocks.covers(heldRanges(image, 100), 103)).as("no resize permission left").isFalse();
            assertThat(ProcLocks.covers(heldRanges(image, 100), 201)).as("the reader's: write unshared").isTrue();
            assertThat(qemuCanWrite(image)).as("a reader does not share write, as qemu-io -r").isFalse();
            ByteBuffer b = ByteBuffer.allocate(1);
            reader.readFully(b, 0);
        }
        assertThat(heldRanges(image, 100)).isEmpty();
        assertThat(descriptorsOn(image)).isZero();
    }

    @Test
    void aReaderAloneHoldsByte100AndKeepsItWhenTheLibraryTouchesTheFile() throws IOException {
        try (QedImage reader = QedImage.open(image, OpenOptions.readOnlyDefaults())) {
            assertThat(ProcLocks.covers(heldRanges(image, 100), 100)).isTrue();
            // setTimes opens and closes a descriptor of its own inside the JDK, which drops every lock.
            LockSafeFiles.setTimes(image, FileTime.fromMillis(1_600_000_000_000L), null, null);
            assertThat(ProcLocks.covers(heldRanges(image, 100), 100)).as("after setTimes").isTrue();
            assertThat(Files.getLastModifiedTime(image).toMillis()).isEqualTo(1_600_000_000_000L);
            assertThat(LockSafeFiles.probeFormat(image)).isEqualTo(LockSafeFiles.QED);
            assertThat(ProcLocks.covers(heldRanges(image, 100), 100)).as("after a probe").isTrue();
            assertThat(reader.size()).isEqualTo(16 << 20);
        }
        assertThat(heldRanges(image, 100)).isEmpty();
    }

    @Test
    void aWriterOpenedWhileOnlyReadOnlyChannelsAreIdleGetsAWritableOne() throws IOException {
        try (QedImage keep = QedImage.open(image, OpenOptions.readOnlyDefaults())) {
            QedImage.open(image, OpenOptions.readOnlyDefaults()).close(); // leaves an idle read-only channel
            try (QedImage writer = QedImage.open(image, OpenOptions.defaults())) {
                writer.write(ByteBuffer.wrap(new byte[] {4, 5, 6}), 4096);
                writer.flush();
            }
            ByteBuffer b = ByteBuffer.allocate(3);
            keep.readFully(b, 4096);
        }
        try (QedImage img = QedImage.open(image, OpenOptions.readOnlyDefaults())) {
            ByteBuffer b = ByteBuffer.allocate(3);
            img.readFully(b, 4096);
            assertThat(b.array()).containsExactly(4, 5, 6);
        }
        assertThat(descriptorsOn(image)).isZero();
    }

    @Test
    void aStorageIsNamedAfterItsFileAndCloseLeavesNoDescriptor() throws IOException {
        try (FileStorage s = FileStorage.open(image, true)) {
            assertThat(s.name()).isEqualTo(image.toString());
            assertThat(descriptorsOn(image)).isEqualTo(1);
        }
        assertThat(descriptorsOn(image)).isZero();
    }

    /**
     * A process that holds the write (or resize) permission while sharing it (a QEMU writer with
     * {@code share-rw=on} holds byte 101 without 201) still excludes our writer, which does not share write: we check
     * the permission bytes as well as the shared ones, as {@code raw_check_lock_bytes} does.
     */
    @Test
    void aProcessHoldingTheWritePermissionWhileSharingItStillRefusesOurWriter() throws Exception {
        for (String permByte : new String[] {"101", "103"}) {
            Process child = ChildJvm.start(LockBytesChild.class, image.toString(), "100", permByte);
            try {
                BufferedReader out = ChildJvm.stdout(child);
                assertThat(out.readLine()).isEqualTo("locked");
                assertThatThrownBy(() -> QedImage.open(image, OpenOptions.defaults()))
                        .isInstanceOf(ImageLockedException.class)
                        .hasMessageContaining("holds the " + (permByte.equals("101") ? "write" : "resize")
                                + " permission");
                assertThat(descriptorsOn(image)).isZero();
                // A reader does not share write or resize either, as qemu-io -r; with force-share it reads.
                assertThatThrownBy(() -> QedImage.open(image, OpenOptions.readOnlyDefaults()))
                        .isInstanceOf(ImageLockedException.class)
                        .hasMessageContaining("Failed to get shared \"" + (permByte.equals("101") ? "write" : "resize")
                                + "\" lock");
                try (QedImage reader = QedImage.open(image, OpenOptions.readOnlyDefaults().withForceShare(true))) {
                    assertThat(reader.size()).isEqualTo(16 << 20);
                }
            } finally {
                child.getOutputStream().close();
                assertThat(child.waitFor(30, TimeUnit.SECONDS)).isTrue();
            }
        }
        try (QedImage w = QedImage.open(image, OpenOptions.defaults())) {
            w.write(ByteBuffer.wrap(new byte[] {5}), 0);
        }
    }

    @Test
    void aTruncateAfterForeignCodeDroppedTheLocksTakesThemAgainFirst() throws IOException {
        try (FileStorage s = FileStorage.open(image, false)) {
            assertThat(ProcLocks.covers(heldRanges(image, 100), 101)).isTrue();
            Files.readAllBytes(image); // opens and closes a descriptor outside the library: the kernel drops all
            assertThat(ProcLocks.covers(heldRanges(image, 100), 101)).as("dropped by the foreign close").isFalse();
            long size = s.size();
            s.truncate(size);
            assertThat(ProcLocks.covers(heldRanges(image, 100), 101)).as("taken again before truncating").isTrue();
            assertThat(ProcLocks.covers(heldRanges(image, 100), 201)).isTrue();
        }
    }

    @Test
    void locksRetakenForAReaderAfterAWriterLeftAreOnlyTheReaders() throws IOException {
        Qemu.assumeAvailable();
        try (QedImage reader = QedImage.open(image, OpenOptions.readOnlyDefaults())) {
            QedImage.open(image, OpenOptions.defaults()).close(); // leaves its writable channel idle
            // setTimes drops every lock of the process; only the reader's byte 100 may come back.
            LockSafeFiles.setTimes(image, FileTime.fromMillis(1_600_000_000_000L), null, null);
            assertThat(ProcLocks.covers(heldRanges(image, 100), 100)).isTrue();
            assertThat(ProcLocks.covers(heldRanges(image, 100), 101)).as("no writer's lock for nobody").isFalse();
            assertThat(ProcLocks.covers(heldRanges(image, 100), 103)).isFalse();
            assertThat(ProcLocks.covers(heldRanges(image, 100), 201)).as("the reader's, taken again").isTrue();
            assertThat(ProcLocks.covers(heldRanges(image, 100), 203)).isTrue();
            assertThat(qemuCanWrite(image)).isFalse();
            assertThat(reader.size()).isEqualTo(16 << 20);
        }
    }
}
