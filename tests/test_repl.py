"""goal repl, driven through prompt-toolkit's pipe input (no terminal): each
meta-command, completion, errors with did-you-mean, multi-line input and
session segments.

``drive(keys)`` types ``keys`` into a real prompt-toolkit session (``\\r`` is
Enter, ``\\t`` Tab) and returns everything the REPL wrote, or, with
``screen=True``, also what a VT100 terminal would have been sent (prompts
included). The pipe is closed after the keys, so end of input ends the REPL
the way Ctrl-D does.
"""
from __future__ import annotations

import io
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.data_structures import Size
from prompt_toolkit.document import Document
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from prompt_toolkit.output.vt100 import Vt100_Output

from goaldsl.tools.repl import ReplSession, build_prompt_session, run_repl

DATA = Path(__file__).resolve().parent / "data" / "explain"
INVOICE = DATA / "invoice"
REVIEW = DATA / "review"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x08")


def _screen_output():
    buf = io.StringIO()
    return buf, Vt100_Output(buf, lambda: Size(rows=40, columns=160), term="xterm")


_MEMORY = object()


def drive(keys: str, program=INVOICE, *, screen: bool = False, history=_MEMORY, **kw):
    out: list[str] = []
    buf, output = _screen_output() if screen else (None, DummyOutput())
    with create_pipe_input() as inp:
        inp.send_text(keys)
        inp.close()
        rc = run_repl(str(program) if program else None, input=inp, output=output, write=out.append,
                      history=InMemoryHistory() if history is _MEMORY else history, **kw)
    assert rc == 0
    text = "".join(out)
    assert "Traceback" not in text
    if screen:
        return text, ANSI.sub("", buf.getvalue())
    return text


def after_banner(text: str) -> str:
    """The output after the banner's last line."""
    return text.split("Start with :contact ID.\n", 1)[1]


# ---------------------------------------------------------------- start-up, prompt, :quit

def test_banner_names_program_and_data():
    out = drive("")
    assert out.startswith(f"goal repl: {INVOICE}: 1 workflow, 1 goal, 0 segments\n"
                          "data: 5 contacts, 11 events from 2026-11-01T08:00:00Z to 2026-11-10T09:00:00Z\n")


def test_prompt_shows_contact_and_time():
    _, screen = drive(":contact overdue\r:at 2026-11-04T00:00\r", screen=True)
    assert "no contact @ 2026-11-10 09:00 UTC> " in screen
    assert "overdue @ 2026-11-10 09:00 UTC> " in screen
    assert "overdue @ 2026-11-04 00:00 UTC> " in screen


def test_quit_stops_reading():
    out = drive(":contact overdue\r:quit\rinvoice.sent\r")
    assert after_banner(out).splitlines()[-1].startswith("  2 events")  # nothing after :quit
    assert "true" not in out and "false" not in out


def test_without_a_program_the_standard_library_is_enough():
    out = drive(':contact c9\r:event page.visited url="/pricing"\rpage.visited(url == "/pricing")\r', program=None)
    assert "the standard library only" in out
    assert "true\n  " in out


# ---------------------------------------------------------------- conditions

def test_condition_prints_true_then_matching_events():
    out = drive(":contact payer\rinvoice.status_changed(status == partially_paid)\r")
    lines = after_banner(out).splitlines()
    i = lines.index("true")
    assert lines[i + 1] == ('  2026-11-04T15:30:00Z  invoice.status_changed(invoice: "inv-50", action: first_invoice, '
                            'status: partially_paid)')


def test_false_condition_says_why():
    out = drive(":contact other\rinvoice.status_changed(status == paid, action == first_invoice)\r")
    assert ("false\n  the contact has 1 invoice.status_changed event but it does not count:\n"
            "    2026-11-03T12:00:00Z: action was other_invoice, wanted first_invoice\n") in out


def test_attribute_condition_uses_value_as_of_now():
    out = drive(':contact payer\rcontact.email ends with "@example.com"\r"new-client" in contact.tags\r'
                ':at 2026-11-01T00:00\r"new-client" in contact.tags\r')
    assert [ln for ln in after_banner(out).splitlines() if ln in ("true", "false")] == ["true", "true", "false"]


def test_condition_needs_a_contact():
    out = drive("invoice.sent\r")
    assert "error: choose a contact first, with :contact ID\n  = hint: contacts: overdue, other, early, dup, payer" in out


# ---------------------------------------------------------------- errors never leave the REPL

def test_mistyped_event_type_suggests_and_repl_goes_on():
    out = drive(":contact overdue\rpage.visitd\rinvoice.sent\r")
    assert "error[E0303]: unknown event type page.visitd" in out
    assert ' = hint: did you mean "page.visited"?' in out
    assert out.rstrip().endswith("false\n  the contact has no invoice.sent events")


@pytest.mark.parametrize("line,expected", [
    ("invoice.status_changed(status == payed)", 'did you mean "paid"?'),
    ("invoice.status_changed(stauts == paid)", 'did you mean "status"?'),
    ("contact.email ==", "error"),
    ("hot_leed", "unknown segment"),
    ("page.visited within 3 dayz", "error"),
])
def test_bad_conditions_are_diagnostics(line, expected):
    out = after_banner(drive(f":contact overdue\r{line}\r:goals\r"))
    assert expected in out
    assert "Traceback" not in out
    assert 'workflow "Invoice Follow-up"' in out  # the REPL went on to :goals


@pytest.mark.parametrize("line,expected", [
    (":contcat overdue", 'error: unknown command :contcat\n  = hint: did you mean ":contact"?'),
    (":at yesterday", "error: 'yesterday' is not a date-time\n  = hint: write it like 2026-11-16T14:00"),
    (":tz Europe/Pariss", 'error: unknown time zone "Europe/Pariss"\n  = hint: did you mean "Europe/Paris"?'),
    (":advance 2 dayz", 'error: "dayz" is not a unit of time\n  = hint: did you mean "days"?'),
    (":advance", "error: how long? :advance DURATION"),
    (":event page.visitd url=/x", 'error: unknown event type page.visitd\n  = hint: did you mean "page.visited"?'),
    (":event page.visited ulr=/x", 'error: event page.visited has no field "ulr"\n  = hint: did you mean "url"?'),
    (":event invoice.status_changed invoice=i1 status=payed",
     'error: "payed" is not an allowed value of status (invoice.status_changed)\n  = hint: did you mean "paid"?'),
    (":explain Invoice Payd", 'error: there is no goal "Invoice Payd" (did you mean "Invoice Paid"?)'),
    (":explain", "error: which goal? :explain GOAL NAME\n  = hint: goals: Invoice Paid"),
    (":load nowhere.goal", "error: no such file or folder: nowhere.goal"),
])
def test_bad_commands_are_errors_with_hints(line, expected):
    out = drive(f":contact overdue\r{line}\r:at\r")
    assert expected in out
    assert "current time: 2026-11-10T09:00:00Z" in out  # still running afterwards


# ---------------------------------------------------------------- meta-commands

def test_contact_command():
    out = after_banner(drive(":contact\r:contact early\r:contact overdu\r"))
    assert out.startswith("no contact chosen\ncontacts: overdue, other, early, dup, payer\n")
    assert 'contact early: email: "early@example.com", tags: ["new-client"]\n' \
           "  2 events, 2 up to now; first 2026-11-01T08:00:00Z, last 2026-11-02T09:00:00Z" in out
    assert 'contact overdu has no record and no events yet; :event adds events for it (did you mean "overdue"?)' in out


def test_contact_command_lists_known_contacts_when_none_is_close():
    out = after_banner(drive(":contact zz9\r"))
    assert out.startswith("contact zz9 has no record and no events yet; :event adds events for it\n"
                          "known contacts: overdue, other, early, dup, payer\n")


def test_at_and_at_now():
    out = after_banner(drive(":contact payer\r:at 2026-11-04T00:00\rinvoice.status_changed\r"
                             ":at now\rinvoice.status_changed\r:at\r"))
    assert "time: 2026-11-04T00:00:00Z\nfalse\n" in out
    assert "time: 2026-11-10T09:00:00Z (the end of the log)\ntrue\n" in out
    assert "current time: 2026-11-10T09:00:00Z" in out


def test_at_reads_times_in_the_session_time_zone():
    out = after_banner(drive(":tz America/New_York\r:at 2026-11-04T08:00\r"))
    assert "time zone: America/New_York; time: 2026-11-10T09:00:00Z (2026-11-10T04:00:00-05:00)" in out
    assert "time: 2026-11-04T13:00:00Z (2026-11-04T08:00:00-05:00)" in out


def test_at_time_of_day_and_tz_by_city():
    out = after_banner(drive(":at 2026-11-12T08:00\r:at 10:00\r:tz denver\r:at 10:00\r:advance -1 day\r"))
    assert "time: 2026-11-12T10:00:00Z\n" in out
    assert "time zone: America/Denver; time: 2026-11-12T10:00:00Z (2026-11-12T03:00:00-07:00)" in out
    assert "time: 2026-11-12T17:00:00Z (2026-11-12T10:00:00-07:00)" in out
    assert "error: :advance only moves forward\n  = hint: to go back, set the time with :at TIME" in out


def test_tz_changes_windows():
    # 2026-11-04T15:30Z is 10:30 in New York; "within 1 day" from 2026-11-05T10:00 local reaches it,
    # from 2026-11-05T11:00 local it does not.
    keys = (":contact payer\r:tz America/New_York\r:at 2026-11-05T10:00\rinvoice.status_changed within 1 day\r"
            ":at 2026-11-05T11:00\rinvoice.status_changed within 1 day\r")
    verdicts = [ln for ln in after_banner(drive(keys)).splitlines() if ln in ("true", "false")]
    assert verdicts == ["true", "false"]


def test_advance_moves_time_in_calendar_units():
    out = after_banner(drive(":at 2026-11-01T12:00Z\r:advance 1 day 12 hours\r:tz Europe/Berlin\r:advance 1 month\r"))
    assert "time: 2026-11-03T00:00:00Z (+1 day 12 hours)" in out
    assert "time: 2026-12-03T00:00:00Z (2026-12-03T01:00:00+01:00) (+1 month)" in out


def test_event_appends_for_current_contact_at_current_time():
    keys = (":contact overdue\r:at 2026-11-05T00:00\r"
            ":event invoice.status_changed invoice=inv-10 action=first_invoice status=paid\r"
            "invoice.status_changed(status == paid)\r:at 2026-11-04T23:59\rinvoice.status_changed(status == paid)\r")
    out = after_banner(drive(keys))
    assert ('added invoice.status_changed(invoice: "inv-10", action: first_invoice, status: paid) for overdue at '
            "2026-11-05T00:00:00Z") in out
    assert "true\n  2026-11-05T00:00:00Z  invoice.status_changed(" in out
    assert "2026-11-05T00:00:00Z: after 2026-11-04T23:59:00Z, the time asked about" in out


def test_event_missing_field_says_how_to_write_it():
    out = drive(":contact overdue\r:event invoice.status_changed invoice=i1\r")
    assert "= hint: write it like :event invoice.status_changed status=..." in out


def test_event_contact_updated_sets_attributes():
    out = drive(":contact overdue\r:event contact.updated lead_score=90\rcontact.lead_score >= 80\r")
    assert after_banner(out).endswith(
        "true\n  contact.lead_score is 90 (set by contact.updated at 2026-11-10T09:00:00Z)\n")


def test_run_shows_the_contacts_new_activity_once():
    out = after_banner(drive(":contact overdue\r:at 2026-11-03T00:00\r:run\r:run\r:at now\r:run\r:run all\r"))
    runs = out.split("ran 1 workflow up to ")[1:]
    assert runs[0] == ("2026-11-03T00:00:00Z: 2 new entries for overdue (8 more for other contacts: :run all)\n"
                       "2026-11-02T09:00:00Z  enrolled\n"
                       '2026-11-02T09:00:00Z  send_invoice(template: "standard", amount: 120) as first_invoice\n')
    assert runs[1].startswith("2026-11-03T00:00:00Z: no new activity for overdue (8 more")
    assert runs[2] == ("2026-11-10T09:00:00Z: 3 new entries for overdue (21 more for other contacts: :run all)\n"
                       '2026-11-05T09:00:00Z  send_email(template: "invoice-reminder")\n'
                       '2026-11-09T09:00:00Z  goal missed: "Invoice Paid" (on unmet end)\n'
                       '2026-11-09T09:00:00Z  exited: goal step "Invoice Paid" unmet\n')
    assert runs[3].startswith("2026-11-10T09:00:00Z: 21 new entries\n")
    assert '2026-11-04T15:30:00Z  payer  goal achieved: "Invoice Paid"' in runs[3]
    assert "overdue" not in runs[3]  # already shown


def test_run_without_a_contact_shows_everyone():
    out = after_banner(drive(":run\r"))
    assert out.startswith("ran 1 workflow up to 2026-11-10T09:00:00Z: 26 new entries\n")
    assert "2026-11-02T09:00:00Z  overdue  enrolled" in out


def test_run_makes_workflow_events_visible_to_conditions():
    out = after_banner(drive(":contact overdue\r:run\remail.sent(email == \"invoice-reminder\")\r"))
    assert "true\n  2026-11-05T09:00:00Z  email.sent(" in out


def test_event_then_run_achieves_the_goal():
    keys = (":contact overdue\r:at 2026-11-06T10:00\r"
            ":event invoice.status_changed invoice=inv-10 action=first_invoice status=paid\r:run\r:explain Invoice Paid\r")
    out = after_banner(drive(keys))
    assert '2026-11-06T10:00:00Z  goal achieved: "Invoice Paid"' in out
    assert 'Achieved: contact overdue achieved "Invoice Paid" at 2026-11-06T10:00:00Z.' in out


def test_explain_command_uses_current_contact_and_time():
    out = after_banner(drive(":contact other\r:at 2026-11-04T00:00\r:explain Invoice Paid\r"))
    assert out.split("time: 2026-11-04T00:00:00Z\n")[1].startswith('goal "Invoice Paid" (goal step 4 of workflow "Invoice Follow-up") for contact other\n'
                          "at 2026-11-04T00:00:00Z; time zone UTC; evaluates on event\n")
    assert "2026-11-03T12:00:00Z: action was other_invoice, wanted first_invoice" in out


def test_explain_needs_a_contact():
    assert "error: choose a contact first" in drive(":explain Invoice Paid\r")


def test_goals_lists_goals_and_session_segments():
    out = after_banner(drive(':goals\rsegment vip = "vip" in contact.tags\r:goals\r', program=REVIEW))
    assert out.startswith('workflow "Review Request" (evaluates every 5 minutes, time zone America/New_York)\n'
                          '  goal step 3 "Review Clicked": review_request.clicked(channel in [sms, whatsapp], '
                          'link == "https://g.page/acme/review")\n'
                          '  exit goal "Pricing Interest": page.visited(url starts with "/pricing") at least 2 times '
                          "within 3 days\n")
    assert 'session segments:\n  vip = "vip" in contact.tags' in out


def test_help_lists_every_command():
    out = after_banner(drive(":help\r"))
    for cmd in ("contact ID", "at TIME | now", "tz ZONE", "load FILE", "event TYPE", "advance DURATION", "run [all]",
                "explain GOAL", "goals", "help", "quit"):
        assert f"  :{cmd}" in out


def test_load_events_file_and_program(tmp_path):
    ev = tmp_path / "more-events.jsonl"
    ev.write_text('{"time": "2026-12-01T10:00:00Z", "contact": "zed", "type": "page.visited", "url": "/pricing"}\n')
    keys = f":load {ev}\r:contact zed\rpage.visited\r:load {REVIEW}\r:goals\r"
    out = after_banner(drive(keys))
    assert f"loaded events from {ev}: 6 contacts, 1 event; time: 2026-12-01T10:00:00Z" in out
    assert "true\n  2026-12-01T10:00:00Z  page.visited(url: \"/pricing\")" in out
    assert f"loaded {REVIEW}: 1 workflow, 2 goals; data: 3 contacts, 8 events; time: 2026-11-07T09:00:00Z" in out
    assert 'exit goal "Pricing Interest"' in out


def test_load_broken_program_keeps_the_session(tmp_path):
    bad = tmp_path / "bad.goal"
    bad.write_text('segment broken = page.visitd\n')
    out = after_banner(drive(f"segment mine = invoice.sent\r:load {bad}\r:contact overdue\rmine\r"))
    assert "unknown event type page.visitd" in out
    assert out.rstrip().endswith("false\n  the contact has no invoice.sent events")


def test_contacts_and_events_options(tmp_path):
    ev = tmp_path / "log.jsonl"
    ev.write_text('{"time": "2026-11-01T00:00:00Z", "contact": "zed", "type": "page.visited", "url": "/"}\n')
    out = drive(":contact zed\rpage.visited\r", program=REVIEW, contacts=str(INVOICE / "contacts.jsonl"),
                events=str(ev))
    assert "data: 6 contacts, 1 event from 2026-11-01T00:00:00Z to 2026-11-01T00:00:00Z" in out
    assert 'exit goal' not in out and "true\n  2026-11-01T00:00:00Z  page.visited" in out


def test_a_folder_without_goal_files_is_enough(tmp_path):
    (tmp_path / "events.jsonl").write_text(
        '{"time": "2026-11-01T00:00:00Z", "contact": "a", "type": "page.visited", "url": "/"}\n')
    out = drive(":contact a\rpage.visited\r", program=tmp_path)
    assert f"goal repl: {tmp_path}: 0 workflows, 0 goals, 0 segments" in out
    assert "true\n" in out


def test_a_program_with_errors_still_starts_the_repl(tmp_path):
    (tmp_path / "program.goal").write_text('segment x = page.visitd\n')
    (tmp_path / "events.jsonl").write_text('{"time": "2026-11-01T00:00:00Z", "contact": "a", "type": "page.visited", '
                                           '"url": "/"}\n')
    out = drive(':contact a\rpage.visited(url == "/")\r', program=tmp_path)
    assert out.startswith(f"{tmp_path / 'program.goal'}:1:13: error[E0303]: unknown event type page.visitd")
    assert f"note: {tmp_path} has errors (above), so only the standard library is loaded; fix them and :load" in out
    assert "true\n  2026-11-01T00:00:00Z  page.visited" in out


def test_bad_lines_are_refused_as_goal_run_refuses_them_unless_skip_bad(tmp_path):
    (tmp_path / "events.jsonl").write_text('{"time": "2026-11-01T00:00:00Z", "contact": "a", "type": "page.visitd"}\n'
                                           '{"time": "2026-11-01T00:00:00Z", "contact": "a", "type": "page.visited", '
                                           '"url": "/"}\n')
    from goaldsl.runtime.inputs import InputError
    with pytest.raises(InputError):  # nothing is read: the command says why, as goal run does
        drive("", program=tmp_path)
    out = drive("", program=tmp_path, skip_bad=True)
    assert (f"note: skipped 1 bad line:\n  {tmp_path / 'events.jsonl'}:1: unknown event type \"page.visitd\" "
            f"(did you mean \"page.visited\"?)\n") in out
    assert "data: 1 contact, 1 event" in out
    # the command: exit 1 with every bad line, in goal run's words
    proc = subprocess.run([sys.executable, "-m", "goaldsl", "repl", "."], cwd=tmp_path, input="", text=True,
                          capture_output=True)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == ("1 bad input line; nothing was loaded:\n"
                           'events.jsonl:1: unknown event type "page.visitd" (did you mean "page.visited"?)\n'
                           "fix the lines, or pass --skip-bad to load without them\n")
    (tmp_path / "program.goal").write_text('workflow "W" { evaluate on event\n enroll when page.visited\n send_email("x") }\n')
    run = subprocess.run([sys.executable, "-m", "goaldsl", "run", "."], cwd=tmp_path, text=True, capture_output=True)
    assert run.returncode == 1
    assert run.stderr.splitlines()[1:2] == proc.stderr.splitlines()[1:2]  # the same line, the same words


# ---------------------------------------------------------------- segments

def test_segment_definition_and_use():
    keys = (":contact payer\rsegment paid_any = invoice.status_changed(status in [paid, partially_paid])\r"
            "paid_any and contact.email is set\rsegment paid_any = invoice.status_changed(status == paid)\rpaid_any\r")
    out = after_banner(drive(keys))
    assert "segment paid_any defined for this session: invoice.status_changed(status in [paid, partially_paid])" in out
    assert "segment paid_any redefined for this session: invoice.status_changed(status == paid)" in out
    verdicts = [ln for ln in out.splitlines() if ln in ("true", "false")]
    assert verdicts == ["true", "false"]


def test_segment_errors():
    out = after_banner(drive("segment loop = loop\rsegment x = page.visitd\rsegment = 3\r"))
    assert "loop" in out and "refers to itself" in out
    assert 'did you mean "page.visited"?' in out
    assert out.count("error") >= 3


# ---------------------------------------------------------------- multi-line input

def test_input_continues_while_brackets_are_open():
    keys = ":contact payer\rinvoice.status_changed(\rstatus in [paid,\rpartially_paid]\r)\r"
    out, screen = drive(keys, screen=True)
    assert "true\n  2026-11-04T15:30:00Z  invoice.status_changed(" in out
    assert "." * 10 + " partially_paid]" in screen  # the continuation prompt


def test_input_continues_after_a_trailing_and():
    out = after_banner(drive(':contact payer\r"new-client" in contact.tags and\rcontact.email is set\r'))
    assert out.endswith('true\n  contact.tags is ["new-client"] (set by tag.added at 2026-11-02T09:00:00Z)\n'
                        '  contact.email is "payer@example.com"\n')
    assert "error" not in out


def test_needs_more():
    assert ReplSession.needs_more("page.visited(url ==")
    assert ReplSession.needs_more('page.visited(url == "(")') is False
    assert ReplSession.needs_more("a and")
    assert ReplSession.needs_more("[paid,")
    assert not ReplSession.needs_more(":event page.visited url=(")
    assert not ReplSession.needs_more("page.visited # (")


# ---------------------------------------------------------------- completion

@pytest.fixture(scope="module")
def session():
    s = ReplSession(INVOICE)
    s.handle("segment paid_any = invoice.status_changed(status == paid)")
    return s


def labels(session, text, offset=None):
    n, items = session.complete(text, len(text) if offset is None else offset)
    return n, [c.label for c in items]


def test_complete_keywords(session):
    _, got = labels(session, "page.visited wit")
    assert "within" in got


def test_complete_event_types(session):
    n, got = labels(session, "invoice.st")
    assert n == len("invoice.st") and "invoice.status_changed" in got
    _, got = labels(session, "page.vi")
    assert got == ["page.visited"]


def test_complete_fields_after_paren(session):
    _, got = labels(session, "invoice.status_changed(")
    assert {"invoice", "action", "status", "amount"} <= set(got)


def test_complete_fields_after_a_comma_in_the_filter(session):
    _, got = labels(session, 'invoice.status_changed(invoice == "x", st')
    assert got == ["status"]
    _, got = labels(session, "invoice.status_changed(status in [paid, part")
    assert got == ["partially_paid"]


def test_complete_enum_values(session):
    _, got = labels(session, "invoice.status_changed(status == pa")
    assert set(got) == {"paid", "partially_paid"}


def test_complete_contact_attributes_seen_in_data(session):
    n, got = labels(session, "contact.")
    assert n == len("contact.") and "contact.email" in got and "contact.tags" in got


def test_complete_segment_names(session):
    _, got = labels(session, "paid_")
    assert "paid_any" in got


def test_complete_meta_commands_and_their_arguments(session):
    _, got = labels(session, ":co")
    assert got == [":contact"]
    n, got = labels(session, ":contact ov")
    assert n == 2 and got == ["overdue"]
    _, got = labels(session, ":explain Inv")
    assert got == ["Invoice Paid"]
    _, got = labels(session, ":at n")
    assert got == ["now"]
    _, got = labels(session, ":tz America/New_Y")
    assert got == ["America/New_York"]
    _, got = labels(session, ":event page.vi")
    assert got == ["page.visited"]
    _, got = labels(session, ":event invoice.status_changed st")
    assert got == ["status"]
    _, got = labels(session, ":event invoice.status_changed status=pa")
    assert set(got) == {"paid", "partially_paid"}
    _, got = labels(session, ":event invoice.status_changed action=")
    assert "first_invoice" in got


def test_completion_sees_data_added_in_the_session():
    s = ReplSession(INVOICE)
    assert labels(s, ":contact new")[1] == []
    s.handle(":contact newbie")
    s.handle(":event contact.updated plan=gold")
    assert labels(s, ":contact new")[1] == ["newbie"]
    assert "contact.plan" in labels(s, "contact.p")[1]


def test_run_needs_workflows():
    out = drive(":run\r", program=None)
    assert "error: the program has no workflows to run" in out


def test_prompt_toolkit_completer_gives_the_same_items(session):
    ps, _ = build_prompt_session(session, input=None, output=DummyOutput(), history=InMemoryHistory())
    doc = Document(":contact p", len(":contact p"))
    items = list(ps.completer.get_completions(doc, CompleteEvent(completion_requested=True)))
    assert [(c.text, c.start_position) for c in items] == [("payer", -1)]
    doc = Document("invoice.status_changed(status == ov", 35)
    items = list(ps.completer.get_completions(doc, CompleteEvent(completion_requested=True)))
    assert [(c.text, c.start_position) for c in items] == [("overdue", -2)]


def test_tab_completes_at_the_prompt():
    """Tab through the real key bindings: completion runs in the background,
    so wait for the completed word to be drawn before pressing Enter."""
    out: list[str] = []
    buf, output = _screen_output()
    with create_pipe_input() as inp:
        t = threading.Thread(target=run_repl, args=(str(INVOICE),), daemon=True,
                             kwargs=dict(input=inp, output=output, write=out.append, history=InMemoryHistory(),
                                         complete_while_typing=False))
        t.start()
        inp.send_text(":contact payer\r")
        inp.send_text("invoice.status_ch\t")
        deadline = time.time() + 10
        while "invoice.status_changed" not in ANSI.sub("", buf.getvalue()) and time.time() < deadline:
            time.sleep(0.05)
        inp.send_text("\r:quit\r")
        t.join(10)
    assert not t.is_alive()
    assert "true\n  2026-11-03T12:00:00Z  invoice.status_changed(" not in "".join(out)  # payer has one, 11-04
    assert "true\n  2026-11-04T15:30:00Z  invoice.status_changed(" in "".join(out)


# ---------------------------------------------------------------- history and highlighting

def test_history_is_kept_in_a_file(tmp_path, monkeypatch):
    hist = tmp_path / "hist"
    monkeypatch.setenv("GOAL_HISTORY", str(hist))
    drive(":contact payer\rinvoice.sent\r", history=None)
    text = hist.read_text()
    assert "+:contact payer" in text and "+invoice.sent" in text


def test_unwritable_history_does_not_stop_the_repl(tmp_path, monkeypatch):
    monkeypatch.setenv("GOAL_HISTORY", str(tmp_path / "no" / "such" / "dir" / "hist"))
    out = drive(":contact payer\rinvoice.sent\r", history=None)
    assert "false" in out


def test_prompt_input_is_highlighted():
    buf, output = _screen_output()
    with create_pipe_input() as inp:
        inp.send_text("invoice.sent within 7 days\r")
        inp.close()
        run_repl(str(INVOICE), input=inp, output=output, write=lambda s: None, history=InMemoryHistory())
    stream = buf.getvalue()
    assert re.search(r"\x1b\[[0-9;]+minvoice\.sent", stream)  # the event type is colored
    assert re.search(r"\x1b\[[0-9;]+mwithin", stream)  # so is the keyword


# ---------------------------------------------------------------- the documented session is real

ROOT = Path(__file__).resolve().parent.parent
_PROMPT = re.compile(r"^((?:no contact|\S+) @ \d{4}-\d\d-\d\d \d\d:\d\d(?::\d\d)? \S+> )(.*)$")


def transcript(program: str, inputs: list[str]) -> str:
    """What the terminal shows for ``inputs``: the banner, then each prompt
    with its input (continuation lines after a row of dots) and the output."""
    s = ReplSession(program)
    out = [s.banner(), ""]
    for text in inputs:
        prompt = s.prompt_text()
        first, *more = text.split("\n")
        out.append(prompt + first)
        out += ["." * (len(prompt) - 1) + " " + ln for ln in more]
        res = s.handle(text)
        if res:
            out += [res, ""]
    return "\n".join(out).rstrip("\n") + "\n"


def test_docs_repl_transcript_is_real_output(monkeypatch):
    doc = (ROOT / "docs" / "repl.md").read_text()
    m = re.search(r"<!-- transcript: (\S+) -->\n```text\n\$ goal repl (\S+)\n(.*?)```", doc, re.S)
    assert m and m.group(1) == m.group(2)
    shown = m.group(3)
    inputs: list[str] = []
    lines = shown.splitlines()
    for i, line in enumerate(lines):
        pm = _PROMPT.match(line)
        if pm:
            inputs.append(pm.group(2))
        elif inputs and re.match(r"^\.{5,} ", line) and (_PROMPT.match(lines[i - 1]) or re.match(r"^\.{5,} ", lines[i - 1])):
            inputs[-1] += "\n" + line.split(" ", 1)[1]
    assert len(inputs) > 10
    monkeypatch.chdir(ROOT)
    assert transcript(m.group(1), inputs) == shown


# ---------------------------------------------------------------- keys and robustness

def test_ctrl_c_drops_the_line_and_goes_on():
    out = after_banner(drive(":contact overdue\rpage.visitd\x03:at\r"))
    assert "page.visitd" not in out and "error" not in out
    assert "current time: 2026-11-10T09:00:00Z" in out


def test_an_internal_error_is_one_line_and_the_repl_goes_on(monkeypatch):
    def boom(self, text):
        raise RuntimeError("something broke")
    monkeypatch.setattr(ReplSession, "_evaluate", boom)
    monkeypatch.delenv("GOAL_DEBUG", raising=False)
    out = after_banner(drive(":contact overdue\rinvoice.sent\r:at\r"))
    assert "error: internal error: RuntimeError: something broke\n  = hint: this is a bug in goal" in out
    assert "current time: 2026-11-10T09:00:00Z" in out


def _wait_for(pred, timeout=10.0):
    deadline = time.time() + timeout
    while not pred() and time.time() < deadline:
        time.sleep(0.05)
    return pred()


def _settle(buf: io.StringIO, quiet: float = 0.4, timeout: float = 10.0) -> None:
    """Wait until the screen has not changed for ``quiet`` seconds (completion
    runs in the background)."""
    deadline = time.time() + timeout
    last, since = None, time.time()
    while time.time() < deadline:
        now = len(buf.getvalue())
        if now != last:
            last, since = now, time.time()
        elif time.time() - since >= quiet:
            return
        time.sleep(0.05)


def test_enter_on_a_chosen_completion_runs_the_line_unless_it_asks_for_more():
    out: list[str] = []
    buf, output = _screen_output()
    with create_pipe_input() as inp:
        t = threading.Thread(target=run_repl, args=(str(INVOICE),), daemon=True,
                             kwargs=dict(input=inp, output=output, write=out.append, history=InMemoryHistory()))
        t.start()
        # Each key waits for the screen to show what the step before offered (completion runs in the
        # background: on a busy machine a quiet screen alone can come before the menu does).
        for keys, offered in ((":cont", ":contact"), ("\t", None),  # the menu offers ":contact ", Tab chooses it
                              ("\r", None),  # Enter takes it but does not run ":contact " (it asks for more)
                              ("pay", "payer"), ("\t", None),  # the menu offers "payer", Tab chooses it
                              ("\r", None)):  # Enter takes it and runs the line
            seen = len(buf.getvalue())
            inp.send_text(keys)
            if offered is not None:
                assert _wait_for(lambda: offered in buf.getvalue()[seen:])
            _settle(buf)
        assert _wait_for(lambda: "contact payer:" in "".join(out))
        inp.send_text(":quit\r")
        t.join(10)
    assert not t.is_alive()
    text = "".join(out)
    assert "no contact chosen" not in text  # ":contact " alone never ran
    assert "error" not in text and "has no record" not in text


def test_input_that_is_not_a_terminal_runs_as_a_script():
    import subprocess
    script = ":contact payer\ninvoice.status_changed(\n  status == partially_paid)\npage.visitd\n:quit\nnever run\n"
    res = subprocess.run([sys.executable, "-m", "goaldsl", "repl", str(INVOICE)], input=script, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stderr == ""
    assert ("payer @ 2026-11-10 09:00 UTC> invoice.status_changed(\n  status == partially_paid)\ntrue\n"
            "  2026-11-04T15:30:00Z  invoice.status_changed(") in res.stdout
    assert 'hint: did you mean "page.visited"?' in res.stdout
    assert res.stdout.endswith("payer @ 2026-11-10 09:00 UTC> :quit\n")


# ---------------------------------------------------------------- data in every format (as goal run reads it)

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "booked-a-demo"


@pytest.fixture(scope="module")
def formats(tmp_path_factory):
    """booked-a-demo's events as a Segment export (with its mapping file), CSV,
    Parquet and compressed; its contacts as CSV and Parquet."""
    import gzip
    import zstandard
    from format_fixtures import read_jsonl, write_csv, write_parquet, write_segment
    d = tmp_path_factory.mktemp("formats")
    events = read_jsonl(EXAMPLE / "events.jsonl")
    (d / "segment.toml").write_text(write_segment(events, d / "export.jsonl"))
    write_csv(events, d / "log.csv")
    write_parquet(events, d / "log.parquet")
    (d / "log.csv.gz").write_bytes(gzip.compress((d / "log.csv").read_bytes()))
    (d / "log.parquet.zst").write_bytes(zstandard.ZstdCompressor().compress((d / "log.parquet").read_bytes()))
    (d / "export.jsonl.gz").write_bytes(gzip.compress((d / "export.jsonl").read_bytes()))
    import pyarrow as pa
    import pyarrow.parquet as pq
    contacts = read_jsonl(EXAMPLE / "contacts.jsonl")
    pq.write_table(pa.Table.from_pylist(contacts), d / "people.parquet")
    import csv
    import json
    with open(d / "people.csv", "w", newline="") as f:
        w = csv.writer(f)
        keys = ["id", "email", "first_name", "lead_score", "country", "company.name", "company.size", "tags", "lists"]
        w.writerow(keys)
        for c in contacts:
            w.writerow([c["id"], c["email"], c["first_name"], c["lead_score"], c["country"], c["company"]["name"],
                        c["company"]["size"], json.dumps(c["tags"]), json.dumps(c["lists"])])
    return d


def _data(session):
    return session.inputs.contacts, session.inputs.events


def test_the_repl_reads_every_format_goal_run_reads(formats):
    want = _data(ReplSession(EXAMPLE))
    assert len(want[1]) == 9
    for events, more in (("export.jsonl", {"map": formats / "segment.toml"}),
                         ("export.jsonl.gz", {"map": formats / "segment.toml"}),
                         ("log.csv", {}), ("log.csv.gz", {}), ("log.parquet", {}), ("log.parquet.zst", {})):
        assert _data(ReplSession(EXAMPLE, events=formats / events, **more)) == want, events
    for contacts in ("people.csv", "people.parquet"):
        assert _data(ReplSession(EXAMPLE, contacts=formats / contacts)) == want, contacts
    # --input-format for a name that does not say
    (formats / "log.txt").write_bytes((formats / "log.csv").read_bytes())
    assert _data(ReplSession(EXAMPLE, events=formats / "log.txt", input_format="csv")) == want


def test_load_reads_every_format_and_tells_contacts_from_events(formats):
    want = _data(ReplSession(EXAMPLE))
    session = ReplSession(EXAMPLE)
    for name in ("log.csv", "log.parquet.zst", "people.csv", "log.csv.gz", "people.parquet"):
        out = session.handle(f":load {formats / name}")
        kind = "contacts" if name.startswith("people") else "events"
        assert out == f"loaded {kind} from {formats / name}: 5 contacts, 9 events; time: 2026-11-24T09:15:00Z", out
        assert _data(session) == want, name
    # a Segment export: its events are unknown to the program without the mapping file, so it is refused ...
    out = session.handle(f":load {formats / 'export.jsonl'}")
    assert out.startswith("error: 8 bad input lines; nothing was loaded:\n"
                          f'{formats / "export.jsonl"}:1: unknown event type "Page Visited" '
                          '(did you mean "page.visited"?)')
    assert out.endswith("  = hint: fix the lines, or load them with --skip-bad to leave them out")
    assert _data(session) == want  # ... and the session keeps its data
    # ... and read with --map, which then holds for the session (the contacts file is read with it too)
    out = session.handle(f":load {formats / 'export.jsonl.gz'} --map {formats / 'segment.toml'}")
    assert out.startswith(f"loaded events from {formats / 'export.jsonl.gz'}: 5 contacts, 9 events"), out
    assert _data(session) == want
    assert session.handle(f":load --contacts {formats / 'people.csv'}").startswith("loaded contacts from")
    assert _data(session) == want
    # both at once, and --input-format for a file whose name does not say
    (formats / "log.data").write_bytes((formats / "log.csv").read_bytes())
    out = session.handle(f":load --contacts {formats / 'people.parquet'} --events {formats / 'log.data'} "
                         f"--input-format csv")
    assert out.startswith(f"loaded contacts from {formats / 'people.parquet'} and events from {formats / 'log.data'}:")
    assert _data(session) == want


def test_load_with_skip_bad_and_what_was_left_out_is_noted(formats, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text((formats / "log.csv").read_text() + "2026-11-30T00:00:00Z,c1,page.visited,e99,,,,,,\n"
                   "not a time,c1,page.visited,e98,/x,,,,,\n")
    session = ReplSession(EXAMPLE)
    out = session.handle(f":load {bad}")
    assert out.startswith("error: 2 bad input lines; nothing was loaded:\n")
    assert f"{bad}:12:time: \"time\" \"not a time\" is not an ISO 8601 date-time" in out
    out = session.handle(f":load {bad} --skip-bad")
    assert out.startswith(f"loaded events from {bad}: 5 contacts, 9 events")
    assert f"note: skipped 2 bad lines:\n  {bad}:11:properties.url: page.visited needs the field \"url\"" in out
    skip = tmp_path / "skip.toml"
    skip.write_text('unknown_events = "skip"\n[events]\n"Page Visited" = "page.visited"\n')
    out = session.handle(f":load {formats / 'export.jsonl'} --map {skip}")
    assert 'note: skipped 6 rows of events the program does not declare (unknown_events = "skip"): ' \
           '"Appointment Status Changed" 4, "Email Unsubscribed" 1, "Email Opened" 1' in out  # ties: file order


def test_the_mapping_file_beside_the_program_and_its_problems(formats, tmp_path):
    import shutil
    prog = tmp_path / "prog"
    shutil.copytree(EXAMPLE, prog)
    (prog / "events.jsonl").unlink()
    shutil.copy(formats / "export.jsonl", prog / "events.jsonl")
    shutil.copy(formats / "segment.toml", prog / "map.toml")
    want = _data(ReplSession(EXAMPLE))
    assert _data(ReplSession(prog)) == want  # map.toml beside the program, as goal run reads it
    session = ReplSession(EXAMPLE)
    assert session.handle(f":load {prog}").startswith(f"loaded {prog}: 1 workflow, 2 goals; data: 5 contacts, 9 events")
    assert _data(session) == want
    # a mapping file with a problem: its diagnostic, and the session as it was
    broken = tmp_path / "broken.toml"
    broken.write_text('[events]\n"Page Visited" = "page.visitd"\n')
    out = session.handle(f":load --map {broken}")
    assert f'{broken}:2:1: error[E0702]: "Page Visited" maps to "page.visitd", which is not an event type of the ' \
           f'program (did you mean "page.visited"?)' in out
    assert _data(session) == want and session.ws.mapping is not None and session.ws.map_given is None
    # at start-up the same problems stop the command, as they stop goal run
    from goaldsl.syntax.diagnostics import GoalError
    with pytest.raises(GoalError):
        ReplSession(EXAMPLE, map=broken)


def test_standard_input_and_missing_files_are_refused_with_the_reason(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "goaldsl", "repl", str(EXAMPLE), "--events", "-"], input="",
                          text=True, capture_output=True)
    assert (proc.returncode, proc.stderr) == (2, "goal repl: the REPL reads what you type from standard input: "
                                                 "give the events as a file\n")
    proc = subprocess.run([sys.executable, "-m", "goaldsl", "repl", str(EXAMPLE), "--map", "nope.toml"], input="",
                          text=True, capture_output=True, cwd=tmp_path)
    assert (proc.returncode, proc.stderr) == (2, "goal repl: no such mapping file: nope.toml\n")
    session = ReplSession(EXAMPLE)
    assert session.handle(":load --events -") == ("error: the REPL reads what you type from standard input: give "
                                                  "the events file as a file")
    assert session.handle(":load --map") == "error: --map needs a value: --map FILE"
    assert session.handle(":load --mapp x.toml") == 'error: unknown option --mapp of :load\n  = hint: did you mean "--map"?'
    assert session.handle(":load --input-format xml x") == ('error: unknown input format "xml"\n'
                                                            '  = hint: formats: jsonl, segment, csv, parquet')


def test_complete_load_options_formats_and_data_files(formats, monkeypatch):
    monkeypatch.chdir(formats)
    session = ReplSession(EXAMPLE)
    assert labels(session, ":load log.")[1] == ["log.csv", "log.csv.gz", "log.parquet", "log.parquet.zst"]
    assert labels(session, ":load --ma") == (4, ["--map"])
    assert labels(session, ":load log.txt --input-format pa") == (2, ["parquet"])
    assert labels(session, ":load --map seg")[1] == ["segment.toml"]
