package io.github.qednio.internal.chain;

import io.github.qednio.image.QedImage;
import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Shared helpers for the backing-file tests: patterned files, whole-disk reads, qemu-img output parsing. */
public final class ChainFixtures {
    private ChainFixtures() {
    }

    /** Deterministic non-zero-looking bytes, different per seed. */
    public static byte[] pattern(int size, long seed) {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        return b;
    }

    public static Path writeFile(Path file, byte[] content) throws IOException {
        Files.write(file, content);
        return file;
    }

    /** Every guest byte of the image, read by the engine. */
    public static byte[] readAll(QedImage img) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(Math.toIntExact(img.size()));
        img.readFully(buf, 0);
        return buf.array();
    }

    /** Every guest byte of an image (any chain) as {@code qemu-img convert -O raw} reads it. */
    public static byte[] qemuRead(Path image) throws IOException {
        Path out = image.resolveSibling(image.getFileName() + ".converted.raw");
        Files.deleteIfExists(out);
        Qemu.convertToRaw(image, out);
        byte[] b = Files.readAllBytes(out);
        Files.delete(out);
        return b;
    }

    /** One entry of {@code qemu-img map --output=json}. */
    public record MapEntry(long start, long length, int depth, boolean data) {
        public long end() {
            return start + length;
        }
    }

    public static List<MapEntry> qemuMap(Path image) {
        String json = Qemu.img("map", "--output=json", image.toString()).assertSuccess().stdout();
        Matcher m = Pattern.compile("\\{\\s*\"start\":\\s*(\\d+),\\s*\"length\":\\s*(\\d+),\\s*\"depth\":\\s*(\\d+),"
                + "[^}]*\"data\":\\s*(true|false)").matcher(json);
        List<MapEntry> out = new ArrayList<>();
        while (m.find()) {
            out.add(new MapEntry(Long.parseLong(m.group(1)), Long.parseLong(m.group(2)),
                    Integer.parseInt(m.group(3)), Boolean.parseBoolean(m.group(4))));
        }
        return out;
    }

    /** The depth {@code qemu-img map} reports for every byte of {@code [start, end)}; -1 if they differ. */
    public static int depthOf(List<MapEntry> map, long start, long end) {
        int depth = -2;
        for (MapEntry e : map) {
            if (e.end() <= start || e.start() >= end) {
                continue;
            }
            if (depth != -2 && depth != e.depth()) {
                return -1;
            }
            depth = e.depth();
        }
        return depth;
    }

    /** {@code "filename"} and {@code "format"} of each image in {@code qemu-img info --backing-chain}, top first. */
    public static List<String> qemuChain(Path image) {
        String json = Qemu.img("info", "--backing-chain", "--output=json", image.toString()).assertSuccess().stdout();
        List<String> out = new ArrayList<>();
        for (String obj : json.split("\\},")) {
            Matcher f = Pattern.compile("\"filename\":\\s*\"([^\"]*)\"").matcher(obj);
            Matcher t = Pattern.compile("\"format\":\\s*\"([^\"]*)\"").matcher(obj);
            if (f.find() && t.find()) {
                out.add(Path.of(f.group(1)).getFileName() + ":" + t.group(1));
            }
        }
        return out;
    }

    /** {@code qemu-img compare} of two images of the given formats: true if the guest contents are identical. */
    public static boolean qemuIdentical(Path a, String formatA, Path b, String formatB) {
        Qemu.Result r = Qemu.img("compare", "-f", formatA, "-F", formatB, a.toString(), b.toString());
        if (r.exitCode() > 1) {
            throw new AssertionError("qemu-img compare failed: " + r);
        }
        return r.exitCode() == 0;
    }

    /** Copies every regular file of {@code from} into {@code to} (a fresh directory). */
    public static Path copyDir(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (var s = Files.list(from)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                if (Files.isRegularFile(p)) {
                    Files.copy(p, to.resolve(p.getFileName()));
                }
            }
        }
        return to;
    }
}
