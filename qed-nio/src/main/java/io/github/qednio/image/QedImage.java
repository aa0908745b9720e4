package io.github.qednio.image;

import io.github.qednio.format.Geometry;
import io.github.qednio.format.QedFormatException;
import io.github.qednio.format.QedHeader;
import io.github.qednio.internal.chain.BackingChain;
import io.github.qednio.internal.qed.QedEngine;
import io.github.qednio.internal.storage.RawImageFile;
import java.io.Closeable;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.file.AccessDeniedException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * An open QED image: a virtual disk of {@link #size()} bytes that can be read and written at any byte offset.
 *
 * <pre>{@code
 * try (QedImage img = QedImage.create(Path.of("disk.qed"), CreateOptions.ofSize(1L << 30))) {
 *     img.write(ByteBuffer.wrap("hello".getBytes()), 4096);
 * }
 * try (QedImage img = QedImage.open(Path.of("disk.qed"), OpenOptions.readOnlyDefaults())) {
 *     ByteBuffer buf = ByteBuffer.allocate(5);
 *     img.readFully(buf, 4096);
 * }
 * }</pre>
 *
 * <p>Behaviour follows QEMU's driver ({@code block/qed.c}) and the notes in {@code qed-format.md}: allocation
 * appends at the cluster-rounded end of the file (unless it can reuse clusters freed by {@link #discard},
 * {@link #compact} or a leak-reclaiming {@link #check}, which QEMU never does); an allocating write puts data before
 * the L2 update, writes a new L2 table whole and flushes it before L1 points at it, defers updates of existing L2 tables to flush, close,
 * check or eviction, and flushes data first when there is a backing file;
 * {@code QED_F_NEED_CHECK} is set durably before the first allocating write and cleared by {@link #flush()} and
 * {@link #close()}. A read-write open of an image with the bit set runs check-and-repair first. Unlike QEMU, which
 * sets the bit only for images without a backing file, this sets it for every image, so that a table write torn
 * by a crash is always repaired on the next open; the result stays readable by QEMU.
 *
 * <p>Thread safety: all methods may be called from many threads. Reads and writes to allocated clusters run in
 * parallel; allocating writes are serialised among themselves (as in QEMU) but never block reads. {@link #close()}
 * waits for the operations in progress and refuses new ones.
 *
 * <p>This class is the public face of the engine, which lives in a package of its own and is split as QEMU splits
 * its driver: table lookup ({@code qed-cluster.c}), the L1 table and L2 cache ({@code qed-table.c}), allocating
 * writes, reads and writes, header state, check and repair ({@code qed-check.c}), compaction and discard, all
 * sharing one state object as QEMU's functions share {@code BDRVQEDState}.
 */
public final class QedImage implements Closeable, BlockMapping {
    private final QedEngine engine;

    private QedImage(QedEngine engine) {
        this.engine = engine;
    }

    // ---------------------------------------------------------------------------------------------- open/create

    /**
     * Opens an existing image and its backing chain. A read-write open takes QEMU's write lock and repairs an image
     * left with {@code QED_F_NEED_CHECK} set; a read-only open takes only the shared lock and never writes.
     *
     * @param file the image file, on any file system (image locks apply on the default one)
     * @param options how to open it, not null ({@link OpenOptions#defaults()} for read-write)
     * @return the open image; the caller closes it
     * @throws java.nio.file.NoSuchFileException if the image or a backing file does not exist
     * @throws QedFormatException if the header or the backing chain is malformed or refused by the options
     * @throws ImageLockedException if another process (or another open in this JVM) holds a conflicting lock
     * @throws IOException if the file cannot be read, or the repair of a NEED_CHECK image fails
     */
    public static QedImage open(Path file, OpenOptions options) throws IOException {
        return new QedImage(BackingChain.openTop(file, options));
    }

    /**
     * Opens an image without its backing file, as {@code qemu-img info} does ({@code BDRV_O_NO_BACKING}): the backing
     * file may be missing; its name is resolved but neither checked nor opened. For the header and this image's own
     * clusters ({@link #allocatedBytes()}, {@link #header()}); guest reads through it are not meaningful.
     *
     * @param file the image file
     * @param options how to open it ({@link OpenOptions#readOnlyDefaults()} never writes a byte)
     * @return the open image; the caller closes it
     * @throws IOException if the image cannot be opened (as {@link #open})
     */
    public static QedImage openWithoutBacking(Path file, OpenOptions options) throws IOException {
        return new QedImage(BackingChain.openDetached(file, options));
    }

    /**
     * Opens an image read-write for {@link #check(Repair)}, as {@code qemu-img check -r} does (QEMU's
     * {@code BDRV_O_CHECK}): unlike {@link #open}, an image with {@code QED_F_NEED_CHECK} set is not repaired
     * while opening, so that the check reports, and its repair fixes and counts, what is really there. Everything
     * else is as a read-write {@link #open}: the bit stays set until a repair finds the image consistent (or a
     * flush clears it).
     *
     * @param file the image file
     * @param options how to open it; must be read-write
     * @return the open image; the caller closes it
     * @throws IllegalArgumentException if {@code options} is read-only
     * @throws ImageLockedException if another writer holds the image
     * @throws IOException if the image cannot be opened (as {@link #open})
     */
    public static QedImage openForCheck(Path file, OpenOptions options) throws IOException {
        if (options.readOnly()) {
            throw new IllegalArgumentException(file + ": a check-only open is read-write; the options are"
                    + " read-only");
        }
        return new QedImage(BackingChain.openTop(file, options, false));
    }

    /**
     * Creates a new image, as {@code qemu-img create -f qed} does, and opens it read-write.
     *
     * @param file the new image file; must not exist
     * @param options its size, geometry and backing file, not null
     * @return the new image, open read-write with {@link OpenOptions#defaults()}; the caller closes it
     * @throws java.nio.file.FileAlreadyExistsException if {@code file} exists (images are never overwritten)
     * @throws IllegalArgumentException if an option is out of range, naming it
     * @throws IOException if the file cannot be written or the backing chain cannot be opened (the new file is
     *         deleted then)
     */
    public static QedImage create(Path file, CreateOptions options) throws IOException {
        return create(file, options, OpenOptions.defaults());
    }

    /**
     * Creates a new image and opens it with {@code openOptions}. If the new image's backing chain cannot be opened
     * with those options (a missing file, the policy, a cycle), the new file is deleted and the error is thrown.
     * The options' {@link OpenOptions#cacheMode() cache mode} applies to the creation too: with
     * {@link CacheMode#UNSAFE} not even the new header is synced.
     *
     * @param file the new image file; must not exist
     * @param options its size, geometry and backing file, not null
     * @param openOptions how to open it afterwards, not null; opened read-write whatever their read-only flag
     * @return the new image, open read-write; the caller closes it
     * @throws java.nio.file.FileAlreadyExistsException if {@code file} exists
     * @throws IllegalArgumentException if an option is out of range, naming it
     * @throws IOException if the file cannot be written or the backing chain cannot be opened
     */
    public static QedImage create(Path file, CreateOptions options, OpenOptions openOptions) throws IOException {
        return new QedImage(BackingChain.create(file, options, openOptions));
    }

    // ------------------------------------------------------------------------------------------------- queries

    /**
     * The image file.
     *
     * @return the path it was opened with (not resolved to a real path)
     */
    public Path path() {
        return engine.path();
    }

    /**
     * Guest-visible size in bytes.
     *
     * @return the header's {@code image_size}, a multiple of 512; it changes only through {@link #resize}
     */
    @Override
    public long size() {
        return engine.size();
    }

    /**
     * The header as it is now (including {@code QED_F_NEED_CHECK} changes).
     *
     * @return an immutable snapshot, never null
     */
    public QedHeader header() {
        return engine.header();
    }

    /**
     * Cluster and table geometry, with the address arithmetic.
     *
     * @return the image's geometry, fixed for its lifetime
     */
    public Geometry geometry() {
        return engine.geometry();
    }

    /**
     * Whether the image was opened read-only.
     *
     * @return true if nothing is ever written to the file through this image
     */
    public boolean isReadOnly() {
        return engine.isReadOnly();
    }

    /**
     * Whether the image is usable.
     *
     * @return false once {@link #close()} has been called (even while it is still draining)
     */
    public boolean isOpen() {
        return engine.isOpen();
    }

    /**
     * The options this image was opened with.
     *
     * @return the options, never null
     */
    public OpenOptions options() {
        return engine.options();
    }

    /**
     * The backing file name as stored in the header.
     *
     * @return the name up to its first NUL byte (as QEMU reads it), or null without a backing file
     */
    public String backingFileName() {
        return engine.backingFileName();
    }

    /**
     * The backing file, resolved against this image's directory.
     *
     * @return its path, or null without a backing file
     */
    public Path backingFile() {
        return engine.backingFile();
    }

    /**
     * The backing file's format.
     *
     * @return the format as recorded in the header, or as probed when none is recorded; null without a backing
     *         file
     */
    public ImageFormat backingFormat() {
        return engine.backingFormat();
    }

    /**
     * Whether {@code QED_F_NEED_CHECK} is set now.
     *
     * @return true between the first allocation after a flush and the next flush (or if it was set when opened
     *         read-only or for a check)
     */
    public boolean needsCheck() {
        return engine.needsCheck();
    }

    /**
     * What the automatic check-and-repair found and fixed when this image was opened: a read-write {@link #open} of
     * an image left with {@code QED_F_NEED_CHECK} set (not closed cleanly) checks it and clears invalid table
     * entries, as QEMU does, and also logs it at INFO.
     *
     * @return the repair's result, or empty if this open did not repair (read-only, for a check, or the bit was
     *         not set)
     */
    public Optional<CheckResult> repairAtOpen() {
        return engine.repairAtOpen();
    }

    /**
     * Runs the automatic check-and-repair of a read-write {@link #open} if {@code file} needs it, and only then: if
     * it is a QED image with {@code QED_F_NEED_CHECK} set, it is opened read-write with
     * {@link OpenOptions#defaults()} (repaired) and closed (the bit cleared if it is consistent); any other file is
     * only read. For callers that report the repair before an operation that opens the image itself.
     *
     * @param file the image file
     * @return the repair's result (as {@link #repairAtOpen()}), or empty if nothing was done
     * @throws IOException if the file cannot be read, or the open or repair fails (as {@link #open})
     */
    public static Optional<CheckResult> repairIfNeeded(Path file) throws IOException {
        if (!hasNeedCheckSet(file)) {
            return Optional.empty();
        }
        try (QedImage img = open(file, OpenOptions.defaults())) {
            return img.repairAtOpen();
        }
    }

    private static boolean hasNeedCheckSet(Path file) throws IOException {
        try (RawImageFile f = RawImageFile.open(file, true)) {
            ByteBuffer h = ByteBuffer.allocate(QedHeader.HEADER_LENGTH);
            f.read(h, 0);
            return h.flip().remaining() == QedHeader.HEADER_LENGTH && QedHeader.hasMagic(h)
                    && QedHeader.decode(h, file.toString()).hasFeature(QedHeader.QED_F_NEED_CHECK);
        }
    }

    /**
     * The end of the image file rounded down to a whole cluster: where the next allocation goes when no freed
     * cluster can be reused. Table entries must point below it.
     *
     * @return the offset of the next cluster allocated at the end of the file
     */
    public long nextAllocationOffset() {
        return engine.nextAllocationOffset();
    }

    /**
     * Bytes of guest data stored in this image itself (backing files not counted).
     *
     * @return the number of data clusters its L2 tables reference, times the cluster size
     * @throws java.nio.channels.ClosedChannelException if the image is closed
     * @throws IOException if an L2 table cannot be read
     */
    public long allocatedBytes() throws IOException {
        return engine.allocatedBytes();
    }

    /**
     * {@inheritDoc} Data extents name this image by {@link #path()} as it was opened and each backing file by the
     * name its overlay stores, resolved against the overlay's path, as {@code qemu-img map} prints them.
     */
    @Override
    public List<MappedExtent> map(long offset, long length) throws IOException {
        return engine.map(offset, length);
    }

    // --------------------------------------------------------------------------------------------------- reads

    /**
     * Reads up to {@code dst.remaining()} bytes at guest offset {@code position}, stopping at the end of the disk.
     *
     * @param dst filled from its position; advanced by the bytes read
     * @param position guest offset, non-negative
     * @return bytes read, or -1 if {@code position} is at or past the end and {@code dst} has room
     * @throws IllegalArgumentException if {@code position} is negative
     * @throws java.nio.channels.ClosedChannelException if the image is closed
     * @throws IOException if the image or a backing file cannot be read
     */
    public int read(ByteBuffer dst, long position) throws IOException {
        return engine.read(dst, position);
    }

    /**
     * Reads exactly {@code dst.remaining()} bytes at guest offset {@code position}.
     *
     * @param dst filled from its position to its limit
     * @param position guest offset of the first byte
     * @throws EOFException naming the image if the range is negative or passes the virtual size (nothing is read)
     * @throws java.nio.channels.ClosedChannelException if the image is closed
     * @throws IOException if the image or a backing file cannot be read
     */
    public void readFully(ByteBuffer dst, long position) throws IOException {
        engine.readFully(dst, position);
    }

    // -------------------------------------------------------------------------------------------------- writes

    /**
     * Writes all of {@code src} at guest offset {@code position}. Allocating writes copy the rest of their clusters
     * from the backing chain (copy-on-write).
     *
     * @param src written from its position to its limit; advanced to its limit
     * @param position guest offset of the first byte
     * @return the number of bytes written: always all of {@code src}
     * @throws IOException naming the image if the range is negative or passes the end of the disk (nothing is
     *         written then), or if the write fails
     * @throws AccessDeniedException if the image is open read-only
     * @throws java.nio.channels.ClosedChannelException if the image is closed
     */
    public int write(ByteBuffer src, long position) throws IOException {
        return engine.write(src, position);
    }

    /**
     * Makes {@code [position, position + length)} read as zeros. Whole unallocated clusters become zero clusters
     * (entry 1, no data written); whole allocated clusters are zeroed in place; partial clusters are written with
     * zeros, exactly as QEMU's write-zeroes does (notes §8.5).
     *
     * @param position guest offset of the first byte
     * @param length number of bytes
     * @throws IOException naming the image if the range is negative or passes the end of the disk (nothing is
     *         written then), or if a write fails
     * @throws AccessDeniedException if the image is open read-only
     * @throws java.nio.channels.ClosedChannelException if the image is closed
     */
    public void writeZeroes(long position, long length) throws IOException {
        engine.writeZeroes(position, length);
    }

    /**
     * Discards {@code [offset, offset + length)}: afterwards the range reads as zeros. Whole clusters stop holding
     * data: their entries become unallocated, or zero clusters (entry 1) over a backing file, which would show
     * through otherwise. Partial clusters are written with zeros. The freed clusters are reused by later
     * allocations once the table updates that freed them are durable (at the next {@link #flush()}, or when an
     * allocation needs them), and freed clusters at the end of the file are cut off then; a crash never lets one
     * guest position read another's data. QEMU's qed does not implement discard (notes §8.5); images stay readable
     * and writable by QEMU.
     *
     * @param offset guest offset of the first byte
     * @param length number of bytes
     * @throws IOException naming the image if the range is negative or passes the end of the disk (nothing is
     *         changed then), or if a write fails
     * @throws AccessDeniedException if the image is open read-only
     * @throws java.nio.channels.ClosedChannelException if the image is closed
     */
    public void discard(long offset, long length) throws IOException {
        engine.discard(offset, length);
    }

    /**
     * Makes the image file as small as its content allows: clusters holding only zeros and tables with nothing
     * left to map are dropped, leaked clusters are reclaimed, and everything left is laid out without gaps after
     * the header, data clusters, L2 tables and the L1 table alike, each L2 table's data clusters as one run in
     * guest order; the file is cut after the last cluster in use. Afterwards the file is no larger than
     * {@code qemu-img convert -O qed} would make it, with no leaked and no fragmented cluster, whatever the layout
     * before (tables at the end of the file, as in-place conversion leaves them, included). Every step is
     * crash-safe: a copy is durable before its table entry (or, for the L1 table, the header) points at it, and
     * the old place is reused or cut off only once that is durable, so a crash leaves the guest data intact, at
     * worst with leaked clusters. Guest reads and writes may run meanwhile; allocating writes wait.
     *
     * @param progress told about the work done so far, not null ({@link Progress#NONE} for none): the bytes of the
     *        clusters scanned for zeros and moved, of all to scan and move
     * @return the file length afterwards, in bytes
     * @throws AccessDeniedException if the image is open read-only
     * @throws java.nio.channels.ClosedChannelException if the image is closed
     * @throws io.github.qednio.format.CorruptImageException if the tables are inconsistent (run check with
     *         repair first); nothing is changed then
     * @throws IOException if the file cannot be read or written
     */
    public long compact(Progress progress) throws IOException {
        return engine.compact(progress);
    }

    // -------------------------------------------------------------------------------------------------- flush

    /**
     * Makes all completed writes durable, data and metadata, and then, with no allocation in flight, clears
     * {@code QED_F_NEED_CHECK}. Does nothing on a read-only image. With {@link CacheMode#UNSAFE} the bit is cleared
     * the same way but nothing is synced.
     *
     * @throws java.nio.channels.ClosedChannelException if the image is closed
     * @throws IOException if the sync or the header write fails (the bit then stays set)
     */
    public void flush() throws IOException {
        engine.flush();
    }

    // ------------------------------------------------------------------------------------------ check, resize

    /**
     * Checks the image's tables as {@code qemu-img check} does (notes §11), optionally repairing. A repair clears
     * invalid entries ({@link Repair#ERRORS}) and leaked clusters ({@link Repair#LEAKS}, by a {@link #compact}, only
     * if no corruption remains), makes its writes durable, checks the file again as a
     * fresh open would read it, and clears {@code QED_F_NEED_CHECK} if that check finds no corruption. Unreadable L2
     * tables are counted as check errors, not thrown. Without a repair, clusters this image knows to be free
     * (discarded, or freed by a compaction) are not counted as leaks, although {@code qemu-img check} counts them
     * until they are reused; after a repair, every count is the file's.
     *
     * @param repair what to repair, not null; {@link Repair#NONE} only reports
     * @return the counts, as {@code qemu-img check} reports them; after a repair, those of the check of the file
     *         that followed it, with the fixed counts the difference from the check before
     * @throws AccessDeniedException if {@code repair} is not {@link Repair#NONE} and the image is open read-only
     * @throws java.nio.channels.ClosedChannelException if the image is closed
     * @throws IOException if a table cannot be written during the repair, or the L1 table cannot be read
     */
    public CheckResult check(Repair repair) throws IOException {
        return engine.check(repair);
    }

    /**
     * Grows the virtual disk, as {@code qemu-img resize} does: only {@code image_size} changes. Shrinking is
     * refused, as in QEMU.
     *
     * @param newSize the new virtual size in bytes: a multiple of 512, at least {@link #size()}, at most
     *        {@link Geometry#maxImageSize()}
     * @throws IllegalArgumentException naming the image and the allowed range if {@code newSize} is not in it
     * @throws AccessDeniedException if the image is open read-only
     * @throws java.nio.channels.ClosedChannelException if the image is closed
     * @throws IOException if the header cannot be written (size in memory and on disk then stay the old one)
     */
    public void resize(long newSize) throws IOException {
        engine.resize(newSize);
    }

    /**
     * Shrinks the virtual disk, as {@code qemu-img resize --shrink} does for formats that can: only
     * {@code image_size} changes. Refused unless nothing past the new end is held by this image itself (no data
     * cluster and no zero cluster there, including the part of a cluster that straddles the new end): QED cannot
     * drop table entries, so such bytes would reappear if the image grew again. QEMU 7.2 refuses every shrink of
     * a QED image. No writes past the new end may race the shrink.
     *
     * @param newSize the new virtual size in bytes: a multiple of 512, at most {@link #size()}
     * @throws IllegalArgumentException naming the image if {@code newSize} is not in that range
     * @throws IOException naming the image and the first offset held past the new end, if there is one (nothing is
     *         changed then), or if the header cannot be written
     * @throws AccessDeniedException if the image is open read-only
     */
    public void shrink(long newSize) throws IOException {
        engine.shrink(newSize);
    }

    /**
     * Rewrites the backing file reference in the header only, as {@code qemu-img rebase -u} does: the name goes
     * at offset 64, bits BACKING_FILE and NO_PROBE are set as described (notes §9.4), and the write is flushed.
     * The image must be reopened to read through the new backing file.
     *
     * @param name the new name as it should be stored, or null to remove the backing file
     * @param format the new backing file's format, recorded with {@code QED_F_BACKING_FORMAT_NO_PROBE} when
     *        {@link ImageFormat#RAW}; null (or QED) leaves it to be probed; ignored when {@code name} is null
     * @throws AccessDeniedException if the image is open read-only
     * @throws IOException naming the image if the name does not fit in the header, or the write fails
     */
    public void setBackingFileInHeader(String name, ImageFormat format) throws IOException {
        engine.setBackingFileInHeader(name, format);
    }

    // ------------------------------------------------------------------------------------------------- close

    /**
     * Waits for the operations in progress, flushes (clearing {@code QED_F_NEED_CHECK}) and releases the file and
     * the backing chain. Idempotent. Does nothing on a backing image shared between overlays in this JVM, which
     * its last overlay closes.
     *
     * <p>From the moment close is called, new operations fail with {@link ClosedChannelException}. Close then
     * waits, ignoring interrupts (the interrupt status is kept), until every operation already in progress has
     * finished or failed; only then does it flush and close the file, so no byte reaches the file after close
     * returns, and a clean close leaves {@code QED_F_NEED_CHECK} clear even with writes racing it. A second close
     * waits for the first. A close called from inside an operation on this image (for example from a storage
     * callback) waits for the operations of other threads only, then flushes and closes; the operation it was
     * called from fails with {@link ClosedChannelException} when it next touches the file.
     */
    @Override
    public void close() throws IOException {
        engine.close();
    }

    /**
     * Internal (tests not yet moved to the engine): {@link QedEngine#extentAt}.
     *
     * @param position guest offset
     * @return the run of clusters with one state holding it
     * @throws IOException if a table cannot be read
     */
    public io.github.qednio.internal.qed.Extent extentAt(long position) throws IOException {
        return engine.extentAt(position);
    }

    /**
     * Internal (tests not yet moved to the engine): {@link QedEngine#backing}.
     *
     * @return the backing file as the engine reads it, or null
     */
    public io.github.qednio.internal.qed.Backing backing() {
        return engine.backing();
    }

    /**
     * Internal (tests not yet moved to the engine).
     *
     * @return the shared QED backing image, or null
     */
    public QedImage backingImage() {
        QedEngine b = engine.backingImage();
        return b == null ? null : new QedImage(b);
    }

    @Override
    public String toString() {
        return engine.toString();
    }
}
