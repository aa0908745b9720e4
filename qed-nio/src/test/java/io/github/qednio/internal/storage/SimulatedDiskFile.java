package io.github.qednio.internal.storage;

/**
 * A {@link SimulatedDisk} seen from other packages' tests: its crash controls, and its bytes as a
 * {@link RawImageFile} (for code such as the in-place converter that writes raw image files).
 */
public final class SimulatedDiskFile {
    private final SimulatedDisk disk;

    /**
     * A disk holding {@code initial}, whose torn writes are cut at multiples of {@code tearGranularity}.
     *
     * @param initial the durable bytes
     * @param seed seeds the crash modes' random choices
     * @param tearGranularity 1, 8 or 512
     */
    public SimulatedDiskFile(byte[] initial, long seed, int tearGranularity) {
        this.disk = new SimulatedDisk(initial, seed, tearGranularity);
    }

    /** Names of {@link SimulatedDisk.CrashMode}s. */
    public static String[] crashModes() {
        return java.util.Arrays.stream(SimulatedDisk.CrashMode.values()).map(Enum::name).toArray(String[]::new);
    }

    /** Power loss during mutation {@code n} (1-based; each write and force is one), in crash mode {@code mode}. */
    public SimulatedDiskFile crashAt(long n, String mode) {
        disk.crashAt(n, SimulatedDisk.CrashMode.valueOf(mode));
        return this;
    }

    /** The write or force that is mutation {@code n} (counted from now on) fails; a write keeps a torn prefix. */
    public SimulatedDiskFile failAt(long n) {
        disk.failWriteAt(n);
        disk.failForceAt(n);
        return this;
    }

    /** {@return a file on this disk; closing it changes nothing} */
    public RawImageFile file(String name) {
        return new RawImageFile(disk.storage(name));
    }

    /** {@return whether the power was lost} */
    public boolean crashed() {
        return disk.crashed();
    }

    /** {@return the image a reboot after the crash finds} */
    public byte[] crashImage() {
        return disk.crashImage();
    }

    /** {@return what reads see now} */
    public byte[] currentImage() {
        return disk.currentImage();
    }

    /** {@return the writes, truncations and forces so far} */
    public long mutations() {
        return disk.mutations();
    }
}
