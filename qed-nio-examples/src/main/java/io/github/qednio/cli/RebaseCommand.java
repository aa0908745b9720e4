package io.github.qednio.cli;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.ops.BackingOperations;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code qed rebase [-f qed] [-t CACHE] [-p] [-u] -b BACKING [-F FMT] FILE}, as qemu-img rebase. */
@Command(name = "rebase", description = "Change an overlay's backing file, as qemu-img rebase does: the safe mode"
        + " first copies into the overlay every cluster that would read differently through the new backing file;"
        + " -u only rewrites the header. -b '' makes the image standalone.")
final class RebaseCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Mixin
    private Options.Format format;

    @Mixin
    private Options.WriteCache cache;

    @Option(names = "-u", description = "Unsafe: rewrite the backing reference only; neither backing file is"
            + " read (either may be missing).")
    private boolean unsafe;

    @Option(names = "-b", required = true, paramLabel = "BACKING", description = "The new backing file name, stored"
            + " as given and resolved against the image's directory; '' for none.")
    private String backing;

    @Option(names = "-F", paramLabel = "FMT", description = "The new backing file's format: raw, qed or qcow2 (default:"
            + " probed; raw is recorded in the header).")
    private String backingFormat;

    @Mixin
    private Options.Quiet quiet;

    @Mixin
    private Options.ProgressBar progress;

    @Mixin
    private Options.Image image;

    @Override
    public Integer call() throws Exception {
        if (format.orNull() == ImageFormat.RAW) {
            throw new IllegalArgumentException(image.file + ": a raw image has no backing file to change");
        }
        String name = backing.isEmpty() ? null : backing;
        ImageFormat fmt = backingFormat == null || name == null ? null : ImageFormat.parse(backingFormat);
        RepairNotice.repairFirst(spec, image.file);
        if (unsafe) {
            BackingOperations.rebaseUnsafe(image.file, name, fmt);
        } else {
            BackingOperations.rebase(image.file, name, fmt, cache.openOptions(), progress.listener(spec));
        }
        return 0;
    }
}
