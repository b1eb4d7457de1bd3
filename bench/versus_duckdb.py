#!/usr/bin/env python3
"""`goal run` beside the same answer computed by DuckDB.

    python bench/versus_duckdb.py [--events 200000] [--contacts 20000] [--repeat 3] [--threads 1] [--work DIR]

A data team could compute the benchmark's enrollments and exits (with their
reasons) for the shared generator's three workflows with one SQL script
(bench/answer.sql, written for that program from what the spec says). This
runs it with DuckDB and `goal run --format jsonl` alternately on the same
log, checks that both give the very same rows (time, contact, workflow,
enrolled or exited, reason, goal), and prints the medians of wall-clock time
and CPU seconds and `goal run / DuckDB`. No target yet (docs/performance.md).

DuckDB is installed in the benchmark's own environment only (a virtual
environment under the work folder, made on first use with pip); goal's
environment never has it. ``--threads`` is DuckDB's (0: its default, every
core; the default 1 compares one core with one core). Exits 1 when the
answers differ.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import venv
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import cpu_median, gen, goal_cmd, side_by_side, work_folder, workload_args  # noqa: E402 - the same workload and measuring as bench/run.py


def duckdb_python(work: Path) -> str:
    """The benchmark environment's Python, with DuckDB (installed on first use)."""
    env = work / "duckdb-venv"
    py = env / "bin" / "python"
    if not py.exists():
        venv.create(env, with_pip=True)
    if subprocess.run([str(py), "-c", "import duckdb"], capture_output=True).returncode != 0:
        subprocess.run([str(py), "-m", "pip", "install", "-q", "duckdb"], check=True)
    return str(py)


def epoch(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def goal_rows(path: Path) -> list[tuple]:
    """The enrollments and exits of an activity stream, as answer.sql gives them."""
    rows = []
    with open(path) as f:
        for line in f:
            e = json.loads(line)
            if e["type"] in ("enrolled", "exited"):
                rows.append((epoch(e["time"]), e["contact"], e["workflow"], e["type"], e.get("reason"), e.get("goal")))
    return sorted(rows, key=repr)


def duck_rows(path: Path) -> list[tuple]:
    with open(path) as f:
        return sorted((tuple(json.loads(line)) for line in f), key=repr)


def main() -> int:
    ap = argparse.ArgumentParser()
    workload_args(ap)
    ap.add_argument("--threads", type=int, default=1, help="DuckDB's threads (0: its default, every core)")
    a = ap.parse_args()
    work = work_folder(a)
    w5 = work / f"w{a.events}-5"
    args5 = gen(w5, a.events, a.contacts, 5)
    start, until = epoch(args5[args5.index("--from") + 1]), epoch(args5[args5.index("--until") + 1])
    py = duckdb_python(work)
    tmp = Path(tempfile.mkdtemp(prefix="goal-bench-duckdb-"))
    goal_out, duck_out = tmp / "goal.jsonl", tmp / "duck.jsonl"
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; {a.repeat} runs each, alternating, "
          f"medians; load average at start {os.getloadavg()[0]:.1f}; DuckDB threads: {a.threads or 'all'}")
    run = goal_cmd() + ["run", str(w5), "--format", "jsonl", "--out", str(goal_out), *args5]
    duck = [py, str(HERE / "duckdb_answer.py"), str(w5 / "events.jsonl"), str(w5 / "contacts.jsonl"), str(start),
            str(until), str(duck_out), "--threads", str(a.threads)]
    walls = side_by_side({"goal run": run, "DuckDB (bench/answer.sql)": duck}, a.repeat)
    g, d = goal_rows(goal_out), duck_rows(duck_out)
    same = g == d
    print(f"answers: goal run {len(g):,} enrollments and exits, DuckDB {len(d):,}: "
          + ("the same rows" if same else f"DIFFERENT ({len(set(g) - set(d))} only in goal run, "
                                          f"{len(set(d) - set(g))} only in DuckDB)"))
    wg, wd = walls["goal run"], walls["DuckDB (bench/answer.sql)"]
    print(f"goal run / DuckDB: {wg / wd:.2f}x wall, {cpu_median(run) / cpu_median(duck):.2f}x CPU")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
