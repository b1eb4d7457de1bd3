"""calendar.is_zone says what ``name in known_zones()`` says, without
listing every zone of the system (a fifth of `goal check`)."""
from __future__ import annotations

import zoneinfo

from goaldsl.semantics.calendar import is_zone, known_zones


def test_every_known_zone_is_a_zone():
    zones = known_zones()
    assert len(zones) > 300
    assert all(is_zone(z) for z in zones)


def test_names_that_are_not_zones():
    zones = known_zones()
    tricky = ["", "UTC", "posixrules", "right/UTC", "posix/UTC", "right", "posix", "Etc/../UTC", "./UTC",
              "/UTC", "UTC/", "Etc//UTC", "America", "America/", "zone.tab", "zone1970.tab", "tzdata.zi",
              "leapseconds", "localtime", "Factory", "US/Eastern", "utc", "Europe/Londn", "..", ".",
              "America/New_York/x", "iso3166.tab", "SECURITY", "leap-seconds.list", "+VERSION"]
    for folder in zoneinfo.TZPATH:  # and whatever lies in the zone folders, listed or not
        try:
            import os
            tricky += os.listdir(folder)
        except OSError:
            pass
    for name in tricky:
        assert is_zone(name) == (name in zones), name


def test_format_local_writes_what_pendulum_writes():
    import random

    import pendulum

    from goaldsl.semantics.calendar import format_local
    rng = random.Random(7)
    zones = sorted(known_zones())
    for zone in zones[::7] + ["UTC", "Etc/UTC", "America/New_York", "Europe/Paris", "Asia/Kolkata",
                              "Australia/Lord_Howe", "Pacific/Chatham"]:
        epochs = [rng.randint(-2208988800, 4102444800) for _ in range(30)]
        epochs += [1774143000 + k * 900 for k in range(-8, 8)]  # around a spring change
        for epoch in epochs:
            assert format_local(epoch, zone) == pendulum.from_timestamp(
                epoch, tz=pendulum.timezone(zone)).to_iso8601_string(), (zone, epoch)


def test_day_shifts_worked_out_per_quarter_hour_are_the_exact_ones():
    """_Zone.shift_days reuses a quarter hour's shift for every instant in
    it; it must give what resolving each wall-clock reading does, across
    daylight-saving changes, zones with odd offsets and the years before
    offsets were whole quarter hours."""
    import random

    from goaldsl.semantics.calendar import _zone

    rng = random.Random(7)
    for tz in ("America/New_York", "Europe/Berlin", "Asia/Kolkata", "Australia/Lord_Howe", "America/St_Johns",
               "Asia/Kathmandu", "Pacific/Chatham", "Europe/Dublin", "Africa/Monrovia"):
        z = _zone(tz)
        for base in (1772000000, 1788000000, 1804000000, 1667000000, 0, -2000000000):
            for _ in range(300):
                epoch = base + rng.randint(-40 * 86400, 40 * 86400)
                for days in (1, 3, -7, 14, -1, 30):
                    prefer = z.offset(epoch)
                    exact = z.from_wall(epoch + prefer + days * 86400, prefer)
                    assert z.shift_days(epoch, days * 86400) == exact, (tz, epoch, days)
