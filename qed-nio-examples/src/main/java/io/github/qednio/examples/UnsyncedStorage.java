package io.github.qednio.examples;

import io.github.qednio.engine.ForwardingStorage;
import io.github.qednio.engine.Storage;
import io.github.qednio.engine.StorageFactory;

/**
 * A {@link Storage} whose {@link #force()} does nothing: qemu-img's {@code cache=unsafe}, the default of
 * {@code qemu-img convert}. The engine's ordering is unchanged, but nothing is made durable, so an image being
 * written this way is only as safe as the page cache until the system writes it back. For a conversion, whose
 * output is useless if interrupted anyway, that is the usual trade.
 */
final class UnsyncedStorage extends ForwardingStorage {
    /** Opens files as usual and drops their syncs. */
    static final StorageFactory FACTORY = (file, readOnly) -> new UnsyncedStorage(Storage.open(file, readOnly));

    private UnsyncedStorage(Storage inner) {
        super(inner);
    }

    @Override
    public void force() {
        // cache=unsafe: no sync
    }
}
