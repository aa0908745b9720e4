package io.github.qednio.cli;

import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.internal.qemuio.QemuIo;
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
 * {@code qed io [-r] [-f qed] -c COMMAND [-c COMMAND ...] IMAGE}: qemu-io's commands, run in order by the library's
 * {@link QemuIo}, with qemu-io's output and exit code (1 if any command failed; the others still run).
 */
@Command(name = "io", description = {"Run qemu-io commands on an image, in order, as qemu-io -c does:",
        "write [-P pattern | -z] [-q] OFF LEN, read [-P pattern [-s OFF] [-l LEN]] [-v] [-q] OFF LEN,"
                + " discard [-q] OFF LEN, map, flush.",
        "Exits 1 if any command failed (a read -P whose data differs, a write past the end, ...)."})
final class IoCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Option(names = "-r", description = "Open the image read-only (writes are refused).")
    private boolean readOnly;

    @Option(names = "-f", paramLabel = "FMT", description = "The image format: qed (the only one).")
    private String format;

    @Mixin
    private Options.ForceShare share;

    @Option(names = "-c", paramLabel = "COMMAND", required = true,
            description = "A qemu-io command; repeat for several, run in order.")
    private List<String> commands;

    @Parameters(paramLabel = "IMAGE", description = "The QED image.")
    private Path image;

    @Override
    public Integer call() throws Exception {
        if (format != null && !format.equals("qed")) {
            throw new IllegalArgumentException("-f " + format + ": qed io opens QED images only (-f qed)");
        }
        if (!readOnly) {
            share.refuseForWriting("without -r the image is opened for writing");
        }
        try (QedImage img = QedImage.open(image, readOnly ? share.readOnly() : OpenOptions.defaults())) {
            RepairNotice.print(spec, image, img.repairAtOpen());
            QemuIo io = new QemuIo(img, spec.commandLine().getOut(), spec.commandLine().getErr());
            boolean ok = true;
            for (String c : commands) {
                ok &= io.execute(c);
            }
            return ok ? 0 : 1;
        }
    }
}
