"""One-contact answers read one contact (goaldsl/runtime/contact_slice.py):
`goal explain` and `goal eval` feed the engine only the asked contact's
events, and answer exactly as with the whole log fed in: on every example,
and on generated logs with ids repeated across contacts, unsorted lines,
odd time forms and contacts only seen in events. `goal eval --all` counts
the contacts a condition holds for.
"""
from __future__ import annotations

import io
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from goaldsl.api import load_program, read_inputs
from goaldsl.cli import main
from goaldsl.runtime.contact_slice import read_one_contact
from goaldsl.tools.evaluate import evaluate_all, evaluate_condition
from goaldsl.tools.explain import ExplainError, explain, to_json

ROOT = Path(__file__).resolve().parent.parent
SHARED_GEN = next((p for p in (ROOT.parent / "shared" / "bench" / "gen.py", Path("/work/shared/bench/gen.py"))
                   if p.exists()), ROOT.parent / "shared" / "bench" / "gen.py")
EXAMPLES = sorted(p.parent for p in (ROOT / "examples").glob("*/program.goal"))


def goals_of(program):
    out = []
    for wf in program.ir.workflows:
        for st in wf.steps:
            if hasattr(st, "goal") and getattr(st, "goal", None) is not None and hasattr(st.goal, "cond"):
                out.append((wf.name, st.goal.name))
        out.extend((wf.name, g.name) for g in wf.goals)
    return out


def answers(program, inputs, cid, goals, at=None):
    out = []
    for wf, g in goals:
        try:
            out.append(to_json(explain(program, inputs, cid, g, workflow=wf, at=at)))
        except ExplainError as e:
            out.append(str(e))
    return json.dumps(out, default=str, sort_keys=True)


def assert_same_answers(folder: Path, contacts: list[str], conditions: list[str], at=None, events=None):
    program = load_program(folder)
    cpath = folder / "contacts.jsonl" if (folder / "contacts.jsonl").exists() else None
    epath = events or folder / "events.jsonl"
    whole = read_inputs(program, cpath, epath)
    goals = goals_of(program)
    assert goals
    for cid in contacts:
        one = read_one_contact(program, cpath, epath, cid)
        assert not one.bad
        assert (one.first_time, one.last_time) == (whole.first_time, whole.last_time)
        assert one.events == [e for e in whole.events if e[1] == cid]
        assert answers(program, one, cid, goals, at) == answers(program, whole, cid, goals, at), cid
        when = at if at is not None else whole.last_time
        for cond in conditions:
            a = evaluate_condition(program, one, cond, cid, when)
            b = evaluate_condition(program, whole, cond, cid, when)
            assert (a.value, a.lines()) == (b.value, b.lines()), (cid, cond)


@pytest.mark.parametrize("folder", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_examples_every_contact_every_goal(folder):
    program = load_program(folder)
    whole = read_inputs(program, folder / "contacts.jsonl", folder / "events.jsonl")
    ids = sorted({c["id"] for c in whole.contacts} | {e[1] for e in whole.events}) + ["nobody"]
    assert_same_answers(folder, ids, ['"vip" in contact.tags', "email.opened at least 1 time within 7 days"])


def _generated(tmp: Path, seed: int, events: int = 3000, contacts: int = 150) -> Path:
    out = tmp / f"gen{seed}"
    subprocess.run([sys.executable, str(SHARED_GEN), str(out), "--events", str(events), "--contacts", str(contacts),
                    "--seed", str(seed)], check=True, capture_output=True)
    rng = random.Random(seed)
    lines = (out / "events.jsonl").read_text().splitlines()
    rows = [json.loads(x) for x in lines]
    # ids repeated across contacts (the later line is a duplicate, whoever it is for), some lines moved
    for _ in range(60):
        src = rng.choice(rows)
        dup = dict(rng.choice(rows))
        dup["id"] = src.get("id", "x")
        rows.insert(rng.randrange(len(rows)), dup)
    for _ in range(30):
        i, j = rng.randrange(len(rows)), rng.randrange(len(rows))
        rows[i], rows[j] = rows[j], rows[i]
    # contacts only seen in events, times in UTC and with an offset
    rows.append({**rows[0], "contact": "only-in-events", "id": "fresh-1"})
    (out / "events.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return out


@pytest.mark.skipif(not SHARED_GEN.exists(), reason="needs ../shared/bench/gen.py beside the repository")
@pytest.mark.parametrize("seed", [1, 2])
def test_generated_logs_with_repeated_ids_across_contacts(tmp_path, seed):
    folder = _generated(tmp_path, seed)
    program = load_program(folder)
    whole = read_inputs(program, folder / "contacts.jsonl", folder / "events.jsonl")
    assert whole.duplicates > 0
    rng = random.Random(seed)
    dup_contacts = sorted({d[1] for d in whole.duplicate_events})
    ids = sorted({e[1] for e in whole.events})
    pick = dup_contacts[:4] + rng.sample(ids, 3) + ["only-in-events"]
    mid = (whole.first_time + whole.last_time) // 2
    assert_same_answers(folder, pick, ['page.visited(url starts with "/pricing") at least 2 times within 7 days'])
    assert_same_answers(folder, pick[:3], ["purchase.completed ever"], at=mid)


def test_scan_gives_way_to_the_reader_on_unusual_lines(write):
    """Lines the fast scan does not take (an integer contact, fractional
    seconds, a blank line, a bad line with --skip-bad) are read by the
    ordinary reader, with the same result."""
    write("program.goal", 'workflow "W" { evaluate on event\n enroll when page.visited\n send_email("x") }\n')
    rows = [{"time": "2026-11-16T14:00:00Z", "contact": "c1", "type": "page.visited", "url": "/", "id": "a"},
            {"time": "2026-11-16T13:00:00.5+01:00", "contact": 7, "type": "page.visited", "url": "/", "id": "a"},
            {"time": "2026-11-16T15:00:00-05:00", "contact": "c1", "type": "page.visited", "url": "/", "id": "b"}]
    text = "".join(json.dumps(r) + "\n" for r in rows)
    program = load_program("program.goal")
    lone = '{"time": "2026-11-16T16:00:00Z", "contact": "c1", "type": "page.visited", "url": "\\ud800"}\n'
    pair = '{"time": "2026-11-16T16:00:00Z", "contact": "c1", "type": "page.visited", "url": "\\ud83d\\ude00"}\n'
    clean = text.replace('"contact": 7', '"contact": "7"').replace(".5+01:00", "+01:00")
    for variant in (text, text + "\n\n", clean, text + "not json\n", clean + lone, clean + pair,
                    clean.replace('"c1"', '"c\\u0031"'), "\ufeff" + clean):
        events = write("events.jsonl", variant)
        whole = read_inputs(program, None, events, skip_bad=True)
        for cid in ("c1", "7"):
            one = read_one_contact(program, None, events, cid)
            assert [str(b) for b in one.bad] == [str(b) for b in whole.bad]
            assert one.events == [e for e in whole.events if e[1] == cid]
            assert (one.first_time, one.last_time, one.duplicates) == (whole.first_time, whole.last_time,
                                                                         whole.duplicates)
            assert one.duplicate_events == [d for d in whole.duplicate_events if d[1] == cid]


def test_explain_refuses_a_bad_log_as_run_does(write, capsys):
    write("program.goal", 'workflow "W" { evaluate on event\n enroll when page.visited\n send_email("x")\n'
                          ' goals { goal "G" { when email.opened } } }\n')
    write("events.jsonl", json.dumps({"time": "2026-11-16T14:00:00Z", "contact": "c1", "type": "page.visited",
                                      "url": "/"}) + "\n" + json.dumps({"time": "x", "contact": "c2",
                                                                         "type": "page.visited", "url": "/"}) + "\n")
    assert main(["explain", ".", "--contact", "c1", "--goal", "G"]) == 1
    assert 'events.jsonl:2: "time" "x" is not an ISO 8601 date-time' in capsys.readouterr().err
    assert main(["explain", ".", "--contact", "c1", "--goal", "G", "--skip-bad"]) == 0
    assert main(["explain", ".", "--contact", "c12", "--goal", "G", "--skip-bad"]) == 2
    assert 'there is no contact "c12" in the contacts or events (did you mean "c1"?)' in capsys.readouterr().err


def test_eval_all_counts_and_lists_the_contacts(write, capsys):
    write("program.goal", "")
    write("contacts.jsonl", '{"id": "a", "lead_score": 60}\n{"id": "b", "lead_score": 10}\n{"id": "c"}\n')
    write("events.jsonl", "".join(json.dumps({"time": f"2026-11-1{d}T10:00:00Z", "contact": c, "type": "page.visited",
                                              "url": "/pricing"}) + "\n"
                                  for d, c in ((1, "a"), (2, "d"), (3, "d"), (4, "b"))))
    assert main(["eval", 'page.visited(url == "/pricing") at least 1 time within 2 days', ".", "--all",
                 "--at", "2026-11-14T12:00:00Z"]) == 0
    assert capsys.readouterr().out.splitlines() == ["2 of 4 contacts at 2026-11-14T12:00:00Z", "b", "d"]
    assert main(["eval", "contact.lead_score >= 50", ".", "--all", "--count"]) == 0
    assert capsys.readouterr().out == "1\n"
    program = load_program(Path("."), allow_empty=True)
    inputs = read_inputs(program, Path("contacts.jsonl"), Path("events.jsonl"))
    at = inputs.last_time
    got, total = evaluate_all(program, inputs, "contact.lead_score < 50 or contact.lead_score is not set", at)
    assert (got, total) == ([c for c in "abcd" if evaluate_condition(
        program, inputs, "contact.lead_score < 50 or contact.lead_score is not set", c, at).value], 4)
    assert main(["eval", "contact.x == 1", "."]) == 2
    assert "give --contact ID, or --all" in capsys.readouterr().err


def test_the_scan_reads_the_usual_logs(monkeypatch):
    """The examples and the benchmark's shape are read by the scan (so the
    tests above compare the scan with the full replay), not the fallback."""
    import goaldsl.runtime.contact_slice as cs

    def refuse(*a, **k):
        raise AssertionError("the ordinary reader was used")

    monkeypatch.setattr(cs, "_read_filtered", refuse)
    for folder in EXAMPLES:
        program = load_program(folder)
        read_one_contact(program, folder / "contacts.jsonl", folder / "events.jsonl", "c1")


def test_contact_scan_gives_way_to_the_reader_on_unusual_records(write):
    """Contact records the typed scan does not take (a number or true for an
    id, an empty id, an id given twice, a list attribute of numbers, a line
    that is not an object, a blank line, a byte order mark) are read by the
    ordinary reader; the answers are the same, and so are the bad lines."""
    write("program.goal", "")
    clean = ('{"id": "c1", "tags": ["a"], "plan": {"seats": 3}}\n{"id": "c2", "tags": null, "lists": []}\n'
             '{"id": "c\\u0033", "email": "c1"}\n')
    program = load_program(Path("."), allow_empty=True)
    for variant in (clean, clean + '{"id": 7}\n', clean + '{"id": true}\n', clean + '{"id": ""}\n',
                    clean + '{"id": "c1"}\n', clean + '{"id": "c4", "tags": [1]}\n', clean + "[1]\n",
                    clean + "\n", "\ufeff" + clean, clean + '{"tags": ["x"]}\n'):
        contacts = write("contacts.jsonl", variant)
        whole = read_inputs(program, contacts, None, skip_bad=True)
        for cid in ("c1", "c2", "c3", "7", "c9"):
            one = read_one_contact(program, contacts, None, cid)
            assert [str(b) for b in one.bad] == [str(b) for b in whole.bad]
            assert one.contacts == [c for c in whole.contacts if c["id"] == cid]
            if not one.contacts:
                assert one.contact_ids == {c["id"] for c in whole.contacts}


def test_the_contact_scan_reads_the_usual_records(monkeypatch):
    import goaldsl.runtime.contact_slice as cs

    def refuse(*a, **k):
        raise AssertionError("the ordinary reader was used")

    monkeypatch.setattr(cs, "read_contacts", refuse)
    for folder in EXAMPLES:
        program = load_program(folder)
        first = json.loads((folder / "contacts.jsonl").read_text(encoding="utf-8").splitlines()[0])["id"]
        one = read_one_contact(program, folder / "contacts.jsonl", None, first)
        assert [c["id"] for c in one.contacts] == [first]


# ---------------------------------------------------------------- the log's index, kept in the cache folder

def _same_as_whole(program, events, cid):
    whole = read_inputs(program, None, events, skip_bad=True)
    one = read_one_contact(program, None, events, cid)
    assert [str(b) for b in one.bad] == [str(b) for b in whole.bad]
    assert one.events == [e for e in whole.events if e[1] == cid]
    assert (one.first_time, one.last_time, one.duplicates) == (whole.first_time, whole.last_time, whole.duplicates)
    assert one.duplicate_events == [d for d in whole.duplicate_events if d[1] == cid]
    if not one.events and not one.duplicate_events:
        assert one.contact_ids == {e[1] for e in whole.events} | {d[1] for d in whole.duplicate_events}
    return one


def _index_log_counted(monkeypatch):
    """Counts the whole-log scans (the index made, not read)."""
    import goaldsl.runtime.contact_slice as cs
    made = []
    real = cs._index_log

    def counting(*a, **k):
        made.append(1)
        return real(*a, **k)

    monkeypatch.setattr(cs, "_index_log", counting)
    return made


ROWS = [{"time": "2026-11-16T14:00:00Z", "contact": "c1", "type": "page.visited", "url": "/", "id": "a"},
        {"time": "2026-11-16T13:00:00+01:00", "contact": "c2", "type": "page.visited", "url": "/", "id": "a"},
        {"time": "2026-11-16T15:00:00-05:00", "contact": "c1", "type": "page.visited", "url": "/c2", "id": "b"},
        {"time": "2026-11-17T09:30:00Z", "contact": "c\\u0033", "type": "page.visited", "url": "/", "id": "c"}]
PROGRAM = 'workflow "W" { evaluate on event\n enroll when page.visited\n send_email("x") }\n'


def test_the_index_is_kept_and_answers_as_the_whole_log(write, tmp_path, monkeypatch):
    """The second answer about a log reads its kept index instead of
    scanning every line, and says the same as the whole log; for every
    contact, one seen only with a repeated id, an escaped id, and nobody."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    write("program.goal", PROGRAM)
    events = write("events.jsonl", "".join(json.dumps(r).replace("\\\\u", "\\u") + "\n" for r in ROWS))
    program = load_program("program.goal")
    made = _index_log_counted(monkeypatch)
    _same_as_whole(program, events, "c1")
    assert len(made) == 1 and list((tmp_path / "cache" / "goaldsl").glob("log-*.index"))
    for cid in ("c1", "c2", "nobody", "c1"):
        _same_as_whole(program, events, cid)
    assert len(made) == 1  # every later answer read the index
    _same_as_whole(program, events, "c3")  # written "c\u0033": not found by a search, the log is scanned
    assert len(made) == 2


def test_the_index_is_never_used_for_a_changed_log(write, tmp_path, monkeypatch):
    """A log changed to the same size and modification time is told by its
    checksum; another program's event declarations have their own index."""
    import os
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    write("program.goal", PROGRAM)
    text = "".join(json.dumps(r) + "\n" for r in ROWS[:3])
    events = write("events.jsonl", text)
    program = load_program("program.goal")
    _same_as_whole(program, events, "c1")
    st = os.stat(events)
    events.write_text(text.replace('"c1"', '"c4"', 1))  # same size
    os.utime(events, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(events).st_size == st.st_size
    one = _same_as_whole(program, events, "c1")
    assert len(one.events) == 1
    assert _same_as_whole(program, events, "c4").events
    app = json.dumps({"time": "2026-11-18T10:00:00Z", "contact": "c1", "type": "app.opened", "screen": "home"})
    events.write_text(text + app + "\n")
    write("program.goal", PROGRAM + 'event app.opened { screen: string }\n')
    assert not _same_as_whole(load_program("program.goal"), events, "c1").bad
    write("program.goal", PROGRAM + 'event app.opened { screen: number }\n')
    assert _same_as_whole(load_program("program.goal"), events, "c2").bad  # not the other program's index


@pytest.mark.parametrize("damage", ["unwritable", "garbage", "other log"])
def test_no_index_or_a_bad_one_is_no_harm(write, tmp_path, monkeypatch, damage):
    """An unwritable cache folder, or an index file that is damaged or
    another log's, only means the log is scanned again."""
    import shutil
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    write("program.goal", PROGRAM)
    events = write("events.jsonl", "".join(json.dumps(r) + "\n" for r in ROWS[:3]))
    program = load_program("program.goal")
    if damage == "unwritable":
        cache.write_text("a file where the folder would be")
    _same_as_whole(program, events, "c1")
    kept = list((cache / "goaldsl").glob("log-*.index")) if cache.is_dir() else []
    assert len(kept) == (0 if damage == "unwritable" else 1)
    if damage == "garbage":
        kept[0].write_bytes(b"\x93not an index")
    elif damage == "other log":
        other = write("other.jsonl", "".join(json.dumps(r) + "\n" for r in ROWS[1:3]))
        _same_as_whole(program, other, "c1")
        other_index = next(p for p in (cache / "goaldsl").glob("log-*.index") if p != kept[0])
        shutil.copy(other_index, kept[0])
    made = _index_log_counted(monkeypatch)
    for cid in ("c1", "c2"):
        _same_as_whole(program, events, cid)
    assert len(made) == (2 if damage == "unwritable" else 1)


def _scanned_bytes(monkeypatch):
    """The lengths of what each scan decoded (the whole log, or only its new end)."""
    import goaldsl.runtime.contact_slice as cs
    sizes = []
    real = cs._index_log

    def counting(data, *a, **k):
        sizes.append(len(data))
        return real(data, *a, **k)

    monkeypatch.setattr(cs, "_index_log", counting)
    return sizes


def _line(t, c, i, **extra):
    return json.dumps({"time": t, "contact": c, "type": "page.visited", "url": "/", "id": i, **extra}) + "\n"


def test_a_grown_log_is_scanned_only_where_it_grew(write, tmp_path, monkeypatch):
    """Lines appended to a log: only they are scanned, and the answers are
    the whole log's, with an id repeated across the old and the new lines,
    a new first and last instant, a contact seen only in the new lines."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    write("program.goal", PROGRAM)
    old = "".join(json.dumps(r) + "\n" for r in ROWS[:3])
    events = write("events.jsonl", old)
    program = load_program("program.goal")
    sizes = _scanned_bytes(monkeypatch)
    _same_as_whole(program, events, "c1")
    assert sizes == [len(old)]
    new = (_line("2026-11-18T10:00:00Z", "c1", "b") + _line("2026-11-10T10:00:00+02:00", "c9", "n1")
           + _line("2026-11-19T10:00:00-01:00", "c2", "n1") + _line("2026-11-19T11:00:00Z", "c2", "n2"))
    with open(events, "a") as f:
        f.write(new)
    for cid in ("c1", "c2", "c9", "nobody"):
        one = _same_as_whole(program, events, cid)
    assert sizes == [len(old), len(new)]  # the first answer after the growth scanned the new lines only
    assert one.duplicates == 3
    with open(events, "a") as f:
        f.write(_line("2026-11-20T10:00:00Z", "c1", "n3"))
    assert len(_same_as_whole(program, events, "c1").events) == 3
    assert sizes[-1] == len(_line("2026-11-20T10:00:00Z", "c1", "n3"))
    with open(events, "a") as f:  # one line, with the id of an old one: a repeat, and not the last instant
        f.write(_line("2026-11-21T10:00:00Z", "c2", "a"))
    assert _same_as_whole(program, events, "c2").duplicates == 4
    assert len(sizes) == 4


def test_a_touched_log_keeps_its_index(write, tmp_path, monkeypatch):
    """A new modification time with the same bytes (touch, a copy back) is
    the same log: its index is still good."""
    import os
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    write("program.goal", PROGRAM)
    events = write("events.jsonl", "".join(json.dumps(r) + "\n" for r in ROWS[:3]))
    program = load_program("program.goal")
    sizes = _scanned_bytes(monkeypatch)
    _same_as_whole(program, events, "c1")
    os.utime(events, ns=(1, 2))
    _same_as_whole(program, events, "c2")
    assert len(sizes) == 1


@pytest.mark.parametrize("change", ["rewritten", "truncated", "continued", "grown with a backslash",
                                    "grown with a bad line", "grown with a blank line", "emptied"])
def test_a_changed_log_is_scanned_again(write, tmp_path, monkeypatch, change):
    """A log whose kept bytes changed (rewritten with the same size,
    truncated, its last line continued, emptied), or that grew with lines
    the index cannot take as they are, is read again whole, with the whole
    log's answers and bad lines."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    write("program.goal", PROGRAM)
    text = "".join(json.dumps(r) + "\n" for r in ROWS[:3])
    events = write("events.jsonl", text)
    program = load_program("program.goal")
    for cid in ("c1", "c2"):
        _same_as_whole(program, events, cid)
    if change == "rewritten":  # the same size: another first instant, no repeated id
        events.write_text(text.replace("T14:00", "T11:00").replace('"id": "b"', '"id": "q"').replace(
            '"id": "a"}', '"id": "p"}', 1))
    elif change == "truncated":
        events.write_text(text[:text.index("\n") + 1])
    elif change == "continued":  # the last line had no end; the new bytes go on it: a bad line
        events.write_text(text[:-1])
        _same_as_whole(program, events, "c1")
        with open(events, "a") as f:
            f.write(_line("2026-11-18T10:00:00Z", "c2", "z"))
    elif change == "grown with a backslash":
        with open(events, "a") as f:
            f.write(_line("2026-11-18T10:00:00Z", "c\u00e9", "z"))  # written "c\\u00e9"
    elif change == "grown with a bad line":
        with open(events, "a") as f:
            f.write('{"time": "2026-11-18T10:00:00Z", "contact": "c2", "type": "page.visited"}\n')
    elif change == "grown with a blank line":
        with open(events, "a") as f:
            f.write("\n" + _line("2026-11-18T10:00:00Z", "c2", "z"))
    else:
        events.write_text("")
    for cid in ("c1", "c2", "c\u00e9"):
        _same_as_whole(program, events, cid)


def test_the_cache_folder_keeps_the_indexes_last_used(write, tmp_path, monkeypatch):
    """The cache folder keeps at most CACHE_KEEP_FILES indexes: writing
    another removes those used longest ago, never the parser's tables."""
    import os
    import goaldsl.syntax.resources as resources
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setattr(resources, "CACHE_KEEP_FILES", 3)
    write("program.goal", PROGRAM)
    program = load_program("program.goal")
    logs = [write(f"events{i}.jsonl", "".join(json.dumps(r) + "\n" for r in ROWS[:3])) for i in range(5)]
    folder = cache / "goaldsl"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "lark-0.json").write_text("{}")  # as the parser's tables: not an index
    os.utime(folder / "lark-0.json", (1, 1))
    others = {p.name for p in folder.glob("*") if not p.name.endswith(".index")}
    kept = []
    for i, log in enumerate(logs):
        _same_as_whole(program, log, "c1")
        kept.append(set(folder.glob("log-*.index")) - set(sum(map(list, kept), [])))
        for p in folder.glob("*.index"):  # one second apart, as if used in turn
            os.utime(p, (os.stat(p).st_mtime - 1,) * 2)
        if i == 2:
            _same_as_whole(program, logs[0], "c2")  # used again: kept
    left = set(folder.glob("*.index"))
    assert len(left) == 3
    assert kept[0] <= left and kept[4] <= left and kept[3] <= left
    (folder / ".index-x.tmp").write_bytes(b"half")
    os.utime(folder / ".index-x.tmp", (1, 1))
    _same_as_whole(program, write("events9.jsonl", "".join(json.dumps(r) + "\n" for r in ROWS[:2])), "c1")
    assert not (folder / ".index-x.tmp").exists()
    assert others <= {p.name for p in folder.glob("*")}  # what is not an index is never counted or removed


def test_a_contacts_file_read_clean_is_noted(write, tmp_path, monkeypatch):
    """A contacts file the scan read clean (and without a backslash) is not
    decoded whole again for the same bytes; changed, it is; with a
    backslash it is not noted. The answers are the reader's every time."""
    import goaldsl.runtime.contact_slice as cs
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    write("program.goal", "")
    program = load_program(Path("."), allow_empty=True)
    decoded = []
    real = cs._contact_decoder

    def counting():
        decoded.append(1)
        return real()

    monkeypatch.setattr(cs, "_contact_decoder", counting)
    clean = '{"id": "c1", "tags": ["a"]}\n{"id": "c2", "tags": null, "email": "c1"}\n'

    def same(cid):
        whole = read_inputs(program, Path("contacts.jsonl"), None)
        one = read_one_contact(program, Path("contacts.jsonl"), None, cid)
        assert one.contacts == [c for c in whole.contacts if c["id"] == cid]
        if not one.contacts:
            assert one.contact_ids == {c["id"] for c in whole.contacts}

    write("contacts.jsonl", clean)
    same("c1")
    assert len(decoded) == 1
    same("c2")
    same("c1")
    assert len(decoded) == 1
    same("c3")  # not there: every id is decoded for the suggestions
    assert len(decoded) == 2
    write("contacts.jsonl", clean.replace('"a"', '"b"'))
    same("c1")
    assert len(decoded) == 3
    write("contacts.jsonl", clean + '{"id": "c\\u0033"}\n')
    same("c3")
    same("c3")
    assert len(decoded) == 5


ODD_TIMES = ["2026-02-30T10:00:00+00:00", "2024-02-29T10:00:00+00:00", "2026-02-29T10:00:00+00:00",
             "2026-11-16T24:00:00+00:00", "2026-11-16T10:60:00+00:00", "2026-11-16T10:00:60+00:00",
             "2026-11-16T10:00:00+24:00", "2026-11-16T10:00:00+23:59", "2026-11-16T10:00:00+05:60",
             "2026-13-16T10:00:00+00:00", "2026-00-16T10:00:00+00:00", "2026-11-00T10:00:00+00:00",
             "2026-11-16 10:00:00+00:00", "2026-11-16T10:00:00-00:00", "2026+11-16T10:00:00+00:00",
             "2026-11-16T10:00:00+0100:", "1900-01-01T00:00:00+01:00", "1899-12-31T23:00:00-01:00",
             "8999-12-31T23:00:00+00:00", "9000-01-01T00:00:00+00:00", "2026-11-16T1٠:00:00+00:00",
             "2026-11-16T10:00:0+00:00", "02026-11-16T10:00:00+00:0", "2026-11-16T10:00:00.5+00:00",
             "2026-11-16T10:00:00+01000", "0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-01:00",
             # one time short and the next long, after one another: the widths add up, the rows do not line up
             ("2026-11-16T10:00:00+00:0", "02026-11-16T10:00:00+00:00")]


@pytest.mark.parametrize("odd", ODD_TIMES)
def test_times_read_a_column_at_a_time_as_the_reader_reads_them(write, tmp_path, monkeypatch, odd):
    """A log of times of one width (read a column at a time) with one odd
    time among them: the same bad lines, first and last instants as the
    ordinary reader, with and without the odd line's id repeated."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    write("program.goal", PROGRAM)
    program = load_program("program.goal")
    times = [f"2026-11-{d:02d}T{h:02d}:{m:02d}:00{o}" for d, h, m, o in
             ((16, 9, 5, "+01:00"), (17, 23, 59, "-05:00"), (1, 0, 0, "+14:00"), (30, 12, 30, "+00:00"))]
    for repeated in (False, True):
        lines = [_line(t, f"c{i % 2}", f"e{i}") for i, t in enumerate(times)]
        for k, t in enumerate((odd,) if isinstance(odd, str) else odd):  # another contact's lines
            lines.insert(2 + k, _line(t, "c9", "e0" if repeated and not k else f"odd{k}"))
        events = write(f"events{repeated}.jsonl", "".join(lines))
        for cid in ("c0", "c1"):
            _same_as_whole(program, events, cid)


@pytest.mark.parametrize("shape", ["a last line spanning two lines", "a blank line before a repeated id",
                                   "a blank last line with no end"])
def test_lines_that_are_not_one_object_each_are_the_readers(write, tmp_path, monkeypatch, shape):
    """Another contact's last object written over two lines, with no line
    end after it (as many objects as line ends), is the reader's bad lines;
    a blank line before a line with a repeated id, the reader's line
    numbers: the scan takes neither as one object a line."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    write("program.goal", PROGRAM)
    program = load_program("program.goal")
    first, second = _line("2026-11-16T14:00:00Z", "c1", "a"), _line("2026-11-16T15:00:00Z", "c2", "a")
    if shape == "a last line spanning two lines":
        text = first + second.replace(', "url"', ',\n "url"').rstrip("\n")
    elif shape == "a blank line before a repeated id":
        text = first + "\n" + second.rstrip("\n")
    else:
        text = first + second.replace('"id": "a"', '"id": "b"') + "  "
    events = write("events.jsonl", text)
    for cid in ("c1", "c2", "c1"):
        _same_as_whole(program, events, cid)


@pytest.mark.parametrize("piece", [1, 300, 1 << 16])
@pytest.mark.parametrize("variant", ["usual", "a time of another width", "February 29 of a leap year",
                                     "February 29 of another year", "a repeated id", "a line with no id",
                                     "the extremes in other pieces"])
def test_the_scan_decodes_a_log_a_piece_at_a_time(write, tmp_path, monkeypatch, piece, variant):
    """The scan decodes a log a piece of about ``PIECE`` bytes at a time
    (each ending at a line's end) and keeps the times as each piece's times
    joined: with pieces of one line, of a few lines and of the whole log,
    the scan answers (the reader only for a bad line) and its answers are
    the whole log's, whatever comes in a later piece."""
    import goaldsl.runtime.contact_slice as cs
    monkeypatch.setattr(cs, "PIECE", piece)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    write("program.goal", PROGRAM)
    program = load_program("program.goal")
    lines = [_line(f"2026-11-{10 + i % 9:02d}T{(7 * i) % 24:02d}:{i:02d}:00{'+01:00' if i % 3 else '-05:00'}",
                   f"c{i % 2}", f"e{i}") for i in range(12)]
    odd = {"a time of another width": "2026-11-12T10:00:00Z", "February 29 of a leap year": "2024-02-29T10:00:00+00:00",
           "February 29 of another year": "2026-02-29T10:00:00+00:00"}
    if variant in odd:
        lines[9] = _line(odd[variant], "c1", "odd")
    elif variant == "a repeated id":
        lines[10] = _line("2026-11-01T00:00:00+00:00", "c0", "e2")  # the first instant, but a duplicate
    elif variant == "a line with no id":
        lines[10] = json.dumps({"time": "2026-11-02T00:00:00Z", "contact": "c0", "type": "page.visited",
                                "url": "/"}) + "\n"
    elif variant == "the extremes in other pieces":
        lines[0] = _line("2026-12-31T23:00:00+01:00", "c0", "last")
        lines[11] = _line("2026-01-01T00:30:00+02:00", "c1", "first")
    events = write("events.jsonl", "".join(lines))
    fell_back = []
    real = cs._read_filtered
    monkeypatch.setattr(cs, "_read_filtered", lambda *a: fell_back.append(1) or real(*a))
    for cid in ("c0", "c1", "c0"):
        _same_as_whole(program, events, cid)
    assert bool(fell_back) == (variant == "February 29 of another year")  # the scan answered, but for a bad line


def _valid_hour(text: str) -> bool:
    from goaldsl.semantics.calendar import parse_event_time
    try:
        parse_event_time(text + ":00:00Z")
    except ValueError:
        return False
    return True


def test_dates_and_hours_checked_all_at_once_as_one_by_one():
    """``usual_dates`` (the dates and hours of every time, checked with a
    byte per time) says what reading each ``YYYY-MM-DDTHH`` says, for days
    and months just in and out of range, February 29 of leap years and of
    others (centuries too), hours 23 and 24; alone and among valid ones."""
    from goaldsl.runtime.inputs import usual_dates
    rng = random.Random(7)
    samples = [f"{y:04d}-{m:02d}-{d:02d}T{h:02d}" for y in (1904, 1999, 2000, 2024, 2026, 2100, 2400)
               for m in (0, 1, 2, 4, 9, 11, 12, 13, 19) for d in (0, 1, 28, 29, 30, 31, 32, 39)
               for h in (0, 23, 24, 29)]
    for s in samples:
        assert usual_dates(f"{s}:00:00Z".encode(), 20) == _valid_hour(s), s
    valid = [s for s in samples if _valid_hour(s)]
    for _ in range(300):
        batch = rng.sample(valid, 40) + rng.sample(samples, rng.randrange(3))
        rng.shuffle(batch)
        raw = "".join(f"{s}:00:00+01:00" for s in batch).encode()
        assert usual_dates(raw, 25) == all(map(_valid_hour, batch)), batch


def test_one_object_a_line_as_line_by_line():
    """``one_per_line`` (a count of line ends and a search for two objects
    on one line; ``one_a_line`` the search alone, for lines as many as the
    objects) never says one object a line when reading the log line by
    line would not find each line one object and as many lines as objects,
    and always says so of a log written one object a line: for
    objects with nested objects and lists, blank space and line ends
    between any two tokens."""
    import msgspec
    from goaldsl.runtime.inputs import SAME_LINE, one_a_line, one_per_line
    rng = random.Random(3)

    def blank():
        return rng.choice(["", "", "", "", " ", "\n", "\r\n", "\t", " \n "])

    def value(depth=0):
        kind = rng.choice(["n", "s", "o", "l"] if depth < 2 else ["n", "s"])
        if kind == "n":
            return str(rng.randrange(10))
        if kind == "s":
            return rng.choice(['"a}"', '"{x"', '"}{"', '"b"'])
        if kind == "o":
            items = [f'{blank()}"k{i}"{blank()}:{blank()}{value(depth + 1)}{blank()}' for i in range(rng.randrange(3))]
            return "{" + ",".join(items) + "}"
        return "[" + ",".join(blank() + value(depth + 1) + blank() for _ in range(rng.randrange(3))) + "]"

    def obj():
        return "{" + ",".join(f'"f{i}":{blank()}{value()}' for i in range(rng.randrange(1, 4))) + "}"

    seen = set()
    for _ in range(3000):
        tight = rng.random() < 0.5  # the usual log: one object a line, nothing else
        parts = [obj() if tight else blank() + obj() + blank() for _ in range(rng.randrange(1, 5))]
        text = ("\n" if tight else rng.choice(["\n", "", " ", "\n\n", "\r\n"])).join(parts)
        text += rng.choice(["", "\n"] if tight else ["", "\n", " ", "\n\n"])
        data = text.encode()
        try:
            n = len(msgspec.json.Decoder().decode_lines(data))
        except msgspec.DecodeError:
            continue
        lines = data.split(b"\n")
        if data.endswith(b"\n"):
            lines.pop()

        def one(line):
            try:
                return type(msgspec.json.decode(line)) is dict
            except msgspec.DecodeError:
                return False

        expected = len(lines) == n and all(map(one, lines))
        got = one_per_line(data, n)
        # The readers' form, for lines as a file is split (their count known): the same answer.
        assert (len(io.BytesIO(data).readlines()) == n and one_a_line(data)) == got, data
        assert got <= expected, data  # never one a line when they are not
        if tight and not SAME_LINE.search(data):
            assert got == expected, data  # and the usual log always is, but for a text holding "}{"
        seen.add((expected, got))
    assert seen == {(True, True), (False, False), (True, False)}  # (some text holds "}{": the reader reads it)


@pytest.mark.parametrize("name", ["__dict__", "__weakref__", "__slots__", "__annotations__", "__post_init__"])
def test_fields_a_msgspec_record_cannot_have_are_the_readers(write, tmp_path, monkeypatch, capsys, name):
    """An event field named like a Python class's own attribute (``__dict__``,
    a name the checker allows) cannot be a field of the scan's msgspec
    record: its type's lines are left to the ordinary reader, and explain
    and eval answer as a run reads the log (they stopped with an internal
    error)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    write("program.goal", f'event probe.hit {{ {name}: string, n: number? }}\n'
                          'workflow "W" { evaluate on event\n enroll when probe.hit\n send_email("x")\n wait 1 day\n'
                          f' goals {{ goal "G" {{ when probe.hit({name} == "y") }} }} }}\n')
    program = load_program("program.goal")
    lines = [{"time": "2026-11-16T14:00:00Z", "contact": "c1", "type": "probe.hit", name: "x", "id": "a"},
             {"time": "2026-11-16T15:00:00Z", "contact": "c2", "type": "probe.hit", name: "y", "n": 2},
             {"time": "2026-11-16T16:00:00Z", "contact": "c1", "type": "probe.hit", name: "y", "id": "a"},
             {"time": "2026-11-16T17:00:00Z", "contact": "c1", "type": "probe.hit", name: "y", "n": None}]
    events = write("events.jsonl", "".join(json.dumps(r) + "\n" for r in lines))
    for cid in ("c1", "c2"):
        one = _same_as_whole(program, events, cid)
        assert one.events
    capsys.readouterr()
    assert main(["explain", ".", "--contact", "c1", "--goal", "G"]) == 0
    assert "achieved" in capsys.readouterr().out
    assert main(["eval", f'probe.hit({name} == "y") ever', "--contact", "c2", "."]) == 0
    assert capsys.readouterr().out.startswith("true")


def test_a_null_any_field_of_another_contact_refuses_the_answer(write, tmp_path, monkeypatch, capsys):
    """A required field of kind ``any`` given as null is a bad line (null
    means absent): on another contact's line the scan must see it too, and
    explain refuses as run does (it answered, and took the line's time as
    the log's last)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    write("program.goal", 'event probe.hit { s: string, r: any, a: any? }\n'
                          'workflow "W" { evaluate on event\n enroll when probe.hit\n send_email("x")\n wait 1 day\n'
                          ' goals { goal "G" { when probe.hit(a is set) } } }\n')
    program = load_program("program.goal")
    lines = [{"time": "2026-11-16T14:00:00Z", "contact": "c1", "type": "probe.hit", "s": "x", "r": 5, "a": None},
             {"time": "2026-11-16T15:00:00Z", "contact": "c2", "type": "probe.hit", "s": "x", "r": None},
             {"time": "2026-11-16T16:00:00Z", "contact": "c1", "type": "probe.hit", "s": "x", "r": [None], "a": {}}]
    events = write("events.jsonl", "".join(json.dumps(r) + "\n" for r in lines))
    for cid in ("c1", "c2"):
        one = _same_as_whole(program, events, cid)
        assert [str(b) for b in one.bad] == ['events.jsonl:2: probe.hit needs the field "r"']
    capsys.readouterr()
    assert main(["explain", ".", "--contact", "c1", "--goal", "G"]) == 1
    assert 'events.jsonl:2: probe.hit needs the field "r"' in capsys.readouterr().err
    assert main(["explain", ".", "--contact", "c1", "--goal", "G", "--skip-bad"]) == 0
    assert "achieved" in capsys.readouterr().out
