"""Which values a field type accepts is decided once (``ir.FieldType.accepts``):
the checker's literal arguments, the input reader's full check and its fast
path, and the REPL's ``:event`` all agree, for every type and every kind of
value."""
from __future__ import annotations

import json

import pytest

from goaldsl.runtime.inputs import EventValidator, Inputs, iter_events
from goaldsl.semantics import ir

TYPES = [ir.FieldType(k) for k in ir.TYPE_NAMES] + [ir.FieldType("enum", ("paid", "void"))]
# (JSON text as in an input file, the same value as a .goal literal)
VALUES = [('"paid"', '"paid"'), ('"other"', '"other"'), ("3", "3"), ("2.5", "2.5"), ("true", "true"),
          ('["a"]', '["a"]'), ('{"k": 1}', "{k: 1}")]


def _events_for(ft: ir.FieldType) -> dict:
    return {"x.happened": ir.EventType("x.happened", {"v": ft})}


@pytest.mark.parametrize("ft", TYPES, ids=lambda t: t.describe())
@pytest.mark.parametrize("json_text,literal", VALUES, ids=[v[1] for v in VALUES])
def test_every_reader_agrees_with_the_type(ft, json_text, literal, tmp_path, check_src):
    value = json.loads(json_text)
    expected = ft.accepts(value)
    line = f'{{"time": "2026-11-16T14:00:00Z", "contact": "c1", "type": "x.happened", "v": {json_text}}}'

    # the full check of one event, and the reader's fast path over a file
    full = EventValidator(_events_for(ft)).check(json.loads(line))
    assert (not isinstance(full, str)) == expected, full
    log = tmp_path / "events.jsonl"
    log.write_text(line + "\n")
    inputs = Inputs()
    read = list(iter_events(log, _events_for(ft), "events.jsonl", inputs))
    assert bool(read) == expected and bool(inputs.bad) != expected

    # a literal argument of a parameter of that type, in a program
    decl = "enum(paid, void)" if ft.kind == "enum" else ft.kind
    diags = check_src(f'action act(v: {decl})\nworkflow "W" {{\n  enroll when form.submitted\n  act({literal})\n}}\n')
    type_errors = [d for d in diags if d.code in ("E0305", "E0506")]
    assert (not type_errors) == expected, [d.message for d in diags]


def test_the_rules():
    number, text, boolean = ir.FieldType("number"), ir.FieldType("string"), ir.FieldType("bool")
    assert number.accepts(3) and number.accepts(2.5) and not number.accepts(True) and not number.accepts("3")
    assert boolean.accepts(False) and not boolean.accepts(0)
    assert text.accepts("") and ir.FieldType("step").accepts("first") and not text.accepts(1)
    assert ir.FieldType("any").accepts(object())
    assert ir.value_kind(True) == "bool" and ir.value_kind(1.0) == "number" and ir.value_kind(None) is None
