#!/usr/bin/env python3
"""Peak anonymous and file-backed RSS of one command, polled from /proc/<pid>/status.

The peak RSS that `workload` prints and interleave.py reports (VmHWM) adds anonymous memory (the
heap, the tracker's tables) and file-backed pages (the binary's code and unwind tables that were
touched, shared page cache). This splits them: the maxima of RssAnon and RssFile over the
run, polled every 5 ms (the two maxima need not fall at one instant), then VmHWM.

    benches/rss_split.py ROUNDS COMMAND...
    ALLOC_TRACKER=report=off,sample=524288 benches/rss_split.py 3 target/compare/workload-tracked btree
"""

import statistics
import subprocess
import sys
import time

KEYS = ("RssAnon", "RssFile", "VmHWM")


def once(cmd):
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = dict.fromkeys(KEYS, 0)
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                for line in f:
                    key, _, value = line.partition(":")
                    if key in peak:
                        peak[key] = max(peak[key], int(value.split()[0]))
        except (OSError, ValueError):
            pass  # the process ended between poll() and open()
        time.sleep(0.005)
    if proc.returncode != 0:
        sys.exit(f"rss_split.py: {cmd} failed ({proc.returncode})")
    return peak


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    runs = [once(sys.argv[2:]) for _ in range(int(sys.argv[1]))]
    print(
        "  ".join(f"{k} median {statistics.median(r[k] for r in runs)} KiB" for k in KEYS)
        + f"  ({len(runs)} runs)"
    )


if __name__ == "__main__":
    main()
