package io.github.qednio.engine;

import io.github.qednio.format.CorruptImageException;
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
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import static io.github.qednio.format.Geometry.ENTRY_UNALLOCATED;
import static io.github.qednio.format.Geometry.ENTRY_ZERO;
import static io.github.qednio.format.QedHeader.QED_F_BACKING_FILE;
import static io.github.qednio.format.QedHeader.QED_F_BACKING_FORMAT_NO_PROBE;
import static io.github.qednio.format.QedHeader.QED_F_NEED_CHECK;

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
 * appends at the cluster-rounded end of the file; an allocating write puts data before the L2 update, writes a new
 * L2 table whole and flushes it before L1 points at it, defers updates of existing L2 tables to flush, close,
 * check or eviction ({@link L2Cache}), and flushes data first when there is a backing file;
 * {@code QED_F_NEED_CHECK} is set durably before the first allocating write and cleared by {@link #flush()} and
 * {@link #close()}. A read-write open of an image with the bit set runs check-and-repair first. Unlike QEMU, which
 * sets the bit only for images without a backing file, this sets it for every image, so that a table write torn
 * by a crash is always repaired on the next open; the result stays readable by QEMU.
 *
 * <p>Thread safety: all methods may be called from many threads. Reads and writes to allocated clusters run in
 * parallel; allocating writes are serialised among themselves (as in QEMU) but never block reads.
 */
public final class QedImage implements Closeable {
    private static final Logger LOG = LoggerFactory.getLogger(QedImage.class);
    /** The last byte of a new cluster whose tail is left as a hole. */
    private static final ByteBuffer ZERO_BYTE = ByteBuffer.allocateDirect(1).asReadOnlyBuffer();

    private final Path path;
    private final Storage storage;
    private final OpenOptions options;
    private final Geometry geo;
    private final TableIO tableIO;
    private final Table l1;
    private final L2Cache l2Cache;
    private final ClusterAllocator allocator;
    /** Serialises allocating writes, header updates and checks (QEMU's allocating-write queue). */
    private final ReentrantLock allocLock = new ReentrantLock(true);
    private final Backing backing;
    private final String backingName;
    private volatile QedHeader header;
    private volatile boolean closed;
    /** Set when this image is a backing file shared by overlays: only the last of them closes it. */
    private volatile boolean sharedBacking;
    /** Scratch cluster for copy-on-write fills; guarded by {@link #allocLock}. */
    private ByteBuffer scratch;

    private QedImage(Path path, Storage storage, OpenOptions options, QedHeader header, Geometry geo,
                     Table l1, Backing backing, String backingName, long fileLength) {
        this.path = path;
        this.storage = storage;
        this.options = options;
        this.header = header;
        this.geo = geo;
        this.tableIO = new TableIO(storage, geo);
        this.l1 = l1;
        this.l2Cache = new L2Cache(tableIO, options.cacheBudget(), options.l2CacheTables(),
                backing != null ? storage::force : L2Cache.NO_BARRIER);
        this.allocator = new ClusterAllocator(storage, geo, fileLength);
        this.backing = backing;
        this.backingName = backingName;
    }

    // ---------------------------------------------------------------------------------------------- open/create

    /**
     * Opens an existing image.
     *
     * @throws java.nio.file.NoSuchFileException if the image or a backing file does not exist
     * @throws QedFormatException if the header or the backing chain is malformed or refused by the options
     */
    public static QedImage open(Path file, OpenOptions options) throws IOException {
        return BackingChain.openTop(file, options);
    }

    /** Opens one image of a chain; {@code chain} describes the images above it. */
    static QedImage open(Path file, OpenOptions options, BackingChain chain) throws IOException {
        Storage storage = options.storageFactory().open(file, options.readOnly());
        Backing backing = null;
        try {
            String name = storage.name();
            long length = storage.size();
            ByteBuffer hb = ByteBuffer.allocate(QedHeader.HEADER_LENGTH);
            while (hb.hasRemaining() && storage.read(hb, hb.position()) >= 0) {
                // keep reading until full or EOF
            }
            QedHeader header = QedHeader.decode(hb.flip(), name);
            Geometry geo = header.validate(length, name);
            if (geo.tableBytes() > options.maxTableBytes()) {
                throw new QedFormatException("table_size", String.format(
                        "%s: tables of %d bytes (table_size %d x cluster_size %d) exceed the limit of %d bytes"
                                + " (OpenOptions.withMaxTableBytes)", name, geo.tableBytes(), geo.tableSize(),
                        geo.clusterSize(), options.maxTableBytes()));
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
            Table l1 = new TableIO(storage, geo).read(header.l1TableOffset());
            QedImage img = new QedImage(file, storage, options, header, geo, l1, backing, backingName, length);
            if (!options.readOnly()) {
                img.prepareForWriting();
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

    /** Read-write open: clear unknown autoclear bits, then repair if a previous writer did not close cleanly. */
    private void prepareForWriting() throws IOException {
        QedHeader h = header;
        if ((h.autoclearFeatures() & ~QedHeader.QED_AUTOCLEAR_FEATURE_MASK) != 0) {
            LOG.debug("{}: clearing unknown autoclear features 0x{}", storage.name(),
                    Long.toHexString(h.autoclearFeatures()));
            header = h.withAutoclearFeatures(h.autoclearFeatures() & QedHeader.QED_AUTOCLEAR_FEATURE_MASK);
            writeHeader();
            storage.force();
        }
        if (header.hasFeature(QED_F_NEED_CHECK)) {
            CheckResult r = check(Repair.ERRORS);
            LOG.info("{}: was not closed cleanly; repaired {} corruption(s), {} remain, {} leaked cluster(s)",
                    storage.name(), r.corruptionsFixed(), r.corruptions(), r.leaks());
        }
    }

    /**
     * Creates a new image, as {@code qemu-img create -f qed} does, and opens it read-write.
     *
     * @throws java.nio.file.FileAlreadyExistsException if {@code file} exists (images are never overwritten)
     * @throws IllegalArgumentException if an option is out of range, naming it
     */
    public static QedImage create(Path file, CreateOptions options) throws IOException {
        return create(file, options, OpenOptions.defaults());
    }

    /**
     * Creates a new image and opens it with {@code openOptions} (which must not be read-only). If the new image's
     * backing chain cannot be opened with those options (a missing file, the policy, a cycle), the new file is
     * deleted and the error is thrown.
     */
    public static QedImage create(Path file, CreateOptions options, OpenOptions openOptions) throws IOException {
        return ImageCreator.create(file, options, openOptions);
    }

    // ------------------------------------------------------------------------------------------------- queries

    /** The image file. */
    public Path path() {
        return path;
    }

    /** Guest-visible size in bytes. */
    public long size() {
        return header.imageSize();
    }

    /** The header as it is now (including {@code QED_F_NEED_CHECK} changes). */
    public QedHeader header() {
        return header;
    }

    /** Cluster and table geometry, with the address arithmetic. */
    public Geometry geometry() {
        return geo;
    }

    /** Whether the image was opened read-only (nothing is ever written then). */
    public boolean isReadOnly() {
        return options.readOnly();
    }

    /** False once {@link #close()} has been called. */
    public boolean isOpen() {
        return !closed;
    }

    /** The options this image was opened with. */
    public OpenOptions options() {
        return options;
    }

    /** The backing file name as stored in the header (up to a NUL byte, as QEMU reads it), or null. */
    public String backingFileName() {
        return backingName;
    }

    /** The resolved backing file, or null. */
    public Path backingFile() {
        return backing == null ? null : backing.path();
    }

    /** The backing file's format (as recorded, or as probed), or null without a backing file. */
    public BackingFormat backingFormat() {
        return backing == null ? null : backing.format();
    }

    /**
     * The backing image if the backing file is a QED image, else null. It is open read-only and may be shared
     * with other overlays in this JVM: it closes when the last overlay above it closes, and its own
     * {@link #close()} does nothing.
     */
    public QedImage backingImage() {
        return backing == null ? null : backing.image();
    }

    /** Whether {@code QED_F_NEED_CHECK} is set now. */
    public boolean needsCheck() {
        return header.hasFeature(QED_F_NEED_CHECK);
    }

    /** The cluster-rounded end of the image file, where the next cluster will be allocated. */
    public long fileSize() {
        return allocator.fileSize();
    }

    /** Bytes of guest data stored in this image: data clusters referenced by L2 tables times the cluster size. */
    public long allocatedBytes() throws IOException {
        ensureOpen();
        long clusters = 0;
        for (long pos = 0; pos < size(); ) {
            Extent e = extentAt(pos);
            if (e.kind() == Extent.Kind.DATA) {
                clusters += geo.clustersFor(geo.offsetInCluster(e.start()) + e.length());
            }
            pos = e.end();
        }
        return clusters * geo.clusterSize();
    }

    /**
     * The run of bytes starting at {@code position} that share one allocation state in this image, never crossing
     * an L2 table's range (as {@code qemu-img map} reports at depth 0).
     */
    public Extent extentAt(long position) throws IOException {
        ensureOpen();
        if (position < 0 || position >= size()) {
            throw new IllegalArgumentException("position " + position + " is not in [0, " + size() + ")");
        }
        return lookup(position, size());
    }

    // --------------------------------------------------------------------------------------------------- reads

    /**
     * Reads up to {@code dst.remaining()} bytes at guest offset {@code position}, stopping at the end of the disk.
     *
     * @return bytes read, or -1 if {@code position} is at or past the end and {@code dst} has room
     */
    public int read(ByteBuffer dst, long position) throws IOException {
        ensureOpen();
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
            readRange(dst, position);
        } finally {
            dst.limit(limit);
        }
        return n;
    }

    /** Reads exactly {@code dst.remaining()} bytes at {@code position}; EOFException if that passes the end. */
    public void readFully(ByteBuffer dst, long position) throws IOException {
        if (position < 0 || position > size() - dst.remaining()) {
            throw new EOFException(path + ": read of " + dst.remaining() + " bytes at offset " + position
                    + " ends past the virtual size " + size());
        }
        read(dst, position);
    }

    /** Fills {@code buf} (position to limit) with guest bytes from {@code pos}; the range is inside the disk. */
    private void readRange(ByteBuffer buf, long pos) throws IOException {
        int limit = buf.limit();
        while (buf.position() < limit) {
            Extent run = lookup(pos, pos + (limit - buf.position()));
            int len = (int) run.length();
            buf.limit(buf.position() + len);
            switch (run.kind()) {
                case DATA -> storage.readFully(buf, run.hostOffset());
                case ZERO -> Buffers.putZeros(buf, len);
                case UNALLOCATED -> {
                    if (backing == null) {
                        Buffers.putZeros(buf, len);
                    } else {
                        readBacking(buf, pos);
                        if (options.copyOnRead() && !options.readOnly()) {
                            copyOnRead(pos, len);
                        }
                    }
                }
            }
            buf.limit(limit);
            pos += len;
        }
    }

    /** Reads the backing chain, cut at this image's size (bytes past it are zeros). */
    private void readBacking(ByteBuffer dst, long pos) throws IOException {
        if (backing == null) {
            Buffers.putZeros(dst, dst.remaining());
            return;
        }
        int n = dst.remaining();
        int inside = (int) Math.max(0, Math.min(n, size() - pos));
        int limit = dst.limit();
        dst.limit(dst.position() + inside);
        backing.read(dst, pos);
        dst.limit(limit);
        Buffers.putZeros(dst, n - inside);
    }

    /**
     * Finds the run starting at {@code pos} (ending no later than {@code end}, never crossing an L2 table's range)
     * whose clusters share one state: all unallocated, all zero, or allocated and contiguous in the file.
     */
    private Extent lookup(long pos, long end) throws IOException {
        long span = geo.bytesPerL2();
        long tableEnd = pos - pos % span + span;
        long chunkEnd = tableEnd < 0 ? end : Math.min(end, tableEnd);
        int l1i = geo.l1Index(pos);
        long l1e = l1.get(l1i);
        if (l1e == ENTRY_UNALLOCATED) {
            return new Extent(pos, chunkEnd - pos, Extent.Kind.UNALLOCATED, -1);
        }
        Table l2 = l2Table(l1i, l1e);
        int idx = geo.l2Index(pos);
        long first = l2.get(idx);
        int cs = geo.clusterSize();
        long runEnd = geo.roundDownToCluster(pos) + cs;
        int k = 1;
        if (first == ENTRY_UNALLOCATED || first == ENTRY_ZERO) {
            while (runEnd < chunkEnd && l2.get(idx + k) == first) {
                runEnd += cs;
                k++;
            }
            return new Extent(pos, Math.min(runEnd, chunkEnd) - pos,
                    first == ENTRY_ZERO ? Extent.Kind.ZERO : Extent.Kind.UNALLOCATED, -1);
        }
        long fileSize = allocator.fileSize();
        if (!geo.isValidClusterOffset(first, fileSize)) {
            throw invalidL2Entry(l2, idx, first, fileSize);
        }
        while (runEnd < chunkEnd) {
            long next = l2.get(idx + k);
            if (next != first + (long) k * cs || !geo.isValidClusterOffset(next, fileSize)) {
                break;
            }
            runEnd += cs;
            k++;
        }
        return new Extent(pos, Math.min(runEnd, chunkEnd) - pos, Extent.Kind.DATA,
                first + geo.offsetInCluster(pos));
    }

    private Table l2Table(int l1i, long l1e) throws IOException {
        long fileSize = allocator.fileSize();
        if (!geo.isValidTableOffset(l1e, fileSize)) {
            throw new CorruptImageException("L1 entry", String.format(
                    "%s: L1 entry %d is 0x%x, not the cluster-aligned offset of a %d-byte L2 table in [0x%x, 0x%x)"
                            + " (run check with repair to clear it)", storage.name(), l1i, l1e, geo.tableBytes(),
                    geo.headerBytes(), fileSize));
        }
        return l2Cache.get(l1e);
    }

    private CorruptImageException invalidL2Entry(Table l2, int idx, long value, long fileSize) {
        return new CorruptImageException("L2 entry", String.format(
                "%s: entry %d of the L2 table at 0x%x is 0x%x, not a cluster-aligned offset in [0x%x, 0x%x)"
                        + " (run check with repair to clear it)", storage.name(), idx, l2.offset, value,
                geo.headerBytes(), fileSize));
    }

    // -------------------------------------------------------------------------------------------------- writes

    /**
     * Writes all of {@code src} at guest offset {@code position}.
     *
     * @throws IOException naming the image if the range passes the end of the disk (nothing is written then)
     * @throws AccessDeniedException if the image is open read-only
     */
    public int write(ByteBuffer src, long position) throws IOException {
        ensureWritable();
        int n = src.remaining();
        checkRange(position, n, "write");
        int limit = src.limit();
        long pos = position;
        try {
            while (src.position() < limit) {
                Extent run = lookup(pos, pos + (limit - src.position()));
                src.limit(src.position() + (int) run.length());
                if (run.kind() == Extent.Kind.DATA) {
                    storage.write(src, run.hostOffset());
                    pos += run.length();
                } else {
                    pos += allocatingWrite(src, pos, false);
                }
                src.limit(limit);
            }
        } finally {
            src.limit(limit);
        }
        return n;
    }

    /**
     * Makes {@code [position, position + length)} read as zeros. Whole unallocated clusters become zero clusters
     * (entry 1, no data written); whole allocated clusters are zeroed in place; partial clusters are written with
     * zeros, exactly as QEMU's write-zeroes does (notes §8.5).
     */
    public void writeZeroes(long position, long length) throws IOException {
        ensureWritable();
        checkRange(position, length, "write-zeroes");
        long end = position + length;
        long alignedStart = Math.min(end, geo.roundUpToCluster(position));
        long alignedEnd = Math.max(alignedStart, geo.roundDownToCluster(end));
        writeZeroData(position, alignedStart);
        long pos = alignedStart;
        while (pos < alignedEnd) {
            allocLock.lock();
            try {
                ensureOpen();
                Extent run = lookup(pos, alignedEnd);
                switch (run.kind()) {
                    case DATA -> writeZeroData(pos, run.end());
                    case ZERO -> { }
                    case UNALLOCATED -> {
                        setNeedCheck();
                        link(pos, (int) (run.length() >> geo.clusterBits()), ENTRY_ZERO);
                    }
                }
                pos = run.end();
            } finally {
                allocLock.unlock();
            }
        }
        writeZeroData(alignedEnd, end);
    }

    private void writeZeroData(long from, long to) throws IOException {
        ByteBuffer zeros = ByteBuffer.allocate((int) Math.min(to - from, 1 << 20));
        for (long p = from; p < to; ) {
            int k = (int) Math.min(to - p, zeros.capacity());
            write(zeros.clear().limit(k), p);
            p += k;
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

    /**
     * Writes a run of unallocated or zero clusters at {@code pos} from {@code src} (position to limit). Returns the
     * bytes consumed, which may be fewer if the tables changed while waiting for the allocation lock.
     *
     * @param onlyIfUnallocated for copy-on-read: skip (rather than overwrite) clusters allocated meanwhile
     */
    private long allocatingWrite(ByteBuffer src, long pos, boolean onlyIfUnallocated) throws IOException {
        allocLock.lock();
        try {
            ensureOpen();
            int limit = src.limit();
            Extent run = lookup(pos, pos + src.remaining());
            int len = (int) run.length();
            if (onlyIfUnallocated && run.kind() != Extent.Kind.UNALLOCATED) {
                src.position(src.position() + len);
                return len;
            }
            src.limit(src.position() + len);
            try {
                if (run.kind() == Extent.Kind.DATA) {
                    storage.write(src, run.hostOffset());
                } else {
                    allocateAndWrite(src, pos, run.kind());
                }
            } finally {
                src.limit(limit);
            }
            return len;
        } finally {
            allocLock.unlock();
        }
    }

    /** Appends clusters for {@code [pos, pos + src.remaining())}, fills them, and links them into the tables. */
    private void allocateAndWrite(ByteBuffer src, long pos, Extent.Kind was) throws IOException {
        int cs = geo.clusterSize();
        long end = pos + src.remaining();
        long first = geo.roundDownToCluster(pos);
        long last = geo.roundUpToCluster(end);
        int clusters = (int) ((last - first) >> geo.clusterBits());
        setNeedCheck();
        long start = allocator.allocate(last - first);
        try {
            int head = (int) (pos - first);
            int tail = (int) (last - end);
            if ((head > 0 || tail > 0) && (backing == null || was == Extent.Kind.ZERO) && storage.size() <= start) {
                // The untouched parts must read as zeros and the new clusters lie past the end of the file: leave
                // them as holes, which read as zeros, instead of writing zeros; one byte at the end keeps the file
                // ending on a cluster boundary (where the next allocation, also after a reopen, goes).
                storage.write(src, start + head);
                if (tail > 0) {
                    storage.write(ZERO_BYTE.duplicate(), start + (last - first) - 1);
                }
            } else if (clusters == 1 && (head > 0 || tail > 0)) {
                // One partial cluster: assemble it and write it with a single I/O.
                ByteBuffer buf = scratch();
                fillUnwritten(buf.limit(head), first, was);
                buf.limit(head + src.remaining()).put(src);
                fillUnwritten(buf.limit(cs), end, was);
                storage.write(buf.flip(), start);
            } else {
                // QEMU's order: copy-on-write head, then tail, then the data.
                if (head > 0) {
                    storage.write(fillUnwritten(scratch().limit(head), first, was).flip(), start);
                }
                if (tail > 0) {
                    storage.write(fillUnwritten(scratch().limit(tail), end, was).flip(), start + (end - first));
                }
                storage.write(src, start + head);
            }
            // With a backing file the data must be durable before an L2 entry points at it (notes §8.4): a new L2
            // table is forced before L1 links it, and deferred updates of existing tables force at write-back.
        } catch (IOException | RuntimeException e) {
            allocator.rollback(start);
            throw e;
        }
        link(pos, clusters, start);
    }

    /**
     * The part of a new cluster that this write does not cover: zeros for a zero cluster (as the spec says; QEMU
     * 7.2 copies backing data here, notes §14.5), backing data (or zeros) for an unallocated one.
     */
    private ByteBuffer fillUnwritten(ByteBuffer buf, long guestPos, Extent.Kind was) throws IOException {
        if (was == Extent.Kind.ZERO) {
            Buffers.putZeros(buf, buf.remaining());
        } else {
            readBacking(buf, guestPos);
        }
        return buf;
    }

    private ByteBuffer scratch() {
        if (scratch == null) {
            scratch = ByteBuffer.allocateDirect(geo.clusterSize());
        }
        return scratch.clear();
    }

    /**
     * Points the L2 entries for {@code clusters} clusters from {@code pos} at {@code target} (consecutive
     * clusters), or makes them zero clusters when {@code target} is {@link Geometry#ENTRY_ZERO}. A missing L2 table
     * is allocated after the data, written whole and flushed before L1 points at it.
     */
    private void link(long pos, int clusters, long target) throws IOException {
        int l1i = geo.l1Index(pos);
        int idx = geo.l2Index(pos);
        long[] values = new long[clusters];
        for (int k = 0; k < clusters; k++) {
            values[k] = target == ENTRY_ZERO ? ENTRY_ZERO : target + ((long) k << geo.clusterBits());
        }
        long l1e = l1.get(l1i);
        if (l1e != ENTRY_UNALLOCATED) {
            l2Cache.update(l1e, idx, values);
            return;
        }
        long tableOffset = allocator.allocate(geo.tableBytes());
        Table l2 = new Table(tableOffset, geo.entriesPerTable());
        for (int k = 0; k < clusters; k++) {
            l2.set(idx + k, values[k]);
        }
        try {
            tableIO.writeAll(l2);
            storage.force();
        } catch (IOException | RuntimeException e) {
            // Nothing points at the table yet; if the data clusters were new, nothing points at them either.
            allocator.rollback(target == ENTRY_ZERO ? tableOffset : Math.min(target, tableOffset));
            throw e;
        }
        l2Cache.put(l2);
        l1.set(l1i, tableOffset);
        try {
            tableIO.writeEntries(l1, l1i, 1);
        } catch (IOException | RuntimeException e) {
            // The failed write may have reached the disk in part: keep in memory what the file now holds, or reads
            // would disagree with the image after a flush or a reopen.
            l1.set(l1i, l1EntryOnDisk(l1i, tableOffset, e));
            throw e;
        }
    }

    /** L1 entry {@code l1i} as the file holds it after a failed update to {@code tableOffset} (0 if unreadable). */
    private long l1EntryOnDisk(int l1i, long tableOffset, Exception failure) {
        ByteBuffer b = ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        try {
            storage.readFully(b, l1.offset + 8L * l1i);
            long v = b.flip().getLong();
            if (v == tableOffset || v == ENTRY_UNALLOCATED) {
                return v;
            }
            // Torn inside the entry: put the old value back rather than leave a pointer to anywhere.
            l1.set(l1i, ENTRY_UNALLOCATED);
            tableIO.writeEntries(l1, l1i, 1);
            return ENTRY_UNALLOCATED;
        } catch (IOException | RuntimeException e) {
            failure.addSuppressed(e);
            return ENTRY_UNALLOCATED;
        }
    }

    /** Copy-on-read: allocate the clusters under {@code [pos, pos + len)} with backing content. */
    private void copyOnRead(long pos, int len) throws IOException {
        long first = geo.roundDownToCluster(pos);
        long last = Math.min(geo.roundUpToCluster(pos + len), geo.roundUpToCluster(size()));
        int step = Math.max(geo.clusterSize(), 1 << 20);
        for (long p = first; p < last; ) {
            int n = (int) Math.min(step, last - p);
            int inside = (int) Math.min(n, size() - p);
            ByteBuffer buf = ByteBuffer.allocate(inside);
            readBacking(buf, p);
            buf.flip();
            long q = p;
            while (buf.hasRemaining()) {
                q += allocatingWrite(buf, q, true);
            }
            p += n;
        }
    }

    // ------------------------------------------------------------------------------------------- NEED_CHECK

    /** Sets {@code QED_F_NEED_CHECK} durably before the first allocation after a clean state. */
    private void setNeedCheck() throws IOException {
        QedHeader h = header;
        if (h.hasFeature(QED_F_NEED_CHECK)) {
            return;
        }
        header = h.withFeatures(h.features() | QED_F_NEED_CHECK);
        try {
            writeHeader();
            storage.force();
        } catch (IOException | RuntimeException e) {
            header = h;
            throw e;
        }
    }

    private void writeHeader() throws IOException {
        storage.write(header.encode(), 0);
    }

    /**
     * Makes all completed writes durable, data and metadata, and then, with no allocation in flight, clears
     * {@code QED_F_NEED_CHECK}. Does nothing on a read-only image.
     */
    public void flush() throws IOException {
        ensureOpen();
        if (options.readOnly()) {
            return;
        }
        allocLock.lock();
        try {
            ensureOpen();
            l2Cache.writeBack();
            storage.force();
            QedHeader h = header;
            if (h.hasFeature(QED_F_NEED_CHECK)) {
                header = h.withFeatures(h.features() & ~QED_F_NEED_CHECK);
                writeHeader();
                storage.force();
            }
        } finally {
            allocLock.unlock();
        }
    }

    // ------------------------------------------------------------------------------------------ check, resize

    /**
     * Checks the image's tables as {@code qemu-img check} does (notes §11), optionally repairing. A repair clears
     * invalid entries, can cut leaked clusters off the end of the file ({@link Repair#ERRORS_AND_LEAKS}), checks
     * again, and clears {@code QED_F_NEED_CHECK} if no corruption remains. Unreadable L2 tables are counted as
     * check errors, not thrown.
     *
     * @throws AccessDeniedException if {@code repair} is not {@link Repair#NONE} and the image is open read-only
     */
    public CheckResult check(Repair repair) throws IOException {
        ensureOpen();
        if (repair != Repair.NONE) {
            ensureWritable();
        }
        allocLock.lock();
        try {
            ensureOpen();
            l2Cache.writeBack();
            CheckResult first = new ConsistencyCheck(this, repair).run();
            if (repair == Repair.NONE) {
                return first;
            }
            l2Cache.clear();
            CheckResult second = new ConsistencyCheck(this, Repair.NONE).run();
            if (second.isConsistent() && header.hasFeature(QED_F_NEED_CHECK)) {
                storage.force();
                header = header.withFeatures(header.features() & ~QED_F_NEED_CHECK);
                writeHeader();
                storage.force();
            }
            return new CheckResult(second.totalClusters(), second.allocatedClusters(),
                    second.fragmentedClusters(), second.corruptions(), second.leaks(), second.checkErrors(),
                    first.corruptionsFixed(), first.leaksFixed());
        } finally {
            allocLock.unlock();
        }
    }

    /**
     * Grows the virtual disk, as {@code qemu-img resize} does: only {@code image_size} changes. Shrinking is
     * refused, as in QEMU.
     */
    public void resize(long newSize) throws IOException {
        ensureWritable();
        if (newSize < size() || newSize % 512 != 0 || newSize > geo.maxImageSize()) {
            throw new IllegalArgumentException(String.format("%s: new size %d must be a multiple of 512 in [%d, %d]"
                    + " (QED images can only grow)", path, newSize, size(), geo.maxImageSize()));
        }
        allocLock.lock();
        try {
            header = header.withImageSize(newSize);
            writeHeader();
            storage.force();
        } finally {
            allocLock.unlock();
        }
    }

    /**
     * Rewrites the backing file reference in the header only, as {@code qemu-img rebase -u} does: the name goes
     * at offset 64, bits BACKING_FILE and NO_PROBE are set as described (notes §9.4), and the write is flushed.
     * The image must be reopened to read through the new backing file.
     *
     * @param name the new name as it should be stored, or null to remove the backing file
     */
    public void setBackingFileInHeader(String name, BackingFormat format) throws IOException {
        ensureWritable();
        byte[] bytes = name == null ? new byte[0] : name.getBytes(StandardCharsets.UTF_8);
        if (name != null && (header.compatFeatures() & ~QedHeader.QED_COMPAT_FEATURE_MASK) != 0) {
            throw new QedFormatException("compat_features", path + ": cannot set a backing file while unknown"
                    + " compat features 0x" + Long.toHexString(header.compatFeatures()) + " are present");
        }
        if (bytes.length > QedHeader.MAX_BACKING_FILENAME_SIZE
                || QedHeader.HEADER_LENGTH + bytes.length > geo.headerBytes()) {
            throw new IOException(path + ": no space left in the file header for a backing file name of "
                    + bytes.length + " bytes");
        }
        allocLock.lock();
        try {
            long f = header.features() & ~(QED_F_BACKING_FILE | QED_F_BACKING_FORMAT_NO_PROBE);
            if (name != null) {
                f |= QED_F_BACKING_FILE;
                if (format == BackingFormat.RAW) {
                    f |= QED_F_BACKING_FORMAT_NO_PROBE;
                }
            }
            header = header.withFeatures(f).withBackingFilename(QedHeader.HEADER_LENGTH, bytes.length);
            ByteBuffer buf = ByteBuffer.allocate(QedHeader.HEADER_LENGTH + bytes.length);
            buf.put(header.encode()).put(bytes).flip();
            storage.write(buf, 0);
            storage.force();
        } finally {
            allocLock.unlock();
        }
    }

    // ------------------------------------------------------------------------------------------------- close

    /**
     * Flushes (clearing {@code QED_F_NEED_CHECK}) and releases the file and the backing chain. Idempotent. Does
     * nothing on a shared backing image ({@link #backingImage()}), which its overlays close.
     */
    @Override
    public void close() throws IOException {
        if (sharedBacking) {
            return;
        }
        closeNow();
    }

    /** Marks this image as a backing file shared between overlays (see {@link SharedBackings}). */
    void markSharedBacking() {
        sharedBacking = true;
    }

    /** Closes the image even if it is a shared backing file; called when its last overlay lets go. */
    void closeNow() throws IOException {
        synchronized (this) {
            if (closed) {
                return;
            }
            try {
                flush();
            } finally {
                closed = true;
                l2Cache.release();
                try {
                    storage.close();
                } finally {
                    if (backing != null) {
                        backing.close();
                    }
                }
            }
        }
    }

    private void ensureOpen() throws ClosedChannelException {
        if (closed) {
            throw new ClosedChannelException();
        }
    }

    private void ensureWritable() throws IOException {
        ensureOpen();
        if (options.readOnly()) {
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

    // ---------------------------------------------------------------------- package-private for ConsistencyCheck

    Storage storage() {
        return storage;
    }

    /** The backing file as this image holds it (a shared handle, or a detached one), or null. */
    Backing backing() {
        return backing;
    }

    Table l1() {
        return l1;
    }

    TableIO tableIO() {
        return tableIO;
    }

    ClusterAllocator allocator() {
        return allocator;
    }

    @Override
    public String toString() {
        return "QedImage[" + path + ", " + geo + ", size=" + size() + (backingName == null ? ""
                : ", backing=" + backingName) + (options.readOnly() ? ", read-only" : "") + "]";
    }
}
