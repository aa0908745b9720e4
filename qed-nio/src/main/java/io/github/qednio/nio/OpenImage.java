package io.github.qednio.nio;

import io.github.qednio.engine.QedImage;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One image open in this JVM: the engine, every channel on it, and its byte-range locks. All channels on an image
 * share this engine and its cache.
 */
final class OpenImage {
    /** The image's real path: the registry key. */
    final Path key;
    final QedImage image;
    /** The file system this image belongs to (for an implicit one, the file system that first needed it). */
    final QedFileSystem owner;
    /** Opened by a channel on a path with no explicit file system: closed when its last channel closes. */
    final boolean implicit;
    final Set<DiskChannel> channels = ConcurrentHashMap.newKeySet();
    final LockTable locks = new LockTable();

    OpenImage(Path key, QedImage image, QedFileSystem owner, boolean implicit) {
        this.key = key;
        this.image = image;
        this.owner = owner;
        this.implicit = implicit;
    }
}
