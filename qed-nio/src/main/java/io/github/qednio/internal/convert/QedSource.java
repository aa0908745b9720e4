package io.github.qednio.internal.convert;

import io.github.qednio.ops.ConversionRefusedException;
import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.CheckResult;
import io.github.qednio.image.MappedExtent;
import io.github.qednio.image.QedImage;
import io.github.qednio.image.Repair;
import io.github.qednio.format.QedHeader;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/** Reads a QED image, through the engine, into a {@link SourceLayout}. */
public final class QedSource {
    private QedSource() {
    }

    /**
     * Refuses an image whose check finds corruption or unreadable tables, naming what it found.
     *
     * @param repairedByConversion whether a conversion would repair the image first if it was not closed cleanly
     *                             (a conversion to another format does)
     * @throws ConversionRefusedException if the check finds corruption
     */
    public static void requireConsistent(QedImage image, boolean repairedByConversion) throws IOException {
        CheckResult check = image.check(Repair.NONE);
        if (!check.isConsistent()) {
            String found = check.corruptions() + " corruption(s), " + check.checkErrors() + " unreadable table(s)";
            throw new ConversionRefusedException("corruption", image.needsCheck() && repairedByConversion
                    ? image.path() + ": the QED image was not closed cleanly and is corrupt (" + found + "); a"
                            + " conversion repairs it first, or run 'qed check -r all'"
                    : image.path() + ": the QED image is corrupt (" + found + "); run 'qed check -r all' first",
                    null);
        }
    }

    /**
     * Describes {@code image}, whose file is {@code fileLength} bytes long now.
     *
     * @throws ConversionRefusedException if the check finds corruption
     */
    public static SourceLayout read(QedImage image, long fileLength) throws IOException {
        requireConsistent(image, true);
        List<SourceLayout.Run> runs = new ArrayList<>();
        for (MappedExtent e : image.map(0, image.size())) {
            if (e.depth() != 0) {
                continue; // the backing file's: stays unallocated in the new format
            }
            switch (e.type()) {
                case DATA -> runs.add(new SourceLayout.Run(e.start(), e.length(), e.hostOffset()));
                case ZERO -> runs.add(new SourceLayout.Run(e.start(), e.length(), -1));
                case UNALLOCATED -> { }
            }
        }
        QedHeader h = image.header();
        long cs = h.clusterSize();
        List<long[]> used = new ArrayList<>();
        used.add(new long[] {0, QedHeader.HEADER_LENGTH});
        String backing = image.backingFileName();
        String backingFormat = null;
        if (backing != null) {
            used.add(new long[] {h.backingFilenameOffset(), h.backingFilenameOffset() + h.backingFilenameSize()});
            backingFormat = image.backingFormat() == ImageFormat.RAW ? "raw" : "qed";
        }
        long freeFrom = (fileLength + cs - 1) / cs * cs;
        return new SourceLayout(ImageFormat.QED, image.size(), cs, backing, backingFormat, fileLength, freeFrom,
                used, runs);
    }
}
