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
