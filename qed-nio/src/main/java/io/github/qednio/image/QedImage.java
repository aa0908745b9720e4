package io.github.qednio.image;

import io.github.qednio.internal.chain.Backing;
import io.github.qednio.internal.chain.BackingChain;
import io.github.qednio.internal.chain.ChainMapper;
import io.github.qednio.internal.qed.AllocatingWrite;
import io.github.qednio.internal.qed.BackingReads;
import io.github.qednio.internal.qed.CheckAndRepair;
import io.github.qednio.internal.qed.ClusterAllocator;
import io.github.qednio.internal.qed.ClusterGuard;
import io.github.qednio.internal.qed.ClusterLookup;
import io.github.qednio.internal.qed.Compaction;
import io.github.qednio.internal.qed.Discard;
import io.github.qednio.internal.qed.Extent;
import io.github.qednio.internal.qed.FreeClusters;
import io.github.qednio.internal.qed.FreeSpace;
import io.github.qednio.internal.qed.HeaderState;
import io.github.qednio.internal.qed.ImageCreator;
import io.github.qednio.internal.qed.InFlightGate;
import io.github.qednio.internal.qed.L1Table;
import io.github.qednio.internal.qed.L2Cache;
import io.github.qednio.internal.qed.ReadPath;
import io.github.qednio.internal.qed.Table;
import io.github.qednio.internal.qed.TableIO;
import io.github.qednio.internal.qed.WritePath;
import io.github.qednio.internal.storage.Buffers;
import io.github.qednio.internal.storage.RawImageFile;
import io.github.qednio.internal.storage.Storage;
import io.github.qednio.format.Geometry;
import io.github.qednio.format.QedFormatException;
import io.github.qednio.format.QedHeader;
import java.io.Closeable;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import static io.github.qednio.format.QedHeader.QED_F_BACKING_FILE;
import static io.github.qednio.format.QedHeader.QED_F_BACKING_FORMAT_NO_PROBE;

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
 * check or eviction ({@link L2Cache}), and flushes data first when there is a backing file;
 * {@code QED_F_NEED_CHECK} is set durably before the first allocating write and cleared by {@link #flush()} and
 * {@link #close()}. A read-write open of an image with the bit set runs check-and-repair first. Unlike QEMU, which
 * sets the bit only for images without a backing file, this sets it for every image, so that a table write torn
 * by a crash is always repaired on the next open; the result stays readable by QEMU.
 *
 * <p>Thread safety: all methods may be called from many threads. Reads and writes to allocated clusters run in
 * parallel; allocating writes are serialised among themselves (as in QEMU) but never block reads. {@link #close()}
 * waits for the operations in progress and refuses new ones.
 *
 * <p>This class is the façade; the work is split as QEMU splits its driver: {@code ClusterLookup} (tables to
 * extents, {@code qed-cluster.c}), {@code L1Table} and the {@code L2Cache} ({@code qed-table.c}),
 * {@code AllocatingWrite} (allocation, copy-on-write, table linking), {@code ReadPath} and {@code WritePath},
 * {@code HeaderState} (header and {@code QED_F_NEED_CHECK}), {@code CheckAndRepair} and {@code ConsistencyCheck}
 * ({@code qed-check.c}), {@code ChainMapper} (the {@link BlockMapping} query) and {@code InFlightGate} (close).
 */
public final class QedImage implements Closeable, BlockMapping {
    private static final Logger LOG = LoggerFactory.getLogger(QedImage.class);

    private final Path path;
    private final Storage storage;
    private final OpenOptions options;
    private final Geometry geo;
    private final ClusterAllocator allocator;
    /** Draws from the JVM-wide (or the options') {@link CacheBudget}; holds deferred L2 entry updates. */
    private final L2Cache l2Cache;
    /** Serialises allocating writes, header updates and checks (QEMU's allocating-write queue). */
    private final ReentrantLock allocLock = new ReentrantLock(true);
    private final HeaderState header;
    private final ClusterLookup lookup;
    private final ReadPath reads;
    private final WritePath writes;
    private final CheckAndRepair checker;
    /** Keeps reads and in-place writes off clusters being freed or moved. */
    private final ClusterGuard guard = new ClusterGuard();
    private final FreeSpace space;
    private final Discard discards;
    private final Compaction compaction;
    private final Backing backing;
    private final String backingName;
    /** Operations in progress; close waits for them. */
    private final InFlightGate gate = new InFlightGate();
    /** Released once close has closed the file. */
    private final CountDownLatch closed = new CountDownLatch(1);
    /** Set when this image is a backing file shared by overlays: only the last of them closes it. */
    private volatile boolean sharedBacking;
    /** The automatic check-and-repair of this open, or null if there was none. */
    private CheckResult repairAtOpen;

    private QedImage(Path path, Storage storage, OpenOptions options, QedHeader header, Geometry geo,
                     L1Table l1, Backing backing, String backingName, long fileLength) {
        this.path = path;
        this.storage = storage;
        this.options = options;
        this.geo = geo;
        this.backing = backing;
        this.backingName = backingName;
        this.header = new HeaderState(storage, allocLock, header);
        TableIO tableIO = new TableIO(storage, geo);
        FreeClusters free = new FreeClusters();
        // Data must be durable before an entry points at it when a backing file would show through otherwise, or
        // when the cluster was reused (it holds another position's old data).
        this.l2Cache = new L2Cache(tableIO, options.cacheBudget(), options.l2CacheTables(), () -> {
            if (backing != null || free.everReused()) {
                storage.force();
            }
        });
        this.allocator = new ClusterAllocator(storage, geo, fileLength, free);
        this.lookup = new ClusterLookup(storage.name(), geo, l1, l2Cache, allocator);
        BackingReads backingReads = new BackingReads(backing, this.header);
        AllocatingWrite allocating = new AllocatingWrite(storage, geo, allocLock, this.header, lookup, l2Cache,
                tableIO, allocator, backingReads);
        this.reads = new ReadPath(storage, lookup, backingReads,
                options.copyOnRead() && !options.readOnly() ? allocating : null, guard);
        this.writes = new WritePath(storage, geo, lookup, allocating, guard, options.detectZeroes(), backing != null);
        this.checker = new CheckAndRepair(storage, geo, allocLock, this.header, lookup, l2Cache, tableIO,
                allocator, free);
        this.space = new FreeSpace(storage, allocLock, l2Cache, allocator, free, guard, geo,
                new FreeSpace.Tables() {
                    @Override
                    public Table l1() throws IOException {
                        return checker.l1();
                    }

                    @Override
                    public Table l2(long offset) throws IOException {
                        return l2Cache.get(offset);
                    }
                });
        allocator.setReclaimer(space::reclaimFreed);
        allocating.setFreeSpace(space);
        this.discards = new Discard(geo, allocLock, this.header, lookup, l2Cache, free, allocating, writes,
                backing != null);
        this.compaction = new Compaction(storage, geo, allocLock, this.header, lookup, l2Cache, tableIO,
                allocator, free, guard, space, backing != null);
        checker.setLeakClearer(() -> compaction.run(Progress.NONE));
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
        return BackingChain.openTop(file, options);
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
        return BackingChain.openDetached(file, options);
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
        return BackingChain.openTop(file, options, false);
    }

    /** Opens one image of a chain; {@code chain} describes the images above it. */
    public static QedImage open(Path file, OpenOptions options, BackingChain chain) throws IOException {
        return open(file, options, chain, true);
    }

    /**
     * Opens one image of a chain; {@code chain} describes the images above it.
     *
     * @param repairOnOpen whether a read-write open repairs an image with {@code QED_F_NEED_CHECK} set
     */
    public static QedImage open(Path file, OpenOptions options, BackingChain chain, boolean repairOnOpen)
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
                    backing = chain.openBacking(file, backingName,
                            header.hasFeature(QED_F_BACKING_FORMAT_NO_PROBE), options);
                }
            }
            L1Table l1 = new L1Table(storage, geo, header.l1TableOffset(), header.imageSize());
            QedImage img = new QedImage(file, storage, options, header, geo, l1, backing, backingName, length);
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
        } catch (java.nio.charset.CharacterCodingException e) {
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
        QedHeader h = header.current();
        if ((h.autoclearFeatures() & ~QedHeader.QED_AUTOCLEAR_FEATURE_MASK) != 0) {
            LOG.debug("{}: clearing unknown autoclear features 0x{}", storage.name(),
                    Long.toHexString(h.autoclearFeatures()));
            header.clearUnknownAutoclear();
        }
        if (repairOnOpen && header.needsCheck()) {
            CheckResult r = checker.check(Repair.ERRORS);
            repairAtOpen = r;
            LOG.info("{}: was not closed cleanly; repaired {} corruption(s), {} remain, {} leaked cluster(s)",
                    storage.name(), r.corruptionsFixed(), r.corruptions(), r.leaks());
        }
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
        return ImageCreator.create(file, options, openOptions);
    }

    // ------------------------------------------------------------------------------------------------- queries

    /**
     * The image file.
     *
     * @return the path it was opened with (not resolved to a real path)
     */
    public Path path() {
        return path;
    }

    /**
     * Guest-visible size in bytes.
     *
     * @return the header's {@code image_size}, a multiple of 512; it changes only through {@link #resize}
     */
    @Override
    public long size() {
        return header.imageSize();
    }

    /**
     * The header as it is now (including {@code QED_F_NEED_CHECK} changes).
     *
     * @return an immutable snapshot, never null
     */
    public QedHeader header() {
        return header.current();
    }

    /**
     * Cluster and table geometry, with the address arithmetic.
     *
     * @return the image's geometry, fixed for its lifetime
     */
    public Geometry geometry() {
        return geo;
    }

    /**
     * Whether the image was opened read-only.
     *
     * @return true if nothing is ever written to the file through this image
     */
    public boolean isReadOnly() {
        return options.readOnly();
    }

    /**
     * Whether the image is usable.
     *
     * @return false once {@link #close()} has been called (even while it is still draining)
     */
    public boolean isOpen() {
        return !gate.isClosing();
    }

    /**
     * The options this image was opened with.
     *
     * @return the options, never null
     */
    public OpenOptions options() {
        return options;
    }

    /**
     * The backing file name as stored in the header.
     *
     * @return the name up to its first NUL byte (as QEMU reads it), or null without a backing file
     */
    public String backingFileName() {
        return backingName;
    }

    /**
     * The backing file, resolved against this image's directory.
     *
     * @return its path, or null without a backing file
     */
    public Path backingFile() {
        return backing == null ? null : backing.path();
    }

    /**
     * The backing file's format.
     *
     * @return the format as recorded in the header, or as probed when none is recorded; null without a backing
     *         file
     */
    public ImageFormat backingFormat() {
        return backing == null ? null : backing.format();
    }

    /**
     * The backing image if the backing file is a QED image, else null. It is open read-only and may be shared
     * with other overlays in this JVM: it closes when the last overlay above it closes, and its own
     * {@link #close()} does nothing. Internal (tests): handing it out would let a caller close or query an image
     * other overlays share.
     */
    public QedImage backingImage() {
        return backing == null ? null : backing.image();
    }

    /**
     * Whether {@code QED_F_NEED_CHECK} is set now.
     *
     * @return true between the first allocation after a flush and the next flush (or if it was set when opened
     *         read-only or for a check)
     */
    public boolean needsCheck() {
        return header.needsCheck();
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
        return Optional.ofNullable(repairAtOpen);
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
     */
    public long nextAllocationOffset() {
        return allocator.nextAllocationOffset();
    }

    /**
     * Bytes of guest data stored in this image itself (backing files not counted).
     *
     * @return the number of data clusters its L2 tables reference, times the cluster size
     * @throws java.nio.channels.ClosedChannelException if the image is closed
     * @throws IOException if an L2 table cannot be read
     */
    public long allocatedBytes() throws IOException {
        List<MappedExtent> own = new ArrayList<>();
        gate.enter();
        try {
            // This image's own mapping only: the backing chain is not consulted.
            ChainMapper.map(lookup::lookup, null, null, path, 0, size(), 0, own);
        } finally {
            gate.exit();
        }
        long clusters = 0;
        for (MappedExtent e : own) {
            if (e.type() == MappedExtent.Type.DATA) {
                clusters += geo.clustersFor(geo.offsetInCluster(e.start()) + e.length());
            }
        }
        return clusters * geo.clusterSize();
    }

    /**
     * {@inheritDoc} Data extents name this image by {@link #path()} as it was opened and each backing file by the
     * name its overlay stores, resolved against the overlay's path, as {@code qemu-img map} prints them.
     */
    @Override
    public List<MappedExtent> map(long offset, long length) throws IOException {
        if (offset < 0 || length < 0) {
            throw new IllegalArgumentException("offset " + offset + " and length " + length + " must not be"
                    + " negative");
        }
        List<MappedExtent> out = new ArrayList<>();
        long end = offset + Math.min(length, Math.max(0, size() - offset));
        mapInto(path, offset, end, 0, out);
        return out;
    }

    /** Appends the mapping of {@code [start, end)} with this image at chain level {@code depth}, named {@code name}. */
    public void mapInto(Path name, long start, long end, int depth, List<MappedExtent> out) throws IOException {
        gate.enter();
        try {
            ChainMapper.map(lookup::lookup, backing, backingName, name, start, end, depth, out);
        } finally {
            gate.exit();
        }
    }

    /**
     * The run of bytes starting at {@code position} that share one allocation state in this image, never crossing
     * an L2 table's range (as {@code qemu-img map} reports at depth 0).
     */
    public Extent extentAt(long position) throws IOException {
        gate.enter();
        try {
            if (position < 0 || position >= size()) {
                throw new IllegalArgumentException("position " + position + " is not in [0, " + size() + ")");
            }
            return lookup.lookup(position, size());
        } finally {
            gate.exit();
        }
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
        gate.enter();
        try {
            return readClipped(dst, position);
        } finally {
            gate.exit();
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
            reads.read(dst, position);
        } finally {
            dst.limit(limit);
        }
        return n;
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
        gate.enter();
        try {
            if (position < 0 || position > size() - dst.remaining()) {
                throw new EOFException(path + ": read of " + dst.remaining() + " bytes at offset " + position
                        + " ends past the virtual size " + size());
            }
            readClipped(dst, position);
        } finally {
            gate.exit();
        }
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
        enterWritable();
        try {
            int n = src.remaining();
            checkRange(position, n, "write");
            writes.write(src, position);
            return n;
        } finally {
            gate.exit();
        }
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
        enterWritable();
        try {
            checkRange(position, length, "write-zeroes");
            writes.writeZeroes(position, position + length);
        } finally {
            gate.exit();
        }
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
        enterWritable();
        try {
            checkRange(offset, length, "discard");
            discards.discard(offset, offset + length);
        } finally {
            gate.exit();
        }
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
        enterWritable();
        try {
            return compaction.run(progress);
        } finally {
            gate.exit();
        }
    }

    private void checkRange(long position, long length, String what) throws IOException {
        long size = size();
        if (position < 0 || length < 0 || position > size || length > size - position) {
            throw new IOException(String.format("%s: %s of %d bytes at offset %d does not fit in the virtual disk"
                    + " of %d bytes (images never grow by writing; nothing was written)", path, what, length,
                    position, size));
        }
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
        gate.enter();
        try {
            flushNow();
        } finally {
            gate.exit();
        }
    }

    private void flushNow() throws IOException {
        if (options.readOnly()) {
            return;
        }
        allocLock.lock();
        try {
            l2Cache.writeBack();
            storage.force();
            space.afterFlush();
            header.clearNeedCheck();
        } finally {
            allocLock.unlock();
        }
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
        if (repair == Repair.NONE) {
            gate.enter();
        } else {
            enterWritable();
        }
        try {
            return checker.check(repair);
        } finally {
            gate.exit();
        }
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
        enterWritable();
        try {
            header.grow(newSize, geo.maxImageSize(), path.toString(), () -> lookup.l1Table().cover(newSize));
        } finally {
            gate.exit();
        }
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
        enterWritable();
        try {
            header.shrink(newSize, path.toString(), (start, end) -> {
                List<MappedExtent> own = new ArrayList<>();
                ChainMapper.map(lookup::lookup, null, null, path, start, end, 0, own);
                for (MappedExtent e : own) {
                    if (e.type() != MappedExtent.Type.UNALLOCATED) {
                        return e.start();
                    }
                }
                return -1;
            });
        } finally {
            gate.exit();
        }
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
        enterWritable();
        try {
            byte[] bytes = name == null ? null : name.getBytes(StandardCharsets.UTF_8);
            int length = bytes == null ? 0 : bytes.length;
            if (length > QedHeader.MAX_BACKING_FILENAME_SIZE
                    || QedHeader.HEADER_LENGTH + length > geo.headerBytes()) {
                throw new IOException(path + ": no space left in the file header for a backing file name of "
                        + length + " bytes");
            }
            header.setBackingFile(bytes, format == ImageFormat.RAW, path.toString());
        } finally {
            gate.exit();
        }
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
        if (sharedBacking) {
            return;
        }
        closeNow();
    }

    /** Marks this image as a backing file shared between overlays (see {@link SharedBackings}). */
    public void markSharedBacking() {
        sharedBacking = true;
    }

    /** Closes the image even if it is a shared backing file; called when its last overlay lets go. */
    public void closeNow() throws IOException {
        if (!gate.beginClose()) {
            // Another thread is closing. Waiting for it from inside an operation would wait for ourselves.
            if (!gate.isInsideOperation()) {
                awaitClosed();
            }
            return;
        }
        gate.awaitDrained();
        try {
            flushNow();
        } finally {
            try {
                l2Cache.release();
                storage.close();
            } finally {
                try {
                    if (backing != null) {
                        backing.close();
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
        gate.enter();
        if (options.readOnly()) {
            gate.exit();
            throw new AccessDeniedException(path.toString(), null, "the image is open read-only");
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

    /** The backing file as this image holds it (a shared handle, or a detached one), or null. */
    public Backing backing() {
        return backing;
    }

    @Override
    public String toString() {
        return "QedImage[" + path + ", " + geo + ", size=" + size() + (backingName == null ? ""
                : ", backing=" + backingName) + (options.readOnly() ? ", read-only" : "") + "]";
    }
}
