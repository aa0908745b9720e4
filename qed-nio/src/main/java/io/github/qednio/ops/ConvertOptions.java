package io.github.qednio.ops;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.CacheMode;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.Progress;
import java.util.Objects;

/**
 * How {@link ImageConverter} converts, as {@code qemu-img convert}'s options say it: immutable, each {@code with}
 * method returns a copy. The defaults are qemu-img's: source format probed, raw target, new target file, zero runs
 * of 4 KiB or more skipped, cache mode {@link CacheMode#UNSAFE}.
 */
public final class ConvertOptions {
    private final ImageFormat sourceFormat;
    private final ImageFormat targetFormat;
    private final CreateOptions geometry;
    private final CacheMode cacheMode;
    private final String backingFile;
    private final ImageFormat backingFormat;
    private final boolean existingTarget;
    private final boolean targetIsZero;
    private final long minZeroRun;
    private final Progress progress;
    private final boolean forceShare;

    private ConvertOptions(ImageFormat sourceFormat, ImageFormat targetFormat, CreateOptions geometry,
                           CacheMode cacheMode, String backingFile, ImageFormat backingFormat,
                           boolean existingTarget, boolean targetIsZero, long minZeroRun, Progress progress,
                           boolean forceShare) {
        this.sourceFormat = sourceFormat;
        this.targetFormat = Objects.requireNonNull(targetFormat, "targetFormat");
        this.geometry = Objects.requireNonNull(geometry, "geometry");
        this.cacheMode = Objects.requireNonNull(cacheMode, "cacheMode");
        this.backingFile = backingFile;
        this.backingFormat = backingFormat;
        this.existingTarget = existingTarget;
        this.targetIsZero = targetIsZero;
        this.minZeroRun = minZeroRun;
        this.progress = Objects.requireNonNull(progress, "progress");
        this.forceShare = forceShare;
    }

    /**
     * qemu-img convert's defaults with the given target format.
     *
     * @param targetFormat the format to write
     * @return the options
     */
    public static ConvertOptions to(ImageFormat targetFormat) {
        return new ConvertOptions(null, targetFormat, CreateOptions.ofSize(0), CacheMode.UNSAFE, null, null, false,
                false, 4096, Progress.NONE, false);
    }

    /** {@return the source's format, or null to probe it} */
    public ImageFormat sourceFormat() {
        return sourceFormat;
    }

    /** {@return the target's format} */
    public ImageFormat targetFormat() {
        return targetFormat;
    }

    /** {@return for a new QED target, its cluster and table sizes (the size is the source's)} */
    public CreateOptions geometry() {
        return geometry;
    }

    /** {@return the target's cache mode} */
    public CacheMode cacheMode() {
        return cacheMode;
    }

    /** {@return the backing file name a new QED target records ({@code -B}), or null} */
    public String backingFile() {
        return backingFile;
    }

    /** {@return the backing file's format ({@code -F}), or null to probe it} */
    public ImageFormat backingFormat() {
        return backingFormat;
    }

    /** {@return whether the target exists already and is written in place ({@code -n})} */
    public boolean existingTarget() {
        return existingTarget;
    }

    /** {@return whether an existing target is known to read as zeros ({@code --target-is-zero})} */
    public boolean targetIsZero() {
        return targetIsZero;
    }

    /** {@return the shortest run of zero bytes left unwritten ({@code -S}); 0 writes every byte} */
    public long minZeroRun() {
        return minZeroRun;
    }

    /** {@return the listener told of the progress} */
    public Progress progress() {
        return progress;
    }

    /**
     * A copy with this option changed.
     *
     * @param format the source's format, or null to probe it ({@code -f})
     * @return a copy with it
     */
    public ConvertOptions withSourceFormat(ImageFormat format) {
        return new ConvertOptions(format, targetFormat, geometry, cacheMode, backingFile, backingFormat,
                existingTarget, targetIsZero, minZeroRun, progress, forceShare);
    }

    /**
     * A copy with this option changed.
     *
     * @param options cluster and table size of a new QED target ({@code -o}); its size is ignored
     * @return a copy with it
     */
    public ConvertOptions withGeometry(CreateOptions options) {
        return new ConvertOptions(sourceFormat, targetFormat, options, cacheMode, backingFile, backingFormat,
                existingTarget, targetIsZero, minZeroRun, progress, forceShare);
    }

    /**
     * A copy with this option changed.
     *
     * @param mode the target's cache mode ({@code -t})
     * @return a copy with it
     */
    public ConvertOptions withCacheMode(CacheMode mode) {
        return new ConvertOptions(sourceFormat, targetFormat, geometry, mode, backingFile, backingFormat,
                existingTarget, targetIsZero, minZeroRun, progress, forceShare);
    }

    /**
     * A new QED target with a backing file ({@code -B NAME -F FMT}): only the clusters whose content differs from
     * what the backing file provides are written, so the target reads exactly as the source.
     *
     * @param name   the name to record, resolved against the target's directory
     * @param format its format, or null to probe it
     * @return a copy with it
     */
    public ConvertOptions withBackingFile(String name, ImageFormat format) {
        return new ConvertOptions(sourceFormat, targetFormat, geometry, cacheMode, name, format, existingTarget,
                targetIsZero, minZeroRun, progress, forceShare);
    }

    /**
     * A copy with this option changed.
     *
     * @param value write into an existing target instead of creating it ({@code -n}); its size must be at least
     *              the source's, and zero regions are written as zeros unless {@link #withTargetIsZero}
     * @return a copy with it
     */
    public ConvertOptions withExistingTarget(boolean value) {
        return new ConvertOptions(sourceFormat, targetFormat, geometry, cacheMode, backingFile, backingFormat,
                value, targetIsZero, minZeroRun, progress, forceShare);
    }

    /**
     * A copy with this option changed.
     *
     * @param value the existing target reads as zeros, so zero regions are skipped ({@code --target-is-zero})
     * @return a copy with it
     */
    public ConvertOptions withTargetIsZero(boolean value) {
        return new ConvertOptions(sourceFormat, targetFormat, geometry, cacheMode, backingFile, backingFormat,
                existingTarget, value, minZeroRun, progress, forceShare);
    }

    /**
     * A copy with this option changed.
     *
     * @param bytes the shortest run of zeros to leave unwritten ({@code -S}); 0 writes every byte, so that a QED
     *              target has every cluster allocated
     * @return a copy with it
     * @throws IllegalArgumentException if {@code bytes} is negative
     */
    public ConvertOptions withMinZeroRun(long bytes) {
        if (bytes < 0) {
            throw new IllegalArgumentException("minimum zero run " + bytes + " is negative");
        }
        return new ConvertOptions(sourceFormat, targetFormat, geometry, cacheMode, backingFile, backingFormat,
                existingTarget, targetIsZero, bytes, progress, forceShare);
    }

    /**
     * A copy with this option changed.
     *
     * @param listener told of the progress ({@code -p})
     * @return a copy with it
     */
    public ConvertOptions withProgress(Progress listener) {
        return new ConvertOptions(sourceFormat, targetFormat, geometry, cacheMode, backingFile, backingFormat,
                existingTarget, targetIsZero, minZeroRun, listener, forceShare);
    }

    /** {@return whether the source is read even while another process writes it ({@code -U})} */
    public boolean forceShare() {
        return forceShare;
    }

    /**
     * A copy with this option changed.
     *
     * @param value true to read the source (and its backing files) even while another process writes it, as
     *              qemu-img's {@code -U}; see {@link io.github.qednio.image.OpenOptions#withForceShare}
     * @return a copy with it
     */
    public ConvertOptions withForceShare(boolean value) {
        return new ConvertOptions(sourceFormat, targetFormat, geometry, cacheMode, backingFile, backingFormat,
                existingTarget, targetIsZero, minZeroRun, progress, value);
    }

    /** Refuses combinations qemu-img refuses, with its reasons. */
    void validate() {
        if (targetIsZero && !existingTarget) {
            throw new IllegalArgumentException("--target-is-zero requires use of -n flag");
        }
        if (backingFile != null && targetFormat != ImageFormat.QED) {
            throw new IllegalArgumentException("a backing file (-B) needs a qed target (-O qed)");
        }
        if (backingFile != null && existingTarget) {
            throw new IllegalArgumentException("a backing file (-B) is set when the target is created; it cannot be"
                    + " combined with -n");
        }
    }
}
