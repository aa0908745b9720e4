package io.github.qednio.image;

import io.github.qednio.internal.qed.L2Cache;
import io.github.qednio.internal.storage.StorageFactory;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.format.QedHeader;
import org.junit.jupiter.api.Test;

/**
 * The option objects of the public API: each setting reads back as set, every other setting is kept, and the
 * documented limits are enforced at exactly their bounds.
 */
class OptionsTest {
    @Test
    void openOptionDefaultsAreQemusBehaviour() {
        OpenOptions d = OpenOptions.defaults();
        assertThat(d.readOnly()).isFalse();
        assertThat(d.copyOnRead()).isFalse();
        assertThat(d.l2CacheTables()).isEqualTo(L2Cache.DEFAULT_TABLES);
        assertThat(d.maxTableBytes()).isEqualTo(OpenOptions.DEFAULT_MAX_TABLE_BYTES);
        assertThat(d.backingPolicy()).isEqualTo(BackingPolicy.FOLLOW);
        assertThat(d.maxChainDepth()).isEqualTo(OpenOptions.DEFAULT_MAX_CHAIN_DEPTH);
        assertThat(d.probeBacking()).isTrue();
        assertThat(d.storageFactory()).isSameAs(StorageFactory.DEFAULT);
        assertThat(d.cacheBudget()).isSameAs(CacheBudget.jvm());
        assertThat(OpenOptions.readOnlyDefaults().readOnly()).isTrue();
    }

    @Test
    void everyOpenOptionReadsBackAsSetAndKeepsTheOthers() {
        CacheBudget budget = CacheBudget.ofBytes(1 << 20);
        StorageFactory factory = (file, readOnly) -> StorageFactory.DEFAULT.open(file, readOnly);
        OpenOptions o = OpenOptions.defaults().withReadOnly(true).withCopyOnRead(true).withL2CacheTables(7)
                .withMaxTableBytes(8192).withBackingPolicy(BackingPolicy.CONFINE).withMaxChainDepth(3)
                .withProbeBacking(false).withStorageFactory(factory).withCacheBudget(budget);
        assertThat(o.readOnly()).isTrue();
        assertThat(o.copyOnRead()).isTrue();
        assertThat(o.l2CacheTables()).isEqualTo(7);
        assertThat(o.maxTableBytes()).isEqualTo(8192);
        assertThat(o.backingPolicy()).isEqualTo(BackingPolicy.CONFINE);
        assertThat(o.maxChainDepth()).isEqualTo(3);
        assertThat(o.probeBacking()).isFalse();
        assertThat(o.storageFactory()).isSameAs(factory);
        assertThat(o.cacheBudget()).isSameAs(budget);
        // Each wither copies every other field: apply them in the reverse order and compare.
        OpenOptions r = OpenOptions.defaults().withCacheBudget(budget).withStorageFactory(factory)
                .withProbeBacking(false).withMaxChainDepth(3).withBackingPolicy(BackingPolicy.CONFINE)
                .withMaxTableBytes(8192).withL2CacheTables(7).withCopyOnRead(true).withReadOnly(true);
        assertThat(r).usingRecursiveComparison().isEqualTo(o);
        OpenOptions back = o.withReadOnly(false).withCopyOnRead(false).withProbeBacking(true);
        assertThat(back.readOnly()).isFalse();
        assertThat(back.copyOnRead()).isFalse();
        assertThat(back.probeBacking()).isTrue();
    }

    @Test
    void openOptionLimitsAreEnforcedAtTheirBounds() {
        assertThat(OpenOptions.defaults().withL2CacheTables(1).l2CacheTables()).isEqualTo(1);
        assertThatThrownBy(() -> OpenOptions.defaults().withL2CacheTables(0))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("l2CacheTables 0");
        assertThat(OpenOptions.defaults().withMaxTableBytes(4096).maxTableBytes()).isEqualTo(4096);
        assertThatThrownBy(() -> OpenOptions.defaults().withMaxTableBytes(4095))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("maxTableBytes 4095");
        assertThat(OpenOptions.defaults().withMaxChainDepth(0).maxChainDepth()).isZero();
        assertThatThrownBy(() -> OpenOptions.defaults().withMaxChainDepth(-1))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("maxChainDepth -1");
        assertThatThrownBy(() -> OpenOptions.defaults().withBackingPolicy(null))
                .isInstanceOf(NullPointerException.class);
        assertThatThrownBy(() -> OpenOptions.defaults().withStorageFactory(null))
                .isInstanceOf(NullPointerException.class);
        assertThatThrownBy(() -> OpenOptions.defaults().withCacheBudget(null))
                .isInstanceOf(NullPointerException.class);
    }

    @Test
    void createOptionDefaultsAreQemuImgs() {
        CreateOptions c = CreateOptions.ofSize(1 << 20);
        assertThat(c.size()).isEqualTo(1 << 20);
        assertThat(c.clusterSize()).isEqualTo(QedHeader.DEFAULT_CLUSTER_SIZE);
        assertThat(c.tableSize()).isEqualTo(QedHeader.DEFAULT_TABLE_SIZE);
        assertThat(c.backingFile()).isNull();
        assertThat(c.backingFormat()).isNull();
        assertThat(c.allowQemuIncompatible()).isFalse();

        CreateOptions o = CreateOptions.overlay("base.raw", ImageFormat.RAW);
        assertThat(o.size()).isEqualTo(CreateOptions.SIZE_FROM_BACKING);
        assertThat(o.backingFile()).isEqualTo("base.raw");
        assertThat(o.backingFormat()).isEqualTo(ImageFormat.RAW);
        assertThat(o.clusterSize()).isEqualTo(QedHeader.DEFAULT_CLUSTER_SIZE);
        assertThat(o.tableSize()).isEqualTo(QedHeader.DEFAULT_TABLE_SIZE);
    }

    @Test
    void everyCreateOptionReadsBackAsSetAndKeepsTheOthers() {
        CreateOptions c = CreateOptions.ofSize(0).withSize(5000).withClusterSize(4096).withTableSize(8)
                .withBackingFile("b.qed", ImageFormat.QED).withAllowQemuIncompatible(true);
        assertThat(c.size()).isEqualTo(5000);
        assertThat(c.clusterSize()).isEqualTo(4096);
        assertThat(c.tableSize()).isEqualTo(8);
        assertThat(c.backingFile()).isEqualTo("b.qed");
        assertThat(c.backingFormat()).isEqualTo(ImageFormat.QED);
        assertThat(c.allowQemuIncompatible()).isTrue();
        CreateOptions r = CreateOptions.ofSize(0).withAllowQemuIncompatible(true)
                .withBackingFile("b.qed", ImageFormat.QED).withTableSize(8).withClusterSize(4096).withSize(5000);
        assertThat(r).usingRecursiveComparison().isEqualTo(c);
        assertThat(c.withBackingFile(null, null).backingFile()).isNull();
    }

    @Test
    void createOptionLimitsAreEnforcedAtTheirBounds() {
        assertThat(CreateOptions.ofSize(0).size()).isZero();
        assertThat(CreateOptions.ofSize(1).withSize(0).size()).isZero();
        assertThatThrownBy(() -> CreateOptions.ofSize(-1))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("size -1");
        assertThatThrownBy(() -> CreateOptions.ofSize(1).withSize(-1))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("size -1");
        assertThatThrownBy(() -> CreateOptions.ofSize(1).withBackingFile("", ImageFormat.RAW))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("empty");
        assertThat(CreateOptions.ofSize(1).withBackingFile("x", null).backingFile()).isEqualTo("x");
    }

    @Test
    void formatAndPolicyNamesParseInAnyCaseAndOthersAreRefused() {
        assertThat(ImageFormat.parse("RAW")).isEqualTo(ImageFormat.RAW);
        assertThat(ImageFormat.parse("qed")).isEqualTo(ImageFormat.QED);
        assertThat(ImageFormat.parse("QCOW2")).isEqualTo(ImageFormat.QCOW2);
        assertThatThrownBy(() -> ImageFormat.parse("vmdk")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'vmdk'");
        assertThat(BackingPolicy.parse("Confine")).isEqualTo(BackingPolicy.CONFINE);
        assertThat(BackingPolicy.parse("deny")).isEqualTo(BackingPolicy.DENY);
        assertThat(BackingPolicy.parse("FOLLOW")).isEqualTo(BackingPolicy.FOLLOW);
        assertThatThrownBy(() -> BackingPolicy.parse("none")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'none'");
    }
}
