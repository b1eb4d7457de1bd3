"""The program a state file runs, and which edits of it a state accepts
(docs/durability.md, "Pausing, and editing goals"): fingerprints of the
program and of each workflow's goals, the program's sources kept to replay
with, and the goal-edit lock."""
from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Optional

from ..semantics import ir
from .statefile import StateError


def program_fingerprint(program) -> str:
    """The checked program, independent of formatting and comments."""
    return digest(repr(program.ir))


def workflow_goals(wf: ir.Workflow, segments: dict) -> str:
    """A workflow's goals as a fingerprint: the goals' conditions and
    actions, and the definitions of the segments they name directly (sorted
    by name): the text state files were written with. The segments those
    segments use are not added (so editing one is not locked); adding them
    would change the stored digest of every workflow whose goals use such a
    segment."""
    goals = ir.all_goals(wf)
    text = repr(goals)
    conds = [c for g in goals for c in (g.cond, *(cond for cond, _, _ in g.then_ifs))]
    for name in sorted({n.name for c in conds for n, _ in ir.walk(c) if isinstance(n, ir.CSegment)}):
        text += repr(segments.get(name))
    return digest(text)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def write_program(db: sqlite3.Connection, program) -> str:
    """Store the program the state now runs (its workflows' fingerprints and
    shapes, pauses kept; its sources); returns its fingerprint."""
    fp = program_fingerprint(program)
    paused = {n for n, p in db.execute("SELECT name, paused FROM workflows") if p}
    db.execute("DELETE FROM workflows")
    segs = program.ir.segments
    db.executemany("INSERT INTO workflows VALUES (?, ?, ?, ?, ?)",
                   [(cw.name, i, workflow_goals(cw.wf, segs), cw.shape, int(cw.name in paused))
                    for i, cw in enumerate(program.plan.workflows)])
    db.execute("DELETE FROM sources")
    db.executemany("INSERT INTO sources VALUES (?, ?)",
                   sorted((n if n.startswith("<") else os.path.abspath(n), t) for n, t in program.sources.items()))
    db.execute("INSERT OR REPLACE INTO meta VALUES ('fingerprint', ?)", (fp,))
    return fp


def stored_program(db: sqlite3.Connection, fingerprint: Optional[str]):
    """The program as the state last ran it (from the sources table), or
    None when it cannot be rebuilt exactly. The sources are written to a
    temporary folder under their relative names: a stored name cannot lead
    a file out of it."""
    from ..runtime.program import load_program
    user = [(n, t) for n, t in db.execute("SELECT name, text FROM sources")
            if isinstance(n, str) and not n.startswith("<")]
    if not user or not all(isinstance(t, str) and os.path.isabs(n) and os.path.normpath(n) == n
                           and ".." not in Path(n).parts for n, t in user):
        return None
    tmp = tempfile.mkdtemp(prefix="goal-state-")
    try:
        root = Path(os.path.commonpath([str(Path(n).parent) for n, _ in user]))
        files = []
        for n, text in user:
            dest = Path(tmp) / Path(n).relative_to(root)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(text, encoding="utf-8", errors="surrogatepass")
            files.append(dest)
        files.sort(key=lambda f: (len(f.parts), str(f)))
        program = load_program(files)
    except Exception:  # noqa: BLE001 - any reason it cannot be rebuilt: replay with the new program
        return None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return program if program_fingerprint(program) == fingerprint else None


def check_program(db: sqlite3.Connection, program, path) -> None:
    """Goal editing is locked while a workflow runs (docs/spec.md seed rule):
    refuse a program whose edits would change what enrolled contacts' places
    or goals mean. Uses the places stored for the last committed instant."""
    stored = {name: (goals, shape, bool(paused)) for name, goals, shape, paused in
              db.execute("SELECT name, goals, shape, paused FROM workflows")}
    enrolled = dict(db.execute("SELECT workflow, COUNT(*) FROM positions GROUP BY workflow"))
    segments = program.ir.segments
    problems = []
    for cw in program.plan.workflows:
        old = stored.get(cw.name)
        n = enrolled.get(cw.name, 0)
        if old is None or n == 0:
            continue
        goals = workflow_goals(cw.wf, segments)
        who = f"{n} contact{'s are' if n != 1 else ' is'} enrolled in it"
        if cw.shape != old[1]:
            problems.append(
                f'the steps of workflow "{cw.name}" changed so that the places of contacts in it no longer '
                f"mean the same, and {who}. Put its steps back as they were (goals may be edited while it "
                f"is paused), or run the new program with a new state file")
        elif goals != old[0] and not old[2]:
            problems.append(
                f'the goals of workflow "{cw.name}" differ from the ones it runs with, and {who}: goals cannot '
                f'be edited while a workflow runs. Pause it first (goal pause {path} "{cw.name}"), run '
                f'again, and unpause it when you are done (goal unpause {path} "{cw.name}")')
    present = {cw.name for cw in program.plan.workflows}
    for name in stored:
        n = enrolled.get(name, 0)
        if name not in present and n:
            problems.append(f'workflow "{name}" is not in the program any more, but {n} contact'
                            f"{'s are' if n != 1 else ' is'} enrolled in it; put it back to let them finish")
    if problems:
        raise StateError("; ".join(problems) if len(problems) == 1 else
                         "the program cannot run with this state:\n  " + "\n  ".join(problems))
