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

