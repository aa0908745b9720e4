package io.github.qednio.internal.qed;

import java.nio.channels.ClosedChannelException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Counts the operations in progress on an image so that close can wait for them: every public operation enters
 * before it touches the image and exits when it has finished or failed; once closing has begun, entering fails
 * with {@link ClosedChannelException}. The fast path is one compare-and-set on entry and one decrement on exit.
 *
 * <p>A thread that closes the image from inside one of its own operations (for example from a storage callback)
 * does not wait for itself: it waits only for the operations of other threads.
 */
public final class InFlightGate {
    /** Set in {@link #state} once closing has begun; the low bits count the operations in progress. */
    private static final int CLOSING = 1 << 30;

    private final AtomicInteger state = new AtomicInteger();
    /** Operations of the current thread in progress on this image (nested operations count each). */
    private final ThreadLocal<int[]> depth = ThreadLocal.withInitial(() -> new int[1]);
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();

    /** Enters an operation; every successful call must be paired with {@link #exit()} in a finally block. */
    public void enter() throws ClosedChannelException {
        int s;
        do {
            s = state.get();
            if ((s & CLOSING) != 0) {
                throw new ClosedChannelException();
            }
        } while (!state.compareAndSet(s, s + 1));
        depth.get()[0]++;
    }

    public void exit() {
        depth.get()[0]--;
        if ((state.decrementAndGet() & CLOSING) != 0) {
            lock.lock();
            try {
                changed.signalAll();
            } finally {
                lock.unlock();
            }
        }
    }

    /** Whether closing has begun. */
    public boolean isClosing() {
        return (state.get() & CLOSING) != 0;
    }

    /** Whether the current thread is inside an operation on this image. */
    public boolean isInsideOperation() {
        return depth.get()[0] > 0;
    }

    /** Refuses new operations from now on; returns false if closing had already begun. */
    public boolean beginClose() {
        return (state.getAndUpdate(s -> s | CLOSING) & CLOSING) == 0;
    }

    /**
     * Waits, ignoring interrupts (the interrupt status is kept), until no operation of another thread is in
     * progress. Call after {@link #beginClose()}.
     */
    public void awaitDrained() {
        int own = depth.get()[0];
        lock.lock();
        try {
            while ((state.get() & ~CLOSING) > own) {
                changed.awaitUninterruptibly();
            }
        } finally {
            lock.unlock();
        }
    }
}
