"""The embedding API as a host uses it: load, feed, advance, read."""
from __future__ import annotations

import pytest

import goaldsl

PROGRAM = '''
workflow "Welcome" {
    evaluate on event
    enroll when form.submitted
    send_email("welcome")
    wait 1 day
    send_email("tips")
    goals { goal "Bought" { when purchase.completed } }
}
'''


@pytest.fixture
def program(tmp_path):
    (tmp_path / "program.goal").write_text(PROGRAM)
    return goaldsl.load_program(tmp_path / "program.goal")


def test_run_goes_to_the_last_event_fed(program):
    t = goaldsl.parse_time
    sent = []
    eng = goaldsl.Engine(program.plan, start=t("2026-11-02T00:00Z"), handlers={"send_email": sent.append})
    eng.add_contact({"id": "c1"})
    eng.add_event(t("2026-11-02T10:00Z"), "c1", "form.submitted", {"form": "f"})
    eng.add_event(t("2026-11-03T09:00Z"), "c1", "page.visited", {"url": "/"})
    assert eng.run() == t("2026-11-03T09:00Z")
    # the wait of 1 day ends at 11-03 10:00, after the end of the log
    assert [(r.args["template"], r.time) for r in sent] == [("welcome", t("2026-11-02T10:00Z"))]
    assert [e["type"] for e in eng.activity] == ["enrolled", "action"]
    # feeding more and running again goes on from there
    eng.add_event(t("2026-11-03T12:00Z"), "c1", "purchase.completed", {"amount": 5})
    assert eng.run() == t("2026-11-03T12:00Z")
    # the wait ended at 10:00 on the way: "tips", then the last step is done;
    # the purchase at 12:00 comes after the contact left
    assert [(e["type"], e.get("action") or e.get("reason"), e["time"]) for e in eng.activity[2:]] == [
        ("action", "send_email", t("2026-11-03T10:00Z")), ("exited", "completed", t("2026-11-03T10:00Z"))]
    assert sent[-1].args == {"template": "tips"}
    assert eng.run() == t("2026-11-03T12:00Z")  # nothing queued: stays


def test_load_program_raises_goal_error_with_every_diagnostic(tmp_path):
    (tmp_path / "bad.goal").write_text('workflow "W" {\n    enroll when email.opend\n    send_emial("x")\n}\n')
    with pytest.raises(goaldsl.GoalError) as e:
        goaldsl.load_program(tmp_path / "bad.goal")
    assert [d.code for d in e.value.diagnostics] == ["E0303", "E0501"]
    assert "bad.goal:2:17: error[E0303]" in str(e.value)


# ---------------------------------------------------------------- issue 18, item 2: a failing handler

DRIP = '''
workflow "Drip" {
    evaluate on event
    enroll when form.submitted
    send_email("one")
    wait 1 day
    send_email("two")
    wait 1 day
    send_email("three")
}
'''


def _drip(tmp_path, handler):
    (tmp_path / "drip.goal").write_text(DRIP)
    program = goaldsl.load_program(tmp_path / "drip.goal")
    t = goaldsl.parse_time
    eng = goaldsl.Engine(program.plan, start=t("2026-11-02T00:00Z"), handlers={"send_email": handler})
    for i in range(2):
        eng.add_contact({"id": f"c{i}"})
        eng.add_event(t("2026-11-02T10:00Z"), f"c{i}", "form.submitted", {"form": "f"})
    return eng


def test_a_failing_handler_is_called_again_at_the_next_call_and_nothing_is_lost(tmp_path):
    t = goaldsl.parse_time
    delivered, down = [], {"until": 2}

    def mailer(req):
        if down["until"] > 0:  # the mail server is down for the first two tries
            down["until"] -= 1
            raise ConnectionError("smtp down")
        delivered.append((req.contact, req.args["template"], req.id))

    eng = _drip(tmp_path, mailer)
    with pytest.raises(goaldsl.EngineError) as e:
        eng.run_until(t("2026-11-02T12:00Z"))
    assert 'the handler for send_email failed for contact c0 in "Drip"' in str(e.value)
    assert "smtp down" in str(e.value) and "calls it again" in str(e.value)
    assert [r.contact for r in eng.undelivered] == ["c0", "c1"]  # in the order the actions ran
    # the clock stands after the instant that ran; the next call tries again first
    with pytest.raises(goaldsl.EngineError) as e:
        eng.run_until(t("2026-11-02T12:00Z"))
    assert "attempt 2" in str(e.value)
    eng.run_until(t("2026-11-05T00:00Z"))  # the server is back: everything, in order, once
    assert [(c, tpl) for c, tpl, _ in delivered] == [
        ("c0", "one"), ("c1", "one"), ("c0", "two"), ("c1", "two"), ("c0", "three"), ("c1", "three")]
    assert eng.undelivered == []
    # the activity is that of a run whose handler never failed
    ok = _drip(tmp_path, lambda req: None)
    ok.run_until(t("2026-11-05T00:00Z"))
    assert eng.activity == ok.activity and len(eng.activity) == 10
    assert [i for _, _, i in delivered] == [a["id"] for a in ok.activity if a["type"] == "action"]


def test_run_also_delivers_again_first(tmp_path):
    t = goaldsl.parse_time
    calls = []

    def flaky(req):
        calls.append(req.id)
        if len(calls) == 1:
            raise RuntimeError("once")

    eng = _drip(tmp_path, flaky)
    with pytest.raises(goaldsl.EngineError):
        eng.run()
    assert eng.run() == t("2026-11-02T10:00Z")
    assert calls[0] == calls[1] and len(calls) == 3 and eng.undelivered == []


def test_an_engine_stopped_inside_an_instant_refuses_to_go_on(tmp_path):
    # workflows that set each other off forever stop the run inside an instant:
    # its state is half done, so every later call says so instead of doing nothing
    (tmp_path / "loop.goal").write_text('''
workflow "Ping" { evaluate on event  enroll when tag.added(tag == "ping")  allow reentry
                  add_tag("pong")  remove_tag("ping") }
workflow "Pong" { evaluate on event  enroll when tag.added(tag == "pong")  allow reentry
                  add_tag("ping")  remove_tag("pong") }
''')
    program = goaldsl.load_program(tmp_path / "loop.goal")
    t = goaldsl.parse_time
    eng = goaldsl.Engine(program.plan, start=t("2026-11-02T00:00Z"))
    eng.add_event(t("2026-11-02T10:00Z"), "c1", "tag.added", {"tag": "ping"})
    with pytest.raises(goaldsl.EngineError, match="100 rounds"):
        eng.run_until(t("2026-11-03T00:00Z"))
    n = len(eng.activity)
    for call in (lambda: eng.run_until(t("2026-11-04T00:00Z")), eng.run,
                 lambda: eng.add_event(t("2026-11-04T00:00Z"), "c2", "page.visited", {"url": "/"}),
                 lambda: eng.add_contact({"id": "c3"})):
        with pytest.raises(goaldsl.EngineError, match="this engine stopped at 2026-11-02T10:00:00Z .*100 rounds.* "
                                                      "cannot go on"):
            call()
    assert len(eng.activity) == n


# ---------------------------------------------------------------- issue 18, item 7: bad calls

@pytest.fixture
def engine(program):
    return goaldsl.Engine(program.plan, start=goaldsl.parse_time("2026-11-02T00:00Z"))


def _refused(call) -> str:
    with pytest.raises(goaldsl.InputError) as e:
        call()
    assert isinstance(e.value, ValueError) and len(e.value.bad) == 1
    return str(e.value)


def test_bad_contacts_are_refused_as_the_contacts_file_refuses_them(engine):
    assert _refused(lambda: engine.add_contact({"email": "a@x.com"})) == 'add_contact: a contact needs an "id" (text)'
    assert _refused(lambda: engine.add_contact(None)) == 'add_contact: a contact is a dict with an "id", not None'
    assert _refused(lambda: engine.add_contact({"id": True})) == 'add_contact: "id" must be text, not true/false'
    assert _refused(lambda: engine.add_contact({"id": ""})) == 'add_contact: "id" must be text, not ""'
    assert _refused(lambda: engine.add_contact({"id": "c1", "tags": "vip"})) == \
        'add_contact: "tags" must be a list of texts'
    assert _refused(lambda: engine.add_contact({"id": "c1", "seen": {1, 2}})).startswith(
        "add_contact: a contact's attributes hold a set ({1, 2}), which is not a value of a JSON Lines file")
    assert _refused(lambda: engine.add_contact({"id": "c1", "score": float("nan")})) == \
        "add_contact: a contact's attributes hold nan, which is not a number JSON can hold"
    assert engine.contacts == {}
    # a numeric id is text, as in the file
    assert engine.add_contact({"id": 7}).id == "7"


def test_a_contact_added_twice_is_refused(engine):
    t = goaldsl.parse_time
    engine.add_contact({"id": "c1", "plan": "free"})
    assert _refused(lambda: engine.add_contact({"id": "c1", "plan": "pro"})) == (
        'add_contact: contact "c1" is already known (added before, or created by one of its events); '
        "send a contact.updated event to change its attributes")
    assert engine.contacts["c1"].attrs["plan"] == "free"
    engine.add_event(t("2026-11-02T10:00Z"), "c2", "page.visited", {"url": "/"})  # creates c2
    engine.run_until(t("2026-11-02T10:00Z"))
    assert "already known" in _refused(lambda: engine.add_contact({"id": "c2"}))


def test_the_engine_keeps_its_own_copy_of_what_it_is_given(engine):
    t = goaldsl.parse_time
    record = {"id": "c1", "company": {"size": 10}, "tags": []}
    fields = {"form": "f"}
    engine.add_contact(record)
    engine.add_event(t("2026-11-02T10:00Z"), "c1", "form.submitted", fields)
    record["company"]["size"] = 999
    record["tags"].append("vip")
    fields["form"] = "changed"
    engine.run_until(t("2026-11-02T10:00Z"))
    c = engine.contacts["c1"]
    assert c.attrs["company"] == {"size": 10} and c.attrs["tags"] == []
    assert c.events["form.submitted"][0][1] == {"form": "f"}


def test_bad_events_are_refused_as_the_events_file_refuses_them(engine):
    t = goaldsl.parse_time
    at = t("2026-11-02T10:00Z")
    cases = [
        (("2026-11-02T10:00Z", "c1", "form.submitted", {"form": "f"}),
         "add_event: the time must be an integer (seconds since 1970-01-01T00:00:00Z), not the text "
         '"2026-11-02T10:00Z": convert it with goaldsl.parse_time'),
        ((1.5, "c1", "form.submitted", {"form": "f"}),
         "add_event: the time must be an integer (seconds since 1970-01-01T00:00:00Z), not the number 1.5"),
        ((10 ** 13, "c1", "form.submitted", {"form": "f"}),
         'add_event: "time" 10000000000000 is out of range (events must fall between the years 1900 and 8999)'),
        ((at, "c1", "form.submited", {"form": "f"}),
         'add_event: unknown event type "form.submited" (did you mean "form.submitted"?)'),
        ((at, None, "form.submitted", {"form": "f"}), 'add_event: an event needs a "contact" (the contact id)'),
        ((at, "c1", "form.submitted", {}), 'add_event: form.submitted needs the field "form"'),
        ((at, "c1", "form.submitted", None), 'add_event: form.submitted needs the field "form"'),
        ((at, "c1", "form.submitted", {"form": 3}),
         'add_event: field "form" of form.submitted must be text, not the number 3'),
        ((at, "c1", "appointment.status_changed", {"appointment": "a", "status": "confirmd"}),
         'add_event: field "status" of appointment.status_changed is "confirmd", not one of new, confirmed, showed, '
         'noshow, cancelled (did you mean "confirmed"?)'),
        ((at, "c1", "contact.updated", {"fields": {"tags": "avipz"}}),
         'add_event: field "fields" of contact.updated: "tags" must be a list of texts'),
        ((at, "c1", "form.submitted", "f"),
         'add_event: the fields must be a dict of field names to values, not the text "f"'),
        ((at, "c1", "form.submitted", {"form": "f", "when": object()}),
         "add_event: the fields hold a object (<object object at"),
    ]
    for args, message in cases:
        assert _refused(lambda: engine.add_event(*args)).startswith(message), args
    assert engine.run() is None and engine.activity == []  # nothing was queued


def test_events_out_of_time_order_and_a_clock_going_back_are_refused(engine):
    t = goaldsl.parse_time
    engine.add_event(t("2026-11-03T10:00Z"), "c1", "form.submitted", {"form": "f"})
    assert _refused(lambda: engine.add_event(t("2026-11-03T09:00Z"), "c1", "form.submitted", {"form": "f"})) == (
        "add_event: events must be added in time order: 2026-11-03T09:00:00Z comes before 2026-11-03T10:00:00Z, "
        "added already")
    engine.run_until(t("2026-11-04T00:00Z"))
    assert _refused(lambda: engine.run_until(t("2026-11-03T00:00Z"))) == (
        "run_until: 2026-11-03T00:00:00Z is before the engine's clock, which stands at 2026-11-04T00:00:00Z (now); "
        "the clock only moves forward")
    engine.run_until(t("2026-11-04T00:00Z"))  # the same instant again: nothing to do, no error
    assert _refused(lambda: engine.run_until("2026-11-05")).startswith(
        "run_until: the time must be an integer (seconds since 1970-01-01T00:00:00Z), not the text")


def test_other_bad_calls_raise_only_the_documented_errors(program, tmp_path):
    t = goaldsl.parse_time
    assert _refused(lambda: goaldsl.Engine(program.plan, start="2026-11-02")).startswith(
        "Engine: start must be an integer")
    assert _refused(lambda: goaldsl.Engine(program.plan, start=0, handlers={"send_emial": print})) == (
        'Engine: handlers: there is no action "send_emial" (did you mean "send_email"?); a handler is keyed by '
        "an action's name")
    assert _refused(lambda: goaldsl.Engine(program.plan, start=0, handlers={"send_email": "me"})) == \
        'Engine: handlers: the handler for "send_email" is not callable'
    eng = goaldsl.Engine(program.plan, start=0)
    assert _refused(lambda: eng.set_paused("Welcom", True)) == \
        'set_paused: there is no workflow "Welcom" (did you mean "Welcome"?)'
    assert _refused(lambda: t("next tuesday")).startswith("parse_time: 'next tuesday' is not a date-time")
    assert _refused(lambda: t(None)).startswith("parse_time: a time is text")
    assert _refused(lambda: t("2026-11-02", "Mars/Olympus")).startswith("parse_time: '2026-11-02' is not a date-time")
    with pytest.raises(goaldsl.InputError) as e:
        goaldsl.read_inputs(program, tmp_path / "nothing.jsonl", None)
    assert str(e.value) == f"read_inputs: no such contacts file: {tmp_path / 'nothing.jsonl'}"
    with pytest.raises(goaldsl.GoalError, match="load_program takes a path"):
        goaldsl.load_program(None)
