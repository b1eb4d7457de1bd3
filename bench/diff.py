#!/usr/bin/env python3
"""Benchmark `goal diff` against one `goal run` (issue 14: the two runs over
the 200k benchmark log in at most 2.2x one run).

    python bench/diff.py [--events 200000] [--contacts 20000] [--repeat 3] [--work DIR]

Generates the workload as bench/run.py does (../shared/bench/gen.py), writes
a second version of its program with one threshold changed, then times, side
by side and interleaved: `goal run PROGRAM --format jsonl` (one run, its
output thrown away) and `goal diff PROGRAM NEW` (both versions over the same
log, read once). Prints medians, CPU seconds and the ratio; exits 1 if the
ratio misses the target.
"""
from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import cpu_median, gen, goal_cmd, run_measured  # noqa: E402

TARGET = 2.2


def variant(src: Path, dst: Path) -> str:
    """A copy of the program with its first number in a comparison raised by one."""
    dst.mkdir(parents=True, exist_ok=True)
    text = (src / "program.goal").read_text()
    m = re.search(r"(>=|>|<=|<|==) (\d+)", text)
    if m is None:
        raise SystemExit("the generated program has no numeric comparison to change")
    changed = text[:m.start(2)] + str(int(m.group(2)) + 1) + text[m.end(2):]
    (dst / "program.goal").write_text(changed)
    return f"{m.group(1)} {m.group(2)} -> {m.group(1)} {int(m.group(2)) + 1}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--contacts", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--work", default=str(HERE / "work"))
    a = ap.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    w = work / f"w{a.events}-5"
    args = gen(w, a.events, a.contacts, 5)
    new = work / f"w{a.events}-5-new"
    if new.exists():
        shutil.rmtree(new)
    what = variant(w, new)
    goal = goal_cmd()
    run = goal + ["run", str(w), "--format", "jsonl", *args]
    data = [a for a in args]  # --from/--until of the workload, the same for both
    diff = goal + ["diff", str(w), str(new), "--contacts", str(w / "contacts.jsonl"),
                   "--events", str(w / "events.jsonl"), *data]
    rt, dt = [], []
    for _ in range(a.repeat):
        rt.append(run_measured(run)[0])
        dt.append(run_measured_any(diff)[0])
    r, d = statistics.median(rt), statistics.median(dt)
    ratio = d / r
    cpu = cpu_median(diff) / cpu_median(run)
    print(f"goal diff over {a.events:,} events ({what}): {d:.2f} s vs one goal run {r:.2f} s: {ratio:.2f}x "
          f"(target <= {TARGET}x): {'meets target' if ratio <= TARGET else 'MISSES target'}")
    print(f"   CPU seconds: goal run {cpu_median(run):.2f}, goal diff {cpu_median(diff):.2f}: {cpu:.2f}x")
    return 0 if ratio <= TARGET else 1


def run_measured_any(cmd):
    """run_measured, but exit 1 (the versions differ) is a result, not a failure."""
    import subprocess
    wrapper = ("import resource, subprocess, sys, time;"
               "t = time.perf_counter();"
               "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL);"
               "dt = time.perf_counter() - t;"
               "u = resource.getrusage(resource.RUSAGE_CHILDREN);"
               "sys.stderr.write(f'@@ {dt} {u.ru_maxrss} {p.returncode} {u.ru_utime + u.ru_stime}\\n')")
    p = subprocess.run([sys.executable, "-c", wrapper, *cmd], stderr=subprocess.PIPE, text=True)
    line = [l for l in p.stderr.splitlines() if l.startswith("@@ ")][-1]
    _, dt, rss, code, cpu = line.split()
    if int(code) not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed with exit {code}:\n{p.stderr[-2000:]}")
    from run import CPU
    CPU.setdefault(tuple(cmd), []).append(float(cpu))
    return float(dt), int(rss)


if __name__ == "__main__":
    sys.exit(main())
