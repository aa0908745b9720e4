package io.github.qednio.archive;

import io.github.qednio.image.Progress;
import java.util.Objects;
import java.util.Optional;

/**
 * How {@link ImageArchives#pack} builds the image. Immutable; start from {@link #defaults()}.
 *
 * <pre>{@code
 * PackOptions.defaults().withFormat(ArchiveFormat.ZIP).withClusterSize(4096)
 * }</pre>
 */
public final class PackOptions {
    private static final PackOptions DEFAULTS = new PackOptions(null, -1, 0, 0, true, Progress.NONE);

    private final ArchiveFormat format;
    private final long size;
    private final long clusterSize;
    private final long tableSize;
    private final boolean detectZeroes;
    private final Progress progress;

    private PackOptions(ArchiveFormat format, long size, long clusterSize, long tableSize, boolean detectZeroes,
                        Progress progress) {
        this.format = format;
        this.size = size;
        this.clusterSize = clusterSize;
        this.tableSize = tableSize;
        this.detectZeroes = detectZeroes;
        this.progress = progress;
    }

    /**
     * The defaults: the format of a copied archive or else tar, an automatic disk size, QEMU's default geometry,
     * zero detection on.
     *
     * @return the default options (a shared immutable instance)
     */
    public static PackOptions defaults() {
        return DEFAULTS;
    }

    /**
     * The archive format asked for.
     *
     * @return the format, or empty for the default (that of a copied archive, else tar)
     */
    public Optional<ArchiveFormat> format() {
        return Optional.ofNullable(format);
    }

    /**
     * The archive format to write. A single source that is an archive is copied as is and must be of this format.
     *
     * @param value the format, or null for the default
     * @return options equal to these but for the format
     */
    public PackOptions withFormat(ArchiveFormat value) {
        return new PackOptions(value, size, clusterSize, tableSize, detectZeroes, progress);
    }

    /**
     * The virtual disk size asked for.
     *
     * @return bytes, or -1 for an automatic size (the default)
     */
    public long size() {
        return size;
    }

    /**
     * A fixed virtual disk size instead of the automatic one, which is the archive's length rounded up to the 512
     * bytes QED requires. A zip archive on a larger disk no longer ends at the device's end, where {@code unzip} and
     * {@link ImageArchives#unpack} look for its directory; tar and 7z do not mind.
     *
     * @param bytes the size in bytes (a multiple of 512, at least the archive's length), or -1 for automatic
     * @return options equal to these but for the size
     * @throws IllegalArgumentException if {@code bytes} is less than -1
     */
    public PackOptions withSize(long bytes) {
        if (bytes < -1) {
            throw new IllegalArgumentException("size " + bytes + " must be -1 (automatic) or a number of bytes");
        }
        return new PackOptions(format, bytes, clusterSize, tableSize, detectZeroes, progress);
    }

    /**
     * The image's cluster size.
     *
     * @return bytes, or 0 for QEMU's default (64 KiB)
     */
    public long clusterSize() {
        return clusterSize;
    }

    /**
     * The image's cluster size (as {@code qemu-img create -o cluster_size=N}).
     *
     * @param bytes a power of two from 4 KiB to 64 MiB, or 0 for the default
     * @return options equal to these but for the cluster size
     */
    public PackOptions withClusterSize(long bytes) {
        return new PackOptions(format, size, bytes, tableSize, detectZeroes, progress);
    }

    /**
     * The image's table size in clusters.
     *
     * @return clusters, or 0 for QEMU's default (4)
     */
    public long tableSize() {
        return tableSize;
    }

    /**
     * The image's table size in clusters (as {@code qemu-img create -o table_size=N}).
     *
     * @param clusters a power of two from 1 to 16, or 0 for the default
     * @return options equal to these but for the table size
     */
    public PackOptions withTableSize(long clusters) {
        return new PackOptions(format, size, clusterSize, clusters, detectZeroes, progress);
    }

    /**
     * Whether all-zero runs of the archive are stored without allocating clusters.
     *
     * @return true unless turned off (default true)
     */
    public boolean detectZeroes() {
        return detectZeroes;
    }

    /**
     * Whether all-zero runs of the archive (the zeros of a sparse or empty file in a tar, padding) are stored without
     * allocating clusters; see {@link io.github.qednio.image.OpenOptions#withDetectZeroes}.
     *
     * @param value false to write every zero
     * @return options equal to these but for the flag
     */
    public PackOptions withDetectZeroes(boolean value) {
        return new PackOptions(format, size, clusterSize, tableSize, value, progress);
    }

    /**
     * What is told of the packing's progress: bytes of the archive written onto the disk, out of the disk's size.
     *
     * @return the listener (default {@link Progress#NONE})
     */
    public Progress progress() {
        return progress;
    }

    /**
     * Reports the packing's progress to {@code listener}, as {@code qed pack -p} draws it.
     *
     * @param listener told the bytes written so far and the disk's size, not null
     * @return options equal to these but for the listener
     */
    public PackOptions withProgress(Progress listener) {
        return new PackOptions(format, size, clusterSize, tableSize, detectZeroes, Objects.requireNonNull(listener));
    }
}
