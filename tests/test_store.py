"""Durable runs (goal run --state): resume, pause, the goal-edit lock, late and
duplicate events, the outbox, and state files that cannot be used."""
from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest

from goaldsl.api import load_program
from goaldsl.cli import main
from goaldsl.runtime.engine import EngineError
from goaldsl.durable.commands import run_command
from goaldsl.durable.run import DurableRun
from goaldsl.durable.statefile import StateError

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def goal(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def lines(text: str) -> list[dict]:
    return [json.loads(x) for x in text.splitlines() if x.strip()]


def q(db: Path, sql: str, *args):
    con = sqlite3.connect(str(db))
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def events_file(path: Path, rows: list[tuple]) -> Path:
    """rows: (id, time, contact, type, fields)"""
    with open(path, "w") as f:
        for eid, t, cid, typ, fields in rows:
            obj = {"time": t, "contact": cid, "type": typ, **fields}
            if eid is not None:
                obj["id"] = eid
            f.write(json.dumps(obj) + "\n")
    return path


# ---------------------------------------------------------------- same as a plain run

@pytest.mark.parametrize("name", ["booked-a-demo", "invoice-paid", "drip-series", "rolling-window"])
def test_state_run_stores_exactly_the_plain_run(capsys, tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    ex = EXAMPLES / name
    rc, plain, _ = goal(capsys, "run", ex, "--format", "jsonl")
    assert rc == 0 and plain
    rc, out, err = goal(capsys, "run", ex, "--state", "s.db", "--format", "jsonl")
    assert rc == 0, err
    assert out == plain  # what it prints as it commits
    rc, log, _ = goal(capsys, "log", "s.db", "--format", "jsonl")
    assert rc == 0 and log == plain
    # a finished run does nothing more
    rc, out, err = goal(capsys, "run", ex, "--state", "s.db", "--format", "jsonl")
    assert rc == 0 and out == "" and "nothing to do" in err
    assert goal(capsys, "log", "s.db", "--format", "jsonl")[1] == plain
    rc, table, _ = goal(capsys, "log", "s.db", "--format", "table")
    assert rc == 0 and "enrolled" in table and f'Workflow "' in table
    assert q(tmp_path / "s.db", "PRAGMA integrity_check") == [("ok",)]
    assert q(tmp_path / "s.db", "PRAGMA journal_mode") == [("wal",)]


def test_crash_inside_a_commit_then_resume_gives_the_same_stream(tmp_path, monkeypatch):
    """In-process: an instant's transaction fails halfway (what kill -9 leaves
    after WAL recovery: nothing of it) at random points; resuming each time
    ends with the uninterrupted stream, whether the last checkpoint is at the
    instant before, a few instants back, or at the start."""
    import random

    import goaldsl.durable.checkpoint as checkpoint
    import goaldsl.durable.run as store
    from test_crash_resume import make_workload
    monkeypatch.chdir(tmp_path)
    make_workload(tmp_path / "w", contacts=60, events=500, more=10)
    program = load_program(tmp_path / "w" / "program.goal")
    real = store.DurableRun._write_positions
    calls = [0]
    crash_at = [0]

    def counting(self, touched):
        calls[0] += 1
        if calls[0] == crash_at[0]:
            raise KeyboardInterrupt("killed")  # not an Exception: like a signal
        return real(self, touched)
    monkeypatch.setattr(store.DurableRun, "_write_positions", counting)
    ticks = iter(range(10**9))
    clock = lambda: next(ticks)  # noqa: E731 - a clock that moves 1 a reading
    monkeypatch.setattr(store, "_clock", clock)
    monkeypatch.setattr(checkpoint, "_clock", clock)

    def run(path: str, every: float) -> str:
        out = io.StringIO()
        run_command(path, program, tmp_path / "w" / "contacts.jsonl", tmp_path / "w" / "events.jsonl", start=None,
                    until=None, fmt="jsonl", skip_bad=False, out=out, err=io.StringIO(), checkpoint_seconds=every)
        return out.getvalue()

    expected = run("ref.db", 2.0)
    commits = calls[0]
    assert commits > 100 and expected.count("\n") > 100
    rnd = random.Random(5)
    replays = []
    real_replay = store.DurableRun._replay

    def replay(self, eng, ck_activity, **kw):
        real_replay(self, eng, ck_activity, **kw)
        replays.append(self.replayed)
    monkeypatch.setattr(store.DurableRun, "_replay", replay)
    # Checkpoints at every instant (slow: once) / every few instants / only at the start.
    for every, points in ((0.0, 1), (30.0, 8), (1e12, 6)):
        for point in sorted(rnd.sample(range(1, commits + 1), points)):
            path = f"s{every}-{point}.db"
            calls[0], crash_at[0] = 0, point
            with pytest.raises(KeyboardInterrupt, match="killed"):
                run(path, every)
            crash_at[0] = 0
            printed = run(path, every)
            stored = "".join(r[0] + "\n" for r in q(tmp_path / path, "SELECT entry FROM activity ORDER BY seq"))
            assert stored == expected, (every, point)
            assert expected.endswith(printed) and printed  # it goes on from where the last commit stopped
    assert max(replays) > 50 and sum(1 for r in replays if 0 < r < 50) >= 4  # replays short and long


# ---------------------------------------------------------------- pause, unpause, the goal-edit lock

DRIP = '''workflow "Drip" {
    evaluate every 1 hour
    audience "lead" in contact.tags

    send_email("one")
    wait 1 day
    send_email("two")
    goals {
        goal "Bought" { when purchase.completed }
    }
}
'''


@pytest.fixture
def drip(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "program.goal").write_text(DRIP)
    (tmp_path / "p" / "contacts.jsonl").write_text(
        '{"id": "c1", "tags": ["lead"]}\n{"id": "c2", "tags": ["lead"]}\n{"id": "c3", "tags": []}\n')
    events_file(tmp_path / "p" / "events.jsonl", [("e1", "2026-01-01T00:30:00Z", "c3", "page.visited", {"url": "/"})])
    return tmp_path / "p"


def test_pause_keeps_contacts_in_place_and_unpause_resumes(capsys, drip):
    span = ("--from", "2026-01-01T00:00:00Z")
    rc, out, err = goal(capsys, "run", drip, "--state", "s.db", *span, "--until", "2026-01-01T12:00:00Z", "--format", "jsonl")
    assert rc == 0, err
    assert [(e["contact"], e["type"]) for e in lines(out)] == [("c1", "enrolled"), ("c2", "enrolled"),
                                                              ("c1", "action"), ("c2", "action")]
    places = q(Path("s.db"), "SELECT workflow, contact, enrollment, step_index, waiting, due FROM positions ORDER BY contact")
    assert [p[1] for p in places] == ["c1", "c2"] and all(p[4] == "wait" for p in places)

    rc, out, _ = goal(capsys, "pause", "s.db", "Drip")
    assert rc == 0 and "paused" in out
    rc, out, _ = goal(capsys, "pause", "s.db", "Drip")
    assert rc == 0 and "already paused" in out
    # Past the wait's due time (2026-01-02T00:00Z): a paused workflow does nothing.
    rc, out, err = goal(capsys, "run", drip, "--state", "s.db", *span, "--until", "2026-01-03T00:00:00Z", "--format", "jsonl")
    assert rc == 0, err
    assert out == ""
    assert q(Path("s.db"), "SELECT workflow, contact, enrollment, step_index, waiting, due FROM positions ORDER BY contact") == places
    assert q(Path("s.db"), "SELECT value FROM meta WHERE key = 'now'") == [(str(1767398400),)]

    rc, out, _ = goal(capsys, "unpause", "s.db", "Drip")
    assert rc == 0 and "unpaused" in out
    rc, out, err = goal(capsys, "run", drip, "--state", "s.db", *span, "--until", "2026-01-03T02:00:00Z", "--format", "jsonl")
    assert rc == 0, err
    got = [(e["time"], e["contact"], e["type"], e.get("args")) for e in lines(out)]
    # The waits that came due during the pause end at the next tick after it.
    assert got == [("2026-01-03T01:00:00Z", "c1", "action", {"template": "two"}),
                   ("2026-01-03T01:00:00Z", "c1", "exited", None),
                   ("2026-01-03T01:00:00Z", "c2", "action", {"template": "two"}),
                   ("2026-01-03T01:00:00Z", "c2", "exited", None)]
    assert q(Path("s.db"), "SELECT COUNT(*) FROM positions") == [(0,)]


def test_pause_names_an_unknown_workflow(capsys, drip):
    rc, _, err = goal(capsys, "run", drip, "--state", "s.db", "--from", "2026-01-01T00:00:00Z", "--until", "2026-01-01T01:00:00Z")
    assert rc == 0, err
    rc, out, err = goal(capsys, "pause", "s.db", "Drp")
    assert rc == 1 and 'no workflow "Drp"' in err and 'did you mean "Drip"' in err and "Traceback" not in err
    rc, _, err = goal(capsys, "pause", "nowhere.db", "Drip")
    assert rc == 1 and "no such state file" in err


def test_goal_edit_is_refused_while_contacts_are_enrolled_and_accepted_when_paused(capsys, drip):
    span = ("--from", "2026-01-01T00:00:00Z")
    rc, _, err = goal(capsys, "run", drip, "--state", "s.db", *span, "--until", "2026-01-01T12:00:00Z")
    assert rc == 0, err
    before = q(Path("s.db"), "SELECT (SELECT COUNT(*) FROM activity), (SELECT value FROM meta WHERE key = 'now'), "
                             "(SELECT value FROM meta WHERE key = 'fingerprint')")
    (drip / "program.goal").write_text(DRIP.replace("when purchase.completed", "when purchase.completed(amount > 10)"))
    rc, out, err = goal(capsys, "run", drip, "--state", "s.db", *span, "--until", "2026-01-01T18:00:00Z")
    assert rc == 1
    assert 'the goals of workflow "Drip"' in err and "2 contacts are enrolled" in err
    assert 'goal pause s.db "Drip"' in err and "Traceback" not in err
    after = q(Path("s.db"), "SELECT (SELECT COUNT(*) FROM activity), (SELECT value FROM meta WHERE key = 'now'), "
                            "(SELECT value FROM meta WHERE key = 'fingerprint')")
    assert after == before  # nothing was written

    assert goal(capsys, "pause", "s.db", "Drip")[0] == 0
    rc, _, err = goal(capsys, "run", drip, "--state", "s.db", *span, "--until", "2026-01-01T18:00:00Z")
    assert rc == 0, err
    assert q(Path("s.db"), "SELECT value FROM meta WHERE key = 'fingerprint'") != [before[0][2:]]
    assert goal(capsys, "unpause", "s.db", "Drip")[0] == 0
    # The edited goal is the one in force now: a purchase of 5 does not count, 50 does.
    events_file(drip / "more.jsonl", [("p1", "2026-01-01T19:10:00Z", "c1", "purchase.completed", {"amount": 5}),
                                      ("p2", "2026-01-01T19:20:00Z", "c2", "purchase.completed", {"amount": 50})])
    rc, out, err = goal(capsys, "run", drip, "--state", "s.db", *span, "--events", drip / "more.jsonl",
                        "--until", "2026-01-01T20:00:00Z", "--format", "jsonl")
    assert rc == 0, err
    assert [(e["contact"], e["type"]) for e in lines(out)] == [("c2", "goal_achieved"), ("c2", "exited")]


def test_other_edits_and_edits_without_enrolled_contacts_are_accepted(capsys, drip):
    span = ("--from", "2026-01-01T00:00:00Z")
    assert goal(capsys, "run", drip, "--state", "s.db", *span, "--until", "2026-01-01T12:00:00Z")[0] == 0
    # A new template is not a goal edit.
    (drip / "program.goal").write_text(DRIP.replace('send_email("two")', 'send_email("two-v2")'))
    rc, out, err = goal(capsys, "run", drip, "--state", "s.db", *span, "--until", "2026-01-03T00:00:00Z", "--format", "jsonl")
    assert rc == 0, err
    assert {e["args"]["template"] for e in lines(out) if e["type"] == "action"} == {"two-v2"}
    assert q(Path("s.db"), "SELECT COUNT(*) FROM positions") == [(0,)]
    # Everyone has left: the goals may change freely.
    (drip / "program.goal").write_text(DRIP.replace("when purchase.completed", "when purchase.completed(amount > 10)"))
    rc, _, err = goal(capsys, "run", drip, "--state", "s.db", *span, "--until", "2026-01-03T06:00:00Z")
    assert rc == 0, err


def test_changed_steps_with_enrolled_contacts_are_refused_even_when_paused(capsys, drip):
    span = ("--from", "2026-01-01T00:00:00Z")
    assert goal(capsys, "run", drip, "--state", "s.db", *span, "--until", "2026-01-01T12:00:00Z")[0] == 0
    assert goal(capsys, "pause", "s.db", "Drip")[0] == 0
    (drip / "program.goal").write_text(DRIP.replace('    wait 1 day\n', '    wait 1 day\n    send_sms("x")\n    wait 1 hour\n'))
    rc, _, err = goal(capsys, "run", drip, "--state", "s.db", *span, "--until", "2026-01-01T13:00:00Z")
    assert rc == 1 and 'the steps of workflow "Drip" changed' in err


def test_from_cannot_change_and_a_second_runner_is_refused(capsys, drip):
    assert goal(capsys, "run", drip, "--state", "s.db", "--from", "2026-01-01T00:00:00Z", "--until", "2026-01-01T01:00:00Z")[0] == 0
    rc, _, err = goal(capsys, "run", drip, "--state", "s.db", "--from", "2026-01-01T05:00:00Z")
    assert rc == 1 and "--from cannot change" in err
    program = load_program(drip / "program.goal")
    first = DurableRun("s.db", program)
    try:
        with pytest.raises(StateError, match="another goal run is using"):
            DurableRun("s.db", program)
    finally:
        first.close()


# ---------------------------------------------------------------- late and duplicate events

VISITS = '''workflow "Pricing" {
    evaluate on event
    enroll when page.visited(url == "/pricing")
    send_email("pricing")
}

workflow "Twice" {
    evaluate on event
    enroll when page.visited
    wait 2 days
    goals {
        goal "Two visits" { when page.visited(url == "/pricing") at least 2 times within 1 day }
    }
}
'''


def test_late_events_are_stored_count_later_and_are_reported(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("program.goal").write_text(VISITS)
    events_file(tmp_path / "events.jsonl", [("e1", "2026-01-01T10:00:00Z", "c1", "page.visited", {"url": "/blog"}),
                                            ("e2", "2026-01-01T12:00:00Z", "c1", "page.visited", {"url": "/blog"})])
    rc, out, err = goal(capsys, "run", "program.goal", "--events", "events.jsonl", "--state", "s.db", "--format", "jsonl")
    assert rc == 0, err
    assert [(e["contact"], e["workflow"], e["type"]) for e in lines(out)] == [("c1", "Twice", "enrolled")]
    events_file(tmp_path / "more.jsonl", [
        ("e3", "2026-01-01T11:00:00Z", "c2", "page.visited", {"url": "/pricing"}),  # late
        ("e4", "2026-01-01T11:30:00Z", "c4", "page.visited", {"url": "/pricing"}),  # late
        ("e1", "2026-01-01T10:00:00Z", "c1", "page.visited", {"url": "/blog"}),  # a duplicate
        ("e5", "2026-01-01T13:00:00Z", "c3", "page.visited", {"url": "/pricing"}),
        ("e6", "2026-01-01T14:00:00Z", "c4", "page.visited", {"url": "/pricing"}),
    ])
    rc, out, err = goal(capsys, "run", "program.goal", "--events", "more.jsonl", "--state", "s.db", "--format", "jsonl")
    assert rc == 0, err
    got = [(e["time"][11:16], e["contact"], e["workflow"], e["type"]) for e in lines(out)]
    # c2's late visit enrolls no one and sends nothing; c4's late visit counts
    # for its goal at 14:00 (two visits within a day), never before.
    assert got == [("13:00", "c3", "Pricing", "enrolled"), ("13:00", "c3", "Pricing", "action"),
                   ("13:00", "c3", "Pricing", "exited"), ("13:00", "c3", "Twice", "enrolled"),
                   ("14:00", "c4", "Pricing", "enrolled"), ("14:00", "c4", "Pricing", "action"),
                   ("14:00", "c4", "Pricing", "exited"), ("14:00", "c4", "Twice", "enrolled"),
                   ("14:00", "c4", "Twice", "goal_achieved"), ("14:00", "c4", "Twice", "exited")]
    assert "2 late events" in err and "2026-01-01T12:00:00Z" in err
    assert "more.jsonl:1: 2026-01-01T11:00:00Z page.visited for contact c2" in err
    assert "ignored 1 duplicate event" in err
    assert q(tmp_path / "s.db", "SELECT event_id, late FROM events ORDER BY seq") == [
        ("e1", 0), ("e2", 0), ("e3", 1), ("e4", 1), ("e5", 0), ("e6", 0)]
    # The same file again: everything in it has been read.
    rc, out, err = goal(capsys, "run", "program.goal", "--events", "more.jsonl", "--state", "s.db", "--format", "jsonl")
    assert rc == 0 and out == "" and "nothing to do" in err and "late" not in err


def test_an_events_file_that_grows_is_read_from_where_it_stopped(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("program.goal").write_text(VISITS)
    ev = events_file(tmp_path / "events.jsonl", [(None, "2026-01-01T10:00:00Z", "c1", "page.visited", {"url": "/pricing"})])
    cmd = ("run", "program.goal", "--events", "events.jsonl", "--state", "s.db", "--format", "jsonl")
    rc, out, err = goal(capsys, *cmd)
    assert rc == 0 and len(lines(out)) == 4, err
    with open(ev, "a") as f:  # no ids: only the offset keeps them from being read twice
        f.write(json.dumps({"time": "2026-01-01T15:00:00Z", "contact": "c2", "type": "page.visited", "url": "/pricing"}) + "\n")
    rc, out, err = goal(capsys, *cmd)
    assert rc == 0, err
    assert {e["contact"] for e in lines(out)} == {"c2"} and len(lines(out)) == 4
    rc, out, err = goal(capsys, *cmd)
    assert rc == 0 and out == "" and "nothing to do" in err
    assert q(tmp_path / "s.db", "SELECT COUNT(*) FROM events") == [(2,)]
    # The same file under another name (a moved folder, a copy) is known by its content.
    Path("moved.jsonl").write_bytes(ev.read_bytes())
    rc, out, err = goal(capsys, "run", "program.goal", "--events", "moved.jsonl", "--state", "s.db", "--format", "table")
    assert rc == 0 and "nothing to do" in err, err
    assert 'Workflow "Pricing": 2 enrolled, 0 still in it' in out  # the summary covers the whole run
    assert q(tmp_path / "s.db", "SELECT COUNT(*) FROM events") == [(2,)]
    # Rewriting what was read is refused.
    ev.write_text(ev.read_text().replace("c1", "c9"))
    rc, out, err = goal(capsys, *cmd)
    assert rc == 1 and "has changed since this state read it" in err


def test_an_events_file_with_a_byte_order_mark_that_grows_is_read_from_where_it_stopped(capsys, tmp_path,
                                                                                         monkeypatch):
    """The mark is skipped, but counts in how far the file has been read."""
    monkeypatch.chdir(tmp_path)
    Path("program.goal").write_text(VISITS)
    first = json.dumps({"time": "2026-01-01T10:00:00Z", "contact": "c1", "type": "page.visited", "url": "/pricing"})
    Path("events.jsonl").write_bytes(b"\xef\xbb\xbf" + first.encode() + b"\n")
    cmd = ("run", "program.goal", "--events", "events.jsonl", "--state", "s.db", "--format", "jsonl")
    rc, out, err = goal(capsys, *cmd)
    assert rc == 0 and len(lines(out)) == 4, err
    with open("events.jsonl", "a") as f:
        f.write(json.dumps({"time": "2026-01-01T15:00:00Z", "contact": "c2", "type": "page.visited", "url": "/pricing"}) + "\n")
    rc, out, err = goal(capsys, *cmd)
    assert rc == 0, err
    assert {e["contact"] for e in lines(out)} == {"c2"}
    assert q(tmp_path / "s.db", "SELECT COUNT(*) FROM events") == [(2,)]


def test_bad_lines_in_new_events_stop_before_anything_is_stored(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("program.goal").write_text(VISITS)
    events_file(tmp_path / "events.jsonl", [("e1", "2026-01-01T10:00:00Z", "c1", "page.visited", {"url": "/blog"})])
    assert goal(capsys, "run", "program.goal", "--events", "events.jsonl", "--state", "s.db")[0] == 0
    Path("more.jsonl").write_text('{"id": "e2", "time": "2026-01-01T11:00:00Z", "contact": "c1", "type": "page.visited", "url": "/x"}\n'
                                  'not json\n')
    rc, _, err = goal(capsys, "run", "program.goal", "--events", "more.jsonl", "--state", "s.db")
    assert rc == 1 and "more.jsonl:2" in err
    assert q(tmp_path / "s.db", "SELECT COUNT(*) FROM events") == [(1,)]
    rc, _, err = goal(capsys, "run", "program.goal", "--events", "more.jsonl", "--state", "s.db", "--skip-bad")
    assert rc == 0 and "skipped 1 bad line" in err
    assert q(tmp_path / "s.db", "SELECT COUNT(*) FROM events") == [(2,)]


# ---------------------------------------------------------------- the outbox

def test_outbox_delivers_at_least_once_with_the_action_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ex = EXAMPLES / "booked-a-demo"
    program = load_program(ex / "program.goal")
    delivered: list[str] = []
    fail = {"at": 3}

    def mailer(req):
        if len(delivered) == fail["at"]:
            fail["at"] = -1
            raise RuntimeError("mail server down")
        delivered.append(req.id)

    from goaldsl.api import read_inputs
    span = read_inputs(program, None, ex / "events.jsonl")

    def attempt() -> None:
        run = DurableRun("s.db", program, handlers={"send_email": mailer})
        try:
            from goaldsl.runtime.inputs import read_contacts
            new = run.read_events(ex / "events.jsonl")
            run.begin(span.first_time if run.fresh else None)
            run.ingest(read_contacts(ex / "contacts.jsonl").contacts, [new])
            run.run_until(span.last_time)
        finally:
            run.close()

    with pytest.raises(EngineError, match="mail server down.*delivered again on the next run"):
        attempt()
    assert len(delivered) == 3
    attempt()
    emails = [r[0] for r in q(tmp_path / "s.db", "SELECT id FROM outbox WHERE action = 'send_email' ORDER BY activity")]
    assert delivered == emails  # every email once, in order, the failed one retried first
    assert q(tmp_path / "s.db", "SELECT COUNT(*) FROM outbox WHERE action = 'send_email' AND delivered_at IS NULL") == [(0,)]
    assert q(tmp_path / "s.db", "SELECT MAX(attempts) FROM outbox") == [(2,)]
    # Actions without a handler stay in the outbox for the host to deliver.
    assert q(tmp_path / "s.db", "SELECT COUNT(*) FROM outbox WHERE action != 'send_email' AND delivered_at IS NULL")[0][0] > 0
    ids = {e["id"] for e in (json.loads(r[0]) for r in q(tmp_path / "s.db", "SELECT entry FROM activity")) if e["type"] == "action"}
    assert ids == {r[0] for r in q(tmp_path / "s.db", "SELECT id FROM outbox")}


# ---------------------------------------------------------------- files that are not states

def test_files_that_are_not_state_files(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("notes.txt").write_text("hello\n" * 100)
    for argv, msg in [(("log", "notes.txt"), "not a goal state file"),
                      (("log", "missing.db"), "no such state file"),
                      (("log", "."), "is a folder")]:
        rc, out, err = goal(capsys, *argv)
        assert rc == 1 and msg in err and "Traceback" not in err, (argv, err)
    con = sqlite3.connect("other.db")
    con.execute("CREATE TABLE t(x)")
    con.commit()
    con.close()
    rc, _, err = goal(capsys, "log", "other.db")
    assert rc == 1 and "not a goal state file" in err


def test_a_program_edited_while_a_run_was_interrupted_replays_with_the_program_it_ran(tmp_path, monkeypatch):
    """The instants after the checkpoint are replayed with the stored program;
    the edit applies from the resume on."""
    import goaldsl.durable.checkpoint as checkpoint
    import goaldsl.durable.run as store
    from test_crash_resume import make_workload
    monkeypatch.chdir(tmp_path)
    make_workload(tmp_path / "w", contacts=60, events=500, more=10)
    prog = tmp_path / "w" / "program.goal"
    real = store.DurableRun._write_positions
    calls = [0]

    def crash_at_40(self, touched):
        calls[0] += 1
        if calls[0] == 40:
            raise KeyboardInterrupt("killed")
        return real(self, touched)
    monkeypatch.setattr(store.DurableRun, "_write_positions", crash_at_40)
    ticks = iter(range(10**9))
    monkeypatch.setattr(store, "_clock", lambda: next(ticks))
    monkeypatch.setattr(checkpoint, "_clock", lambda: next(ticks))

    def run() -> str:
        out = io.StringIO()
        run_command("s.db", load_program(prog), tmp_path / "w" / "contacts.jsonl", tmp_path / "w" / "events.jsonl",
                    start=None, until=None, fmt="jsonl", skip_bad=False, out=out, err=io.StringIO(),
                    checkpoint_seconds=1e12)  # a checkpoint only at the start: a long replay
        return out.getvalue()
    with pytest.raises(KeyboardInterrupt):
        run()
    before = [r[0] for r in q(tmp_path / "s.db", "SELECT entry FROM activity ORDER BY seq")]
    assert len(before) > 50 and any('"template":"welcome"' in x for x in before)
    prog.write_text(prog.read_text().replace('send_email("welcome")', 'send_email("welcome-v2")'))
    run()
    after = [r[0] for r in q(tmp_path / "s.db", "SELECT entry FROM activity ORDER BY seq")]
    assert after[:len(before)] == before
    new = after[len(before):]
    assert any('"template":"welcome-v2"' in x for x in new) and not any('"template":"welcome"' in x for x in new)


def test_fingerprints_do_not_depend_on_hash_seeds():
    """A resume compares fingerprints made by another process: they must not
    vary with PYTHONHASHSEED (or every resume would look like an edit)."""
    import os
    import subprocess
    import sys
    code = ("from goaldsl.api import load_program; from goaldsl.durable.edits import program_fingerprint, workflow_goals;"
            f"p = load_program({str(EXAMPLES / 'invoice-paid')!r});"
            "print(program_fingerprint(p), [(workflow_goals(w.wf, p.ir.segments), w.shape) for w in p.plan.workflows])")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env=dict(os.environ, PYTHONHASHSEED=seed)).stdout for seed in ("1", "2", "3")}
    assert len(outs) == 1 and len(next(iter(outs))) > 40


def test_events_added_to_a_run_stopped_early_merge_with_the_queued_ones(capsys, tmp_path, monkeypatch):
    """A run stopped by --until keeps later events queued; new events between
    them are merged in time order: the same as one plain run over all events."""
    monkeypatch.chdir(tmp_path)
    ex = EXAMPLES / "booked-a-demo"
    from goaldsl.api import parse_time
    from goaldsl.semantics.calendar import format_utc
    rows = [json.loads(x) for x in (ex / "events.jsonl").read_text().splitlines() if x.strip()]
    rc, plain, _ = goal(capsys, "run", ex, "--format", "jsonl")
    assert rc == 0
    times = sorted({parse_time(r["time"]) for r in rows})
    mid = times[len(times) // 3]
    later = [r for r in rows if parse_time(r["time"]) > mid]
    held = later[1::2]  # every other later event arrives in a second file
    assert held and len(held) < len(later)
    first = [r for r in rows if r not in held]
    Path("events.jsonl").write_text("".join(json.dumps(r) + "\n" for r in first))
    Path("more.jsonl").write_text("".join(json.dumps(r) + "\n" for r in held))
    base = ("run", ex / "program.goal", "--contacts", ex / "contacts.jsonl", "--state", "s.db", "--format", "jsonl")
    start, mid = format_utc(times[0]), format_utc(mid)
    rc, out1, err = goal(capsys, *base, "--events", "events.jsonl", "--from", start, "--until", mid)
    assert rc == 0, err
    rc, out2, err = goal(capsys, *base, "--events", "more.jsonl")
    assert rc == 0 and "late" not in err, err
    rc, out3, err = goal(capsys, *base, "--events", "events.jsonl")  # the rest of the queue, to the last event
    assert rc == 0, err
    assert out1 + out2 + out3 == plain


# ---------------------------------------------------------------- issue 16's engine state survives a resume

CONFORMANCE = Path(__file__).resolve().parent / "conformance"


@pytest.mark.parametrize("folder,stops", [
    # `allow reentry after 1 day`: when the previous enrollment began
    (CONFORMANCE / "05-exec-reentry-after-exactly-the-period", ["2026-11-02T12:00:00Z", "2026-11-03T09:59:59Z"]),
    # `trigger.product`: the enrolling event's fields, per enrollment
    (EXAMPLES / "abandoned-cart", ["2026-11-02T12:00:00Z", "2026-11-03T11:00:00Z", "2026-11-04T00:00:00Z"]),
    # ticks on the wall clock, `exit when audience no longer matches`, `skip enrollment if goal met`
    (EXAMPLES / "trial-care", ["2026-10-31T00:00:00Z", "2026-11-01T14:00:00Z", "2026-11-02T13:59:00Z"]),
])
def test_a_state_run_stopped_and_resumed_gives_the_plain_run(capsys, tmp_path, monkeypatch, folder, stops):
    """Each `goal run --state` restores the engine from the state file: the
    state the newer settings keep (previous enrollment start, the trigger
    event) must be in it, or the resumed run differs from the plain one."""
    monkeypatch.chdir(tmp_path)
    span = ("--from", "2026-10-30T00:00:00Z") if folder.name == "trial-care" else ()
    end = "2026-11-06T00:00:00Z"
    rc, plain, err = goal(capsys, "run", folder, *span, "--until", end, "--format", "jsonl")
    assert rc == 0, err
    plain = "".join(x + "\n" for x in plain.splitlines() if json.loads(x)["type"] != "waiting")
    outs = []
    for until in stops + [end]:
        rc, out, err = goal(capsys, "run", folder, "--state", "s.db", *span, "--until", until, "--format", "jsonl")
        assert rc == 0, err
        outs.append(out)
    assert sum(1 for o in outs if o) >= 2 and "".join(outs) == plain
