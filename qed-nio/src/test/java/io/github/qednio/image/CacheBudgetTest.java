package io.github.qednio.image;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** The budget's default size, its limits and its size syntax. */
class CacheBudgetTest {
    @Test
    void theDefaultIsAnEighthOfTheHeapWithinAFloorAndACap() {
        assertThat(CacheBudget.defaultLimit(64L << 20)).isEqualTo(8L << 20);
        assertThat(CacheBudget.defaultLimit(16L << 20)).isEqualTo(CacheBudget.DEFAULT_FLOOR);
        assertThat(CacheBudget.defaultLimit(64L << 30)).isEqualTo(CacheBudget.DEFAULT_CAP);
        assertThat(CacheBudget.jvm().limit()).isEqualTo(
                CacheBudget.defaultLimit(Runtime.getRuntime().maxMemory()));
        assertThat(OpenOptions.defaults().cacheBudget()).isSameAs(CacheBudget.jvm());
    }

    @Test
    void aBudgetHasAPositiveLimitThatCanBeChanged() {
        CacheBudget b = CacheBudget.ofBytes(4096);
        assertThat(b.limit()).isEqualTo(4096);
        assertThat(b.used()).isZero();
        b.setLimit(8192);
        assertThat(b.limit()).isEqualTo(8192);
        assertThat(b).hasToString("an L2 cache budget of 4096 bytes");
        assertThatThrownBy(() -> b.setLimit(0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("cache budget 0 must be positive");
        assertThatThrownBy(() -> CacheBudget.ofBytes(-1)).isInstanceOf(IllegalArgumentException.class);
        assertThat(OpenOptions.defaults().withCacheBudget(b).cacheBudget()).isSameAs(b);
        assertThat(OpenOptions.defaults().withCacheBudget(b).withReadOnly(true).cacheBudget()).isSameAs(b);
    }

    @Test
    void chargesNeverExceedTheLimitAndTheExhaustedErrorNamesTheWaysToRaiseIt() {
        CacheBudget budget = CacheBudget.ofBytes(10);
        assertThat(budget.tryCharge(6)).isTrue();
        assertThat(budget.tryCharge(5)).isFalse();
        assertThat(budget.used()).isEqualTo(6);
        budget.release(6);
        assertThat(budget.tryCharge(10)).isTrue();
        assertThat(budget.exhausted("a.qed", 0x3000, 4096)).hasMessageContaining("a.qed")
                .hasMessageContaining("0x3000").hasMessageContaining("an L2 cache budget of 10 bytes is exhausted")
                .hasMessageContaining("OpenOptions.withCacheBudget, CacheBudget.setLimit or -Dqed.cacheBudget");
    }

    @Test
    void thePublicBudgetRefersToNoInternalType() {
        java.util.List<Class<?>> types = new java.util.ArrayList<>();
        for (java.lang.reflect.Field f : CacheBudget.class.getDeclaredFields()) {
            types.add(f.getType());
        }
        for (java.lang.reflect.Method m : CacheBudget.class.getDeclaredMethods()) {
            types.add(m.getReturnType());
            types.addAll(java.util.List.of(m.getParameterTypes()));
        }
        assertThat(types).noneMatch(t -> t.getName().startsWith("io.github.qednio.internal."));
    }
}
