package io.github.qednio.engine;

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
}
