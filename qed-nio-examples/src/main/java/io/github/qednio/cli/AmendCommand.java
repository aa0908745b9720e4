package io.github.qednio.cli;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.ops.BackingOperations;
import io.github.qednio.ops.ImageInfo;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code qed amend -o backing_file=NAME,backing_fmt=FMT FILE}: the header fields a QED image can change (qemu-img
 * 7.2 cannot amend QED images at all). Only the header is rewritten, as {@code rebase -u}.
 */
@Command(name = "amend", description = "Change an image's backing_file and backing_fmt in its header (no data is"
        + " copied, as rebase -u). backing_file= (empty) removes the backing file.")
final class AmendCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Mixin
    private Options.Format format;

    @Option(names = "-o", required = true, paramLabel = "OPTIONS", split = ",",
            description = "backing_file=NAME and/or backing_fmt=raw|qed|qcow2.")
    private List<String> options;

    @Mixin
    private Options.Image image;

    @Override
    public Integer call() throws Exception {
        if (format.orNull() == ImageFormat.RAW) {
            throw new IllegalArgumentException(image.file + ": a raw image has no header to amend");
        }
        ImageInfo now = ImageInfo.of(image.file, ImageFormat.QED);
        String name = now.backingFilename();
        ImageFormat fmt = now.backingFormat();
        boolean nameGiven = false;
        for (java.util.Map.Entry<String, String> kv : Options.keyValues(options).entrySet()) {
            String key = kv.getKey();
            String value = kv.getValue();
            switch (key) {
                case "backing_file" -> {
                    name = value.isEmpty() ? null : value;
                    nameGiven = true;
                }
                case "backing_fmt" -> fmt = ImageFormat.parse(value);
                case "cluster_size", "table_size" -> throw new IllegalArgumentException("'" + key + "' cannot be"
                        + " changed on an existing image (convert it with -o " + key + "=... instead)");
                default -> throw new IllegalArgumentException("unknown -o option '" + key
                        + "' (amend knows: backing_file, backing_fmt)");
            }
        }
        if (name == null && !nameGiven) {
            throw new IllegalArgumentException(image.file + ": has no backing file; give backing_file=NAME");
        }
        RepairNotice.repairFirst(spec, image.file);
        BackingOperations.rebaseUnsafe(image.file, name, name == null ? null : fmt);
        return 0;
    }
}
