package io.github.qednio.internal.qcow2;

import io.github.qednio.image.CheckResult;
import io.github.qednio.internal.storage.RawImageFile;
import io.github.qednio.format.Qcow2Header;
import io.github.qednio.format.QedFormatException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * A read-only consistency check of a qcow2 image that reports what {@code qemu-img check} 7.2 reports for it
 * (QEMU's {@code qcow2_check_refcounts}, without repair): it counts every reference the tables make to each cluster
 * of the file (the header, the active and the snapshots' L1 and L2 tables and the data clusters they point to,
 * compressed clusters by the sectors they span, the snapshot table, the refcount table and blocks, persistent
 * bitmaps) and compares those counts with the refcounts stored in the image. A stored refcount below the count is a
 * corruption, one above it a leak. Invalid entries (reserved bits set, offsets not cluster-aligned, ranges ending
 * one cluster or more past the end of the file, a COPIED flag that disagrees with the refcount) are corruptions as
 * QEMU counts them; a refcount block whose offset is not cluster-aligned makes each of its clusters a check error.
 *
 * <p>The file is opened read-only and nothing is ever written. Memory: the computed refcounts take half a byte per
 * cluster of the file (refused above {@value #MAX_CLUSTERS} clusters), plus the refcount table (at most 8 MiB),
 * one L1 table at a time (at most 32 MiB, QEMU's bound), one L2 table and one refcount block.
 *
 * <p>What QEMU refuses to open, and what this library cannot read (encryption, an external data file, extended L2
 * entries), gives a {@link QedFormatException} naming the file and the field; so does a structure QEMU's check
 * gives up on ("Check failed"): a snapshot table or a bitmap directory it cannot read.
 */
public final class Qcow2Check {
    /** The largest file checked, in clusters (QEMU's own bound is 2^31 - 1): 128 MiB of computed refcounts. */
    public static final long MAX_CLUSTERS = 1L << 28;

    private static final long OFFSET_MASK = 0x00ff_ffff_ffff_fe00L;
    private static final long REFT_OFFSET_MASK = 0xffff_ffff_ffff_fe00L;
    private static final long L1E_RESERVED_MASK = 0x7f00_0000_0000_01ffL;
    private static final long L2E_STD_RESERVED_MASK = 0x3f00_0000_0000_01feL;
    private static final long REFT_RESERVED_MASK = 0x1ffL;
    private static final long COPIED = Qcow2Image.COPIED;
    private static final long COMPRESSED = Qcow2Image.COMPRESSED;
    private static final long ZERO = Qcow2Image.ZERO;
    /** QEMU's {@code QCOW_MAX_L1_SIZE} in entries. */
    private static final long MAX_L1_ENTRIES = Qcow2Header.MAX_L1_BYTES / 8;
    private static final int MAX_SNAPSHOTS = 65536;
    private static final long MAX_SNAPSHOTS_SIZE = 1024L * MAX_SNAPSHOTS;
    private static final int SNAPSHOT_HEADER_SIZE = 40;
    private static final int MAX_SNAPSHOT_EXTRA_DATA = 1024;
    private static final int MAX_BITMAPS = 65535;
    private static final long MAX_BITMAP_DIRECTORY_SIZE = 1024L * MAX_BITMAPS;
    private static final int BITMAP_DIR_ENTRY_SIZE = 24;
    private static final long BME_MAX_TABLE_SIZE = 0x800_0000L;
    private static final long BME_MAX_PHYS_SIZE = 0x2000_0000L;
    private static final long BME_TABLE_ENTRY_RESERVED_MASK = 0xff00_0000_0000_01feL;

    private final RawImageFile file;
    private final String name;
    private final Qcow2Header header;
    private final long fileLength;
    private final long clusterSize;
    private final int clusterBits;
    private final int refcountBlockBits;
    private final long refcountMax;
    private final long[] refcountTable;
    private final ComputedRefcounts computed;
    /** Clusters compared: the file's, plus one if a reference reached into the cluster after its end. */
    private long nbClusters;
    private long allocated;
    private long fragmented;
    private long compressed;
    private long corruptions;
    private long leaks;
    private long checkErrors;
    private long cachedBlockOffset = -1;
    private ByteBuffer cachedBlock;
    /** Set by {@link #storedRefcount} when QEMU's {@code qcow2_get_refcount} would fail. */
    private boolean refcountFailed;

    private Qcow2Check(RawImageFile file, Qcow2Header header, long fileLength, long[] refcountTable,
                       long nbClusters) {
        this.file = file;
        this.name = file.name();
        this.header = header;
        this.fileLength = fileLength;
        this.clusterSize = header.clusterSize();
        this.clusterBits = header.clusterBits();
        this.refcountBlockBits = clusterBits + 3 - header.refcountOrder();
        this.refcountMax = header.refcountBits() == 64 ? -1L : (1L << header.refcountBits()) - 1;
        this.refcountTable = refcountTable;
        this.nbClusters = nbClusters;
        this.computed = new ComputedRefcounts(nbClusters + 1, name);
    }

    /**
     * Checks a qcow2 image without changing it.
     *
     * @param image the qcow2 file
     * @return what {@code qemu-img check} reports for it: corruptions, leaks, check errors, image end offset,
     *         total, allocated, fragmented and compressed clusters ({@code corruptionsFixed} and
     *         {@code leaksFixed} are 0)
     * @throws QedFormatException if it is not a qcow2 image QEMU would open and check, uses a feature this library
     *                            cannot read, or is too large to check in bounded memory, named in the message
     * @throws IOException if it cannot be read
     */
    public static CheckResult check(Path image) throws IOException {
        try (RawImageFile file = RawImageFile.open(image, true)) {
            return check(file);
        }
    }

    private static CheckResult check(RawImageFile file) throws IOException {
        String name = file.name();
        long length = file.size();
        Qcow2Header h = Qcow2Image.readHeader(file);
        validate(h, name);
        refuseUnreadable(h, name);
        long cs = h.clusterSize();
        long clusters = (length + cs - 1) / cs;
        if (clusters > MAX_CLUSTERS) {
            throw new QedFormatException("file size", String.format("%s: the file has %d clusters of %d bytes;"
                    + " checking more than %d clusters would need more than %d MiB of memory, so the check was"
                    + " refused", name, clusters, cs, MAX_CLUSTERS, MAX_CLUSTERS / 2 >> 20));
        }
        int rtEntries = (int) (Integer.toUnsignedLong(h.refcountTableClusters()) * cs / 8);
        long[] rt = readTable(file, h.refcountTableOffset(), rtEntries);
        return new Qcow2Check(file, h, length, rt, clusters).run();
    }

    /**
     * What QEMU's {@code qcow2_do_open} checks before a check (opened with {@code BDRV_O_CHECK}): the tables' sizes
     * within QEMU's bounds, an L1 table covering the virtual size, the tables' offsets cluster-aligned. Unlike
     * {@link Qcow2Header#validate}, tables past the end of the file are accepted: QEMU reads them as zeros and its
     * check counts them as corruptions, and so does this one.
     */
    private static void validate(Qcow2Header h, String name) throws QedFormatException {
        long cs = h.clusterSize();
        long l1Entries = Integer.toUnsignedLong(h.l1Size());
        if (h.size() < 0 || l1Entries > MAX_L1_ENTRIES) {
            throw new QedFormatException("l1_size", String.format("%s: l1_size %d or the virtual size %s exceeds"
                    + " QEMU's limit of 32 MiB of L1 table", name, l1Entries, Long.toUnsignedString(h.size())));
        }
        long perL2 = cs * (cs / 8);
        long needed = h.size() / perL2 + (h.size() % perL2 != 0 ? 1 : 0);
        if (l1Entries < needed) {
            throw new QedFormatException("l1_size", String.format("%s: l1_size %d does not cover the virtual size %d"
                    + " (needs %d entries)", name, l1Entries, h.size(), needed));
        }
        if (l1Entries > 0) {
            requireTable("l1_table_offset", h.l1TableOffset(), l1Entries * 8, cs, name);
        }
        long rtBytes = Integer.toUnsignedLong(h.refcountTableClusters()) * cs;
        if (rtBytes > Qcow2Header.MAX_REFTABLE_BYTES) {
            throw new QedFormatException("refcount_table_clusters", String.format("%s: refcount_table_clusters %d"
                    + " exceeds QEMU's limit of 8 MiB of refcount table", name,
                    Integer.toUnsignedLong(h.refcountTableClusters())));
        }
        requireTable("refcount_table_offset", h.refcountTableOffset(), rtBytes, cs, name);
        long snapshots = Integer.toUnsignedLong(h.nbSnapshots());
        if (snapshots > MAX_SNAPSHOTS) {
            throw new QedFormatException("nb_snapshots", String.format("%s: nb_snapshots %d exceeds QEMU's limit of"
                    + " %d", name, snapshots, MAX_SNAPSHOTS));
        }
        // QEMU's check validates the snapshot table's offset even when there is no snapshot.
        requireTable("snapshots_offset", h.snapshotsOffset(), snapshots * SNAPSHOT_HEADER_SIZE, cs, name);
        int type = h.compressionType();
        boolean bit = (h.incompatibleFeatures() & Qcow2Header.INCOMPAT_COMPRESSION) != 0;
        if (type > 1 || (type == 0) == bit) {
            throw new QedFormatException("compression_type", String.format("%s: compression_type %d (0 deflate,"
                    + " 1 zstd) with the compression type feature bit %s", name, type, bit ? "set" : "clear"));
        }
    }

    private static void requireTable(String field, long offset, long bytes, long cs, String name)
            throws QedFormatException {
        if (offset < 0 || Long.MAX_VALUE - bytes < offset || (offset & (cs - 1)) != 0) {
            throw new QedFormatException(field, String.format("%s: %s 0x%x is not a cluster-aligned offset (%d bytes"
                    + " of table)", name, field, offset, bytes));
        }
    }

    private static void refuseUnreadable(Qcow2Header h, String name) throws QedFormatException {
        String feature = null;
        if (h.cryptMethod() != 0 || (h.extensions() & Qcow2Header.EXT_CRYPTO) != 0) {
            feature = "encryption";
        } else if ((h.incompatibleFeatures() & Qcow2Header.INCOMPAT_DATA_FILE) != 0
                || (h.extensions() & Qcow2Header.EXT_DATA_FILE) != 0) {
            feature = "external data file";
        } else if ((h.autoclearFeatures() & 2) != 0) {
            feature = "raw external data file"; // QEMU: "data-file-raw requires a data file"
        } else if ((h.incompatibleFeatures() & Qcow2Header.INCOMPAT_EXTL2) != 0) {
            feature = "extended L2 entries";
        }
        if (feature != null) {
            throw new QedFormatException(feature, name + ": " + feature + ": qcow2 images using it cannot be"
                    + " checked by this library; use qemu-img check");
        }
    }

    private CheckResult run() throws IOException {
        inc(0, clusterSize);
        long[] activeL1 = readTable(file, header.l1TableOffset(), header.l1Size());
        checkL1(header.l1TableOffset(), activeL1, true);
        snapshots();
        inc(header.refcountTableOffset(), (long) refcountTable.length * 8);
        bitmaps();
        refcountBlocks();
        long highest = compare();
        checkCopiedFlags(activeL1);
        long total = (header.size() / 512 * 512 + clusterSize - 1) / clusterSize;
        return new CheckResult(total, allocated, fragmented, corruptions, leaks, checkErrors, 0, 0,
                (highest + 1) * clusterSize, compressed);
    }

    /**
     * Counts one reference to each cluster of {@code [offset, offset + size)}, as QEMU's
     * {@code qcow2_inc_refcounts_imrt}: a range ending a cluster or more past the end of the file is a corruption
     * and counts nothing; a count already at the refcount width's maximum is a corruption (an overflow).
     */
    private void inc(long offset, long size) throws QedFormatException {
        if (size <= 0) {
            return;
        }
        if (offset + size - fileLength >= clusterSize) {
            corruptions++;
            return;
        }
        long last = (offset + size - 1) >>> clusterBits;
        for (long k = offset >>> clusterBits; k <= last; k++) {
            if (k >= nbClusters) {
                nbClusters = k + 1;
            }
            long r = computed.get(k);
            if (r == refcountMax) {
                corruptions++;
                continue;
            }
            computed.set(k, r + 1);
        }
    }

    /** One L1 table and the L2 tables it points to ({@code check_refcounts_l1}). */
    private void checkL1(long l1Offset, long[] l1, boolean active) throws IOException {
        if (l1.length == 0) {
            return;
        }
        inc(l1Offset, (long) l1.length * 8);
        for (long entry : l1) {
            if (entry == 0) {
                continue;
            }
            if ((entry & L1E_RESERVED_MASK) != 0) {
                corruptions++;
            }
            long l2Offset = entry & OFFSET_MASK;
            inc(l2Offset, clusterSize);
            if ((l2Offset & (clusterSize - 1)) != 0) {
                corruptions++;
            }
            checkL2(l2Offset, active);
        }
    }

    /** One L2 table ({@code check_refcounts_l2}); only the active one counts allocation figures. */
    private void checkL2(long l2Offset, boolean active) throws IOException {
        ByteBuffer table = read(l2Offset, (int) clusterSize);
        int csizeShift = 62 - (clusterBits - 8);
        long csizeMask = (1L << (clusterBits - 8)) - 1;
        long coffsetMask = (1L << csizeShift) - 1;
        long nextContiguous = 0;
        for (int i = 0; i < clusterSize / 8; i++) {
            long entry = table.getLong(i * 8);
            if ((entry & COMPRESSED) != 0) {
                if ((entry & COPIED) != 0) {
                    corruptions++;
                    entry &= ~COPIED;
                }
                long coffset = entry & coffsetMask;
                long sectors = ((entry >>> csizeShift) & csizeMask) + 1;
                inc(coffset, sectors * 512 - (coffset & 511));
                if (active) {
                    allocated++;
                    compressed++;
                    fragmented++; // QEMU counts every compressed cluster as fragmented
                }
                continue;
            }
            if ((entry & L2E_STD_RESERVED_MASK) != 0) {
                corruptions++;
            }
            long offset = entry & OFFSET_MASK;
            if (offset == 0) {
                continue; // unallocated, or a zero cluster without a host cluster
            }
            if ((offset & (clusterSize - 1)) != 0) {
                corruptions++;
            }
            if (active) {
                allocated++;
                if (nextContiguous != 0 && offset != nextContiguous) {
                    fragmented++;
                }
                nextContiguous = offset + clusterSize;
            }
            inc(offset, clusterSize);
        }
    }

    /**
     * The snapshot table and each snapshot's L1 table, parsed as QEMU's check parses them
     * ({@code qcow2_check_read_snapshot_table}, {@code qcow2_do_read_snapshots}): entries past the end of the file
     * read as zeros; a v3 entry with less than 16 bytes of extra data is a corruption; a table QEMU's check gives
     * up on (more than 65536 entries, an offset not cluster-aligned, more than 1024 bytes of extra data in an entry,
     * more than 64 MiB in all) gives an exception.
     */
    private void snapshots() throws IOException {
        long nb = Integer.toUnsignedLong(header.nbSnapshots());
        long tableOffset = header.snapshotsOffset();
        if (nb == 0) {
            return;
        }
        long[] l1Offsets = new long[(int) nb];
        long[] l1Sizes = new long[(int) nb];
        long offset = tableOffset;
        long length = 0;
        for (int i = 0; i < nb; i++) {
            offset = (offset + 7) & ~7L;
            length = (length + 7) & ~7L;
            ByteBuffer h = read(offset, SNAPSHOT_HEADER_SIZE);
            l1Offsets[i] = h.getLong(0);
            l1Sizes[i] = Integer.toUnsignedLong(h.getInt(8));
            int idSize = Short.toUnsignedInt(h.getShort(12));
            int nameSize = Short.toUnsignedInt(h.getShort(14));
            long extraSize = Integer.toUnsignedLong(h.getInt(36));
            if (extraSize > MAX_SNAPSHOT_EXTRA_DATA) {
                throw snapshotTable(i, offset, "extra_data_size " + extraSize + " exceeds QEMU's limit of "
                        + MAX_SNAPSHOT_EXTRA_DATA);
            }
            if (header.version() >= 3 && extraSize < 16) {
                corruptions++; // QEMU: "snapshot table entry is incomplete"
            }
            long entry = SNAPSHOT_HEADER_SIZE + extraSize + idSize + nameSize;
            offset += entry;
            length += entry;
            if (length > MAX_SNAPSHOTS_SIZE) {
                throw snapshotTable(i, offset, "the table exceeds QEMU's limit of 64 MiB");
            }
        }
        for (int i = 0; i < nb; i++) {
            if ((l1Offsets[i] & (clusterSize - 1)) != 0 || l1Sizes[i] > MAX_L1_ENTRIES) {
                corruptions++; // QEMU's calculate_refcounts skips such a snapshot
                continue;
            }
            checkL1(l1Offsets[i], readTable(file, l1Offsets[i], (int) l1Sizes[i]), false);
        }
        inc(tableOffset, offset - tableOffset);
    }

    private QedFormatException snapshotTable(long index, long offset, String why) {
        return new QedFormatException("snapshot table", String.format("%s: snapshot %d of the snapshot table"
                + " (at offset 0x%x) cannot be read: %s", name, index, offset, why));
    }

    /**
     * Persistent bitmaps ({@code qcow2_check_bitmaps_refcounts}): the directory, each bitmap table and the clusters
     * it points to. QEMU reads them only while the autoclear bit says they are consistent; otherwise their clusters
     * are leaks. A directory QEMU cannot load makes its check fail, and this one throw.
     */
    private void bitmaps() throws IOException {
        if ((header.autoclearFeatures() & Qcow2Header.AUTOCLEAR_BITMAPS) == 0) {
            return;
        }
        ByteBuffer ext = bitmapsExtension();
        if (ext == null) {
            return;
        }
        long nb = Integer.toUnsignedLong(ext.getInt(0));
        long dirSize = ext.getLong(8);
        long dirOffset = ext.getLong(16);
        if (ext.getInt(4) != 0 || nb == 0 || nb > MAX_BITMAPS || (dirOffset & (clusterSize - 1)) != 0
                || dirSize <= 0 || dirSize > MAX_BITMAP_DIRECTORY_SIZE) {
            throw bitmap("the bitmaps extension is invalid (nb_bitmaps " + nb + ", directory of " + dirSize
                    + " bytes at 0x" + Long.toHexString(dirOffset) + ")");
        }
        inc(dirOffset, dirSize);
        ByteBuffer dir = read(dirOffset, (int) dirSize);
        long entries = 0;
        int pos = 0;
        while (pos < dirSize) {
            if (pos + BITMAP_DIR_ENTRY_SIZE > dirSize || ++entries > nb) {
                throw bitmap("the bitmap directory is broken at byte " + pos);
            }
            long tableOffset = dir.getLong(pos);
            long tableSize = Integer.toUnsignedLong(dir.getInt(pos + 8));
            int flags = dir.getInt(pos + 12);
            int type = dir.get(pos + 16) & 0xff;
            int granularity = dir.get(pos + 17) & 0xff;
            int nameSize = Short.toUnsignedInt(dir.getShort(pos + 18));
            long extra = Integer.toUnsignedLong(dir.getInt(pos + 20));
            long physBytes = tableSize * clusterSize;
            if (extra != 0 || tableSize == 0 || tableOffset == 0 || (tableOffset & (clusterSize - 1)) != 0
                    || tableSize > BME_MAX_TABLE_SIZE || granularity > 31 || granularity < 9
                    || (flags & 0xffff_fffc) != 0 || nameSize > 1023 || type != 1 || physBytes > BME_MAX_PHYS_SIZE
                    || Long.compareUnsigned(header.size() / 512 * 512, (physBytes * 8) << granularity) > 0) {
                throw bitmap("bitmap directory entry " + (entries - 1) + " does not satisfy QEMU's constraints");
            }
            pos += (BITMAP_DIR_ENTRY_SIZE + nameSize + 7) & ~7;
            if (pos > dirSize) {
                throw bitmap("the bitmap directory is broken at byte " + pos);
            }
            inc(tableOffset, tableSize * 8);
            long[] table = readTable(file, tableOffset, (int) tableSize);
            for (long e : table) {
                long off = e & OFFSET_MASK;
                if ((e & BME_TABLE_ENTRY_RESERVED_MASK) != 0
                        || (off != 0 && ((e & 1) != 0 || (off & (clusterSize - 1)) != 0))) {
                    throw bitmap(String.format("bitmap table entry 0x%x of bitmap %d is invalid", e, entries - 1));
                }
            }
            for (long e : table) {
                long off = e & OFFSET_MASK;
                if (off != 0) {
                    inc(off, clusterSize);
                }
            }
        }
        if (entries != nb) {
            throw bitmap("the bitmap directory holds " + entries + " bitmaps, the header extension says " + nb);
        }
    }

    private QedFormatException bitmap(String why) {
        return new QedFormatException("bitmaps", name + ": " + why + "; qemu-img check fails on it too");
    }

    /** The bitmaps header extension's 24 bytes, or null without one. */
    private ByteBuffer bitmapsExtension() throws IOException {
        ByteBuffer c0 = read(0, (int) Math.min(clusterSize, Math.max(fileLength, 0)));
        long end = header.backingFileOffset() != 0 ? Math.min(c0.limit(), header.backingFileOffset()) : c0.limit();
        int pos = header.headerLength();
        while (pos + 8 <= end) {
            int type = c0.getInt(pos);
            long len = Integer.toUnsignedLong(c0.getInt(pos + 4));
            if (type == 0 || pos + 8 + len > end) {
                return null;
            }
            if (type == Qcow2Header.EXT_TYPE_BITMAPS) {
                if (len != 24) {
                    throw bitmap("the bitmaps header extension is " + len + " bytes long, not 24");
                }
                return c0.slice(pos + 8, 24).order(ByteOrder.BIG_ENDIAN);
            }
            pos += 8 + (int) ((len + 7) & ~7L);
        }
        return null;
    }

    /** The refcount table's entries ({@code check_refblocks}). */
    private void refcountBlocks() throws QedFormatException {
        for (long raw : refcountTable) {
            if ((raw & REFT_RESERVED_MASK) != 0) {
                corruptions++;
                continue;
            }
            long offset = raw & REFT_OFFSET_MASK;
            if ((offset & (clusterSize - 1)) != 0) {
                corruptions++;
                continue;
            }
            long cluster = offset >>> clusterBits;
            if (Long.compareUnsigned(cluster, nbClusters) >= 0) {
                corruptions++;
                continue;
            }
            if (offset != 0) {
                inc(offset, clusterSize);
                if (computed.get(cluster) != 1) {
                    corruptions++;
                }
            }
        }
    }

    /** Compares the stored refcounts with the computed ones; returns the last cluster either calls used. */
    private long compare() throws IOException {
        long highest = 0;
        for (long i = 0; i < nbClusters; i++) {
            long stored = storedRefcount(i);
            if (refcountFailed) {
                checkErrors++;
                continue;
            }
            long counted = computed.get(i);
            if (stored != 0 || counted != 0) {
                highest = i;
            }
            if (stored != counted) {
                if (Long.compareUnsigned(stored, counted) < 0) {
                    corruptions++;
                } else {
                    leaks++;
                }
            }
        }
        return highest;
    }

    /**
     * The COPIED flags of the active L1 table and its L2 tables: set exactly where the stored refcount is 1
     * ({@code check_oflag_copied}). An L2 table whose own refcount cannot be read is skipped, as QEMU skips it.
     */
    private void checkCopiedFlags(long[] l1) throws IOException {
        for (long entry : l1) {
            long l2Offset = entry & OFFSET_MASK;
            if (l2Offset == 0) {
                continue;
            }
            long r = storedRefcount(l2Offset >>> clusterBits);
            if (refcountFailed) {
                continue;
            }
            if ((r == 1) != ((entry & COPIED) != 0)) {
                corruptions++;
            }
            ByteBuffer table = read(l2Offset, (int) clusterSize);
            for (int j = 0; j < clusterSize / 8; j++) {
                long e = table.getLong(j * 8);
                long data = e & OFFSET_MASK;
                if ((e & COMPRESSED) != 0 || data == 0) {
                    continue;
                }
                long dr = storedRefcount(data >>> clusterBits);
                if (!refcountFailed && (dr == 1) != ((e & COPIED) != 0)) {
                    corruptions++;
                }
            }
        }
    }

    /**
     * The refcount stored for a cluster ({@code qcow2_get_refcount}): 0 past the refcount table or where no block
     * is allocated; a block read past the end of the file reads as zeros. Sets {@link #refcountFailed} where QEMU
     * fails: a block offset that is not cluster-aligned or not a valid file offset.
     */
    private long storedRefcount(long cluster) throws IOException {
        refcountFailed = false;
        long rtIndex = cluster >>> refcountBlockBits;
        if (rtIndex >= refcountTable.length) {
            return 0;
        }
        long block = refcountTable[(int) rtIndex] & REFT_OFFSET_MASK;
        if (block == 0) {
            return 0;
        }
        if ((block & (clusterSize - 1)) != 0 || block < 0) {
            refcountFailed = true;
            return 0;
        }
        if (block != cachedBlockOffset) {
            cachedBlock = read(block, (int) clusterSize);
            cachedBlockOffset = block;
        }
        long index = cluster & ((1L << refcountBlockBits) - 1);
        int bits = header.refcountBits();
        return Qcow2Image.refcountEntry(cachedBlock, index, bits);
    }

    /** {@code length} bytes at {@code offset}, zeros past the end of the file (as QEMU's block layer reads). */
    private ByteBuffer read(long offset, int length) throws IOException {
        return read(file, offset, length);
    }

    private static ByteBuffer read(RawImageFile file, long offset, int length) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(length);
        if (offset >= 0) {
            file.read(b, offset);
        }
        return b.clear().order(ByteOrder.BIG_ENDIAN);
    }

    private static long[] readTable(RawImageFile file, long offset, int entries) throws IOException {
        long[] t = new long[entries];
        read(file, offset, entries * 8).asLongBuffer().get(t);
        return t;
    }

    /**
     * The computed refcounts, half a byte per cluster: 0 to 14 in place, larger values (a cluster shared by more
     * than 14 references, which only internal snapshots make) in a map bounded to {@value #MAX_LARGE} entries.
     */
    private static final class ComputedRefcounts {
        private static final int LARGE = 15;
        private static final int MAX_LARGE = 1 << 20;
        private final byte[] nibbles;
        private final Map<Long, Long> large = new HashMap<>();
        private final String name;

        ComputedRefcounts(long clusters, String name) {
            this.nibbles = new byte[(int) ((clusters + 1) / 2)];
            this.name = name;
        }

        long get(long k) {
            int v = (nibbles[(int) (k >>> 1)] >>> ((k & 1) * 4)) & 0xf;
            return v == LARGE ? large.get(k) : v;
        }

        void set(long k, long value) throws QedFormatException {
            if (value >= LARGE) {
                if (large.put(k, value) == null && large.size() > MAX_LARGE) {
                    throw new QedFormatException("refcount", String.format("%s: more than %d clusters are"
                            + " referenced more than %d times; the check was refused to bound its memory", name,
                            MAX_LARGE, LARGE - 1));
                }
                value = LARGE;
            } else {
                large.remove(k);
            }
            int i = (int) (k >>> 1);
            int shift = (int) ((k & 1) * 4);
            nibbles[i] = (byte) ((nibbles[i] & ~(0xf << shift)) | ((int) value << shift));
        }
    }
}
