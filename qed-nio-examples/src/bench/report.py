#!/usr/bin/env python3
"""Turns the raw results of run-benchmarks.sh into docs/PERFORMANCE.md.

Usage: report.py RESULTS_DIR OUTPUT_MD [ANALYSIS_MD]
Every figure is the median of the runs with [min-max]; ratios are taken run by run where both sides ran in the
same fork sequence (paired), otherwise as median over median with the range from the extremes.
"""
import csv
import json
import os
import statistics
import sys

res_dir, out_md = sys.argv[1], sys.argv[2]
analysis = sys.argv[3] if len(sys.argv) > 3 else None

machine = dict(l.rstrip("\n").split("=", 1) for l in open(os.path.join(res_dir, "machine.txt")) if "=" in l)
size = int(machine["size"])
MiB = 1024 * 1024

# One value per round: the median of that round's measured iterations.
jmh = {}
rounds = sorted((f for f in os.listdir(res_dir) if f.startswith("jmh-run-") and f.endswith(".json")),
                key=lambda f: int(f[len("jmh-run-"):-len(".json")]))
for f in rounds:
    for r in json.load(open(os.path.join(res_dir, f))):
        name = r["benchmark"].rsplit(".", 1)[1]
        raw = [v for fork in r["primaryMetric"]["rawData"] for v in fork]
        b = jmh.setdefault(name, {"mode": r["mode"], "unit": r["primaryMetric"]["scoreUnit"], "values": []})
        b["values"].append(statistics.median(raw))

qemu = {}
with open(os.path.join(res_dir, "qemu-bench.tsv")) as f:
    for row in csv.DictReader(f, delimiter="\t"):
        key = (row["workload"], row["format"], int(row["depth"]))
        qemu.setdefault(key, []).append((int(row["count"]), int(row["bytes"]), float(row["seconds"])))

footprint = []
fp_path = os.path.join(res_dir, "footprint.txt")
if os.path.exists(fp_path):
    for line in open(fp_path):
        kv = dict(p.split("=") for p in line.split())
        footprint.append((float(kv["firstOpenMillis"]), int(kv["retainedHeapBytes"])))


def med(v):
    return statistics.median(v)


def fmt(x):
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def spread(v):
    return f"{fmt(med(v))} [{fmt(min(v))}–{fmt(max(v))}]"


def per_second(name, work=1.0):
    """Work units per second for each run of a JMH benchmark (throughput, or single-shot time in ms)."""
    b = jmh[name]
    if b["mode"] == "thrpt":
        return [v * work for v in b["values"]]
    if b["mode"] == "ss":
        return [work / (v / 1000.0) for v in b["values"]]
    raise ValueError(name)


def qemu_rate(workload, fmt_, depth, unit):
    runs = qemu.get((workload, fmt_, depth), [])
    if unit == "MiB/s":
        return [b / MiB / s for c, b, s in runs]
    return [c / s for c, b, s in runs]


def paired(a, b):
    if len(a) != len(b):
        return unpaired(a, b)
    return [x / y for x, y in zip(a, b)]


def unpaired(a, b):
    return med(a) / med(b), min(a) / max(b), max(a) / min(b)


def ratio_text(r):
    if isinstance(r, list):
        return f"**{med(r):.2f}×** [{min(r):.2f}–{max(r):.2f}]", med(r)
    m, lo, hi = r
    return f"**{m:.2f}×** [{lo:.2f}–{hi:.2f}]", m


rows = []
verdicts = []


def row(workload, ours_label, ours, base_label, base, ratio, target, unit):
    text, m = ratio_text(ratio)
    ok = None if target is None else m >= target
    verdict = "—" if ok is None else ("met" if ok else "**missed**")
    rows.append(f"| {workload} | {ours_label}: {spread(ours)} {unit} | {base_label}: {spread(base)} {unit} | {text} |"
                f" {'—' if target is None else f'≥ {target}×'} | {verdict} |")
    if ok is not None:
        verdicts.append((workload + " — " + ours_label + " vs " + base_label, ok, m, target))


seq_q = per_second("seqRead64kQed", 64 / 1024)
seq_r = per_second("seqRead64kRaw", 64 / 1024)
row("1 sequential read 64 KiB", "qed", seq_q, "raw FileChannel", seq_r, paired(seq_q, seq_r), 0.95, "MiB/s")
rnd_q = per_second("randRead4kQed")
rnd_r = per_second("randRead4kRaw")
row("2 random read 4 KiB", "qed", rnd_q, "raw FileChannel", rnd_r, paired(rnd_q, rnd_r), 0.9, "IOPS")
sw_q = per_second("seqAllocWrite64kQed", size / MiB)
sw_r = per_second("seqWrite64kRaw", size / MiB)
row("3 sequential allocating write 64 KiB", "qed", sw_q, "raw new file", sw_r, paired(sw_q, sw_r), 0.95, "MiB/s")
if "seqAllocWrite64kQedWithoutPreallocation" in jmh:
    sw_p = per_second("seqAllocWrite64kQedWithoutPreallocation", size / MiB)
    row("3 sequential allocating write 64 KiB", "qed, preallocation off", sw_p, "raw new file", sw_r,
        paired(sw_p, sw_r), None, "MiB/s")
for d in (1, 16):
    qb = qemu_rate("seq-alloc-write-64k", "qed", d, "MiB/s")
    if qb:
        row("3 sequential allocating write 64 KiB", "qed", sw_q, f"qemu-img bench qed d={d}", qb,
            paired(sw_q, qb), 1.0, "MiB/s")
alloc4k = size // 262144
aw_q = per_second("randAllocWrite4kQed", alloc4k)
aw_r = per_second("randWrite4kRawNewFile", alloc4k)
row("4 4 KiB writes each allocating a cluster", "qed", aw_q, "raw new file", aw_r, paired(aw_q, aw_r), None, "IOPS")
for d in (1, 16):
    qb = qemu_rate("alloc-write-4k", "qed", d, "IOPS")
    if qb:
        row("4 4 KiB writes each allocating a cluster", "qed", aw_q, f"qemu-img bench qed d={d}", qb,
            paired(aw_q, qb), 1.0, "IOPS")
rw_q = per_second("rewrite4kQed")
rw_r = per_second("rewrite4kRaw")
row("4 in-place 4 KiB rewrites", "qed", rw_q, "raw FileChannel", rw_r, paired(rw_q, rw_r), None, "IOPS")
for d in (1, 16):
    qb = qemu_rate("rewrite-4k", "qed", d, "IOPS")
    if qb:
        row("4 in-place 4 KiB rewrites", "qed", rw_q, f"qemu-img bench qed d={d}", qb, paired(rw_q, qb), 1.0,
            "IOPS")
cv_q = per_second("convertQedNio", size / MiB)
cv_i = per_second("convertQemuImg", size / MiB)
row("6 convert 1 GiB half-zero raw → qed (default cache=unsafe)", "qed convert", cv_q, "qemu-img convert -O qed", cv_i,
    paired(cv_q, cv_i), 1.0, "MiB/s")
if "convertQemuImgWriteback" in jmh and "convertQedNioWriteback" in jmh:
    cv_qw = per_second("convertQedNioWriteback", size / MiB)
    cv_w = per_second("convertQemuImgWriteback", size / MiB)
    row("6 convert 1 GiB half-zero raw → qed, synced (-t writeback)", "qed convert -t writeback", cv_qw,
        "qemu-img convert -t writeback", cv_w, paired(cv_qw, cv_w), 1.0, "MiB/s")
if "randRead4kQedFs4Threads" in jmh:
    f1 = per_second("randRead4kQedFs")
    f4 = per_second("randRead4kQedFs4Threads")
    row("8 random read 4 KiB, 4 threads, one qed: FileChannel each", "qed: 4 threads", f4, "qed: 1 thread", f1,
        paired(f4, f1), 1.7, "IOPS")
    row("2 random read 4 KiB through the qed: file system", "qed: channel", f1, "raw FileChannel",
        per_second("randRead4kRaw"), paired(f1, per_second("randRead4kRaw")), None, "IOPS")
p1 = per_second("randRead4kQed")
p4 = per_second("randRead4kQed4Threads")
row("8 random read 4 KiB, 4 threads, engine", "qed 4 threads", p4, "qed 1 thread", p1, paired(p4, p1), 1.7, "IOPS")
r1 = per_second("randRead4kRaw")
r4 = per_second("randRead4kRaw4Threads")
row("8 random read 4 KiB, 4 threads", "raw 4 threads", r4, "raw 1 thread", r1, paired(r4, r1), None, "IOPS")
row("8 random read 4 KiB, 4 threads", "qed 4 threads", p4, "raw 4 threads", r4, paired(p4, r4), None, "IOPS")
if "unallocatedRead4k" in jmh:
    l1 = per_second("unallocatedRead4k")
    l2 = per_second("unallocatedRead4k2Threads")
    row("(micro) engine lookup only: 4 KiB reads of unallocated clusters, no I/O", "qed 2 threads", l2,
        "qed 1 thread", l1, paired(l2, l1), None, "reads/s")
if "seqRead64kQed4Threads" in jmh:
    s4 = per_second("seqRead64kQed4Threads", 64 / 1024)
    row("8 sequential read 64 KiB, 4 threads", "qed 4 threads", s4, "qed 1 thread", seq_q, paired(s4, seq_q), 1.7,
        "MiB/s")
    if "seqRead64kRaw4Threads" in jmh:
        sr4 = per_second("seqRead64kRaw4Threads", 64 / 1024)
        row("8 sequential read 64 KiB, 4 threads", "raw 4 threads", sr4, "raw 1 thread", seq_r, paired(sr4, seq_r),
            None, "MiB/s")
        row("8 sequential read 64 KiB, 4 threads", "qed 4 threads", s4, "raw 4 threads", sr4, paired(s4, sr4), None,
            "MiB/s")

open_ms = [v / 1000.0 for v in jmh["openQed"]["values"]]
open_ro_ms = [v / 1000.0 for v in jmh["openQedReadOnly"]["values"]] if "openQedReadOnly" in jmh else None
open_raw_ms = [v / 1000.0 for v in jmh["openRawChannel"]["values"]]

q5 = []
for w, unit in (("seq-read-64k", "MiB/s"), ("scattered-read-4k", "IOPS"), ("rewrite-4k", "IOPS"),
                ("seq-alloc-write-64k", "MiB/s"), ("alloc-write-4k", "IOPS")):
    for d in (1, 16):
        qq = qemu_rate(w, "qed", d, unit)
        rr = qemu_rate(w, "raw", d, unit)
        if qq and rr:
            text, _ = ratio_text(paired(qq, rr))
            q5.append(f"| {w} | {d} | {spread(qq)} {unit} | {spread(rr)} {unit} | {text} |")

out = []
out.append("# Performance\n")
out.append("Generated by `qed-nio-examples/src/bench/run-benchmarks.sh` (do not edit by hand; the analysis at the end"
           " comes from `qed-nio-examples/src/bench/analysis.md`).\n")
out.append("## Machine and run\n")
out.append("| | |\n|---|---|")
for k in ("date", "cpu", "cores", "memory", "kernel", "filesystem", "java", "qemu", "commit"):
    out.append(f"| {k} | {machine.get(k, '?')} |")
out.append(f"| image size | {size:,} bytes ({size / MiB:,.0f} MiB) |")
out.append(f"| runs | {machine['runs']} rounds; each round runs every JMH benchmark (1 fork, the warm-up and measured"
           " iterations its class declares: 1 + 2 of 1 s for reads and opens, 6 + 3 single-shot passes for the"
           " writes, 4 + 3 conversions; the round's value is their median) and then every qemu-img bench workload"
           " once |")
load = [l.split() for l in open(os.path.join(res_dir, "load.txt"))] if os.path.exists(
    os.path.join(res_dir, "load.txt")) else []
if load:
    out.append("| load average (1/5/15 min) at the start of each round, and at the end | "
               + "; ".join(" ".join(x[1:]) for x in load) + f" (on {machine.get('cores')} cores) |")
out.append("")
out.append("Commands:\n")
out.append("```")
out.append(open(os.path.join(res_dir, "jmh-command.txt")).read().strip())
out.append(open(os.path.join(res_dir, "qemu-command.txt")).read().strip())
out.append("java -cp benchmarks.jar io.github.qednio.bench.OpenFootprint create DIR      # once")
out.append("java -cp benchmarks.jar io.github.qednio.bench.OpenFootprint measure IMAGE   # x runs, fresh JVM each")
out.append("```\n")
out.append("Figures are **median [min–max]** over the rounds. A ratio is ours ÷ baseline as throughput (higher is"
           " better), computed round by round (both sides ran in the same round), then median [min–max]. The engine"
           " (`QedImage`) is measured directly; the `qed:` file system adds one channel layer over it.\n")
out.append("## Results against the performance targets\n")
out.append("| Workload | Ours | Baseline (same run) | Ratio | Target | |\n|---|---|---|---|---|---|")
out.extend(rows)
out.append("")
out.append("### 7. Opening a 64 TiB sparse image with 1,000 scattered clusters\n")
out.append("| Measure | Median [min–max] | Target | |\n|---|---|---|---|")
ok_open = med(open_ms) < 50
out.append(f"| open + close, read-write (JMH, warm JVM) | {spread(open_ms)} ms | < 50 ms |"
           f" {'met' if ok_open else '**missed**'} |")
verdicts.append(("7 open time", ok_open, med(open_ms), 50))
if open_ro_ms:
    out.append(f"| open + close, read-only (JMH, warm JVM) | {spread(open_ro_ms)} ms | — | — |")
out.append(f"| FileChannel open + close of the same file (baseline) | {spread(open_raw_ms)} ms | — | — |")
if footprint:
    first = [f[0] for f in footprint]
    heap = [f[1] / MiB for f in footprint]
    ok_first = med(first) < 50
    ok_heap = med(heap) < 64
    out.append(f"| first open in a fresh JVM (class loading included) | {spread(first)} ms | < 50 ms |"
               f" {'met' if ok_first else '**missed**'} |")
    out.append(f"| heap kept by the open image | {spread(heap)} MiB | < 64 MiB | {'met' if ok_heap else '**missed**'} |")
    verdicts.append(("7 first open", ok_first, med(first), 50))
    verdicts.append(("7 heap", ok_heap, med(heap), 64))
out.append("")
out.append("### 5. qemu-img bench on the same machine (`-t writeback`)\n")
out.append("qemu-img bench has no random mode: the 4 KiB workloads use a stride (`-S`) that puts every request in"
           " another cluster (68 KiB apart for reads and rewrites; 256 KiB apart for allocating writes, the same number"
           " of writes as WriteBenchmark). QEMU's own qed ÷ raw ratio is the reference the targets were set from.\n")
out.append("| Workload | Depth | qed | raw | qed ÷ raw |\n|---|---|---|---|---|")
out.extend(q5)
out.append("")
missed = [v for v in verdicts if not v[1]]
out.append("## Summary\n")
out.append(f"{len(verdicts) - len(missed)} of {len(verdicts)} target checks met." + (" Missed:\n" if missed else ""))
if missed:
    for name, _, m, t in missed:
        out.append(f"* {name}: {m:.3f} against a target of {t}")
out.append("")
if analysis and os.path.exists(analysis):
    out.append(open(analysis).read().strip())
    out.append("")
os.makedirs(os.path.dirname(out_md), exist_ok=True)
open(out_md, "w").write("\n".join(out))
