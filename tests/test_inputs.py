"""Inputs (docs/spec.md section 7): contacts and events as JSON Lines.

Every bad line is reported as ``FILE:LINE: message`` and, by default, the run
is refused before anything is acted on; ``--skip-bad`` runs the rest and
reports how many lines it skipped. Repeated event ids are ignored (and
counted); events are sorted by time, stably. The tests run ``goal run`` in
process, in a temporary working folder, so file names appear as written.
"""
from __future__ import annotations

import json

import pytest

from goaldsl.api import InputError, load_program, parse_time, read_inputs
from goaldsl.cli import main

PROGRAM = '''
workflow "W" {
    evaluate on event
    enroll when page.visited
    allow reentry
    send_email("hi-{contact.name}")
}
'''


def jl(*rows) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)


def visit(time: str, contact: str = "c1", **more) -> dict:
    return {"time": time, "contact": contact, "type": "page.visited", "url": "/a", **more}


@pytest.fixture
def goal_run(write, capsys):
    """goal_run(events_text, contacts_text, *args) -> (exit code, stdout lines, stderr lines)."""

    def _run(events: str, contacts: str = "", *args: str):
        write("program.goal", PROGRAM)
        write("events.jsonl", events)
        write("contacts.jsonl", contacts)
        code = main(["run", ".", "--format", "jsonl", *args])
        out, err = capsys.readouterr()
        return code, out.splitlines(), err.splitlines()

    return _run


def enrolled(out: list[str]) -> list[tuple[str, str]]:
    return [(e["time"], e["contact"]) for e in map(json.loads, out) if e["type"] == "enrolled"]


# ---------------------------------------------------------------- bad lines

BAD_EVENTS = [
    (visit("2026-11-16T14:00:00Z"), None),
    ("not json", "events.jsonl:{n}: not valid JSON"),
    ("[1, 2]", "events.jsonl:{n}: expected a JSON object"),
    ({"contact": "c1", "type": "page.visited", "url": "/a"}, 'events.jsonl:{n}: an event needs a "time"'),
    (visit("2026-11-16T14:00:00"), 'events.jsonl:{n}: "time" 2026-11-16T14:00:00 has no Z or UTC offset'),
    (visit("next tuesday"), 'events.jsonl:{n}: "time" "next tuesday" is not an ISO 8601 date-time like '
                            '"2026-11-16T14:02:00Z"'),
    (visit(5), 'events.jsonl:{n}: "time" must be text'),
    ({"time": "2026-11-16T14:00:00Z", "type": "page.visited", "url": "/a"},
     'events.jsonl:{n}: an event needs a "contact"'),
    ({"time": "2026-11-16T14:00:00Z", "contact": "c1", "url": "/a"}, 'events.jsonl:{n}: an event needs a "type"'),
    ({**visit("2026-11-16T14:00:00Z"), "type": "page.visitd"},
     'events.jsonl:{n}: unknown event type "page.visitd" (did you mean "page.visited"?)'),
    ({**visit("2026-11-16T14:00:00Z"), "url": 5}, 'events.jsonl:{n}: field "url" of page.visited must be text'),
    ({"time": "2026-11-16T14:00:00Z", "contact": "c1", "type": "page.visited"},
     'events.jsonl:{n}: page.visited needs the field "url"'),
    ({"time": "2026-11-16T14:00:00Z", "contact": "c1", "type": "appointment.status_changed", "appointment": "a",
      "status": "confirmd"}, 'events.jsonl:{n}: field "status" of appointment.status_changed is "confirmd", not one '
                             'of new, confirmed, showed, noshow, cancelled (did you mean "confirmed"?)'),
    ({**visit("2026-11-16T14:00:00Z"), "contact": True}, 'events.jsonl:{n}: "contact" must be text'),
    ({**visit("2026-11-16T14:00:00Z"), "id": 1.5}, 'events.jsonl:{n}: "id" must be text'),
]


def test_every_bad_event_line_is_reported_with_file_and_line_and_nothing_runs(goal_run):
    rows = [r for r, _ in BAD_EVENTS]
    rows.insert(3, "")  # a blank line is not bad, but it counts in the numbering
    code, out, err = goal_run(jl(*rows))
    assert code == 1
    assert out == []  # refused before acting: not even the good first line was run
    expected = []
    n = 0
    for row in rows:
        n += 1
        match = next((m for r, m in BAD_EVENTS if r is row), None) if row != "" else None
        if match:
            expected.append(match.format(n=n))
    assert err[0] == f"{len(expected)} bad input lines; nothing was run:"
    assert len(err) == len(expected) + 2
    for line, want in zip(err[1:], expected):
        assert line.startswith(want), (line, want)
    assert err[-1] == "fix the lines, or pass --skip-bad to run without them"


def test_bad_contact_lines(goal_run):
    contacts = jl({"id": "c1", "name": "Ann"}, {"email": "x@y.com"}, {"id": "c2", "tags": "vip"},
                  {"id": "c1"}, {"id": ""}, "{")
    code, out, err = goal_run(jl(visit("2026-11-16T14:00:00Z")), contacts)
    assert code == 1 and out == []
    assert err[1:-1] == [
        'contacts.jsonl:2: a contact needs an "id" (text)',
        'contacts.jsonl:3: "tags" must be a list of texts',
        'contacts.jsonl:4: contact "c1" is already on line 1',
        'contacts.jsonl:5: "id" must be text, not ""',
        err[5],
    ]
    assert err[5].startswith("contacts.jsonl:6: not valid JSON")


def test_bad_lines_in_both_files_are_all_listed_contacts_first(goal_run):
    code, out, err = goal_run(jl("oops", visit("2026-11-16T14:00:00Z")), jl({"name": "no id"}))
    assert code == 1 and out == []
    assert err[0] == "2 bad input lines; nothing was run:"
    assert err[1].startswith("contacts.jsonl:1: ")
    assert err[2].startswith("events.jsonl:1: not valid JSON")


def test_skip_bad_runs_the_rest_and_counts_the_skipped_lines(goal_run):
    events = jl(visit("2026-11-16T14:00:00Z"), "not json", visit("2026-11-16T14:05:00"),
                visit("2026-11-16T14:10:00Z", "c2"))
    code, out, err = goal_run(events, jl({"id": "c1", "name": "Ann"}, {"id": 5.5}), "--skip-bad")
    assert code == 0
    assert enrolled(out) == [("2026-11-16T14:00:00Z", "c1"), ("2026-11-16T14:10:00Z", "c2")]
    assert json.loads(out[1])["args"] == {"template": "hi-Ann"}  # the good contact line was used
    assert err[0] == "skipped 3 bad lines:"
    assert err[1].startswith("  contacts.jsonl:2: ")
    assert err[2].startswith("  events.jsonl:2: not valid JSON")
    assert err[3].startswith('  events.jsonl:3: "time" 2026-11-16T14:05:00 has no Z or UTC offset')
    assert len(err) == 4


def test_skip_bad_lists_at_most_twenty_lines_and_says_how_many_more(goal_run):
    events = jl(visit("2026-11-16T14:00:00Z"), *["bad"] * 23)
    code, out, err = goal_run(events, "", "--skip-bad")
    assert code == 0 and enrolled(out) == [("2026-11-16T14:00:00Z", "c1")]
    assert err[0] == "skipped 23 bad lines:"
    assert err[20].startswith("  events.jsonl:21: ")
    assert err[21] == "  ... and 3 more"


def test_read_inputs_raises_input_error_listing_every_bad_line(write):
    write("program.goal", PROGRAM)
    events = write("events.jsonl", jl("x", visit("2026-11-16T14:00:00Z"), "y"))
    prog = load_program("program.goal")
    with pytest.raises(InputError) as exc:
        read_inputs(prog, None, events)
    assert [(b.file, b.line) for b in exc.value.bad] == [("events.jsonl", 1), ("events.jsonl", 3)]
    assert str(exc.value.bad[0]).startswith("events.jsonl:1: not valid JSON")
    inputs = read_inputs(prog, None, events, skip_bad=True)
    assert len(inputs.bad) == 2 and len(inputs.events) == 1


# ---------------------------------------------------------------- duplicates

def test_a_repeated_event_id_is_ignored_and_counted(goal_run):
    events = jl(visit("2026-11-16T14:00:00Z", id="e1"),
                visit("2026-11-16T15:00:00Z", id="e1"),  # same id, other content: still a duplicate
                visit("2026-11-16T16:00:00Z", id="e2"),
                visit("2026-11-16T16:00:00Z", id="e2"),
                visit("2026-11-16T17:00:00Z"), visit("2026-11-16T17:00:00Z"))  # no id: never duplicates
    code, out, err = goal_run(events)
    assert code == 0
    assert [t for t, _ in enrolled(out)] == ["2026-11-16T14:00:00Z", "2026-11-16T16:00:00Z",
                                             "2026-11-16T17:00:00Z"]
    # the two identical id-less events at 17:00 are both seen: the first
    # enrolls (and completes at once), the second enrolls again (reentry)
    assert sum(1 for line in out if json.loads(line)["type"] == "enrolled") == 3
    assert err == ["ignored 2 duplicate events (repeated ids)"]


def test_duplicates_are_ignored_in_the_api_too(write):
    write("program.goal", PROGRAM)
    prog = load_program("program.goal")
    inputs = read_inputs(prog, None, write("events.jsonl", jl(visit("2026-11-16T14:00:00Z", id="a"),
                                                             visit("2026-11-16T14:00:00Z", id="a"),
                                                             visit("2026-11-16T14:00:00Z", id="b"))))
    assert inputs.duplicates == 1 and len(inputs.events) == 2
    # the id is not one of the event's fields
    assert all("id" not in fields for _, _, _, fields in inputs.events)


# ---------------------------------------------------------------- order

def test_events_are_sorted_by_time_keeping_file_order_within_an_instant(write):
    write("program.goal", PROGRAM)
    prog = load_program("program.goal")
    rows = [visit("2026-11-16T15:00:00Z", "late"),
            visit("2026-11-16T09:30:00-05:00", "offset"),  # 14:30Z
            visit("2026-11-16T14:00:00Z", "tie1"),
            visit("2026-11-16T15:00:00+01:00", "tie2"),  # 14:00Z, after tie1 in the file
            visit("2026-11-16T14:00:00.900Z", "tie3")]  # sub-second part dropped: 14:00:00Z
    inputs = read_inputs(prog, None, write("events.jsonl", jl(*rows)))
    assert [(t, cid) for t, cid, _, _ in inputs.events] == [
        (parse_time("2026-11-16T14:00Z"), "tie1"), (parse_time("2026-11-16T14:00Z"), "tie2"),
        (parse_time("2026-11-16T14:00Z"), "tie3"), (parse_time("2026-11-16T14:30Z"), "offset"),
        (parse_time("2026-11-16T15:00Z"), "late")]
    assert inputs.first_time == parse_time("2026-11-16T14:00Z")
    assert inputs.last_time == parse_time("2026-11-16T15:00Z")


def test_file_order_within_an_instant_decides_the_contacts_state(write, capsys):
    # tag.added then tag.removed at one instant: the contact ends untagged;
    # the other way round it ends tagged. A later line with an earlier time
    # is applied first.
    write("program.goal", '''
workflow "Tagged" {
    audience "vip" in contact.tags
    send_email("vip")
}
''')
    write("events.jsonl", jl(
        {"time": "2026-11-16T14:00:00Z", "contact": "a", "type": "tag.added", "tag": "vip"},
        {"time": "2026-11-16T14:00:00Z", "contact": "a", "type": "tag.removed", "tag": "vip"},
        {"time": "2026-11-16T14:00:00Z", "contact": "b", "type": "tag.removed", "tag": "vip"},
        {"time": "2026-11-16T14:00:00Z", "contact": "b", "type": "tag.added", "tag": "vip"},
        {"time": "2026-11-16T14:10:00Z", "contact": "c", "type": "tag.removed", "tag": "vip"},
        {"time": "2026-11-16T14:05:00Z", "contact": "c", "type": "tag.added", "tag": "vip"},
    ))
    write("contacts.jsonl", "")
    assert main(["run", ".", "--format", "jsonl", "--from", "2026-11-16T14:00:00Z"]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["time"][11:16], e["contact"]) for e in out if e["type"] == "enrolled"] == \
        [("14:00", "b"), ("14:05", "c")]


def test_an_event_for_an_unknown_contact_creates_it(goal_run):
    code, out, err = goal_run(jl(visit("2026-11-16T14:00:00Z", "stranger")), jl({"id": "c1", "name": "Ann"}))
    assert code == 0 and err == []
    assert enrolled(out) == [("2026-11-16T14:00:00Z", "stranger")]
    # it has no attributes: the interpolation of an unset one is empty
    assert json.loads(out[1])["args"] == {"template": "hi-"}


def test_contact_updated_carries_its_fields_and_numeric_ids_are_text(goal_run):
    events = jl({"time": "2026-11-16T13:00:00Z", "contact": 7, "type": "contact.updated", "fields": {"name": "Bo"}},
                visit("2026-11-16T14:00:00Z", 7))
    code, out, err = goal_run(events, jl({"id": 7, "name": "Al"}))
    assert code == 0 and err == []
    # 13:00 is --from (the earliest event): the update is applied before the visit
    assert enrolled(out) == [("2026-11-16T14:00:00Z", "7")]
    assert json.loads(out[1])["args"] == {"template": "hi-Bo"}
    bad = jl({"time": "2026-11-16T13:00:00Z", "contact": "c1", "type": "contact.updated", "fields": "name=Bo"})
    code, out, err = goal_run(bad)
    assert code == 1 and err[1].startswith('events.jsonl:1: field "fields" of contact.updated must be an object')


def test_a_byte_order_mark_at_the_start_of_a_file_is_ignored(goal_run, write):
    # Windows tools write a UTF-8 BOM first; it used to make line 1 "not valid JSON".
    bom = "\ufeff"
    code, out, err = goal_run(bom + jl(visit("2026-11-16T14:00:00Z")), bom + jl({"id": "c1", "name": "Ann"}))
    assert code == 0 and err == []
    assert enrolled(out) == [("2026-11-16T14:00:00Z", "c1")]
    assert json.loads(out[1])["args"] == {"template": "hi-Ann"}  # the contacts file's first line was read
    # The same with a state file, which reads the events file itself.
    code, stored, err = goal_run(bom + jl(visit("2026-11-16T14:00:00Z")), bom + jl({"id": "c1", "name": "Ann"}),
                                 "--state", "state.db")
    assert code == 0 and stored == out
    # Only at the start of a file: elsewhere it is still a bad line.
    code, out, err = goal_run(jl(visit("2026-11-16T14:00:00Z")) + bom + jl(visit("2026-11-16T15:00:00Z")))
    assert code == 1 and "events.jsonl:2: not valid JSON" in "\n".join(err)
    from goaldsl.semantics.schema import read_records
    write("c.jsonl", bom + jl({"id": "c1", "score": 1}))
    assert list(read_records("c.jsonl")) == [{"id": "c1", "score": 1}]


# ---------------------------------------------------------------- issue 18, item 6

def test_contact_updated_follows_the_rules_of_a_contact_record(goal_run):
    # "tags" as text was accepted, and then `"vip" in contact.tags` was true by substring
    code, out, err = goal_run(jl(
        visit("2026-11-16T14:00:00Z"),
        {"time": "2026-11-16T14:01:00Z", "contact": "c1", "type": "contact.updated", "fields": {"tags": "avipz"}},
        {"time": "2026-11-16T14:02:00Z", "contact": "c1", "type": "contact.updated", "fields": {"lists": [1]}},
        {"time": "2026-11-16T14:03:00Z", "contact": "c1", "type": "contact.updated", "fields": {"tags.0": "vip"}},
        {"time": "2026-11-16T14:04:00Z", "contact": "c1", "type": "contact.updated", "fields": {"id": "c9"}},
        {"time": "2026-11-16T14:05:00Z", "contact": "c1", "type": "contact.updated",
         "fields": {"tags": ["vip"], "stage": "SQL", "company.size": 800}},
    ), jl({"id": "c1", "tags": "avipz"}))
    assert code == 1 and out == []
    assert err[1:-1] == [
        'contacts.jsonl:1: "tags" must be a list of texts',
        'events.jsonl:2: field "fields" of contact.updated: "tags" must be a list of texts',
        'events.jsonl:3: field "fields" of contact.updated: "lists" must be a list of texts',
        'events.jsonl:4: field "fields" of contact.updated: "tags.0": "tags" is a list of texts, set as a whole',
        'events.jsonl:5: field "fields" of contact.updated: a contact.updated event cannot change the contact\'s "id"',
    ]


def test_a_refused_update_takes_the_same_path_through_every_reader(write):
    # the streamed run, the whole-log reader and a state file read the same lines the same way
    from goaldsl.api import load_program, read_inputs
    write("program.goal", PROGRAM)
    write("events.jsonl", jl({"time": "2026-11-16T14:01:00Z", "contact": "c1", "type": "contact.updated",
                              "fields": {"tags": "avipz"}}))
    program = load_program("program.goal")
    with pytest.raises(InputError) as e:
        read_inputs(program, None, "events.jsonl")
    assert [str(b) for b in e.value.bad] == [
        'events.jsonl:1: field "fields" of contact.updated: "tags" must be a list of texts']



def test_a_lone_surrogate_escape_is_named(goal_run):
    code, out, err = goal_run(jl('{"time": "2026-11-16T14:00:00Z", "contact": "c1", "type": "page.visited", '
                                 '"url": "/\\ud800"}',
                                 '{"time": "2026-11-16T14:01:00Z", "contact": "c1", "type": "page.visited", '
                                 '"url": "/\\udc00x"}',
                                 visit("2026-11-16T14:02:00Z", url="\U0001F600")))
    assert code == 1
    assert err[1:3] == [
        'events.jsonl:1: not valid JSON (a lone surrogate "\\ud800" at column 84: half of a UTF-16 pair, '
        'not a character)',
        'events.jsonl:2: not valid JSON (a lone surrogate "\\udc00" at column 84: half of a UTF-16 pair, '
        'not a character)']
    assert len(err) == 4  # a pair written as two escapes (json.dumps of the emoji) is fine


