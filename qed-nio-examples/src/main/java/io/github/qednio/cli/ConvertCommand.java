package io.github.qednio.cli;

import io.github.qednio.engine.CacheMode;
import io.github.qednio.engine.CreateOptions;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import io.github.qednio.ops.ImageConverter;
import io.github.qednio.ops.ImageFormat;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code qed convert [-f raw|qed] [-O raw|qed] [-o cluster_size=..,table_size=..] SRC DST}. */
@Command(name = "convert", description = "Copy a raw file or QED image into a new raw file or QED image, skipping"
        + " zero regions, as qemu-img convert does.")
final class ConvertCommand implements Callable<Integer> {
    @Mixin
    private Options.Format sourceFormat;

    @Option(names = "-O", paramLabel = "FMT", description = "Target format: raw (default) or qed.")
    private String targetFormat = "raw";

    @Option(names = "-t", paramLabel = "CACHE", description = "Target cache mode: unsafe (default, as in qemu-img"
            + " convert: nothing is synced) or writeback (synced to disk at the end).")
    private String cache = "unsafe";

    @Option(names = "-o", paramLabel = "OPTIONS", split = ",",
            description = "For a qed target: cluster_size=SIZE, table_size=N.")
    private List<String> options = List.of();

    @Parameters(index = "0", paramLabel = "SRC")
    private Path source;

    @Parameters(index = "1", paramLabel = "DST", description = "The new file (must not exist).")
    private Path target;

    @Override
    public Integer call() throws Exception {
        ImageFormat to = ImageFormat.parse(targetFormat);
        if (to == ImageFormat.RAW && !options.isEmpty()) {
            throw new IllegalArgumentException("-o options apply only to a qed target (-O qed)");
        }
        CreateOptions geometry = CreateCommand.applyOptions(CreateOptions.ofSize(0), options);
        ImageConverter.convert(source, sourceFormat.orNull(), target, to,
                geometry, parseCacheMode(cache));
        return 0;
    }

    /** {@code unsafe} or {@code writeback} (any case), qemu-img's {@code -t} names. */
    static CacheMode parseCacheMode(String s) {
        for (CacheMode m : CacheMode.values()) {
            if (m.name().equalsIgnoreCase(s)) {
                return m;
            }
        }
        throw new IllegalArgumentException("cache mode '" + s + "' is not one of unsafe, writeback");
    }
}
