package io.github.qednio.image;

/**
 * Told how far a long operation (convert, commit, rebase, compact, pack, in-place conversion) has gone, e.g. to draw
 * a progress bar. Called from the thread doing the work, with {@code done} never decreasing and a last call with
 * {@code done == total}.
 */
@FunctionalInterface
public interface Progress {
    /** A listener that ignores every update. */
    Progress NONE = (done, total) -> { };

    /**
     * Reports progress.
     *
     * @param done  the bytes processed so far (guest bytes; for an in-place conversion, bytes of new metadata)
     * @param total the bytes the operation processes in all
     */
    void update(long done, long total);
}
