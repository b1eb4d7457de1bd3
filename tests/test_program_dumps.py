"""Program.dumps() / loads_program(): a program that travels to another
process (a worker of ``goal run --workers``, a Spark executor) and runs
there exactly as here."""
from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

import goaldsl
from goaldsl.runtime.output import jsonl_line
from goaldsl.runtime.partition import run_partition

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "booked-a-demo"


def activity(program) -> list[str]:
    inputs = goaldsl.read_inputs(program, EXAMPLE / "contacts.jsonl", EXAMPLE / "events.jsonl")
    return [jsonl_line(e) for e in run_partition(program, inputs.contacts, inputs.events,
                                                 start=inputs.first_time, until=inputs.last_time)]


def test_a_loaded_program_runs_as_the_original():
    program = goaldsl.load_program(EXAMPLE)
    data = program.dumps()
    again = goaldsl.loads_program(data)
    assert again.workflows == program.workflows
    assert again.sources == program.sources
    assert activity(again) == activity(program) != []
    assert again.dumps() == data  # what travels is the same again


def test_the_plan_itself_cannot_travel():
    """Why dumps() exists: compiled conditions are functions made with exec."""
    program = goaldsl.load_program(EXAMPLE)
    with pytest.raises(Exception):
        pickle.dumps(program.plan)


def test_imports_travel_with_the_program(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "segments.goal").write_text('segment hot = contact.lead_score >= 50\n')
    (tmp_path / "program.goal").write_text(
        'import "lib/segments.goal"\n\nworkflow "W" {\n    audience hot\n    send_email("hello")\n}\n')
    data = goaldsl.load_program(tmp_path).dumps()
    for f in (tmp_path / "lib" / "segments.goal", tmp_path / "program.goal"):
        f.unlink()  # no file is read when loading
    program = goaldsl.loads_program(data)
    eng = goaldsl.Engine(program.plan, start=0)
    eng.add_contact({"id": "c1", "lead_score": 60})
    eng.add_contact({"id": "c2", "lead_score": 10})
    eng.run_until(0)
    assert [(e["contact"], e["type"]) for e in eng.activity][:2] == [("c1", "enrolled"), ("c1", "action")]


def test_another_process_loads_it(tmp_path):
    data = goaldsl.load_program(EXAMPLE).dumps()
    (tmp_path / "program.bin").write_bytes(data)
    code = ("import sys, goaldsl; p = goaldsl.loads_program(open(sys.argv[1], 'rb').read()); "
            "print(','.join(p.workflows))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "program.bin")], cwd=tmp_path,
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == ",".join(goaldsl.load_program(EXAMPLE).workflows)


def test_another_version_is_refused():
    payload = json.loads(goaldsl.load_program(EXAMPLE).dumps())
    payload["goal"] = "0.0.1"
    with pytest.raises(goaldsl.InputError) as e:
        goaldsl.loads_program(json.dumps(payload).encode())
    assert "written by goal 0.0.1" in str(e.value) and f"this is goal {goaldsl.__version__}" in str(e.value)


@pytest.mark.parametrize("data", [b"", b"\xff\xfe", b"[]", b'{"format": "goal-program/1"}',
                                  b'{"format": "goal-program/1", "goal": "0.1.0", "sources": [["a", 1]]}',
                                  b'{"format": "goal-program/0", "sources": []}'])
def test_what_is_not_a_dumped_program_is_refused(data):
    with pytest.raises(goaldsl.InputError) as e:
        goaldsl.loads_program(data)
    assert "not a program written by Program.dumps()" in str(e.value)


def test_texts_that_no_longer_check_are_diagnosed():
    payload = json.loads(goaldsl.load_program(EXAMPLE).dumps())
    payload["sources"] = [[n, t.replace("send_email(", "send_mail(") if not n.startswith("<stdlib>") else t]
                          for n, t in payload["sources"]]
    with pytest.raises(goaldsl.GoalError) as e:
        goaldsl.loads_program(json.dumps(payload).encode())
    assert any("send_mail" in d.summary for d in e.value.diagnostics)
