package io.github.qednio.cli;

import io.github.qednio.image.CheckResult;
import io.github.qednio.ops.ImageCheck;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.image.Repair;
import io.github.qednio.image.ImageFormat;
import java.io.PrintWriter;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code qed check [-r leaks|all] [--output=json] FILE}, with qemu-img check's output and exit codes: 0 clean,
 * 1 the check could not complete, 2 corruptions remain, 3 only leaked clusters remain.
 */
@Command(name = "check", description = "Check an image's tables (and repair them with -r), as qemu-img check does.")
final class CheckCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Option(names = "-r", paramLabel = "MODE", description = "Repair: leaks (clear leaked clusters only) or all"
            + " (also clear invalid table entries).")
    private String repair;

    @Mixin
    private Options.Output output;

    @Mixin
    private Options.ForceShare share;

    @Mixin
    private Options.Image image;

    @Override
    public Integer call() throws Exception {
        ImageFormat format = ImageFormat.probe(image.file);
        if (format == ImageFormat.RAW) {
            // qemu-img's words and exit code: a raw file has nothing to check.
            spec.commandLine().getErr().println("qed: This image format does not support checks");
            return 63;
        }
        CheckResult result;
        if (format == ImageFormat.QCOW2) {
            if (repair != null) {
                // Checked, never repaired here: qcow2's repair rewrites refcounts, which is qemu-img's job.
                spec.commandLine().getErr().println("qed: " + image.file + ": -r: qcow2 images are checked, not"
                        + " repaired (use qemu-img check -r " + repair + ")");
                return 1;
            }
            result = ImageCheck.of(image.file, format, share.forceShare);
        } else if (repair == null) {
            try (QedImage img = QedImage.open(image.file, share.readOnly())) {
                result = img.check(Repair.NONE);
            }
        } else {
            Repair mode;
            switch (repair) {
                case "leaks" -> mode = Repair.LEAKS;
                case "all" -> mode = Repair.ERRORS_AND_LEAKS;
                default -> {
                    // qemu-img's words and exit code for a mode it does not know.
                    PrintWriter err = spec.commandLine().getErr();
                    err.println("qed: Unknown option value for -r (expecting 'leaks' or 'all'): " + repair);
                    err.println("Try 'qed --help' for more information");
                    return 1;
                }
            }
            share.refuseForWriting("-r repairs the image");
            // One check-only open (no automatic repair), so the counts fixed are the repair's own.
            try (QedImage img = QedImage.openForCheck(image.file, OpenOptions.defaults())) {
                result = img.check(mode);
            }
        }
        long corruptionsFixed = result.corruptionsFixed();
        long leaksFixed = result.leaksFixed();
        PrintWriter out = spec.commandLine().getOut();
        if (output.json()) {
            out.println(json(format, result, corruptionsFixed, leaksFixed).render());
        } else {
            if (corruptionsFixed > 0 || leaksFixed > 0) {
                out.printf("The following inconsistencies were found and repaired:%n%n    %d leaked clusters%n"
                        + "    %d corruptions%n%nDouble checking the fixed image now...%n", leaksFixed,
                        corruptionsFixed);
            }
            printHuman(out, result);
        }
        return result.exitCode();
    }

    /**
     * qemu-img's {@code ImageCheck}: {@code check-errors}, {@code filename} and {@code format} always, every count
     * only when it is not zero (they are optional in QEMU's schema), in the order qemu-img prints them.
     */
    private Json json(ImageFormat format, CheckResult r, long corruptionsFixed, long leaksFixed) {
        Json j = new Json().put("filename", image.file.toString()).put("format", format.qemuName())
                .put("check-errors", r.checkErrors());
        if (format == ImageFormat.QCOW2) {
            j.put("image-end-offset", r.imageEndOffset());
        }
        putUnlessZero(j, "corruptions", r.corruptions());
        putUnlessZero(j, "leaks", r.leaks());
        putUnlessZero(j, "corruptions-fixed", corruptionsFixed);
        putUnlessZero(j, "leaks-fixed", leaksFixed);
        putUnlessZero(j, "total-clusters", r.totalClusters());
        putUnlessZero(j, "allocated-clusters", r.allocatedClusters());
        putUnlessZero(j, "fragmented-clusters", r.fragmentedClusters());
        putUnlessZero(j, "compressed-clusters", r.compressedClusters());
        return j.inQemuOrder();
    }

    private static void putUnlessZero(Json j, String key, long value) {
        if (value != 0) {
            j.put(key, value);
        }
    }

    /** qemu-img's {@code dump_human_image_check}. */
    private static void printHuman(PrintWriter out, CheckResult r) {
        if (r.isClean()) {
            out.println("No errors were found on the image.");
        } else {
            if (r.corruptions() > 0) {
                out.printf("%n%d errors were found on the image.%nData may be corrupted, or further writes to the"
                        + " image may corrupt it.%n", r.corruptions());
            }
            if (r.leaks() > 0) {
                out.printf("%n%d leaked clusters were found on the image.%nThis means waste of disk space, but no"
                        + " harm to data.%n", r.leaks());
            }
            if (r.checkErrors() > 0) {
                out.printf("%n%d internal errors have occurred during the check.%n", r.checkErrors());
            }
        }
        if (r.totalClusters() != 0 && r.allocatedClusters() != 0) {
            out.printf(Locale.ROOT, "%d/%d = %s%% allocated, %s%% fragmented, %s%% compressed clusters%n",
                    r.allocatedClusters(), r.totalClusters(),
                    CFormat.fixed(r.allocatedClusters() * 100.0 / r.totalClusters(), 2),
                    CFormat.fixed(r.fragmentedClusters() * 100.0 / r.allocatedClusters(), 2),
                    CFormat.fixed(r.compressedClusters() * 100.0 / r.allocatedClusters(), 2));
        }
        if (r.imageEndOffset() != 0) {
            out.printf("Image end offset: %d%n", r.imageEndOffset());
        }
    }
}
