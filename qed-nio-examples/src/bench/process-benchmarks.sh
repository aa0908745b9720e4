#!/usr/bin/env bash
# Whole-process start-up benchmark of the qed command: each command as a user runs it (a new process, files in the
# page cache), against a hello-world Java class on the same JDK and against qemu-img, on each JDK given.
#
#   process-benchmarks.sh [OUT_DIR]
#
# For every JDK, ROUNDS rounds; each round runs, one after the other: the hello-world class, then for each of
# `--version`, `info IMG`, `check IMG`, `map IMG`: qemu-img, qed through the launcher (target/qed, with its start-up
# cache) and qed as `java -jar qed.jar`. Every figure is the median [min-max] of a process's wall time over the
# rounds; a ratio is taken round by round against the hello world of the same round, then median [min-max]. A second
# table counts the classes each command loads (-Xlog:class+load) and how many came from the CDS archive or AOT cache.
#
# Environment: BENCH_ROUNDS (default 15), BENCH_JDKS (JDK homes, blank-separated; default: the JDK 17 and JDK 25
# under /usr/lib/jvm that exist), BENCH_SKIP_BUILD=1 to reuse the built jar, MVN_ARGS (default "-o"),
# BENCH_BASELINE_JAR (another qed.jar to time as `java -jar` too, e.g. a build of an older commit).
# Needs: maven, qemu-img, qemu-io, python3. Writes OUT_DIR/process-bench.md (default
# qed-nio-examples/target/process-bench) and prints it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
MODULE=$ROOT/qed-nio-examples
OUT=$(mkdir -p "${1:-$MODULE/target/process-bench}" && cd "${1:-$MODULE/target/process-bench}" && pwd)
ROUNDS=${BENCH_ROUNDS:-15}
if [ -z "${BENCH_JDKS:-}" ]; then
  BENCH_JDKS=""
  for d in /usr/lib/jvm/java-17-openjdk-amd64 /usr/lib/jvm/temurin-25-jdk-amd64; do
    [ -x "$d/bin/java" ] && BENCH_JDKS="$BENCH_JDKS $d"
  done
fi
[ -n "${BENCH_JDKS// /}" ] || { echo "no JDK: set BENCH_JDKS" >&2; exit 2; }
for tool in qemu-img qemu-io python3; do
  command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 2; }
done

if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  (cd "$ROOT" && mvn -B -q ${MVN_ARGS--o} package -pl qed-nio-examples -am -DskipTests)
fi
LAUNCHER=$MODULE/target/qed
JAR=$MODULE/target/qed.jar
[ -x "$LAUNCHER" ] && [ -f "$JAR" ] || { echo "no $LAUNCHER or $JAR: build first" >&2; exit 2; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
IMG=$WORK/small.qed
qemu-img create -q -f qed "$IMG" 64M
qemu-io -c 'write -P 0x5a 0 1M' -c 'write -P 0x33 10M 64k' "$IMG" >/dev/null
cat > "$WORK/Hello.java" <<'EOF'
public class Hello {
    public static void main(String[] args) {
        System.out.println("Hello, world");
    }
}
EOF

{
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
  echo "cores=$(nproc)"
  echo "kernel=$(uname -sr)"
  echo "qemu=$(qemu-img --version | head -1)"
  echo "commit=$(cd "$ROOT" && git rev-parse --short HEAD)$(cd "$ROOT" && git diff --quiet HEAD -- qed-nio qed-nio-examples/src/main qed-nio-examples/pom.xml || echo '+local changes')"
  echo "rounds=$ROUNDS"
} > "$OUT/machine.txt"

for jdk in $BENCH_JDKS; do
  # The launcher's cache for this JDK, made now so that no round pays for it.
  JAVA_HOME=$jdk QED_CACHE=create "$LAUNCHER"
  mkdir -p "$WORK/hello-$(basename "$jdk")"
  "$jdk/bin/javac" -d "$WORK/hello-$(basename "$jdk")" "$WORK/Hello.java"
done

python3 - "$OUT" "$ROUNDS" "$LAUNCHER" "$JAR" "$IMG" "$WORK" "${BENCH_BASELINE_JAR:-}" $BENCH_JDKS <<'PY'
import os, re, statistics, subprocess, sys, time

out, rounds, launcher, jar, img, work, baseline = sys.argv[1:8]
rounds = int(rounds)
jdks = sys.argv[8:]
machine = dict(l.rstrip("\n").split("=", 1) for l in open(os.path.join(out, "machine.txt")))
commands = [("--version", ["--version"]), ("info", ["info", img]), ("check", ["check", img]), ("map", ["map", img])]

def release(jdk):
    for line in open(os.path.join(jdk, "release")):
        if line.startswith("JAVA_RUNTIME_VERSION="):
            return line.split("=", 1)[1].strip().strip('"')
    return os.path.basename(jdk)

def run(argv, env):
    """Wall seconds and CPU seconds (user + sys) of one process, its output thrown away."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"{argv} exited with {code}")
    return wall, ru.ru_utime + ru.ru_stime

def variants(jdk):
    java = os.path.join(jdk, "bin", "java")
    env = {k: v for k, v in os.environ.items() if not k.startswith("QED_") and k not in ("JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS")}
    env["JAVA_HOME"] = jdk
    hello = [java, "-cp", os.path.join(work, "hello-" + os.path.basename(jdk)), "Hello"]
    v = [("hello", "hello world", hello)]
    for name, args in commands:
        qemu = ["qemu-img", "--version"] if name == "--version" else ["qemu-img", args[0], img]
        v.append((name, "qemu-img", qemu))
        v.append((name, "qed (launcher)", [launcher] + args))
        v.append((name, "qed (java -jar)", [java, "-jar", jar] + args))
        if baseline:
            v.append((name, "baseline (java -jar)", [java, "-jar", baseline] + args))
    return env, v

def fmt(xs, unit=""):
    return f"{statistics.median(xs):.3f}{unit} [{min(xs):.3f}–{max(xs):.3f}]"

def ratio(xs):
    return f"**{statistics.median(xs):.2f}×** [{min(xs):.2f}–{max(xs):.2f}]"

def class_counts(jdk, argv, env, via_launcher):
    log = os.path.join(work, "classes.log")
    e = dict(env)
    if via_launcher:
        e["QED_JAVA_OPTS"] = f"-Xlog:class+load=info:file={log}"
        cmd = argv
    else:
        cmd = [argv[0], f"-Xlog:class+load=info:file={log}"] + argv[1:]
    subprocess.run(cmd, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    lines = open(log).read().splitlines()
    os.remove(log)
    total = len(lines)
    shared = sum(1 for l in lines if "source: shared objects file" in l)
    from_jar = sum(1 for l in lines if "qed.jar" in l or (baseline and baseline in l))
    return total, shared, from_jar

md = []
md.append(f"Whole processes, {rounds} rounds per JDK, {machine['date']}, {machine['cpu']}, {machine['cores']} cores, "
          f"{machine['kernel']}, {machine['qemu']}, commit {machine['commit']}. Wall time in seconds, median [min–max]; "
          "ratios against the hello world of the same round. Image: 64 MiB QED, 1 MiB + 64 KiB written (qemu-io).")
md.append("")
load = []
for jdk in jdks:
    env, v = variants(jdk)
    walls = {(n, k): [] for n, k, _ in v}
    cpus = {(n, k): [] for n, k, _ in v}
    load.append(open("/proc/loadavg").read().split()[:3])
    for r in range(rounds):
        for n, k, argv in v:
            w, c = run(argv, env)
            walls[(n, k)].append(w)
            cpus[(n, k)].append(c)
        print(f"{os.path.basename(jdk)} round {r + 1}/{rounds} done", file=sys.stderr)
    load.append(open("/proc/loadavg").read().split()[:3])
    hello = walls[("hello", "hello world")]
    md.append(f"#### {release(jdk)}")
    md.append("")
    md.append(f"Hello world: {fmt(hello, ' s')} wall, {fmt(cpus[('hello', 'hello world')], ' s')} CPU.")
    md.append("")
    kinds = ["qemu-img", "qed (launcher)", "qed (java -jar)"] + (["baseline (java -jar)"] if baseline else [])
    ratios = ["qed (launcher)", "qed (java -jar)"] + (["baseline (java -jar)"] if baseline else [])
    md.append("| command | " + " | ".join(kinds) + " | "
              + " | ".join({"qed (launcher)": "launcher", "qed (java -jar)": "java -jar", "baseline (java -jar)": "baseline"}[k]
                           + " ÷ hello" for k in ratios) + " | CPU s, launcher |")
    md.append("|---" * (len(kinds) + len(ratios) + 2) + "|")
    for name, _ in commands:
        cells = [fmt(walls[(name, k)]) for k in kinds]
        rs = [ratio([a / b for a, b in zip(walls[(name, k)], hello)]) for k in ratios]
        md.append(f"| `qed {name}` | " + " | ".join(cells) + " | " + " | ".join(rs) + " | "
                  f"{fmt(cpus[(name, 'qed (launcher)')])} |")
    md.append("")
    md.append("Classes loaded (total / from the CDS archive or AOT cache / from the jar):")
    md.append("")
    md.append("| command | launcher | java -jar |" + (" baseline (java -jar) |" if baseline else ""))
    md.append("|---|---|---|" + ("---|" if baseline else ""))
    java = os.path.join(jdk, "bin", "java")
    for name, args in commands:
        a = class_counts(jdk, [launcher] + args, env, True)
        b = class_counts(jdk, [java, "-jar", jar] + args, env, False)
        row = f"| `qed {name}` | {a[0]} / {a[1]} / {a[2]} | {b[0]} / {b[1]} / {b[2]} |"
        if baseline:
            c = class_counts(jdk, [java, "-jar", baseline] + args, env, False)
            row += f" {c[0]} / {c[1]} / {c[2]} |"
        md.append(row)
    h = class_counts(jdk, variants(jdk)[1][0][2], env, False)
    md.append(f"| hello world | — | {h[0]} / {h[1]} / 0 |" + (" — |" if baseline else ""))
    md.append("")
md.append("Load average (1/5/15 min) before and after each JDK's rounds: "
          + "; ".join(" ".join(l) for l in load) + f" (on {machine['cores']} cores).")
text = "\n".join(md) + "\n"
open(os.path.join(out, "process-bench.md"), "w").write(text)
print(text)
PY
