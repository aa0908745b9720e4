#!/usr/bin/env bash
# Before/after comparison of two builds of benchmarks.jar on the same machine, in the same run: rounds alternate
# between the jars (A, B, A, B, ...), so a load change hits both alike. Every figure is a ratio against the raw
# FileChannel baseline measured by the same jar in the same round, then the median [min-max] over the rounds.
#
#   compare-jars.sh BEFORE.jar AFTER.jar [OUT_DIR]
#
# Environment: BENCH_SIZE (bytes, default 256 MiB), BENCH_RUNS (default 5), BENCH_DIR (scratch, default /tmp).
# Writes OUT_DIR/compare.md (a Markdown table) and the raw JMH JSON files.
set -euo pipefail
A=${1:?before jar}
B=${2:?after jar}
OUT=${3:-compare-out}
SIZE=${BENCH_SIZE:-268435456}
RUNS=${BENCH_RUNS:-5}
SCRATCH=${BENCH_DIR:-/tmp}/qed-bench-compare
mkdir -p "$OUT" "$SCRATCH"
rm -f "$OUT"/*.json
# Iteration counts are given here, not taken from the jars, so that both builds are measured alike: the reads are
# time-based (1 s iterations), the writes single passes that need six warm-up passes to reach compiled code.
READS='ReadBenchmark\.(seqRead64k|randRead4k|rewrite4k)(Qed|QedFs|Raw)$'
WRITES='WriteBenchmark\.'
for r in $(seq "$RUNS"); do
  for side in A B; do
    jar=$A; [ "$side" = B ] && jar=$B
    echo "== round $r of $RUNS, $side ($(basename "$jar")); load: $(cut -d' ' -f1-3 /proc/loadavg)"
    for part in reads writes; do
      if [ "$part" = reads ]; then pattern=$READS; counts=(-wi 1 -i 2); else pattern=$WRITES; counts=(-wi 6 -i 3); fi
      java -jar "$jar" "$pattern" -f 1 "${counts[@]}" -w 1s -r 1s -p size="$SIZE" \
        -jvmArgsAppend "-Dbench.dir=$SCRATCH -Djmh.ignoreLock=true" -rf json -rff "$OUT/$side-$r-$part.json" \
        > "$OUT/$side-$r-$part.log" 2>&1 || { tail -40 "$OUT/$side-$r-$part.log"; exit 1; }
    done
  done
done
rm -rf "$SCRATCH"
python3 - "$OUT" "$RUNS" "$A" "$B" <<'EOF'
import json, statistics, sys
out, runs, a, b = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

def load(side, r):
    res = {}
    for x in json.load(open(f"{out}/{side}-{r}-reads.json")) + json.load(open(f"{out}/{side}-{r}-writes.json")):
        name = x["benchmark"].rsplit(".", 2)[-2] + "." + x["benchmark"].rsplit(".", 1)[-1]
        score = x["primaryMetric"]["score"]
        # JMH reports throughput (ops/time) or time per op: turn both into "higher is better".
        res[name] = score if x["mode"] == "thrpt" else 1.0 / score
    return res

pairs = [  # ours, its raw baseline, what
    ("ReadBenchmark.seqRead64kQed", "ReadBenchmark.seqRead64kRaw", "1 sequential read 64 KiB (engine)"),
    ("ReadBenchmark.randRead4kQed", "ReadBenchmark.randRead4kRaw", "2 random read 4 KiB (engine)"),
    ("ReadBenchmark.randRead4kQedFs", "ReadBenchmark.randRead4kRaw", "2 random read 4 KiB (qed: FileChannel)"),
    ("WriteBenchmark.seqAllocWrite64kQed", "WriteBenchmark.seqWrite64kRaw", "3 sequential allocating write 64 KiB"),
    ("WriteBenchmark.randAllocWrite4kQed", "WriteBenchmark.randWrite4kRawNewFile", "4 4 KiB writes each allocating"),
    ("ReadBenchmark.rewrite4kQed", "ReadBenchmark.rewrite4kRaw", "4 in-place 4 KiB rewrites"),
]
def fmt(v):
    return f"{statistics.median(v):.2f}× [{min(v):.2f}–{max(v):.2f}]"
rows = []
for ours, raw, what in pairs:
    ra, rb = [], []
    for r in range(1, runs + 1):
        da, db = load("A", r), load("B", r)
        if ours in da and raw in da:
            ra.append(da[ours] / da[raw])
        if ours in db and raw in db:
            rb.append(db[ours] / db[raw])
    if ra and rb:
        rows.append(f"| {what} | {fmt(ra)} | {fmt(rb)} | {statistics.median(rb) / statistics.median(ra):.2f} |")
with open(f"{out}/compare.md", "w") as f:
    f.write(f"Ratio ours ÷ raw FileChannel in the same round, median [min–max] over {runs} alternating rounds.\n\n")
    f.write(f"| Workload | before ({a.split('/')[-1]}) | after ({b.split('/')[-1]}) | after ÷ before |\n")
    f.write("|---|---|---|---|\n")
    f.write("\n".join(rows) + "\n")
print(open(f"{out}/compare.md").read())
EOF
