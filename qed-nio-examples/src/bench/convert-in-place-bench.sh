#!/usr/bin/env bash
# In-place conversion: converting a fully allocated QED image to qcow2 in place (qed convert-in-place, timed with the JVM's
# start, and the library call alone through io.github.qednio.bench.InPlaceTiming) next to the copying conversion
# (qemu-img convert -O qcow2), round by round on the same image; prints each round and the median ratios.
#
# Environment: BENCH_SIZE (bytes, default 1 GiB), BENCH_RUNS (default 5), BENCH_DIR (scratch directory, default
# qed-nio-examples/target), BENCH_SKIP_BUILD=1 to reuse target/qed.jar, MVN_ARGS (default "-o").
# Needs: java 17, maven, qemu-img, python3. Disk: about 3 x BENCH_SIZE free in BENCH_DIR.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
MODULE=$ROOT/qed-nio-examples
SIZE=${BENCH_SIZE:-1073741824}
RUNS=${BENCH_RUNS:-5}
SCRATCH=${BENCH_DIR:-$MODULE/target}/qed-convert-in-place-scratch
JAR=$MODULE/target/qed.jar
BENCH_JAR=$MODULE/target/benchmarks.jar
command -v qemu-img >/dev/null || { echo "qemu-img is required" >&2; exit 2; }
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  (cd "$ROOT" && mvn -B -q ${MVN_ARGS--o} package -pl qed-nio-examples -am -DskipTests)
fi
rm -rf "$SCRATCH"
mkdir -p "$SCRATCH"
trap 'rm -rf "$SCRATCH"' EXIT
# Every cluster allocated with non-zero data: a raw file of a repeating non-zero pattern, converted to QED once.
python3 - "$SCRATCH/full.raw" "$SIZE" <<'PY'
import sys
block = bytes((i * 7 + 1) % 251 + 1 for i in range(1 << 20))
with open(sys.argv[1], "wb") as f:
    left = int(sys.argv[2])
    while left > 0:
        n = min(left, len(block)); f.write(block[:n]); left -= n
PY
qemu-img convert -f raw -O qed "$SCRATCH/full.raw" "$SCRATCH/full.qed"
rm -f "$SCRATCH/full.raw"
now() { date +%s.%N; }
ratios=()
lib_ratios=()
for i in $(seq 1 "$RUNS"); do
  rm -f "$SCRATCH/copy.qcow2"
  t0=$(now); qemu-img convert -f qed -O qcow2 "$SCRATCH/full.qed" "$SCRATCH/copy.qcow2"; t1=$(now)
  rm -f "$SCRATCH/copy.qcow2"
  cp "$SCRATCH/full.qed" "$SCRATCH/inplace.qed"; sync
  t2=$(now); java -jar "$JAR" convert-in-place -O qcow2 "$SCRATCH/inplace.qed" >/dev/null; t3=$(now)
  qemu-img check -f qcow2 "$SCRATCH/inplace.qed" >/dev/null
  # The library call alone (class loading included, the JVM's start not): InPlaceTiming prints convertMillis=.
  cp "$SCRATCH/full.qed" "$SCRATCH/inplace.qed"; sync
  ms=$(java -cp "$BENCH_JAR" io.github.qednio.bench.InPlaceTiming "$SCRATCH/inplace.qed" qcow2 | sed -n 's/^convertMillis=//p')
  rm -f "$SCRATCH/inplace.qed"
  r=$(python3 -c "print(f'{($t3-$t2)/($t1-$t0):.4f}')")
  rl=$(python3 -c "print(f'{$ms/1000/($t1-$t0):.4f}')")
  ratios+=("$r")
  lib_ratios+=("$rl")
  python3 -c "print(f'round $i: qemu-img convert {$t1-$t0:.3f} s, qed convert-in-place {$t3-$t2:.3f} s (ratio $r),'
    f' library call {$ms/1000:.3f} s (ratio $rl)')"
done
median() { python3 -c "import statistics,sys; r=sorted(map(float,sys.argv[2:])); print(f'{sys.argv[1]}: {statistics.median(r):.4f} [{r[0]:.4f}-{r[-1]:.4f}]')" "$@"; }
median "median ratio, CLI with the JVM's start / qemu-img convert" "${ratios[@]}"
median "median ratio, library call / qemu-img convert" "${lib_ratios[@]}"
