#!/usr/bin/env bash
# Times the `workload` binary under each global allocator side by side with hyperfine and writes
# a markdown table of median time ratios to raw jemalloc, plus peak RSS, into benches/RESULTS.md.
#
#   benches/compare.sh                         # all variants, all workloads, 5 runs each
#   VARIANTS="jemalloc aligned" WORKLOADS="churn arrays" RUNS=10 benches/compare.sh
#   SECTION=quick VARIANTS="jemalloc aligned" benches/compare.sh   # its own table in RESULTS.md
#   INTERLEAVE=1 RUNS=9 benches/compare.sh      # rounds of every variant in turn, not hyperfine's
#                                               # all runs of one then the next (for close calls)
#
# Variants: system jemalloc mimalloc aligned tracked tracked-dwarf dhat (tracked-dwarf is the
# tracked build with ALLOC_TRACKER=unwind=dwarf; `floor`, not in the default list, is the lower
# bound of a sampled-mode wrapper, benches/src/floor.rs). Needs hyperfine (apt-get install hyperfine).
set -euo pipefail
cd "$(dirname "$0")/.."
VARIANTS=${VARIANTS:-"system jemalloc mimalloc aligned tracked tracked-dwarf dhat"}
WORKLOADS=${WORKLOADS:-"churn mt-churn vecgrow btree arrays midarrays touch hugegrow larson cache-scratch"}
RUNS=${RUNS:-5}
SECTION=${SECTION:-all}
OUT=target/compare
# RESULTS.md keeps every table: a SECTION name used before replaces that one, so say so first.
if grep -qF "<!-- compare.sh $SECTION: start -->" benches/RESULTS.md 2>/dev/null; then
  echo "compare.sh: SECTION=$SECTION is already in benches/RESULTS.md; its table will be replaced" >&2
fi
mkdir -p "$OUT"
[ "${INTERLEAVE:-0}" = 1 ] || command -v hyperfine >/dev/null || { echo "compare.sh: hyperfine not found (apt-get install hyperfine)" >&2; exit 1; }

# The tracked variants write their exit report (and dhat its JSON) away from the terminal.
declare -A CMD
for v in $VARIANTS; do
  feature=${v%-dwarf}
  if [ ! -x "$OUT/workload-$feature" ]; then
    cargo build --release -q -p benches --bin workload --no-default-features --features "$feature"
    cp target/release/workload "$OUT/workload-$feature"
  fi
  case $v in
    tracked) CMD[$v]="ALLOC_TRACKER=report=off $OUT/workload-tracked" ;;
    tracked-dwarf) CMD[$v]="ALLOC_TRACKER=report=off,unwind=dwarf $OUT/workload-tracked" ;;
    *) CMD[$v]="$OUT/workload-$v" ;;
  esac
done

for w in $WORKLOADS; do
  if [ "${INTERLEAVE:-0}" = 1 ]; then
    # Round by round, each variant once in turn (benches/interleave.py), so that a slow minute on
    # this shared machine lands on every variant alike; medians of time and of peak RSS.
    python3 benches/interleave.py --json "$OUT/$w.json" "$RUNS" "$w" $VARIANTS
    continue
  fi
  args=()
  for v in $VARIANTS; do args+=(-n "$v" "${CMD[$v]} $w"); done
  hyperfine --runs "$RUNS" --export-json "$OUT/$w.json" --output=null "${args[@]}"
  for v in $VARIANTS; do
    sh -c "${CMD[$v]} $w" 2>&1 >/dev/null | grep -o 'peak_rss_kib=[0-9]*' | cut -d= -f2 > "$OUT/$w.$v.rss"
  done
done

python3 - "$OUT" "$RUNS" "$VARIANTS" "$WORKLOADS" "$SECTION" "${INTERLEAVE:-0}" <<'PY'
import json, os, platform, subprocess, sys, datetime
out, runs, variants, workloads = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4].split()
how = (f"`benches/interleave.py`, {runs} rounds of every variant in turn" if sys.argv[6] == "1"
       else f"hyperfine, {runs} runs per cell")
start, end = f"<!-- compare.sh {sys.argv[5]}: start -->", f"<!-- compare.sh {sys.argv[5]}: end -->"
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
lines = [
    start,
    f"Measured {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, {cpu}, "
    f"Linux {platform.release()}, with `benches/compare.sh` ({how}; "
    f"variants `{' '.join(variants)}`).",
    "Each cell: median time as a ratio to raw `tikv-jemallocator` (median seconds in brackets), then peak RSS as a ratio to raw jemalloc's.",
    "",
    "| workload | " + " | ".join(variants) + " |",
    "|---|" + "---:|" * len(variants),
]
for w in workloads:
    res = {r["command"]: r for r in json.load(open(f"{out}/{w}.json"))["results"]}
    def rss(v):
        try:
            return int(open(f"{out}/{w}.{v}.rss").read().strip())
        except Exception:
            return None
    base_t, base_m = res["jemalloc"]["median"] if "jemalloc" in res else None, rss("jemalloc")
    cells = []
    for v in variants:
        t, m = res[v]["median"], rss(v)
        ratio = f"{t / base_t:.2f}×" if base_t else "–"
        mem = f"{m / base_m:.2f}× RSS" if (m and base_m) else f"{m} KiB"
        cells.append(f"{ratio} ({t:.3f} s), {mem}")
    lines.append(f"| {w} | " + " | ".join(cells) + " |")
lines.append(end)
table = "\n".join(lines)
path = "benches/RESULTS.md"
text = open(path).read() if os.path.exists(path) else "# Benchmark results\n\n## Whole-process workloads\n\n"
if start in text:
    a = text.index(start)
    b = text.index(end) + len(end)
    text = text[:a] + table + text[b:]
else:
    text = text.rstrip("\n") + "\n\n" + table + "\n"
open(path, "w").write(text)
print(table)
PY
