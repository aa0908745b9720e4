package io.github.qednio.engine;

/** Told how far {@link QedImage#compact(CompactionProgress)} has got. */
@FunctionalInterface
public interface CompactionProgress {
    /**
     * Called after each step of the compaction, from the thread running it.
     *
     * @param done clusters processed so far (scanned for zeros, or moved)
     * @param total clusters to process in all; may grow once when the moves are planned
     */
    void progress(long done, long total);
}
