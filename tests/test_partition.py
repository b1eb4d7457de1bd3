"""The partition kernel (runtime/partition.py): the engine over some of the
contacts gives exactly what a run over all of them gives for those
contacts (docs/scale.md)."""
from __future__ import annotations

import json

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from goaldsl.runtime.engine import Engine, EngineError
from goaldsl.runtime.output import jsonl_line
from goaldsl.runtime.partition import PartitionRun, run_partition

from test_engine_property import START, UNTIL, compile_program, describe, logs, programs


class _Compiled:
    """What the kernel needs of a Program: its plan."""

    def __init__(self, text: str):
        self.plan = compile_program(text)


def _copy(x):
    return json.loads(json.dumps(x))


def whole(text: str, contacts, events, *, start: int = START) -> list[str]:
    """The reference: one engine over the whole log, every event kept, then
    where everyone still enrolled waits."""
    eng = Engine(compile_program(text), start=start)
    for rec in _copy(contacts):
        eng.add_contact(rec)
    for t, cid, typ, fields in _copy(events):
        eng.add_event(t, cid, typ, fields)
    try:
        eng.run_until(UNTIL)
    except EngineError as exc:
        return [jsonl_line(e) for e in eng.activity] + [f"error: {exc}"]
    return [jsonl_line(e) for e in eng.activity + eng.waiting_entries()]


def kernel(text: str, contacts, events, *, start: int = START) -> list[str]:
    out: list[str] = []
    try:
        for e in run_partition(_Compiled(text), _copy(contacts), _copy(events), start=start, until=UNTIL):
            out.append(jsonl_line(e))
    except EngineError as exc:
        out.append(f"error: {exc}")
    return out


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs(), logs(), st.sampled_from([0, 0, 1, 90]))
def test_one_partition_is_the_whole_run(text, log, late_start):
    contacts, events = log
    start = START + late_start
    note(describe(text, contacts, events, start))
    assert kernel(text, contacts, events, start=start) == whole(text, contacts, events, start=start)


def test_events_out_of_order_are_refused():
    text = 'workflow "W" {\n    evaluate on event\n    enroll when form.submitted\n    send_email("a")\n}\n'
    run = PartitionRun(_Compiled(text), start=START)
    run.feed([(START + 10, "c1", "form.submitted", {"form": "f"})])
    try:
        run.feed([(START + 5, "c1", "form.submitted", {"form": "f"})])
    except ValueError as e:
        assert "time order" in str(e)
    else:
        raise AssertionError("an event earlier than the last one fed was accepted")
