package io.github.qednio.convert;

/** Told how far an in-place conversion has got, in bytes of new metadata written. */
@FunctionalInterface
public interface ConversionProgress {
    /** Ignores progress. */
    ConversionProgress NONE = (done, total) -> { };

    /**
     * Called after each metadata write, and once with {@code done == total} when the new header is durable.
     *
     * @param done  bytes written so far
     * @param total bytes to write in all
     */
    void progress(long done, long total);
}
