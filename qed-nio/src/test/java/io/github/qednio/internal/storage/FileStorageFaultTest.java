package io.github.qednio.internal.storage;

import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.QedImage;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static io.github.qednio.internal.storage.HeldLocks.holdsWriterBytes;
import static io.github.qednio.internal.storage.HeldLocks.token;

import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link FileStorage} under faults made deterministic by its call hook (given when it is opened), which runs on the
 * calling thread just before each channel call: an interrupt that lands inside the call (the JDK closes the
 * channel, and the kernel drops every lock of the process on the file), a channel closed under every call, a bare
 * I/O error. The
 * outcomes are checked in the file, in {@code /proc/locks} and, where QEMU is installed, with {@code qemu-io}.
 */
class FileStorageFaultTest {
    @TempDir
    Path dir;
    Path image;

    @BeforeEach
    void createImage() throws IOException {
        image = dir.resolve("disk.qed");
        QedImage.create(image, CreateOptions.ofSize(1 << 20)).close();
    }

    @AfterEach
    void clearInterrupt() {
        Thread.interrupted();
    }

    /** The fault the storage's call hook acts out now (none if null); the hook itself is fixed at open. */
    private final AtomicReference<FileStorage.CallHook> fault = new AtomicReference<>();

    /** Opens the image for writing with a call hook that acts out {@link #fault}. */
    private FileStorage openWithFaults() throws IOException {
        return FileStorage.open(image, false, false, LockTable.jvm(), ch -> {
            FileStorage.CallHook f = fault.get();
            if (f != null) {
                f.beforeCall(ch);
            }
        });
    }

    /** A hook that interrupts the caller inside its next channel call, once. */
    private static FileStorage.CallHook interruptOnce() {
        AtomicBoolean once = new AtomicBoolean(true);
        return ch -> {
            if (once.getAndSet(false)) {
                Thread.currentThread().interrupt();
            }
        };
    }

    @Test
    void anInterruptInsideACallReplacesTheChannelAtOnceAndTakesTheLocksAgainBeforeAnyOtherCall() throws IOException {
        try (FileStorage s = openWithFaults()) {
            String token = token(image);
            FileChannel first = s.channel();
            fault.set(interruptOnce());
            assertThatThrownBy(() -> s.read(ByteBuffer.allocate(512), 0))
                    .isInstanceOf(ClosedByInterruptException.class);
            assertThat(Thread.interrupted()).as("the interrupted thread keeps its interrupt status").isTrue();
            assertThat(first.isOpen()).isFalse();

            // Replaced by the interrupted call itself, so the other users of the file are locked again at once.
            assertThat(s.reopens()).isEqualTo(1);
            assertThat(s.channel()).isNotSameAs(first);
            assertThat(s.channel().isOpen()).isTrue();
            assertThat(holdsWriterBytes(token)).isTrue();
            if (Qemu.crossChecks()) {
                Qemu.Result w = Qemu.io("-f", "qed", "-c", "write 0 512", image.toString());
                assertThat(w.exitCode()).as("%s", w).isNotZero();
            }

            long end = s.size();
            s.write(ByteBuffer.wrap(new byte[] {1, 2, 3}), end);
            ByteBuffer back = ByteBuffer.allocate(3);
            assertThat(s.read(back, end)).isEqualTo(3);
            assertThat(back.array()).containsExactly(1, 2, 3);
        }
    }

    @Test
    void aCallWhoseChannelIsClosedUnderItEveryTimeGivesUpAfterABoundedNumberOfReopens() throws IOException {
        try (FileStorage s = openWithFaults()) {
            String token = token(image);
            fault.set(FileChannel::close);
            assertThatThrownBy(() -> s.read(ByteBuffer.allocate(512), 0)).isInstanceOf(ClosedChannelException.class);
            assertThat(s.reopens()).isEqualTo(FileStorage.MAX_RETRIES);

            fault.set(null);
            ByteBuffer magic = ByteBuffer.allocate(4);
            assertThat(s.read(magic, 0)).isEqualTo(4); // the next call replaces the channel left closed
            assertThat(magic.array()).containsExactly('Q', 'E', 'D', 0);
            assertThat(s.reopens()).isEqualTo(FileStorage.MAX_RETRIES + 1);
            assertThat(holdsWriterBytes(token)).isTrue();
        }
        assertThat(ImageLock.openChannels(image)).isZero();
    }

    @Test
    void aBareIoErrorNamesTheFileTheOperationAndTheOffset() throws IOException {
        try (FileStorage s = openWithFaults()) {
            IOException eio = new IOException("Input/output error");
            fault.set(ch -> {
                throw eio;
            });
            assertThatThrownBy(() -> s.write(ByteBuffer.allocate(512), 4096))
                    .isExactlyInstanceOf(IOException.class).hasCause(eio)
                    .hasMessage(image + ": write of 512 bytes at offset 4096 failed: Input/output error");
            assertThatThrownBy(s::force).isExactlyInstanceOf(IOException.class)
                    .hasMessage(image + ": flush failed: Input/output error");

            AccessDeniedException denied = new AccessDeniedException(image.toString());
            fault.set(ch -> {
                throw denied;
            });
            assertThatThrownBy(() -> s.read(ByteBuffer.allocate(512), 0)).as("says what happened already")
                    .isSameAs(denied);
        }
    }

    /**
     * The image file was renamed while open, so a channel closed by an interrupt cannot be replaced: the interrupted
     * call reports why, later calls fail with the reason (not a bare closed channel), and once the file is back
     * under its name the storage recovers.
     */
    @Test
    void aChannelThatCannotBeReplacedReportsWhyAndTheStorageRecoversWhenItCan() throws IOException {
        try (FileStorage s = openWithFaults()) {
            String token = token(image);
            Path moved = dir.resolve("moved.qed");
            Files.move(image, moved); // the descriptor and its locks stay; the name is gone
            fault.set(interruptOnce());
            Throwable interrupted = org.assertj.core.api.Assertions.catchThrowable(
                    () -> s.read(ByteBuffer.allocate(512), 0));
            assertThat(interrupted).isInstanceOf(ClosedByInterruptException.class);
            assertThat(interrupted.getSuppressed()).hasAtLeastOneElementOfType(NoSuchFileException.class);
            Thread.interrupted();

            Throwable later = org.assertj.core.api.Assertions.catchThrowable(
                    () -> s.read(ByteBuffer.allocate(512), 0));
            assertThat(later).isInstanceOf(NoSuchFileException.class);
            assertThat(later.getSuppressed()).hasAtLeastOneElementOfType(ClosedChannelException.class);

            Files.move(moved, image);
            ByteBuffer magic = ByteBuffer.allocate(4);
            assertThat(s.read(magic, 0)).isEqualTo(4);
            assertThat(magic.array()).containsExactly('Q', 'E', 'D', 0);
            assertThat(holdsWriterBytes(token)).isTrue();
        }
        assertThat(ImageLock.openChannels(image)).isZero();
    }
}
