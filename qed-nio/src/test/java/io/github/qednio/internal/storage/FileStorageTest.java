package io.github.qednio.internal.storage;

import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class FileStorageTest {

    @Test
    void aFullDiskIsReportedWithTheFileTheOperationAndTheOffset() throws IOException {
        Path full = Path.of("/dev/full"); // every write fails with ENOSPC
        assumeTrue(Files.isWritable(full), "needs Linux's /dev/full");
        try (Storage s = Storage.open(full, false)) {
            assertThatThrownBy(() -> s.write(ByteBuffer.allocate(4096), 65536))
                    .isExactlyInstanceOf(IOException.class)
                    .hasMessageContaining("/dev/full")
                    .hasMessageContaining("write of 4096 bytes at offset 65536")
                    .hasMessageContaining("No space left on device");
        }
    }

    @Test
    void writesToAReadOnlyStorageAreRefusedWithoutTouchingTheFile(@org.junit.jupiter.api.io.TempDir Path dir)
            throws IOException {
        Path f = Files.write(dir.resolve("f"), new byte[] {1, 2, 3});
        try (Storage s = Storage.open(f, true)) {
            assertThatThrownBy(() -> s.write(ByteBuffer.allocate(1), 0))
                    .isInstanceOf(java.nio.file.AccessDeniedException.class);
        }
        org.assertj.core.api.Assertions.assertThat(Files.readAllBytes(f)).containsExactly(1, 2, 3);
    }

    @Test
    void truncateIsRefusedReadOnlyAndShortensTheFileReadWrite(@org.junit.jupiter.api.io.TempDir Path dir)
            throws IOException {
        Path f = Files.write(dir.resolve("f"), new byte[] {1, 2, 3, 4, 5});
        try (Storage s = Storage.open(f, true)) {
            assertThatThrownBy(() -> s.truncate(2)).isInstanceOf(java.nio.file.AccessDeniedException.class)
                    .hasMessageContaining(f.toString());
        }
        org.assertj.core.api.Assertions.assertThat(Files.readAllBytes(f)).containsExactly(1, 2, 3, 4, 5);
        try (Storage s = Storage.open(f, false)) {
            s.truncate(2);
            org.assertj.core.api.Assertions.assertThat(s.size()).isEqualTo(2);
        }
        org.assertj.core.api.Assertions.assertThat(Files.readAllBytes(f)).containsExactly(1, 2);
    }

    /** An interrupt pending when a call starts must neither close the channel nor be lost for the caller. */
    @Test
    void aPendingInterruptIsKeptForTheCallerAndDoesNotCloseTheFile(@org.junit.jupiter.api.io.TempDir Path dir)
            throws IOException {
        Path f = Files.write(dir.resolve("f"), new byte[] {7, 8, 9});
        try (FileStorage s = FileStorage.open(f, false)) {
            ByteBuffer b = ByteBuffer.allocate(3);
            Thread.currentThread().interrupt();
            try {
                org.assertj.core.api.Assertions.assertThat(s.read(b, 0)).isEqualTo(3);
                org.assertj.core.api.Assertions.assertThat(Thread.currentThread().isInterrupted())
                        .as("interrupt restored").isTrue();
                s.write(ByteBuffer.wrap(new byte[] {6}), 0);
                org.assertj.core.api.Assertions.assertThat(Thread.currentThread().isInterrupted()).isTrue();
            } finally {
                Thread.interrupted();
            }
            org.assertj.core.api.Assertions.assertThat(b.array()).containsExactly(7, 8, 9);
            org.assertj.core.api.Assertions.assertThat(s.channel().isOpen()).isTrue();
            org.assertj.core.api.Assertions.assertThat(s.reopens()).isZero();
        }
        org.assertj.core.api.Assertions.assertThat(Files.readAllBytes(f)).containsExactly(6, 8, 9);
    }

    @Test
    void closingAStorageOnAFileSystemWithoutLocksClosesItsChannel() throws IOException {
        try (java.nio.file.FileSystem fs = com.google.common.jimfs.Jimfs.newFileSystem(
                com.google.common.jimfs.Configuration.unix())) {
            Path f = Files.write(fs.getPath("/f"), new byte[] {1});
            FileStorage s = FileStorage.open(f, true);
            java.nio.channels.FileChannel ch = s.channel();
            org.assertj.core.api.Assertions.assertThat(s.name()).isEqualTo("/f");
            s.close();
            org.assertj.core.api.Assertions.assertThat(ch.isOpen()).isFalse();
        }
    }
}
