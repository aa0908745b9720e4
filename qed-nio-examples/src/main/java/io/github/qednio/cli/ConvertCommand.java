package io.github.qednio.cli;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.CacheMode;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.ops.ConvertOptions;
import io.github.qednio.ops.ImageConverter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code qed convert [-f FMT] [-O FMT] [-t CACHE] [-o OPTIONS] [-B BACKING [-F FMT]] [-n] [--target-is-zero] [-S SIZE]
 * [-p] SRC DST}, with qemu-img convert's options.
 */
@Command(name = "convert", description = "Copy a raw file or QED or qcow2 image into a raw file or QED image, skipping"
        + " zero regions, as qemu-img convert does.")
final class ConvertCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Mixin
    private Options.Format sourceFormat;

    @Option(names = "-O", paramLabel = "FMT", description = "Target format: raw (default) or qed.")
    private String targetFormat = "raw";

    @Option(names = "-t", paramLabel = "CACHE", description = "Target cache mode: unsafe (default, as in qemu-img"
            + " convert: nothing is synced) or writeback (synced to disk at the end).")
    private String cache = "unsafe";

    @Option(names = "-o", paramLabel = "OPTIONS", split = ",",
            description = "For a new qed target: cluster_size=SIZE, table_size=N.")
    private List<String> options = List.of();

    @Option(names = "-B", paramLabel = "BACKING", description = "Create the qed target over this backing file (name"
            + " stored as given, resolved against the target's directory) and write only what differs from it.")
    private String backing;

    @Option(names = "-F", paramLabel = "FMT", description = "The backing file's format: raw, qed or qcow2"
            + " (default: probed).")
    private String backingFormat;

    @Option(names = "-n", description = "The target exists: write into it instead of creating it (it must be at"
            + " least as large as the source).")
    private boolean existing;

    @Option(names = "--target-is-zero", description = "With -n: the target reads as zeros, so zero regions are"
            + " not written.")
    private boolean targetIsZero;

    @Option(names = "-S", paramLabel = "SIZE", description = "Shortest run of zeros left unwritten (default 4K);"
            + " 0 writes every byte.")
    private String minZeroRun = "4096";

    @Mixin
    private Options.ProgressBar progress;

    @Mixin
    private Options.ForceShare share;

    @Parameters(index = "0", paramLabel = "SRC", description = "The source image.")
    private Path source;

    @Parameters(index = "1", paramLabel = "DST", description = "The target (a new file unless -n).")
    private Path target;

    @Override
    public Integer call() throws Exception {
        ImageFormat to = ImageFormat.parse(targetFormat);
        if (to == ImageFormat.RAW && !options.isEmpty()) {
            throw new IllegalArgumentException("-o options apply only to a qed target (-O qed)");
        }
        if (backingFormat != null && backing == null) {
            throw new IllegalArgumentException("-F needs a backing file (-B)");
        }
        CreateOptions geometry = CreateCommand.applyOptions(CreateOptions.ofSize(0), options);
        ConvertOptions opts = ConvertOptions.to(to).withSourceFormat(sourceFormat.orNull()).withGeometry(geometry)
                .withCacheMode(parseCacheMode(cache)).withExistingTarget(existing).withTargetIsZero(targetIsZero)
                .withMinZeroRun(Sizes.parse(minZeroRun)).withProgress(progress.listener(spec))
                .withForceShare(share.forceShare);
        if (backing != null) {
            opts = opts.withBackingFile(backing, backingFormat == null ? null : ImageFormat.parse(backingFormat));
        }
        if (existing && to == ImageFormat.QED) {
            RepairNotice.repairFirst(spec, target);
        }
        ImageConverter.convert(source, target, opts);
        return 0;
    }

    /** {@code unsafe} or {@code writeback} (any case), qemu-img's {@code -t} names. */
    static CacheMode parseCacheMode(String s) {
        for (CacheMode m : CacheMode.values()) {
            if (m.name().equalsIgnoreCase(s)) {
                return m;
            }
        }
        throw new IllegalArgumentException("cache mode '" + s + "' is not one of unsafe, writeback");
    }
}
