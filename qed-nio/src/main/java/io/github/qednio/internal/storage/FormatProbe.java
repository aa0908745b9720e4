package io.github.qednio.internal.storage;

import io.github.qednio.format.QedHeader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * Recognises a disk image's format from its first bytes, as QEMU's block drivers do ({@code bdrv_probe} of each
 * driver, given the first 2048 bytes): QED by its magic, the non-raw formats QEMU knows (qcow, qcow2, vmdk sparse
 * and text descriptor, vdi, vhdx, vpc, luks, bochs, cloop, parallels, and dmg, which QEMU recognises by the file name
 * alone), and anything else raw. This library reads raw and QED, and qcow2 as a backing file, so the other names
 * serve to refuse a file clearly rather than read its metadata as guest data.
 *
 * <p>Every format probe of the library (backing files, the {@code qed:} provider's
 * {@code newFileSystem(Path, env)}, the CLI through {@link LockSafeFiles}) uses this class, and reads through the
 * JVM-wide lock manager ({@link ImageLock}), so a probe never drops an image lock this JVM holds.
 */
public final class FormatProbe {
    /** How many bytes QEMU hands its probes ({@code BLOCK_PROBE_BUF_SIZE}). */
    static final int PROBE_BYTES = 2048;
    public static final String RAW = LockSafeFiles.RAW;
    public static final String QED = LockSafeFiles.QED;
    public static final String QCOW2 = "qcow2";

    private static final byte[] QCOW_MAGIC = {'Q', 'F', 'I', (byte) 0xfb};
    private static final byte[] LUKS_MAGIC = {'L', 'U', 'K', 'S', (byte) 0xba, (byte) 0xbe};
    private static final int VDI_SIGNATURE = 0xbeda107f;
    private static final int VDI_SIGNATURE_OFFSET = 0x40;
    /** {@code sizeof(VdiHeader)} in QEMU: a shorter file is no VDI image. */
    private static final int VDI_HEADER_BYTES = 400;
    private static final String CLOOP_MAGIC = "#!/bin/sh\n#V2.0 Format\nmodprobe cloop file=$0 && mount -r -t iso9660"
            + " /dev/cloop $1\n";

    private FormatProbe() {
    }

    /** The format of {@code file}, read through the lock manager (see {@link LockSafeFiles#probeFormat}). */
    public static String probe(Path file) throws IOException {
        return probe(file, LockTable.jvm());
    }

    /** The format of {@code file}, read through {@code locks} (the JVM's table, or a test's own). */
    static String probe(Path file, LockTable locks) throws IOException {
        ByteBuffer head = locks.read(file, ch -> {
            ByteBuffer b = ByteBuffer.allocate(PROBE_BYTES);
            Buffers.fill(ch::read, b, 0);
            return b.flip();
        });
        return detect(head, file);
    }

    /** The format of the file behind {@code storage}, named {@code file}. */
    public static String probe(Storage storage, Path file) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(PROBE_BYTES);
        Buffers.fill(storage::read, b, 0);
        return detect(b.flip(), file);
    }

    /**
     * The format whose probe claims {@code head} (the file's first bytes, up to {@value #PROBE_BYTES}), as the
     * QEMU 7.2 probe functions decide it; {@code file} matters only for dmg.
     */
    public static String detect(ByteBuffer head, Path file) {
        ByteBuffer b = head.slice().order(ByteOrder.BIG_ENDIAN);
        int n = b.remaining();
        if (n >= QedHeader.HEADER_LENGTH && QedHeader.hasMagic(b.duplicate())) {
            return QED;
        }
        if (startsWith(b, QCOW_MAGIC) && n >= 8) {
            return b.getInt(4) >= 2 ? QCOW2 : b.getInt(4) == 1 ? "qcow" : RAW;
        }
        if (startsWith(b, "KDMV") || startsWith(b, "COWD") || isVmdkDescriptor(b)) {
            return "vmdk";
        }
        if (n >= VDI_HEADER_BYTES && b.duplicate().order(ByteOrder.LITTLE_ENDIAN).getInt(VDI_SIGNATURE_OFFSET)
                == VDI_SIGNATURE) {
            return "vdi";
        }
        if (startsWith(b, "vhdxfile")) {
            return "vhdx";
        }
        if (startsWith(b, "conectix")) {
            return "vpc";
        }
        if (startsWith(b, LUKS_MAGIC)) {
            return "luks";
        }
        if (startsWith(b, "Bochs Virtual HD Image\0")) {
            return "bochs";
        }
        if (startsWith(b, CLOOP_MAGIC)) {
            return "cloop";
        }
        if (startsWith(b, "WithoutFreeSpace") || startsWith(b, "WithouFreSpacExt")) {
            return "parallels";
        }
        Path name = file == null ? null : file.getFileName();
        if (name != null && name.toString().length() > 4 && name.toString().endsWith(".dmg")) {
            return "dmg"; // QEMU's dmg probe looks only at the name, and outscores raw
        }
        return RAW;
    }

    /**
     * QEMU's text-descriptor test for vmdk: after comment lines ({@code #...}) and blank lines, the first line must
     * be {@code version=1}, {@code 2} or {@code 3} (with a Unix or Windows line end).
     */
    private static boolean isVmdkDescriptor(ByteBuffer b) {
        int p = 0;
        int end = b.remaining();
        while (p < end) {
            byte c = b.get(p);
            if (c == '#') {
                while (p < end && b.get(p) != '\n') {
                    p++;
                }
                p++;
            } else if (c == ' ') {
                while (p < end && b.get(p) == ' ') {
                    p++;
                }
                if (p < end && b.get(p) == '\r') {
                    p++;
                }
                if (p == end || b.get(p) != '\n') {
                    return false; // only blank lines may precede the version line
                }
                p++;
            } else {
                for (String version : new String[] {"version=1", "version=2", "version=3"}) {
                    for (String eol : new String[] {"\n", "\r\n"}) {
                        byte[] line = (version + eol).getBytes(StandardCharsets.US_ASCII);
                        if (end - p >= line.length && matches(b, p, line)) {
                            return true;
                        }
                    }
                }
                return false;
            }
        }
        return false;
    }

    private static boolean startsWith(ByteBuffer b, String magic) {
        return startsWith(b, magic.getBytes(StandardCharsets.ISO_8859_1));
    }

    private static boolean startsWith(ByteBuffer b, byte[] magic) {
        return b.remaining() >= magic.length && matches(b, 0, magic);
    }

    private static boolean matches(ByteBuffer b, int at, byte[] bytes) {
        for (int i = 0; i < bytes.length; i++) {
            if (b.get(at + i) != bytes[i]) {
                return false;
            }
        }
        return true;
    }
}
