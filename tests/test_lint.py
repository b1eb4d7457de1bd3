"""`goal lint`: every lint firing where it should and silent where it should
not, silencing comments, the command's output and exit codes."""
from __future__ import annotations

import json

import pytest

from goaldsl.cli import main
from goaldsl.semantics.checker import check
from goaldsl.semantics.loader import load
from goaldsl.tools.lint import RULES, lint


def lints(write, text, files=None, log_span=None, name="program.goal"):
    for fname, body in (files or {}).items():
        write(fname, body)
    write(name, text)
    loaded = load([name])
    res = check(loaded)
    assert res.ok, [d.render() for d in res.diagnostics]
    return lint(loaded, res.program, own_files=loaded.roots, log_span=log_span)


def codes(diags):
    return [(d.code, d.span.line) for d in diags]


# Each case: a program, and the (code, line) warnings it must give exactly.
CASES = {
    # ------------------------------------------------------------ L001
    "L001 fires: a broader goal above a narrower one": ('''
workflow "W" {
    enroll when form.submitted
    send_email("a")
    goals {
        goal "Any" { when purchase.completed }
        goal "Big" { when purchase.completed(amount > 100) }
    }
}''', [("L001", 7)]),
    "L001 silent: the narrower goal first": ('''
workflow "W" {
    enroll when form.submitted
    send_email("a")
    goals {
        goal "Big" { when purchase.completed(amount > 100) }
        goal "Any" { when purchase.completed }
    }
}''', []),
    "L001 silent: overlapping but not implied": ('''
workflow "W" {
    enroll when form.submitted
    send_email("a")
    goals {
        goal "Big" { when purchase.completed(amount > 100) }
        goal "Shoes" { when purchase.completed(product == "shoes") }
    }
}''', []),
    "L001 fires: a shorter window inside a longer one": ('''
workflow "W" {
    enroll when form.submitted
    send_email("a")
    goals {
        goal "Week" { when page.visited within 7 days }
        goal "Twice today" { when page.visited(url == "/pricing") at least 2 times within 1 day }
    }
}''', [("L001", 7)]),
    # ------------------------------------------------------------ L002
    "L002 fires: numbers that cannot meet": ('''
workflow "W" {
    enroll when form.submitted
    send_email("a")
    goals {
        goal "Never" { when contact.lead_score > 5 and contact.lead_score < 3 }
    }
}''', [("L002", 6)]),
    "L002 fires: an enum field with two values at once": ('''
workflow "W" {
    enroll when form.submitted
    send_email("a")
    goal "Paid" { when invoice.status_changed(status == paid, status == void) }
}''', [("L002", 5)]),
    "L002 silent: a range that can hold": ('''
workflow "W" {
    enroll when form.submitted
    send_email("a")
    goals {
        goal "Mid" { when contact.lead_score > 3 and contact.lead_score < 5 }
    }
}''', []),
    "L002 silent: the reasoner cannot decide text patterns": ('''
workflow "W" {
    enroll when form.submitted
    send_email("a")
    goals {
        goal "Odd" { when contact.email ends with "@a.com" and contact.email contains "@b." }
    }
}''', []),
    # ------------------------------------------------------------ L003
    "L003 fires: the goal is part of the audience": ('''
workflow "W" {
    audience contact.lead_score >= 50 and "vip" in contact.tags
    send_email("a")
    goals {
        goal "Warm" { when contact.lead_score > 10 }
    }
}''', [("L003", 6)]),
    "L003 fires: with skip enrollment if goal met, nobody enrolls": ('''
workflow "W" {
    audience contact.lead_score >= 50 and "vip" in contact.tags
    skip enrollment if goal met
    send_email("a")
    goals {
        goal "Warm" { when contact.lead_score > 10 }
    }
}''', [("L003", 7)]),
    "L003 silent: the goal counts since the enrollment": ('''
workflow "W" {
    audience purchase.completed
    send_email("a")
    goals {
        goal "Bought again" { when purchase.completed }
    }
}''', []),
    "L003 silent: the goal asks more than the audience": ('''
workflow "W" {
    audience contact.lead_score >= 50
    send_email("a")
    goals {
        goal "Hot" { when contact.lead_score >= 80 }
    }
}''', []),
    # ------------------------------------------------------------ L004
    "L004 fires: an audience nobody matches": ('''
workflow "W" {
    audience contact.country == "US" and contact.country == "CA"
    send_email("a")
}''', [("L004", 3)]),
    "L004 fires: an enroll-when filter no event matches": ('''
workflow "W" {
    enroll when appointment.status_changed(status == confirmed, status == cancelled)
    send_email("a")
}''', [("L004", 3)]),
    "L004 silent": ('''
workflow "W" {
    audience contact.country == "US" or contact.country == "CA"
    send_email("a")
}''', []),
    # ------------------------------------------------------------ L005
    "L005 fires: a wait until after a longer wait": ('''
workflow "W" {
    enroll when form.submitted
    send_email("offer")
    wait 7 days
    wait until email.opened(email == "offer") within 2 days up to 1 day
    send_email("b")
}''', [("L005", 6)]),
    "L005 silent: the window covers the wait": ('''
workflow "W" {
    enroll when form.submitted
    send_email("offer")
    wait 2 days
    wait until email.opened(email == "offer") within 3 days up to 1 day
    send_email("b")
}''', []),
    "L005 silent: a goal step listens from enrollment": ('''
workflow "W" {
    enroll when form.submitted
    send_email("offer")
    wait 7 days
    goal "Opened" { when email.opened within 2 days }
}''', []),
    "L005 fires: a one-time workflow checks goals when waits end": ('''
workflow "W" {
    runs once at 2026-11-01T09:00Z
    audience contact.lead_score > 0
    send_email("offer")
    wait 7 days
    send_email("reminder")
    goals {
        goal "Clicked" { when email.clicked within 2 days }
    }
}''', [("L005", 9)]),
    # ------------------------------------------------------------ L007 / L010
    "L007 fires: steps after end": ('''
workflow "W" {
    enroll when form.submitted
    send_email("a")
    end
    send_email("b")
    send_email("c")
}''', [("L007", 6)]),
    "L007 silent: a named step a skip jumps to": ('''
workflow "W" {
    enroll when form.submitted
    if contact.vip {
        skip to later
    }
    send_email("a")
    end
    send_email("b") as later
}''', []),
    "L007 fires: after a skip to, up to its target": ('''
workflow "W" {
    enroll when form.submitted
    skip to later
    send_email("b")
    send_email("c") as later
}''', [("L007", 5)]),
    "L007 fires: after an if whose every branch ends": ('''
workflow "W" {
    enroll when form.submitted
    if contact.vip {
        end
    } else {
        send_email("x")
        end
    }
    send_email("never")
}''', [("L007", 10)]),
    "L007 fires inside a branch": ('''
workflow "W" {
    enroll when form.submitted
    if contact.vip {
        end
        send_email("never")
    }
    send_email("after")
}''', [("L007", 6)]),
    "L010 fires: a drip whose every path ends before its goal step": ('''
drip "D" {
    audience "new" in contact.tags
    goal "A" {
        when email.opened
        on achieved end
        on unmet end
    }
    send_email("b")
    goal "B" { when email.clicked }
}''', [("L007", 9), ("L010", 10)]),
    "L010 silent: the path continues": ('''
drip "D" {
    audience "new" in contact.tags
    goal "A" {
        when email.opened
        on unmet wait up to 2 days then continue
    }
    send_email("b")
    goal "B" { when email.clicked }
}''', []),
    # ------------------------------------------------------------ L008
    "L008 fires: an else if shadowed by an earlier branch": ('''
workflow "W" {
    enroll when form.submitted
    if contact.lead_score > 50 {
        send_email("hi")
    } else if contact.lead_score > 80 {
        send_email("never")
    }
}''', [("L008", 6)]),
    "L008 fires: an else no contact reaches": ('''
workflow "W" {
    enroll when form.submitted
    if contact.plan is set {
        send_email("a")
    } else if contact.plan is not set {
        send_email("b")
    } else {
        send_email("never")
    }
}''', [("L008", 9)]),
    "L008 silent: unset attributes reach the else": ('''
workflow "W" {
    enroll when form.submitted
    if contact.lead_score > 50 {
        send_email("a")
    } else if contact.lead_score <= 50 {
        send_email("b")
    } else {
        send_email("no score")
    }
}''', []),
    "L008 fires: a then if that can never hold": ('''
workflow "W" {
    enroll when form.submitted
    send_email("a")
    goals {
        goal "G" {
            when email.clicked
            then if contact.size > 500 and contact.size < 100 { add_tag("x") }
        }
    }
}''', [("L008", 8)]),
    # ------------------------------------------------------------ L009
    "L009 fires: a segment nobody uses": ('''
segment lonely = contact.x > 1
segment used = contact.y > 1
workflow "W" {
    audience used
    send_email("a")
}''', [("L009", 2)]),
    "L009 silent: used through another segment": ('''
segment inner = contact.x > 1
segment outer = inner and contact.y > 1
workflow "W" {
    audience outer
    send_email("a")
}''', []),
    "L009 silent: a file of segments alone is a library": ('''
segment a = contact.x > 1
segment b = contact.y > 1''', []),
    # ------------------------------------------------------------ L011
    "L011 fires: no goals, no end, an open-ended wait": ('''
workflow "W" {
    enroll when form.submitted
    send_email("a")
    wait until email.clicked
    send_email("b")
}''', [("L011", 5)]),
    "L011 silent: the wait has a limit": ('''
workflow "W" {
    enroll when form.submitted
    wait until email.clicked up to 7 days
    send_email("b")
}''', []),
    "L011 silent: contacts leave when they stop matching the audience": ('''
workflow "W" {
    audience "trial" in contact.tags
    exit when audience no longer matches
    send_email("a")
    wait until email.clicked
    send_email("b")
}''', []),
    "L011 silent: a goal takes contacts out": ('''
workflow "W" {
    enroll when form.submitted
    wait until email.clicked
    goals {
        goal "Unsubscribed" { when email.unsubscribed }
    }
}''', []),
    # ------------------------------------------------------------ L012
    "L012 fires: a wait that never ends by its condition": ('''
workflow "W" {
    enroll when form.submitted
    wait until contact.x == 1 and contact.x == 2 up to 3 days
    send_email("b")
    goals {
        goal "G" { when email.clicked }
    }
}''', [("L012", 4)]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_lint_case(write, name):
    text, expected = CASES[name]
    assert codes(lints(write, text)) == expected  # the blank first line counts: line 2 is the first


def test_every_rule_fires_and_stays_silent_in_some_case():
    fired = {c for _, exp in CASES.values() for c, _ in exp}
    assert fired | {"L006"} == set(RULES)
    for code in RULES:
        assert any(name.startswith(code) and not exp for name, (_, exp) in CASES.items()) or code in (
            "L006", "L012", "L010"), code


def test_l006_window_longer_than_the_log(write):
    prog = '''
workflow "W" {
    enroll when form.submitted
    send_email("a")
    goals {
        goal "Short" { when page.visited within 7 days }
        goal "Long" { when page.visited within 90 days }
    }
}'''.lstrip("\n")
    day = 86400
    found = lints(write, prog, log_span=(0, 30 * day))
    assert codes(found) == [("L006", 6)]
    assert "covers only 30 days" in found[0].summary
    assert lints(write, prog, log_span=(0, 120 * day)) == []
    assert lints(write, prog) == []  # no log: no opinion


def test_warnings_point_at_their_place_and_say_how_to_fix(write):
    [d] = lints(write, CASES["L001 fires: a broader goal above a narrower one"][0].lstrip("\n"))
    assert str(d.span) == "program.goal:6:9"
    assert 'goal "Big" can never fire' in d.summary
    assert d.hint and d.related and d.related[0].span.line == 5


def test_silenced_on_the_line_and_the_line_before(write):
    text = '''
segment lonely = contact.x > 1  # lint: ignore[L009]
# lint: ignore
segment lonely2 = contact.x > 1
# lint: ignore[L001]
segment lonely3 = contact.x > 1
segment lonely4 = contact.x > 1  # lint: ignore[L001, L009]
workflow "W" {
    audience contact.y > 1
    send_email("a")
}'''.lstrip("\n")
    assert codes(lints(write, text)) == [("L009", 5)]


def test_imported_libraries_are_not_told_about_unused_segments(write):
    found = lints(write, 'import "lib.goal"\nworkflow "W" {\n    audience a\n    send_email("x")\n}\n',
                  files={"lib.goal": "segment a = contact.x > 1\nsegment b = contact.y > 1\n"})
    assert found == []


# ---------------------------------------------------------------- the command

def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_command_text_and_exit_codes(write, capsys):
    write("bad.goal", CASES["L004 fires: an audience nobody matches"][0].lstrip("\n"))
    write("good.goal", CASES["L004 silent"][0].lstrip("\n"))
    code, out, err = run(capsys, "lint", "bad.goal")
    assert code == 1
    assert out.startswith('bad.goal:2:14: warning[L004]: the audience of workflow "W" admits no one')
    assert "= hint:" in out
    assert err.strip() == "1 warning"
    code, out, _ = run(capsys, "lint", "good.goal")
    assert (code, out) == (0, "ok: 1 file linted, no warnings\n")


def test_command_refuses_a_program_with_errors(write, capsys):
    write("broken.goal", "segment a = hto\n")
    code, out, err = run(capsys, "lint", "broken.goal")
    assert code == 1
    assert "error[E0301]" in out and "fix the errors first" in err


def test_command_sarif_and_json(write, capsys):
    from test_check_formats import assert_valid_sarif
    write("bad.goal", CASES["L002 fires: numbers that cannot meet"][0].lstrip("\n"))
    code, out, _ = run(capsys, "lint", "--format", "sarif", "bad.goal")
    assert code == 1
    doc = json.loads(out)
    assert_valid_sarif(doc)
    rule = doc["runs"][0]["tool"]["driver"]["rules"][0]
    assert rule == {"id": "L002", "shortDescription": {"text": RULES["L002"].title}}
    assert doc["runs"][0]["results"][0]["level"] == "warning"
    code, out, _ = run(capsys, "lint", "--format", "json", "bad.goal")
    doc = json.loads(out)
    assert (doc["warnings"], doc["diagnostics"][0]["code"], doc["diagnostics"][0]["line"]) == (1, "L002", 5)


def test_command_reads_the_log_beside_the_program(write, capsys):
    write("p/events.jsonl", '{"time": "2026-11-01T00:00:00Z", "contact": "c1", "type": "form.submitted", "form": "x"}\n'
                            '{"time": "2026-11-03T00:00:00Z", "contact": "c1", "type": "form.submitted", "form": "x"}\n')
    write("p/program.goal", 'workflow "W" {\n    audience page.visited within 7 days\n    send_email("a")\n}\n')
    code, out, _ = run(capsys, "lint", "p")
    assert code == 1 and "warning[L006]" in out and "2 days" in out


def test_command_reads_the_log_in_every_format_goal_run_reads(write, capsys):
    """L006's log is read as goal run reads it: CSV, Parquet, compressed,
    a Segment export with its mapping file (given, or map.toml beside)."""
    import gzip
    from pathlib import Path
    from format_fixtures import write_csv, write_parquet, write_segment
    events = [{"id": f"e{i}", "time": f"2026-11-0{1 + 2 * i}T00:00:00Z", "contact": "c1", "type": "form.submitted",
               "form": "x"} for i in range(2)]
    write("p/program.goal", 'workflow "W" {\n    audience page.visited within 7 days\n    send_email("a")\n}\n')
    write_csv(events, Path("log.csv"))
    write_parquet(events, Path("log.parquet"))
    write("log.csv.gz", gzip.compress(Path("log.csv").read_bytes()))
    write("segment.toml", write_segment(events, Path("export.jsonl")))
    write("log.data", Path("log.csv").read_bytes())
    for more in (["--events", "log.csv"], ["--events", "log.parquet"], ["--events", "log.csv.gz"],
                 ["--events", "export.jsonl", "--map", "segment.toml"],
                 ["--events", "log.data", "--input-format", "csv"]):
        code, out, _ = run(capsys, "lint", "p", *more)
        assert code == 1 and "warning[L006]" in out and "2 days" in out, more
    code, out, _ = run(capsys, "lint", "p", "--events", "export.jsonl")  # no mapping: no event it can read
    assert code == 0, out
    write("p/map.toml", Path("segment.toml").read_text())
    code, out, _ = run(capsys, "lint", "p", "--events", "export.jsonl")
    assert code == 1 and "warning[L006]" in out
    write("p/map.toml", '[events]\n"Form Submitted" = "form.submited"\n')  # a mapping with a problem: an error
    code, out, _ = run(capsys, "lint", "p", "--events", "export.jsonl")
    assert code == 1 and "p/map.toml:2:1: error[E0702]" in out


def test_examples_lint_clean(capsys):
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    for ex in sorted((root / "examples").iterdir()):
        if (ex / "program.goal").exists():
            code, out, err = run(capsys, "lint", str(ex))
            assert code == 0, out + err


def test_lints_are_documented_one_by_one():
    import re
    from pathlib import Path
    doc = (Path(__file__).resolve().parent.parent / "docs" / "lints.md").read_text()
    headings = re.findall(r"^## (L\d{3}) ", doc, re.M)
    assert headings == sorted(RULES)


def _doc_examples():
    import re
    from pathlib import Path
    doc = (Path(__file__).resolve().parent.parent / "docs" / "lints.md").read_text()
    for m in re.finditer(r"^<!-- lint: ([A-Z0-9 a-z]+) -->\n```goal\n(.*?)^```", doc, re.S | re.M):
        want = [] if m.group(1).strip() == "none" else m.group(1).split()
        line = doc.count("\n", 0, m.start()) + 1
        yield pytest.param(m.group(2), want, id=f"lints.md:{line}")


@pytest.mark.parametrize("source, want", list(_doc_examples()))
def test_docs_examples_give_the_lints_they_say(write, source, want):
    assert sorted({d.code for d in lints(write, source)}) == want


def test_docs_have_examples_for_every_lint():
    given = {c for p in _doc_examples() for c in p.values[1]}
    assert given | {"L006"} == set(RULES)
