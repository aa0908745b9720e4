#!/usr/bin/env bash
# Runs every benchmark of the performance targets on this machine and writes docs/PERFORMANCE.md:
#   JMH (target/benchmarks.jar): workloads 1-4, 6, 7, 8, each next to its baseline in the same run;
#   qemu-img bench -f qed|raw -t writeback at depth 1 and 16: workload 5;
#   OpenFootprint: the heap an open 64 TiB image keeps (workload 7).
# Every figure is the median of BENCH_RUNS (>= 5) rounds, with min and max; ours and the baseline run in the same
# round, and ratios are taken round by round.
#
# Environment: BENCH_SIZE (bytes, default 1 GiB), BENCH_RUNS (default 5), BENCH_DIR (where the scratch directory
# qed-bench-scratch is made and removed, default qed-nio-examples/target), BENCH_OUT (raw results, default qed-nio-examples/target/bench-results),
# BENCH_SKIP_BUILD=1 to reuse the built jar, MVN_ARGS (default "-o"), BENCH_ITER_TIME (JMH iteration, default 1s).
# Needs: java 17, maven, qemu-img, python3. Disk: about 3 x BENCH_SIZE free in BENCH_DIR.
# Java 22+ builds and runs the hole detection of convert (workload 6; Foreign Function API, multi-release jar): the
# JDK 25 at /usr/lib/jvm/temurin-25-jdk-amd64 is used for the build and the runs when it exists (as .ci/run does),
# unless BENCH_JAVA_HOME names another JDK.
set -euo pipefail
BENCH_JAVA_HOME=${BENCH_JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
if [ -d "$BENCH_JAVA_HOME" ]; then
  export JAVA_HOME=$BENCH_JAVA_HOME
  export PATH=$JAVA_HOME/bin:$PATH
fi
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
MODULE=$ROOT/qed-nio-examples
SIZE=${BENCH_SIZE:-1073741824}
RUNS=${BENCH_RUNS:-5}
SCRATCH=${BENCH_DIR:-$MODULE/target}/qed-bench-scratch
OUT=${BENCH_OUT:-$MODULE/target/bench-results}
JAR=$MODULE/target/benchmarks.jar

if [ "$RUNS" -lt 5 ]; then echo "BENCH_RUNS must be at least 5" >&2; exit 2; fi
command -v qemu-img >/dev/null || { echo "qemu-img is required (apt-get install qemu-utils)" >&2; exit 2; }
rm -rf "$SCRATCH"
mkdir -p "$SCRATCH" "$OUT"
rm -f "$OUT"/*
need_kib=$((SIZE / 1024 * 3))
free_kib=$(df -Pk "$SCRATCH" | awk 'NR==2 {print $4}')
if [ "$free_kib" -lt "$need_kib" ]; then
  echo "not enough space in $SCRATCH: $free_kib KiB free, $need_kib KiB needed" >&2; exit 2
fi

if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  (cd "$ROOT" && mvn -B -q ${MVN_ARGS--o} package -pl qed-nio-examples -am -DskipTests)
fi

echo "== machine" | tee "$OUT/progress.log"
{
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
  echo "cores=$(nproc)"
  echo "memory=$(free -g | awk '/^Mem:/ {print $2}') GiB"
  echo "kernel=$(uname -sr)"
  echo "filesystem=$(df -PT "$SCRATCH" | awk 'NR==2 {print $2}') ($(df -P "$SCRATCH" | awk 'NR==2 {print $1}'))"
  echo "java=$(java -version 2>&1 | head -2 | tail -1)"
  echo "qemu=$(qemu-img --version | head -1)"
  echo "size=$SIZE"
  echo "runs=$RUNS"
  echo "commit=$(cd "$ROOT" && git rev-parse --short HEAD)$(cd "$ROOT" && git diff --quiet HEAD -- qed-nio qed-nio-examples/src/main || echo '+local changes')"
} > "$OUT/machine.txt"
cat "$OUT/machine.txt"

# Runs are interleaved so that load changes on a shared machine hit ours and the baseline alike: each of the
# RUNS rounds runs every JMH benchmark once (warm-up and measured iterations as each class declares: 1 + 2, or
# 6 + 3 for the single-pass write benchmarks, which need more passes to reach compiled code; the round's value is their
# median) and then every qemu-img bench workload once for qed and raw.
JMH_ARGS=(-f 1 -w "${BENCH_ITER_TIME:-1s}" -r "${BENCH_ITER_TIME:-1s}" -p size="$SIZE" -jvmArgsAppend "-Dbench.dir=$SCRATCH --enable-native-access=ALL-UNNAMED")
echo "java -jar benchmarks.jar ${JMH_ARGS[*]} -rf json -rff jmh-run-N.json   # N = 1..$RUNS" > "$OUT/jmh-command.txt"
echo "qemu-img bench -f qed|raw -t writeback -d 1|16 -c COUNT -s SIZE [-w] [-S STEP] [--pattern=0x5a] IMAGE" \
  > "$OUT/qemu-command.txt"

QB=$OUT/qemu-bench.tsv
printf 'workload\tformat\tdepth\trun\tcount\tbytes\tseconds\n' > "$QB"
bench() { # workload format depth run count bufsize image args...
  local w=$1 f=$2 d=$3 r=$4 c=$5 s=$6 img=$7; shift 7
  local secs
  secs=$(qemu-img bench -f "$f" -t writeback -d "$d" -c "$c" -s "$s" "$@" "$img" | sed -n 's/^Run completed in \([0-9.]*\) seconds.*/\1/p')
  [ -n "$secs" ] || { echo "qemu-img bench produced no time for $w $f" >&2; exit 1; }
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$w" "$f" "$d" "$r" "$c" "$((c * s))" "$secs" >> "$QB"
}
COUNT64=$((SIZE / 65536))
STEP_SCATTER=$((68 * 1024))           # 4 KiB requests 68 KiB apart: each in another cluster
COUNT_SCATTER=$(((SIZE - 4096) / STEP_SCATTER))
COUNT_ALLOC4K=$((SIZE / 262144))      # as WriteBenchmark: a quarter of the clusters, each gets one 4 KiB write
for f in qed raw; do
  full=$SCRATCH/qemu-full.$f
  rm -f "$full"
  qemu-img create -q -f "$f" "$full" "$SIZE"
  qemu-img bench -q -f "$f" -t writeback -w -d 16 -c "$COUNT64" -s 65536 --pattern=0x5a "$full" >/dev/null
done
sync

for r in $(seq "$RUNS"); do
  echo "== round $r of $RUNS: JMH (workloads 1-4, 6, 7, 8); load: $(cut -d' ' -f1-3 /proc/loadavg)" \
    | tee -a "$OUT/progress.log"
  echo "$r $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/load.txt"
  java -jar "$JAR" "${JMH_ARGS[@]}" -rf json -rff "$OUT/jmh-run-$r.json" > "$OUT/jmh-run-$r.log" 2>&1 \
    || { tail -50 "$OUT/jmh-run-$r.log"; exit 1; }
  sed -n '/^Benchmark /,/^$/p' "$OUT/jmh-run-$r.log"
  echo "== round $r of $RUNS: qemu-img bench (workload 5)" | tee -a "$OUT/progress.log"
  for d in 1 16; do
    for f in qed raw; do
      full=$SCRATCH/qemu-full.$f
      new=$SCRATCH/qemu-new.$f
      bench seq-read-64k "$f" "$d" "$r" "$COUNT64" 65536 "$full"
      bench scattered-read-4k "$f" "$d" "$r" "$COUNT_SCATTER" 4096 "$full" -S "$STEP_SCATTER"
      bench rewrite-4k "$f" "$d" "$r" "$COUNT_SCATTER" 4096 "$full" -w -S "$STEP_SCATTER"
      rm -f "$new"; qemu-img create -q -f "$f" "$new" "$SIZE"
      bench seq-alloc-write-64k "$f" "$d" "$r" "$COUNT64" 65536 "$new" -w --pattern=0x5a
      rm -f "$new"; qemu-img create -q -f "$f" "$new" "$SIZE"
      bench alloc-write-4k "$f" "$d" "$r" "$COUNT_ALLOC4K" 4096 "$new" -w -S 262144 --pattern=0x5a
      rm -f "$new"
    done
  done
done
echo "end $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/load.txt"

echo "== OpenFootprint (workload 7, heap)" | tee -a "$OUT/progress.log"
fp_dir=$SCRATCH/footprint
rm -rf "$fp_dir"; mkdir -p "$fp_dir"
fp_image=$(java -cp "$JAR" io.github.qednio.bench.OpenFootprint create "$fp_dir")
for i in $(seq "$RUNS"); do
  java -cp "$JAR" io.github.qednio.bench.OpenFootprint measure "$fp_image" | tee -a "$OUT/footprint.txt"
done
rm -rf "$SCRATCH"

echo "== report" | tee -a "$OUT/progress.log"
python3 "$(dirname "$0")/report.py" "$OUT" "$ROOT/docs/PERFORMANCE.md" "$(dirname "$0")/analysis.md"
echo "wrote $ROOT/docs/PERFORMANCE.md"
