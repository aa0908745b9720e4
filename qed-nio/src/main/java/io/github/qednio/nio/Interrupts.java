package io.github.qednio.nio;

/**
 * Tells whether the current thread is running a channel close on behalf of {@link Thread#interrupt}: the JDK's
 * {@code AbstractInterruptibleChannel} closes a channel from inside {@code interrupt()}, in the interrupting
 * thread, which must then not be made to wait for the image's flush and fsync.
 */
final class Interrupts {
    private static final StackWalker WALKER = StackWalker.getInstance();

    private Interrupts() {
    }

    /** True if {@code Thread.interrupt()} (or a virtual thread's, from Java 21) is on the current thread's stack. */
    static boolean inInterrupt() {
        return WALKER.walk(frames -> frames.anyMatch(f -> f.getMethodName().equals("interrupt")
                && (f.getClassName().equals("java.lang.Thread")
                || f.getClassName().equals("java.lang.VirtualThread"))));
    }
}
