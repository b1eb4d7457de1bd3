"""The parser's fast path: the grammar's LALR(1) tables, driven by a lexer of
our own, without importing Lark.

Lark builds the tables from ``grammar/goal.lark`` once per grammar (they are
kept on disk in marshal's format beside Lark's own cache) and still parses every text
this module does not accept. The lexer here reads a token exactly as Lark's
contextual lexer would (a keyword only where the parser can take it, NAME
everywhere, the same patterns and priorities); wherever it cannot be sure
(a syntax error, a character no pattern matches, a token the parser state
does not take) it gives up, and ``parser.parse`` hands the text to Lark.
So the grammar is decided in one place, every syntax error is still Lark's,
and a text this module parses gets the AST Lark would have built: the same
builder methods run on the same children, in the same order
(tests/test_parser.py compares the two).

What it saves: Lark's import and its per-state lexers (a regular expression
compiled for each parser state a file reaches, in every process), and most
of the cost per token (a parse goes about twice as fast).
"""
from __future__ import annotations

import marshal
import os
import re
import sys

TYPE_CHECKING = False  # (typing's, without importing typing: docs/performance.md, "Start-up")
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

from .codecache import compiled

FORMAT = 4  # of the tables file; a file of another format is rebuilt


class Bail(Exception):
    """This text is not for the fast path: Lark parses it."""


class Token(str):
    """A token, with the attributes of Lark's (what the AST builder reads).
    No token spans lines (a string or a comment ends at the end of its
    line), so where it ends is worked out when asked, not stored: most
    tokens are never asked."""
    __slots__ = ("type", "start_pos", "line", "column")

    @property
    def value(self) -> str:
        return str.__str__(self)

    @property
    def end_line(self) -> int:
        return self.line

    @property
    def end_column(self) -> int:
        return self.column + len(self)

    @property
    def end_pos(self) -> int:
        return self.start_pos + len(self)


# ------------------------------------------------------------------ tables

def build_tables(lark, builder) -> dict:
    """The tables of a Lark LALR parser (built with ``maybe_placeholders``
    and an inline transformer), as plain data. Raises ValueError when the
    parser uses something the fast path does not reproduce."""
    from lark.parse_tree_builder import ChildFilterLALR, ChildFilterLALR_NoPlaceholders, ExpandSingleChild
    from lark.parsers.lalr_analysis import Shift

    table = lark.parser.parser.parser.parse_table
    rules: list = []
    index: dict = {}
    for rule, chain in lark._parse_tree_builder.rule_builders:
        name = rule.alias or rule.options.template_source or rule.origin.name
        has_method = callable(getattr(builder, name, None))
        expand1, filt = False, None
        for w in chain:
            if w is ExpandSingleChild:
                if filt is not None:
                    raise ValueError("ExpandSingleChild outside a child filter")
                expand1 = True
            elif getattr(w, "func", None) is ChildFilterLALR:
                to_include, append_none = w.args
                filt = [[[i, bool(e), n] for i, e, n in to_include], append_none]
            elif getattr(w, "func", None) is ChildFilterLALR_NoPlaceholders:
                (to_include,) = w.args
                filt = [[[i, bool(e), 0] for i, e in to_include], 0]
            else:
                raise ValueError(f"unknown tree builder step {w!r}")
        size = len(rule.expansion)
        if not has_method and not (expand1 and filt is None and size == 1):  # (that one passes its child up)
            if not name.startswith("_"):
                raise ValueError(f"rule {name} has no builder method")
            if expand1:
                raise ValueError(f"rule {name} is both inlined and ?-expanded")
        index[rule] = len(rules)
        rules.append([size, rule.origin.name, name if has_method else None, expand1, filt])
    states = []
    if sorted(table.states) != list(range(len(table.states))):
        raise ValueError("parser states are not numbered 0..n-1")
    for s in range(len(table.states)):
        row = {}
        for sym, (action, arg) in table.states[s].items():
            row[sym] = arg if action is Shift else -1 - index[arg]
        states.append(row)
    _skip_passing_states(states, rules)
    keywords, punct, patterns = {}, {}, {}
    for t in lark.terminals:
        if t.pattern.type == "str":
            if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", t.pattern.value):
                keywords[t.pattern.value] = t.name
            else:
                punct[t.pattern.value] = t.name
        else:
            patterns[t.name] = t.pattern.to_regexp()
    symbols = {sym: 0 for row in states for sym in row}  # (before the rows: see FastParser)
    symbols.update({r[1]: 0 for r in rules})
    symbols.update({name: 0 for name in (*keywords.values(), *punct.values(), *patterns, "CMP_OP")})
    return {"format": FORMAT, "start": table.start_states["start"], "end": table.end_states["start"],
            "symbols": symbols, "states": states, "rules": rules, "keywords": keywords, "punct": punct,
            "patterns": patterns,
            "priorities": {t.name: t.priority for t in lark.terminals if t.priority}}


def _skip_passing_states(states: list, rules: list) -> None:
    """A state whose every action is one reduction that passes its one child
    up (``?primary: atom``, reached after reducing an atom) is left at once,
    whatever the next token, for the state the rule's name leads to from the
    state below: the gotos lead there directly (a reduction fewer, in the
    parser's loop, for most conditions). No token is read in such a state
    (a token is read after a shift, in the state shifted to), and a token
    none of its actions takes is taken by none of the state it leads to
    (LALR: its lookaheads hold everything that can follow there), so the
    parser reads, builds and gives up as before."""
    passing = {}
    for s, row in enumerate(states):
        actions = set(row.values())
        if len(actions) == 1:
            (a,) = actions
            if a < 0:
                size, origin, _, expand1, filt = rules[-1 - a]
                if size == 1 and expand1 and filt is None:  # (``_rule``'s rule without a callback)
                    passing[s] = origin
    nonterminals = {r[1] for r in rules}
    for row in states:
        for sym, target in row.items():
            if sym in nonterminals:
                while target in passing:
                    target = row[passing[target]]
                row[sym] = target


def load_tables(path, make: Callable[[], dict], made_from: Optional[dict] = None) -> Optional[dict]:
    """The tables kept at ``path`` (False: nowhere), made with ``make`` and
    written there when missing, unreadable, or not made from ``made_from``
    (keys the file's tables must hold with these values: the grammar, Lark's
    version). The file is in ``marshal``'s format (format 4; JSON before: read
    in a third of the time), its texts interned: each symbol is then one
    string wherever it occurs (see ``FastParser``)."""
    if path:
        try:
            with open(path, "rb") as f:
                data = marshal.loads(f.read())  # (from bytes: load(f) reads the file a few bytes at a time)
            if type(data) is dict and data.get("format") == FORMAT \
                    and all(data.get(k) == v for k, v in (made_from or {}).items()):
                return data
        except (OSError, ValueError, EOFError, TypeError):
            pass
    data = make()
    if path:
        folder, name = os.path.split(path)
        tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")  # a dot: resources.prune_cache clears one left behind
        try:
            with open(tmp, "wb") as f:
                marshal.dump(_plain(data), f)
            os.replace(tmp, path)  # whole or not at all, even with processes racing
        except (OSError, ValueError):
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return data


def _plain(x):
    """The tables as marshal writes them: Lark's names (its ``Token``, a
    subclass of str) as plain strings, interned (marshal keeps that: each
    text is one object when read back)."""
    if isinstance(x, str):
        return sys.intern(str(x))
    if isinstance(x, dict):
        return {_plain(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


def uncaptured(pattern: str) -> str:
    """``pattern`` with its groups made non-capturing: it matches the same,
    and each match of the lexer's pattern keeps fewer marks (the terminals'
    groups are never read). A pattern that refers back to a group is kept."""
    if re.search(r"\\[1-9]|\(\?P=", pattern):
        return pattern
    out, i, n = [], 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\":  # an escaped character
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if ch == "[":  # a class, to its closing bracket (one right after [ or [^ is a member)
            j = i + 1
            if pattern[j:j + 1] == "^":
                j += 1
            if pattern[j:j + 1] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            out.append(pattern[i:j + 1])
            i = j + 1
            continue
        out.append("(?:" if ch == "(" and pattern[i + 1:i + 2] != "?" else ch)
        i += 1
    return "".join(out)


# ------------------------------------------------------------------ the parser

class FastParser:
    """The tables with the builder's methods wired in. ``parse`` returns what
    Lark's parser would (the builder's value for ``start``) or raises Bail."""

    #: The terminals this lexer knows, each with the priority it assumes;
    #: another grammar (a new regular terminal, a priority changed) turns the
    #: fast path off rather than lexing differently from Lark.
    KNOWN = {"WS": 0, "COMMENT": 0, "STRING": 0, "DATETIME": 4, "TIME_OF_DAY": 3, "NUMBER": 2, "NAME": 0,
             "CMP_OP": 0, "AT_TIME": 5}
    PUNCT = ("...", "(", ")", "{", "}", "[", "]", ",", ":", ".", "=", "?", "+")

    def __init__(self, data: dict, builder: Any):
        pats = data["patterns"]
        prio = data["priorities"]
        if set(pats) != set(self.KNOWN) or any(prio.get(k, 0) != v for k, v in self.KNOWN.items()) \
                or any(prio.get(k, 0) for k in list(data["keywords"].values()) + list(data["punct"].values())) \
                or set(data["punct"]) != set(self.PUNCT) \
                or pats["CMP_OP"] != "(?:==|!=|<=|>=|<|>)" or pats["WS"] != "[ \t\r\n\x0c]+" \
                or not (pats["NAME"].startswith("[A-Za-z_]") and pats["STRING"].startswith('"')
                        and pats["COMMENT"].startswith("#")):  # (what each kind begins with: the order below)
            raise ValueError("the grammar's terminals are not those this lexer reads")
        # One pattern for every kind of token. Where they compete, in the
        # order Lark's lexer tries them: DATETIME, TIME_OF_DAY, NUMBER
        # (priorities 4, 3, 2) for digits; "..." before "."; a two-character
        # comparison before "=" (longer first). The kinds that begin with
        # characters no other kind begins with come first, the most frequent
        # first (words, punctuation): the pattern's alternatives are tried in
        # order. Which terminal a word or a comparison is depends on the
        # parser's state: decided in ``parse``. Whitespace (WS) is read in
        # front of the token it precedes: on its own only where it holds a
        # line break (NL: the line count), or at the end of the text (END).
        string = uncaptured(pats["STRING"])
        if string == '"(?:\\\\.|[^"\\\\\n])*"':  # the same, a run of plain characters at a time
            string = '"[^"\\\\\n]*(?:\\\\.[^"\\\\\n]*)*"'
        self.master = re.compile("[ \t\r\x0c]*(?:" + "|".join([
            f"(?P<WORD>{pats['NAME']})", r"(?P<P>\.\.\.|==|!=|<=|>=|[<>(){}\[\],:.=?+])",
            "(?P<NL>\n[ \t\r\n\x0c]*)", f"(?P<STRING>{string})",
            f"(?P<DATETIME>{uncaptured(pats['DATETIME'])})", f"(?P<TIME_OF_DAY>{uncaptured(pats['TIME_OF_DAY'])})",
            f"(?P<NUMBER>{uncaptured(pats['NUMBER'])})", f"(?P<COMMENT>{uncaptured(pats['COMMENT'])})",
            r"(?P<END>\Z)", r"(?P<BAD>[\s\S])"]) + ")")
        # The kinds ``parse`` tells apart by their group's number (worked out
        # once: cheaper to read and compare than a name).
        group = self.master.groupindex
        self.groups = tuple(group[k] for k in ("WORD", "P", "NL", "COMMENT", "END", "BAD"))
        self.at_time = re.compile(pats["AT_TIME"])
        # The symbols (a token's kind, a rule's name) as one string each, the
        # rows' keys: a row's lookup then finds its key by identity, not by
        # comparing texts. The file's texts are interned (``load_tables``):
        # read back, each is one string wherever it occurs; tables just made
        # by Lark have copies, which this makes one where the parser looks.
        symbols = dict(zip(data["symbols"], data["symbols"]))
        same = symbols.setdefault
        self.keywords = {k: same(v, v) for k, v in data["keywords"].items()}
        self.punct = {k: same(v, v) for k, v in data["punct"].items()}
        for op in ("==", "!=", "<=", ">=", "<", ">"):
            self.punct[op] = same("CMP_OP", "CMP_OP")
        self.kinds = {n: same(k, k) for k, n in self.master.groupindex.items()}  # a group's number -> its kind
        self.names = same("NAME", "NAME"), same("AT_TIME", "AT_TIME")
        self.start, self.end = data["start"], data["end"]
        # A state's row as read: a symbol -> the next state (a shift, or the
        # goto after a reduction), or ~rule (a reduction by that rule).
        self.states = data["states"]
        self.rules = [_rule([r[0], same(r[1], r[1]), *r[2:]], builder) for r in data["rules"]]

    # Over 80 lines on purpose: the parser's hot loop (lexing, shifting and
    # reducing every token of every file), one function so that its names stay local.
    def parse(self, text: str, comments: list) -> Any:
        states, rules = self.states, self.rules
        keywords, punct = self.keywords, self.punct
        at_time = self.at_time
        token = Token  # (the class called: str's __new__ reached directly, not through str.__new__'s checks)
        stack = [self.start]
        values: list = []
        acts = states[self.start]
        line, line_start = 1, 0
        WORD, P, NL, COMMENT, END, BAD = self.groups
        NAME, AT_TIME = self.names
        kinds = self.kinds
        for m in self.master.finditer(text):
            i = m.lastindex
            value = m[i]  # (a subscript and one call: cheaper than group(), end() and len())
            start = m.start(i)
            if i == WORD:
                # Lark: AT_TIME (priority 5) where the state takes it and its
                # lookahead holds; else NAME, a keyword when the state takes it.
                if value == "at" and AT_TIME in acts and at_time.match(text, start):
                    kind = AT_TIME
                else:
                    kind = keywords.get(value)
                    if kind is None or kind not in acts:
                        kind = NAME
            elif i == P:
                kind = punct[value]
            elif i == NL:
                line += value.count("\n")
                line_start = start + value.rindex("\n") + 1
                continue
            elif i == COMMENT:
                t = token(value)
                t.type = "COMMENT"
                t.start_pos = start
                t.line = line
                t.column = start - line_start + 1
                comments.append(t)
                continue
            elif i == END:
                break
            elif i == BAD:
                raise Bail
            else:
                kind = kinds[i]
            t = token(value)
            t.type = kind
            t.start_pos = start
            t.line = line
            t.column = start - line_start + 1
            while True:
                try:
                    a = acts[kind]
                except KeyError:  # a token this state does not take: Lark says what is wrong (or reads it otherwise)
                    raise Bail from None
                if a >= 0:  # shift
                    stack.append(a)
                    values.append(t)
                    acts = states[a]
                    break
                size, origin, cb = rules[~a]
                if size == 1:  # (the most frequent: a rule of one child, replaced in place)
                    goto = states[stack[-2]][origin]
                    stack[-1] = goto
                    if cb is not None:  # (None: a rule that passes its one child up)
                        values[-1] = cb([values[-1]])
                else:
                    if size:
                        s = values[-size:]
                        del stack[-size:]
                        del values[-size:]
                    else:
                        s = []
                    values.append(cb(s))
                    goto = states[stack[-1]][origin]
                    stack.append(goto)
                acts = states[goto]
        # The reductions at the end of the text: the reduce step of the loop above,
        # written out again rather than shared through a call: this is the parser's hot path.
        end = self.end
        while True:
            a = acts.get("$END", 0)
            if a >= 0:  # the end of the text where it cannot end: Lark says so
                raise Bail
            size, origin, cb = rules[~a]
            if size == 1:
                goto = states[stack[-2]][origin]
                stack[-1] = goto
                if cb is not None:
                    values[-1] = cb([values[-1]])
            else:
                if size:
                    s = values[-size:]
                    del stack[-size:]
                    del values[-size:]
                else:
                    s = []
                values.append(cb(s))
                goto = states[stack[-1]][origin]
                stack.append(goto)
            if goto == end:
                return values[-1]
            acts = states[goto]


_SHAPES: dict = {}


def _rule(spec: list, builder: Any) -> list:
    """[size, origin, callback]: the callback does what Lark's tree builder
    does for the rule (drop or splice children, add None placeholders,
    pass a lone child of a ``?rule`` up) and calls the builder's method; None
    for a rule whose value is its one child. The callback is made when the
    rule is first reduced (a small file meets a few of the rules)."""
    size, origin, name, expand1, filt = spec
    if filt is None and expand1 and size == 1:
        return [size, origin, None]
    if filt is None and name is None and not expand1:
        return [size, origin, list]  # (an _inlined rule's children as they are, spliced into its parent's: no call of ours)
    rule = [size, origin, None]

    def first(children):
        user = getattr(builder, name) if name is not None else None
        if filt is None and user is not None:
            # The builder's method on the children as they are (a ?rule of
            # one child is passed up, never called: above).
            rule[2] = user
            return user(children)
        key = (expand1, user is None, None if filt is None else (tuple(map(tuple, filt[0])), filt[1]))
        make = _SHAPES.get(key)
        if make is None:
            make = _SHAPES[key] = _compile_shape(*key)
        rule[2] = cb = make(user)
        return cb(children)

    rule[2] = first
    return rule


def _compile_shape(expand1: bool, splice: bool, filt) -> Callable:
    # Rules of one shape share one generated function: a handful of lines
    # each, compiled for the shapes a parse meets (once per machine: codecache.py).
    lines = ["def make(u):", "  def f(c):"]
    if filt is None:
        lines.append("    r = c")
    else:
        to_include, append_none = filt
        parts = []
        for i, expand, nones in to_include:
            parts += ["None"] * nones
            parts.append(f"*c[{i}]" if expand else f"c[{i}]")
        parts += ["None"] * append_none
        if parts and parts[0].startswith("*"):
            # A left-recursive repetition: grow the list built so far (as
            # Lark does), not a copy of it per item.
            lines.append(f"    r = {parts[0][1:]}")
            if len(parts) > 1:
                lines.append(f"    r += [{', '.join(parts[1:])}]")
        else:
            lines.append(f"    r = [{', '.join(parts)}]")
    if splice:
        lines.append("    return r")  # an _inlined rule: its children go into its parent's
    elif expand1:
        lines.append("    return r[0] if len(r) == 1 else u(r)")
    else:
        lines.append("    return u(r)")
    lines.append("  return f")
    scope: dict = {}
    exec(compiled("\n".join(lines), "<goal parser shape>"), scope)  # noqa: S102 - our own generated code
    return scope["make"]
