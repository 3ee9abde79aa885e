"""The publishing window: local dates and times in the blog's zone, DST included.

docs/reliability.md, cases 4 and 5.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from bot.config import ScheduleConfig
from bot.schedule import current_window, window

BERLIN = ZoneInfo("Europe/Berlin")
SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = dt.UTC


def schedule(zone: ZoneInfo, hour: int, minute: int = 0, catch_up_hours: float = 6) -> ScheduleConfig:
    return ScheduleConfig(
        timezone=zone, time=dt.time(hour, minute), catch_up=dt.timedelta(hours=catch_up_hours)
    )


@pytest.mark.reliability(5)
def test_window_is_the_local_time_not_utc() -> None:
    """08:00 in Asia/Shanghai is 00:00 UTC: a naive time is never read as UTC."""
    w = window(dt.date(2026, 11, 29), schedule(SHANGHAI, 8))
    assert (w.start, w.end) == (
        dt.datetime(2026, 11, 29, 0, 0, tzinfo=UTC),
        dt.datetime(2026, 11, 29, 6, 0, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("day", "start_utc"),
    [
        (dt.date(2026, 3, 29), dt.datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),  # 02:30 does not exist
        (dt.date(2026, 10, 25), dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),  # 02:30 happens twice
    ],
)
@pytest.mark.reliability(4)
def test_dst_days_have_one_window(day: dt.date, start_utc: dt.datetime) -> None:
    """A publish time in the skipped or repeated hour still gives one window that day."""
    w = window(day, schedule(BERLIN, 2, 30))
    assert w.start == start_utc
    assert w.end - w.start == dt.timedelta(hours=6)


@pytest.mark.reliability(4)
def test_every_instant_of_a_dst_day_belongs_to_that_date() -> None:
    """Walking a DST day minute by minute, the window is always that local date's, opened once."""
    sched = schedule(BERLIN, 2, 30)
    start = dt.datetime(2026, 10, 24, 22, 0, tzinfo=UTC)  # 00:00 local, 25 October (25 hours long)
    openings: list[dt.date] = []
    for minute in range(25 * 60):
        now = start + dt.timedelta(minutes=minute)
        w = current_window(now, sched)
        assert w.day == now.astimezone(BERLIN).date()
        if w.phase(now) == "open" and (not openings or openings[-1] != w.day):
            openings.append(w.day)
    assert openings == [dt.date(2026, 10, 25)]


def test_catch_up_never_runs_past_midnight() -> None:
    """A late publish time's window ends at local midnight: never a post on the next day."""
    w = window(dt.date(2026, 11, 29), schedule(SHANGHAI, 22, 0, catch_up_hours=6))
    assert w.end == dt.datetime(2026, 11, 29, 16, 0, tzinfo=UTC)  # 24:00 in Shanghai


@pytest.mark.parametrize(
    ("local", "phase"),
    [((7, 59), "early"), ((8, 0), "open"), ((13, 59), "open"), ((14, 0), "closed"), ((23, 0), "closed")],
)
def test_phases_of_the_day(local: tuple[int, int], phase: str) -> None:
    """Before the time: early; for catch_up after it: open; then closed."""
    now = dt.datetime(2026, 11, 29, *local, tzinfo=SHANGHAI)
    assert current_window(now, schedule(SHANGHAI, 8)).phase(now) == phase
