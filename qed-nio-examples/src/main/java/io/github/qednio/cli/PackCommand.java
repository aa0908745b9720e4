package io.github.qednio.cli;

import io.github.qednio.archive.ArchiveFormat;
import io.github.qednio.archive.ImageArchives;
import io.github.qednio.archive.PackOptions;
import io.github.qednio.archive.PackResult;
import io.github.qednio.image.CreateOptions;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code qed pack [--format tar|zip|7z] [--size SIZE|auto] [-o cluster_size=N,table_size=N] SOURCE... IMAGE}. */
@Command(name = "pack", mixinStandardHelpOptions = true, description = {"Pack files into an archive written straight onto a new QED image's disk"
        + " (a guest reads it with tar -xf /dev/vdb).",
        "A directory or file is stored under its own name (links as links: those leading outside the packed tree are"
                + " listed on standard error); a single .tar, .tar.gz, .tgz, .zip or"
                + " .7z is copied as is (a .gz decompressed) unless --format names another format.",
        "Zeros (empty or sparse files) take no space in the image."})
final class PackCommand implements Callable<Integer> {
    private static final int MAX_LISTED = 20;

    @Spec
    private CommandSpec spec;

    @Option(names = "--format", paramLabel = "FORMAT",
            description = "tar (default), zip or 7z (Deflate).")
    private String format;

    @Option(names = "--size", paramLabel = "SIZE", defaultValue = "auto",
            description = "Virtual disk size, or auto (default): just large enough, so a zip's directory is at the"
                    + " device's end where unzip looks for it.")
    private String size;

    @Option(names = "-o", paramLabel = "OPTIONS", split = ",",
            description = "Comma-separated cluster_size=SIZE, table_size=N.")
    private List<String> options = List.of();

    @Mixin
    private Options.ProgressBar progress;

    @Parameters(arity = "2..*", paramLabel = "SOURCE... IMAGE", hideParamSyntax = true,
            description = "Directories and files to pack, then the image to create (must not exist).")
    private List<Path> paths;

    @Override
    public Integer call() throws Exception {
        PackOptions opts = PackOptions.defaults().withProgress(progress.listener(spec));
        if (format != null) {
            opts = opts.withFormat(ArchiveFormat.parse(format));
        }
        if (!size.equalsIgnoreCase("auto")) {
            opts = opts.withSize(Sizes.parse(size));
        }
        // The same -o as qed create; the geometry read back from the options it builds.
        CreateOptions geometry = CreateCommand.applyOptions(CreateOptions.ofSize(0), options);
        opts = opts.withClusterSize(geometry.clusterSize()).withTableSize(geometry.tableSize());
        Path image = paths.get(paths.size() - 1);
        PackResult r = ImageArchives.pack(paths.subList(0, paths.size() - 1), image, opts);
        spec.commandLine().getOut().printf("%s %s archive of %d bytes onto %s: virtual size %d (%s), image file %s%n",
                r.copied() ? "Copied" : "Packed", r.format().label(), r.archiveBytes(), image, r.diskSize(),
                Sizes.human(r.diskSize()), Sizes.human(Files.size(image)));
        warnLinksOutside(r.linksOutside());
        return 0;
    }

    /** One line per link, as tar's warnings are, up to a screenful; then how many more. */
    private void warnLinksOutside(List<PackResult.Link> links) {
        PrintWriter err = spec.commandLine().getErr();
        for (PackResult.Link l : links.subList(0, Math.min(links.size(), MAX_LISTED))) {
            err.printf("qed: warning: symbolic link '%s' -> '%s' leads outside the packed tree (stored as is)%n",
                    l.name(), l.target());
        }
        if (links.size() > MAX_LISTED) {
            err.printf("qed: warning: and %d more symbolic links lead outside the packed tree (%d in all)%n",
                    links.size() - MAX_LISTED, links.size());
        }
    }
}
