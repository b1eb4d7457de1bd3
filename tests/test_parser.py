"""Parser diagnostics: syntax errors at exact positions, in words a marketer
can act on (no generated terminal names), and the AST for the basics."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from goaldsl.syntax import ast as A
from goaldsl.syntax.parser import keywords, parse, parse_condition

REPO = Path(__file__).resolve().parent.parent

# Names of grammar terminals and Lark internals that must never reach a user.
TERMINAL_NAMES = re.compile(r"__ANON|\$END|\b(?:RBRACE|LBRACE|LPAR|RPAR|LSQB|RSQB|COMMA|COLON|DOT|EQ|QMARK|"
                            r"ELLIPSIS|NAME|STRING|NUMBER|DATETIME|TIME_OF_DAY|CMP_OP|WORKFLOW_KW|DRIP_KW|"
                            r"_AS|_UP|_TO|_OR|_AND|_EMITS|NOT|END|ELSE|CONTINUE|TRUE|FALSE|TIMES|"
                            r"TIME_UNIT_T|MINUTES?|HOURS?|DAYS?|WEEKS?|MONTHS?)\b")


def diags_of(text, file="program.goal"):
    res = parse(text, file)
    return list(res.diagnostics)


def one(diags):
    assert len(diags) == 1, "\n".join(d.render() for d in diags)
    return diags[0]


def pos(d):
    return f"{d.span.line}:{d.span.col}"


def words_of(d):
    return " ".join(x for x in (d.summary, d.detail, d.hint) if x)


# ---------------------------------------------------------------- the misspelt keyword (acceptance case 09)

WEN = '''workflow "Trial" {
    audience "trial" in contact.tags
    send_email("welcome")
    goals {
        goal "Opened" {
            wen email.opened
        }
    }
}
'''


def test_misspelt_keyword_position_and_words():
    res = parse(WEN, "program.goal")
    assert res.module is None
    d = one(list(res.diagnostics))
    assert d.code == "E0001"
    assert pos(d) == "6:13"
    assert (d.span.end_line, d.span.end_col) == (6, 16)
    assert d.summary == 'unexpected name "wen"'
    assert d.detail == 'expected "on", "then", "when" or "}"'
    assert d.hint == 'did you mean "when"?'


def test_misspelt_keyword_renders_with_caret():
    d = one(diags_of(WEN))
    assert d.render({"program.goal": WEN}).splitlines() == [
        'program.goal:6:13: error[E0001]: unexpected name "wen"',
        "   |",
        " 6 |             wen email.opened",
        "   |             ^^^",
        '    = expected "on", "then", "when" or "}"',
        '    = hint: did you mean "when"?',
    ]


@pytest.mark.parametrize("text, where, summary, detail, hint", [
    ('workflow "W" {\n    audience contact.x == 1\n    wait 3 dayz\n}\n', "3:12", 'unexpected name "dayz"',
     'expected "day", "days", "hour", "hours", "minute", "minutes", "month" or 3 other things',
     'did you mean "day"?'),
    ('workflow "W" {\n    audience contact.x == 1\n    wait 11 years\n}\n', "3:13", 'unexpected name "years"',
     'expected "day", "days", "hour", "hours", "minute", "minutes", "month" or 3 other things', None),
    ('segment s = email.opened ever ever\n', "1:31", 'unexpected name "ever"',
     'expected "action", "drip", "event", "import", "segment", "workflow" or the end of the file',
     'did you mean "event"?'),
    ('workflow W { }\n', "1:10", 'unexpected name "W"', "expected a string", None),
    ('workflow "W" {\n    audience contact.x == 1\n    send_email("a"\n}\n', "4:1", 'unexpected "}"',
     'expected ")" or ","', None),
    ('workflow "W" {\n    audience contact.x == 1\n    send_email("a") as\n}\n', "4:1", 'unexpected "}"',
     "expected a name", None),
    ('workflow "W" {\n    audience contact.x = 1\n}\n', "2:24", 'unexpected "="',
     'expected "(", ".", "}", a comparison (==, !=, <, <=, >, >=) or a name', 'to compare two values, write "=="'),
    ('workflow "W" {\n    audiense contact.x == 1\n}\n', "2:14", 'unexpected name "contact"',
     'expected "("', 'did you mean "audience" instead of "audiense"?'),
    ('workflow "W" {\n    audience contact.x == 1\n    wiat 3 days\n}\n', "3:10", 'unexpected number "3"',
     'expected "("', 'did you mean "wait" instead of "wiat"?'),
    # No keyword hint from the end of a dotted event type on the line before.
    ('workflow "W" {\n    audience contact.x == 1\n    goal "G" {\n        when email.opened\n'
     '        send_email("x")\n    }\n}\n', "5:9", 'unexpected name "send_email"',
     'expected "on", "then", "when" or "}"', None),
])
def test_unexpected_tokens(text, where, summary, detail, hint):
    d = one(diags_of(text))
    assert (d.code, pos(d), d.summary, d.detail, d.hint) == ("E0001", where, summary, detail, hint)


# ---------------------------------------------------------------- keywords used as names

@pytest.mark.parametrize("text, word, where", [
    ('segment when = contact.x == 1\n', "when", "1:9"),
    ('segment true = contact.x == 1\n', "true", "1:9"),
    ('workflow "W" {\n    audience contact.x == 1\n    send_email("a") as wait\n}\n', "wait", "3:24"),
    ('workflow "W" {\n    audience contact.x == 1\n    send_email("a") as end\n}\n', "end", "3:24"),
    ('workflow "W" {\n    audience contact.x == 1\n    skip to goal\n}\n', "goal", "3:13"),
    ('action within(x: string)\n', "within", "1:8"),
])
def test_keyword_used_as_a_name(text, word, where):
    d = one(diags_of(text))
    assert (d.code, pos(d), d.summary, d.hint) == (
        "E0006", where, f'"{word}" is a keyword and cannot be used as a name', "choose another name")
    assert (d.span.end_col - d.span.col) == len(word)


def test_keywords_still_work_as_fields_labels_and_event_parts():
    # `goal`, `to`, `action` are keywords, yet fine as event fields, argument
    # labels and parts of dotted event types.
    text = ('segment s = goal.achieved(goal == "X") and invoice.sent(action == first)\n'
            'workflow "W" {\n    audience s\n    notify(to: "a@b.c", message: "m") as first\n}\n')
    assert diags_of(text) == []


def test_keywords_come_from_the_grammar():
    kws = keywords()
    for w in ("when", "then", "goal", "goals", "segment", "workflow", "drip", "within", "ever", "skip", "end",
              "not", "and", "or", "true", "false", "days"):
        assert w in kws
    # `contact` became a keyword with test blocks (`contact c1 { ... }`); it
    # still reads contact attributes everywhere
    assert "contact" in kws and "string" not in kws
    assert diags_of('segment s = contact.lead_score > 1 and contact.contact == "x"\n') == []


# ---------------------------------------------------------------- lexical errors

def test_unterminated_string():
    d = one(diags_of('workflow "W" {\n    audience contact.x == 1\n    send_email("abc)\n}\n'))
    assert (d.code, pos(d), d.summary) == ("E0002", "3:16", "this string is not closed before the end of the line")
    assert d.hint == 'add the closing quote; write \\" for a quote inside a string'


def test_unterminated_string_at_end_of_file():
    d = one(diags_of('segment s = contact.x == "abc'))
    assert (d.code, pos(d)) == ("E0002", "1:26")


def test_unexpected_character():
    d = one(diags_of('workflow "W" {\n    audience contact.x == 1 @\n}\n'))
    assert (d.code, pos(d), d.summary) == ("E0002", "2:29", "unexpected character '@'")
    # only what can really follow (LALR's shared lookahead once listed ")", "]" and more here)
    assert d.detail == 'expected "}" or a name'


@pytest.mark.parametrize("ch", ["$", "%", "&", ";", "|", "~", "^", "€"])
def test_unexpected_characters_of_all_kinds(ch):
    d = one(diags_of(f'segment s = contact.x == 1 {ch}\n'))
    assert (d.code, pos(d), d.summary) == ("E0002", "1:28", f"unexpected character {ch!r}")


def test_unknown_escape():
    d = one(diags_of('segment s = contact.x == "a\\q"\n'))
    assert (d.code, pos(d), d.summary) == ("E0009", "1:28", "unknown escape \\q in a string")
    assert (d.span.end_col - d.span.col) == 2
    assert d.hint == 'the escapes are \\", \\\\, \\n and \\t'


def test_escapes_decode():
    res = parse('segment s = "a\\"b\\\\c\\nd\\te" == contact.x  # comment "with quote\n', "p.goal")
    assert res.diagnostics == ()
    assert res.module.items[0].cond.left.value == 'a"b\\c\nd\te'
    assert len(res.module.comments) == 1


def test_nul_byte():
    d = one(diags_of('segment b = 1\n\n  x\x00y'))
    assert (d.code, pos(d), d.summary, d.hint) == ("E0005", "3:4", "the file holds a NUL character",
                                                   "is this a binary file?")


# ---------------------------------------------------------------- the file ending early

@pytest.mark.parametrize("text, where, detail", [
    ('workflow "W" {\n    audience contact.x == 1\n    send_email("a")\n', "4:1",
     'expected "allow", "as", "audience", "end", "enroll", "evaluate", "exit" or 9 other things'),
    ('segment s = contact.x == 1 and', "1:31", "expected a condition"),
    ('segment s = contact.x in [1, 2', "1:31", 'expected "," or "]"'),
    ('import', "1:7", "expected a string"),
])
def test_file_ending_early(text, where, detail):
    d = one(diags_of(text))
    assert (d.code, pos(d), d.summary, d.detail) == ("E0001", where, "the file ended too early", detail)
    assert d.hint == "a bracket or brace may be missing its closing partner"


# ---------------------------------------------------------------- values out of range

def test_values_out_of_range():
    text = ('segment a = email.opened at least 2000000 times\n'
            'segment b = contact.x == 10000000000000000\n'
            'segment c = email.opened at least 2.5 times\n'
            'workflow "W" { audience a wait until 25:00 wait until monday 09:60 }\n')
    diags = diags_of(text)
    assert [(d.code, pos(d), d.summary) for d in diags] == [
        ("E0008", "1:35", "a count 2,000,000 is over the limit of 1,000,000"),
        ("E0008", "2:26", "the number 10000000000000000 is too large (the limit is 10^15)"),
        ("E0007", "3:35", "a count must be a whole number, not 2.5"),
        ("E0010", "4:38", "25:00 is not a time of day"),
        ("E0010", "4:62", "09:60 is not a time of day"),
    ]
    assert diags[3].hint == "write hours 00-23 and minutes 00-59, as in 09:30"


def test_duration_over_ten_years_is_reported_by_the_parser():
    d = one(diags_of('segment s = email.opened within 3661 days\n'))
    assert (d.code, pos(d), d.summary) == ("E0008", "1:33", "this duration is longer than the limit of 10 years")
    assert (d.span.end_col - d.span.col) == len("3661 days")


def test_duration_parts_add_up():
    res = parse('segment s = email.opened within 1 day 12 hours\n', "p.goal")
    assert res.diagnostics == ()
    dur = res.module.items[0].cond.window.duration
    assert dur.approx_seconds() == 36 * 3600


# ---------------------------------------------------------------- conditions typed at eval / the REPL

def test_parse_condition_positions_are_relative_to_the_typed_text():
    d = one(list(parse_condition("contact.x === 1", "<condition>")[1]))
    assert (d.code, pos(d), d.summary) == ("E0001", "1:13", 'unexpected "="')
    d = one(list(parse_condition('contact.x == "abc', "<condition>")[1]))
    assert (d.code, pos(d)) == ("E0002", "1:14")


def test_parse_condition_spans_point_into_the_typed_text():
    cond, diags = parse_condition("contact.x == 1 and email.opened within 3 days", "<condition>")
    assert diags == ()
    assert isinstance(cond, A.And)
    atom = cond.items[1]
    assert (atom.span.line, atom.span.col) == (1, 20)


def test_precedence_not_and_or():
    cond, _ = parse_condition("not a and b or c", "<c>")
    assert isinstance(cond, A.Or)
    assert isinstance(cond.items[0], A.And)
    assert isinstance(cond.items[0].items[0], A.Not)


# ---------------------------------------------------------------- never a generated name, never an exception

def _broken_variants(text):
    """Truncations and single-token deletions of a valid program."""
    tokens = list(re.finditer(r'"(?:\\.|[^"\\\n])*"|[A-Za-z_][A-Za-z0-9_]*|\d[\d:.T-]*|\S', text))
    for m in tokens:
        yield text[:m.start()]
        yield text[:m.start()] + text[m.end():]


@pytest.mark.parametrize("name", ["booked-a-demo", "invoice-paid", "drip-series"])
def test_broken_programs_give_words_not_terminal_names(name):
    path = REPO / "examples" / name / "program.goal"
    if not path.is_file():
        pytest.skip(f"no example {name}")
    text = path.read_text(encoding="utf-8")
    assert parse(text, "program.goal").diagnostics == ()
    seen = 0
    for variant in _broken_variants(text):
        res = parse(variant, "program.goal")
        for d in res.diagnostics:
            seen += 1
            assert d.span is not None and d.span.line >= 1 and d.span.col >= 1
            assert not TERMINAL_NAMES.search(words_of(d)), words_of(d)
            d.render({"program.goal": variant})
    assert seen > 10


def test_expected_lists_use_quoted_words():
    d = one(diags_of(WEN))
    for word in re.findall(r'"([^"]*)"', d.detail):
        assert word in {"on", "then", "when", "}"}
    assert "__" not in d.detail


# ---------------------------------------------------------------- the AST of a valid file

def test_valid_program_parses_to_the_ast():
    text = '''import "./common.goal"
segment hot_lead = contact.lead_score >= 80 and page.visited(url == "/pricing") at least 3 times within 14 days
workflow "Demo" {
    evaluate on event
    audience hot_lead
    send_email("hi") as hello
    wait 2 days
    if contact.x == 1 { end } else if contact.x == 2 { skip to g } else { wait until monday 09:00 }
    goal "g" {
        when email.clicked(link contains "demo") since enrollment
        then { add_tag("x") }
        then if contact.y is set { add_tag("y") } else { add_tag("z") }
        on achieved skip to after
        on unmet wait up to 7 days then end
    }
    send_sms("after") as after
    goals { goal "Unsub" { when email.unsubscribed ever } }
}
'''
    res = parse(text, "p.goal")
    assert res.diagnostics == ()
    imp, seg, wf = res.module.items
    assert isinstance(imp, A.Import) and imp.path.value == "./common.goal"
    assert isinstance(seg, A.SegmentDef) and seg.name.name == "hot_lead"
    assert isinstance(wf, A.Workflow) and wf.name.name == "Demo" and not wf.is_drip
    assert (wf.span.line, wf.span.col) == (3, 1)
