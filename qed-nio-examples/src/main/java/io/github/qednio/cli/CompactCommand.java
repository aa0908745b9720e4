package io.github.qednio.cli;

import io.github.qednio.engine.OpenOptions;
import io.github.qednio.engine.QedImage;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code qed compact [-p] FILE}: moves the image's data to the front of the file and cuts the rest off (see
 * {@link QedImage#compact}); crash-safe, so a kill leaves the data intact.
 */
@Command(name = "compact", description = "Shrink an image file: move clusters into free space, drop all-zero"
        + " clusters, cut the end off (crash-safe; QEMU has no equivalent).")
final class CompactCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Option(names = "-p", description = "Show progress, as qemu-img -p does.")
    private boolean progress;

    @Parameters(paramLabel = "FILE", description = "The QED image.")
    private Path file;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        long before = Files.size(file);
        long after;
        try (QedImage img = QedImage.open(file, OpenOptions.defaults())) {
            after = img.compact((done, total) -> {
                if (progress) {
                    out.printf(Locale.ROOT, "    (%.2f/100%%)\r", total == 0 ? 100.0 : done * 100.0 / total);
                    out.flush();
                }
            });
        }
        if (progress) {
            out.println();
        }
        out.printf("%s: %d bytes before, %d bytes after%n", file, before, after);
        return 0;
    }
}
