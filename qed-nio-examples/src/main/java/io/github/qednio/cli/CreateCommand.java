package io.github.qednio.cli;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.QedImage;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** {@code qed create [-f qed] [-o cluster_size=..,table_size=..] [-b backing -F raw|qed|qcow2] FILE [SIZE]}. */
@Command(name = "create", description = "Create a new QED image, as qemu-img create -f qed does.")
final class CreateCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Option(names = "-f", paramLabel = "FMT", description = "Image format: qed, the only one qed creates (accepted"
            + " so that qemu-img's command lines work).")
    private String format;

    @Option(names = "-o", paramLabel = "OPTIONS", split = ",",
            description = "Comma-separated cluster_size=SIZE, table_size=N.")
    private java.util.List<String> options = java.util.List.of();

    @Option(names = "-b", paramLabel = "BACKING", description = "Backing file name, stored as given.")
    private String backing;

    @Option(names = "-F", paramLabel = "FMT", description = "Backing file format: raw, qed or qcow2 (default:"
            + " probed).")
    private String backingFormat;

    @Parameters(index = "0", paramLabel = "FILE", description = "The image to create (must not exist).")
    private Path file;

    @Parameters(index = "1", arity = "0..1", paramLabel = "SIZE",
            description = "Virtual size in bytes, with an optional B, K, M, G, T, P or E suffix in either case"
                    + " (binary multiples; a fraction such as 1.5G needs K or more). Default: the backing file's"
                    + " size.")
    private String size;

    @Override
    public Integer call() throws Exception {
        if (format != null && !format.equals("qed")) {
            throw new IllegalArgumentException("-f " + format + ": qed create makes QED images only (-f qed)");
        }
        CreateOptions opts;
        if (backing != null) {
            ImageFormat fmt = backingFormat == null ? null : ImageFormat.parse(backingFormat);
            opts = CreateOptions.overlay(backing, fmt);
            if (size != null) {
                opts = opts.withSize(Sizes.parse(size));
            }
        } else {
            if (backingFormat != null) {
                throw new IllegalArgumentException("-F needs a backing file (-b)");
            }
            if (size == null) {
                throw new IllegalArgumentException("a SIZE is required for an image without a backing file");
            }
            opts = CreateOptions.ofSize(Sizes.parse(size));
        }
        opts = applyOptions(opts, options);
        try (QedImage img = QedImage.create(file, opts)) {
            // qemu-img create's line: the size as requested (the image's is rounded up to 512 bytes), backing_fmt as
            // given, table_size only when given.
            spec.commandLine().getOut().printf("Formatting '%s', fmt=qed size=%d%s cluster_size=%d%s%n", file,
                    size == null ? img.size() : Sizes.parse(size), backing == null ? "" : " backing_file=" + backing
                            + (backingFormat == null ? "" : " backing_fmt=" + backingFormat),
                    img.geometry().clusterSize(), options.stream().anyMatch(o -> o.trim().startsWith("table_size"))
                            ? " table_size=" + img.geometry().tableSize() : "");
        }
        return 0;
    }

    /** Applies qemu-img's {@code -o cluster_size=SIZE,table_size=N} to {@code opts}. */
    static CreateOptions applyOptions(CreateOptions opts, java.util.List<String> options) {
        CreateOptions result = opts;
        for (java.util.Map.Entry<String, String> kv : Options.keyValues(options).entrySet()) {
            String key = kv.getKey();
            String value = kv.getValue();
            switch (key) {
                case "cluster_size" -> result = result.withClusterSize(Sizes.parse(value));
                case "table_size" -> result = result.withTableSize(Sizes.parse(value));
                default -> throw new IllegalArgumentException("unknown -o option '" + key
                        + "' (known: cluster_size, table_size)");
            }
        }
        return result;
    }
}
