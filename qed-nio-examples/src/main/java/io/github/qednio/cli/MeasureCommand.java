package io.github.qednio.cli;

import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.ImageFormat;
import io.github.qednio.ops.ImageMeasure;
import io.github.qednio.ops.ImageMeasure.Measurement;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code qed measure [--output=json] [-f FMT] [-O FMT] [-o OPTIONS] (--size SIZE | FILE)}, as qemu-img measure. */
@Command(name = "measure", description = "Print how large an image converted to -O's format would be (required"
        + " size) and its size with every cluster allocated, as qemu-img measure does (which cannot measure qed).")
final class MeasureCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Mixin
    private Options.Output output;

    @Mixin
    private Options.Format format;

    @Mixin
    private Options.ForceShare share;

    @Option(names = "-O", paramLabel = "FMT", description = "Target format: raw (default, as qemu-img) or qed.")
    private String targetFormat = "raw";

    @Option(names = "-o", paramLabel = "OPTIONS", split = ",",
            description = "For a qed target: cluster_size=SIZE, table_size=N.")
    private List<String> options = List.of();

    @Option(names = "--size", paramLabel = "SIZE", description = "Measure a new empty image of this size instead.")
    private String size;

    @Parameters(index = "0", arity = "0..1", paramLabel = "FILE", description = "The image to measure.")
    private Path file;

    @Override
    public Integer call() throws Exception {
        if ((size == null) == (file == null)) {
            throw new IllegalArgumentException("give either --size SIZE or an image FILE (exactly one)");
        }
        ImageFormat to = ImageFormat.parse(targetFormat);
        CreateOptions geometry = CreateCommand.applyOptions(CreateOptions.ofSize(0), options);
        Measurement m = size != null ? ImageMeasure.ofSize(Sizes.parse(size), to, geometry)
                : ImageMeasure.of(file, format.orNull(), to, geometry, share.forceShare);
        PrintWriter out = spec.commandLine().getOut();
        if (output.json()) {
            out.println(new Json().put("required", m.required()).put("fully-allocated", m.fullyAllocated()).render());
        } else {
            out.println("required size: " + m.required());
            out.println("fully allocated size: " + m.fullyAllocated());
        }
        return 0;
    }
}
