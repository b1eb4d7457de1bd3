"""Coverage-guided fuzz targets (atheris): the parser and checker, the input
readers, the embedding API and the state loader.

Each target takes the fuzzer's bytes and drives one public entry point. The
contract is the product's: these entry points answer bad input with
diagnostics or the documented exceptions (``GoalError``, ``InputError``,
``EngineError``, ``StateError``), never anything else. Any other exception
is a finding; so is an input that takes longer than ``-timeout`` seconds
(a hang). ``fuzz/run.py`` runs each for a bounded time; docs/limits.md
lists the bounds that findings led to.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["goaldsl"]):
    from goaldsl import cli
    from goaldsl.api import EngineError, GoalError, InputError, load_program
    from goaldsl.durable.run import DurableRun
    from goaldsl.runtime.engine import Engine
    from goaldsl.runtime.inputs import Inputs, read_contacts, read_events
    from goaldsl.semantics.checker import check
    from goaldsl.semantics.loader import load, read_source
    from goaldsl.syntax.formatter import format_source
    from goaldsl.syntax.parser import parse

ROOT = Path(__file__).resolve().parent.parent
WORK = Path(tempfile.mkdtemp(prefix="goal-fuzz-"))
PROGRAM_TEXT = (ROOT / "examples" / "booked-a-demo" / "program.goal").read_text(encoding="utf-8")
(WORK / "program.goal").write_text(PROGRAM_TEXT, encoding="utf-8")
_PROGRAM = None


def program():
    global _PROGRAM
    if _PROGRAM is None:
        _PROGRAM = load_program(WORK / "program.goal")
    return _PROGRAM


# ---------------------------------------------------------------- the language

def fuzz_program(data: bytes) -> None:
    """Bytes as a .goal file: read as the loader reads a file, parsed and
    formatted; when it parses, loaded and checked with the standard library
    (the slow part, so only then); and the text as a condition (goal eval,
    the REPL)."""
    path = WORK / "f.goal"
    path.write_bytes(data)
    text, problem = read_source(path, "f.goal")
    if text is None:
        assert problem is not None
        return
    res = parse(text, "f.goal")
    format_source(text, "f.goal")
    if res.module is not None and not any(d.is_error for d in res.diagnostics):
        check(load([path]))
    if len(text) < 2000:
        try:
            program().condition(text)
        except GoalError:
            pass


# ---------------------------------------------------------------- inputs

def fuzz_inputs(data: bytes) -> None:
    """Bytes as a contacts file and as an events file, read as goal run reads
    them; what is read is then run."""
    c, e = WORK / "contacts.jsonl", WORK / "events.jsonl"
    c.write_bytes(data)
    e.write_bytes(data)
    prog = program()
    inputs = Inputs()
    read_contacts(c, "contacts.jsonl", inputs)
    read_events(e, prog.ir.events, "events.jsonl", inputs)
    for b in inputs.bad:
        assert b.line >= 1 and b.message, b
    if inputs.events:
        eng = Engine(prog.plan, start=inputs.events[0][0])
        for rec in inputs.contacts:
            eng.add_contact_unchecked(rec)
        for ev in inputs.events:
            eng.add_event_unchecked(*ev)
        try:
            eng.run_until(min(inputs.events[-1][0] + 86400, 221845391999))
        except EngineError:
            pass


_KEYS = ["id", "tags", "lists", "fields", "form", "url", "status", "appointment", "amount", "email", "lead_score",
         "company", "company.size", "tags.0", "stage", ""]


def _value(fdp, depth: int = 0):
    """A value a host might pass: JSON-like mostly, sometimes not (a set, a
    float NaN, a tuple, bytes), nested a few levels."""
    kind = fdp.ConsumeIntInRange(0, 11 if depth < 4 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return fdp.ConsumeBool()
    if kind == 2:
        return fdp.ConsumeIntInRange(-2 ** 70, 2 ** 70)
    if kind == 3:
        return fdp.ConsumeRegularFloat() if fdp.ConsumeBool() else fdp.PickValueInList(
            [float("nan"), float("inf"), -0.0])
    if kind in (4, 5):
        return fdp.PickValueInList(["vip", "confirmed", "confirmd", "f", "/", "", "c1", "2026-11-02T10:00Z"])
    if kind == 6:
        return fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 12))
    if kind in (7, 8):
        return [_value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 3))]
    if kind in (9, 10):
        return {fdp.PickValueInList(_KEYS) if fdp.ConsumeBool() else fdp.ConsumeUnicode(4): _value(fdp, depth + 1)
                for _ in range(fdp.ConsumeIntInRange(0, 4))}
    return fdp.PickValueInList([{1, 2}, (1, 2), b"x", object(), {1: "a"}])


def fuzz_api(data: bytes) -> None:
    """Values given to the embedding API: the engine checks them as the
    readers check files and raises only InputError/EngineError (GoalError
    for load_program)."""
    fdp = atheris.FuzzedDataProvider(data)
    prog = program()
    handlers = {"send_email": lambda req: None} if fdp.ConsumeBool() else {}
    try:
        eng = Engine(prog.plan, start=fdp.ConsumeIntInRange(-2208988800 - 10, 221845392000 + 10),
                     handlers=handlers)
    except InputError:
        return
    t = eng.start
    for _ in range(fdp.ConsumeIntInRange(0, 8)):
        what = fdp.ConsumeIntInRange(0, 3)
        try:
            if what == 0:
                eng.add_contact(_contact(fdp))
            elif what == 1:
                typ = fdp.PickValueInList(sorted(prog.ir.events) + ["nope", None, 3])
                t += fdp.ConsumeIntInRange(-100, 86400 * 30)
                when = t if fdp.ConsumeProbability() < 0.9 else _value(fdp)
                cid = fdp.PickValueInList(["c1", "c2", 7, "", None, True])
                eng.add_event(when, cid, typ, _value(fdp) if fdp.ConsumeProbability() < 0.3 else _fields(fdp))
            elif what == 2:
                eng.run_until(t + fdp.ConsumeIntInRange(-86400, 86400 * 30) if fdp.ConsumeBool() else _value(fdp))
            else:
                eng.run()
        except (InputError, EngineError):
            pass


def _contact(fdp):
    rec = {"id": fdp.PickValueInList(["c1", "c2", 7, "", None, True, 1.5])}
    for _ in range(fdp.ConsumeIntInRange(0, 3)):
        rec[fdp.PickValueInList(_KEYS)] = _value(fdp, 2)
    return rec if fdp.ConsumeProbability() < 0.9 else _value(fdp)


def _fields(fdp):
    return {fdp.PickValueInList(_KEYS): _value(fdp, 2) for _ in range(fdp.ConsumeIntInRange(0, 4))}


# ---------------------------------------------------------------- the state file

_STATE = None


def _valid_state() -> bytes:
    """A small state file written by a real run, to mutate."""
    global _STATE
    if _STATE is None:
        src = WORK / "seed.db"
        events = WORK / "seed-events.jsonl"
        events.write_bytes((ROOT / "examples" / "booked-a-demo" / "events.jsonl").read_bytes())
        run = DurableRun(src, program(), checkpoint_seconds=0)
        try:
            new = run.read_events(events)
            run.begin(new.events[0][0])
            run.ingest([], [new])
            run.run_until(new.events[-1][0])
        finally:
            run.close()
        for extra in ("-wal", "-shm"):
            Path(str(src) + extra).unlink(missing_ok=True)
        _STATE = src.read_bytes()
    return _STATE


def fuzz_state(data: bytes) -> None:
    """A state file with bytes overwritten at places the fuzzer picks (or
    the fuzzer's bytes whole): reading its log and resuming the run answer
    with StateError or work; nothing else."""
    fdp = atheris.FuzzedDataProvider(data)
    base = bytearray(_valid_state())
    if fdp.ConsumeBool():
        for _ in range(fdp.ConsumeIntInRange(1, 8)):
            at = fdp.ConsumeIntInRange(0, len(base) - 1)
            chunk = fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 64))
            base[at:at + len(chunk)] = chunk
        blob = bytes(base)
    else:
        blob = fdp.ConsumeBytes(fdp.remaining_bytes())
    path = WORK / "state.db"
    for extra in ("", "-wal", "-shm", "-journal"):
        Path(str(path) + extra).unlink(missing_ok=True)
    path.write_bytes(blob)
    # what `goal log` and `goal run --state` do with it: an answer or a
    # refusal (exit 0, 1 or 2), never an internal error (exit 70)
    for argv in (["log", str(path), "--format", "jsonl"],
                 ["run", str(WORK / "program.goal"), "--state", str(path), "--format", "jsonl",
                  "--from", "2026-11-16T00:00:00Z", "--until", "2026-11-20T00:00:00Z"]):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(argv)
        assert code in (0, 1, 2), f"goal {argv[0]}: exit {code}: {err.getvalue()[-2000:]}"


TARGETS = {"program": fuzz_program, "inputs": fuzz_inputs, "api": fuzz_api, "state": fuzz_state}


def main() -> None:
    name = sys.argv.pop(1)
    target = TARGETS[name]
    if name == "state":
        _valid_state()
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
