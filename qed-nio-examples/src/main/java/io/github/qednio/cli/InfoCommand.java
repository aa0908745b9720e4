package io.github.qednio.cli;

import io.github.qednio.engine.OpenOptions;
import io.github.qednio.engine.QedImage;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code qed info [--output=json] FILE}: what qemu-img info shows, plus the QED specifics. */
@Command(name = "info", description = "Show an image's geometry, backing file, NEED_CHECK state and allocation.")
final class InfoCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Mixin
    private Options.Output output;

    @Mixin
    private Options.Image image;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        try (QedImage img = QedImage.open(image.file, OpenOptions.readOnlyDefaults())) {
            long fileLength = Files.size(image.file);
            long allocated = img.allocatedBytes();
            String backingFormat = img.backingFormat() == null ? null
                    : img.backingFormat().name().toLowerCase(Locale.ROOT);
            if (output.json()) {
                Json j = new Json()
                        .put("filename", image.file.toString())
                        .put("format", "qed")
                        .put("virtual-size", img.size())
                        .put("cluster-size", img.geometry().clusterSize())
                        .put("table-size", img.geometry().tableSize())
                        .put("file-length", fileLength)
                        .put("allocated-bytes", allocated)
                        .put("needs-check", img.needsCheck());
                if (img.backingFileName() != null) {
                    j.put("backing-filename", img.backingFileName())
                            .put("full-backing-filename", img.backingFile().toString())
                            .put("backing-filename-format", backingFormat);
                }
                out.println(j.render());
            } else {
                out.println("image: " + image.file);
                out.println("file format: qed");
                out.println("virtual size: " + Sizes.human(img.size()) + " (" + img.size() + " bytes)");
                out.println("file length: " + Sizes.human(fileLength) + " (" + fileLength + " bytes)");
                out.println("cluster_size: " + img.geometry().clusterSize());
                out.println("table_size: " + img.geometry().tableSize());
                if (img.backingFileName() != null) {
                    out.println("backing file: " + img.backingFileName() + (img.backingFile().toString()
                            .equals(img.backingFileName()) ? "" : " (actual path: " + img.backingFile() + ")"));
                    out.println("backing file format: " + backingFormat);
                }
                out.println("needs check: " + (img.needsCheck() ? "yes" : "no"));
                out.println("allocated bytes: " + allocated);
            }
        }
        return 0;
    }
}
