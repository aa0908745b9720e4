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
        "Symbolic links are extracted as links, whatever they point to; modes keep their setuid, setgid and sticky"
                + " bits (as tar -p). Entries with absolute names or '..' components, entries under a symbolic link,"
                + " and hard links to files outside DIR are refused: the whole archive is checked first, so a"
                + " refused one leaves DIR as it was."})
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
