"""A streamed run writes what a run over the whole log writes.

``goal run --format jsonl`` reads the log in pieces and runs the engine up to
just before the last event of each piece, with a lean history
(``Engine(keep_history=False)``: per count's type and filter, the latest
matching times it can tell apart, or the fields its filter reads inside its
longest window). On the random programs and logs
of the engine property test, that must give the same activity stream as
feeding everything first and keeping every event.
"""
from __future__ import annotations

import gc
import json
import shutil
import weakref
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from goaldsl.runtime import backtest
from goaldsl.runtime import inputs as inputs_module
from goaldsl.api import engine_for, load_program, read_inputs
from goaldsl.semantics.calendar import format_utc, parse_event_time
from goaldsl.cli import main
from goaldsl.runtime.engine import Engine, EngineError
from goaldsl.runtime.output import jsonl_line
from goaldsl.runtime.plan import build_plan

from pieces import cut_log
from test_engine_property import START, UNTIL, activity, compile_program, describe, logs, programs


def streamed(text: str, contacts, events, piece: int, start: int, tight: bool = False) -> list[str]:
    plan = compile_program(text)
    if tight:  # prune harder than the engine does (two hours of slack, not three) so short logs prune too
        plan = build_plan(plan.program, lean=True)  # its own lean plan: the cached one stays as it is
        for atom in plan.atoms.by_key.values():
            if atom.back is not None:
                atom.back -= 3600
    eng = Engine(plan, start=start, keep_history=False)
    out: list[str] = []
    eng.on_activity = lambda e: out.append(jsonl_line(e))
    for rec in contacts:
        eng.add_contact(json.loads(json.dumps(rec)))
    try:
        for i in range(0, len(events), piece):
            part = events[i:i + piece]
            for t, cid, typ, fields in part:
                eng.add_event(t, cid, typ, json.loads(json.dumps(fields)))
            bound = min(part[-1][0] - 1, UNTIL)
            if bound >= start:
                eng.run_until(bound)
            eng.activity.clear()
        eng.run_until(UNTIL)
    except EngineError as exc:
        return out + [f"error: {exc}"]
    return out


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs(), logs(), st.integers(1, 6), st.sampled_from([0, 0, 1, 90]), st.booleans())
def test_streamed_lean_run_equals_the_whole_log_run(text, log, piece, late_start, tight):
    contacts, events = log
    start = START + late_start
    note(describe(text, contacts, events, start))
    whole = activity(text, contacts, events, exhaustive=False, start=start)
    assert streamed(text, contacts, events, piece, start, tight) == whole


def test_lean_history_keeps_what_the_counts_can_tell_apart():
    # A count with no filter, or a filter on the event's own fields, keeps
    # only the times of the latest matching events it needs; other types
    # are not kept at all.
    text = ('workflow "W" {\n    evaluate every 5 minutes\n    enroll when form.submitted\n'
            '    goals {\n        goal "G" { when page.visited at least 2 times within 1 hour }\n'
            '        goal "H" { when email.opened(email == "a") at most 2 times since enrollment }\n    }\n}\n')
    eng = Engine(compile_program(text), start=START, keep_history=False)
    for k in range(200):  # every 10 minutes for 33 hours
        t = START + 600 * k
        eng.add_event(t, "c1", "page.visited", {"url": "/a"})
        eng.add_event(t, "c1", "email.opened", {"email": "a" if k % 2 else "b"})
        eng.add_event(t, "c1", "link.clicked", {"link": "x"})
        eng.run_until(t)
        hist = eng.contacts["c1"].events
        assert hist["page.visited"] == [max(START, t - 600), t][-min(k + 1, 2):]
        opened = [key for key in hist if key.startswith("email.opened|")]
        if k:  # the first "a" is at k = 1
            assert len(opened) == 1 and len(hist[opened[0]]) == min((k + 1) // 2, 3)
            assert all(isinstance(x, int) for x in hist[opened[0]])
    assert set(hist) == {"page.visited", opened[0]}


def test_lean_history_keeps_the_fields_a_contact_filter_reads_inside_the_window():
    # A filter that reads the contact is evaluated when the count is: each
    # event's time and the fields the filter reads are kept, back to the
    # window (three hours of slack, dropped in batches).
    text = ('workflow "W" {\n    evaluate every 5 minutes\n    enroll when form.submitted\n'
            '    goals {\n        goal "G" { when page.visited(url == "/a" and contact.lead_score >= 50) '
            'at least 2 times within 1 hour }\n    }\n}\n')
    eng = Engine(compile_program(text), start=START, keep_history=False)
    for k in range(200):
        t = START + 600 * k
        eng.add_event(t, "c1", "page.visited", {"url": "/a", "extra": "not read"})
        eng.run_until(t)
        (key,) = eng.contacts["c1"].events
        kept = eng.contacts["c1"].events[key]
        assert kept[-1] == (t, {"url": "/a"})
        assert kept[0][0] <= max(START, t - 3600) and kept[0][0] >= t - 5 * 3600 - 600
    assert len(kept) <= 31


# ---------------------------------------------------------------- the command line

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _whole_log_jsonl(example: Path, skip_bad: bool = False) -> str:
    program = load_program(example)
    inputs = read_inputs(program, example / "contacts.jsonl", example / "events.jsonl", skip_bad=skip_bad)
    eng = engine_for(program, inputs, start=inputs.first_time)
    eng.run_until(inputs.last_time)
    # `goal run` ends its stream with where each contact still in a workflow waits.
    return "".join(jsonl_line(e) + "\n" for e in eng.activity + eng.waiting_entries())


def _cli(capsys, *args) -> tuple[int, str, str]:
    code = main(["run", *map(str, args), "--format", "jsonl"])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.iterdir() if (p / "events.jsonl").exists()))
def test_streamed_cli_run_equals_the_whole_log_run(example, capsys, monkeypatch):
    pieces = cut_log(monkeypatch, 3)
    code, out, err = _cli(capsys, EXAMPLES / example)
    assert code == 0, err
    assert out == _whole_log_jsonl(EXAMPLES / example)
    assert len(pieces) > 1


def _copy_example(tmp_path: Path, name: str) -> Path:
    dst = tmp_path / name
    shutil.copytree(EXAMPLES / name, dst)
    return dst


def test_an_unsorted_log_is_read_whole_and_sorted(tmp_path, capsys, monkeypatch):
    pieces = cut_log(monkeypatch, 2)
    ex = _copy_example(tmp_path, "booked-a-demo")
    lines = (ex / "events.jsonl").read_text().splitlines()
    want = _whole_log_jsonl(ex)
    (ex / "events.jsonl").write_text("\n".join(lines[1:] + lines[:1]) + "\n")  # the first event last
    code, out, err = _cli(capsys, ex, "--from", json.loads(lines[0])["time"])
    assert code == 0, err
    assert out == want
    assert len(pieces) > 1  # the streamed run began, then found the log unsorted


def test_a_bad_line_late_in_the_log_refuses_the_run_and_shows_nothing(tmp_path, capsys, monkeypatch):
    pieces = cut_log(monkeypatch, 1)
    ex = _copy_example(tmp_path, "booked-a-demo")
    with open(ex / "events.jsonl", "a") as f:
        f.write('{"time": "2030-01-01T00:00:00Z", "contact": "c1", "type": "no.such"}\n')
    n = len((ex / "events.jsonl").read_text().splitlines())
    code, out, err = _cli(capsys, ex)
    assert code == 1 and out == ""
    assert f"events.jsonl:{n}: unknown event type" in err
    assert len(pieces) == n and pieces[-1] == 0  # a piece a line: the bad one last, empty
    code, out, err = _cli(capsys, ex, "--skip-bad")
    assert code == 0 and out == _whole_log_jsonl(ex, skip_bad=True) != ""
    assert "skipped 1 bad line" in err


def test_until_stops_the_run_and_later_events_are_still_checked(tmp_path, capsys, monkeypatch):
    pieces = cut_log(monkeypatch, 2)
    ex = _copy_example(tmp_path, "drip-series")
    events = [json.loads(x) for x in (ex / "events.jsonl").read_text().splitlines()]
    program = load_program(ex)
    inputs = read_inputs(program, ex / "contacts.jsonl", ex / "events.jsonl")
    until = (inputs.first_time + inputs.last_time) // 2
    eng = engine_for(program, inputs, start=inputs.first_time)
    eng.run_until(until)
    code, out, err = _cli(capsys, ex, "--until", format_utc(until))
    assert code == 0, err
    # the stream ends with where the contacts still in are at --until
    assert out == "".join(jsonl_line(e) + "\n" for e in eng.activity + eng.waiting_entries())
    assert len(events) > 2 and eng.waiting_entries()
    assert len(pieces) > 1


def test_a_text_only_stdout_gets_whole_characters(tmp_path, monkeypatch):
    import io
    import sys
    ex = _copy_example(tmp_path, "booked-a-demo")
    program = (ex / "program.goal").read_text(encoding="utf-8")
    (ex / "program.goal").write_text(program.replace('send_email("', 'send_email("\u00e9t\u00e9-'), encoding="utf-8")
    want = _whole_log_jsonl(ex)
    out = io.StringIO()  # no .buffer: the copy goes through text
    monkeypatch.setattr(sys, "stdout", out)
    assert main(["run", str(ex), "--format", "jsonl"]) == 0
    assert out.getvalue() == want and "\u00e9t\u00e9-" in want


def test_without_a_temporary_folder_the_output_is_held_in_memory(tmp_path, capsys, monkeypatch):
    def refuse():
        raise PermissionError("read-only")

    monkeypatch.setattr(backtest.tempfile, "TemporaryFile", refuse)
    ex = EXAMPLES / "booked-a-demo"
    code, out, err = _cli(capsys, ex)
    assert code == 0, err
    assert out == _whole_log_jsonl(ex)


class _Engines(list):
    """A ``keep`` list that also remembers (weakly) every engine put in it."""

    def __init__(self):
        super().__init__()
        self.engines = []

    def __setitem__(self, index, value):
        self.engines.extend(weakref.ref(run.run.engine) for run in value)
        super().__setitem__(index, value)


def test_a_run_that_starts_over_frees_the_first_engine_with_the_collector_off(tmp_path, monkeypatch):
    # goal run turns the cyclic collector off, and an engine's generated
    # recorders hold the engine in a cycle: the run that starts over for an
    # unsorted log must still free the first one, or it holds every contact's
    # state until the process ends.
    monkeypatch.setattr(inputs_module, "BATCH", 2)  # pieces of 2 lines: the run begins before the log ends
    ex = _copy_example(tmp_path, "booked-a-demo")
    lines = (ex / "events.jsonl").read_text().splitlines()
    (ex / "events.jsonl").write_text("\n".join(lines[1:] + lines[:1]) + "\n")  # the first event last
    program = load_program(ex)
    keep = _Engines()
    was = gc.isenabled()
    gc.disable()
    try:
        first = parse_event_time(json.loads(lines[0])["time"])  # a start given: the run begins before the log ends
        backtest.run_jsonl(program, ex / "contacts.jsonl", ex / "events.jsonl", None, start=first, until=None,
                           window=lambda inputs: (first, inputs.events[-1][0] if inputs.events else first),
                           keep=keep)
        assert len(keep.engines) == 2
        assert keep.engines[0]() is None
        assert keep.engines[1]() is not None and keep[0].run.engine is keep.engines[1]()
    finally:
        if was:
            gc.enable()
