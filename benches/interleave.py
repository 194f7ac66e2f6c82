#!/usr/bin/env python3
"""Re-times chosen cells of benches/compare.sh with the variants interleaved.

hyperfine runs all of one command's runs, then all of the next: on this shared VM a quiet or busy
minute then lands on one variant only (the same binary's time has moved by 1.5x between two
minutes). Here every round runs each variant once, in turn, so slow spells hit them all alike;
the medians' ratios are what RESULTS.md quotes for close calls.

    benches/interleave.py ROUNDS WORKLOAD VARIANT...      # after benches/compare.sh built them
    benches/interleave.py 7 vecgrow aligned tracked tracked-dwarf dhat
    benches/interleave.py --json target/compare/btree.json 7 btree jemalloc aligned  # for compare.sh

Variants are the binaries target/compare/workload-<variant> that compare.sh builds;
`tracked` runs with ALLOC_TRACKER=report=off, `tracked-dwarf` with report=off,unwind=dwarf;
`tracked-scan` renders the exit report with its reachability scan (report=/dev/null) and
`tracked-noscan` the same report without it (report=/dev/null,scan=off);
`sampled` runs the tracked binary in sampled mode at the default rate (report=off,sample=524288),
and `sampled_<x>` the same with workload-tracked_<x>, a tracked build copied in by hand;
`<variant>@<options>` runs a variant with _RJEM_MALLOC_CONF=<options> (jemalloc options read
after alloc-core's, so they override it);
`floor` is workload-floor (feature `floor`, benches/src/floor.rs): the cheapest wrapper sampled
mode's spec allows, a lower bound for sampled mode's cost.
Round r runs the variants in turn starting from the r-th (mod their number), so that over
whole cycles each runs in every place (the cyclic order stays, so a variant still follows the
same one within a round and another only at a round's start).
Prints one line per variant: median wall time, its ratio to the first variant's median, the
median and quartiles of the round-by-round ratios to the first variant (each round's two times
side by side), and the median peak RSS (the workload's own `peak_rss_kib=`, its VmHWM).
"""

import json
import os
import re
import statistics
import subprocess
import sys
import time

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "compare")


def command(variant):
    env = dict(os.environ)
    env.pop("ALLOC_TRACKER", None)
    env.pop("_RJEM_MALLOC_CONF", None)
    if "@" in variant:
        # `<variant>@<options>`: the same binary with jemalloc options from the environment,
        # applied after alloc-core's own (e.g. `aligned@metadata_thp:always`).
        variant, env["_RJEM_MALLOC_CONF"] = variant.split("@", 1)
    binary = variant
    if variant == "tracked":
        env["ALLOC_TRACKER"] = "report=off"
    elif variant == "tracked-dwarf":
        env["ALLOC_TRACKER"] = "report=off,unwind=dwarf"
        binary = "tracked"
    elif variant == "sampled" or variant.startswith("sampled_"):
        # Sampled mode at jemalloc's default rate (lg_prof_sample=19).
        env["ALLOC_TRACKER"] = "report=off,sample=524288"
        binary = "tracked" + variant[len("sampled"):]
    elif variant.startswith("tracked_"):
        # Another tracked build copied in by hand (e.g. workload-tracked_old, an earlier commit's).
        env["ALLOC_TRACKER"] = "report=off"
    elif variant == "tracked-scan":
        env["ALLOC_TRACKER"] = "report=/dev/null"
        binary = "tracked"
    elif variant == "tracked-noscan":
        env["ALLOC_TRACKER"] = "report=/dev/null,scan=off"
        binary = "tracked"
    path = os.path.join(OUT, f"workload-{binary}")
    if not os.access(path, os.X_OK):
        sys.exit(f"interleave.py: {path} missing: run benches/compare.sh first")
    return path, env


def run_once(path, env, workload):
    start = time.perf_counter()
    proc = subprocess.Popen(
        [path, workload], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    err = proc.stderr.read()
    _, status, _ = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.stderr.close()
    if status != 0:
        sys.exit(f"interleave.py: {path} {workload} failed ({status})")
    # The workload's own `peak_rss_kib=` (its VmHWM). wait4's ru_maxrss would not do: Linux
    # counts this Python process's pre-exec image in it, about 14 MiB.
    found = re.findall(rb"peak_rss_kib=(\d+)", err)
    if not found:
        sys.exit(f"interleave.py: {path} {workload} printed no peak_rss_kib=")
    return elapsed, int(found[-1])


def main():
    args = sys.argv[1:]
    # `--json FILE`: also write the medians as hyperfine's `--export-json` does (what compare.sh
    # reads), and each variant's median peak RSS (KiB) next to it as `<workload>.<variant>.rss`.
    json_path = None
    if args[:1] == ["--json"] and len(args) > 1:
        json_path, args = args[1], args[2:]
    if len(args) < 3:
        sys.exit(__doc__)
    rounds, workload, variants = int(args[0]), args[1], args[2:]
    commands = {v: command(v) for v in variants}
    times = {v: [] for v in variants}
    rss = {v: [] for v in variants}
    for r in range(rounds):
        # Round r starts at variant r (mod n): over n rounds each variant runs once in every
        # place, so no variant always runs first or last. (The cyclic order stays: within a
        # round a variant follows the same one; only at a round's start does it follow another.)
        for v in variants[r % len(variants) :] + variants[: r % len(variants)]:
            t, m = run_once(*commands[v], workload)
            times[v].append(t)
            rss[v].append(m)
    base = statistics.median(times[variants[0]])
    for v in variants:
        med = statistics.median(times[v])
        # The same round's times side by side: a slow spell that spans a round cancels out.
        ratios = sorted(t / b for t, b in zip(times[v], times[variants[0]]))
        quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
        print(
            f"{workload:9} {v:14} median {med:.3f} s  {med / base:.2f}x {variants[0]}  "
            f"(min {min(times[v]):.3f}, max {max(times[v]):.3f})  "
            f"round by round {statistics.median(ratios):.2f}x "
            f"[{quartiles[0]:.2f}, {quartiles[2]:.2f}]  "
            f"peak RSS {statistics.median(rss[v]) / 1024:.1f} MiB"
        )
    if json_path:
        results = [
            {"command": v, "median": statistics.median(times[v]), "times": times[v]}
            for v in variants
        ]
        with open(json_path, "w") as f:
            json.dump({"results": results}, f)
        for v in variants:
            path = os.path.join(os.path.dirname(json_path), f"{workload}.{v}.rss")
            with open(path, "w") as f:
                f.write(f"{int(statistics.median(rss[v]))}\n")


if __name__ == "__main__":
    main()
