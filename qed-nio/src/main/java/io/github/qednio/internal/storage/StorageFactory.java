package io.github.qednio.internal.storage;

import java.io.IOException;
import java.nio.file.Path;

/**
 * Opens the {@link Storage} under an image. The default opens a {@link java.nio.channels.FileChannel}; tests
 * supply factories that wrap it to inject faults.
 */
@FunctionalInterface
public interface StorageFactory {
    /** The default: {@link Storage#open(Path, boolean, boolean)}. */
    StorageFactory DEFAULT = new StorageFactory() {
        @Override
        public Storage open(Path file, boolean readOnly) throws IOException {
            return Storage.open(file, readOnly);
        }

        @Override
        public Storage open(Path file, boolean readOnly, boolean forceShare) throws IOException {
            return Storage.open(file, readOnly, forceShare);
        }
    };

    Storage open(Path file, boolean readOnly) throws IOException;

    /**
     * Opens the storage of a read-only open with force-share ({@link OpenOptions#withForceShare}); factories that
     * only wrap {@link Storage#open(Path, boolean)} (tests) ignore the flag.
     */
    default Storage open(Path file, boolean readOnly, boolean forceShare) throws IOException {
        return open(file, readOnly);
    }
}
