package io.github.qednio.cli;

import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Spec;

/**
 * {@code qed compact [-p] FILE}: moves everything in use to the front of the file and cuts the rest off (see
 * {@link QedImage#compact}); crash-safe, so a kill leaves the data intact.
 */
@Command(name = "compact", description = "Shrink an image file: drop all-zero clusters, lay out data, L2 and L1"
        + " tables again without gaps and in guest order, cut the end off (crash-safe; QEMU has no equivalent).")
final class CompactCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Mixin
    private Options.ProgressBar progress;

    @Mixin
    private Options.Image image;

    @Override
    public Integer call() throws Exception {
        Path file = image.file;
        long before = Files.size(file);
        long after;
        try (QedImage img = QedImage.open(file, OpenOptions.defaults())) {
            RepairNotice.print(spec, file, img.repairAtOpen());
            after = img.compact(progress.listener(spec));
        }
        spec.commandLine().getOut().printf("%s: %d bytes before, %d bytes after%n", file, before, after);
        return 0;
    }
}
