package io.github.qednio.cli;

import io.github.qednio.ops.ConversionReport;
import io.github.qednio.image.ImageFormat;
import io.github.qednio.ops.InPlaceConverter;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code qed convert-in-place [-p] [--dry-run] -O qcow2|qed IMAGE}: rewrites the mapping, the data stays put. */
@Command(name = "convert-in-place", description = "Convert a QED image to qcow2, or a qcow2 image to QED, in place:"
        + " only new metadata is written, the data never moves, and a crash at any point leaves a valid image.")
final class ConvertInPlaceCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Option(names = "-O", required = true, paramLabel = "FMT", description = "Target format: qcow2 or qed.")
    private String targetFormat;

    @Mixin
    private Options.ProgressBar progress;

    @Option(names = "--dry-run", description = "Report what would be written, or why the image is refused, without"
            + " changing the file.")
    private boolean dryRun;

    @Parameters(paramLabel = "IMAGE", description = "The image file.")
    private Path image;

    @Override
    public Integer call() throws Exception {
        ImageFormat to = targetFormat.equalsIgnoreCase("qed") || targetFormat.equalsIgnoreCase("qcow2")
                ? ImageFormat.parse(targetFormat) : null;
        if (to == null) {
            throw new IllegalArgumentException("-O: unknown image format '" + targetFormat + "' (qed or qcow2)");
        }
        PrintWriter out = spec.commandLine().getOut();
        if (dryRun) {
            ConversionReport r = InPlaceConverter.dryRun(image, to);
            if (r.alreadyConverted()) {
                out.printf("%s is already a %s image; nothing to do%n", image, to.qemuName());
            } else {
                out.printf("%s: would convert %s to %s in place: %d bytes of new metadata, file size %d -> %d"
                        + " bytes%n", image, r.from().qemuName(), to.qemuName(), r.metadataBytes(), r.sizeBefore(),
                        r.sizeAfter());
            }
            return 0;
        }
        if (to != ImageFormat.QED) { // the conversion repairs it first, as a read-write open does
            RepairNotice.repairFirst(spec, image);
        }
        ConversionReport r = InPlaceConverter.convert(image, to, progress.listener(spec));
        if (r.alreadyConverted()) {
            out.printf("%s is already a %s image; nothing to do%n", image, to.qemuName());
        } else {
            out.printf("%s: converted %s to %s in place (%d bytes of new metadata, file size %d bytes)%n", image,
                    r.from().qemuName(), to.qemuName(), r.metadataBytes(), r.sizeAfter());
        }
        return 0;
    }
}
