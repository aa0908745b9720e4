package io.github.qednio.internal.qed;

import io.github.qednio.image.OpenOptions;
import io.github.qednio.internal.storage.ForwardingStorage;
import io.github.qednio.internal.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/**
 * The test-only bridge to the engine's storage hooks for tests in other packages (the {@code nio} tests): the
 * storage layer ({@link Storage}, {@link StorageFactory}, {@link OpenOptions#withStorageFactory}) is package-private,
 * so that nothing in the library's public API exists for tests' sake. Lives in the test tree only.
 */
public final class EngineTestHooks {
    private EngineTestHooks() {
    }

    /**
     * Sees every call the engine makes on one image file. Each method forwards to the real file (through the
     * lock manager, as in production); override one to stop, record or fail the call, and call {@code super} to
     * let it through.
     */
    public abstract static class Interceptor {
        private Storage file;

        /** Reads up to {@code dst.remaining()} bytes at {@code position}; -1 at end of file. */
        public int read(ByteBuffer dst, long position) throws IOException {
            return file.read(dst, position);
        }

        /** Writes all of {@code src} at {@code position}. */
        public void write(ByteBuffer src, long position) throws IOException {
            file.write(src, position);
        }

        /** Makes every completed write durable. */
        public void force() throws IOException {
            file.force();
        }

        /** Closes the file. */
        public void close() throws IOException {
            file.close();
        }
    }

    /** Makes the interceptor for one file the engine opens. */
    @FunctionalInterface
    public interface InterceptorFactory {
        /** The interceptor for {@code file}, opened read-only or read-write. */
        Interceptor create(Path file, boolean readOnly) throws IOException;
    }

    /** {@code base} with every file the engine opens (image and backing files) passed through an interceptor. */
    public static OpenOptions intercepting(OpenOptions base, InterceptorFactory factory) {
        return base.withStorageFactory((file, readOnly) -> {
            Interceptor i = factory.create(file, readOnly);
            Storage real = Storage.open(file, readOnly);
            i.file = real;
            return new ForwardingStorage(real) {
                @Override
                public int read(ByteBuffer dst, long position) throws IOException {
                    return i.read(dst, position);
                }

                @Override
                public void write(ByteBuffer src, long position) throws IOException {
                    i.write(src, position);
                }

                @Override
                public void force() throws IOException {
                    i.force();
                }

                @Override
                public void close() throws IOException {
                    i.close();
                }
            };
        });
    }
}
