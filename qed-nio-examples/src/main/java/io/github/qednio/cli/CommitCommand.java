package io.github.qednio.cli;

import io.github.qednio.ops.BackingOperations;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.image.ImageFormat;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code qed commit [-f qed] [-t CACHE] [-b BASE] [-d] [-p] [-q] FILE}, as qemu-img commit. */
@Command(name = "commit", description = "Write an overlay's content down into its backing file (or, with -b, into a"
        + " deeper image of its chain), as qemu-img commit does. The overlay keeps its clusters (QED cannot empty an"
        + " image), so -d changes nothing.")
final class CommitCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Mixin
    private Options.Format format;

    @Mixin
    private Options.WriteCache cache;

    @Option(names = "-b", paramLabel = "BASE", description = "The image of the backing chain to commit into"
            + " (default: the backing file).")
    private Path base;

    @Option(names = "-d", description = "Do not empty the overlay (QED never does).")
    private boolean keep;

    @Mixin
    private Options.Quiet quiet;

    @Mixin
    private Options.ProgressBar progress;

    @Mixin
    private Options.Image image;

    @Override
    public Integer call() throws Exception {
        if (format.orNull() == ImageFormat.RAW) {
            throw new IllegalArgumentException(image.file + ": a raw image has no backing file to commit into");
        }
        Path into = base;
        if (into == null) {
            try (QedImage top = QedImage.openWithoutBacking(image.file, OpenOptions.readOnlyDefaults())) {
                into = top.backingFile();
            }
        }
        if (into != null) { // the commit opens it read-write, which repairs it if it was not closed cleanly
            RepairNotice.repairFirst(spec, into);
        }
        BackingOperations.commit(image.file, base, cache.openOptions(), progress.listener(spec));
        quiet.println(spec, "Image committed.");
        return 0;
    }
}
