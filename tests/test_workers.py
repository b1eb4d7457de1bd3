"""`goal run --workers N`: the contacts split among N processes, the output
byte for byte what one process writes (docs/scale.md).

Each case runs the `goal` command once in one process and then with
workers, and compares standard output, standard error and the exit code.
"""
from __future__ import annotations

import json
import subprocess
import sys
from itertools import compress
from pathlib import Path

import pytest

from workloads import SHARED_GEN, generated
from test_cli_run import PING_PONG

ROOT = Path(__file__).resolve().parent.parent


def goal(*args: str, cwd: Path | None = None) -> tuple[int, bytes, str]:
    p = subprocess.run([sys.executable, "-m", "goaldsl", *args], capture_output=True, cwd=cwd, timeout=600)
    return p.returncode, p.stdout, p.stderr.decode()


def same(*args: str, workers=(2, 3), cwd: Path | None = None) -> tuple[int, bytes, str]:
    """Runs once in one process and with each number of workers; all alike."""
    one = goal(*args, cwd=cwd)
    for n in workers:
        assert goal(*args, "--workers", str(n), cwd=cwd) == one, f"--workers {n}"
    return one


@pytest.mark.parametrize("example", ["booked-a-demo", "invoice-paid", "drip-series", "tags", "email-engagement"])
def test_the_examples(example):
    folder = str(ROOT / "examples" / example)
    code, out, _ = same("run", folder, "--format", "jsonl")
    assert code == 0 and out.count(b"\n") > 3
    same("run", folder, "--format", "table", workers=(2,))
    same("run", folder, "--format", "csv", workers=(2,))
    same("run", folder, "--summary-only", "--format", "jsonl", workers=(2,))


needs_gen = pytest.mark.skipif(not SHARED_GEN.exists(), reason="needs ../shared/bench/gen.py beside the repository")


@needs_gen
@pytest.mark.parametrize("seed", [1, 2])
def test_a_generated_log_with_the_default_window(tmp_path, seed):
    folder = generated(tmp_path, seed)
    code, out, err = same("run", str(folder), "--format", "jsonl", "--summary", str(tmp_path / "s.json"),
                          workers=(2, 5))
    assert code == 0 and "duplicate events (repeated ids)" in err
    assert out.count(b"\n") > 1000
    summary = (tmp_path / "s.json").read_text()
    goal("run", str(folder), "--format", "jsonl", "--summary", str(tmp_path / "w.json"), "--workers", "3")
    assert (tmp_path / "w.json").read_text() == summary


@needs_gen
def test_history_before_from_and_events_after_until(tmp_path):
    folder = generated(tmp_path, 3)
    code, out, _ = same("run", str(folder), "--format", "jsonl", "--from", "2026-10-09T00:00:00Z",
                        "--until", "2026-10-20T12:00:00Z")
    assert code == 0 and out.count(b"\n") > 100


@needs_gen
def test_a_log_dealt_with_history_before_from_and_events_after_until(tmp_path):
    # The parent reads the log and deals it a piece at a time: the events after --until (the end of the
    # piece that passes it, and the pieces after) are checked, not dealt; each event keeps its place.
    folder = generated(tmp_path, 3)
    args = ("run", str(folder), "--format", "jsonl", "--from", "2026-10-09T00:00:00Z", "--until", "2026-10-20T12:00:00Z")
    one = goal(*args)
    assert one[0] == 0 and one[1].count(b"\n") > 100
    for n in (2, 3):
        assert way(*args, workers=n, tmp=tmp_path, one=one, how="dealt")["way"] == "dealt"


@needs_gen
def test_a_log_out_of_time_order(tmp_path):
    folder = generated(tmp_path, 4, unsorted=True)
    code, out, _ = same("run", str(folder), "--format", "jsonl")
    assert code == 0 and out.count(b"\n") > 1000


LOOP = '''
workflow "Mail" {
    evaluate on event
    enroll when page.visited
    send_email("hello")
}
''' + PING_PONG


def _events(rows) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def test_workflows_that_loop_fail_the_run_with_the_one_process_message(tmp_path):
    (tmp_path / "program.goal").write_text(LOOP)
    (tmp_path / "contacts.jsonl").write_text("")
    rows = [{"time": "2026-11-16T09:00:00Z", "contact": f"c{i}", "type": "page.visited", "url": "/"}
            for i in range(12)]
    rows.append({"time": "2026-11-16T10:00:00Z", "contact": "c7", "type": "tag.added", "tag": "pong"})
    rows += [{"time": "2026-11-16T10:00:00Z", "contact": f"c{i}", "type": "page.visited", "url": "/"}
             for i in range(12, 16)]
    rows.append({"time": "2026-11-16T11:00:00Z", "contact": "c20", "type": "page.visited", "url": "/"})
    (tmp_path / "events.jsonl").write_text(_events(rows))
    code, out, err = same("run", str(tmp_path), "--format", "jsonl", workers=(2, 4))
    assert code == 1
    assert err == "goal run: at 2026-11-16T10:00:00Z workflows kept acting on each other's events for 100 rounds\n"
    assert b'"c20"' not in out and b'"c13"' in out  # up to and including the instant it stopped at


def test_events_of_one_instant_dealt_over_several_pieces_keep_their_places(tmp_path):
    # 5,000 contacts first seen in events of one instant, each enrolled by its event: one process writes them
    # in the log's order. Dealt, each event's place in the whole log orders them (the reader's batches of
    # 4,096 rows are dealt a piece at a time, each event numbered on from the piece before).
    (tmp_path / "program.goal").write_text(LOOP)
    (tmp_path / "contacts.jsonl").write_text("")
    rows = [{"time": "2026-11-16T09:00:00Z", "contact": f"c{(i * 7919) % 5000}", "type": "page.visited", "url": "/"}
            for i in range(5000)]
    (tmp_path / "events.jsonl").write_text(_events(rows))
    args = ("run", str(tmp_path), "--format", "jsonl")
    one = goal(*args)
    assert one[0] == 0 and one[1].count(b"\n") >= 10000
    for n in (2, 3):
        assert way(*args, workers=n, tmp=tmp_path, one=one, how="dealt")["way"] == "dealt"


def test_bad_lines_are_refused_alike_and_skipped_alike(tmp_path):
    (tmp_path / "program.goal").write_text(LOOP.split('workflow "Ping"')[0])
    (tmp_path / "contacts.jsonl").write_text('{"id": "c1"}\n')
    rows = [{"time": f"2026-11-16T09:0{i}:00Z", "contact": f"c{i}", "type": "page.visited", "url": "/"}
            for i in range(8)]
    text = _events(rows).splitlines(keepends=True)
    text.insert(3, '{"time": "2026-11-16T09:02:30Z", "contact": "c1", "type": "page.visitd"}\n')
    (tmp_path / "events.jsonl").write_text("".join(text))
    code, out, err = same("run", str(tmp_path), "--format", "jsonl")
    assert code == 1 and out == b"" and "page.visitd" in err
    code, out, err = same("run", str(tmp_path), "--format", "jsonl", "--skip-bad")
    assert code == 0 and out.count(b"\n") == 24 and "skipped 1 bad line" in err  # 8 contacts: in, email, out


def test_no_events(tmp_path):
    (tmp_path / "program.goal").write_text('workflow "W" {\n    audience contact.lead_score > 5\n    send_email("a")\n}\n')
    (tmp_path / "contacts.jsonl").write_text('{"id": "c1", "lead_score": 9}\n{"id": "c2", "lead_score": 1}\n')
    (tmp_path / "events.jsonl").write_text("")
    code, _, err = same("run", str(tmp_path), "--format", "jsonl")
    assert code == 2 and "give --from and --until" in err
    code, out, _ = same("run", str(tmp_path), "--format", "jsonl", "--from", "2026-11-16T00:00:00Z",
                        "--until", "2026-11-17T00:00:00Z")
    assert code == 0 and out.count(b"\n") == 3  # c1 enrolled, its email, exited; c2 never enrolls
    assert b'"waiting"' not in out and b'"c2"' not in out


@pytest.mark.parametrize("args,message", [
    (["--workers", "0"], "--workers takes a number from 1 to 256, not 0"),
    (["--workers", "2", "--state", "s.db"], "--workers does not go with --state"),
])
def test_what_workers_do_not_go_with(tmp_path, args, message):
    code, out, err = goal("run", str(ROOT / "examples" / "booked-a-demo"), "--format", "jsonl", *args, cwd=tmp_path)
    assert code == 2 and out == b"" and message in err


def way(*args: str, workers: int = 2, tmp: Path, how: str | None = None, one=None) -> dict:
    """How a run with workers went (``$GOAL_WORKER_TIMES``): the log's lines
    scanned by this process and sent to the workers (the default), scanned
    by each worker (``how="scanned"``), or read and dealt by this process
    (and why). With ``one`` (one process's code, output and messages), the
    run must give the same."""
    import os
    path = tmp / "times.json"
    env = {**os.environ, "GOAL_WORKER_TIMES": str(path)}
    if how is not None:
        env["GOAL_WORKERS_WAY"] = how
    p = subprocess.run([sys.executable, "-m", "goaldsl", *args, "--workers", str(workers)], capture_output=True,
                       env=env, timeout=600)
    assert p.returncode in (0, 1), p.stderr.decode()
    if one is not None:
        assert (p.returncode, p.stdout, p.stderr.decode()) == one, how
    return json.loads(path.read_text())


def both_ways(*args: str, tmp: Path, one) -> None:
    """The log scanned by this process, and by each worker: both as one process."""
    assert way(*args, tmp=tmp, one=one)["way"] == "lines"
    assert way(*args, tmp=tmp, one=one, how="scanned")["way"] == "scanned"


@needs_gen
def test_the_workers_read_a_json_lines_log_themselves(tmp_path):
    folder = generated(tmp_path, 5)
    args = ("run", str(folder), "--format", "jsonl")
    one = same(*args)
    code, out, err = one
    assert code == 0 and "duplicate events (repeated ids)" in err and out.count(b"\n") > 1000
    both_ways(*args, tmp=tmp_path, one=one)
    got = way(*args, tmp=tmp_path, workers=3)
    assert got["way"] == "lines" and len(got["worker"]) == 3 and got["parent"] > 0


ODD = '''
workflow "Visits" {
    evaluate on event
    enroll when page.visited
    allow reentry
    send_email("hello")
}
'''


def _odd_log(tmp_path, rows: list, head: bytes = b"") -> None:
    (tmp_path / "program.goal").write_text(ODD)
    (tmp_path / "contacts.jsonl").write_text('{"id": "c1"}\n{"id": 7}\n')
    (tmp_path / "events.jsonl").write_bytes(head + b"".join(r if isinstance(r, bytes) else json.dumps(r).encode()
                                                              + b"\n" for r in rows))


def _visit(minute: int, contact, eid=None) -> dict:
    row = {"time": f"2026-11-16T09:{minute:02d}:00Z", "contact": contact, "type": "page.visited", "url": "/"}
    if eid is not None:
        row["id"] = eid
    return row


def test_blank_lines_a_bom_integers_crlf_and_ids_taken_by_other_contacts(tmp_path):
    rows = [_visit(0, "c1", "a"), b"\n", _visit(1, 7, 5), b"   \r\n", _visit(2, "c2", "a"),  # "a" is c1's
            json.dumps(_visit(3, "c3", 5)).encode() + b"\r\n",  # the id 5 is 7's, written as a number there
            _visit(4, "c4", "5"), _visit(5, "c5"), _visit(6, "c1", "b"), _visit(7, "c6", "b")]
    _odd_log(tmp_path, rows, head=b"\xef\xbb\xbf")
    args = ("run", str(tmp_path), "--format", "jsonl")
    one = same(*args, workers=(2, 3, 5))
    code, out, err = one
    assert code == 0 and "ignored 4 duplicate events" in err
    assert b'"c2"' not in out and b'"c3"' not in out and b'"c4"' not in out and b'"c6"' not in out
    both_ways(*args, tmp=tmp_path, one=one)


def test_bad_lines_found_by_the_workers_are_reported_in_file_order(tmp_path):
    rows = [_visit(0, "c1", "a"), b"not json\n", _visit(1, "c2"), {"time": "2026-11-16T09:02:00Z", "contact": "c3"},
            _visit(3, ["a list"]), {**_visit(4, "c4"), "url": 5}, b"[1, 2]\n", _visit(5, "c5", "b")]
    _odd_log(tmp_path, rows)
    args = ("run", str(tmp_path), "--format", "jsonl")
    one = same(*args, workers=(2, 3))
    code, out, err = one
    assert code == 1 and out == b"" and [l.split(":")[1] for l in err.splitlines()[1:-1]] == ["2", "4", "5", "6", "7"]
    both_ways(*args, tmp=tmp_path, one=one)
    one = same(*args, "--skip-bad", workers=(2, 3))
    code, out, err = one
    assert code == 0 and "skipped 5 bad lines" in err and b'"c5"' in out
    both_ways(*args, "--skip-bad", tmp=tmp_path, one=one)


def test_rows_the_scan_shifted_are_found_by_the_owners(tmp_path):
    # The scan takes row i of a piece as line i's when there are as many rows as lines. Two objects on one
    # line (bad) and a blank line shift the rows: the blank line gets the second object's row, with its id
    # "b", which the reader never takes (a later line with "b" is no duplicate): its owner says so, and the
    # run is dealt; with the bad line refused, the run is refused as one process refuses it.
    two = json.dumps(_visit(1, "c1", "a")).encode() + b" " + json.dumps(_visit(1, "c2", "b")).encode() + b"\n"
    rows = [_visit(0, "c3", "z"), two, b"\n", _visit(2, "c4", "b"), _visit(3, "c5")]
    _odd_log(tmp_path, rows)
    args = ("run", str(tmp_path), "--format", "jsonl")
    one = same(*args, "--skip-bad", workers=(2, 3))
    assert one[0] == 0 and b'"c4"' in one[1] and "skipped 1 bad line" in one[2] and "duplicate" not in one[2]
    for how in (None, "scanned"):
        got = way(*args, "--skip-bad", tmp=tmp_path, how=how, one=one)
        assert (got["way"], got["why dealt"]) == ("dealt", "a blank line decoded otherwise")
    one = same(*args, workers=(2, 3))
    assert one[0] == 1 and one[1] == b"" and ":2:" in one[2]
    for how in (None, "scanned"):
        assert way(*args, tmp=tmp_path, how=how, one=one)["way"] == "dealt"
    # An object over two lines and two on another: as many rows as lines again, shifted; each line is bad.
    over = json.dumps(_visit(1, "c6", "d")).encode()
    cut = over.index(b",") + 1  # between two fields: JSON may have a line end there
    rows = [_visit(0, "c3", "z"), over[:cut] + b"\n", over[cut:] + b"\n", two, _visit(2, "c4", "b")]
    _odd_log(tmp_path, rows)
    one = same(*args, "--skip-bad", workers=(2, 3))
    assert one[0] == 0 and b'"c4"' in one[1] and "skipped 3 bad lines" in one[2]
    for how in (None, "scanned"):
        assert way(*args, "--skip-bad", tmp=tmp_path, how=how, one=one)["way"] == "dealt"


def test_an_event_the_scan_sent_by_another_contact_is_found_by_its_engine(tmp_path):
    # Two objects on one line (bad), then a good line, then a blank one: as many rows as lines, so the good
    # line is given the second object's row. Neither has an id, so the ids agree; the good line went to the
    # second object's partition, whose engine meets a contact that is not its own, and the run is dealt.
    from goaldsl.runtime.partition import partition_of
    good = next(f"g{i}" for i in range(100)
                if all(partition_of(f"g{i}", n) != partition_of("x2", n) for n in (2, 3)))
    two = json.dumps(_visit(1, "x1")).encode() + b" " + json.dumps(_visit(1, "x2")).encode() + b"\n"
    rows = [_visit(0, "c1"), two, _visit(2, good), b"\n", _visit(3, "c1")]
    _odd_log(tmp_path, rows)
    args = ("run", str(tmp_path), "--format", "jsonl", "--skip-bad")
    one = same(*args, workers=(2, 3))
    assert one[0] == 0 and f'"{good}"'.encode() in one[1] and "skipped 1 bad line" in one[2]
    for how in (None, "scanned"):
        for n in (2, 3):
            got = way(*args, tmp=tmp_path, how=how, one=one, workers=n)
            assert (got["way"], got["why dealt"]) == ("dealt", f'contact "{good}" decoded otherwise')


AUDIENCE = '''
workflow "Scored" {
    audience contact.lead_score > 5
    send_email("hello")
}

workflow "Visitors" {
    evaluate on event
    enroll when page.visited
    send_email("welcome")
}
'''


def _contacts_log(tmp_path, contact_lines: list[bytes]) -> tuple[str, ...]:
    (tmp_path / "program.goal").write_text(AUDIENCE)
    (tmp_path / "contacts.jsonl").write_bytes(b"".join(contact_lines))
    (tmp_path / "events.jsonl").write_text(_events([_visit(i % 60, f"c{i}") for i in range(0, 40, 3)]))
    return ("run", str(tmp_path), "--format", "jsonl")


def _contact(cid, score: int = 9, **more) -> bytes:
    return json.dumps({"id": cid, "lead_score": score, **more}).encode() + b"\n"


def test_each_worker_reads_its_own_contacts_as_one_process_reads_them(tmp_path):
    # Each worker reads and checks only the lines of the contacts file whose ids are its partition's (a line
    # with no id it takes is partition 0's); the contacts' order (the audience's), the repeated ids, the bad
    # lines and their order are one process's.
    lines = [_contact(f"c{i}", i % 11) for i in range(40)]
    lines[5:5] = [b"\n", _contact("c3", 1), b"not json\n", _contact(17), _contact(None), b"[1]\n",
                  _contact("c30", tags=5), _contact("c31", 2, tags=5), b"   \r\n", _contact(True)]
    args = _contacts_log(tmp_path, lines)
    one = same(*args, workers=(2, 3, 5))
    code, out, err = one
    assert code == 1 and out == b""
    assert [l.split(":")[1] for l in err.splitlines()[1:-1]] == ["7", "8", "10", "11", "12", "13", "15"]
    assert way(*args, tmp=tmp_path, one=one)["way"] == "lines"
    one = same(*args, "--skip-bad", workers=(2, 3, 5))
    code, out, err = one
    assert code == 0 and "skipped 7 bad lines" in err and b'"17"' in out and b'"c31"' in out
    got = way(*args, "--skip-bad", tmp=tmp_path, one=one, workers=3)
    assert got["way"] == "lines"


def test_contacts_whose_ids_the_owners_decoded_otherwise_are_dealt(tmp_path):
    # Two objects on one line (bad) and a blank line: the cheap decoding of the ids gives as many rows as
    # lines, shifted, so the next line's contact is given to the owner of the second object's id; its
    # owner finds its id is another partition's, and the run is dealt, as one process reads it.
    from goaldsl.runtime import workers
    two = _contact("c0")[:-1] + b" " + _contact("c1")
    shifted = next(i for i in range(2, 40) if workers.partition_of(f"c{i}", 2) != workers.partition_of("c1", 2))
    lines = [two, _contact(f"c{shifted}"), b"\n"] + [_contact(f"c{i}") for i in range(2, 40) if i != shifted]
    args = _contacts_log(tmp_path, lines)
    one = same(*args, "--skip-bad", workers=(2, 3))
    assert one[0] == 0 and f'"c{shifted}"'.encode() in one[1] and "skipped 1 bad line" in one[2]
    got = way(*args, "--skip-bad", tmp=tmp_path, one=one)
    assert (got["way"], got["why dealt"]) == ("dealt", "a contact's id decoded otherwise")
    # Contacts of another format are read by every worker, and partition 0 reports their bad lines.
    (tmp_path / "contacts.jsonl").unlink()
    (tmp_path / "contacts.csv").write_text("id,lead_score\nc1,9\n,4\nc3,8\nc3,7\n")
    args = ("run", str(tmp_path / "program.goal"), "--contacts", str(tmp_path / "contacts.csv"), "--events",
            str(tmp_path / "events.jsonl"), "--format", "jsonl")
    one = same(*args, workers=(2, 3))
    assert one[0] == 1 and one[2].count("contacts.csv:") == 2
    assert way(*args, tmp=tmp_path, one=one)["way"] == "lines"


def test_the_first_good_line_starts_the_run(tmp_path):
    rows = [b"{}\n", {"time": "2026-11-16T08:00:00Z", "contact": "c9", "type": "nope"}, _visit(30, "c2"),
            _visit(31, "c1"), _visit(59, "c3")]
    _odd_log(tmp_path, rows)
    args = ("run", str(tmp_path), "--format", "jsonl", "--skip-bad")
    one = same(*args, workers=(2, 3))
    assert one[0] == 0 and b"09:30:00" in one[1]
    both_ways(*args, tmp=tmp_path, one=one)


def test_what_the_scan_cannot_decide_is_dealt(tmp_path):
    # A skipped bad line's id does not count (the reader never took it); the scan took it: dealt.
    rows = [_visit(0, "c1", "a"), {**_visit(1, "c2", "x"), "url": 5}, _visit(2, "c3", "x")]
    _odd_log(tmp_path, rows)
    args = ("run", str(tmp_path), "--format", "jsonl", "--skip-bad")
    one = same(*args)
    assert one[0] == 0 and b'"c3"' in one[1]
    for how in (None, "scanned"):
        got = way(*args, tmp=tmp_path, how=how)
        assert (got["way"], got["why dealt"]) == ("dealt", "a bad line had an id")
    # Out of time order: the reader sorts the log; dealt.
    _odd_log(tmp_path, [_visit(5, "c1"), _visit(1, "c2"), _visit(3, "c3")])
    code, out, _ = same("run", str(tmp_path), "--format", "jsonl")
    assert code == 0 and out.index(b'"c2"') < out.index(b'"c1"')
    for how in (None, "scanned"):
        assert way("run", str(tmp_path), "--format", "jsonl", tmp=tmp_path, how=how)["why dealt"] == "not in time order"


@pytest.mark.parametrize("compressed", [False, True])
def test_a_log_of_many_pieces_read_again_by_the_workers(tmp_path, compressed):
    # Over three pieces of the scan (CHUNK bytes each): a worker reads its lines from the file at the place
    # the scan tells it (a plain file) or from the piece's bytes sent to it (a compressed one); a BOM before
    # the first line, ids taken by other contacts across pieces, and a last line without its newline.
    import gzip
    from goaldsl.runtime.workers import CHUNK
    rows = [_visit(i // 600 % 60, f"c{i % 97}", f"e{i % 4001}" if i % 3 else None) for i in range(3 * CHUNK // 90)]
    rows.sort(key=lambda r: r["time"])
    _odd_log(tmp_path, rows, head=b"\xef\xbb\xbf")
    path = tmp_path / "events.jsonl"
    data = path.read_bytes()[:-1]  # no newline after the last line
    assert len(data) > 3 * CHUNK
    if compressed:
        path.unlink()
        path = tmp_path / "events.jsonl.gz"
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    args = ("run", str(tmp_path / "program.goal"), "--contacts", str(tmp_path / "contacts.jsonl"),
            "--events", str(path), "--format", "jsonl")
    one = same(*args, workers=(2, 3))
    code, out, err = one
    assert code == 0 and "duplicate events (repeated ids)" in err and out.count(b"\n") > 1000
    assert b'"c96"' in out
    both_ways(*args, tmp=tmp_path, one=one)


@needs_gen
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds the workers through /proc (Linux)")
@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM", "finished"])
def test_workers_end_when_goal_run_is_killed(tmp_path, how):
    """A parent killed outright (SIGKILL: nothing of it runs again; SIGTERM:
    it says so and ends at once) leaves no worker running and no spill
    folder behind; nor does a run that finishes."""
    import os
    import signal
    import time
    folder = generated(tmp_path, 3, events=60000, contacts=3000)
    spill = tmp_path / "tmp"
    spill.mkdir()
    p = subprocess.Popen([sys.executable, "-m", "goaldsl", "run", str(folder), "--format", "jsonl", "--workers", "2"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "TMPDIR": str(spill)})
    children = Path(f"/proc/{p.pid}/task/{p.pid}/children")
    deadline = time.monotonic() + 60
    workers: list[int] = []
    while len(workers) < 2 and time.monotonic() < deadline and p.poll() is None:
        workers = [int(x) for x in children.read_text().split()] if children.exists() else []
        time.sleep(0.01)
    assert len(workers) == 2, "the workers did not start (or the run ended first)"
    if how == "finished":
        assert p.wait() == 0
    else:
        p.send_signal(getattr(signal, how))
        assert p.wait() != 0
    deadline = time.monotonic() + 30
    alive = workers
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [w for w in workers if Path(f"/proc/{w}").exists()
                 and Path(f"/proc/{w}/stat").read_text().split(")")[-1].split()[0] != "Z"]
    assert not alive, "workers still running after their parent ended"
    assert list(spill.iterdir()) == [], "a spill folder was left behind"


def test_a_worker_reads_its_lines_as_one_process_across_bad_and_blank_lines(tmp_path):
    # A worker's reading of the lines the parent's scan sends it (in this process), each piece's lines
    # handed to the batch reader at once: the events, bad lines and duplicates of its partition are what
    # one process's reader finds for those contacts, and it counts its bad lines with an id (the scan took
    # it: a later line with it would be a duplicate to the scan, not to the reader, so a run with
    # --skip-bad is done again, dealt); bad and blank lines among its own lines (a piece then read line by
    # line), over several pieces.
    import pickle
    from goaldsl.runtime import workers
    from goaldsl.runtime.inputs import Inputs, as_source, event_pieces
    from goaldsl.runtime.program import load_program
    rows = []
    for i in range(3 * workers.CHUNK // 90):
        row = _visit(i // 600 % 60, f"c{i % 97}", f"e{i % 4001}" if i % 3 else None)
        rows.append(b"\n" if i % 1009 == 0 else b"not json\n" if i % 997 == 0 else
                    json.dumps({**row, "url": 5, "id": f"bad{i}"}).encode() + b"\n" if i % 991 == 0 else row)
    _odd_log(tmp_path, rows)  # in time order: a minute per 600 lines; no good line has a bad line's id
    program = load_program(tmp_path / "program.goal")
    events = as_source(str(tmp_path / "events.jsonl"))

    class Pool:
        n, conns, sent = 2, [0, 1], ([], [])

        def _send(self, conn, msg):
            self.sent[conn].append(pickle.dumps(msg))

    pool = Pool()
    workers._send_lines(pool, events, program.ir.events, None)
    one = Inputs()
    everyone = [ev for piece in event_pieces(events, program.ir.events, None, one) for ev in piece]
    for me in (0, 1):
        scan = workers._Scan(events, program.ir.events, me, 2, map(pickle.loads, pool.sent[me]))
        got = [ev for piece in scan.pieces() for ev in piece]
        assert scan.again is None and len(got) > len(rows) // 4  # about half the log's lines, over three pieces
        assert [ev[:4] for ev in got] == [ev for ev in everyone if workers.partition_of(ev[1], 2) == me]
        assert not {f"{events.shown}:{ev[4]}" for ev in got} & {d[-1] for d in one.duplicate_events}
        assert scan.duplicates == sum(1 for d in one.duplicate_events if workers.partition_of(d[1], 2) == me) > 0
        # the bad lines: those the partition 0 is given (not JSON) and those of its contacts (a number for url)
        assert [b.line for b in scan.bad] == [b.line for b in one.bad if b.line % 997 == 1 and me == 0 or
                                              b.line % 991 == 1 and workers.partition_of(f"c{(b.line - 1) % 97}",
                                                                                           2) == me]
        # the bad lines with an id (the scan took it): the lines with a number for url, this partition's
        assert scan.bad_ids == sum(1 for r in rows if isinstance(r, bytes) and b'"url": 5' in r and b'"id"' in r
                                   and workers.partition_of(json.loads(r)["contact"], 2) == me) > 0


@pytest.mark.parametrize("data", [b"", b"\n", b"{}", b"{}\n", b'{"a": 1}\n\n{"b": 2}', b"\r\n \n{}\r\n" * 1000])
def test_the_lines_of_a_piece_are_counted_alike_with_numpy_and_without(monkeypatch, data):
    import numpy  # noqa: F401 - loaded, as SeenIds loads it on a long log
    from goaldsl.runtime import workers
    expected = data.count(b"\n") + (not data.endswith(b"\n"))
    assert workers._line_count(data) == expected
    monkeypatch.delitem(sys.modules, "numpy")
    assert workers._line_count(data) == expected


ID_TEXTS = ["", "a", "b", "a\0", "\0a", "\0", "a\0b", "ab", "é"]


@pytest.mark.parametrize("seed", range(40))
def test_the_scans_ids_sent_joined_compare_as_the_list(seed):
    # A worker is sent the scan's ids of its lines of a piece as one text, joined by NULs, when each is a
    # text without a NUL (else as the list): comparing the reader's ids with it is comparing the lists.
    import random
    from goaldsl.runtime import workers
    rnd = random.Random(seed)
    for _ in range(300):
        n = rnd.randrange(0, 6)
        line_ids = [rnd.choice(ID_TEXTS + [None] * (seed % 3 == 0)) for _ in range(n)]
        piece = workers._Piece(1, 0, b"", [1] * n, line_ids, set(), 2, all(type(x) is str for x in line_ids))
        mask = bytes(rnd.randrange(2) for _ in range(n))
        mine = list(compress(line_ids, mask))
        sent = piece.ids_of(mask)
        assert sent == mine or (type(sent) is str and sent.split("\0") == mine and len(mine) > 0)
        for _ in range(5):
            read = [rnd.choice(ID_TEXTS + [None]) for _ in range(len(mine))] if rnd.randrange(2) else list(mine)
            assert workers._same_ids(read, sent) == (read == mine)


def test_ids_with_a_nul_and_events_without_an_id(tmp_path):
    rows = [_visit(0, "c1", "a\0b"), _visit(1, "c2", "a"), _visit(2, "c3", "b"), _visit(3, "c4", "a\0b"),
            _visit(4, "c5"), _visit(5, "c1", "x")]
    _odd_log(tmp_path, rows)
    args = ("run", str(tmp_path), "--format", "jsonl")
    one = same(*args, workers=(2, 3))
    assert one[0] == 0 and b'"c4"' not in one[1] and b'"c2"' in one[1] and "ignored 1 duplicate" in one[2]
    both_ways(*args, tmp=tmp_path, one=one)


@pytest.mark.parametrize("seed", range(12))
def test_the_spill_files_merged_while_written_give_the_merge(tmp_path, seed):
    # The parent merges the workers' spill files while they are written (_Streamed): records read as they
    # come, whole (one half written is left for the next look), entries below the least of the streams'
    # last keys written out, those at it held back. Random batches over 2 to 4 streams, with keys equal
    # across streams (of equal keys, the earlier stream's first), empty batches and a stream silent for a
    # long time: the file written is partition.merge's order, line for line.
    import io
    import random
    from goaldsl.runtime import workers
    from goaldsl.runtime.partition import merge
    rnd = random.Random(seed)
    n = rnd.randrange(2, 5)
    streams = []
    for i in range(n):
        shared = [(rnd.randrange(40), (0, rnd.randrange(4))) for _ in range(5)]  # as an enrollment's key is
        keys = sorted((rnd.randrange(40), rnd.randrange(3), rnd.choice(shared)) for _ in range(rnd.randrange(0, 120)))
        batches, at = [], 0
        while at < len(keys):
            k = rnd.randrange(0, 12)
            part = keys[at:at + k]
            batches.append((part, [f"{i} {j + at} {key}".encode() for j, key in enumerate(part)]))
            at += k
        streams.append(batches)

    class Pool:
        folder = str(tmp_path)

        def __init__(self):
            self.n = n

        def spill_path(self, i):
            return str(tmp_path / f"partition-{i}")

    stream = workers._Streamed(Pool())
    files = [open(tmp_path / f"partition-{i}", "wb") for i in range(n)] if seed % 2 else [None] * n
    pending = []
    for s in streams:  # each stream's records as its worker writes them (one pickler: its memo kept)
        buf = io.BytesIO()
        spill = workers._Spill(buf)
        records = []
        for keys, lines in s:
            spill.add(keys, lines)
            records.append(buf.getvalue())
            buf.seek(0)
            buf.truncate()
        pending.append(records)
    silent = rnd.randrange(n)
    while any(pending):
        i = rnd.randrange(n)
        if not pending[i] or (i == silent and any(p for j, p in enumerate(pending) if j != i)):
            continue
        if files[i] is None:
            files[i] = open(tmp_path / f"partition-{i}", "wb")
        record = pending[i][0]
        cut = rnd.randrange(len(record) + 1)  # a record written in two goes, the parent looking between them
        files[i].write(record[:cut])
        files[i].flush()
        stream.advance()
        files[i].write(record[cut:])
        files[i].flush()
        pending[i].pop(0)
        if rnd.randrange(2):
            stream.advance()
    for f in files:
        if f is not None:
            f.close()
    for i in range(n):  # a worker that wrote nothing still made its file
        (tmp_path / f"partition-{i}").touch()
    stream.advance(final=True)
    out = io.StringIO()
    stream.copy_to(out)
    expected = [line for _, lines in merge([iter(s) for s in streams]) for line in lines]
    assert out.getvalue().splitlines() == [x.decode() for x in expected]
    stream.close()


@pytest.mark.skipif(sys.platform != "linux", reason="the workers are forked (they take the patches with them)")
@pytest.mark.parametrize("who", [0, 1])
def test_a_worker_that_dies_while_the_log_is_sent_fails_the_run(tmp_path, monkeypatch, who):
    # This process sends each worker its lines by a thread of the worker's own, up to AHEAD bytes ahead
    # (_Outbox). A worker that dies (here: at once, as the out-of-memory killer would end it) must not
    # leave this process waiting for room in its queue: the run fails with the one message, and the other
    # worker ends. One message ahead, small pieces: many more pieces than room.
    import os
    from goaldsl import load_program
    from goaldsl.runtime import workers
    rows = [_visit(i // 400 % 60, f"c{i % 50}", f"e{i}") for i in range(6000)]
    rows.sort(key=lambda r: r["time"])
    _odd_log(tmp_path, rows)
    monkeypatch.setattr(workers, "CHUNK", 4096)
    monkeypatch.setattr(workers._Outbox, "AHEAD", 1)  # (bytes: one message at a time)
    scan_and_run = workers._scan_and_run

    def dies(conn, kernel, me, *args):
        if me == who:
            os._exit(9)
        return scan_and_run(conn, kernel, me, *args)

    monkeypatch.setattr(workers, "_scan_and_run", dies)
    program = load_program(tmp_path / "program.goal")
    failed: list = []

    def run() -> None:
        try:
            workers.run_workers(program, tmp_path / "contacts.jsonl", tmp_path / "events.jsonl", None, workers=2,
                                start=None, until=None, window=lambda inputs: (inputs.first_time, inputs.last_time))
        except workers.WorkerFailed as e:
            failed.append(str(e))

    import threading
    t = threading.Thread(target=run, daemon=True)  # (a run that waits for ever would hang the tests)
    t.start()
    t.join(120)
    assert not t.is_alive(), "the run still waits for a worker that is gone"
    assert failed and "stopped unexpectedly" in failed[0]


@pytest.mark.parametrize("read", [1, 7, 64, 1 << 22])
def test_a_spill_file_read_in_parts_gives_its_batches(tmp_path, monkeypatch, read):
    # At the end of a run that is not merged while the workers run (a failure, CSV, Parquet, the table) the
    # spill files are read _SPILL_READ bytes at a time: a record cut by a read is whole in the next.
    import io
    from goaldsl.runtime import workers
    batches = [([(t, 0, i)], [f"line {t} {i}".encode() * (t % 5)]) for t in range(40) for i in range(t % 3)]
    buf = io.BytesIO()
    spill = workers._Spill(buf)
    for keys, lines in batches:
        spill.add(keys, lines)
    (tmp_path / "partition-0.spill").write_bytes(buf.getvalue())

    class Pool:
        def spill_path(self, i):
            return str(tmp_path / f"partition-{i}.spill")

    monkeypatch.setattr(workers, "_SPILL_READ", read)
    assert list(workers._Pool.spilled(Pool(), 0)) == batches


def test_each_spill_record_stands_alone(tmp_path):
    # A pickler kept for a whole spill file (and the parent's unpickler) kept every object it had pickled
    # alive in its memo: the worker and the parent held every entry of the run. Each record now stands
    # alone: one read without those before it gives its batch, though the batches share an object.
    import io
    from goaldsl.runtime import workers
    shared = (5, (0, 1))  # an enrollment's key, which later keys hold
    batches = [([(1, 0, shared, 1)], [b"a"]), ([(2, 0, shared, 2)], [b"b"]), ([(3, 1, shared, 3)], [b"c"])]
    buf = io.BytesIO()
    spill = workers._Spill(buf)
    records = []
    for keys, lines in batches:
        at = buf.tell()
        spill.add(keys, lines)
        records.append(buf.getvalue()[at:])
    for record, batch in reversed(list(zip(records, batches))):
        alone: list = []
        assert workers._records(record, alone) == len(record)
        assert alone == [batch]
    got: list = []
    assert workers._records(records[2] + records[1][:5], got) == len(records[2])
    assert got == [batches[2]]


def test_a_spill_record_keeps_what_marshal_does_not_take():
    # Keys and lines (bytes) are written with marshal; a batch of entries holding something marshal
    # refuses (it takes built-in types only) is pickled, and both come back equal and of the same types.
    import datetime
    import decimal
    import io
    from goaldsl.runtime import workers

    plain = ([b"\x03k1\x01", b"\x03k2\x01"], [b'{"a": 1}', "\udc80 text".encode("utf-8", "surrogatepass")])
    entries = ([b"\x03k3\x01"], [{"time": 1, "score": decimal.Decimal("0.1"), "at": datetime.date(2026, 12, 2)}])
    buf = io.BytesIO()
    spill = workers._Spill(buf)
    spill.add(*plain)
    spill.add(*entries)
    data = buf.getvalue()
    size = workers._RECORD.size
    first = size + workers._RECORD.unpack_from(data, 0)[0]
    assert [data[size - 1], data[first + size - 1]] == [1, 0]  # marshal, then pickle
    got: list = []
    assert workers._records(data, got) == len(data)
    assert got == [plain, entries]
    assert type(got[1][1][0]["score"]) is decimal.Decimal


@pytest.mark.parametrize("table", [1, 2, 4, 1 << 16])
def test_each_lines_partition_by_the_contacts_hashes_as_by_the_dict(monkeypatch, table):
    # Once numpy is loaded the scan looks up each line's partition by its contact's hash in a table (slot:
    # the hash's low bits; a contact whose slot another has, a new one, or one that is not a text, by the
    # dict): the codes are the dict's, line for line. Tables of 1, 2 and 4 slots: most contacts share one.
    import random
    import numpy as np
    from goaldsl.runtime import workers
    monkeypatch.setattr(workers._Scan, "TABLE", table)
    rnd = random.Random(table)
    pool = [f"c{i}" for i in range(60)] + ["", None, 7, 7.0, True, 1, "1", "é", "c1\0"]
    for n in (2, 3, 5):
        by_table = workers._Scan(None, {}, -1, n)
        by_dict = workers._Scan(None, {}, -1, n)
        for _ in range(12):
            contacts = [rnd.choice(pool) for _ in range(rnd.randrange(1, 300))]
            got = by_table._by_hash(np, np.fromiter(map(hash, contacts), np.int64, len(contacts)), contacts)
            monkeypatch.setitem(sys.modules, "numpy", None)  # (the dict's way)
            want = by_dict._codes(contacts)
            monkeypatch.undo()
            monkeypatch.setattr(workers._Scan, "TABLE", table)
            assert list(got) == want


def test_a_pipe_closed_while_its_outbox_sends_ends_the_thread_quietly():
    # A run that stops (Ctrl-C, another worker failed) closes the pipes while a sender thread may be in the
    # middle of a message the worker has not read: the thread ends, marks the outbox broken, and raises
    # nothing (an exception in a thread would print a traceback to the user).
    import multiprocessing
    import threading
    import time
    from goaldsl.runtime import workers
    raised: list = []
    hook, threading.excepthook = threading.excepthook, lambda args: raised.append(args.exc_type)
    try:
        here, there = multiprocessing.Pipe()
        box = workers._Outbox(here, "goal-send-test")
        assert box.put(b"x" * (8 << 20))  # far more than the pipe holds: the thread waits in the send
        time.sleep(0.2)
        here.close()
        there.close()  # (as the worker's end goes when it is stopped)
        box.close()
        box.thread.join(10)
        assert not box.thread.is_alive() and box.broken and raised == []
        assert not box.put(b"y")
    finally:
        threading.excepthook = hook


def test_the_workers_keep_the_code_they_compile_for_the_next_run(tmp_path):
    # A worker builds a keyed engine, whose generated code its parent never
    # compiles; it ends by os._exit (no save at exit), so it must save the
    # code cache itself, or every run compiles that code again in every worker.
    import os
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    prog = ROOT / "examples" / "booked-a-demo"
    run = subprocess.run([sys.executable, "-m", "goaldsl", "run", str(prog), "--workers", "2"], env=env,
                         capture_output=True, timeout=600)
    assert run.returncode == 0, run.stderr
    probe = ("import sys, goaldsl\n"
             "from goaldsl.syntax import codecache\n"
             "from goaldsl.runtime.partition import PartitionRun\n"
             "from goaldsl.runtime.program import loads_program\n"
             f"p = loads_program(goaldsl.load_program({str(prog)!r}).dumps())\n"
             "PartitionRun(p, [], start=0, keyed=True, batches=True)\n"
             "print(codecache.PROGRAMS.unsaved, codecache.PACKAGE.unsaved)\n")
    got = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=600)
    assert got.stdout.split() == ["False", "False"], got.stderr


def test_a_worker_fed_by_the_scan_keeps_no_ids(tmp_path, monkeypatch):
    # The parent's scan takes every id; a worker it feeds needs no table of
    # them (a long log's table would load numpy in every worker: 0.1 s each).
    from goaldsl.runtime import inputs, workers
    made: list = []
    monkeypatch.setattr(inputs.SeenIds, "for_source", classmethod(lambda cls, source: made.append(source) or cls()))
    log = tmp_path / "events.jsonl"
    log.write_text('{"time": "2026-10-01T00:00:00Z", "contact": "c1", "type": "page.visited", "url": "/"}\n')
    fed = workers._Scan(inputs.as_source(str(log)), {}, 0, 2, iter([("end",)]))
    assert list(fed.pieces()) == [] and made == []
    scanning = workers._Scan(inputs.as_source(str(log)), {}, -1, 2)
    assert len(list(scanning.route())) == 1 and len(made) == 1
