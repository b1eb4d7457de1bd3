"""`evaluate every N days at HH:MM [on WEEKDAY]`: the tick function against a
brute-force reference that reads the wall clock minute by minute.

The reference knows nothing of the arithmetic in ``calendar``: it walks the
UTC minutes, asks ``zoneinfo`` for the local date and time of each, and keeps
the minutes whose local reading is HH:MM on a date of the schedule (day
number since 1970-01-01 a multiple of N; with a weekday, that weekday in the
weeks, Monday to Sunday, whose number is a multiple of N / 7). Two rules then
make one tick per date: a reading that happens twice (autumn) is the later
instant; a date whose clock skips HH:MM (spring) ticks at the first minute
after the gap that reads later than HH:MM, as ``wait until 09:00`` does.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from goaldsl.semantics.calendar import local_tick_at_or_after

EPOCH_DAY = date(1970, 1, 1)
# Spring and autumn changes in three zones (and UTC), 2026.
AROUND = [datetime(2026, 3, 8, tzinfo=timezone.utc), datetime(2026, 3, 29, tzinfo=timezone.utc),
          datetime(2026, 10, 25, tzinfo=timezone.utc), datetime(2026, 11, 1, tzinfo=timezone.utc),
          datetime(2026, 4, 5, tzinfo=timezone.utc), datetime(2026, 7, 1, tzinfo=timezone.utc)]
ZONES = ["America/New_York", "Europe/Berlin", "Australia/Sydney", "UTC", "Asia/Kolkata"]


def on_schedule(d: date, days: int, weekday) -> bool:
    n = (d - EPOCH_DAY).days
    if weekday is None:
        return n % days == 0
    return d.weekday() == weekday and ((n + 3) // 7) % (days // 7) == 0


def reference_ticks(lo: int, hi: int, days: int, hour: int, minute: int, weekday, tz: str) -> list[int]:
    """Every tick in [lo, hi), from the wall clock read minute by minute."""
    zone = ZoneInfo(tz)
    per_date: dict[date, list[int]] = {}
    skipped: dict[date, int] = {}
    want = hour * 60 + minute
    t = lo - lo % 60
    prev = None  # (instant, local reading) a minute earlier
    while t < hi + 86400:
        local = datetime.fromtimestamp(t, zone)
        d = local.date()
        now_min = local.hour * 60 + local.minute
        if on_schedule(d, days, weekday):
            if now_min == want:
                per_date.setdefault(d, []).append(t)
            elif prev is not None and prev[1].date() == d:
                before = prev[1].hour * 60 + prev[1].minute
                if before < want < now_min:  # the clock jumped over HH:MM: HH:MM on the old offset
                    skipped[d] = prev[0] + (want - before) * 60
        prev = (t, local)
        t += 60
    ticks = [max(v) for v in per_date.values()]  # the later of two readings
    ticks += [v for d, v in skipped.items() if d not in per_date]
    return sorted(x for x in ticks if lo <= x < hi)


def engine_ticks(lo: int, hi: int, days: int, hour: int, minute: int, weekday, tz: str) -> list[int]:
    out = []
    t = local_tick_at_or_after(lo, days, hour, minute, weekday, tz)
    while t < hi:
        out.append(t)
        t = local_tick_at_or_after(t + 1, days, hour, minute, weekday, tz)
    return out


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(AROUND), st.integers(-3, 2), st.sampled_from(ZONES),
       st.sampled_from([(1, None), (2, None), (3, None), (7, 0), (7, 6), (14, 2)]),
       st.sampled_from([(0, 0), (1, 30), (2, 30), (3, 0), (9, 0), (23, 59), (2, 0)]))
def test_wall_clock_ticks_equal_the_minute_by_minute_reference(anchor, shift, tz, schedule, at):
    days, weekday = schedule
    hour, minute = at
    lo = int((anchor + timedelta(days=shift)).timestamp())
    hi = lo + (days + 4) * 86400
    assert engine_ticks(lo, hi, days, hour, minute, weekday, tz) == \
        reference_ticks(lo, hi, days, hour, minute, weekday, tz)


def test_new_york_daily_ticks_across_both_changes():
    """09:00 in New York is 14:00Z in winter and 13:00Z in summer; 02:30 on
    8 March 2026 does not exist (03:30 EDT instead); 01:30 on 1 November 2026
    happens twice (the later, 06:30Z)."""
    ny = "America/New_York"
    mar7 = int(datetime(2026, 3, 7, tzinfo=timezone.utc).timestamp())
    got = engine_ticks(mar7, mar7 + 3 * 86400, 1, 9, 0, None, ny)
    assert [datetime.fromtimestamp(t, timezone.utc).strftime("%m-%d %H:%M") for t in got] == \
        ["03-07 14:00", "03-08 13:00", "03-09 13:00"]
    gap = local_tick_at_or_after(mar7 + 86400, 1, 2, 30, None, ny)
    assert datetime.fromtimestamp(gap, timezone.utc).strftime("%m-%d %H:%M") == "03-08 07:30"
    nov1 = int(datetime(2026, 11, 1, tzinfo=timezone.utc).timestamp())
    twice = local_tick_at_or_after(nov1, 1, 1, 30, None, ny)
    assert datetime.fromtimestamp(twice, timezone.utc).strftime("%m-%d %H:%M") == "11-01 06:30"


def test_weekly_ticks_fall_on_the_weekday():
    start = int(datetime(2026, 11, 2, 12, tzinfo=timezone.utc).timestamp())  # a Monday, after 09:00
    t = local_tick_at_or_after(start, 7, 9, 0, 0, "Europe/Berlin")
    assert datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M %a") == "2026-11-09 08:00 Mon"
