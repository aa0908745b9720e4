package io.github.qednio.ops;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.format.QedFormatException;
import io.github.qednio.format.QedHeader;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * What {@code qemu-img info} reports about one image, with its values: read without writing a byte and without
 * opening the backing file (which may be missing), as {@code qemu-img info} opens images
 * ({@code BDRV_O_NO_BACKING}).
 *
 * <p>Two values differ from qemu-img 7.2 by design: {@link #dirty()} is true exactly when {@code QED_F_NEED_CHECK}
 * is set on disk (qemu-img 7.2 always reports false, see the notes §10), and {@link #actualSize()} is an
 * approximation (see there).
 *
 * @param filename            the image's name as given (qemu-img's {@code filename})
 * @param format              its format ({@code format})
 * @param virtualSize         the guest-visible size in bytes ({@code virtual-size})
 * @param clusterSize         the cluster size in bytes, or 0 for a raw file, which has none ({@code cluster-size})
 * @param actualSize          the host bytes the file takes ({@code actual-size}), approximated: see
 *                            {@link #approximateActualSize}
 * @param dirty               whether {@code QED_F_NEED_CHECK} (qcow2: the dirty bit) is set on disk
 *                            ({@code dirty-flag})
 * @param backingFilename     the backing file name as stored, or null ({@code backing-filename})
 * @param fullBackingFilename the name joined to the image's directory as qemu-img joins it, without normalizing
 *                            ({@code full-backing-filename}), or null
 * @param backingFormat       the backing format the header records (raw, with
 *                            {@code QED_F_BACKING_FORMAT_NO_PROBE}; qcow2: its backing format extension), or null
 *                            when it records none ({@code backing-filename-format})
 * @param tableSize           QED's table size in clusters, or 0 for raw (an addition of ours)
 * @param allocatedBytes      guest bytes stored in the image itself (an addition of ours; the file length for raw),
 *                            or -1 if a table entry is invalid (qemu-img info reports such an image all the same)
 * @param qcow2               for a qcow2 image, its "Format specific information"; otherwise null
 */
public record ImageInfo(String filename, ImageFormat format, long virtualSize, int clusterSize, long actualSize,
                        boolean dirty, String backingFilename, String fullBackingFilename,
                        ImageFormat backingFormat, int tableSize, long allocatedBytes, Qcow2Details qcow2) {
    /** Granule of host allocation assumed by the approximation of {@code actual-size}. */
    private static final int PAGE = 4096;

    /**
     * The information of a raw file or QED image, without qcow2 details.
     *
     * @param filename            the image's name as given
     * @param format              its format
     * @param virtualSize         the guest-visible size in bytes
     * @param clusterSize         the cluster size in bytes, or 0 for a raw file
     * @param actualSize          the host bytes the file takes, approximated
     * @param dirty               whether the image is marked as not cleanly shut down
     * @param backingFilename     the backing file name as stored, or null
     * @param fullBackingFilename the name joined to the image's directory, or null
     * @param backingFormat       the recorded backing format, or null
     * @param tableSize           QED's table size in clusters, or 0
     * @param allocatedBytes      guest bytes stored in the image itself, or -1
     */
    public ImageInfo(String filename, ImageFormat format, long virtualSize, int clusterSize, long actualSize,
                     boolean dirty, String backingFilename, String fullBackingFilename, ImageFormat backingFormat,
                     int tableSize, long allocatedBytes) {
        this(filename, format, virtualSize, clusterSize, actualSize, dirty, backingFilename, fullBackingFilename,
                backingFormat, tableSize, allocatedBytes, null);
    }

    /**
     * What {@code qemu-img info} lists under "Format specific information" for a qcow2 image.
     *
     * @param version         the qcow2 version: 2 ({@code compat: 0.10}) or 3 ({@code compat: 1.1})
     * @param compressionType {@code zlib} or {@code zstd} ({@code compression type})
     * @param lazyRefcounts   the lazy refcounts compatible feature ({@code lazy refcounts}, version 3 only)
     * @param refcountBits    the width of a refcount ({@code refcount bits})
     * @param corrupt         the corrupt incompatible feature ({@code corrupt}, version 3 only)
     * @param extendedL2      the extended L2 entries incompatible feature ({@code extended l2}, version 3 only)
     */
    public record Qcow2Details(int version, String compressionType, boolean lazyRefcounts, int refcountBits,
                               boolean corrupt, boolean extendedL2) {
        /**
         * qemu-img's {@code compat} value.
         *
         * @return {@code 0.10} for version 2, {@code 1.1} for version 3
         */
        public String compat() {
            return version >= 3 ? "1.1" : "0.10";
        }
    }

    /**
     * Reads the information of one image.
     *
     * @param file   the image, named as it should be reported
     * @param format its format, or null to probe it
     * @return the information
     * @throws IOException if the file cannot be read or is not a valid QED or qcow2 image (when one)
     */
    public static ImageInfo of(Path file, ImageFormat format) throws IOException {
        return of(file, format, false);
    }

    /**
     * As {@link #of(Path, ImageFormat)}; with {@code forceShare} the image is read even while another process
     * writes it, as qemu-img's {@code -U} ({@link OpenOptions#withForceShare}).
     *
     * @param file       the image, named as it should be reported
     * @param format     its format, or null to probe it
     * @param forceShare true to read an image another process writes
     * @return the information
     * @throws IOException if the file cannot be read or is not a valid QED or qcow2 image (when one), or another
     *                     process writes it and {@code forceShare} is false
     */
    public static ImageInfo of(Path file, ImageFormat format, boolean forceShare) throws IOException {
        ImageFormat f = format != null ? format : ImageFormat.probe(file);
        long length = Files.size(file);
        if (f == ImageFormat.RAW) {
            return new ImageInfo(file.toString(), f, length, 0, roundUp(length), false, null, null, null, 0, length);
        }
        if (f == ImageFormat.QCOW2) {
            return Qcow2Usage.info(file, OpenOptions.readOnlyDefaults().withForceShare(forceShare));
        }
        try (QedImage img = QedImage.openWithoutBacking(file,
                OpenOptions.readOnlyDefaults().withForceShare(forceShare))) {
            QedHeader h = img.header();
            String name = img.backingFileName();
            ImageFormat recorded = name != null && h.hasFeature(QedHeader.QED_F_BACKING_FORMAT_NO_PROBE)
                    ? ImageFormat.RAW : null;
            return new ImageInfo(file.toString(), f, img.size(), img.geometry().clusterSize(),
                    approximateActualSize(length, img.geometry().headerBytes(), h.backingFilenameSize()),
                    h.hasFeature(QedHeader.QED_F_NEED_CHECK), name, name == null ? null : join(file.toString(), name),
                    recorded, img.geometry().tableSize(), allocatedBytes(img), null);
        }
    }

    private static long allocatedBytes(QedImage img) throws IOException {
        try {
            return img.allocatedBytes();
        } catch (QedFormatException e) {
            return -1; // a corrupt table: info still reports the header, as qemu-img info does
        }
    }

    /**
     * The information of an image and of each image of its backing chain, top first, as
     * {@code qemu-img info --backing-chain} lists them: each backing file is named by its parent's
     * {@link #fullBackingFilename()} and opened in the format the parent records, else probed.
     *
     * @param file   the top image
     * @param format its format, or null to probe it
     * @return one entry per image, the top first
     * @throws IOException if an image of the chain cannot be read, or the chain is longer than
     *                     {@link OpenOptions#DEFAULT_MAX_CHAIN_DEPTH}
     */
    public static List<ImageInfo> chain(Path file, ImageFormat format) throws IOException {
        return chain(file, format, false);
    }

    /**
     * As {@link #chain(Path, ImageFormat)}; with {@code forceShare} the images are read even while another process
     * writes them, as qemu-img's {@code -U} ({@link OpenOptions#withForceShare}).
     *
     * @param file       the top image
     * @param format     its format, or null to probe it
     * @param forceShare true to read images another process writes
     * @return one entry per image, the top first
     * @throws IOException if an image of the chain cannot be read, another process writes one and
     *                     {@code forceShare} is false, or the chain is longer than
     *                     {@link OpenOptions#DEFAULT_MAX_CHAIN_DEPTH}
     */
    public static List<ImageInfo> chain(Path file, ImageFormat format, boolean forceShare) throws IOException {
        List<ImageInfo> out = new ArrayList<>();
        ImageInfo info = of(file, format, forceShare);
        out.add(info);
        while (info.fullBackingFilename() != null) {
            if (out.size() > OpenOptions.DEFAULT_MAX_CHAIN_DEPTH) {
                throw new IOException(file + ": backing chain longer than " + OpenOptions.DEFAULT_MAX_CHAIN_DEPTH
                        + " images (a loop?)");
            }
            Path next = file.getFileSystem().getPath(info.fullBackingFilename());
            info = of(next, info.backingFormat() == ImageFormat.RAW ? ImageFormat.RAW : null, forceShare);
            out.add(info);
        }
        return out;
    }

    /**
     * qemu-img's {@code actual-size} is the file's allocated blocks ({@code st_blocks}), which Java 17 cannot read.
     * This approximation is the file's length rounded up to 4 KiB, less the part of the header area that QEMU (and
     * this library) never write: everything after the header and backing name, rounded up to 4 KiB. It equals
     * qemu-img's figure on a 4 KiB-block file system for images whose clusters were written whole (images this
     * library writes, and QEMU's without partial writes of new clusters); it is larger where the file has other
     * holes (QEMU leaves the unwritten part of a newly allocated cluster as a hole when it has no backing file).
     *
     * @param fileLength   the image file's length
     * @param headerBytes  the header area's length (header_size clusters)
     * @param backingBytes the backing file name's length in bytes
     * @return the approximate allocated bytes
     */
    static long approximateActualSize(long fileLength, long headerBytes, long backingBytes) {
        long written = Math.min(headerBytes, roundUp(QedHeader.HEADER_LENGTH + backingBytes));
        return Math.max(0, roundUp(fileLength) - (headerBytes - written));
    }

    static long roundUp(long n) {
        return (n + PAGE - 1) / PAGE * PAGE;
    }

    /** qemu's {@code path_combine}: an absolute name as is, else the image's directory prefix and the name. */
    static String join(String image, String backing) {
        if (backing.startsWith("/")) {
            return backing;
        }
        int slash = image.lastIndexOf('/');
        return slash < 0 ? backing : image.substring(0, slash + 1) + backing;
    }
}
