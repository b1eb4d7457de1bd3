"""`goal test`: test blocks parsed, formatted, checked (every error a
diagnostic with a code) and run, each expectation kind passing and failing,
the three output formats, -k, and coverage."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from goaldsl.cli import main
from goaldsl.semantics.checker import check
from goaldsl.semantics.loader import load
from goaldsl.syntax.formatter import format_source
from goaldsl.syntax.parser import parse

PROGRAM = '''
workflow "Invoice" {
    evaluate on event
    enroll when form.submitted(form == "signup")
    send_invoice("annual", amount: 480) as first_invoice
    wait 3 days as pause
    if contact.vip {
        send_email("vip-reminder")
    } else {
        send_email("reminder")
    }
    goal "Paid" {
        when invoice.status_changed(status in [paid, partially_paid], action == first_invoice)
        then { send_email("receipt") }
        then if contact.country == "US" { add_tag("us-payer") }
        on unmet wait up to 7 days then end
    }
    send_email("welcome-member")
    goals {
        goal "Unsubscribed" { when email.unsubscribed }
    }
}
'''

PASSING = '''
test "pays during the wait" {
    from 2026-11-16T09:00Z

    contact c1 { country: "US" }

    event c1 form.submitted(form: "signup")
    event c1 invoice.status_changed(invoice: "i1", action: first_invoice, status: paid) at +1 day

    expect c1 achieved "Paid" by +1 day
    expect c1 ran send_invoice("annual", amount: 480)
    expect c1 ran add_tag("us-payer")
    expect c1 not ran send_email("reminder")
    expect c1 ran send_email("welcome-member") by +1 day
    expect c1 exited "Invoice" with completed
    expect c1 in step pause at +12 hours
    expect c1 in "Invoice" at +12 hours
    expect c1 not in "Invoice" at +2 days
    expect c1 invoice.status_changed(status == paid) at +1 day
    expect c1 not invoice.status_changed(status == paid) at +23 hours
}

test "never pays" {
    from 2026-11-16T09:00Z
    until +11 days

    event c2 form.submitted(form: "signup")

    expect c2 not achieved "Paid"
    expect c2 exited with unmet by +10 days
    expect c2 in step Paid at +5 days
    expect c2 ran send_email("reminder") by +3 days
}
'''


@pytest.fixture
def project(write):
    def make(tests: str, program: str = PROGRAM, name: str = "program_test.goal"):
        write("p/program.goal", program.lstrip("\n"))
        write(f"p/{name}", tests.lstrip("\n"))
        return "p"
    return make


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------- syntax

def test_parse_and_format_round_trip():
    src = PASSING.lstrip("\n")
    res = parse(src, "x_test.goal")
    assert res.diagnostics == ()
    out, _ = format_source(src, "x_test.goal")
    assert out == src  # written in the canonical style already
    messy = 'test "t" {\nfrom 2026-11-16T09:00Z\n  contact  c1{a:1}\nexpect c1 contact.a>=1 at+1 day}\n'
    out, _ = format_source(messy, "x_test.goal")
    assert out == ('test "t" {\n    from 2026-11-16T09:00Z\n\n    contact c1 { a: 1 }\n\n'
                   '    expect c1 contact.a >= 1 at +1 day\n}\n')
    assert parse(out, "x").module == parse(messy, "x").module


def test_at_before_a_time_is_not_a_count():
    res = parse('test "t" {\n    expect c1 page.visited at least 2 times within 7 days at +8 days\n}\n', "x_test.goal")
    x = res.module.items[0].items[0]
    assert x.cond.count.n == 2 and x.at.offset.days == 8


# ---------------------------------------------------------------- checking

ERRORS = [
    ('test "t" {\n    from 2026-11-16T09:00Z\n    expect c9 achieved "Paid"\n}\n', "E0608", 3),
    ('test "t" {\n    from 2026-11-16T09:00Z\n    contact c1\n    expect c1 achieved "Payd"\n}\n', "E0609", 4),
    ('test "t" {\n    from 2026-11-16T09:00Z\n    contact c1\n    expect c1 achieved "Paid" in "Nope"\n}\n', "E0609", 4),
    ('test "t" {\n    from 2026-11-16T09:00Z\n    contact c1\n    expect c1 in step nowhere\n}\n', "E0609", 4),
    ('test "t" {\n    from 2026-11-16T09:00Z\n    contact c1\n    expect c1 exited with paid\n}\n', "E0610", 4),
    ('test "t" {\n    contact c1\n    expect c1 achieved "Paid" by +1 day\n}\n', "E0605", 3),
    ('test "t" {\n    from 2026-11-16T09:00Z\n    until 2026-11-10T09:00Z\n    contact c1\n}\n', "E0606", 3),
    ('test "t" {\n    from 2026-11-16T09:00Z\n    until +1 day\n    contact c1\n    expect c1 achieved "Paid" by +2 days\n}\n',
     "E0606", 5),
    ('test "t" {\n    from 2026-11-16T09:00Z\n    event c1 form.submitted\n}\n', "E0607", 3),
    ('test "t" {\n    from 2026-11-16T09:00Z\n    event c1 form.sent(form: "x")\n}\n', "E0303", 3),
    ('test "t" {\n    from 2026-11-16T09:00Z\n    event c1 form.submitted(frm: "x")\n}\n', "E0304", 3),
    ('test "t" {\n    from 2026-11-16T09:00Z\n    event c1 invoice.status_changed(invoice: "i", status: payed)\n}\n',
     "E0305", 3),
    ('test "t" {\n    from 2026-11-16T09:00Z\n    contact c1 { id: "x" }\n}\n', "E0604", 3),
    ('test "t" {\n    from 2026-11-16T09:00Z\n    contact c1 { tags: "vip" }\n}\n', "E0604", 3),
    ('test "t" {\n    from 2026-11-16T09:00Z\n    contact c1\n    contact c1\n}\n', "E0604", 4),
    ('test "t" {\n    from 2026-11-16T09:00Z\n    contact c1\n    expect c1 ran send_emial("x")\n}\n', "E0501", 4),
    ('test "t" {\n    from 2026-11-16T09:00Z\n    contact c1\n    expect c1 ran send_email(templat: "x")\n}\n',
     "E0502", 4),
    ('test "t" {\n    from 2026-11-16T09:00Z\n    contact c1\n    expect c1 contact.x == 1 and hto\n}\n', "E0301", 4),
    ('test "t" {\n    from 2026-11-16T09:00Z\n    timezone "Europe/Pariss"\n}\n', "E0405", 3),
    ('test "t" {\n    from 2026-02-30T09:00Z\n}\n', "E0413", 2),
    ('test "t" {\n    from 2026-11-16T09:00Z\n    from 2026-11-17T09:00Z\n}\n', "E0402", 3),
    ('test "t" {\n    from 2026-11-16T09:00Z\n}\ntest "t" {\n    from 2026-11-16T09:00Z\n}\n', "E0602", 4),
    ('segment s = contact.x > 1\n', "E0603", 1),
]


@pytest.mark.parametrize("text, code, line", ERRORS, ids=[f"{c}-{i}" for i, (_, c, _) in enumerate(ERRORS)])
def test_every_error_is_a_diagnostic(project, text, code, line):
    project(text)
    res = check(load(["p/program.goal", "p/program_test.goal"]))
    errors = [d for d in res.diagnostics if d.is_error]
    assert [(d.code, d.span.line) for d in errors if d.span and d.span.file.endswith("_test.goal")] == [(code, line)], \
        [d.render() for d in errors]


def test_a_test_block_outside_a_test_file(write):
    write("program.goal", 'test "t" {\n    from 2026-11-16T09:00Z\n}\n')
    res = check(load(["program.goal"]))
    [d] = res.diagnostics
    assert d.code == "E0601" and d.hint == "move it to a file such as program_test.goal"


def test_an_ambiguous_goal_asks_for_the_workflow(project):
    two = PROGRAM + PROGRAM.replace('workflow "Invoice"', 'workflow "Invoice 2"')
    project('test "t" {\n    from 2026-11-16T09:00Z\n    contact c1\n    expect c1 achieved "Paid"\n}\n', program=two)
    res = check(load(["p/program.goal", "p/program_test.goal"]))
    [d] = [d for d in res.diagnostics if d.is_error]
    assert d.code == "E0611" and 'in "Invoice"' in d.hint


def test_goal_run_and_check_of_the_folder(project, capsys):
    project(PASSING)
    code, out, _ = run(capsys, "check", "p")
    assert (code, out) == (0, "ok: 2 files checked\n")  # the test file is checked with its program
    project('test "t" {\n    from 2026-11-16T09:00Z\n    expect c9 achieved "Paid"\n}\n')
    code, out, _ = run(capsys, "check", "p")
    assert code == 1 and "E0608" in out
    # goal run does not read test files: a broken test does not stop a run
    code, _, err = run(capsys, "run", "p", "--from", "2026-11-16", "--until", "2026-11-17", "--format", "jsonl")
    assert code == 0, err


# ---------------------------------------------------------------- running

def test_every_expectation_kind_passes(project, capsys):
    project(PASSING)
    code, out, _ = run(capsys, "test", "p")
    assert out == ("p/program_test.goal\n  passed  pays during the wait (11 expectations)\n"
                   "  passed  never pays (4 expectations)\n2 passed, 0 failed\n")
    assert code == 0


FAILING = {
    "achieved": ('expect c1 achieved "Paid" by +12 hours', "it happened later, after 2026-11-16T21:00:00Z: "
                 '2026-11-17T09:00:00Z  goal achieved: "Paid"'),
    "not achieved": ('expect c1 not achieved "Paid"', 'first difference: 2026-11-17T09:00:00Z  goal achieved: "Paid"'),
    "ran args": ('expect c1 ran send_invoice(amount: 500)',
                 'first difference: 2026-11-16T09:00:00Z  send_invoice(template: "annual", amount: 480) as first_invoice'),
    "not ran": ('expect c1 not ran send_email("receipt")',
                'first difference: 2026-11-17T09:00:00Z  send_email(template: "receipt")  [goal "Paid"]'),
    "exited reason": ('expect c1 exited with unmet', "first difference" if False else
                      "at 2026-11-17T09:00:00Z contact c1 is still in"),
    "step": ('expect c1 in step Paid at +12 hours', 'is elsewhere in "Invoice": at wait 3 days as pause until '
             "2026-11-19T09:00:00Z"),
    "enrolled": ('expect c1 not in "Invoice" at +12 hours', "is there"),
    "holds": ('expect c1 invoice.status_changed(status == void) at +1 day',
              "the condition is false at 2026-11-17T09:00:00Z:"),
    "not holds": ('expect c1 not form.submitted at +1 day', "form.submitted holds, wanted it not to"),
}


@pytest.mark.parametrize("kind", list(FAILING))
def test_every_expectation_kind_fails_and_says_where(project, capsys, kind):
    line, detail = FAILING[kind]
    body = ('test "t" {\n    from 2026-11-16T09:00Z\n    until +1 day\n    contact c1 { country: "US" }\n'
            '    event c1 form.submitted(form: "signup")\n'
            '    event c1 invoice.status_changed(invoice: "i1", action: first_invoice, status: paid) at +1 day\n'
            f'    {line}\n}}\n')
    if kind == "exited reason":
        body = body.replace("    until +1 day\n", "    until +1 day\n").replace(
            'status: paid) at +1 day', 'status: sent) at +1 day')
    project(body)
    code, out, _ = run(capsys, "test", "p")
    assert code == 1
    assert "  FAILED  t\n          p/program_test.goal:7:5: " + line in out
    assert detail in out, out
    assert out.rstrip().endswith("0 passed, 1 failed")


def test_k_selects_tests_by_name(project, capsys):
    project(PASSING)
    code, out, _ = run(capsys, "test", "p", "-k", "NEVER")
    assert code == 0 and "never pays" in out and "during the wait" not in out
    code, _, err = run(capsys, "test", "p", "-k", "nothing like this")
    assert code == 2 and "no test name contains" in err


def test_no_tests_is_a_usage_error(write, capsys):
    write("p/program.goal", PROGRAM)
    code, _, err = run(capsys, "test", "p")
    assert code == 2 and "no tests found" in err


def test_a_test_file_named_directly_and_a_tests_folder(project, capsys, write):
    project(PASSING, name="tests/invoice_test.goal")
    code, out, _ = run(capsys, "test", "p")
    assert code == 0 and out.startswith("p/tests/invoice_test.goal\n")
    code, out, _ = run(capsys, "test", "p/tests/invoice_test.goal")
    assert code == 0 and "2 passed, 0 failed" in out


def test_errors_in_the_tests_stop_before_running(project, capsys):
    project('test "t" {\n    from 2026-11-16T09:00Z\n    expect c9 achieved "Paid"\n}\n')
    code, out, err = run(capsys, "test", "p")
    assert code == 1 and "error[E0608]" in out and err.strip() == "1 error"


def test_json_format(project, capsys):
    project(PASSING.replace('expect c1 achieved "Paid" by +1 day', 'expect c1 achieved "Paid" by +1 hour'))
    code, out, _ = run(capsys, "test", "p", "--format", "json")
    doc = json.loads(out)
    assert code == 1 and (doc["passed"], doc["failed"], doc["errors"]) == (1, 1, 0)
    t = doc["tests"][0]
    assert (t["name"], t["status"], t["line"], t["start"]) == ("pays during the wait", "failed", 1,
                                                              "2026-11-16T09:00:00Z")
    failed = [x for x in t["expectations"] if not x["passed"]]
    assert failed[0]["text"] == 'expect c1 achieved "Paid" by +1 hour' and failed[0]["line"] == 9
    assert failed[0]["details"][0].startswith("it happened later")


def test_junit_format(project, capsys):
    project(PASSING.replace('expect c2 not achieved "Paid"', 'expect c2 achieved "Paid"'))
    code, out, _ = run(capsys, "test", "p", "--format", "junit")
    assert code == 1
    root = ET.fromstring(out.split("\n", 1)[1])
    assert root.tag == "testsuites" and root.get("tests") == "2" and root.get("failures") == "1"
    suite = root.find("testsuite")
    assert suite.get("name") == "p/program_test.goal"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["pays during the wait", "never pays"]
    assert cases[0].find("failure") is None
    fail = cases[1].find("failure")
    assert fail.get("message") == 'expect c2 achieved "Paid"' and "p/program_test.goal:28:5" in fail.text


def test_each_test_runs_in_its_own_engine(project, capsys):
    # the same contact id in two tests: the second sees nothing of the first
    project('''
test "one" {
    from 2026-11-16T09:00Z
    event c1 form.submitted(form: "signup")
    expect c1 in "Invoice" at +1 hour
}

test "two" {
    from 2026-11-16T09:00Z
    contact c1
    expect c1 not in "Invoice" at +1 hour
    expect c1 not ran send_invoice()
}
''')
    code, out, _ = run(capsys, "test", "p")
    assert code == 0, out


def test_coverage(project, capsys):
    project(PASSING)
    code, out, _ = run(capsys, "test", "p", "--coverage")
    assert code == 0
    table = out[out.index("coverage"):]
    rows = {l.split()[0]: l.split()[-3:] for l in table.splitlines()[2:6]}
    # goals: Paid achieved, Unsubscribed not; then-if: the US clause held, never found false
    assert rows["goals"] == ["1", "2", "50.0%"]
    assert rows["then-if"] == ["1", "2", "50.0%"] or rows["then-if"][:2] == ["1", "2"]
    # if branches: the else (no vip) taken, the vip branch not
    assert rows["if"][:2] == ["1", "2"]
    assert 'p/program.goal:19:9: goal "Unsubscribed" (workflow "Invoice") was never achieved' in out
    assert "step send_email(\"vip-reminder\") never ran" in out
    code, out, _ = run(capsys, "test", "p", "--coverage", "--format", "json")
    cov = json.loads(out)["coverage"]["p"]
    assert cov["goals"]["covered"] == 1 and cov["goals"]["total"] == 2
    assert cov["goals"]["uncovered"][0]["line"] == 19
    assert cov["steps"]["covered"] < cov["steps"]["total"]


def test_every_example_has_passing_tests(capsys):
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    examples = [d for d in sorted((root / "examples").iterdir()) if (d / "program.goal").exists()]
    assert examples
    for d in examples:
        assert (d / "program_test.goal").exists(), f"{d.name} has no tests"
        code, out, err = run(capsys, "test", str(d))
        assert code == 0, out + err
        assert " 0 failed" in out


def test_docs_test_examples_run_and_pass(write, capsys):
    """Every ```goal-test block of the docs, with the ```goal block before it
    as its program, checks clean and passes."""
    import re
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    found = 0
    for doc in sorted((root / "docs").glob("*.md")):
        text = doc.read_text()
        for m in re.finditer(r"^```goal-test\n(.*?)^```", text, re.S | re.M):
            program = re.findall(r"^```goal\n(.*?)^```", text[:m.start()], re.S | re.M)[-1]
            write(f"d{found}/program.goal", program)
            write(f"d{found}/program_test.goal", m.group(1))
            code, out, err = run(capsys, "test", f"d{found}")
            assert code == 0, f"{doc.name}: {out}{err}"
            found += 1
    assert found >= 1


# ---------------------------------------------------------------- the formatter's round trip

from hypothesis import HealthCheck, given, settings  # noqa: E402

from goaldsl.syntax.formatter import format_module  # noqa: E402
from strategies import test_modules  # noqa: E402


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(test_modules)
def test_test_blocks_print_and_parse_back(module):
    text = format_module(module)
    res = parse(text, "gen_test.goal")
    assert res.module is not None, (text, res.diagnostics)
    assert [d for d in res.diagnostics if d.code != "E0006"] == []
    assert res.module.items == module.items, text
    again, _ = format_source(text, "gen_test.goal")
    assert again == text
