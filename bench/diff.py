#!/usr/bin/env python3
"""Benchmark `goal diff` against one `goal run` (issue 14: the two runs over
the 200k benchmark log in at most 2.2x one run).

    python bench/diff.py [--events 200000] [--contacts 20000] [--repeat 3] [--work DIR]

Generates the workload as bench/run.py does (../shared/bench/gen.py), writes
a second version of its program with one threshold changed, then times,
alternately, so a busy machine slows both alike: `goal run PROGRAM --format
jsonl` (one run, its output thrown away) and `goal diff PROGRAM NEW` (both
versions over the same log, read once). Prints medians of wall-clock time
and CPU seconds (user plus system) side by side with the load average, and
whether the diff takes at most 2.2x one run (the target, on wall-clock
time); exits 1 if it misses.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import gen, goal_cmd, side_by_side, work_folder, workload_args  # noqa: E402 - the same workload and measuring as bench/run.py

TARGET = 2.2


def variant(src: Path, dst: Path) -> str:
    """A copy of the program with one threshold raised by 10: the lead score
    a goal asks for (it changes some contacts' outcomes), else the first
    number in a comparison."""
    dst.mkdir(parents=True, exist_ok=True)
    text = (src / "program.goal").read_text()
    m = re.search(r"(lead_score >=) (\d+)", text) or re.search(r"(>=|>|<=|<|==) (\d+)", text)
    if m is None:
        raise SystemExit("the generated program has no numeric comparison to change")
    changed = text[:m.start(2)] + str(int(m.group(2)) + 10) + text[m.end(2):]
    (dst / "program.goal").write_text(changed)
    return f"{m.group(1)} {m.group(2)} -> {m.group(1)} {int(m.group(2)) + 10}"


def main() -> int:
    ap = argparse.ArgumentParser()
    workload_args(ap)
    a = ap.parse_args()
    work = work_folder(a)
    w = work / f"w{a.events}-5"
    args = gen(w, a.events, a.contacts, 5)  # --from/--until of the workload, the same for both
    new = work / f"w{a.events}-5-new"
    if new.exists():
        shutil.rmtree(new)
    what = variant(w, new)
    goal = goal_cmd()
    cmds = {
        "goal run --format jsonl": goal + ["run", str(w), "--format", "jsonl", *args],
        "goal diff": goal + ["diff", str(w), str(new), "--contacts", str(w / "contacts.jsonl"),
                             "--events", str(w / "events.jsonl"), *args],
    }
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; {a.events:,} events, "
          f"{a.contacts:,} contacts; the new version: {what}; {a.repeat} runs each, alternating, medians; "
          f"load average at start {os.getloadavg()[0]:.1f}")
    wall = side_by_side(cmds, a.repeat, ok=(0, 1))  # diff's exit 1: the versions differ
    ratio = wall["goal diff"] / wall["goal run --format jsonl"]
    ok = ratio <= TARGET
    print(f"goal diff takes {ratio:.2f}x the time of one goal run (target <= {TARGET}x): "
          f"{'meets target' if ok else 'MISSES target'}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
