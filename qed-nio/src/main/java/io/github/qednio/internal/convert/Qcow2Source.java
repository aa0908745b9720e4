package io.github.qednio.internal.convert;

import io.github.qednio.ops.ConversionRefusedException;
import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.MappedExtent;
import io.github.qednio.format.Qcow2Header;
import io.github.qednio.internal.qcow2.Qcow2Image;
import java.io.IOException;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;

/** Reads a qcow2 image, through {@link Qcow2Image}'s {@link io.github.qednio.image.BlockMapping}, into a {@link SourceLayout}. */
public final class Qcow2Source {
    private Qcow2Source() {
    }

    /**
     * Describes {@code image}, whose file is {@code fileLength} bytes long now.
     *
     * @throws io.github.qednio.format.QedFormatException naming a feature an in-place conversion cannot keep
     */
    public static SourceLayout read(Qcow2Image image, long fileLength) throws IOException {
        image.requireConvertible();
        Qcow2Header h = image.header();
        long cs = h.clusterSize();
        List<SourceLayout.Run> runs = runs(image, fileLength);
        List<long[]> used = new ArrayList<>();
        used.add(new long[] {0, h.extensionsEnd()});
        if (h.backingFile() != null) {
            used.add(new long[] {h.backingFileOffset(), h.backingFileOffset() + h.backingFileSize()});
        }
        long freeFrom = (fileLength + cs - 1) / cs * cs;
        return new SourceLayout(ImageFormat.QCOW2, h.size(), cs, h.backingFile(), h.backingFormat(), fileLength,
                freeFrom, used, runs);
    }

    /**
     * Refuses a damaged image that is already qcow2, with the reasons a conversion would give: the corrupt bit, a
     * table or data cluster outside the file, a host cluster mapped twice.
     *
     * @throws io.github.qednio.format.QedFormatException or {@link ConversionRefusedException} naming the damage
     */
    public static void requireIntact(Qcow2Image image, long fileLength) throws IOException {
        if ((image.header().incompatibleFeatures() & Qcow2Header.INCOMPAT_CORRUPT) != 0) {
            throw new ConversionRefusedException("corrupt bit", image.path() + ": the qcow2 corrupt bit is set; run"
                    + " 'qemu-img check -r all' first", null);
        }
        runs(image, fileLength);
    }

    /** The image's own runs, each host cluster checked to be inside the file and mapped once. */
    private static List<SourceLayout.Run> runs(Qcow2Image image, long fileLength) throws IOException {
        long cs = image.header().clusterSize();
        if (fileLength / cs >= Integer.MAX_VALUE) {
            throw new ConversionRefusedException("file size", image.path() + ": more than 2^31 clusters of " + cs
                    + " bytes are not converted in place", null);
        }
        List<SourceLayout.Run> runs = new ArrayList<>();
        BitSet hosts = new BitSet();
        for (MappedExtent e : image.map(0, image.size())) {
            switch (e.type()) {
                case DATA -> {
                    // Without internal snapshots a data cluster has one user: a second is corruption, which a
                    // QED image could not express either. (Compressed clusters have no host offset here.)
                    for (long host = e.hostOffset(); host >= 0 && host < e.hostOffset() + e.length(); host += cs) {
                        int c = Math.toIntExact(host / cs);
                        if (hosts.get(c)) {
                            throw new ConversionRefusedException("corruption", image.path() + ": host cluster at"
                                    + " offset " + host + " is mapped twice; run 'qemu-img check -r all' first", null);
                        }
                        hosts.set(c);
                    }
                    runs.add(new SourceLayout.Run(e.start(), e.length(), e.hostOffset()));
                }
                case ZERO -> runs.add(new SourceLayout.Run(e.start(), e.length(), -1));
                case UNALLOCATED -> { }
            }
        }
        return runs;
    }
}
