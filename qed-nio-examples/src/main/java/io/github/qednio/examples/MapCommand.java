package io.github.qednio.examples;

import io.github.qednio.engine.Extent;
import io.github.qednio.engine.OpenOptions;
import io.github.qednio.engine.QedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code qed map [--output=json] FILE}: the image's extents through its backing chain, as qemu-img map shows. */
@Command(name = "map", description = "List the image's extents (data, zero, unallocated), as qemu-img map does.")
final class MapCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Option(names = "--output", paramLabel = "FMT", description = "human (default: data extents only) or json.")
    private OutputFormat output = OutputFormat.human;

    @Parameters(paramLabel = "FILE", description = "The QED image.")
    private Path file;

    /** One run of guest bytes, with qemu-img map's attributes; {@code offset} is -1 when there is none. */
    record Entry(long start, long length, int depth, boolean present, boolean zero, boolean data, long offset,
                 Path file) {
        boolean continuedBy(Entry n) {
            return start + length == n.start && depth == n.depth && present == n.present && zero == n.zero
                    && data == n.data && java.util.Objects.equals(file, n.file)
                    && (offset < 0 ? n.offset < 0 : n.offset == offset + length);
        }

        Entry extendedBy(Entry n) {
            return new Entry(start, length + n.length, depth, present, zero, data, offset, file);
        }
    }

    @Override
    public Integer call() throws Exception {
        List<Entry> entries = new ArrayList<>();
        try (QedImage img = QedImage.open(file, OpenOptions.readOnlyDefaults())) {
            map(img, file, 0, img.size(), 0, entries);
        }
        PrintWriter out = spec.commandLine().getOut();
        if (output == OutputFormat.json) {
            out.print("[");
            String sep = "";
            for (Entry e : entries) {
                Json j = new Json().put("start", e.start()).put("length", e.length()).put("depth", e.depth())
                        .put("present", e.present()).put("zero", e.zero()).put("data", e.data());
                if (e.offset() >= 0) {
                    j.put("offset", e.offset());
                }
                out.print(sep + j.renderCompact());
                sep = ",\n";
            }
            out.println("]");
        } else {
            out.printf("%-16s%-16s%-16s%s%n", "Offset", "Length", "Mapped to", "File");
            for (Entry e : entries) {
                if (e.data() && e.offset() >= 0) {
                    out.printf("%-16s%-16s%-16s%s%n", hex(e.start()), hex(e.length()), hex(e.offset()), e.file());
                }
            }
        }
        return 0;
    }

    /** C's {@code %#x}: no prefix for zero. */
    private static String hex(long v) {
        return v == 0 ? "0" : "0x" + Long.toHexString(v);
    }

    /** Adds the entries for guest range {@code [start, end)} of {@code img} (at chain depth {@code depth}). */
    static void map(QedImage img, Path file, long start, long end, int depth, List<Entry> out) throws IOException {
        long pos = start;
        while (pos < end) {
            Extent e = img.extentAt(pos);
            long stop = Math.min(e.end(), end);
            switch (e.kind()) {
                case DATA -> add(out, new Entry(pos, stop - pos, depth, true, false, true, e.hostOffset(), file));
                case ZERO -> add(out, new Entry(pos, stop - pos, depth, true, true, false, -1, null));
                case UNALLOCATED -> mapBacking(img, file, pos, stop, depth, out);
            }
            pos = stop;
        }
    }

    private static void mapBacking(QedImage img, Path file, long pos, long stop, int depth, List<Entry> out)
            throws IOException {
        if (img.backingFile() == null) {
            add(out, new Entry(pos, stop - pos, depth, false, true, false, -1, null));
            return;
        }
        QedImage base = img.backingImage();
        // Named as qemu-img names it: the stored name, relative to the directory of the image above as given.
        Path baseName = file.resolveSibling(img.backingFileName());
        long baseSize = base != null ? base.size() : Files.size(img.backingFile());
        long inside = Math.max(pos, Math.min(stop, baseSize));
        if (inside > pos) {
            if (base != null) {
                map(base, baseName, pos, inside, depth + 1, out);
            } else {
                add(out, new Entry(pos, inside - pos, depth + 1, true, false, true, pos, baseName));
            }
        }
        if (stop > inside) {
            add(out, new Entry(inside, stop - inside, 0, false, true, false, -1, null));
        }
    }

    private static void add(List<Entry> out, Entry e) {
        int last = out.size() - 1;
        if (last >= 0 && out.get(last).continuedBy(e)) {
            out.set(last, out.get(last).extendedBy(e));
        } else {
            out.add(e);
        }
    }
}
