package io.github.qednio.ops;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** The parts of {@link ImageInfo} that are qemu-img's rules, not the image's. */
class ImageInfoTest {
    @Test
    void fullBackingFilenameJoinsTheImagesDirectoryWithoutNormalizingAsQemusPathCombine() {
        assertThat(ImageInfo.join("ov.qed", "base.raw")).isEqualTo("base.raw");
        assertThat(ImageInfo.join("sub/ov.qed", "../base.raw")).isEqualTo("sub/../base.raw");
        assertThat(ImageInfo.join("/a/b/ov.qed", "c.qed")).isEqualTo("/a/b/c.qed");
        assertThat(ImageInfo.join("sub/ov.qed", "/abs/base.qed")).isEqualTo("/abs/base.qed");
    }

    @Test
    void actualSizeLeavesOutTheUnwrittenRestOfTheHeaderCluster() {
        // 64 KiB header cluster of which one page is written, 4 clusters of L1: what qemu-img reports (266240).
        assertThat(ImageInfo.approximateActualSize(327680, 65536, 0)).isEqualTo(266240);
        // A long backing name takes a second page of the header cluster.
        assertThat(ImageInfo.approximateActualSize(327680, 65536, 4100)).isEqualTo(266240 + 4096);
        // 4 KiB clusters: the header cluster is one page, all written.
        assertThat(ImageInfo.approximateActualSize(5 * 4096, 4096, 8)).isEqualTo(5 * 4096);
    }
}
