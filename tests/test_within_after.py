"""`EVENT(filter) [count] within D after OTHER(filter) [scope]` (issue 16.2)
against a brute-force reference.

The reference reads the definition (docs/spec.md section 4) literally: it
looks at every pair (EVENT e, OTHER a) of the contact's history and counts
the events e, up to now and in the scope, with an OTHER a that is not e
itself, also in the scope, with ``e - D <= a <= e``. ``e - D`` is the start
of the rolling window ``within D`` evaluated at e (``calendar.subtract``,
whose daylight-saving arithmetic is tested on its own); everything else -
the scope, the pairing, excluding the event itself, the count - is written
here again, as nested loops over the whole history. Both compiled forms of a
condition (the generated code the engine runs and the plain closures) must
agree with it, in UTC and in New York around both changes of daylight
saving time.
"""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from goaldsl.runtime.compiler import NEVER, Compiler
from goaldsl.runtime.engine import Contact
from goaldsl.runtime.program import load_program
from goaldsl.semantics.calendar import subtract

from closure_oracle import ClosureOracle

# Around the end (1 Nov) and the start (8 Mar) of daylight saving time in New York.
ANCHORS = [int(datetime(2026, 11, 1, 6, tzinfo=timezone.utc).timestamp()),
           int(datetime(2026, 3, 8, 7, tzinfo=timezone.utc).timestamp())]
DURATIONS = {"30 minutes": (0, 0, 1800), "1 hour": (0, 0, 3600), "1 day": (0, 1, 0), "2 days 1 hour": (0, 2, 3600),
             "1 week": (0, 7, 0), "1 month": (1, 0, 0)}
EVENT_FILTERS = {"": lambda f: True, '(link contains "offer")': lambda f: "offer" in f["link"].lower()}
ANCHOR_FILTERS = {"": lambda f: True, '(email == "invite")': lambda f: f["email"] == "invite",
                  '(email != "invite")': lambda f: f["email"] != "invite"}
COUNTS = {"": ("at_least", 1), " at least 2 times": ("at_least", 2), " at most 1 time": ("at_most", 1),
          " exactly 1 time": ("exactly", 1), " at most 0 times": ("at_most", 0)}
SCOPES = ["", " since enrollment", " ever"]


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    folder = tmp_path_factory.mktemp("after")
    (folder / "program.goal").write_text('workflow "W" {\n    enroll when form.submitted\n    send_email("x")\n}\n')
    return load_program(folder / "program.goal")


def reference(events: dict, etype: str, atype: str, eflt, aflt, months: int, days: int, secs: int, tz: str,
              now: int, since, scope: str, kind: str, n: int) -> bool:
    start = NEVER if scope == "ever" or since is None else since
    count = 0
    for i, (t, f) in enumerate(events.get(etype, [])):
        if not (start <= t <= now and eflt(f)):
            continue
        lo = subtract(t, months, days, secs, tz)
        if any(start <= ta and lo <= ta <= t and aflt(fa) and not (atype == etype and j == i)
               for j, (ta, fa) in enumerate(events.get(atype, []))):
            count += 1
    return {"at_least": count >= n, "at_most": count <= n, "exactly": count == n}[kind]


# Event times: whole quarter hours within two days of the anchor instant, so
# that pairs land exactly on `e - D` and on one another.
times = st.integers(-4 * 48, 4 * 48).map(lambda k: 900 * k)
sent = st.tuples(times, st.sampled_from(["invite", "reminder"])).map(lambda x: (x[0], "email.sent", {"email": x[1]}))
clicked = st.tuples(times, st.sampled_from(["invite", "reminder"]), st.sampled_from(["/offer", "/other"])) \
    .map(lambda x: (x[0], "email.clicked", {"email": x[1], "link": x[2]}))


@settings(max_examples=400, deadline=None)
@given(anchor=st.sampled_from(ANCHORS), tz=st.sampled_from(["UTC", "America/New_York"]),
       history=st.lists(st.one_of(sent, clicked), max_size=12),
       same_type=st.booleans(), duration=st.sampled_from(sorted(DURATIONS)),
       eflt=st.sampled_from(sorted(EVENT_FILTERS)), aflt=st.sampled_from(sorted(ANCHOR_FILTERS)),
       count=st.sampled_from(sorted(COUNTS)), scope=st.sampled_from(SCOPES),
       now=times, since=st.one_of(st.none(), times))
def test_within_after_equals_the_brute_force_reference(program, anchor, tz, history, same_type, duration, eflt, aflt,
                                                       count, scope, now, since):
    # `email.clicked within D after email.sent(...)`, or one type anchoring itself:
    # `email.sent within D after email.sent(...)` (an event is not its own anchor).
    etype = "email.sent" if same_type else "email.clicked"
    e_text = "" if same_type else eflt
    text = f"{etype}{e_text}{count} within {duration} after email.sent{aflt}{scope}"
    cond, _ = program.condition(text, timezone=tz)
    comp = Compiler(program.ir, tz)
    c = Contact("c", {"id": "c"}, 0)
    for dt, typ, fields in sorted(history, key=lambda x: x[0]):
        c.events.setdefault(typ, []).append((anchor + dt, fields))
    t_now, t_since = anchor + now, None if since is None else anchor + since
    months, days, secs = DURATIONS[duration]
    kind, n = COUNTS[count]
    want = reference(c.events, etype, "email.sent", EVENT_FILTERS[e_text] if e_text else (lambda f: True),
                     ANCHOR_FILTERS[aflt], months, days, secs, tz, t_now, t_since, scope.strip().replace(" ", "_"),
                     kind, n)
    assert comp.cond(cond)(c, t_now, t_since, None) == want, text
    assert ClosureOracle(program.ir, tz).closure(cond)(c, t_now, t_since, None) == want, text


def test_the_boundaries_by_hand(program):
    """`e - D` and `e` itself are in; a second outside is out; the anchor
    may be at the same instant as the event; an event never anchors itself."""
    t0 = ANCHORS[0]
    cond, _ = program.condition('email.clicked within 1 hour after email.sent(email == "invite")')
    fn = Compiler(program.ir, "UTC").cond(cond)

    def contact(sent_at: list[int], clicked_at: int) -> Contact:
        c = Contact("c", {"id": "c"}, 0)
        c.events["email.sent"] = [(t, {"email": "invite"}) for t in sent_at]
        c.events["email.clicked"] = [(clicked_at, {"email": "invite", "link": "/x"})]
        return c

    now = t0 + 7200
    assert fn(contact([t0], t0 + 3600), now, None, None)  # exactly D after
    assert not fn(contact([t0], t0 + 3601), now, None, None)  # a second too late
    assert fn(contact([t0 + 3600], t0 + 3600), now, None, None)  # the same instant
    assert not fn(contact([t0 + 3601], t0 + 3600), now, None, None)  # the anchor after the event
    assert not fn(contact([t0], t0 + 1800), t0 + 1799, None, None)  # the event after now
    assert not fn(contact([t0], t0 + 1800), now, t0 + 1, None)  # the anchor before the enrollment
    self_anchor, _ = program.condition("email.sent within 1 hour after email.sent")
    one = Contact("c", {"id": "c"}, 0)
    one.events["email.sent"] = [(t0, {"email": "invite"})]
    assert not Compiler(program.ir, "UTC").cond(self_anchor)(one, now, None, None)
    one.events["email.sent"].append((t0 + 60, {"email": "invite"}))
    assert Compiler(program.ir, "UTC").cond(self_anchor)(one, now, None, None)
