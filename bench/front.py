#!/usr/bin/env python3
"""Benchmark the front end: start-up, `goal check`, the language server.

    python bench/front.py [--repeat 5] [--only 1,2,3,4] [--goal GOAL] [--compare OTHER_GOAL] [--work DIR]

Figures (issue 17), each printed as a median with CPU seconds beside wall time:

1. `goal --version` (target <= 0.12 s);
2. `goal check` on a small file, the booked-a-demo example (target <= 0.12 s);
3. `goal check` on the generated 10,000-line program of bench/run.py
   (target <= 0.4 s of CPU);
4. the language server (`goal lsp` over stdio, driven by pygls's client as
   an editor would) on a 5,000-line document: the time from a one-character
   edit to its diagnostics (target <= 100 ms), for an edit inside a line, a
   new line at the top (every block below moves), and an edit that makes an
   error; and completion at a point of the document (target <= 20 ms). The
   server's own CPU time is read from /proc beside the wall time;
5. one-contact answers on the 200,000-event benchmark log (issue 12):
   `goal explain` and `goal eval --contact` (target < 0.5 s of CPU each;
   the log's index is in the cache folder after the first run), and
   `goal explain` on a new log (no index kept: every line is scanned), on
   the log touched (the same bytes, a new modification time) and on a log
   grown by 100 lines since the last answer (only those are scanned).
   Each goal keeps its own cache folder (bench/work/cache-this, -other).

``--compare OTHER_GOAL`` runs every command with another `goal` too (a
checkout of another commit), alternating, so that a busy machine slows both
alike: the figures are printed side by side. GOAL and OTHER_GOAL are
commands (``"env PYTHONPATH=/tmp/other python -m goaldsl"`` works); GOAL is
the `goal` on the PATH by default.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import big_program, gen, installed_env  # noqa: E402 - the 10,000-line program, the workloads and the environment of bench/run.py

SMALL = HERE.parent / "examples" / "booked-a-demo" / "program.goal"
WORK = HERE / "work"
GROWTH = 100  # lines appended to the log before each run of figure 5's grown log


def cpu_and_wall(cmd: list[str], cache: Path | None = None) -> tuple[float, float]:
    """CPU seconds (user + system, the command and its children) and wall seconds of one run;
    ``cache``: the cache folder it keeps what it may recompute in (XDG_CACHE_HOME)."""
    env = installed_env()
    if cache is not None:
        env["XDG_CACHE_HOME"] = str(cache)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)  # microseconds (os.times counts hundredths)
    t = time.perf_counter()
    # From a folder of its own: `python -m goaldsl` would import the package in the working folder.
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=WORK)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed with exit {p.returncode}:\n{p.stderr.decode()[-2000:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def cache_of(k: str) -> Path:
    """The cache folder of the goal called ``k`` (its parser tables, the logs' indexes)."""
    return WORK / f"cache-{k}"


def side_by_side(name: str, cmds: dict[str, list[str]], repeat: int, target: float | None, what: str = "CPU",
                 before=None) -> dict:
    """Medians of ``repeat`` runs of each command, alternating; ``before(k)``
    is called before each measured run of command ``k``. Each command keeps
    its own cache folder (``cache_of``), so that two versions of goal do
    not take each other's."""
    for k, cmd in cmds.items():
        cpu_and_wall(cmd, cache_of(k))  # once first: the bytecode and the parser's tables are written
    runs: dict[str, list[tuple[float, float]]] = {k: [] for k in cmds}
    for _ in range(repeat):
        for k, cmd in cmds.items():
            if before is not None:
                before(k)
            runs[k].append(cpu_and_wall(cmd, cache_of(k)))
    out = {}
    for k, rs in runs.items():
        cpu = statistics.median(r[0] for r in rs)
        wall = statistics.median(r[1] for r in rs)
        out[k] = cpu
        verdict = "" if target is None else (" met" if cpu <= target else " MISSED")
        print(f"   {k:>8}: {cpu:.3f} s CPU, {wall:.3f} s wall{verdict}")
    return out


# ---------------------------------------------------------------- the language server

def proc_cpu(pid: int) -> float:
    """CPU seconds a process has used so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def lsp_session(goal: list[str], doc: Path, repeat: int) -> dict:
    from lsprotocol import types as T
    from pygls.lsp.client import LanguageClient

    client = LanguageClient("goal-bench", "1")
    published: asyncio.Queue = asyncio.Queue()

    @client.feature(T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def diagnostics(params: T.PublishDiagnosticsParams):
        published.put_nowait((time.perf_counter(), params))

    await client.start_io(goal[0], *goal[1:], "lsp", env=installed_env(), cwd=str(doc.parent))
    pid = client._server.pid  # noqa: SLF001 - pygls keeps the process there
    uri = doc.as_uri()
    await client.initialize_async(T.InitializeParams(capabilities=T.ClientCapabilities(),
                                                     root_uri=doc.parent.as_uri()))
    client.initialized(T.InitializedParams())
    text = doc.read_text(encoding="utf-8")
    version = 1
    t0 = time.perf_counter()
    client.text_document_did_open(T.DidOpenTextDocumentParams(
        T.TextDocumentItem(uri=uri, language_id="goal", version=version, text=text)))
    when, _ = await asyncio.wait_for(published.get(), 120)
    figures: dict = {"open": (when - t0, float("nan"))}
    lines = text.split("\n")
    middle = len(lines) // 2
    # A line in the middle holding a digit to change: `... >= 42` of a segment.
    row = next(i for i in range(middle, len(lines)) if lines[i].startswith("segment "))
    col = len(lines[row]) - 1

    async def edit(name: str, rng: T.Range, new: str, undo_rng: T.Range, old: str) -> None:
        nonlocal version
        walls, cpus = [], []
        for i in range(repeat * 2):
            version += 1
            r, t_new = (rng, new) if i % 2 == 0 else (undo_rng, old)
            c0 = proc_cpu(pid)
            t = time.perf_counter()
            client.text_document_did_change(T.DidChangeTextDocumentParams(
                T.VersionedTextDocumentIdentifier(uri=uri, version=version),
                [T.TextDocumentContentChangePartial(range=r, text=t_new)]))
            when, _ = await asyncio.wait_for(published.get(), 120)
            walls.append(when - t)
            await asyncio.sleep(0.05)  # let the server finish what it does after publishing
            cpus.append(proc_cpu(pid) - c0)
        figures[name] = (statistics.median(walls), statistics.median(cpus))

    P = T.Position
    digit = lines[row][col]
    other = "7" if digit != "7" else "3"
    await edit("edit inside a line", T.Range(P(row, col), P(row, col + 1)), other,
               T.Range(P(row, col), P(row, col + 1)), digit)
    await edit("new line at the top", T.Range(P(0, 0), P(0, 0)), "\n", T.Range(P(0, 0), P(1, 0)), "")
    # `email.unsubscribed` -> `email.unsubscribe`: an unknown event type, then fixed again
    erow = next(i for i in range(middle, len(lines)) if "email.unsubscribed" in lines[i])
    ecol = lines[erow].index("email.unsubscribed") + len("email.unsubscribe")
    await edit("edit making an error", T.Range(P(erow, ecol), P(erow, ecol + 1)), "",
               T.Range(P(erow, ecol), P(erow, ecol)), "d")
    # Completion after `contact.` on the audience line of a workflow in the middle.
    arow = next(i for i in range(middle, len(lines)) if lines[i].lstrip().startswith("audience "))
    acol = lines[arow].index("contact.") + len("contact.")
    walls, cpus = [], []
    for _ in range(repeat * 2):
        c0 = proc_cpu(pid)
        t = time.perf_counter()
        items = await client.text_document_completion_async(T.CompletionParams(
            T.TextDocumentIdentifier(uri=uri), P(arow, acol)))
        walls.append(time.perf_counter() - t)
        cpus.append(proc_cpu(pid) - c0)
    assert items, "no completions"
    figures["completion"] = (statistics.median(walls), statistics.median(cpus))
    # The same right after an edit elsewhere (its diagnostics published): what typing then asking costs.
    walls, cpus = [], []
    for i in range(repeat * 2):
        version += 1
        client.text_document_did_change(T.DidChangeTextDocumentParams(
            T.VersionedTextDocumentIdentifier(uri=uri, version=version),
            [T.TextDocumentContentChangePartial(range=T.Range(P(row, col), P(row, col + 1)),
                                                text=other if i % 2 == 0 else digit)]))
        await asyncio.wait_for(published.get(), 120)
        await asyncio.sleep(0.05)
        c0 = proc_cpu(pid)
        t = time.perf_counter()
        items = await client.text_document_completion_async(T.CompletionParams(
            T.TextDocumentIdentifier(uri=uri), P(arow, acol)))
        walls.append(time.perf_counter() - t)
        cpus.append(proc_cpu(pid) - c0)
    figures["completion after an edit"] = (statistics.median(walls), statistics.median(cpus))
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return figures


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--only", default="1,2,3,4,5")
    ap.add_argument("--goal", help="the goal command to measure (default: goal on the PATH)")
    ap.add_argument("--compare", help="another goal command, measured side by side")
    ap.add_argument("--work", default=str(HERE / "work"))
    a = ap.parse_args()
    only = {int(x) for x in a.only.split(",") if x.strip()}
    global WORK
    work = WORK = Path(a.work).absolute()
    work.mkdir(parents=True, exist_ok=True)
    goals = {"this": shlex.split(a.goal) if a.goal else
             ([shutil.which("goal")] if shutil.which("goal") else [sys.executable, "-m", "goaldsl"])}
    if a.compare:
        goals["other"] = shlex.split(a.compare)
    for g in goals.values():  # the commands run from the work folder: a relative path to goal is made absolute
        if "/" in g[0] and not os.path.isabs(g[0]) and os.path.exists(g[0]):
            g[0] = os.path.abspath(g[0])
    print(f"load average at the start: {os.getloadavg()[0]:.1f}")
    if 1 in only:
        print("1. goal --version (target <= 0.12 s)")
        side_by_side("version", {k: g + ["--version"] for k, g in goals.items()}, a.repeat, 0.12)
    if 2 in only:
        print(f"2. goal check on a small file, {SMALL.parent.name} (target <= 0.12 s)")
        side_by_side("small", {k: g + ["check", "-q", str(SMALL)] for k, g in goals.items()}, a.repeat, 0.12)
    if 3 in only:
        prog = work / "big.goal"
        big_program(prog, 10_000)
        print("3. goal check on the 10,000-line program (target <= 0.4 s CPU)")
        side_by_side("big", {k: g + ["check", "-q", str(prog)] for k, g in goals.items()}, a.repeat, 0.4)
    if 4 in only:
        doc_dir = work / "lsp"
        doc_dir.mkdir(exist_ok=True)
        doc = doc_dir / "big.goal"
        big_program(doc, 5_000)
        print("4. goal lsp on a 5,000-line document: wall (server CPU); targets: diagnostics after an edit "
              "<= 100 ms, completion <= 20 ms")
        for k, g in goals.items():
            figs = asyncio.run(lsp_session(g, doc, max(1, a.repeat // 2)))
            for name, (wall, cpu) in figs.items():
                target = 0.02 if name.startswith("completion") else 0.1 if name != "open" else None
                verdict = "" if target is None else (" met" if wall <= target else " MISSED")
                print(f"   {k:>8}: {name}: {wall * 1000:.0f} ms ({cpu * 1000:.0f} ms CPU){verdict}")
    if 5 in only:
        w5 = work / "w200000-5"
        gen(w5, 200_000, 20_000, 5)
        cond = 'page.visited(url starts with "/pricing") at least 2 times within 7 days'
        print("5. one contact on the 200,000-event log (target < 0.5 s CPU each)")
        print("   goal explain")
        side_by_side("explain", {k: g + ["explain", str(w5), "--contact", "c0001234", "--goal", "Demo"]
                                 for k, g in goals.items()}, a.repeat, 0.5)
        print("   goal eval --contact")
        side_by_side("eval", {k: g + ["eval", cond, str(w5), "--contact", "c0001234"] for k, g in goals.items()},
                     a.repeat, 0.5)
        explain = ["explain", "--contact", "c0001234", "--goal", "Demo"]

        def fresh(k):  # a log the cache folder has no index of
            for p in (cache_of(k) / "goaldsl").glob("log-*.index"):
                p.unlink()

        print("   goal explain on a new log (no index kept: every line is scanned; target < 0.5 s CPU)")
        side_by_side("explain-new", {k: g + explain[:1] + [str(w5)] + explain[1:] for k, g in goals.items()},
                     a.repeat, 0.5, before=fresh)
        log = w5 / "events.jsonl"

        def touch(k):  # a new modification time, the same bytes
            os.utime(log, ns=(time.time_ns(), time.time_ns()))

        print("   goal explain, the log touched (a new modification time, the same bytes)")
        side_by_side("explain-touched", {k: g + explain[:1] + [str(w5)] + explain[1:] for k, g in goals.items()},
                     a.repeat, 0.5, before=touch)
        print(f"   goal explain, the log grown by {GROWTH} lines since the last answer (a copy of it per goal)")
        grown = {k: work / f"w200000-5-grown-{k}" for k in goals}
        for k, folder in grown.items():
            folder.mkdir(exist_ok=True)
            for name in ("program.goal", "contacts.jsonl", "events.jsonl"):
                shutil.copyfile(w5 / name, folder / name)
        head = (w5 / "events.jsonl").read_bytes().splitlines(keepends=True)[:GROWTH]
        grown_by = {k: 0 for k in goals}

        def grow(k):  # GROWTH more lines, with ids of their own
            grown_by[k] += 1
            lines = [line.replace(b'"id": "e', f'"id": "g{grown_by[k]}-'.encode(), 1) for line in head]
            with open(grown[k] / "events.jsonl", "ab") as f:
                f.writelines(lines)

        side_by_side("explain-grown", {k: g + explain[:1] + [str(grown[k])] + explain[1:] for k, g in goals.items()},
                     a.repeat, 0.5, before=grow)
    return 0


if __name__ == "__main__":
    sys.exit(main())
