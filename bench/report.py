#!/usr/bin/env python3
"""Benchmark `goal report` against `goal run` on the same log.

    python bench/report.py [--events 200000] [--contacts 20000] [--repeat 3] [--work DIR]

On the shared generator's workload (as bench/run.py makes it), alternately,
so a busy machine slows all alike: `goal run --format jsonl` (to /dev/null),
`goal report` (the HTML page, charts drawn) and `goal report --format json`
(the figures alone). Prints medians of wall-clock time and CPU seconds (user
plus system, the chart workers included) side by side, and whether the page
takes at most 1.3 times `goal run` (the target, on wall-clock time). Exits 1
if it misses.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import gen, goal_cmd, side_by_side, work_folder, workload_args  # noqa: E402 - the same workload and measuring as bench/run.py

TARGET = 1.3


def main() -> int:
    ap = argparse.ArgumentParser()
    workload_args(ap)
    a = ap.parse_args()
    work = work_folder(a)
    w = work / f"w{a.events}-5"
    args = gen(w, a.events, a.contacts, 5)
    goal = goal_cmd()
    out = Path(tempfile.mkdtemp(prefix="goal-bench-report-"))
    cmds = {
        "goal run --format jsonl": goal + ["run", str(w), "--format", "jsonl", *args],
        "goal report (HTML)": goal + ["report", str(w), *args, "--out", str(out / "report.html")],
        "goal report --format json": goal + ["report", str(w), *args, "--format", "json", "--out",
                                             str(out / "figures.json")],
    }
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; {a.events:,} events, "
          f"{a.contacts:,} contacts; {a.repeat} runs each, alternating, medians; "
          f"load average at start {os.getloadavg()[0]:.1f}")
    wall = side_by_side(cmds, a.repeat)
    ratio = wall["goal report (HTML)"] / wall["goal run --format jsonl"]
    ok = ratio <= TARGET
    size = (out / "report.html").stat().st_size
    print(f"the report page ({size / 1024:.0f} KiB) takes {ratio:.2f}x the time of goal run "
          f"(target <= {TARGET}x): {'meets target' if ok else 'MISSES target'}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
