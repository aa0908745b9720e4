package io.github.qednio.cli;

import io.github.qednio.ops.ImageComparator;
import io.github.qednio.ops.ImageComparator.Comparison;
import io.github.qednio.ops.ImageComparator.Mismatch;
import io.github.qednio.image.ImageFormat;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code qed compare [-f FMT] [-F FMT] [-s] [-q] [-p] A B}: qemu-img compare's messages and exit codes (0 identical,
 * 1 different, 2 error).
 */
@Command(name = "compare", exitCodeOnExecutionException = 2,
        description = "Compare the guest content of two images (raw, QED or qcow2, backing chains included), as"
                + " qemu-img compare does. Exit code: 0 identical, 1 different, 2 error.")
final class CompareCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Mixin
    private Options.Format formatA;

    @Option(names = "-F", paramLabel = "FMT", description = "The second image's format: raw, qed or"
            + " qcow2 (default: probed).")
    private String formatB;

    @Option(names = "-s", description = "Strict: images of different sizes, or with different allocation (data,"
            + " zero, unallocated), differ.")
    private boolean strict;

    @Mixin
    private Options.Quiet quiet;

    @Mixin
    private Options.ProgressBar progress;

    @Mixin
    private Options.ForceShare share;

    @Parameters(index = "0", paramLabel = "A", description = "The first image.")
    private Path a;

    @Parameters(index = "1", paramLabel = "B", description = "The second image.")
    private Path b;

    @Override
    public Integer call() throws Exception {
        Comparison c = ImageComparator.compare(a, formatA.orNull(), b,
                formatB == null ? null : ImageFormat.parse(formatB), strict, share.forceShare, progress.listener(spec));
        PrintWriter out = quiet.quiet ? new PrintWriter(PrintWriter.nullWriter()) : spec.commandLine().getOut();
        // qemu-img warns when it goes on past the end of the smaller image, so not after a mismatch before it.
        boolean pastCommonPart = c.identical() || c.mismatch() == Mismatch.CONTENT
                && c.offset() >= Math.min(c.sizeA(), c.sizeB());
        if (c.sizeA() != c.sizeB() && !strict && pastCommonPart) {
            out.println("Warning: Image size mismatch!");
        }
        if (c.identical()) {
            out.println("Images are identical.");
            return 0;
        }
        switch (c.mismatch()) {
            case SIZE -> out.println("Strict mode: Image size mismatch!");
            case BLOCK_STATUS -> out.println("Strict mode: Offset " + c.offset() + " block status mismatch!");
            case CONTENT -> out.println("Content mismatch at offset " + c.offset() + "!");
        }
        out.flush();
        return 1;
    }
}
