"""Commands on a state file: ``goal run --state`` (resume or start the run
kept in it), ``goal log`` (its activity stream) and ``goal pause`` /
``goal unpause``."""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Annotated, Iterable, Iterator, Optional

import msgspec

from ..semantics.calendar import format_utc
from ..syntax.values import plural
from ..runtime.snapshot import MAX_TIME, MIN_TIME
from .run import DurableRun, Ingested
from .statefile import StateError, as_int, corrupted, database_error, lock, open_state, read_meta


def stored_activity(path: str | Path) -> Iterable[str]:
    """The activity stream's JSON lines, in order (read-only: a read-only
    file or a copy can be read, also while a run writes to the file)."""
    for _, line in _entries(path):
        yield line


def stored_entries(path: str | Path) -> tuple[list[dict], list[str]]:
    """The activity stream as dicts (times as integers) and the workflows' names."""
    out = []
    for t, line in _entries(path):
        e = msgspec.json.decode(line)
        e["time"] = t
        out.append(e)
    db = open_state(path, write=False)
    try:
        names = [r[0] for r in db.execute("SELECT name FROM workflows ORDER BY position")]
    except sqlite3.Error as e:
        raise database_error(path, e) from None
    finally:
        db.close()
    if not all(isinstance(n, str) for n in names):
        raise corrupted(path, "the name of a stored workflow is not text")
    return out, names


def _entries(path) -> Iterator[tuple[int, str]]:
    """(time, JSON line) of each stored entry, each checked to be what the
    run wrote: a time and an entry (a damaged row is reported, not shown)."""
    db = open_state(path, write=False)
    try:
        for seq, t, line in db.execute("SELECT seq, time, entry FROM activity ORDER BY seq"):
            if not isinstance(t, int) or not isinstance(line, str) or not _is_entry(line):
                raise corrupted(path, f"its activity entry {seq} is not one goal wrote")
            yield t, line
    except sqlite3.Error as e:
        raise database_error(path, e) from None
    finally:
        db.close()


Step = Annotated[int, msgspec.Meta(ge=0, le=2 ** 31)]  # a top-level step, from 1 (0: none)


class _Entry(msgspec.Struct):
    """What an activity entry holds (runtime/output.py writes it; the engine
    adds the keys the figures read). Other keys may follow."""
    time: str
    contact: str
    workflow: str
    type: str
    action: Optional[str] = None
    args: Optional[dict] = None
    id: Optional[str] = None
    step: Optional[str] = None
    goal: Optional[str] = None
    reason: Optional[str] = None
    at: Optional[Step] = None
    via: Optional[str] = None
    also: Optional[list[str]] = None
    skipped: Optional[list[tuple[Step, Step]]] = None


# What each type of entry must have (the table and the figures read them).
_NEEDS = {"action": ("action", "args", "id"), "goal_achieved": ("goal",), "exited": ("reason",),
          "goal_missed": ("goal",), "not_enrolled": ("goal",), "waiting": ("at",)}
_entry = msgspec.json.Decoder(_Entry)


def _is_entry(line: str) -> bool:
    try:
        e = _entry.decode(line)
    except (msgspec.DecodeError, RecursionError):  # a ValidationError is a DecodeError
        return False
    return all(getattr(e, k) is not None for k in _NEEDS.get(e.type, ()))


def state_summary(path: str | Path, program=None) -> dict:
    """The figures of the run kept in a state file (runtime/summary.py): its
    activity, then a ``waiting`` entry per row of the positions table (no
    ``skipped``: a state keeps no record of the steps a waiting contact
    jumped over). ``program`` gives the steps' labels and the goals not yet
    achieved; without it, the workflows' names come from the state."""
    from ..runtime.summary import Summary, WorkflowShape, shapes_of
    entries, names = stored_entries(path)
    summary = Summary(shapes_of(program.ir) if program is not None else [WorkflowShape(n) for n in names])
    summary.add_all(entries)
    db = open_state(path, write=False)
    try:
        meta = read_meta(db)
        rows = db.execute("SELECT workflow, contact, since, step_index, step, waiting FROM positions").fetchall()
    except sqlite3.Error as e:
        raise database_error(path, e) from None
    finally:
        db.close()
    if not all(isinstance(wf, str) and isinstance(contact, str) and isinstance(since, int)
               and (index is None or isinstance(index, int) and 0 <= index <= 2 ** 31)
               for wf, contact, since, index, _, _ in rows):
        raise corrupted(path, "a place in its positions table is not one goal wrote")
    now, start = as_int(meta.get("now")), as_int(meta.get("start"))
    order = {n: i for i, n in enumerate(names)}
    for wf, contact, _since, index, step, waiting in sorted(rows, key=lambda r: (order.get(r[0], len(order)),
                                                                                 r[2], r[1])):
        e = {"time": now, "contact": contact, "workflow": wf, "type": "waiting", "at": index or 0}
        if waiting == "goal" and isinstance(step, str):
            e["goal"] = step
        summary.add(e)
    return summary.result(window=(start, now) if start is not None and now is not None else None)


def set_paused(path: str | Path, workflow: str, paused: bool) -> tuple[bool, bool]:
    """Mark a workflow paused or not; it takes effect when the run next
    starts. Returns (changed, a run holds the file now)."""
    db = open_state(path)
    try:
        names = [r[0] for r in db.execute("SELECT name FROM workflows ORDER BY position")]
        if not names:
            raise StateError(f"{path} has not run a program yet")
        if workflow not in names:
            from ..syntax.diagnostics import closest
            texts = [str(n) for n in names]
            best = closest(workflow, texts)
            raise StateError(f'there is no workflow "{workflow}" in {path}'
                             + (f' (did you mean "{best}"?)' if best else "")
                             + "; its workflows: " + ", ".join(f'"{n}"' for n in texts))
        db.execute("BEGIN IMMEDIATE")
        cur = db.execute("UPDATE workflows SET paused = ? WHERE name = ? AND paused != ?",
                         (int(paused), workflow, int(paused)))
        db.execute("COMMIT")
        changed = cur.rowcount > 0
    except sqlite3.Error as e:
        raise database_error(path, e) from None
    finally:
        db.close()
    busy = False
    try:
        f = lock(Path(path))
        if f is not None:
            f.close()
    except StateError:
        busy = True
    return changed, busy


def run_command(state: str, program, contacts: Optional[Path], events: Optional[Path], *, start: Optional[int],
                until: Optional[int], fmt: str, skip_bad: bool, out, err,
                checkpoint_seconds: float = 2.0) -> int:
    """``goal run PROGRAM --state FILE``: resume (or start) the run kept in FILE."""
    from ..runtime.program import InputError, shown_path
    from ..runtime.inputs import Inputs, read_contacts

    shown_lines: list[str] = []
    on_entry = (lambda line: out.write(line + "\n")) if fmt == "jsonl" else shown_lines.append
    run = DurableRun(state, program, on_entry=on_entry, checkpoint_seconds=checkpoint_seconds)
    try:
        cin = read_contacts(contacts, shown_path(contacts)) if contacts is not None else Inputs()
        new = run.read_events(events, shown_path(events)) if events is not None else None
        bad = list(cin.bad) + (list(new.bad) if new is not None else [])
        if bad and not skip_bad:
            raise InputError(bad)
        if run.fresh and start is None and new is not None and new.events:
            start = new.events[0][0]
        if run.fresh and start is None:
            raise StateError("there are no events to set the run's start: give --from")
        run.begin(start)
        before = run.now
        rep = run.ingest(cin.contacts, [new] if new is not None else [])
        if until is None:
            last = run.db.execute("SELECT MAX(time) FROM events").fetchone()[0]
            if last is not None and not (isinstance(last, int) and MIN_TIME <= last <= MAX_TIME):
                raise corrupted(state, "the time of a stored event is not a time")
            until = last if last is not None else (run.now if run.now is not None else run.start)
        if until < run.start:
            raise StateError(f"--until ({format_utc(until)}) is before the state's start ({format_utc(run.start)})")
        for name in run.new_workflows:
            first = run.eng.activation(name)
            when = f"acts from {format_utc(first)} on" if first is not None else \
                "runs once at an instant this state has already passed: it will not run"
            err.write(f'workflow "{name}" is new in this state: it {when}\n')
        n = run.run_until(until)
        if fmt != "jsonl":
            from ..runtime.output import summary, table_entries, table_line, table_widths
            entries, names = stored_entries(state)
            shown = table_entries(entries[len(entries) - len(shown_lines):]) if shown_lines else []
            widths = table_widths(shown)
            for e in shown:
                out.write(table_line(e, widths) + "\n")
            if shown:
                out.write("\n")
            for line in summary(entries, names, {}):  # the whole run so far
                out.write(line + "\n")
        _report(err, state, rep, before, run, n)
    except sqlite3.Error as e:  # a full disk, a file removed under the run, a damaged page, ...
        raise database_error(state, e, running=True) from None
    finally:
        run.close()
    return 0


def _report(err, state: str, rep: Ingested, before: Optional[int], run: DurableRun, n: int) -> None:
    if rep.bad:
        err.write(f"skipped {plural(len(rep.bad), 'bad line')}:\n")
        for b in rep.bad[:20]:
            err.write(f"  {b}\n")
        if len(rep.bad) > 20:
            err.write(f"  ... and {len(rep.bad) - 20} more\n")
    if rep.duplicates:
        err.write(f"ignored {plural(rep.duplicates, 'duplicate event')} (ids already seen)\n")
    if rep.late:
        err.write(f"{plural(len(rep.late), 'late event')}: at or before {format_utc(before)}, which this state had "
                  f"already acted on; stored as history (they count from now on), nothing acted on them:\n")
        for src, line, t, typ, cid in rep.late[:5]:
            err.write(f"  {src}:{line}: {format_utc(t)} {typ} for contact {cid}\n")
        if len(rep.late) > 5:
            err.write(f"  ... and {len(rep.late) - 5} more\n")
    if rep.unchanged_contacts:
        err.write(f"{plural(rep.unchanged_contacts, 'known contact')} differ in the contacts file from the record "
                  f"this state holds; records are read once (send contact.updated events to change them)\n")
    if n == 0 and rep.events == 0 and rep.contacts == 0 and before is not None and run.now == before:
        err.write(f"{state}: the run is complete up to {format_utc(run.now)}; nothing to do\n")
    else:
        resumed = f", resumed from {format_utc(before)}" if before is not None else ""
        err.write(f"{state}: {n} new entr{'ies' if n != 1 else 'y'}{resumed}; run up to {format_utc(run.now)}\n")
