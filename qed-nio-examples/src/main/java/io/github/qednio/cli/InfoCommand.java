package io.github.qednio.cli;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.ops.ImageInfo;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code qed info [-f FMT] [--output=json] [--backing-chain] FILE}: qemu-img info's keys, values and text (for
 * qcow2, its "Format specific information" too). JSON adds {@code table-size} and {@code allocated-bytes} for QED
 * images (the latter not when a table entry is invalid).
 */
@Command(name = "info", description = "Show an image's format, sizes, backing file and dirty flag, as qemu-img info"
        + " does (read-only; the backing file is not opened unless --backing-chain).")
final class InfoCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Mixin
    private Options.Output output;

    @Mixin
    private Options.Format format;

    @Option(names = "--backing-chain", description = "Show every image of the backing chain, top first.")
    private boolean backingChain;

    @Mixin
    private Options.ForceShare share;

    @Mixin
    private Options.Image image;

    @Override
    public Integer call() throws Exception {
        List<ImageInfo> infos = backingChain ? ImageInfo.chain(image.file, format.orNull(), share.forceShare)
                : List.of(ImageInfo.of(image.file, format.orNull(), share.forceShare));
        PrintWriter out = spec.commandLine().getOut();
        if (output.json()) {
            if (backingChain) {
                List<Json> all = new ArrayList<>();
                for (ImageInfo i : infos) {
                    all.add(json(i));
                }
                out.println(Json.renderArray(all));
            } else {
                out.println(json(infos.get(0)).render());
            }
        } else {
            String sep = "";
            for (ImageInfo i : infos) {
                out.print(sep);
                printHuman(out, i);
                sep = System.lineSeparator();
            }
        }
        return 0;
    }

    /** qemu-img's keys, in qemu-img's order, then ours. */
    static Json json(ImageInfo i) {
        Json j = new Json();
        if (i.backingFormat() != null) {
            j.put("backing-filename-format", name(i.backingFormat()));
        }
        j.put("virtual-size", i.virtualSize()).put("filename", i.filename());
        if (i.clusterSize() != 0) {
            j.put("cluster-size", i.clusterSize());
        }
        j.put("format", i.format().toString()).put("actual-size", i.actualSize());
        ImageInfo.Qcow2Details q = i.qcow2();
        if (q != null) {
            j.put("format-specific", new Json().put("type", "qcow2").put("data", qcow2Json(q)));
        }
        if (i.backingFilename() != null) {
            j.put("full-backing-filename", i.fullBackingFilename()).put("backing-filename", i.backingFilename());
        }
        j.put("dirty-flag", i.dirty());
        if (i.format() == ImageFormat.QED) {
            j.put("table-size", i.tableSize());
            if (i.allocatedBytes() >= 0) {
                j.put("allocated-bytes", i.allocatedBytes());
            }
        }
        return j;
    }

    /** QEMU's {@code ImageInfoSpecificQCow2}, in the order qemu-img prints it. */
    private static Json qcow2Json(ImageInfo.Qcow2Details q) {
        Json d = new Json().put("compat", q.compat()).put("compression-type", q.compressionType());
        if (q.version() >= 3) {
            d.put("lazy-refcounts", q.lazyRefcounts());
        }
        d.put("refcount-bits", q.refcountBits());
        if (q.version() >= 3) {
            d.put("corrupt", q.corrupt()).put("extended-l2", q.extendedL2());
        }
        return d;
    }

    /** qemu-img's {@code bdrv_image_info_dump}. */
    private static void printHuman(PrintWriter out, ImageInfo i) {
        out.println("image: " + i.filename());
        out.println("file format: " + i.format());
        out.println("virtual size: " + Sizes.human(i.virtualSize()) + " (" + i.virtualSize() + " bytes)");
        out.println("disk size: " + Sizes.human(i.actualSize()));
        if (i.clusterSize() != 0) {
            out.println("cluster_size: " + i.clusterSize());
        }
        if (i.dirty()) {
            out.println("cleanly shut down: no");
        }
        if (i.backingFilename() != null) {
            out.println("backing file: " + i.backingFilename()
                    + (i.fullBackingFilename().equals(i.backingFilename()) ? ""
                    : " (actual path: " + i.fullBackingFilename() + ")"));
            if (i.backingFormat() != null) {
                out.println("backing file format: " + name(i.backingFormat()));
            }
        }
        ImageInfo.Qcow2Details q = i.qcow2();
        if (q != null) {
            out.println("Format specific information:");
            out.println("    compat: " + q.compat());
            out.println("    compression type: " + q.compressionType());
            if (q.version() >= 3) {
                out.println("    lazy refcounts: " + q.lazyRefcounts());
            }
            out.println("    refcount bits: " + q.refcountBits());
            if (q.version() >= 3) {
                out.println("    corrupt: " + q.corrupt());
                out.println("    extended l2: " + q.extendedL2());
            }
        }
    }

    private static String name(Enum<?> e) {
        return e.name().toLowerCase(Locale.ROOT);
    }
}
