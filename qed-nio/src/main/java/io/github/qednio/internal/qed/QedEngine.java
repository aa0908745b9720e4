package io.github.qednio.internal.qed;

import io.github.qednio.format.Geometry;
import io.github.qednio.format.QedFormatException;
import io.github.qednio.format.QedHeader;
import io.github.qednio.image.CheckResult;
import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.MappedExtent;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.Progress;
import io.github.qednio.image.Repair;
import io.github.qednio.internal.storage.Buffers;
import io.github.qednio.internal.storage.Storage;
import java.io.Closeable;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import static io.github.qednio.format.QedHeader.QED_F_BACKING_FILE;
import static io.github.qednio.format.QedHeader.QED_F_BACKING_FORMAT_NO_PROBE;

/**
 * One open QED image: opens it ({@link #open}), and runs every operation on it inside the {@link InFlightGate}
 * with the range and read-only checks, handing the work to the parts of its {@link QedState}. The public
 * {@code io.github.qednio.image.QedImage} is a façade over this; the backing chain opens QED backing files as
 * engines directly. The contracts (errors, durability, concurrency) are those documented on the façade.
 */
public final class QedEngine implements Closeable {
    /** The façade's name: its users (and tests of the CLI's output) know the open-time repair by it. */
    private static final Logger LOG = LoggerFactory.getLogger("io.github.qednio.image.QedImage");

    private final QedState st;
    /** Released once close has closed the file. */
    private final CountDownLatch closed = new CountDownLatch(1);
    /** Set when this image is a backing file shared by overlays: only the last of them closes it. */
    private volatile boolean sharedBacking;
    /** The automatic check-and-repair of this open, or null if there was none. */
    private CheckResult repairAtOpen;

    private QedEngine(QedState st) {
        this.st = st;
    }

    /** Opens the backing file an image's header names; the backing chain (above this package) provides it. */
    @FunctionalInterface
    public interface BackingOpener {
        /**
         * @param image   the image whose header names the backing file
         * @param name    the name as stored (never empty)
         * @param noProbe whether {@code QED_F_BACKING_FORMAT_NO_PROBE} is set (the file is raw)
         */
        Backing open(Path image, String name, boolean noProbe) throws IOException;
    }

    // ---------------------------------------------------------------------------------------------------- open

    /**
     * Opens {@code file}, its backing file through {@code backings}.
     *
     * @param repairOnOpen whether a read-write open repairs an image with {@code QED_F_NEED_CHECK} set (false for
     *        a check-only open, QEMU's {@code BDRV_O_CHECK})
     */
    public static QedEngine open(Path file, OpenOptions options, BackingOpener backings, boolean repairOnOpen)
            throws IOException {
        Storage storage = options.openStorage(file, options.readOnly());
        Backing backing = null;
        try {
            String name = storage.name();
            long length = storage.size();
            ByteBuffer hb = ByteBuffer.allocate(QedHeader.HEADER_LENGTH);
            Buffers.fill(storage::read, hb, 0); // a file shorter than the header: decode refuses it with its length
            QedHeader header = QedHeader.decode(hb.flip(), name);
            Geometry geo = header.validate(length, name);
            if (geo.tableBytes() > options.maxTableBytes()) {
                throw new QedFormatException("table_size", String.format(
                        "%s: tables of %d bytes (table_size %d x cluster_size %d) exceed the limit of %d bytes",
                        name, geo.tableBytes(), geo.tableSize(), geo.clusterSize(), options.maxTableBytes()),
                        "OpenOptions.withMaxTableBytes");
            }
            String backingName = null;
            if (header.hasFeature(QED_F_BACKING_FILE)) {
                backingName = readBackingName(storage, header, name);
                if (backingName.isEmpty()) {
                    backingName = null; // as in QEMU, an empty name means no backing file
                } else {
                    backing = backings.open(file, backingName, header.hasFeature(QED_F_BACKING_FORMAT_NO_PROBE));
                }
            }
            L1Table l1 = new L1Table(storage, geo, header.l1TableOffset(), header.imageSize());
            QedEngine img = new QedEngine(new QedState(file, storage, options, header, geo, l1, backing,
                    backingName, length));
            if (!options.readOnly()) {
                img.prepareForWriting(repairOnOpen);
            }
            return img;
        } catch (IOException | RuntimeException | Error e) {
            closeQuietly(backing, e);
            closeQuietly(storage, e);
            throw e;
        }
    }

    private static String readBackingName(Storage storage, QedHeader header, String name) throws IOException {
        ByteBuffer nb = ByteBuffer.allocate((int) header.backingFilenameSize());
        storage.readFully(nb, header.backingFilenameOffset());
        // QEMU reads the name as a C string: it ends at the first NUL byte, if any.
        nb.flip();
        for (int i = 0; i < nb.limit(); i++) {
            if (nb.get(i) == 0) {
                nb.limit(i);
                break;
            }
        }
        try {
            return StandardCharsets.UTF_8.newDecoder().decode(nb).toString();
        } catch (CharacterCodingException e) {
            throw new QedFormatException("backing_filename", name + ": backing file name at offset "
                    + header.backingFilenameOffset() + " (" + header.backingFilenameSize()
                    + " bytes) is not valid UTF-8");
        }
    }

    /**
     * Read-write open: clear unknown autoclear bits, then repair if a previous writer did not close cleanly (unless
     * this is a check-only open, as QEMU's {@code BDRV_O_CHECK}).
     */
    private void prepareForWriting(boolean repairOnOpen) throws IOException {
        QedHeader h = st.header.current();
        if ((h.autoclearFeatures() & ~QedHeader.QED_AUTOCLEAR_FEATURE_MASK) != 0) {
            LOG.debug("{}: clearing unknown autoclear features 0x{}", st.storage.name(),
                    Long.toHexString(h.autoclearFeatures()));
            st.header.clearUnknownAutoclear();
        }
        if (repairOnOpen && st.header.needsCheck()) {
            CheckResult r = st.checker.check(Repair.ERRORS);
            repairAtOpen = r;
            LOG.info("{}: was not closed cleanly; repaired {} corruption(s), {} remain, {} leaked cluster(s)",
                    st.storage.name(), r.corruptionsFixed(), r.corruptions(), r.leaks());
        }
    }

    // ------------------------------------------------------------------------------------------------- queries

    public Path path() {
        return st.path;
    }

    public long size() {
        return st.header.imageSize();
    }

    public QedHeader header() {
        return st.header.current();
    }

    public Geometry geometry() {
        return st.geo;
    }

    public boolean isReadOnly() {
        return st.options.readOnly();
    }

    public boolean isOpen() {
        return !st.gate.isClosing();
    }

    public OpenOptions options() {
        return st.options;
    }

    public String backingFileName() {
        return st.backingName;
    }

    public Path backingFile() {
        return st.backing == null ? null : st.backing.path();
    }

    public ImageFormat backingFormat() {
        return st.backing == null ? null : st.backing.format();
    }

    /** The backing file as this image holds it (a shared handle, or a detached one), or null. */
    public Backing backing() {
        return st.backing;
    }

    /**
     * The backing image if the backing file is a QED image, else null. Open read-only and possibly shared with
     * other overlays in this JVM: it closes when the last overlay above it closes, and its own close does nothing.
     */
    public QedEngine backingImage() {
        return st.backing == null ? null : st.backing.image();
    }

    public boolean needsCheck() {
        return st.header.needsCheck();
    }

    public Optional<CheckResult> repairAtOpen() {
        return Optional.ofNullable(repairAtOpen);
    }

    /**
     * The end of the image file rounded down to a whole cluster: where the next allocation goes when no freed
     * cluster can be reused. Table entries must point below it.
     */
    public long nextAllocationOffset() {
        return st.allocator.nextAllocationOffset();
    }

    /** Bytes of guest data stored in this image itself (backing files not counted). */
    public long allocatedBytes() throws IOException {
        List<MappedExtent> own = new ArrayList<>();
        st.gate.enter();
        try {
            // This image's own mapping only: the backing chain is not consulted.
            ChainMapper.map(st.lookup::lookup, null, null, st.path, 0, size(), 0, own);
        } finally {
            st.gate.exit();
        }
        long clusters = 0;
        for (MappedExtent e : own) {
            if (e.type() == MappedExtent.Type.DATA) {
                clusters += st.geo.clustersFor(st.geo.offsetInCluster(e.start()) + e.length());
            }
        }
        return clusters * st.geo.clusterSize();
    }

    /** The mapping of {@code [offset, offset + length)}, clipped at the virtual size, through the chain. */
    public List<MappedExtent> map(long offset, long length) throws IOException {
        if (offset < 0 || length < 0) {
            throw new IllegalArgumentException("offset " + offset + " and length " + length + " must not be"
                    + " negative");
        }
        List<MappedExtent> out = new ArrayList<>();
        long end = offset + Math.min(length, Math.max(0, size() - offset));
        mapInto(st.path, offset, end, 0, out);
        return out;
    }

    /** Appends the mapping of {@code [start, end)} with this image at chain level {@code depth}, named {@code name}. */
    public void mapInto(Path name, long start, long end, int depth, List<MappedExtent> out) throws IOException {
        st.gate.enter();
        try {
            ChainMapper.map(st.lookup::lookup, st.backing, st.backingName, name, start, end, depth, out);
        } finally {
            st.gate.exit();
        }
    }

    /**
     * The run of bytes starting at {@code position} that share one allocation state in this image, never crossing
     * an L2 table's range (as {@code qemu-img map} reports at depth 0).
     */
    public Extent extentAt(long position) throws IOException {
        st.gate.enter();
        try {
            if (position < 0 || position >= size()) {
                throw new IllegalArgumentException("position " + position + " is not in [0, " + size() + ")");
            }
            return st.lookup.lookup(position, size());
        } finally {
            st.gate.exit();
        }
    }

    // ------------------------------------------------------------------------------------------ reads, writes

    public int read(ByteBuffer dst, long position) throws IOException {
        st.gate.enter();
        try {
            return readClipped(dst, position);
        } finally {
            st.gate.exit();
        }
    }

    private int readClipped(ByteBuffer dst, long position) throws IOException {
        if (position < 0) {
            throw new IllegalArgumentException("position " + position + " is negative");
        }
        if (!dst.hasRemaining()) {
            return 0;
        }
        long size = size();
        if (position >= size) {
            return -1;
        }
        int n = (int) Math.min(dst.remaining(), size - position);
        int limit = dst.limit();
        dst.limit(dst.position() + n);
        try {
            st.reads.read(dst, position);
        } finally {
            dst.limit(limit);
        }
        return n;
    }

    public void readFully(ByteBuffer dst, long position) throws IOException {
        st.gate.enter();
        try {
            if (position < 0 || position > size() - dst.remaining()) {
                throw new EOFException(st.path + ": read of " + dst.remaining() + " bytes at offset " + position
                        + " ends past the virtual size " + size());
            }
            readClipped(dst, position);
        } finally {
            st.gate.exit();
        }
    }

    public int write(ByteBuffer src, long position) throws IOException {
        enterWritable();
        try {
            int n = src.remaining();
            checkRange(position, n, "write");
            st.writes.write(src, position);
            return n;
        } finally {
            st.gate.exit();
        }
    }

    public void writeZeroes(long position, long length) throws IOException {
        enterWritable();
        try {
            checkRange(position, length, "write-zeroes");
            st.writes.writeZeroes(position, position + length);
        } finally {
            st.gate.exit();
        }
    }

    public void discard(long offset, long length) throws IOException {
        enterWritable();
        try {
            checkRange(offset, length, "discard");
            st.discards.discard(offset, offset + length);
        } finally {
            st.gate.exit();
        }
    }

    public long compact(Progress progress) throws IOException {
        enterWritable();
        try {
            return st.compaction.run(progress);
        } finally {
            st.gate.exit();
        }
    }

    private void checkRange(long position, long length, String what) throws IOException {
        long size = size();
        if (position < 0 || length < 0 || position > size || length > size - position) {
            throw new IOException(String.format("%s: %s of %d bytes at offset %d does not fit in the virtual disk"
                    + " of %d bytes (images never grow by writing; nothing was written)", st.path, what, length,
                    position, size));
        }
    }

    // ------------------------------------------------------------------------------- flush, check, resize

    public void flush() throws IOException {
        st.gate.enter();
        try {
            flushNow();
        } finally {
            st.gate.exit();
        }
    }

    private void flushNow() throws IOException {
        if (st.options.readOnly()) {
            return;
        }
        st.lock.lock();
        try {
            st.l2Cache.writeBack();
            st.storage.force();
            st.space.afterFlush();
            st.header.clearNeedCheck();
        } finally {
            st.lock.unlock();
        }
    }

    public CheckResult check(Repair repair) throws IOException {
        if (repair == Repair.NONE) {
            st.gate.enter();
        } else {
            enterWritable();
        }
        try {
            return st.checker.check(repair);
        } finally {
            st.gate.exit();
        }
    }

    public void resize(long newSize) throws IOException {
        enterWritable();
        try {
            st.header.grow(newSize, st.geo.maxImageSize(), st.path.toString(),
                    () -> st.lookup.l1Table().cover(newSize));
        } finally {
            st.gate.exit();
        }
    }

    public void shrink(long newSize) throws IOException {
        enterWritable();
        try {
            st.header.shrink(newSize, st.path.toString(), (start, end) -> {
                List<MappedExtent> own = new ArrayList<>();
                ChainMapper.map(st.lookup::lookup, null, null, st.path, start, end, 0, own);
                for (MappedExtent e : own) {
                    if (e.type() != MappedExtent.Type.UNALLOCATED) {
                        return e.start();
                    }
                }
                return -1;
            });
        } finally {
            st.gate.exit();
        }
    }

    public void setBackingFileInHeader(String name, ImageFormat format) throws IOException {
        enterWritable();
        try {
            byte[] bytes = name == null ? null : name.getBytes(StandardCharsets.UTF_8);
            int length = bytes == null ? 0 : bytes.length;
            if (length > QedHeader.MAX_BACKING_FILENAME_SIZE
                    || QedHeader.HEADER_LENGTH + length > st.geo.headerBytes()) {
                throw new IOException(st.path + ": no space left in the file header for a backing file name of "
                        + length + " bytes");
            }
            st.header.setBackingFile(bytes, format == ImageFormat.RAW, st.path.toString());
        } finally {
            st.gate.exit();
        }
    }

    // ------------------------------------------------------------------------------------------------- close

    /** Closes, unless this is a backing file shared between overlays (which its last overlay closes). */
    @Override
    public void close() throws IOException {
        if (sharedBacking) {
            return;
        }
        closeNow();
    }

    /** Marks this image as a backing file shared between overlays: only {@link #closeNow()} closes it then. */
    public void markSharedBacking() {
        sharedBacking = true;
    }

    /** Closes the image even if it is a shared backing file; called when its last overlay lets go. */
    public void closeNow() throws IOException {
        if (!st.gate.beginClose()) {
            // Another thread is closing. Waiting for it from inside an operation would wait for ourselves.
            if (!st.gate.isInsideOperation()) {
                awaitClosed();
            }
            return;
        }
        st.gate.awaitDrained();
        try {
            flushNow();
        } finally {
            try {
                st.l2Cache.release();
                st.storage.close();
            } finally {
                try {
                    if (st.backing != null) {
                        st.backing.close();
                    }
                } finally {
                    closed.countDown();
                }
            }
        }
    }

    private void awaitClosed() {
        boolean interrupted = false;
        while (true) {
            try {
                closed.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** Enters an operation that writes: fails if the image is closed or read-only. */
    private void enterWritable() throws IOException {
        st.gate.enter();
        if (st.options.readOnly()) {
            st.gate.exit();
            throw new AccessDeniedException(st.path.toString(), null, "the image is open read-only");
        }
    }

    private static void closeQuietly(Closeable c, Throwable cause) {
        if (c == null) {
            return;
        }
        try {
            c.close();
        } catch (IOException | RuntimeException e) {
            cause.addSuppressed(e);
        }
    }

    @Override
    public String toString() {
        return "QedImage[" + st.path + ", " + st.geo + ", size=" + size() + (st.backingName == null ? ""
                : ", backing=" + st.backingName) + (st.options.readOnly() ? ", read-only" : "") + "]";
    }
}
