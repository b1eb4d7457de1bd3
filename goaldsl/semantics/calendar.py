"""Calendar arithmetic and time parsing, at the edges of the engine.

Inside the engine every instant is an integer: seconds since the epoch, UTC.
Calendar units (days, weeks, months) are counted on the wall clock of the
workflow's time zone with pendulum, so "7 days before 14:00" is 14:00 a week
earlier whatever daylight saving did in between; minutes and hours are exact.
Results are memoised: the engine asks the same questions at every tick.
"""
from __future__ import annotations

import functools
import os
import re
import time as _time
from datetime import datetime

from ..syntax.ast import Duration

# pendulum is imported where it is used: `goal check` (and everything that
# never does calendar arithmetic) should not pay for importing it.

UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Z"})


@functools.lru_cache(maxsize=1)
def known_zones() -> frozenset[str]:
    """Every time zone name a program or the command line may use (IANA names)."""
    import zoneinfo
    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


@functools.lru_cache(maxsize=256)
def is_zone(name: str) -> bool:
    """``name in known_zones()``, without listing every zone (that walks the
    whole time zone database, a fifth of `goal check` on a small program):
    the same rules as ``zoneinfo.available_timezones`` for this one name
    (tests/test_calendar_zones.py compares the two on every zone)."""
    if name == "UTC":
        return True
    if not name or name == "posixrules":
        return False
    if name in _tzdata_zones():
        return True
    parts = name.split("/")
    if os.path.isabs(name) or os.path.normpath(name) != name or ".." in parts or "." in parts:
        return False  # not a path below a zone folder as os.walk names them
    if len(parts) > 1 and parts[0] in ("right", "posix"):
        return False  # folders available_timezones leaves out
    from zoneinfo import TZPATH
    for root in TZPATH:
        if not os.path.exists(root):
            continue
        folder, ok = root, True
        for part in parts[:-1]:  # os.walk goes into folders, not into links to folders
            folder = os.path.join(folder, part)
            if not os.path.isdir(folder) or os.path.islink(folder):
                ok = False
                break
        path = os.path.join(root, name)
        if not ok or not os.path.lexists(path) or os.path.isdir(path):
            continue
        try:
            with open(path, "rb") as f:
                if f.read(4) == b"TZif":
                    return True
        except Exception:  # noqa: BLE001 - as available_timezones: an unreadable file is no zone
            pass
    return False


@functools.lru_cache(maxsize=1)
def _tzdata_zones() -> frozenset[str]:
    """The zones the tzdata package lists (available_timezones reads them first)."""
    import importlib.util
    try:
        spec = importlib.util.find_spec("tzdata")
    except (ImportError, ValueError):
        return frozenset()
    if spec is None or not spec.submodule_search_locations:
        return frozenset()
    for folder in spec.submodule_search_locations:
        try:
            with open(os.path.join(folder, "zones"), encoding="utf-8") as f:
                return frozenset(z.strip() for z in f if z.strip())
        except OSError:
            continue
    return frozenset()


@functools.lru_cache(maxsize=256)
def _tz(name: str):
    import pendulum
    return pendulum.timezone(name)


class _Zone:
    """UTC offsets of one zone, memoised per quarter hour, for integer-only
    wall-clock arithmetic (pendulum costs about 20 us a call; this, well
    under one). Every tz database transition of the modern era falls on a
    quarter hour."""

    def __init__(self, name: str):
        from zoneinfo import ZoneInfo
        self.info = ZoneInfo(name)
        self.cache: dict[int, int] = {}
        self.shifts: dict[tuple[int, int], int | None] = {}  # (quarter hour, seconds of days) -> shift_days

    def offset(self, epoch: int) -> int:
        b = epoch // 900
        o = self.cache.get(b)
        if o is None:
            o = self.cache[b] = int(datetime.fromtimestamp(b * 900, self.info).utcoffset().total_seconds())
        return o

    def from_wall(self, wall: int, prefer: int) -> int:
        """The instant whose wall-clock reading is ``wall``, resolved as
        pendulum does: an ambiguous reading (autumn) takes the later instant,
        a reading in a gap (spring) moves forward by the gap."""
        before = self.offset(wall - 50400)
        after = self.offset(wall + 50400)
        valid = [wall - o for o in {prefer, before, after} if self.offset(wall - o) == o]
        if not valid:
            return wall - before
        return max(valid)

    def shift_days(self, epoch: int, days: int) -> int:
        """``epoch`` moved by ``days`` (seconds, a multiple of a day, either
        sign) on the wall clock. Worked out once per quarter hour: when
        every offset it reads is a whole number of quarter hours, the whole
        quarter hour moves alike (each instant read lies in the same place
        of its quarter hour, where the offset is one, as ``offset`` takes it)."""
        r = epoch % 900
        key = (epoch - r, days)
        moved = self.shifts.get(key, _UNKNOWN)
        if moved is _UNKNOWN:
            if len(self.shifts) > 1 << 16:
                self.shifts.clear()
            b = epoch - r
            prefer = self.offset(b)
            wall = b + prefer + days
            whole = prefer % 900 == 0 and self.offset(wall - 50400) % 900 == 0 and self.offset(wall + 50400) % 900 == 0
            moved = self.shifts[key] = self.from_wall(wall, prefer) - b if whole else None
        if moved is None:
            prefer = self.offset(epoch)
            return self.from_wall(epoch + prefer + days, prefer)
        return epoch + moved


_UNKNOWN = object()


@functools.lru_cache(maxsize=256)
def _zone(name: str) -> _Zone:
    return _Zone(name)


def _shift(epoch: int, months: int, days: int, seconds: int, tz: str, sign: int) -> int:
    if months == 0:
        if tz in UTC_NAMES:
            return epoch + sign * (days * 86400 + seconds)
        if days:
            epoch = _zone(tz).shift_days(epoch, sign * days * 86400)
        return epoch + sign * seconds
    import pendulum
    dt = pendulum.from_timestamp(epoch, tz=_tz(tz))
    if sign > 0:
        dt = dt.add(months=months, days=days).add(seconds=seconds)
    else:
        dt = dt.subtract(months=months, days=days).subtract(seconds=seconds)
    return int(dt.timestamp())


@functools.lru_cache(maxsize=1 << 16)
def add(epoch: int, months: int, days: int, seconds: int, tz: str) -> int:
    """``epoch`` plus a duration: calendar parts on the wall clock, then exact seconds."""
    return _shift(epoch, months, days, seconds, tz, +1)


@functools.lru_cache(maxsize=1 << 16)
def subtract(epoch: int, months: int, days: int, seconds: int, tz: str) -> int:
    """``epoch`` minus a duration (the start of a rolling window)."""
    return _shift(epoch, months, days, seconds, tz, -1)


def add_duration(epoch: int, d: Duration, tz: str) -> int:
    return add(epoch, d.months, d.days, d.seconds, tz)


def window_start(now: int, d: Duration, tz: str) -> int:
    return subtract(now, d.months, d.days, d.seconds, tz)


def window_leaves(t: int, d: Duration, tz: str) -> int:
    """The first instant at which an event at ``t`` is outside a ``within d``
    window, i.e. the least ``now`` with ``window_start(now) > t``."""
    guess = add(t, d.months, d.days, d.seconds, tz) + 1
    if window_start(guess, d, tz) > t and window_start(guess - 1, d, tz) <= t:
        return guess
    # Daylight saving made the wall clock jump: search an interval around the guess.
    lo, hi = guess - 3 * 3600, guess + 3 * 3600
    while window_start(lo, d, tz) > t:
        lo -= 3 * 3600
    while window_start(hi, d, tz) <= t:
        hi += 3 * 3600
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if window_start(mid, d, tz) > t:
            hi = mid
        else:
            lo = mid
    return hi


@functools.lru_cache(maxsize=1 << 14)
def next_time_of_day(epoch: int, hour: int, minute: int, weekday: int | None, tz: str) -> int:
    """The first instant at or after ``epoch`` that is HH:MM (on ``weekday``,
    0 = Monday, if given) on the wall clock of ``tz``."""
    import pendulum
    now = pendulum.from_timestamp(epoch, tz=_tz(tz))
    day = now.date()
    for i in range(0, 9):
        d = day.add(days=i)
        if weekday is not None and d.weekday() != weekday:
            continue
        cand = pendulum.datetime(d.year, d.month, d.day, hour, minute, tz=_tz(tz))
        if int(cand.timestamp()) >= epoch:
            return int(cand.timestamp())
    raise AssertionError("no such time in nine days")  # pragma: no cover


_WITH_OFFSET = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d)?(Z|[+-]\d\d:\d\d)", re.ASCII)


def parse_local_datetime(text: str, tz: str) -> int:
    """A date-time from a program or the command line; without an offset it
    is read on the wall clock of ``tz``. Raises ValueError."""
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as e:
        # The standard library says what is wrong ("day is out of range for month").
        raise ValueError(str(e) if "Invalid isoformat" not in str(e) else "not a date-time") from None
    if _WITH_OFFSET.fullmatch(text):  # the usual form with Z or an offset: one instant, without importing pendulum
        return int(dt.timestamp())
    import pendulum
    try:
        dt = pendulum.parse(text, tz=_tz(tz), strict=False)
    except Exception as e:  # pendulum raises several types
        raise ValueError(str(e).split("\n")[0] or "not a date-time") from None
    if not isinstance(dt, pendulum.DateTime):
        if isinstance(dt, pendulum.Date):
            dt = pendulum.datetime(dt.year, dt.month, dt.day, tz=_tz(tz))
        else:
            raise ValueError("not a date-time")
    return int(dt.timestamp())


def wall_to_epoch(wall: int, tz: str) -> int:
    """The instant at which the wall clock of ``tz`` reads ``wall`` (seconds
    since 1970 on that clock), resolved as pendulum does: an ambiguous
    reading (autumn) takes the later instant, one in a gap (spring) moves
    forward by the gap."""
    if tz in UTC_NAMES:
        return wall
    z = _zone(tz)
    return z.from_wall(wall, z.offset(wall))


def parse_event_time(text: str) -> int:
    """An input event's time: ISO 8601 with ``Z`` or an offset. Raises ValueError."""
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        raise ValueError("the time has no Z or UTC offset")
    return int(dt.timestamp())


def format_utc(epoch: int) -> str:
    return _time.strftime("%Y-%m-%dT%H:%M:%SZ", _time.gmtime(epoch))


def format_local(epoch: int, tz: str) -> str:
    """``epoch`` on the wall clock of ``tz``, as pendulum's to_iso8601_string
    writes it (``Z`` in UTC, else the offset), without importing pendulum
    (`goal explain` paid a twentieth of its time for it); test_calendar_zones.py
    holds the two to the same text."""
    text = datetime.fromtimestamp(epoch, _zone(tz).info).isoformat()
    return text.replace("+00:00", "Z") if tz == "UTC" else text


@functools.lru_cache(maxsize=1 << 14)
def local_tick_at_or_after(epoch: int, days: int, hour: int, minute: int, weekday: int | None, tz: str) -> int:
    """The first tick at or after ``epoch`` of ``evaluate every DAYS days at
    HH:MM`` (``on WEEKDAY``, 0 = Monday: DAYS is whole weeks): HH:MM on the
    wall clock of ``tz``, on the local dates whose day number since
    1970-01-01 is a multiple of DAYS; with a weekday, on that weekday in the
    weeks (Monday to Sunday) whose number since the week of 1970-01-01 is a
    multiple of DAYS / 7. A time the clock skips (spring) moves forward by the
    gap and an ambiguous one (autumn) is the later instant, as for ``wait
    until 09:00``: one tick per such date, whatever daylight saving does."""
    # Day d (local, since 1970-01-01, a Thursday) is on the tick's dates when
    # d = r (mod DAYS): r = 0 without a weekday; with one, (d + 3) mod 7 is
    # d's weekday and (d + 3) // 7 its week, so the dates are d + 3 = weekday
    # (mod DAYS).
    r = 0 if weekday is None else weekday - 3
    day = (epoch + (0 if tz in UTC_NAMES else _zone(tz).offset(epoch))) // 86400 - 1
    day += (r - day) % days
    while True:
        at = wall_to_epoch(day * 86400 + hour * 3600 + minute * 60, tz)
        if at >= epoch:
            return at
        day += days

