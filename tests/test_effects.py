"""What events do to a contact is declared once, on the event types of the
standard library (``effect``), and every tool follows the declarations.

* The declarations are the specification's table (docs/spec.md section 6).
* A temporary standard library with other declarations changes what the
  engine does, which events wake a workflow, which attributes every contact
  has, what explain says set an attribute, and what the REPL and the
  language server take for attribute names.
* A program's own events cannot declare effects (E0204); a malformed one in
  the standard library is reported (E0205, E0304, E0506).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from goaldsl.runtime import inputs
from goaldsl.runtime.inputs import Inputs
from goaldsl.runtime.plan import build_plan
from goaldsl.runtime.program import Program, engine_for, load_program
from goaldsl.semantics import effects
from goaldsl.semantics.checker import check
from goaldsl.semantics.loader import Loaded
from goaldsl.syntax.parser import parse
from goaldsl.syntax.resources import stdlib_files
from goaldsl.tools.explain import attribute_sources

from engine_helpers import T

ROOT = Path(__file__).resolve().parent.parent


def _spec_table() -> dict[str, str]:
    """event type -> declared effect, from the table in docs/spec.md section 6."""
    text = (ROOT / "docs" / "spec.md").read_text(encoding="utf-8")
    section = text[text.index("## 6. Standard library"):text.index("## 7.")]
    rows = re.findall(r"^\| `([a-z_]+\.[a-z_]+)\([^)]*\)` \| `([^`]+)` \|", section, re.M)
    assert rows, "no effect table in section 6"
    return dict(rows)


def test_the_declarations_are_the_specification_table():
    program = load_program([], allow_empty=True)
    declared = {name: ", ".join(effects.show(e) for e in ev.effects)
                for name, ev in program.ir.events.items() if ev.effects}
    assert declared == _spec_table()
    assert program.plan.effects.state_events == frozenset(_spec_table())
    assert program.plan.effects.list_attributes == ("tags", "lists")


def test_the_standard_effects_change_the_contact_as_the_table_says():
    fx = load_program([], allow_empty=True).plan.effects
    a = fx.new_record({"id": "c1", "lead_score": True})
    assert a == {"id": "c1", "lead_score": True, "tags": [], "lists": []}
    for typ, fields in [("tag.added", {"tag": "vip"}), ("tag.added", {"tag": "vip"}), ("list.added", {"list": "l"}),
                        ("contact.score_adjusted", {"by": 5}), ("contact.score_adjusted", {"by": 2.5}),
                        ("contact.updated", {"fields": {"company.size": 800, "id": "other", "stage": "SQL"}}),
                        ("list.removed", {"list": "l"}), ("tag.removed", {"tag": "absent"}),
                        ("page.visited", {"url": "/x"})]:
        fx.apply(a, typ, fields)
    # the tag once; a non-number score counts as 0; the id never changes; a dotted key nests
    assert a == {"id": "c1", "lead_score": 7.5, "tags": ["vip"], "lists": [], "company": {"size": 800},
                 "stage": "SQL"}


# ---------------------------------------------------------------- a different standard library

OTHER_STDLIB = {
    # tag.added now files the tag under lists; page.visited collects pages;
    # score adjustments no longer change anything.
    "event tag.added { tag: string, workflow: string?, step: step? } effect add_to(contact.tags, tag)":
        "event tag.added { tag: string, workflow: string?, step: step? } effect add_to(contact.lists, tag)",
    "event page.visited { url: string }": "event page.visited { url: string } effect add_to(contact.pages, url)",
    "event contact.score_adjusted { by: number, workflow: string?, step: step? } effect increase(contact.lead_score, by)":
        "event contact.score_adjusted { by: number, workflow: string?, step: step? }",
    "event form.submitted { form: string }":
        "event form.submitted { form: string, answers: map? } effect update(contact, answers)",
}

PROGRAM = '''
workflow "Pricing" {
    evaluate on event
    audience "/pricing" in contact.pages
    send_email("pricing")
}
'''


def _stdlib(replacements: dict[str, str]) -> Loaded:
    """The standard library, loaded as the loader does, with each ``old``
    text (found exactly once) replaced by ``new``."""
    loaded = Loaded()
    found = dict.fromkeys(replacements, 0)
    for path in stdlib_files():
        name = f"<stdlib>/{path.name}"
        source = path.read_text(encoding="utf-8")
        for old, new in replacements.items():
            found[old] += source.count(old)
            source = source.replace(old, new)
        loaded.sources[name] = source
        loaded.stdlib_names.add(name)
        loaded.modules.append(parse(source, name).module)
    assert all(n == 1 for n in found.values()), found
    return loaded


def _program(replacements: dict[str, str], text: str) -> Program:
    """A program checked against the standard library with ``replacements`` made in its text."""
    loaded = _stdlib(replacements)
    loaded.sources["program.goal"] = text
    loaded.modules.append(parse(text, "program.goal").module)
    res = check(loaded)
    assert res.ok, [d.render() for d in res.diagnostics]
    return Program(res.program, build_plan(res.program), loaded, res.diagnostics)


def test_the_engine_follows_the_declarations():
    program = _program(OTHER_STDLIB, PROGRAM)
    fx = program.plan.effects
    assert fx.state_events == {"tag.added", "tag.removed", "list.added", "list.removed", "contact.updated",
                               "page.visited", "form.submitted"}
    assert fx.list_attributes == ("lists", "tags", "pages")  # in the order declared
    # a workflow whose audience reads attributes listens to every state event, and only those
    assert {"page.visited", "form.submitted"} <= program.plan.workflows[0].audience_relevant
    assert "contact.score_adjusted" not in program.plan.workflows[0].audience_relevant

    t0 = T("2026-11-02T10:00")
    inputs = Inputs(contacts=[{"id": "c1", "lead_score": 10}])
    eng = engine_for(program, inputs, start=t0)
    for minute, typ, fields in [(1, "tag.added", {"tag": "vip"}), (2, "contact.score_adjusted", {"by": 5}),
                                (3, "form.submitted", {"form": "f", "answers": {"plan": "pro"}}),
                                (4, "page.visited", {"url": "/pricing"})]:
        eng.add_event(t0 + 60 * minute, "c1", typ, fields)
    eng.run_until(t0 + 3600)
    attrs = eng.contacts["c1"].attrs
    assert attrs["tags"] == [] and attrs["lists"] == ["vip"] and attrs["pages"] == ["/pricing"]
    assert attrs["lead_score"] == 10 and attrs["plan"] == "pro"
    # the page visit changed the audience's attribute: the on-event workflow enrolled the contact then
    assert [(e["type"], e["time"] - t0) for e in eng.activity][:1] == [("enrolled", 240)]

    # explain's "set by" follows the same declarations
    sources = attribute_sources(program, ["contact.pages", "contact.lists", "contact.plan", "contact.lead_score"],
                                eng.contacts["c1"].events, t0 + 3600)
    assert sources == {"contact.pages": (t0 + 240, "page.visited"), "contact.lists": (t0 + 60, "tag.added"),
                       "contact.plan": (t0 + 180, "form.submitted")}
    # the REPL's `:event form.submitted plan=pro` and the language server's attribute names
    assert fx.keys_fields == {"contact.updated": "fields", "form.submitted": "answers"}


def test_contact_records_follow_the_declared_list_attributes(tmp_path, monkeypatch):
    data = tmp_path / "contacts.jsonl"
    data.write_text('{"id": "c1", "pages": ["/a"], "tags": "vip"}\n{"id": "c2", "pages": "/a", "lists": null}\n')
    assert inputs.list_attributes() == ("tags", "lists")
    assert [str(b) for b in inputs.read_contacts(data, "contacts.jsonl").bad] == [
        'contacts.jsonl:1: "tags" must be a list of texts']
    monkeypatch.setattr(inputs, "standard_effects", lambda: _program(OTHER_STDLIB, "").plan.effects)
    read = inputs.read_contacts(data, "contacts.jsonl")
    assert [str(b) for b in read.bad] == ['contacts.jsonl:1: "tags" must be a list of texts',
                                          'contacts.jsonl:2: "pages" must be a list of texts']


def test_actions_that_set_attributes_by_name_follow_the_declarations():
    standard = load_program([], allow_empty=True).ir
    assert [a for a, act in standard.actions.items() if effects.sets_by_name(act, standard.events)] == \
        ["update_contact"]
    other = _program({"event contact.updated { fields: map, workflow: string?, step: step? } effect update(contact, fields)":
                      "event contact.updated { fields: map, workflow: string?, step: step? }"}, "").ir
    assert not any(effects.sets_by_name(act, other.events) for act in other.actions.values())


# ---------------------------------------------------------------- where effects may be declared

def test_a_programs_own_event_cannot_declare_an_effect(check_src):
    diags = check_src("event my.badge { badge: string } effect add_to(contact.tags, badge)\n")
    assert [(d.code, d.span.line, d.span.col) for d in diags] == [("E0204", 1, 41)]
    assert "only the standard library" in diags[0].summary


@pytest.mark.parametrize("declaration, code, message", [
    ("effect ad_to(contact.tags, tag)", "E0205", 'unknown effect "ad_to"'),
    ("effect add_to(tags, tag)", "E0205", "add_to changes a contact attribute: write add_to(contact.NAME, FIELD)"),
    ("effect add_to(contact.a.b, tag)", "E0205", "add_to changes a contact attribute"),
    ("effect update(contact.tags, tag)", "E0205", "update changes the contact: write update(contact, FIELD)"),
    ("effect add_to(contact.tags)", "E0205", "write add_to(contact.NAME, FIELD)"),
    ("effect add_to(contact.tags, tga)", "E0304", 'event tag.added has no field "tga"'),
    ("effect increase(contact.tags, tag)", "E0506", "increase needs a number field; tag is string"),
])
def test_a_malformed_effect_in_the_standard_library(declaration, code, message):
    loaded = _stdlib({"event tag.added { tag: string, workflow: string?, step: step? } effect add_to(contact.tags, tag)":
                      "event tag.added { tag: string, workflow: string?, step: step? } " + declaration})
    diags = [d for d in check(loaded).diagnostics if d.is_error]
    assert [d.code for d in diags] == [code]
    assert diags[0].summary.startswith(message)
