#!/usr/bin/env python3
"""Benchmark `goal run` against the floor of reading the events.

    python bench/run.py [--events 200000] [--contacts 20000] [--repeat 3] [--work DIR] [--before GOAL]

Generates the workloads with ../shared/bench/gen.py (or bench/gen.py if the
shared one is missing), then, side by side in this one run:

1. the floor (../shared/bench/floor.py) and `goal run --format jsonl` on the
   200k-event workload: medians, the ratio in CPU seconds (target <= 2x,
   aim 1.5x; wall time beside), events/s;
2. the same workload with `evaluate every 1 minute` vs 5 minutes (target <= 1.2x);
3. 10x the events (``--scale``) against the 200k: CPU seconds (target <= 10.5x);
4. peak memory (resident) of `goal run` vs the floor's, on the 10x log
   (target <= 0.5x), and on the 200k one;
5. `goal check` on a generated 10,000-line program (target < 1 s);
6. the 200k log as Parquet: reading it (bench/read.py: read and validate,
   no engine) beside the JSON Lines floor (target: at most the floor), and
   `goal run` on Parquet beside `goal run` on JSON Lines (target: faster);
7. one-contact answers on the 200k log: `goal explain` and `goal eval
   --contact` (target < 0.5 s of CPU each), beside the full replay.

``--only 6,7`` runs some of them. ``--before GOAL`` (another build's `goal`
command, e.g. main's) runs it too in figures 1 and 3, alternately with the
others, and prints its figures beside (before and after in one run).

Prints every figure and whether it meets its target; exits 1 if one misses.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# ../shared beside the repository (CI, /work/main), else $SHARED (a worktree elsewhere)
SHARED = next((p for p in (HERE.parent.parent / "shared" / "bench", Path(os.environ.get("SHARED", "/work/shared")) / "bench")
               if p.exists()), HERE.parent.parent / "shared" / "bench")


CPU: dict[tuple, list[float]] = {}  # command -> CPU seconds (user + system) of each run


def installed_env() -> dict:
    """The environment to measure goal in: as it is installed, with Python's
    bytecode cache (some shells turn it off with PYTHONDONTWRITEBYTECODE,
    which makes every start compile the package; pip compiles it at install)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_measured(cmd: list[str], stdout=subprocess.DEVNULL, ok: tuple = (0,)) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one command, via a wrapper process.
    Its CPU seconds go to ``CPU`` (a steadier figure on a busy machine).
    ``ok``: the exit codes that are results, not failures."""
    wrapper = ("import resource, subprocess, sys, time;"
               "t = time.perf_counter();"
               "p = subprocess.run(sys.argv[1:]);"
               "dt = time.perf_counter() - t;"
               "u = resource.getrusage(resource.RUSAGE_CHILDREN);"
               "sys.stderr.write(f'@@ {dt} {u.ru_maxrss} {p.returncode} {u.ru_utime + u.ru_stime}\\n')")
    p = subprocess.run([sys.executable, "-c", wrapper, *cmd], stdout=stdout, stderr=subprocess.PIPE, text=True,
                       env=installed_env())
    line = [l for l in p.stderr.splitlines() if l.startswith("@@ ")]
    if not line:
        raise SystemExit(f"could not measure {cmd}: {p.stderr[-500:]}")
    _, dt, rss, code, cpu = line[-1].split()
    if int(code) not in ok:
        raise SystemExit(f"{' '.join(cmd)} failed with exit {code}:\n{p.stderr[-2000:]}")
    CPU.setdefault(tuple(cmd), []).append(float(cpu))
    return float(dt), int(rss)


def cpu_median(cmd: list[str]) -> float:
    return statistics.median(CPU[tuple(cmd)])


def gen(out: Path, events: int, contacts: int, tick: int) -> list[str]:
    gen_py = SHARED / "gen.py" if (SHARED / "gen.py").exists() else HERE / "gen.py"
    if not (out / "events.jsonl").exists():
        subprocess.run([sys.executable, str(gen_py), str(out), "--events", str(events),
                        "--contacts", str(contacts), "--tick", str(tick)], check=True)
    return (out / "run.args").read_text().split()


def goal_cmd() -> list[str]:
    exe = shutil.which("goal")
    return [exe] if exe else [sys.executable, "-m", "goaldsl"]


def side_by_side(cmds: dict[str, list[str]], repeat: int, ok: tuple = (0,)) -> dict[str, float]:
    """Run the commands alternately ``repeat`` times, so a busy machine slows
    all alike, and print the medians of wall-clock time and CPU seconds,
    each beside its ratio to the first command's. Returns the wall medians."""
    wall: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(repeat):
        for name, cmd in cmds.items():
            wall[name].append(run_measured(cmd, ok=ok)[0])
    first = next(iter(cmds))
    base = statistics.median(wall[first])
    base_cpu = cpu_median(cmds[first])
    print(f"{'command':28} {'wall s':>8} {'ratio':>6} {'CPU s':>8} {'ratio':>6}")
    medians = {}
    for name, cmd in cmds.items():
        t = medians[name] = statistics.median(wall[name])
        c = cpu_median(cmd)
        print(f"{name:28} {t:8.2f} {t / base:5.2f}x {c:8.2f} {c / base_cpu:5.2f}x")
    return medians


def median_run(cmd, repeat):
    times, rss = [], []
    for _ in range(repeat):
        dt, r = run_measured(cmd)
        times.append(dt)
        rss.append(r)
    return statistics.median(times), max(rss)


def big_program(path: Path, lines: int) -> None:
    out = []
    i = 0
    while len(out) < lines:
        out += [f'segment s{i} = page.visited(url starts with "/p{i}") at least 2 times within 7 days and contact.lead_score >= {i % 100}',
                f'workflow "W{i}" {{',
                '    evaluate every 5 minutes',
                f'    audience s{i} or "tag{i}" in contact.tags',
                f'    send_email("welcome-{i}") as hello{i}',
                '    wait 2 days',
                f'    if contact.company.size >= 100 {{ send_email("team-{i}") }} else {{ send_email("solo-{i}") }}',
                f'    goal "Demo {i}" {{',
                '        when appointment.status_changed(status in [new, confirmed])',
                '        then { update_contact(stage: "SQL") }',
                '        on unmet wait up to 14 days then end',
                '    }',
                '    goals {',
                f'        goal "Unsub {i}" {{ when email.unsubscribed }}',
                '    }',
                '}']
        i += 1
    path.write_text("\n".join(out) + "\n")


def workload_args(ap) -> None:
    """The options every benchmark over the generated workload takes."""
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--contacts", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--work", default=str(HERE / "work"))


def work_folder(a) -> Path:
    """The benchmark's work folder (--work), made if need be."""
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    return work


def main() -> int:
    ap = argparse.ArgumentParser()
    workload_args(ap)
    ap.add_argument("--only", default="1,2,3,4,5,6,7", help="the figures to measure, e.g. 6,7")
    ap.add_argument("--scale", type=int, default=10, help="figures 3 and 4: this many times the events")
    ap.add_argument("--before", help="another build's goal command, measured beside in figures 1 and 3")
    a = ap.parse_args()
    only = {int(x) for x in a.only.split(",") if x.strip()}
    work = work_folder(a)
    goal = goal_cmd()
    floor = [sys.executable, str(SHARED / "floor.py")]
    ok = True

    def verdict(good: bool) -> str:
        nonlocal ok
        ok = ok and good
        return "meets target" if good else "MISSES target"

    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; {a.repeat} runs each, medians; "
          f"load average at start {os.getloadavg()[0]:.1f}")
    w5 = work / f"w{a.events}-5"
    args5 = gen(w5, a.events, a.contacts, 5)
    if only & {2}:
        w1 = work / f"w{a.events}-1"
        args1 = gen(w1, a.events, a.contacts, 1)
    if only & {3, 4}:
        w4 = work / f"w{a.events * a.scale}-5"
        args4 = gen(w4, a.events * a.scale, a.contacts, 5)

    if only & {1, 2, 3, 4}:
        # Interleave floor and goal so machine noise hits both alike.
        ft, gt, frss, grss, bt = [], [], [], [], []
        before5 = [a.before, "run", str(w5), "--format", "jsonl", *args5] if a.before else None
        for _ in range(a.repeat):
            dt, r = run_measured(floor + [str(w5 / "events.jsonl")])
            ft.append(dt), frss.append(r)
            dt, r = run_measured(goal + ["run", str(w5), "--format", "jsonl", *args5])
            gt.append(dt), grss.append(r)
            if before5:
                bt.append(run_measured(before5)[0])
        f_med, g_med = statistics.median(ft), statistics.median(gt)
        ratio = g_med / f_med
        floor_cmd = floor + [str(w5 / "events.jsonl")]
        run5 = goal + ["run", str(w5), "--format", "jsonl", *args5]
        cpu_ratio = cpu_median(run5) / cpu_median(floor_cmd)
        print(f"1. CPU seconds: floor {cpu_median(floor_cmd):.2f}, goal run {cpu_median(run5):.2f}: {cpu_ratio:.2f}x "
              f"the floor (target <= 2x, aim 1.5x): {verdict(cpu_ratio <= 2)}")
        print(f"   wall: floor {f_med:.2f} s ({a.events / f_med:,.0f} events/s); goal run {g_med:.2f} s "
              f"({a.events / g_med:,.0f} events/s): {ratio:.2f}x")
        if before5:
            print(f"   before ({a.before}): CPU {cpu_median(before5):.2f} s, "
                  f"{cpu_median(before5) / cpu_median(floor_cmd):.2f}x the floor; wall {statistics.median(bt):.2f} s; "
                  f"after / before: {cpu_median(run5) / cpu_median(before5):.2f}x CPU, "
                  f"{g_med / statistics.median(bt):.2f}x wall")

        if 2 in only:
            run1 = goal + ["run", str(w1), "--format", "jsonl", *args1]
            t1, _ = median_run(run1, a.repeat)
            tick_ratio = t1 / g_med
            print(f"2. evaluate every 1 minute {t1:.2f} s vs 5 minutes {g_med:.2f} s: {tick_ratio:.2f}x "
                  f"(target <= 1.2x): {verdict(tick_ratio <= 1.2)}; CPU {cpu_median(run1) / cpu_median(run5):.2f}x")

        if only & {3, 4}:
            run4 = goal + ["run", str(w4), "--format", "jsonl", *args4]
            floor4 = floor + [str(w4 / "events.jsonl")]
            before4 = [a.before, "run", str(w4), "--format", "jsonl", *args4] if a.before else None
            t4s, rss4, frss4, brss4 = [], [], [], []
            for _ in range(max(1, a.repeat - 1)):  # alternately, as above
                dt, r = run_measured(run4)
                t4s.append(dt), rss4.append(r)
                frss4.append(run_measured(floor4)[1])
                if before4:
                    brss4.append(run_measured(before4)[1])
            t4 = statistics.median(t4s)
            lin = cpu_median(run4) / cpu_median(run5)
            print(f"3. {a.events * a.scale:,} events {cpu_median(run4):.2f} s CPU vs {a.events:,} events "
                  f"{cpu_median(run5):.2f} s: {lin:.2f}x (target <= {1.05 * a.scale:.1f}x): "
                  f"{verdict(lin <= 1.05 * a.scale)}; wall {t4:.2f} s vs {g_med:.2f} s: {t4 / g_med:.2f}x")
            mem = max(rss4) / max(frss4)
            print(f"4. peak memory with {a.events * a.scale:,} events: goal run {max(rss4) / 1024:.0f} MiB, floor "
                  f"{max(frss4) / 1024:.0f} MiB: {mem:.2f}x (target <= 0.5x): {verdict(mem <= 0.5)}")
            print(f"   with {a.events:,} events: goal run {max(grss) / 1024:.0f} MiB, floor {max(frss) / 1024:.0f} MiB: "
                  f"{max(grss) / max(frss):.2f}x")
            if before4:
                print(f"   before ({a.before}) with {a.events * a.scale:,} events: CPU {cpu_median(before4):.2f} s "
                      f"({cpu_median(before4) / cpu_median(before5):.2f}x its 200k), peak {max(brss4) / 1024:.0f} MiB")


    if 5 in only:
        prog = work / "big.goal"
        big_program(prog, 10_000)
        n_lines = len(prog.read_text().splitlines())
        check_cmd = goal + ["check", "-q", str(prog)]
        tc, _ = median_run(check_cmd, a.repeat)
        print(f"5. goal check on a {n_lines:,}-line program: {tc:.2f} s (target < 1 s): {verdict(tc < 1)}; "
              f"CPU {cpu_median(check_cmd):.2f} s")

    if 6 in only:
        parquet = w5 / "events.parquet"
        if not parquet.exists():
            sys.path.insert(0, str(HERE.parent / "tests"))
            from format_fixtures import read_jsonl, write_parquet  # the tests' converter
            write_parquet(read_jsonl(w5 / "events.jsonl"), parquet)
        floor_cmd = floor + [str(w5 / "events.jsonl")]
        read_pq = [sys.executable, str(HERE / "read.py"), str(w5), str(parquet)]
        read_jl = [sys.executable, str(HERE / "read.py"), str(w5), str(w5 / "events.jsonl")]
        run_jl = goal + ["run", str(w5), "--format", "jsonl", *args5]
        run_pq = goal + ["run", str(w5), "--format", "jsonl", "--events", str(parquet), *args5]
        walls: dict = {}
        for _ in range(a.repeat):  # interleaved, so machine noise hits all alike
            for name, cmd in (("floor", floor_cmd), ("read_pq", read_pq), ("read_jl", read_jl),
                              ("run_jl", run_jl), ("run_pq", run_pq)):
                walls.setdefault(name, []).append(run_measured(cmd)[0])
        w = {k: statistics.median(v) for k, v in walls.items()}
        c = {"floor": cpu_median(floor_cmd), "read_pq": cpu_median(read_pq), "read_jl": cpu_median(read_jl),
             "run_jl": cpu_median(run_jl), "run_pq": cpu_median(run_pq)}
        print(f"6. reading {a.events:,} events: JSON Lines floor {w['floor']:.2f} s wall / {c['floor']:.2f} s CPU; "
              f"goal's reader on Parquet {w['read_pq']:.2f} s / {c['read_pq']:.2f} s CPU (on JSON Lines "
              f"{w['read_jl']:.2f} s / {c['read_jl']:.2f} s): {c['read_pq'] / c['floor']:.2f}x the floor in CPU "
              f"(target <= 1x): {verdict(c['read_pq'] <= c['floor'])}")
        print(f"   goal run: JSON Lines {w['run_jl']:.2f} s wall / {c['run_jl']:.2f} s CPU, Parquet {w['run_pq']:.2f} s "
              f"/ {c['run_pq']:.2f} s CPU: Parquet {c['run_jl'] / c['run_pq']:.2f}x faster in CPU, "
              f"{w['run_jl'] / w['run_pq']:.2f}x in wall (target: faster): {verdict(c['run_pq'] < c['run_jl'])}")

    if 7 in only:
        contact = "c0001234"
        explain = goal + ["explain", str(w5), "--contact", contact, "--goal", "Demo"]
        ev = goal + ["eval", 'page.visited(url starts with "/pricing") at least 2 times within 7 days', str(w5),
                     "--contact", contact]
        full = goal + ["eval", 'page.visited(url starts with "/pricing") at least 2 times within 7 days', str(w5),
                       "--all", "--count"]
        for _ in range(a.repeat):
            for cmd in (explain, ev):
                run_measured(cmd)
        run_measured(full)
        ce, cv = cpu_median(explain), cpu_median(ev)
        print(f"7. one contact on the {a.events:,}-event log: goal explain {ce:.2f} s CPU, goal eval --contact "
              f"{cv:.2f} s CPU (target < 0.5 s each): {verdict(ce < 0.5 and cv < 0.5)}; for scale, goal eval --all "
              f"(every contact) {cpu_median(full):.2f} s CPU")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
