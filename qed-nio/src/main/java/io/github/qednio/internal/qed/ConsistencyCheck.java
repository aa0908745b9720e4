package io.github.qednio.internal.qed;

import io.github.qednio.image.CheckResult;
import io.github.qednio.image.Repair;
import io.github.qednio.format.Geometry;
import io.github.qednio.format.QedFormatException;
import java.io.IOException;

/**
 * One pass of QEMU's {@code qed-check.c} algorithm (notes §11.1) over an image, with correct cluster arithmetic:
 * QEMU divides by {@code cluster_size - 1} and reports leaks that do not exist (notes §11.4); this does not.
 * Clears invalid entries if the repair includes {@link Repair#ERRORS}; counts leaks (every cluster after the header
 * that no table references) but never touches them ({@link CheckAndRepair} does). Run with the image's allocation
 * lock held.
 */
final class ConsistencyCheck {
    /** What the check sees of an image: its geometry, its tables and the end of its file. */
    interface Target {
        /** The image's name for messages. */
        String name();

        Geometry geometry();

        long virtualSize();

        /** The cluster-rounded end of the file: offsets at or past it are invalid. */
        long nextAllocationOffset();

        /** The L1 table as the image uses it; a repair clears entries in it and then calls {@link #writeL1}. */
        Table l1() throws IOException;

        void writeL1(Table l1) throws IOException;

        Table readL2(long offset) throws IOException;

        void writeL2(Table l2) throws IOException;
    }

    private final Target image;
    private final Repair repair;
    private final Geometry geo;
    private final long fileSize;
    private final ClusterBitmap used = new ClusterBitmap();
    private long allocated;
    private long fragmented;
    private long corruptions;
    private long corruptionsFixed;
    private long checkErrors;

    ConsistencyCheck(Target image, Repair repair) {
        this.image = image;
        this.repair = repair;
        this.geo = image.geometry();
        this.fileSize = image.nextAllocationOffset();
    }

    CheckResult run() throws IOException {
        try {
            return walk();
        } catch (ClusterBitmap.TooLargeException e) {
            throw new QedFormatException("L2 entry", String.format("%s: the tables reference clusters scattered"
                    + " over a file of 0x%x bytes; tracking them would take more than %d MiB, so the check was"
                    + " refused (QEMU would need %d MiB)", image.name(), fileSize, e.maxBytes >> 20,
                    (fileSize >> geo.clusterBits()) / 8 >> 20));
        }
    }

    private CheckResult walk() throws IOException, ClusterBitmap.TooLargeException {
        Table l1 = image.l1();
        markTable(l1.offset);
        boolean l1Changed = false;
        for (int i = 0; i < l1.length(); i++) {
            long e = l1.get(i);
            if (e == Geometry.ENTRY_UNALLOCATED) {
                continue;
            }
            if (!geo.isValidTableOffset(e, fileSize)) {
                if (fixing()) {
                    l1.set(i, Geometry.ENTRY_UNALLOCATED);
                    corruptionsFixed++;
                    l1Changed = true;
                } else {
                    corruptions++;
                }
                continue;
            }
            int duplicates = markTable(e);
            if (duplicates > 0) {
                // QEMU does not scan an L2 table that overlaps something already seen.
                corruptions += duplicates;
                continue;
            }
            Table l2;
            try {
                l2 = image.readL2(e);
            } catch (IOException ex) {
                checkErrors++;
                continue;
            }
            if (checkL2(l2)) {
                image.writeL2(l2);
            }
        }
        if (l1Changed) {
            image.writeL1(l1);
        }
        long leaks = 0;
        if (checkErrors == 0) {
            leaks = Math.max(0, (fileSize >> geo.clusterBits()) - geo.headerSize() - used.count());
        }
        long total = geo.clustersFor(image.virtualSize());
        return new CheckResult(total, allocated, fragmented, corruptions, leaks, checkErrors, corruptionsFixed, 0);
    }

    /** Scans one L2 table; returns true if entries were cleared and the table must be written back. */
    private boolean checkL2(Table l2) throws ClusterBitmap.TooLargeException {
        boolean changed = false;
        long last = 0;
        for (int j = 0; j < l2.length(); j++) {
            long v = l2.get(j);
            if (v == Geometry.ENTRY_UNALLOCATED || v == Geometry.ENTRY_ZERO) {
                continue;
            }
            allocated++;
            if (last != 0 && last + geo.clusterSize() != v) {
                fragmented++;
            }
            last = v;
            if (!geo.isValidClusterOffset(v, fileSize)) {
                if (fixing()) {
                    l2.set(j, Geometry.ENTRY_UNALLOCATED);
                    corruptionsFixed++;
                    changed = true;
                } else {
                    corruptions++;
                }
                continue;
            }
            if (used.testAndSet(v >> geo.clusterBits())) {
                corruptions++;
            }
        }
        return changed;
    }

    /** Marks a table's clusters; returns how many were already marked. */
    private int markTable(long offset) throws ClusterBitmap.TooLargeException {
        int duplicates = 0;
        long first = offset >> geo.clusterBits();
        for (int k = 0; k < geo.tableSize(); k++) {
            if (used.testAndSet(first + k)) {
                duplicates++;
            }
        }
        return duplicates;
    }

    private boolean fixing() {
        return repair.fixesErrors();
    }
}
