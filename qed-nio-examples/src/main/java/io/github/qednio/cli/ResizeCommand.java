package io.github.qednio.cli;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.ops.ImageInfo;
import io.github.qednio.ops.ImageResizer;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code qed resize [-f FMT] [--shrink] [-q] FILE [+|-]SIZE}, as qemu-img resize. */
@Command(name = "resize", description = "Change an image's virtual size, as qemu-img resize does. Shrinking needs"
        + " --shrink and is refused if the image holds anything past the new end (qemu-img refuses every QED"
        + " shrink).")
final class ResizeCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Mixin
    private Options.Format format;

    @Option(names = "--shrink", description = "Allow the new size to be smaller.")
    private boolean shrink;

    @Mixin
    private Options.Quiet quiet;

    @Mixin
    private Options.Image image;

    @Parameters(index = "1", paramLabel = "SIZE", description = "The new size, or +SIZE / -SIZE relative to the"
            + " current one (suffixes K, M, G, T as in create).")
    private String size;

    @Override
    public Integer call() throws Exception {
        long newSize;
        if (size.startsWith("+") || size.startsWith("-")) {
            long now = ImageInfo.of(image.file, format.orNull()).virtualSize();
            long delta = Sizes.parse(size.substring(1));
            newSize = size.startsWith("+") ? now + delta : now - delta;
        } else {
            newSize = Sizes.parse(size);
        }
        if (format.orNull() != ImageFormat.RAW) { // -f raw: the file's bytes are the disk, whatever they hold
            RepairNotice.repairFirst(spec, image.file);
        }
        ImageResizer.resize(image.file, format.orNull(), newSize, shrink);
        quiet.println(spec, "Image resized.");
        return 0;
    }
}
