package io.github.qednio.engine;

import java.io.IOException;
import java.nio.file.Path;

/**
 * Opens the {@link Storage} under an image. The default opens a {@link java.nio.channels.FileChannel}; tests
 * supply factories that wrap it to inject faults.
 */
@FunctionalInterface
interface StorageFactory {
    /** The default: {@link Storage#open(Path, boolean)}. */
    StorageFactory DEFAULT = Storage::open;

    Storage open(Path file, boolean readOnly) throws IOException;
}
