package io.github.qednio.cli;

import io.github.qednio.archive.ImageArchives;
import io.github.qednio.archive.UnpackResult;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code qed unpack IMAGE DIR}. */
@Command(name = "unpack", mixinStandardHelpOptions = true, description = {"Extract the archive (tar, tar.gz, zip or 7z) on a QED image's disk into DIR.",
        "Entries with absolute names, '..' components or links leading outside DIR are refused: nothing is written"
                + " outside DIR."})
final class UnpackCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Mixin
    private Options.ForceShare share;

    @Parameters(index = "0", paramLabel = "IMAGE", description = "The image (opened read-only).")
    private Path image;

    @Parameters(index = "1", paramLabel = "DIR", description = "The directory to extract into (created if missing).")
    private Path dir;

    @Override
    public Integer call() throws Exception {
        UnpackResult r = ImageArchives.unpack(image, dir, share.forceShare);
        spec.commandLine().getOut().printf("Unpacked %s archive from %s into %s: %d entries, %d bytes%n",
                r.format().label(), image, dir, r.entries(), r.bytes());
        return 0;
    }
}
