package io.github.qednio.internal.qed;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.InvalidOptionException;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.internal.storage.FileStorage;
import io.github.qednio.internal.storage.Storage;
import static io.github.qednio.format.QedHeader.QED_F_BACKING_FILE;
import static io.github.qednio.format.QedHeader.QED_F_BACKING_FORMAT_NO_PROBE;

import io.github.qednio.format.Geometry;
import io.github.qednio.format.QedHeader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Writes a new image as {@code qemu-img create -f qed} does (notes §6): header with {@code header_size} 1, the
 * backing name at offset 64, an all-zero L1 table at one cluster, file length {@code (1 + table_size) * cs}.
 */
public final class ImageCreator {
    private ImageCreator() {
    }

    /** What creating an image needs from its backing chain, which is opened above this package. */
    public interface Chain {
        /** The probed format of backing file {@code name}, for an overlay whose caller did not state one. */
        ImageFormat formatOf(String name) throws IOException;

        /** The virtual size of backing file {@code name}, for an overlay created without a size. */
        long sizeOf(String name, ImageFormat format) throws IOException;

        /** Opens the new image read-write, with its backing chain. */
        QedEngine open() throws IOException;
    }

    public static QedEngine create(Path file, CreateOptions options, OpenOptions openOptions, Chain chain)
            throws IOException {
        Geometry geo = geometry(file, options);
        byte[] name = options.backingFile() == null ? new byte[0]
                : options.backingFile().getBytes(StandardCharsets.UTF_8);
        // Before anything resolves the name: the file system would only say "File name too long".
        long maxName = Math.min(QedHeader.MAX_BACKING_FILENAME_SIZE, geo.headerBytes() - QedHeader.HEADER_LENGTH);
        if (name.length > maxName) {
            String tooLong = " name of " + name.length + " bytes is too long: QED images (as QEMU reads them) allow"
                    + " at most " + maxName + " bytes with ";
            throw refused(file, "backing_file" + tooLong + "cluster_size " + options.clusterSize(),
                    "backingFile" + tooLong + "clusterSize " + options.clusterSize());
        }
        if (options.backingFile() != null && options.backingFormat() == null) {
            // Decide the format once, now, so that a raw base is recorded as raw and never probed again (§9.5).
            options = options.withBackingFile(options.backingFile(),
                    chain.formatOf(options.backingFile()));
        }
        long size = options.size();
        if (size == CreateOptions.SIZE_FROM_BACKING) {
            if (options.backingFile() == null) {
                throw new IllegalArgumentException("size is required for an image without a backing file");
            }
            size = chain.sizeOf(options.backingFile(), options.backingFormat());
        }
        QedHeader header = newHeader(file, options, geo, size, name.length);
        header.validate(Long.MAX_VALUE, file.toString());
        try (Storage s = openOptions.cacheMode().apply(FileStorage.createNew(file))) {
            s.write(header.encode(), 0);
            s.write(ByteBuffer.wrap(name), QedHeader.HEADER_LENGTH);
            // The L1 table is all zeros: extend the file to its end (sparse where the file system allows).
            long end = header.l1TableOffset() + geo.tableBytes();
            s.write(ByteBuffer.allocate(1), end - 1);
            s.force();
        }
        try {
            return chain.open();
        } catch (IOException | RuntimeException e) {
            // The chain cannot be opened (missing backing file, policy, cycle): do not leave a half-usable image.
            try {
                Files.deleteIfExists(file);
            } catch (IOException | RuntimeException d) {
                e.addSuppressed(d);
            }
            throw e;
        }
    }

    /** The refusal of an option for {@code file}: {@code problem} in the spec's words, {@code java} the API's. */
    private static InvalidOptionException refused(Path file, String problem, String java) {
        return new InvalidOptionException(file + ": " + problem, file + ": " + java);
    }

    /** Validates the requested geometry, naming the option at fault. */
    private static Geometry geometry(Path file, CreateOptions o) {
        long cs = o.clusterSize();
        long ts = o.tableSize();
        if (cs < QedHeader.MIN_CLUSTER_SIZE || cs > QedHeader.MAX_CLUSTER_SIZE || Long.bitCount(cs) != 1) {
            String range = " " + cs + " is not a power of two in [" + QedHeader.MIN_CLUSTER_SIZE + ", "
                    + QedHeader.MAX_CLUSTER_SIZE + "]";
            throw refused(file, "cluster_size" + range, "clusterSize" + range);
        }
        if (ts < QedHeader.MIN_TABLE_SIZE || ts > QedHeader.MAX_TABLE_SIZE || Long.bitCount(ts) != 1) {
            String range = " " + ts + " is not a power of two in [" + QedHeader.MIN_TABLE_SIZE + ", "
                    + QedHeader.MAX_TABLE_SIZE + "]";
            throw refused(file, "table_size" + range, "tableSize" + range);
        }
        Geometry geo = Geometry.of((int) cs, (int) ts, 1);
        if (!o.allowQemuIncompatible() && !geo.isQemuCompatible()) {
            String why = " makes an image QEMU 7.2 cannot open (table_size 1, or N^2*cluster_size wraps 64 bits)";
            throw refused(file, "cluster_size " + cs + " with table_size " + ts + why,
                    "clusterSize " + cs + " with tableSize " + ts + why
                            + "; use CreateOptions.withAllowQemuIncompatible(true) to create it anyway");
        }
        return geo;
    }

    private static QedHeader newHeader(Path file, CreateOptions o, Geometry geo, long requestedSize,
                                       int nameLength) {
        long cs = geo.clusterSize();
        long ts = geo.tableSize();
        // qemu-img rounds the size up to a whole sector.
        long size = requestedSize > Long.MAX_VALUE - 511 ? -1 : (requestedSize + 511) & ~511L;
        if (size < 0 || size > geo.maxImageSize()) {
            String range = "size " + requestedSize + " is not in [0, " + geo.maxImageSize() + "] for ";
            throw refused(file, range + "cluster_size " + cs + " and table_size " + ts,
                    range + "clusterSize " + cs + " and tableSize " + ts);
        }
        long features = 0;
        if (o.backingFile() != null) {
            features |= QED_F_BACKING_FILE;
            if (o.backingFormat() == ImageFormat.RAW) {
                features |= QED_F_BACKING_FORMAT_NO_PROBE;
            }
        }
        return new QedHeader(cs, ts, 1, features, 0, 0, cs, size,
                o.backingFile() == null ? 0 : QedHeader.HEADER_LENGTH, nameLength);
    }
}
