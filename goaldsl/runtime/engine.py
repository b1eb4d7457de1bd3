"""The engine: runs a compiled plan over an event log on a virtual clock.

It is event-driven. Each workflow keeps an agenda (a heap of instants, each
with the contacts due then) of the moments something could change for a
contact: one of its events that a listening condition reads, a wait coming
due, an event leaving a ``within`` window. The clock jumps from one such
instant to the next, and a workflow looks only at the contacts on its
agenda. Between those instants nothing a condition reads can change, so the
result is the same as looking at every contact at every tick (docs/spec.md
section 5); ``exhaustive=True`` does exactly that, and the tests compare the
two.

Instants are integers (UTC epoch seconds). At one instant: input events in
file order, then each workflow in source order; an ``evaluate on event``
workflow that another workflow's actions gave new events acts again at the
same instant, in further rounds.
"""
from __future__ import annotations

import heapq
import itertools
from collections import deque
from operator import attrgetter, itemgetter
from typing import Any, Callable, Iterable, Optional

import attrs
import msgspec

from ..semantics import ir
from ..syntax.codecache import compiled
from ..syntax.values import show_text
from ..semantics.calendar import add as calendar_add, add_duration, format_utc, next_time_of_day, window_leaves
from . import snapshot as fmt
from .compiler import get_path
from .order import NONE, SMALL, caused_key, entry_head, int_bytes, pair_key, rank_key, waiting_key
from .inputs import (MAX_EVENT_TIME, MIN_EVENT_TIME, EventValidator, check_contact, copy_value, in_time_order, refuse,
                     value_problem, wrong_value)
from .plan import (Action, Branch, CGoal, CWorkflow, End, GoalStep, Instruction, Jump, Plan, Wait, WaitDate,
                   WaitTime, WaitUntil)

MAX_ROUNDS = 100

# Blocked states of an enrollment, and how Position names them.
B_WAIT, B_GOAL, B_COND = 1, 2, 3
WAITING = {B_WAIT: "wait", B_GOAL: "goal", B_COND: "condition"}


class EngineError(Exception):
    """A run cannot go on: a handler failed (its action is delivered again at
    the next ``run_until``), workflows loop at one instant, or the engine was
    stopped by such an error before and refuses to go on. ``instant``: the
    instant whose work could not be finished, when that is the reason."""

    def __init__(self, message: str, instant: Optional[int] = None):
        super().__init__(message)
        self.instant = instant


class ForeignContact(Exception):
    """An event brought a contact that this engine, one partition's
    (``Engine.owns``), may not take in: whoever split the log sent it to the
    wrong partition. The engine is left unfinished (its instant half done)."""


class Contact:
    __slots__ = ("id", "attrs", "events", "order", "watch", "sees", "triggers")

    def __init__(self, cid: str, attrs_: dict, order: int, sees: "frozenset | _Every" = frozenset()):
        self.id = cid
        self.attrs = attrs_
        self.events: dict[str, list] = {}
        self.order = order
        # `evaluate on event` workflows that must look at this contact at its
        # next event of any type (a goal lost to another at one instant).
        self.watch: Optional[set] = None
        # The event types recorded for this contact (and, when the engine or
        # an action emits one, made at all): Engine._set_watch's rule (a
        # new contact is not watched: the engine's live types).
        self.sees = sees
        # `trigger.FIELD`: per workflow name, (time, type, fields) of the
        # event that started the contact's latest enrollment there.
        self.triggers: Optional[dict[str, tuple[int, str, dict]]] = None


@attrs.frozen
class ActionRequest:
    """What a host's action handler receives. ``id`` is deterministic (from
    contact, workflow, enrollment, step or goal and instant): use it as an
    idempotency key when delivering."""
    id: str
    action: str
    args: dict
    contact: str
    workflow: str
    time: int
    step: Optional[str] = None
    goal: Optional[str] = None


class Enrollment:
    __slots__ = ("contact", "seq", "number", "since", "pc", "top", "block", "due", "achieved", "alive", "goal_at",
                 "skipped", "key")  # key: with order keys only (set by Engine._enroll), its `enrolled` entry's

    def __init__(self, contact: Contact, seq: int, number: int, since: int):
        self.contact = contact
        self.seq = seq  # enrollment order within the workflow
        self.number = number  # how many times this contact has enrolled here
        self.since = since
        self.pc = 0
        self.top = -1
        self.block = 0
        self.due: Optional[int] = None
        self.achieved: set[str] = set()
        self.alive = True
        self.goal_at: Optional[int] = None  # the instant of the latest achievement
        # Top-level steps jumped over (`skip to`, a goal step achieved from an
        # earlier step): [first, last] pairs, numbered from 1, for the funnel.
        self.skipped: Optional[list] = None


class _Every:
    """Every event type (``Contact.sees`` of a watched contact: each of its
    events must wake the workflows watching it)."""
    __slots__ = ()

    def __contains__(self, typ: object) -> bool:
        return True


EVERY = _Every()


class _WState:
    """A workflow's run-time state."""

    def __init__(self, cw: CWorkflow):
        self.cw = cw
        # The agenda: a heap of the instants at which something is due, and
        # per instant the (sequence number, contact id) pairs in the order
        # they were scheduled. Popping an instant takes its whole list.
        self.agenda: list[int] = []
        self.due: dict[int, list[tuple[int, str]]] = {}
        self.enrolled: dict[str, Enrollment] = {}
        self.counts: dict[str, int] = {}  # enrollments per contact, ever
        # `allow reentry after D`: the instant each contact's latest enrollment began.
        self.began: dict[str, int] = {}
        self.spent: set[str] = set()
        self.pending: deque = deque()  # trigger events: (time, contact id, type, fields)
        self.paused = False
        self.last_acted: Optional[int] = None
        self.activation: Optional[int] = None
        self.activated = False
        self.seq = 0
        self.schedule: Callable[[str, int], None]  # Engine._scheduler's, set by the engine
        self.act: Callable[[Enrollment, int, bool], None]  # _stepper's, set by the engine
        # Asked at every wake: decided once.
        self.perpetual_audience = cw.audience is not None and cw.wf.once_at is None
        self.every = cw.every
        self.epoch_ticks = bool(cw.every) and cw.wf.tick_time is None  # ticks are multiples of `every`
        # What acting reads of the plan for each contact, as plain attributes.
        self.name = cw.name
        self.once_at = cw.wf.once_at
        self.exit_on_audience = cw.wf.exit_on_audience
        self.goals = tuple(cw.step_goals) + tuple(cw.exit_goals)  # as first_goal numbers them
        self.first_goal = cw.first_goal
        self.code = cw.code
        self.tz = cw.tz


class Engine:
    """Runs a plan. Feed contacts and time-ordered events, then advance the clock.

    >>> eng = Engine(plan, start=t0)            # doctest: +SKIP
    >>> eng.add_contact({"id": "c1", "tags": ["vip"]})
    >>> eng.add_event(t1, "c1", "page.visited", {"url": "/pricing"})
    >>> eng.run_until(t2)
    >>> eng.activity  # the activity stream, as dicts
    """

    def __init__(self, plan: Plan, *, start: int, handlers: dict[str, Callable[[ActionRequest], Any]] | None = None,
                 on_activity: Callable[[dict], None] | None = None, exhaustive: bool = False,
                 on_instant: Callable[[int], None] | None = None, paused: Iterable[str] = (),
                 keep_history: bool = True, order_keys: bool = False):
        _check_time("Engine", "start", start)
        for name, fn in (handlers or {}).items():
            if name not in plan.program.actions:
                from ..syntax.diagnostics import closest
                best = closest(str(name), sorted(plan.program.actions))
                raise refuse("Engine", f'handlers: there is no action "{name}"'
                             + (f' (did you mean "{best}"?)' if best else "") + "; a handler is keyed by an action's name")
            if not callable(fn):
                raise refuse("Engine", f'handlers: the handler for "{name}" is not callable')
        # keep_history=False (a long backtest): a contact's history is the
        # lean one of the plan's counts (compiler.Atoms): per count's type and
        # filter, the times of the latest matching events it can tell apart,
        # or the fields its filter reads inside its longest window; memory
        # then depends on contacts and on what the counts can still see, not
        # on the length of the log.
        self.lean = not keep_history
        if self.lean:
            plan = plan.lean()
        self.plan = plan
        self.start = start
        self.now: Optional[int] = None  # the last instant fully processed
        self.handlers = dict(handlers or {})
        self.on_activity = on_activity
        self.on_instant = on_instant  # called after each instant's work (a commit point)
        self.touched: Optional[set] = None  # when a set: (workflow, contact) pairs acted on are added
        self.exhaustive = exhaustive
        self.activity: list[dict] = []
        # Actions whose handler has not returned yet, in the order they ran:
        # handlers are called after each instant's work, so a failing one
        # leaves the engine whole, and it is called again at the next
        # run_until (at least once, as DurableRun delivers its outbox).
        self._undelivered: deque = deque()  # [ActionRequest, attempts]
        self._stopped: Optional[str] = None  # why the engine cannot go on, once it cannot
        self._validator: Optional[EventValidator] = None
        self.contacts: dict[str, Contact] = {}
        # One partition's engine (``PartitionRun``): whether a contact that an
        # event brings, with no record here, is this partition's. Checked as
        # each such contact is created (once per contact, not per event).
        self.owns: Optional[Callable[[str], bool]] = None
        self._queue: deque = deque()  # input events not yet ingested: (time, cid, type, fields)
        self._ws = [_WState(cw) for cw in plan.workflows]
        for w in self._ws:
            w.schedule = self._scheduler(w)
        self._on_event = [w for w in self._ws if not w.cw.every]  # `evaluate on event` workflows
        # The agendas of the workflows acting, once every one is activated (or
        # never will be) and not exhaustive: _next_workflow_instant's; None
        # when it is to be worked out again.
        self._agendas: Optional[tuple] = None
        # order_keys=True (one partition of a run split by contact, docs/scale.md):
        # ``keys`` holds, beside each entry of ``activity``, its place in the
        # order a run over every contact writes the entries (``order_key``).
        self.keys: Optional[list] = [] if order_keys else None
        self._prepare(plan, start, exhaustive, frozenset(paused))
        self._calls: dict[int, tuple] = {}  # id(ir.Call) -> what running it needs (_compiled_call)
        for w in self._ws:
            w.act = _stepper(self, w)
        self._heap_seq = itertools.count()
        self._instant: Optional[int] = None
        self._woken = False  # something was scheduled at the current instant
        self._soonest: Optional[int] = None  # the earliest instant scheduled at the current instant
        # Whose turn it is at the current instant: the round (0 = the first)
        # and the index of the workflow acting (-1 while events are ingested).
        self._round = 0
        self._turn = -1
        self.new_workflows: tuple[str, ...] = ()  # after restore(): workflows the snapshot did not have
        # What is being done, the middle of a key: the phase and whose turn it is.
        self._phase = 0
        self._whose: bytes = NONE  # (keys are bytes: runtime/order.py)
        self._n = 0  # entries and events written in this context so far
        self._cause: Any = NONE  # what caused the event being recorded: a key, or an input event (time first, seq last)
        self._key_t: Optional[int] = None  # the instant of the last key made, and its bytes
        self._key_tb = b""
        self._key_head: Optional[bytes] = None  # its first parts (instant, round, turn): None once one changed
        self._ranks: dict[str, bytes] = {}  # contact -> whose turn its audience match is (its place in the contact order)

    def _prepare(self, plan: Plan, start: int, exhaustive: bool, paused: frozenset) -> None:
        """Each workflow's first activation and pause, and per event type what
        recording an event of it does (built once, not per event)."""
        # Per event type: the workflows that care, and how.
        self._targets: dict[str, list[tuple]] = {}
        atoms = plan.atoms.by_type if plan.atoms is not None else {}
        state_events = plan.effects.state_events
        for w in self._ws:
            cw = w.cw
            aud = cw.audience_relevant if w.perpetual_audience else frozenset()
            types = set(cw.relevant) | set(aud) | set(cw.trigger_types) | set(cw.windows)
            # An `evaluate on event` workflow acts at every event of a contact.
            # That can matter beyond the relevant types only when an event
            # left a `within` window since the last look.
            every_type = exhaustive or (not cw.every and bool(cw.windows))
            if every_type:
                types |= set(plan.program.events)
            for t in sorted(types):
                # Lean history: an event of a type only counted (not a trigger,
                # no effect on the contact) that no count's filter matches
                # changes nothing a condition reads: it wakes no one.
                gated = t in atoms and t not in state_events and not every_type and t not in cw.trigger_types
                self._targets.setdefault(t, []).append(
                    (w, t in cw.trigger_types, every_type or t in cw.relevant,
                     (every_type and w.perpetual_audience) or t in aud,
                     cw.windows.get(t) if cw.every else None, gated))
            if cw.wf.once_at is not None:
                w.activation = self._align(w, cw.wf.once_at) if cw.wf.once_at >= start else None
            else:
                w.activation = self._align(w, start)
            w.paused = cw.name in paused
        # Per event type, what recording one does (built once, not per event):
        # whether the full history keeps it; the lean history's counts of the
        # type, ((key, match, keep), ...) and ((key, fields, back), ...); its
        # effect on the contact; the workflows it wakes.
        self._types: dict[str, tuple] = {}
        effects = plan.effects.by_type  # compiled from the events' declarations
        for t in plan.program.events:
            static = tuple((a.key, a.match, a.keep) for a in atoms.get(t, ()) if a.static)
            dynamic = tuple((a.key, a.fields, a.back) for a in atoms.get(t, ()) if not a.static)
            self._types[t] = (not self.lean, static, dynamic, effects.get(t), tuple(self._targets.get(t, ())))
        # The types whose events change something when recorded (history, the
        # contact, a workflow); an event of another type matters only to a
        # contact watched by an `evaluate on event` workflow.
        self._live = frozenset(t for t, (full, static, dynamic, effect, targets) in self._types.items()
                               if full or static or dynamic or effect is not None or targets)
        # Per event type, recording one as generated code (_recorder): what
        # the tuple above says, written out with its constants; and for a
        # lean history, putting an event into it alone (restoring a full
        # snapshot into a lean engine).
        self._recorders: dict[str, Callable] = {}
        self._now_recorders: dict[str, Callable] = {}  # the same, at the current instant (acting: no argument)
        self._lean_recorders: dict[str, Callable] = {}
        for t, kind in self._types.items():
            self._recorders[t], self._now_recorders[t], self._lean_recorders[t] = _recorder(self, t, kind)

    # ---------------------------------------------------------------- feeding

    def add_contact(self, record: dict) -> Contact:
        """Add a contact's record, checked as a line of a contacts file is
        (raises ``InputError``): an ``"id"`` (text), ``tags`` and ``lists``
        lists of texts, values a JSON file could hold. The engine keeps a copy.
        A contact is added once: one it already knows (added before, or
        created by an event) is an error; send a ``contact.updated`` event to
        change its attributes."""
        self._check_going()
        if not isinstance(record, dict):
            raise refuse("add_contact", f'a contact is a dict with an "id", not {wrong_value(record)}')
        problem = _values("a contact's attributes", record)
        if problem:
            raise refuse("add_contact", problem)
        record = copy_value(record)
        bad = check_contact(record)  # as a line of a contacts file: the id made text, null tags dropped
        if bad:
            raise refuse("add_contact", bad[1])
        cid = record["id"]
        if cid in self.contacts:
            raise refuse("add_contact", f'contact "{cid}" is already known (added before, or created by one of its '
                                        f"events); send a contact.updated event to change its attributes")
        return self.add_contact_unchecked(record)

    def add_contact_unchecked(self, record: dict, rank: Optional[int] = None) -> Contact:
        """``add_contact`` for a record the input readers have checked
        (``read_inputs``, ``goal run``, a state file): no checks, no copy.
        A known contact's record is updated with it. With ``order_keys``,
        ``rank`` is the record's place in the whole contacts file."""
        cid = str(record["id"])
        c = self.contacts.get(cid)
        if c is None:
            if self.keys is not None:
                # Contacts of the file first, in its order; then those first seen in events, by that event.
                self._ranks[cid] = rank_key(rank) if rank is not None else pair_key(0, caused_key(self._cause))
            c = self.contacts[cid] = Contact(cid, self.plan.effects.new_record(record), len(self.contacts), self._live)
            self._new_contact(c)
        else:
            c.attrs.update(record)
        return c

    def add_event(self, time: int, contact: str, type: str, fields: dict | None = None) -> bool:
        """Queue an input event, checked as a line of an events file is
        (raises ``InputError``): ``time`` an integer (``parse_time``
        converts text), a declared event type, its fields present and of
        their declared types. The engine keeps a copy of ``fields``.

        Events must come in time order. An event at or before an instant
        already processed is *late*: it is recorded as history (it counts in
        later evaluations) but nothing acts on it. Returns False for a late
        event."""
        self._check_going()
        if self._validator is None:
            self._validator = EventValidator(self.plan.program.events)
        res = self._validator.check_call(time, contact, type, fields)
        if isinstance(res, str):
            raise refuse("add_event", res)
        return self.add_event_unchecked(*res)

    def add_event_unchecked(self, time: int, contact: str, type: str, fields: dict, seq: Optional[int] = None) -> bool:
        """``add_event`` for an event the input readers have checked: no
        checks, no copy (the hot path of ``goal run``). With ``order_keys``,
        ``seq`` is the event's place in the whole log (events are fed in
        (time, seq) order)."""
        if time < self.start or (self.now is not None and time <= self.now):
            if self.keys is not None:
                self._cause = (time, seq)
            self._record(self._contact(contact), time, type, fields, acting=False)
            return time < self.start
        if self._queue and time < self._queue[-1][0]:
            raise refuse("add_event", f"events must be added in time order: {format_utc(time)} comes before "
                                      f"{format_utc(self._queue[-1][0])}, added already")
        if self.keys is None:
            self._queue.append((time, contact, type, fields))
        else:
            self._queue.append((time, contact, type, fields, seq))
        return True

    def add_events_unchecked(self, events: Iterable[tuple[int, str, str, dict]], ordered: bool = False) -> None:
        """Queue events the input readers have checked (time, contact, type,
        fields), in any order, also before events already queued: they are
        merged in time order, stably (at one time the ones queued earlier
        first, then these in the order given). Late events are recorded as
        ``add_event`` does. For a state file's new events, and the partition
        kernel's pieces. ``ordered``: the caller knows them to be in time
        order (they are not looked through again)."""
        events = events if isinstance(events, list) else list(events)
        if not events:
            return
        late = self.start - 1 if self.now is None else max(self.start - 1, self.now)
        if ordered and events[0][0] > late:  # the usual case: a piece of a log in time order, none late
            acting = events
        elif min(times := list(map(_time, events))) > late:  # none late
            acting = events if in_time_order(times) else sorted(events, key=_time)
        else:
            acting = []
            for ev in events:
                t = ev[0]
                if t <= late:
                    self._record(self._contact(ev[1]), t, ev[2], ev[3], False)
                else:
                    acting.append(ev)
            acting.sort(key=_time)
        q = self._queue
        if q and acting and acting[0][0] < q[-1][0]:
            merged = list(q) + acting
            merged.sort(key=_time)
            self._queue = deque(merged)
        else:
            q.extend(acting)

    def set_paused(self, workflow: str, paused: bool) -> bool:
        """A paused workflow does not act; its contacts keep their places.
        Trigger events that arrive while it is paused do not enroll anyone.
        Returns whether that changed anything."""
        for w in self._ws:
            if w.name == workflow:
                if w.paused == paused:
                    return False
                w.paused = paused
                self._agendas = None
                if not paused and w.agenda and self.now is not None:
                    # Waits that came due during the pause end at the next acting instant.
                    nxt = self.now + 1
                    first = self._align(w, nxt)
                    due: dict[int, list] = {}
                    for at in w.agenda:
                        due.setdefault(max(at, first), []).extend(w.due[at])
                    for entries in due.values():
                        entries.sort()  # by sequence number: the order they were scheduled in
                    w.due = due
                    w.agenda = sorted(due)
                return True
        raise self._no_workflow("set_paused", workflow)

    # ---------------------------------------------------------------- clock

    def run(self) -> Optional[int]:
        """Run to the end of the log: every queued event and everything due
        up to the last of them, as ``goal run`` does without ``--until``.
        Returns that instant (``now`` when nothing is queued)."""
        self._check_going()
        if not self._queue:
            self._deliver()
            return self.now
        end = self._queue[-1][0]
        self.run_until(end)
        return end

    def run_until(self, until: int) -> None:
        """Process every instant up to and including ``until``; it may not be
        before the engine's clock (``InputError``). First the actions whose
        handler failed are delivered again (``EngineError`` if one fails
        again: the clock has not moved)."""
        self._check_going()
        _check_time("run_until", "the time", until)
        if until < (self.start if self.now is None else self.now):
            raise refuse("run_until", f"{format_utc(until)} is before the engine's clock, which stands at "
                                      f"{format_utc(self.now if self.now is not None else self.start)} "
                                      f"({'now' if self.now is not None else 'start'}); the clock only moves forward")
        self._deliver()
        try:
            self._run_until(until)
        except BaseException as e:
            if self._instant is not None:  # it escaped from inside an instant, whose work is half done
                self._stopped = str(e) if isinstance(e, EngineError) else f"{type(e).__name__}: {e}"
            raise

    # Over 80 lines on purpose: the engine's event loop (every input event of
    # a run passes through it), one function so that its names stay local; its
    # per-event loop is written twice, with and without order keys, so that
    # one process does no key work per event.
    def _run_until(self, until: int) -> None:
        q = self._queue
        contacts = self.contacts
        record = self._record
        recorders = self._now_recorders
        live = self._live
        popleft = q.popleft
        told = self.on_instant is not None  # a host is told of every instant
        wn = self._next_workflow_instant()
        while True:
            t = q[0][0] if q else None
            if t is not None and t <= until and (wn is None or t <= wn):
                self._instant = t
                self._woken = False
                self._soonest = None
                # Instants of input events alone run on (nothing woke, no
                # workflow is due, no host is told) up to the first event at or
                # past ``bound``: the next workflow instant, or past ``until``,
                # or, for a host told of every instant, any later instant; a
                # workflow scheduled meanwhile lowers it (_scheduler: ``_soonest``,
                # the current instant itself when something woke). Between two
                # instants only what the end of the outer loop would do is done
                # (the clock, the next workflow instant; recording delivers no
                # action and writes no entry, so takes no key).
                bound = t + 1 if told else until + 1 if wn is None or wn > until else wn
                if self.keys is None:
                    while q:  # the events, in the log's order
                        at, cid, typ, fields = popleft()
                        if at != t:  # the first event of a later instant
                            s = self._soonest
                            if s is not None:
                                self._soonest = None
                                if wn is None or s < wn:
                                    wn = s
                                    if s < bound:
                                        bound = s
                            if at >= bound:
                                q.appendleft((at, cid, typ, fields))  # for the next turn of the outer loop
                                break
                            self.now = t
                            self._instant = t = at
                        c = contacts.get(cid)
                        if c is None:
                            c = self._contact(cid)
                        if typ in live:
                            recorders[typ](c, t, fields)
                        elif typ in c.sees:  # (a watched contact's)
                            record(c, t, typ, fields, True)
                else:  # order keys: each event's place in the whole log is its cause
                    # (the loop above again, apart so that one process does no key work per event)
                    while q:
                        ev = popleft()
                        at, cid, typ, fields, _ = ev
                        if at != t:
                            s = self._soonest
                            if s is not None:
                                self._soonest = None
                                if wn is None or s < wn:
                                    wn = s
                                    if s < bound:
                                        bound = s
                            if at >= bound:
                                q.appendleft(ev)
                                break
                            self.now = t
                            self._instant = t = at
                        self._cause = ev  # (the event itself, not its key: cause_key)
                        c = contacts.get(cid)
                        if c is None:
                            c = self._contact(cid)
                        if typ in live:
                            recorders[typ](c, t, fields)
                        elif typ in c.sees:  # (a watched contact's)
                            record(c, t, typ, fields, True)
                acted = self._woken or (wn is not None and wn <= t)
                if acted:
                    self._act_instant(t)
            elif wn is not None and wn <= until:
                t = wn
                self._instant = t
                self._act_instant(t)
                acted = True
            else:
                break
            self._instant = None
            self.now = t
            if self.on_instant is not None:
                self.on_instant(t)
                acted = True  # the host may have changed anything (paused a workflow)
            if self._undelivered:
                self._deliver()
                acted = True
            # Only an instant's scheduling can bring the next workflow instant
            # forward when no workflow acted (see _scheduler).
            if acted:
                wn = self._next_workflow_instant()
            elif self._soonest is not None and (wn is None or self._soonest < wn):
                wn = self._soonest
        if self.now is None or until > self.now:
            self.now = until

    @property
    def undelivered(self) -> list[ActionRequest]:
        """The actions whose handler has not returned (one failed), in order;
        the next ``run_until`` or ``run`` calls their handlers again first."""
        return [r for r, _ in self._undelivered]

    def _deliver(self) -> None:
        q = self._undelivered
        while q:
            item = q[0]
            req = item[0]
            item[1] += 1
            try:
                self.handlers[req.action](req)
            except Exception as exc:  # a host's handler failed: stop, and call it again next time
                tries = f", attempt {item[1]}" if item[1] > 1 else ""
                raise EngineError(f"the handler for {req.action} failed for contact {req.contact} in "
                                  f'"{req.workflow}" (action {req.id}{tries}): {exc}; the engine is whole: the '
                                  f"next run_until or run calls it again") from exc
            q.popleft()

    def _check_going(self) -> None:
        if self._stopped is not None:
            raise EngineError(f"this engine stopped at {format_utc(self._instant) if self._instant is not None else 'an instant'}"
                              f" ({self._stopped}) and cannot go on: its state is that of an unfinished instant; "
                              f"build a new engine")

    def _next_workflow_instant(self) -> Optional[int]:
        agendas = self._agendas
        if agendas is not None:  # every workflow acting is activated: the first of their agendas
            best = None
            for agenda in agendas:
                if agenda:
                    a = agenda[0]
                    if best is None or a < best:
                        best = a
            return best
        best = None
        exhaustive = self.exhaustive
        settled = not exhaustive  # nothing but the agendas of the workflows acting to look at, from now on
        for w in self._ws:
            if w.paused:
                continue
            if not w.activated:
                a = w.activation
                if a is not None:
                    settled = False
                    if best is None or a < best:
                        best = a
                continue
            agenda = w.agenda
            if agenda:
                a = agenda[0]
                if best is None or a < best:
                    best = a
            if exhaustive and w.cw.every:
                a = w.cw.tick(w.last_acted + 1)
                if best is None or a < best:
                    best = a
        if settled:  # kept until a workflow is paused or resumed, or a snapshot loaded (they set it to None)
            self._agendas = tuple(w.agenda for w in self._ws if w.activated and not w.paused)
        return best

    def _act_instant(self, t: int) -> None:
        due = self._due
        exhaustive = self.exhaustive
        try:
            for rnd in range(MAX_ROUNDS):
                self._round = rnd
                self._key_head = None
                did = False
                for w in self._ws:
                    if w.paused:
                        continue
                    if w.activated:  # as _due decides, inline
                        a = w.agenda
                        if not ((a and a[0] <= t) or (exhaustive and due(w, t))):
                            continue
                    elif w.activation != t:
                        continue
                    self._turn = w.cw.index
                    self._key_head = None
                    self._act(w, t)
                    did = True
                if not did:
                    return
                for w in self._on_event:  # another round when one is due again (_due, inline: no ticks)
                    if not w.paused and (w.activation == t if not w.activated else (w.agenda and w.agenda[0] <= t)):
                        break
                else:
                    return
        finally:
            self._round, self._turn = 0, -1
            self._key_head = None
        raise EngineError(f"at {format_utc(t)} workflows kept acting on each other's events for {MAX_ROUNDS} rounds",
                          t)

    def _due(self, w: _WState, t: int) -> bool:
        if w.paused:
            return False
        if not w.activated:
            return w.activation == t
        if w.agenda and w.agenda[0] <= t:
            return True
        return self.exhaustive and w.cw.every is not None and w.cw.tick(t) == t and w.last_acted != t

    def _align(self, w: _WState, t: int) -> int:
        return w.cw.tick(t) if w.cw.every else t

    def _scheduler(self, w: _WState) -> Callable[[str, int], None]:
        """``w``'s scheduling, as a function ``(contact id, instant)`` bound
        to ``w`` and its kind of ticks (made once: the recorders and the
        waits call it, about once per event). A tick workflow is looked at
        at its first tick at or after the instant, never at or before the
        tick it last acted at, and, at the current instant, only while its
        turn is still to come (a tick workflow acts once per tick, in the
        first round, in source order). The agenda: per instant, the
        (sequence number, contact id) pairs in the order they were
        scheduled; the event loop's bound (``_soonest``) is lowered. Written
        once as text (``_SCHEDULE``), per kind of ticks one generated
        function: the three kinds share their agenda part without a call."""
        kind = "epoch" if w.every and w.epoch_ticks else "ticks" if w.every else "event"
        make = _SCHEDULERS.get(kind)
        if make is None:
            ns: dict[str, Any] = {}
            src = _SCHEDULE[kind]
            exec(compiled(src, f"<goal scheduler {kind}>"), ns)  # compiled once per machine (syntax/codecache.py)
            make = _SCHEDULERS[kind] = ns["make"]
        return make(self, w, w.every, w.cw.index, w.cw.tick, heapq.heappush)

    # ---------------------------------------------------------------- events

    def _new_contact(self, c: Contact) -> None:
        """A contact first seen after a perpetual audience was evaluated for
        everyone: look at it at the next acting instant (an `evaluate on
        event` workflow: at the event that brought it, if one does)."""
        at = self._instant if self._instant is not None else (None if self.now is None else self.now + 1)
        if at is None:
            return
        for w in self._ws:
            if w.activated and w.perpetual_audience and (w.cw.every or (self._instant is not None and not w.paused)):
                w.schedule(c.id, at)

    def _contact(self, cid: str) -> Contact:
        c = self.contacts.get(cid)
        if c is None:
            if self.owns is not None and not self.owns(cid):
                raise ForeignContact(cid)
            c = self.add_contact_unchecked({"id": cid})
        return c

    def _record(self, c: Contact, t: int, typ: str, fields: dict, acting: bool) -> None:
        """Record an event of ``c`` (``acting``: at the current instant, so it
        may wake workflows; else a late one): its type's generated recorder."""
        rec = self._recorders.get(typ)
        if rec is None:  # not a declared type (a snapshot may hold one): only kept, in a full history
            self._types[typ] = kind = (not self.lean, (), (), None, ())
            rec, self._now_recorders[typ], _ = _recorder(self, typ, kind)
            self._recorders[typ] = rec
        rec(c, t, fields, acting)

    def _set_watch(self, c: Contact, watch: Optional[set]) -> None:
        """``c`` is watched by the `evaluate on event` workflows in ``watch``
        (none: None or empty), and this alone decides which of its events
        are recorded, and of the events the engine and its actions emit for
        it, made at all (``c.sees``): those of the types something sees
        (``_live``: the history, the contact, a workflow), or, while
        watched, every one (its next event of any type wakes the watchers)."""
        c.watch = watch or None
        c.sees = EVERY if watch else self._live

    def _unwatch(self, c: Contact, w: _WState) -> None:
        c.watch.discard(w)
        self._set_watch(c, c.watch)

    def _emit(self, c: Contact, t: int, typ: str, fields: dict) -> None:
        """An event the engine or an action emits for ``c``: the caller asks
        ``typ in c.sees`` first (and makes ``fields`` only when it is)."""
        if self.keys is not None:
            # Only an event recorded takes a key (its cause's place): whether it is
            # recorded is decided by the program and its contact alone, so the keys
            # of a contact's entries keep their order in every partition.
            self._cause = self._next_key(t)
        self._record(c, t, typ, fields, True)

    # ---------------------------------------------------------------- acting

    def _act(self, w: _WState, t: int) -> None:
        cw = w.cw
        activation = not w.activated
        if activation:
            w.activated = True
        w.last_acted = t
        agenda = w.agenda
        if agenda and agenda[0] <= t:
            entries = w.due.pop(heapq.heappop(agenda))
            while agenda and agenda[0] <= t:
                entries = entries + w.due.pop(heapq.heappop(agenda))
            if len(entries) == 1:  # one contact (no dict to make)
                woken: Iterable[str] = (entries[0][1],)
            else:
                woken = dict.fromkeys(map(_SECOND, entries))  # in the order scheduled, each once
        else:
            woken = ()
        if self.exhaustive and cw.every:
            woken = dict.fromkeys(self.contacts)
        enrolled = w.enrolled
        fresh: list[Enrollment] = []
        # 1. enrollment: audience matches in contact order, then triggers in event order
        if cw.audience is not None and (activation or w.perpetual_audience):
            contacts = self.contacts
            if activation:
                cands = sorted(contacts.values(), key=_by_order)
            else:
                cands = [contacts[x] for x in woken if x not in enrolled and x in contacts]
                if len(cands) > 1:
                    cands.sort(key=_by_order)
            audience, spent = cw.audience, w.spent
            for c in cands:
                if c.id in enrolled:
                    continue
                m = audience(c, t, None, None)
                if c.id in spent:
                    if not m:
                        spent.discard(c.id)
                    continue
                if m:
                    if self.keys is not None:
                        self._phase, self._whose, self._n = 0, self._ranks[c.id], 0
                    if self._passed_over(w, c, t):
                        spent.add(c.id)  # as if it had enrolled and left at once by the goal
                    else:
                        fresh.append(self._enroll(w, c, t))
        if w.pending and w.pending[0][0] <= t:
            self._triggered(w, t, fresh)
        # 2-3. goal check and advance, in enrollment order
        if fresh and len(fresh) == 1 and len(woken) == 1 and enrolled.get(next(iter(woken))) in (None, fresh[0]):
            todo = fresh  # one contact, enrolled now (an `evaluate on event` workflow's trigger: no sets to make)
            fresh_ids = (fresh[0].seq,)
        elif fresh:
            fresh_ids = {e.seq for e in fresh}
            by_seq = {e.seq: e for e in fresh}
            for cid in woken:
                e = enrolled.get(cid)
                if e is not None:
                    by_seq[e.seq] = e
            todo = [by_seq[k] for k in sorted(by_seq)]
        else:
            fresh_ids = ()
            todo = list(filter(None, map(enrolled.get, woken)))  # the enrolled (an Enrollment is true)
            if len(todo) > 1:
                todo.sort(key=_by_seq)
        if self.touched is not None:  # a persisting host wants to know whose places may change
            self.touched.update((w.name, e.contact.id) for e in todo)
        act = w.act
        keyed = self.keys is not None
        for e in todo:
            if e.alive:
                if keyed:
                    self._phase, self._whose, self._n = 1, e.key, 0
                act(e, t, e.seq in fresh_ids)

    def _triggered(self, w: _WState, t: int, fresh: list) -> None:
        """Enroll the contacts whose trigger events (up to ``t``) match, in event order."""
        cw = w.cw
        passed: set[str] = set()
        after = cw.wf.reentry_after
        while w.pending and w.pending[0][0] <= t:
            p = w.pending.popleft()
            cid, typ, fields = p[1], p[2], p[3]
            c = self.contacts[cid]
            if cid in w.enrolled or (w.counts.get(cid) and not cw.wf.reentry):
                continue
            if after is not None and cid in w.began and t < add_duration(w.began[cid], after, cw.tz):
                continue  # the quiet period since its previous enrollment has not passed
            for ttype, flt in cw.triggers:
                if ttype == typ and (flt is None or flt(c, t, None, fields)):
                    if cid in passed:
                        break
                    if self.keys is not None:
                        self._phase, self._whose, self._n = 0, caused_key(p[4]), 0  # in the order of the events that enroll
                    before = self._keep_trigger(cw, c, (p[0], typ, fields)) if cw.keeps_trigger else None
                    if self._passed_over(w, c, t):
                        passed.add(cid)
                        if cw.keeps_trigger:  # not enrolled: the previous enrollment's event stays
                            self._keep_trigger(cw, c, before)
                    else:
                        fresh.append(self._enroll(w, c, t))
                    break

    @staticmethod
    def _keep_trigger(cw: CWorkflow, c: Contact, event: Optional[tuple]) -> Optional[tuple]:
        """`trigger.FIELD` reads ``event`` (time, type, fields) for ``c`` in
        ``cw`` from now on (the goal check before enrolling too); returns
        the one it replaces. None forgets it."""
        kept = c.triggers
        before = kept.get(cw.name) if kept else None
        if event is not None:
            if kept is None:
                kept = c.triggers = {}
            kept[cw.name] = event
        elif kept:
            kept.pop(cw.name, None)
            if not kept:
                c.triggers = None
        return before

    def _passed_over(self, w: _WState, c: Contact, t: int) -> bool:
        """`skip enrollment if goal met`: a contact that would enroll at ``t``
        while an exit goal already holds (as it would for an enrollment
        beginning at ``t``) is not enrolled; the stream says which goal."""
        if not w.cw.wf.skip_if_goal_met:
            return False
        for g in w.cw.exit_goals:
            if g.cond(c, t, t, None):
                self._write({"time": t, "contact": c.id, "workflow": w.name, "type": "not_enrolled", "goal": g.name})
                return True
        return False

    def _enroll(self, w: _WState, c: Contact, t: int) -> Enrollment:
        w.seq += 1
        n = w.counts.get(c.id, 0) + 1
        w.counts[c.id] = n
        if w.cw.wf.reentry_after is not None:
            w.began[c.id] = t
        e = Enrollment(c, w.seq, n, t)
        w.enrolled[c.id] = e
        self._write({"time": t, "contact": c.id, "workflow": w.name, "type": "enrolled"})
        if self.keys is not None:
            e.key = self.keys[-1]
        if "workflow.enrolled" in c.sees:  # (no fields made for nothing)
            self._emit(c, t, "workflow.enrolled", {"workflow": w.name})
        return e

    def _exit(self, w: _WState, e: Enrollment, t: int, reason: str, goal: Optional[str] = None) -> None:
        e.alive = False
        w.enrolled.pop(e.contact.id, None)
        entry = {"time": t, "contact": e.contact.id, "workflow": w.name, "type": "exited", "reason": reason}
        if goal is not None:
            entry["goal"] = goal
        entry["at"] = e.top + 1
        skipped = _skipped(e)
        if skipped:
            entry["skipped"] = skipped
        self._write(entry)
        c = e.contact
        if "workflow.exited" in c.sees:
            self._emit(c, t, "workflow.exited", {"workflow": w.name, "reason": reason})
        if w.perpetual_audience and w.cw.audience(c, t, None, None):
            w.spent.add(c.id)
        if c.watch:
            self._unwatch(c, w)

    def _also_holding(self, w: _WState, e: Enrollment, g: CGoal, t: int) -> Optional[list]:
        """The listening goals after ``g`` (in the order they are checked)
        that held too at this instant: they lost to ``g`` by goal order."""
        also = None
        c, since, after = e.contact, e.since, False
        for x in w.cw.step_goals:
            if x is g:
                after = True
            elif after and _step_goal_listens(e, x) and x.cond(c, t, since, None):
                also = (also or []) + [x.name]
        for x in w.cw.exit_goals:
            if x is g:
                after = True
            elif after and x.cond(c, t, since, None):
                also = (also or []) + [x.name]
        return also

    def _achieve(self, w: _WState, e: Enrollment, g: CGoal, t: int, via: Optional[str] = None,
                 also: Optional[list] = None) -> None:
        c = e.contact
        e.achieved.add(g.name)
        e.goal_at = t
        entry = {"time": t, "contact": c.id, "workflow": w.name, "type": "goal_achieved", "goal": g.name,
                 "at": e.top + 1}
        if via is not None:
            entry["via"] = via
        if also:
            entry["also"] = also
        self._write(entry)
        if "goal.achieved" in c.sees:
            self._emit(c, t, "goal.achieved", {"goal": g.name, "workflow": w.name})
        k = 0
        for call in g.then:
            k += 1
            self._run_call(w, e, call, t, goal=g.name, index=k)
        for cond, calls, els in g.then_ifs:
            chosen = calls if cond(c, t, e.since, None) else (els or ())
            for call in chosen:
                k += 1
                self._run_call(w, e, call, t, goal=g.name, index=k)
        goal = g.goal
        if goal.is_step:
            if g.top > e.top + 1:  # jumped forward to the goal step
                _skip(e, e.top + 2, g.top)
            e.top = g.top
        if not goal.is_step or goal.on_achieved == "end":
            self._exit(w, e, t, "goal", g.name)
            return
        e.block, e.due = 0, None
        e.pc = g.target_pc if goal.on_achieved == "skip" else g.pc + 1
        if goal.on_achieved == "skip":
            nxt = self._top_at(w, e.pc)
            if nxt > g.top + 1:
                _skip(e, g.top + 2, nxt)
        # Another goal may have held and lost (first wins): look again at the
        # next acting instant, as evaluating at every one would.
        if w.cw.every:
            w.schedule(c.id, t + 1)
        else:
            watch = c.watch or set()
            watch.add(w)
            self._set_watch(c, watch)

    def _missed(self, w: _WState, e: Enrollment, g: CGoal, t: int, policy: str) -> None:
        """A goal step passed unmet (policy ``continue``) or left unmet (``end``)."""
        self._write({"time": t, "contact": e.contact.id, "workflow": w.name, "type": "goal_missed", "goal": g.name,
                     "policy": policy, "at": e.top + 1})
        if "goal.missed" in e.contact.sees:
            self._emit(e.contact, t, "goal.missed", {"goal": g.name, "workflow": w.name, "policy": policy})

    # ---------------------------------------------------------------- actions

    def _run_call(self, w: _WState, e: Enrollment, call: ir.Call, t: int, *, goal: str, index: int) -> None:
        """A goal's ``index``-th action (a step's action: _stepper's
        ``run_action``, with what this works out written in)."""
        self._run_action(w, e, self._compiled(call), t, None, goal, f"goal:{goal}#{index}")

    def _compiled(self, call: ir.Call) -> tuple:
        compiled = self._calls.get(id(call))
        if compiled is None:
            compiled = self._calls[id(call)] = self._compiled_call(call)
        return compiled

    def _run_action(self, w: _WState, e: Enrollment, compiled: tuple, t: int, step: Optional[str],
                    goal: Optional[str], where: str) -> None:
        """An action runs: ``compiled`` (_compiled_call) for a step's
        action (``step``: its name) or a goal's (``goal``); ``where``, what
        makes its id unique: a goal's actions by position, a step by its
        name or place."""
        c = e.contact
        action, consts, computed, rest_args, rest_name, made = compiled
        args = dict(consts)
        for name, v in computed:
            args[name] = arg_value(v, c)
        if rest_args is not None:
            rest = {name: arg_value(v, c) for name, v in rest_args}
            shown = dict(args)
            shown.update(rest)
        else:
            rest, shown = None, args  # (an action without ...rest: no emitted field reads it)
        entry: dict = {"time": t, "contact": c.id, "workflow": w.name, "type": "action", "action": action,
                       "args": shown}
        if step is not None:
            entry["step"] = step
        if goal is not None:
            entry["goal"] = goal
        rid = f"{c.id}/{w.name}/{e.number}/{where}/{t}"
        entry["id"] = rid
        self._write(entry)
        if action in self.handlers:  # delivered after the instant (without a handler: only recorded)
            self._undelivered.append([ActionRequest(rid, action, shown, c.id, w.name, t, step, goal), 0])
        for event, mapping in made[c.sees]:  # an event nothing would see is not made
            fields = {}
            skip = False
            for fname, kind, val, optional in mapping:
                if kind == "param":
                    v = rest if val == rest_name else args.get(val)
                elif kind == "const":
                    v = val
                elif kind == "workflow":
                    v = w.name
                else:
                    v = step
                if v is None or v == "":
                    if not optional:
                        skip = True
                    continue
                fields[fname] = v
            if not skip:
                self._emit(c, t, event, fields)

    def _compiled_call(self, call: ir.Call) -> tuple:
        """What running a call needs, worked out once: its constant
        arguments, the others, its ...rest arguments, and per event it
        emits the fields' sources with whether each is optional: per
        ``Contact.sees`` a contact can have (``_set_watch``), the events of
        the types it sees."""
        act = self.plan.program.actions[call.action]
        consts = {name: v.value for name, v in call.args if v.kind == "const"}
        computed = tuple((name, v) for name, v in call.args if v.kind != "const")
        if len(consts) + len(computed) != len(call.args) or list(consts) != [n for n, v in call.args][:len(consts)]:
            consts, computed = {}, tuple(call.args)  # arguments in their declared order, whatever their kinds
        emits = []
        for spec in act.emits:
            ev = self.plan.program.events.get(spec.event)
            emits.append((spec.event, tuple((fname, kind, val, ev is None or ev.fields[fname].optional)
                                            for fname, (kind, val) in spec.mapping)))
        made = {sees: tuple(x for x in emits if x[0] in sees) for sees in (self._live, EVERY)}
        return call.action, consts, computed, tuple(call.rest) if act.rest else None, act.rest, made

    def _write(self, entry: dict) -> None:
        """An entry of the activity stream: made whole by the caller, its
        ``time``, ``contact`` and ``workflow`` first (docs/spec.md section 8)."""
        self.activity.append(entry)
        if self.keys is not None:
            self.keys.append(self._next_key(entry["time"]))
        if self.on_activity is not None:
            self.on_activity(entry)

    def _next_key(self, t: int) -> bytes:
        """The next order key (``order_keys``): (instant, round, workflow,
        phase, whose turn, count). At one instant, rounds in order; in a
        round, workflows in source order; in a workflow's turn, enrollments
        first (phase 0: audience matches by contact order, then triggers by
        the order of the events that enroll), then the enrolled contacts
        (phase 1) in enrollment order, each enrollment by the key of its
        ``enrolled`` entry; then what one contact does, counted. An event an
        action emits gets a key of its own, after the entry that emitted it;
        an input event's key is (time, -1, seq). Every part is decided by
        the contact's own history, so keys written by engines over disjoint
        sets of contacts sort together into the order one engine over all
        of them writes. Made as bytes that sort as that tuple
        (``runtime/order.py``)."""
        self._n = n = self._n + 1
        head = self._key_head
        try:
            if head is None or t != self._key_t:
                if t != self._key_t:
                    self._key_t, self._key_tb = t, int_bytes(t)
                head = self._key_head = b"".join((b"\x03", self._key_tb, SMALL[self._round + 1], SMALL[self._turn + 1]))
            return b"".join((head, SMALL[self._phase + 1], self._whose, SMALL[n + 1], b"\x01"))
        except IndexError:  # (a part past the integers made once)
            return entry_head(t, self._round, self._turn) + int_bytes(self._phase) + self._whose + int_bytes(n) + b"\x01"

    @staticmethod
    def _top_at(w: _WState, pc: int) -> int:
        """The top-level step (from 0) of instruction ``pc``; past the end:
        the number of steps."""
        code = w.cw.code
        return code[pc].top if pc < len(code) else len(w.cw.wf.steps)

    # ---------------------------------------------------------------- state

    def snapshot(self) -> dict:
        """The engine's whole run-time state as plain data (dicts, lists,
        strings, numbers, booleans, None), in the versioned format of
        ``runtime/snapshot.py`` (docs/durability.md). It refers to the plan
        by workflow and goal names and instruction indexes only. Take it
        between instants (not from a handler or a callback of one)."""
        return msgspec.json.decode(self.dump())

    def dump(self) -> bytes:
        """``snapshot()`` as JSON bytes, without building the copy."""
        self._check_going()
        if self._instant is not None:
            raise EngineError("a snapshot can be taken only between instants, not while one is processed")
        n = next(self._heap_seq)  # reading a count takes its value: put it back
        self._heap_seq = itertools.count(n)
        data = {
            "format": fmt.FORMAT, "version": fmt.VERSION, "start": self.start, "now": self.now, "sequence": n,
            # The engine's own lists and dicts go in as they are: encoded at once, not copied.
            "contacts": [self._contact_data(c) for c in self.contacts.values()],
            "queue": list(self._queue),
            "workflows": [_workflow_data(w) for w in self._ws],
            "undelivered": [dict(attrs.asdict(r), attempts=n) for r, n in self._undelivered],
        }
        if self.lean:
            data["history"] = "lean"
            data["atoms"] = {a.key: {"static": a.static, "keep": a.keep, "back": a.back}
                             for a in self.plan.atoms.by_key.values()}
        return fmt.encode(data)

    def _contact_data(self, c: Contact) -> dict:
        """A contact in a snapshot (runtime/snapshot.py, SContact); a lean
        history's static counts under ``times``."""
        out = _contact_data(c, self._ws)
        if self.lean:
            atoms = self.plan.atoms.by_key
            out["events"] = {k: v for k, v in c.events.items() if not atoms[k].static}
            out["times"] = {k: v for k, v in c.events.items() if atoms[k].static}
        return out

    @classmethod
    def restore(cls, plan: Plan, data, **options) -> "Engine":
        """An engine for ``plan`` in the state a snapshot describes (plain
        data from ``snapshot()`` or the bytes of ``dump()``); ``options`` as
        for the constructor. The plan may be an edited one: workflows are
        matched by name; a workflow new in the plan acts from the next
        instant on (``runs once at`` an instant already past: never) and is
        named in ``new_workflows``; one gone from it may have no contacts
        enrolled; a workflow with enrolled contacts must have the same shape
        (steps) as in the snapshot. Raises ``SnapshotError`` (a ValueError)
        for anything wrong, saying what; the snapshot's data never runs."""
        snap = fmt.decode(data)
        eng = cls(plan, start=snap.start, **options)
        eng._load(snap)
        return eng

    def _load(self, snap: fmt.Snapshot) -> None:
        self.now = snap.now
        self._heap_seq = itertools.count(snap.sequence)
        history = self._history_loader(snap)
        for i, sc in enumerate(snap.contacts):
            if sc.id in self.contacts:
                raise fmt.SnapshotError(f'contact "{sc.id}" is in the snapshot twice')
            c = self.contacts[sc.id] = Contact(sc.id, sc.attributes, i, self._live)
            for typ, lst in sc.events.items():
                _check_order(lst, f'the events of contact "{sc.id}"')
            for key, times in sc.times.items():
                if any(times[k] < times[k - 1] for k in range(1, len(times))):
                    raise fmt.SnapshotError(f'the events of contact "{sc.id}" are not in time order')
            history(c, sc)
        _check_order(snap.queue, "the queued events")
        if snap.queue and self.now is not None and snap.queue[0][0] <= self.now:
            raise fmt.SnapshotError("a queued event is at or before the instant the snapshot was taken")
        self._queue = deque(snap.queue)
        by_name = {w.name: w for w in self._ws}
        seen: set[str] = set()
        for sw in snap.workflows:
            if sw.name in seen:
                raise fmt.SnapshotError(f'workflow "{sw.name}" is in the snapshot twice')
            seen.add(sw.name)
            w = by_name.get(sw.name)
            if w is None:
                if sw.enrolled:
                    raise fmt.SnapshotError(f'workflow "{sw.name}" is not in the program, but {len(sw.enrolled)} '
                                            f"contact(s) are enrolled in it")
                continue
            _load_workflow(w, sw, self.contacts)
        self._agendas = None  # (_next_workflow_instant: the workflows' agendas are new)
        for sc in snap.contacts:
            if sc.watch:
                # A workflow gone from the plan is no longer watched for.
                self._set_watch(self.contacts[sc.id], {by_name[n] for n in sc.watch if n in by_name})
            if sc.triggers:
                # Kept for the workflows still in the plan, if their type is still declared.
                for name, (t, typ, fields) in sc.triggers.items():
                    if typ not in self.plan.program.events:
                        raise fmt.SnapshotError(f'contact "{sc.id}" was enrolled in "{name}" by an event of type '
                                                f'"{typ}", which the program does not declare')
                kept = {n: tuple(v) for n, v in sc.triggers.items() if n in by_name}
                self.contacts[sc.id].triggers = kept or None
        new = [w for w in self._ws if w.name not in seen]
        for w in new:
            # A workflow added to a running state activates from now on.
            if self.now is not None and w.activation is not None and w.activation <= self.now:
                w.activation = None if w.cw.wf.once_at is not None else self._align(w, self.now + 1)
        self.new_workflows = tuple(w.name for w in new)
        # Kept for the actions this engine has a handler for (without one an action is only recorded).
        self._undelivered = deque([ActionRequest(r.id, r.action, r.args, r.contact, r.workflow, r.time, r.step, r.goal),
                                   r.attempts] for r in snap.undelivered if r.action in self.handlers)

    def _history_loader(self, snap: fmt.Snapshot) -> Callable[[Contact, fmt.SContact], None]:
        """How a snapshot's contact histories go into this engine: as they
        are (full into full, lean into the same lean history), or a full
        history recorded into a lean one. A lean snapshot keeps only what
        its counts read: it restores into a lean engine whose counts need no
        more than that, else ``SnapshotError``."""
        if snap.history == "full":
            if any(sc.times for sc in snap.contacts):
                raise fmt.SnapshotError("a full history holds no lean times")
            if not self.lean:
                def full(c: Contact, sc: fmt.SContact) -> None:
                    c.events = sc.events
                return full

            def record(c: Contact, sc: fmt.SContact) -> None:
                for typ, lst in sc.events.items():
                    remember = self._lean_recorders.get(typ)
                    if remember is not None:
                        for t, fields in lst:
                            remember(c, t, fields)
            return record
        if not self.lean:
            raise fmt.SnapshotError("a snapshot of a lean history (keep_history=False) keeps only what its counts "
                                    "read: restore it into an engine with keep_history=False")
        atoms = self.plan.atoms.by_key
        for key, a in atoms.items():
            had = snap.atoms.get(key)
            if had is None or had.static != a.static or (a.static and a.keep > had.keep) or (
                    not a.static and had.back is not None and (a.back is None or a.back > had.back)):
                raise fmt.SnapshotError(f'the lean history of the snapshot does not keep what the count "{key}" '
                                        f"of this program reads")

        def lean(c: Contact, sc: fmt.SContact) -> None:
            for key, lst in sc.events.items():
                a = atoms.get(key)
                if a is not None:
                    if a.static:
                        raise fmt.SnapshotError(f'contact "{c.id}": "{key}" holds events, not times')
                    c.events[key] = lst
            for key, times in sc.times.items():
                a = atoms.get(key)
                if a is not None:
                    if not a.static:
                        raise fmt.SnapshotError(f'contact "{c.id}": "{key}" holds times, not events')
                    if times:
                        c.events[key] = times[-a.keep:]
        return lean

    # ---------------------------------------------------------------- inspection

    def waiting_entries(self, keys: Optional[list] = None) -> list[dict]:
        """One ``waiting`` entry per enrollment still in a workflow, at the
        end of a run: where it waits (workflows in source order, contacts in
        enrollment order). ``goal run`` ends its stream with them so that a
        summary read from the stream knows where everyone is. With
        ``order_keys``, ``keys`` (a list) gets each entry's place in that
        order: (``order.WAITING``, workflow, the key of the enrollment), after
        every instant (``order.waiting_key``)."""
        out = []
        for w in self._ws:
            code = w.cw.code
            for e in sorted(w.enrolled.values(), key=_by_seq):
                if keys is not None:
                    keys.append(waiting_key(w.cw.index, e.key))
                entry = {"time": self.now, "contact": e.contact.id, "workflow": w.name, "type": "waiting",
                         "at": e.top + 1}
                if e.block == B_GOAL and e.pc < len(code):
                    entry["goal"] = code[e.pc].goal.name
                skipped = _skipped(e)
                if skipped:
                    entry["skipped"] = skipped
                out.append(entry)
        return out

    def enrollment(self, workflow: str, contact: str) -> Optional[Enrollment]:
        for w in self._ws:
            if w.name == workflow:
                return w.enrolled.get(contact)
        return None

    def activation(self, workflow: str) -> Optional[int]:
        """The instant at which a workflow will act for the first time, or
        None when it has acted already or never will (a ``runs once at``
        instant before the start, or passed before it was added)."""
        w = self._workflow("activation", workflow)
        return None if w.activated else w.activation

    def position(self, workflow: str, contact: str) -> Optional[Position]:
        """Where ``contact`` is in ``workflow`` now, or None when it is not
        enrolled there. A workflow not in the plan is an ``InputError``."""
        w = self._workflow("position", workflow)
        e = w.enrolled.get(contact)
        if e is None or not e.alive:
            return None
        return _position(w.cw, e)

    def _workflow(self, where: str, name: str) -> _WState:
        for w in self._ws:
            if w.name == name:
                return w
        raise self._no_workflow(where, name)

    def _no_workflow(self, where: str, name: str) -> Exception:
        from ..syntax.diagnostics import closest
        best = closest(str(name), [w.name for w in self._ws])
        return refuse(where, f'there is no workflow "{name}"' + (f' (did you mean "{best}"?)' if best else ""))


def _contact_data(c: Contact, ws: list) -> dict:
    """A contact in a snapshot (runtime/snapshot.py, SContact)."""
    out = {"id": c.id, "attributes": c.attrs, "events": c.events,
           "watch": [w.name for w in ws if w in c.watch] if c.watch else []}
    if c.triggers:  # kept only for workflows that read trigger.FIELD: other snapshots stay as they were
        out["triggers"] = c.triggers
    return out


@attrs.frozen
class Position:
    """An enrolled contact's place in a workflow (``Engine.position``): what
    the state file's ``positions`` table and ``goal explain`` show."""
    workflow: str
    contact: str
    enrollment: int  # how many times the contact has enrolled in this workflow
    since: int  # when this enrollment began
    step_index: Optional[int]  # the top-level step it is at, from 1 (None: past the last one)
    step: Optional[str]  # that step's name (`as NAME`; a goal step: the goal's name)
    instruction: Optional[Instruction]  # the instruction it is at (inside an `if`, the branch's)
    waiting: Optional[str]  # "wait", "goal" (an unmet goal step), "condition" (wait until), or None
    due: Optional[int]  # when that wait ends (a goal step or condition: its `up to` limit)
    resumes_at: Optional[int]  # a tick workflow: the tick at which it acts on ``due``
    achieved: frozenset  # the goals achieved in this enrollment
    at_goal: Optional[str]  # the goal step it waits at (waiting == "goal")
    listening: tuple  # the step goals that listen for it now, in order (exit goals always do)


def _position(cw: CWorkflow, e: Enrollment) -> Position:
    code = cw.code
    ins = code[e.pc] if e.pc < len(code) else None
    step_index = step = None
    if ins is not None:
        step_index = ins.top + 1
        st = cw.wf.steps[ins.top]
        step = ir.step_name(st)
    due = e.due
    resumes = cw.tick(due) if due is not None and cw.every else None
    at_goal = ins.goal.name if e.block == B_GOAL and type(ins) is GoalStep else None
    return Position(cw.name, e.contact.id, e.number, e.since, step_index, step, ins, WAITING.get(e.block), due,
                    resumes, frozenset(e.achieved), at_goal,
                    tuple(g.name for g in cw.step_goals if _step_goal_listens(e, g)))


def _step_goal_listens(e: Enrollment, g: CGoal) -> bool:
    """A goal step listens from enrollment until the contact is past it: when
    it is ahead, or the contact waits at it (unmet), unless already achieved."""
    return g.name not in e.achieved and (g.top > e.top or (e.block == B_GOAL and e.pc == g.pc))


def _check_time(where: str, what: str, t) -> None:
    if isinstance(t, bool) or not isinstance(t, int):
        hint = ": convert it with goaldsl.parse_time" if isinstance(t, str) else ""
        raise refuse(where, f"{what} must be an integer (seconds since 1970-01-01T00:00:00Z), not {wrong_value(t)}{hint}")
    if not MIN_EVENT_TIME <= t < MAX_EVENT_TIME:
        raise refuse(where, f"{what} {t} is out of range: it must fall between the years 1900 and 8999")


def _values(what: str, v) -> Optional[str]:
    problem = value_problem(v)
    return f"{what} {problem}" if problem else None


def _workflow_data(w: _WState) -> dict:
    return {
        "name": w.name, "shape": w.cw.shape, "paused": w.paused, "activated": w.activated,
        "activation": w.activation, "last_acted": w.last_acted, "sequence": w.seq,
        "agenda": [(at, w.due[at]) for at in sorted(w.agenda)],
        "enrolled": [{"contact": e.contact.id, "sequence": e.seq, "number": e.number, "since": e.since,
                      "pc": e.pc, "top": e.top, "waiting": WAITING.get(e.block), "due": e.due,
                      "achieved": sorted(e.achieved), "goal_at": e.goal_at, "skipped": _skipped(e)}
                     for e in w.enrolled.values()],
        "counts": w.counts, "began": w.began, "spent": sorted(w.spent), "pending": list(w.pending),
    }


# What an enrollment can wait for at each kind of instruction.
_BLOCKS = {Wait: B_WAIT, WaitTime: B_WAIT, WaitDate: B_WAIT, GoalStep: B_GOAL, WaitUntil: B_COND}


def _load_workflow(w: _WState, sw: fmt.SWorkflow, contacts: dict) -> None:
    """Put a snapshot's workflow state into ``w``, checking every place and
    reference against the plan (so that nothing stored can crash the run)."""
    cw = w.cw
    where = f'workflow "{cw.name}"'
    if sw.enrolled and sw.shape != cw.shape:
        raise fmt.SnapshotError(f"the steps of {where} are not the ones its {len(sw.enrolled)} enrolled contact(s) "
                                f"were placed in")
    w.paused, w.activated, w.activation = sw.paused, sw.activated, sw.activation
    w.last_acted, w.seq = sw.last_acted, sw.sequence
    if w.activated and cw.every and w.last_acted is None:
        raise fmt.SnapshotError(f"{where} is active but has never acted")
    code, nsteps = cw.code, len(cw.wf.steps)
    seqs: set[int] = set()
    for se in sw.enrolled:
        who = f'{where}, contact "{se.contact}"'
        c = contacts.get(se.contact)
        if c is None or se.contact in w.enrolled or se.sequence in seqs:
            raise fmt.SnapshotError(f"{who}: " + ("not a contact of the snapshot" if c is None else
                                                  "enrolled twice" if se.contact in w.enrolled else
                                                  f"enrollment number {se.sequence} is taken"))
        block = {None: 0, "wait": B_WAIT, "goal": B_GOAL, "condition": B_COND}[se.waiting]
        if se.pc > len(code) or se.top >= nsteps or (block and (
                se.pc == len(code) or _BLOCKS.get(type(code[se.pc])) != block or (block == B_WAIT and se.due is None))):
            raise fmt.SnapshotError(f"{who}: place {se.pc} (waiting: {se.waiting}) is not a place in its steps")
        seqs.add(se.sequence)
        e = Enrollment(c, se.sequence, se.number, se.since)
        e.pc, e.top, e.block, e.due, e.goal_at = se.pc, se.top, block, se.due, se.goal_at
        e.achieved = set(se.achieved)
        if se.skipped:
            e.skipped = [[first, last] for first, last in se.skipped]
        w.enrolled[se.contact] = e
    w.counts = dict(sw.counts)
    unknown = [cid for cid in sw.began if cid not in contacts]
    if unknown:
        raise fmt.SnapshotError(f'{where}: "began" names contact "{unknown[0]}", not in the snapshot')
    w.began = dict(sw.began)
    w.spent = set(sw.spent)
    w.agenda, w.due = [], {}
    for at, entries in sw.agenda:
        if at in w.due or any(cid not in contacts for _, cid in entries):
            raise fmt.SnapshotError(f"{where}: its agenda at {at} " +
                                    ("is there twice" if at in w.due else "names a contact not in the snapshot"))
        w.due[at] = list(entries)
        w.agenda.append(at)
    heapq.heapify(w.agenda)
    _check_order(sw.pending, f"the pending trigger events of {where}")
    if any(cid not in contacts for _, cid, _, _ in sw.pending):
        raise fmt.SnapshotError(f"{where}: a pending trigger event names a contact not in the snapshot")
    w.pending = deque(sw.pending)


# Each workflow's scheduling (Engine._scheduler), by its kind of ticks, as
# the text of a function making it: the kind's instant (``tick(x)``: the
# text of the first tick at or after the instant ``x``), then the agenda's
# part, which every kind shares.
def _schedule_ticks(tick: Callable[[str], str]) -> str:
    return f"""\
        instant = eng._instant
        at = {tick("at")}
        last = w.last_acted
        if last is not None and at <= last:
            at = {tick("last + 1")}
        if at == instant:
            if eng._round or index <= eng._turn:
                at = {tick("at + 1")}
            else:
                eng._woken = True
                eng._soonest = at  # the earliest there is: the event loop acts before the next instant
"""


_SCHEDULE_EVENT = """\
        instant = eng._instant
        if instant is not None and at <= instant:  # (no instant earlier than the current one)
            at = instant
            eng._woken = True
            eng._soonest = at
"""
_SCHEDULE_AGENDA = """\
        entries = w.due.get(at)
        if entries is None:
            w.due[at] = [(next(eng._heap_seq), cid)]
            heappush(w.agenda, at)
        else:
            entries.append((next(eng._heap_seq), cid))
        if w.activated and not w.paused:  # what _run_until must look at next (as _next_workflow_instant)
            soonest = eng._soonest
            if soonest is None or at < soonest:
                eng._soonest = at
    return schedule
"""
_SCHEDULE = {kind: "def make(eng, w, every, index, tick, heappush):\n    def schedule(cid, at):\n" + head
             + _SCHEDULE_AGENDA
             for kind, head in (
                 # ticks at multiples of `every`: CWorkflow.tick's, inline
                 ("epoch", _schedule_ticks(lambda x: f"-(-({x}) // every) * every")),
                 ("ticks", _schedule_ticks(lambda x: f"tick({x})")),
                 ("event", _SCHEDULE_EVENT))}
_SCHEDULERS: dict[str, Callable] = {}


# Over 80 lines on purpose: one text generator, so that how each kind of
# instruction runs is written in one place, as the recorders' is.
def _stepper(eng: "Engine", w: _WState) -> Callable[[Enrollment, int, bool], None]:
    """What ``w`` does with one woken enrollment, as one generated function
    ``(enrollment, now, fresh)`` (``fresh``: enrolled at this instant; the
    engine's acting loop calls it in enrollment order): the goal check, the
    audience's exit, then (_act_head) an enrollment that waits and is due
    goes on, then one instruction after another until it waits or leaves,
    the inner loop (no call between the parts). Each instruction of the workflow is
    written out at its index, its constants (the call, the condition, the
    wait's duration, the jump's target and the steps it skips) in the text,
    so no instruction is looked up, and no kind tested, per step: the
    instructions follow each other in index order (a jump forward passes
    over those between; one backward starts the loop again)."""
    cw = w.cw
    code = cw.code
    n = len(code)
    tz = cw.tz
    ns: dict[str, Any] = {"eng": eng, "w": w, "code": code, "run_action": eng._run_action, "schedule": w.schedule,
                          "add": calendar_add, "next_time_of_day": next_time_of_day, "_skip": _skip, "TZ": tz,
                          "first_goal": w.first_goal, "goals": w.goals, "audience": cw.audience}
    # An instrumented list (goal test --coverage: tools/testing.py) is read
    # at each instruction run, as it says the engine does.
    fetch = type(code) is not list
    blocks = []
    for k, ins in enumerate(code):
        kind = type(ins)
        body = [f"if pc == {k}:", f"    e.top = {ins.top}"] + ([f"    code[{k}]"] if fetch else [])
        blocks.append(body)
        if kind is Action:
            # A step's action: its id by the step's name or place (_run_action).
            ns[f"CALL{k}"], ns[f"STEP{k}"] = eng._compiled(ins.call), ins.name
            ns[f"WHERE{k}"] = f"step:{ins.name if ins.name is not None else k}"
            body += [f"    run_action(w, e, CALL{k}, t, STEP{k}, None, WHERE{k})", f"    e.pc = pc = {k + 1}"]
        elif kind is Branch or kind is Jump:
            target = ins.target
            if kind is Branch:
                ns[f"COND{k}"] = ins.cond
                body += [f"    if COND{k}(c, t, e.since, None):", f"        e.pc = pc = {k + 1}", "    else:",
                         f"        e.pc = pc = {target}"]
                pad = "        "
            else:
                body.append(f"    e.pc = pc = {target}")
                nxt = Engine._top_at(w, target)
                if nxt > ins.top + 1:  # `skip to`: the steps between are not reached
                    body.append(f"    _skip(e, {ins.top + 2}, {nxt})")
                pad = "    "
            if target <= k:
                body.append(pad + "continue")
        elif kind is Wait or kind is WaitTime or kind is WaitDate:
            if kind is Wait:
                d = ins.duration
                body.append(f"    due = {_added(d)}")
            elif kind is WaitTime:
                body.append(f"    due = next_time_of_day(t, {ins.hour}, {ins.minute}, {ins.weekday}, TZ)")
            else:
                body.append(f"    due = {ins.at}")
            body += ["    if due <= t:", f"        e.pc = pc = {k + 1}", "    else:",
                     f"        e.block, e.due = {B_WAIT}, due", "        schedule(c.id, due)", "        return"]
        elif kind is WaitUntil:
            ns[f"COND{k}"] = ins.cond
            body += [f"    if COND{k}(c, t, e.since, None):", f"        e.pc = pc = {k + 1}", "    else:",
                     f"        e.block = {B_COND}"]
            if ins.limit is None:
                body.append("        e.due = None")
            else:
                d = ins.limit
                body += [f"        e.due = due = {_added(d)}",
                         "        schedule(c.id, due)"]
            body.append("        return")
        elif kind is GoalStep:
            g = ins.goal
            ns[f"GOAL{k}"], ns[f"NAME{k}"], ns[f"COND{k}"] = g, g.name, g.cond
            body += [f"    if NAME{k} not in e.achieved and COND{k}(c, t, e.since, None):",
                     f'        eng._achieve(w, e, GOAL{k}, t, "arrived")',
                     "        continue"]
            policy = g.goal.on_unmet
            if policy == "continue":
                body += [f'    eng._missed(w, e, GOAL{k}, t, "continue")', f"    e.pc = pc = {k + 1}"]
            elif policy == "end":
                body += [f'    eng._missed(w, e, GOAL{k}, t, "end")', f'    eng._exit(w, e, t, "unmet", NAME{k})',
                         "    return"]
            else:
                body.append(f"    e.block = {B_GOAL}")
                if policy == "wait_up_to":
                    d = g.goal.unmet_limit
                    body += [f"    e.due = due = {_added(d)}",
                             "    schedule(c.id, due)"]
                else:
                    body.append("    e.due = None")
                body.append("    return")
        elif kind is End:
            body += ['    eng._exit(w, e, t, "end")', "    return"]
        else:
            raise AssertionError(kind)
    body = _grouped(blocks, 0, n) + [f"if pc >= {n}:", '    eng._exit(w, e, t, "completed")', "    return"]
    src = _act_head(w) + "".join(f"        {x}\n" for x in body)
    exec(compiled(src, f"<goal steps {cw.name!r}>", program=True), ns)  # compiled once per machine (syntax/codecache.py)
    return ns["act"]


def _added(d) -> str:
    """The text, in a generated inner loop (_stepper), of the instant a
    duration ``d`` after ``t`` (the calendar's ``add``, its counts written in)."""
    return f"add(t, {d.months}, {d.days}, {d.seconds}, TZ)"


# Instructions per group of a long workflow's inner loop (_grouped).
STEP_GROUP = 16


def _grouped(blocks: list[list[str]], lo: int, hi: int) -> list[str]:
    """The lines of instructions ``lo`` to ``hi`` (``blocks``: each one's
    lines, starting ``if pc == k:``), in order. Past ``STEP_GROUP`` they
    are nested in halves under ``if pc < mid:`` tests, so an enrollment
    that resumes at instruction k passes about log2(k) tests rather than
    k; one that falls through from the last instruction of a half reaches
    the next half's first test, as before."""
    if hi - lo <= STEP_GROUP:
        return [x for b in blocks[lo:hi] for x in b]
    mid = (lo + hi) // 2
    return ([f"if pc < {mid}:"] + [f"    {x}" for x in _grouped(blocks, lo, mid)]
            + _grouped(blocks, mid, hi))


def _act_head(w: _WState) -> str:
    """The part of a workflow's generated acting (_stepper) before its
    instructions: a woken enrollment's goal check (unless a goal was
    achieved at this instant: first wins), then `exit when audience no
    longer matches` (after the goal check, so a goal met at the instant the
    audience stops matching is achieved), then, for one that waits, whether
    its wait is over (the common case of a contact woken by an event: not
    yet)."""
    # A `runs once at` workflow checks goals only where its contacts can move.
    check = "if e.goal_at != t:" if w.once_at is None else (
        f"if e.goal_at != t and (fresh or block == {B_GOAL} or block == {B_COND} or "
        f"(block == {B_WAIT} and e.due is not None and e.due <= t)):")
    audience = "" if not w.exit_on_audience else """\
    if not audience(c, t, None, None):
        eng._exit(w, e, t, "audience")
        return
"""
    return f"""\
def act(e, t, fresh):
    block = e.block
    c = e.contact
    {check}
        if c.watch:
            eng._unwatch(c, w)
        # The first listening goal that holds (_step_goal_listens, in the
        # generated check): step goals ahead or waited at and not
        # achieved, then the exit goals.
        i = first_goal(c, t, e.since, e.top, e.pc if block == {B_GOAL} else -1, e.achieved)
        if i >= 0:
            g = goals[i]
            if g.pc is None:
                via = None
            elif block == {B_GOAL} and e.pc == g.pc:
                via = "waited"
            else:
                via = "jumped"
            eng._achieve(w, e, g, t, via, eng._also_holding(w, e, g, t))
            if not e.alive:
                return
            block = e.block
{audience}\
    if block:
        ins = code[e.pc]
        if block == {B_WAIT}:
            if e.due > t:
                return
        elif block == {B_GOAL}:
            if e.due is None or e.due > t:
                return
            g = ins.goal
            eng._missed(w, e, g, t, g.goal.unmet_then)
            if g.goal.unmet_then == "end":
                eng._exit(w, e, t, "unmet", g.name)
                return
        elif block == {B_COND}:
            if not ins.cond(c, t, e.since, None) and (e.due is None or e.due > t):
                return
        e.block, e.due = 0, None
        e.pc += 1
    while e.alive:
        pc = e.pc
"""


# Over 80 lines on purpose: one text generator, so that what recording an
# event does (the history, the contact, the workflows it wakes) is decided in
# this one place; split, its parts would pass the same state around.
def _recorder(eng: "Engine", typ: str, kind: tuple) -> tuple[Callable, Callable, Optional[Callable]]:
    """Recording an event of type ``typ`` in ``eng``, as a generated
    function ``(contact, time, fields, acting)``, with ``kind`` (from
    ``Engine._prepare``) written out as constants: the full history, or the
    lean one's counts (compiler.Atoms: static filters applied now, keeping
    the latest times; others keeping the fields they read, inside their
    window); the event's effect on the contact; the workflows it wakes
    (enrolled contacts for a type that can change a goal or a wait, others
    for one that can change the audience, a trigger, a window it leaves).
    The second is the first with ``acting`` true (``(contact, time,
    fields)``: the event loop's). The third, for a lean history with counts
    of the type, only puts the event into it (``(contact, time, fields)``);
    else None. The
    functions hold the engine (its workflows' ``schedule``): an engine and its
    recorders are a reference cycle, freed by the cyclic collector."""
    full, static, dynamic, effect, targets = kind
    ns: dict[str, Any] = {"eng": eng, "START": eng.start, "window_leaves": window_leaves,
                          "_insert": _insert, "_insert_time": _insert_time, "_drop_before": _drop_before,
                          "effect": effect}
    tname = repr(typ)
    lean: list[str] = []  # the lean history, as lines of the body
    # Whether some count's filter can fail to match (else every event matches).
    filtered = not dynamic and all(match is not None for _, match, _ in static)
    if not full and (static or dynamic):
        lean.append("events = c.events")
        if filtered:
            lean.append("matched = False")
        for i, (key, match, keep) in enumerate(static):
            ns[f"match{i}"] = match
            pad = ""
            if match is not None:
                lean.append(f"if match{i}(fields):")
                pad = "    "
            lean += [pad + x for x in (
                ("matched = True",) if filtered else ()) + (
                f"lst = events.get({key!r})",
                "if lst is None:",
                f"    events[{key!r}] = [t]",
                "else:",
                "    if lst[-1] <= t:",
                "        lst.append(t)",
                "    else:",
                "        _insert_time(lst, t)",
                f"    if len(lst) > {keep}:",
                f"        del lst[:-{keep}]")]
        for i, (key, names, back) in enumerate(dynamic):
            if names is None:
                lean.append("item = (t, fields)")
            else:
                lean.append(f"item = (t, {{k: fields[k] for k in {tuple(names)!r} if k in fields}})")
            lean += [f"lst = events.get({key!r})",
                     "if lst is None:",
                     f"    events[{key!r}] = [item]",
                     "elif lst[-1][0] <= t:",
                     "    lst.append(item)"]
            if back is not None:  # dropped in batches: once the oldest is a quarter window past
                lean += [f"    if lst[0][0] < t - {back + (back >> 2)}:",
                         f"        _drop_before(lst, t - {back})"]
            lean += ["else:", "    _insert(lst, item)"]
    body: list[str] = []
    if full:  # every event of the type, with its fields
        body += ["lst = c.events.get(TYPE)",
                 "if lst is None:",
                 "    c.events[TYPE] = [(t, fields)]",
                 "elif lst[-1][0] <= t:",
                 "    lst.append((t, fields))",
                 "else:  # a late event: keep the list in time order",
                 "    _insert(lst, (t, fields))"]
    body += lean
    if effect is not None:
        body.append("effect(c.attrs, fields)")
    # ACTING: "acting and " in the recorder, nothing in its acting twin.
    body += ["if ACTING c.watch:",
             "    for w in c.watch:",
             "        if not w.paused and c.id in w.enrolled:",
             "            w.schedule(c.id, t)"]
    for i, (w, trig, rel, aud, windows, gated) in enumerate(targets):
        ns[f"w{i}"] = w
        ns[f"s{i}"] = w.schedule
        part = []
        if trig:
            cause = "" if eng.keys is None else ", eng._cause"
            part += [f"    w{i}.pending.append((t, c.id, TYPE, fields{cause}))", f"    s{i}(c.id, t)"]
        elif rel and aud:  # enrolled or not
            part.append(f"    s{i}(c.id, t)")
        elif rel:
            part += [f"    if c.id in w{i}.enrolled:", f"        s{i}(c.id, t)"]
        elif aud:
            part += [f"    if c.id not in w{i}.enrolled:", f"        s{i}(c.id, t)"]
        if part:
            part.insert(0, f"if ACTING not w{i}.paused:")
        if windows:
            ns[f"windows{i}"] = tuple(windows)
            part += [f"for d in windows{i}:",
                     f"    leaves = window_leaves(t, d, {w.cw.tz!r})",
                     "    if leaves > START:",  # (a name: the text is the same for every start, compiled once)
                     f"        s{i}(c.id, leaves)"]
        if gated and part and lean and filtered:
            part = ["if matched:"] + ["    " + x for x in part]
        body += part
    ns["TYPE"] = typ
    text = "".join(f"    {x}\n" for x in body)
    src = ("def record(c, t, fields, acting):\n" + text.replace("ACTING ", "acting and ")
           + "def record_now(c, t, fields):\n" + text.replace("ACTING ", ""))
    if lean:
        src += "def remember(c, t, fields):\n" + "".join(f"    {x}\n" for x in lean)
    exec(compiled(src, f"<goal recorder {tname}>", program=True), ns)  # compiled once per machine (syntax/codecache.py)
    return ns["record"], ns["record_now"], ns.get("remember")


def _check_order(events: list, what: str) -> None:
    for i in range(1, len(events)):
        if events[i][0] < events[i - 1][0]:
            raise fmt.SnapshotError(f"{what} are not in time order")


def _insert(lst: list, item: tuple) -> None:
    """Put a late event into a time-ordered history, after those at its time."""
    t = item[0]
    i = len(lst)
    while i > 0 and lst[i - 1][0] > t:
        i -= 1
    lst.insert(i, item)


def _insert_time(lst: list, t: int) -> None:
    """A late time into a lean history's ordered times."""
    i = len(lst)
    while i > 0 and lst[i - 1] > t:
        i -= 1
    lst.insert(i, t)


def _drop_before(lst: list, limit: int) -> None:
    """Drop the events before ``limit`` from a time-ordered history."""
    i = 0
    while lst[i][0] < limit:
        i += 1
    del lst[:i]


_time = itemgetter(0)
_SECOND = itemgetter(1)


_by_order = attrgetter("order")  # a contact's place in the contacts file
_by_seq = attrgetter("seq")  # an enrollment's order within its workflow


def _skip(e: Enrollment, first: int, last: int) -> None:
    """Record that top-level steps ``first``..``last`` (from 1) were jumped over."""
    if first > last:
        return
    lst = _skipped(e)
    if lst is None:
        lst = e.skipped = []
    lst.append([first, last])


def _skipped(e: Enrollment) -> Optional[list]:
    # getattr: an enrollment restored from a state file written before the
    # attribute existed has it unset.
    return getattr(e, "skipped", None)


def arg_value(v: ir.ArgValue, c: Contact):
    if v.kind == "const":
        return v.value
    if v.kind == "attr":
        return get_path(c.attrs, v.parts)
    out = []
    for p in v.parts:
        if isinstance(p, tuple):
            val = get_path(c.attrs, p)
            out.append("" if val is None else show_text(val))
        else:
            out.append(p)
    return "".join(out)
