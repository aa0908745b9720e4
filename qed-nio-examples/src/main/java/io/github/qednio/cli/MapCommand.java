package io.github.qednio.cli;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.MappedExtent;
import io.github.qednio.image.QedImage;
import io.github.qednio.format.QedFormatException;
import io.github.qednio.ops.ImageMap;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code qed map [-f FMT] [--output=json] FILE}: the extents of a QED or qcow2 image through its backing chain, as
 * qemu-img map shows them.
 */
@Command(name = "map", description = "List the image's extents (data, zero, unallocated), as qemu-img map does.")
final class MapCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Mixin
    private Options.Output output;

    @Mixin
    private Options.Format format;

    @Mixin
    private Options.ForceShare share;

    @Mixin
    private Options.Image image;

    @Override
    public Integer call() throws Exception {
        List<MappedExtent> entries;
        QedFormatException failure = null;
        ImageFormat f = format.orNull() != null ? format.orNull() : ImageFormat.probe(image.file);
        if (f == ImageFormat.QCOW2) {
            ImageMap.Partial mapped = ImageMap.qcow2UpToFailure(image.file, share.forceShare);
            entries = mapped.extents();
            failure = mapped.failure();
        } else {
            try (QedImage img = QedImage.open(image.file, share.readOnly())) {
                try {
                    entries = img.map(0, img.size());
                } catch (QedFormatException e) {
                    failure = e;
                    entries = printedBefore(img);
                }
            }
        }
        PrintWriter out = spec.commandLine().getOut();
        if (output.json()) {
            out.print("[");
            String sep = "";
            for (MappedExtent e : entries) {
                boolean data = e.type() == MappedExtent.Type.DATA;
                Json j = new Json().put("start", e.start()).put("length", e.length()).put("depth", e.depth())
                        .put("present", e.type() != MappedExtent.Type.UNALLOCATED).put("zero", !data)
                        .put("data", data);
                // Compressed qcow2 clusters have none, a qcow2 zero cluster may keep one: as QEMU prints them.
                if (e.hostOffset() >= 0) {
                    j.put("offset", e.hostOffset());
                }
                out.print(sep + j.renderCompact());
                sep = ",\n";
            }
            out.print(failure == null ? "]\n" : sep);
        } else {
            out.printf("%-16s%-16s%-16s%s%n", "Offset", "Length", "Mapped to", "File");
            for (MappedExtent e : entries) {
                if (e.type() == MappedExtent.Type.DATA && e.hostOffset() < 0) {
                    out.flush();
                    throw new IOException(image.file + ": File contains external, encrypted or compressed"
                            + " clusters."); // qemu-img map's human output stops there too
                }
                if (e.type() == MappedExtent.Type.DATA) {
                    out.printf("%-16s%-16s%-16s%s%n", hex(e.start()), hex(e.length()), hex(e.hostOffset()),
                            e.file());
                }
            }
        }
        if (failure != null) {
            out.flush();
            throw failure;
        }
        return 0;
    }

    /**
     * What qemu-img map prints before it stops at an invalid table entry: the extents before the first cluster that
     * cannot be mapped, less the last one (qemu-img was still extending it). Found by bisection over the clusters.
     */
    private static List<MappedExtent> printedBefore(QedImage img) throws IOException {
        long cs = img.geometry().clusterSize();
        long good = 0;
        long bad = (img.size() + cs - 1) / cs;
        while (bad - good > 1) {
            long mid = (good + bad) >>> 1;
            try {
                img.map(0, mid * cs);
                good = mid;
            } catch (QedFormatException e) {
                bad = mid;
            }
        }
        List<MappedExtent> mapped = good == 0 ? List.of() : img.map(0, good * cs);
        return mapped.isEmpty() ? mapped : mapped.subList(0, mapped.size() - 1);
    }

    /** C's {@code %#x}: no prefix for zero. */
    private static String hex(long v) {
        return v == 0 ? "0" : "0x" + Long.toHexString(v);
    }
}
