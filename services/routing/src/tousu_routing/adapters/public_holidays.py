"""Where China's public holidays and make-up working days (调休) come from.

Two sources, the more authoritative winning per year:

1. **State Council notices as data**: the YAML files shipped in ``data/``
   (``cn-2026.yaml``, transcribed from the notice) or named by
   ``TOUSU_ROUTING_CALENDAR_FILES``; and notices an admin enters over
   ``/v1/calendar`` (see :mod:`tousu_routing.domain.company_days`), which win over
   both because they are the newest word.
2. **The ``holidays`` package** (vacanza/holidays, CN data checked against every
   notice since 2001, released roughly monthly). For a year whose notice it has
   transcribed (``ChinaStaticHolidays.special_public_holidays``) it gives the
   days off and, as ``weekend_workdays``, the make-up working days: that year is
   ``notice``. For any other year it only *computes* the statutory days (lunar
   dates for Spring Festival, Dragon Boat, Mid-Autumn; Qingming's solar term) and
   puts a weekday off in lieu of one falling on a weekend — the law, not the
   notice: bridge days and make-up Saturdays are missing. Such a year is
   ``statutory`` and readiness reports it (never trusted silently).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path

from tousu_routing.domain.calendar import PublicYear, YearSource, load_days

log = logging.getLogger(__name__)

#: The notices shipped with the package (State Council, transcribed).
SHIPPED_NOTICES = ("cn-2026.yaml",)
#: Years the package's statutory computation covers (cheap: ~0.3 s once at start).
PACKAGE_YEARS = range(2020, 2046)


def notice_years(path: Path, origin: str | None = None) -> list[PublicYear]:
    """A notice file's days, one :class:`PublicYear` per calendar year they fall in."""
    holidays, makeup = load_days(path)
    by_year: dict[int, tuple[set[date], set[date]]] = defaultdict(lambda: (set(), set()))
    for day in holidays:
        by_year[day.year][0].add(day)
    for day in makeup:
        by_year[day.year][1].add(day)
    return [
        PublicYear(
            year=year,
            source=YearSource.notice,
            holidays=frozenset(off),
            makeup_days=frozenset(on),
            origin=origin or str(path),
        )
        for year, (off, on) in sorted(by_year.items())
    ]


@lru_cache(maxsize=1)
def shipped_notices() -> tuple[PublicYear, ...]:
    years: list[PublicYear] = []
    for name in SHIPPED_NOTICES:
        resource = resources.files("tousu_routing.data").joinpath(name)
        with resources.as_file(resource) as path:
            years.extend(notice_years(path, origin=f"data/{name}"))
    return tuple(years)


@lru_cache(maxsize=4)
def package_years(years: tuple[int, ...] = tuple(PACKAGE_YEARS)) -> tuple[PublicYear, ...]:
    """China's public days from the ``holidays`` package: ``notice`` where it has
    transcribed the State Council's notice, ``statutory`` (estimated) elsewhere."""
    import holidays

    try:  # which years' notices the package has transcribed (bridge and make-up days)
        from holidays.countries.china import ChinaStaticHolidays

        transcribed = set(getattr(ChinaStaticHolidays, "special_public_holidays", {}))
    except ImportError:  # moved in a later release: trust no year as a notice
        log.warning("holidays: no ChinaStaticHolidays; every year counts as statutory")
        transcribed = set()
    wanted = list(years)
    calendar = holidays.country_holidays("CN", years=wanted)
    off: dict[int, set[date]] = defaultdict(set)
    on: dict[int, set[date]] = defaultdict(set)
    for day in calendar:
        off[day.year].add(day)
    for day in getattr(calendar, "weekend_workdays", set()):
        on[day.year].add(day)
    version = getattr(holidays, "__version__", "?")
    return tuple(
        PublicYear(
            year=year,
            source=YearSource.notice if year in transcribed else YearSource.statutory,
            holidays=frozenset(off[year]),
            makeup_days=frozenset(on[year]) if year in transcribed else frozenset(),
            origin=(
                f"holidays {version}"
                if year in transcribed
                else f"holidays {version} (statutory days only, estimated)"
            ),
        )
        for year in wanted
    )


def public_years(*, files: Iterable[Path] = (), use_package: bool = True) -> dict[int, PublicYear]:
    """Every year's public days, a notice file winning over the package's data.

    ``files`` empty means the shipped notices."""
    years: dict[int, PublicYear] = {}
    if use_package:
        years.update((y.year, y) for y in package_years())
    notices: list[PublicYear] = []
    paths = list(files)
    if paths:
        for path in paths:
            notices.extend(notice_years(path))
    else:
        notices = list(shipped_notices())
    for year in notices:
        years[year.year] = year
    return years
