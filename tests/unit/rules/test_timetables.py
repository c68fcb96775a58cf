"""Timetables: Airflow's data intervals, catchup, daylight saving and serialization.

Cron fire times are checked against a brute-force reference that lists every wall-clock
match in a wide window and maps it to instants; the timetable's own search is cleverer
(it stops early), and this shows it finds the same instants.
"""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta, timezone
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from tradewind.exceptions import InvalidScheduleError
from tradewind.rules.timetables import (
    CRON_PRESETS,
    CronTimetable,
    DagRunInfo,
    DataInterval,
    DeltaTimetable,
    NullTimetable,
    OnceTimetable,
    TimeRestriction,
    Timetable,
    make_timetable,
    timetable_from_dict,
)

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def berlin(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, *, fold: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN, fold=fold)


def restriction(
    earliest: datetime | None = None, latest: datetime | None = None, catchup: bool = True
) -> TimeRestriction:
    return TimeRestriction(earliest=earliest, latest=latest, catchup=catchup)


def chain(
    timetable: Timetable, restrict: TimeRestriction, now: datetime, n: int
) -> list[DagRunInfo]:
    """The first ``n`` runs, each asked for with the previous one's interval."""
    infos: list[DagRunInfo] = []
    last: DataInterval | None = None
    for _ in range(n):
        info = timetable.next_dagrun_info(
            last_automated_data_interval=last, restriction=restrict, now=now
        )
        if info is None:
            break
        infos.append(info)
        last = info.data_interval
    return infos


def starts(infos: list[DagRunInfo]) -> list[datetime]:
    return [info.data_interval.start for info in infos]


def assert_utc(moment: datetime) -> None:
    assert moment.tzinfo is UTC


# -- make_timetable ----------------------------------------------------------------------


def test_make_timetable_kinds() -> None:
    assert isinstance(make_timetable(None), NullTimetable)
    assert isinstance(make_timetable("@once"), OnceTimetable)
    assert isinstance(make_timetable("@daily"), CronTimetable)
    assert isinstance(make_timetable("*/5 * * * *", "Europe/Berlin"), CronTimetable)
    assert isinstance(make_timetable(timedelta(hours=1)), DeltaTimetable)
    table = DeltaTimetable(timedelta(days=1))
    assert make_timetable(table) is table


def test_summaries_and_periodic() -> None:
    assert make_timetable(None).summary == "None"
    assert make_timetable("@once").summary == "@once"
    assert make_timetable("@daily").summary == "@daily"
    assert make_timetable("0 0 * * *").summary == "0 0 * * *"
    assert make_timetable(timedelta(hours=1)).summary == "1:00:00"
    assert not make_timetable(None).periodic
    assert not make_timetable("@once").periodic
    assert make_timetable("@hourly").periodic
    assert make_timetable(timedelta(minutes=5)).periodic


@pytest.mark.parametrize("preset", sorted(CRON_PRESETS))
def test_presets_behave_like_their_cron(preset: str) -> None:
    now = utc(2024, 5, 17, 13, 7)
    restrict = restriction(utc(2023, 11, 3, 4, 5))
    assert starts(chain(make_timetable(preset), restrict, now, 5)) == starts(
        chain(make_timetable(CRON_PRESETS[preset]), restrict, now, 5)
    )


@pytest.mark.parametrize(
    "bad",
    [
        "61 * * * *",
        "every day",
        "* * * *",
        "0 0 * * * *",
        "@often",
        "@midnight",
        "",
        "0 0 31 2 *",  # valid syntax, but never fires
        "H * * * *",
    ],
)
def test_bad_cron_strings_raise(bad: str) -> None:
    with pytest.raises(InvalidScheduleError) as info:
        make_timetable(bad)
    message = str(info.value)
    assert repr(bad) in message
    assert "cron" in message and "timedelta" in message and "None" in message
    assert "@daily" in message


@pytest.mark.parametrize("bad", [timedelta(0), timedelta(seconds=-5), 5, 1.5, True, ["@daily"]])
def test_bad_schedule_values_raise(bad: object) -> None:
    with pytest.raises(InvalidScheduleError) as info:
        make_timetable(bad)  # type: ignore[arg-type]
    assert repr(bad) in str(info.value)
    assert "timedelta" in str(info.value)


def test_unknown_timezone_raises() -> None:
    with pytest.raises(InvalidScheduleError, match="Mars/Olympus"):
        make_timetable("@daily", "Mars/Olympus")


def test_timezones_in_many_forms() -> None:
    assert make_timetable("@daily", "Europe/Berlin") == make_timetable("@daily", BERLIN)
    assert make_timetable("@daily", "UTC") == make_timetable("@daily", UTC)
    assert make_timetable("@daily", ZoneInfo("UTC")) == make_timetable("@daily")
    plus2 = make_timetable("@daily", timezone(timedelta(hours=2)))
    assert plus2 == make_timetable("@daily", "+02:00")
    assert plus2.serialize()["timezone"] == "+02:00"
    assert make_timetable("@daily", "-03:30").serialize()["timezone"] == "-03:30"


# -- null and once -----------------------------------------------------------------------


def test_null_timetable_never_schedules() -> None:
    table = NullTimetable()
    info = table.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=restriction(utc(2024, 1, 1)),
        now=utc(2025, 1, 1),
    )
    assert info is None
    assert table.infer_manual_data_interval(utc(2024, 3, 1, 12)) == DataInterval(
        utc(2024, 3, 1, 12), utc(2024, 3, 1, 12)
    )


def test_once_runs_once_at_the_start_date_whatever_catchup() -> None:
    table = OnceTimetable()
    for catchup in (True, False):
        restrict = restriction(utc(2020, 1, 1, 6), catchup=catchup)
        infos = chain(table, restrict, utc(2024, 1, 1), 3)
        assert infos == [DagRunInfo.exact(utc(2020, 1, 1, 6))]
        assert infos[0].logical_date == utc(2020, 1, 1, 6)
        assert infos[0].run_after == utc(2020, 1, 1, 6)
    assert chain(table, restriction(None), utc(2024, 1, 1), 3) == []
    late = restriction(utc(2020, 1, 2), latest=utc(2020, 1, 1))
    assert chain(table, late, utc(2024, 1, 1), 3) == []


# -- cron: examples ----------------------------------------------------------------------


def test_daily_intervals_with_catchup() -> None:
    table = make_timetable("@daily")
    infos = chain(table, restriction(utc(2024, 1, 1)), utc(2024, 1, 3, 12), 5)
    assert [i.data_interval for i in infos[:3]] == [
        DataInterval(utc(2024, 1, 1), utc(2024, 1, 2)),
        DataInterval(utc(2024, 1, 2), utc(2024, 1, 3)),
        DataInterval(utc(2024, 1, 3), utc(2024, 1, 4)),
    ]
    # Runs not yet due are returned too, with run_after in the future (Airflow).
    assert infos[2].run_after == utc(2024, 1, 4)
    assert len(infos) == 5


def test_start_date_off_the_schedule_is_aligned_forward() -> None:
    table = make_timetable("@daily")
    infos = chain(table, restriction(utc(2024, 1, 1, 6)), utc(2024, 2, 1), 1)
    assert infos[0].data_interval == DataInterval(utc(2024, 1, 2), utc(2024, 1, 3))


def test_catchup_false_starts_at_the_latest_complete_interval() -> None:
    table = make_timetable("@daily")
    restrict = restriction(utc(2020, 1, 1), catchup=False)
    mid = table.next_dagrun_info(
        last_automated_data_interval=None, restriction=restrict, now=utc(2024, 3, 10, 15)
    )
    assert mid is not None
    assert mid.data_interval == DataInterval(utc(2024, 3, 9), utc(2024, 3, 10))
    on_boundary = table.next_dagrun_info(
        last_automated_data_interval=None, restriction=restrict, now=utc(2024, 3, 10)
    )
    assert on_boundary is not None
    assert on_boundary.data_interval == DataInterval(utc(2024, 3, 9), utc(2024, 3, 10))
    # After that run, the next one is the interval still in progress.
    following = table.next_dagrun_info(
        last_automated_data_interval=mid.data_interval,
        restriction=restrict,
        now=utc(2024, 3, 10, 15),
    )
    assert following is not None
    assert following.data_interval == DataInterval(utc(2024, 3, 10), utc(2024, 3, 11))
    # An old last run does not bring back the missed intervals.
    skipped = table.next_dagrun_info(
        last_automated_data_interval=DataInterval(utc(2023, 1, 1), utc(2023, 1, 2)),
        restriction=restrict,
        now=utc(2024, 3, 10, 15),
    )
    assert skipped == mid


def test_catchup_false_never_before_the_start_date() -> None:
    table = make_timetable("@daily")
    restrict = restriction(utc(2024, 6, 1), catchup=False)
    info = table.next_dagrun_info(
        last_automated_data_interval=None, restriction=restrict, now=utc(2024, 3, 10, 15)
    )
    assert info is not None
    assert info.data_interval == DataInterval(utc(2024, 6, 1), utc(2024, 6, 2))


def test_catchup_without_start_date_has_no_runs() -> None:
    table = make_timetable("@daily")
    info = table.next_dagrun_info(
        last_automated_data_interval=None, restriction=restriction(), now=utc(2024, 1, 1)
    )
    assert info is None
    no_catchup = table.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=restriction(catchup=False),
        now=utc(2024, 1, 1, 5),
    )
    assert no_catchup is not None
    assert no_catchup.data_interval == DataInterval(utc(2023, 12, 31), utc(2024, 1, 1))


def test_end_date_stops_runs_that_start_after_it() -> None:
    table = make_timetable("@daily")
    restrict = restriction(utc(2024, 1, 1), latest=utc(2024, 1, 3))
    assert starts(chain(table, restrict, utc(2025, 1, 1), 10)) == [
        utc(2024, 1, 1),
        utc(2024, 1, 2),
        utc(2024, 1, 3),
    ]


def test_schedule_change_never_overlaps_the_last_run() -> None:
    # The last run was hourly and ended at 10:00; the DAG is now daily at 06:00.
    table = make_timetable("0 6 * * *")
    info = table.next_dagrun_info(
        last_automated_data_interval=DataInterval(utc(2024, 1, 1, 9), utc(2024, 1, 1, 10)),
        restriction=restriction(utc(2023, 1, 1)),
        now=utc(2024, 1, 5),
    )
    assert info is not None
    assert info.data_interval == DataInterval(utc(2024, 1, 2, 6), utc(2024, 1, 3, 6))


def test_manual_interval_is_the_latest_complete_one() -> None:
    table = make_timetable("@daily")
    assert table.infer_manual_data_interval(utc(2024, 1, 25, 1)) == DataInterval(
        utc(2024, 1, 24), utc(2024, 1, 25)
    )
    assert table.infer_manual_data_interval(utc(2024, 1, 25)) == DataInterval(
        utc(2024, 1, 24), utc(2024, 1, 25)
    )
    delta = make_timetable(timedelta(hours=6))
    assert delta.infer_manual_data_interval(utc(2024, 1, 25, 1)) == DataInterval(
        utc(2024, 1, 24, 19), utc(2024, 1, 25, 1)
    )


def test_cron_in_a_time_zone_is_stored_in_utc() -> None:
    table = make_timetable("0 9 * * 1-5", "America/New_York")
    infos = chain(table, restriction(utc(2024, 1, 5)), utc(2024, 2, 1), 3)
    # Friday 5 Jan 09:00 EST = 14:00 UTC, then Monday and Tuesday.
    assert starts(infos) == [utc(2024, 1, 5, 14), utc(2024, 1, 8, 14), utc(2024, 1, 9, 14)]
    for info in infos:
        assert_utc(info.run_after)
        assert_utc(info.data_interval.start)
        assert_utc(info.data_interval.end)


# -- cron: daylight saving ---------------------------------------------------------------


def fire_times(expression: str, tz: str, start: datetime, n: int) -> list[datetime]:
    table = make_timetable(expression, tz)
    return [s.astimezone(ZoneInfo(tz)) for s in starts(chain(table, restriction(start), start, n))]


def test_dst_daily_at_two_in_berlin_spring_forward() -> None:
    # 26 March 2023: 02:00 does not exist in Berlin; the run is at 03:00 CEST.
    times = fire_times("0 2 * * *", "Europe/Berlin", utc(2023, 3, 24, 12), 4)
    assert times == [
        berlin(2023, 3, 25, 2),
        berlin(2023, 3, 26, 3),
        berlin(2023, 3, 27, 2),
        berlin(2023, 3, 28, 2),
    ]
    assert [t.astimezone(UTC).hour for t in times] == [1, 1, 0, 0]


def test_dst_daily_at_two_thirty_shifts_by_the_gap() -> None:
    times = fire_times("30 2 * * *", "Europe/Berlin", utc(2023, 3, 25, 12), 2)
    assert times == [berlin(2023, 3, 26, 3, 30), berlin(2023, 3, 27, 2, 30)]


def test_dst_daily_at_two_in_berlin_fall_back_runs_once() -> None:
    # 29 October 2023: 02:00-03:00 happens twice; a daily run fires at the first.
    times = fire_times("0 2 * * *", "Europe/Berlin", utc(2023, 10, 27, 12), 3)
    assert times == [berlin(2023, 10, 28, 2), berlin(2023, 10, 29, 2), berlin(2023, 10, 30, 2)]
    assert times[1].astimezone(UTC) == utc(2023, 10, 29, 0)
    # The interval across the change lasts 25 hours, the one before 24.
    table = make_timetable("0 2 * * *", "Europe/Berlin")
    infos = chain(table, restriction(utc(2023, 10, 27, 12)), utc(2023, 10, 27, 12), 3)
    lengths = [i.data_interval.end - i.data_interval.start for i in infos]
    assert lengths == [timedelta(hours=24), timedelta(hours=25), timedelta(hours=24)]


def test_dst_hourly_fires_every_real_hour() -> None:
    fall = fire_times("30 * * * *", "Europe/Berlin", utc(2023, 10, 28, 23), 4)
    assert [t.astimezone(UTC) for t in fall] == [
        utc(2023, 10, 28, 23, 30),
        utc(2023, 10, 29, 0, 30),  # 02:30 CEST
        utc(2023, 10, 29, 1, 30),  # 02:30 CET
        utc(2023, 10, 29, 2, 30),
    ]
    assert fall[2] == berlin(2023, 10, 29, 2, 30, fold=1)
    spring = fire_times("30 * * * *", "Europe/Berlin", utc(2023, 3, 25, 23), 4)
    assert [t.astimezone(UTC) for t in spring] == [
        utc(2023, 3, 25, 23, 30),
        utc(2023, 3, 26, 0, 30),
        utc(2023, 3, 26, 1, 30),  # 03:30 CEST; 02:30 did not exist
        utc(2023, 3, 26, 2, 30),
    ]


def test_dst_every_two_hours_skips_the_repeated_hour() -> None:
    times = fire_times("0 */2 * * *", "Europe/Berlin", utc(2023, 10, 28, 21), 4)
    assert [t.astimezone(UTC) for t in times] == [
        utc(2023, 10, 28, 22),  # 00:00 CEST
        utc(2023, 10, 29, 0),  # 02:00 CEST, not again at 02:00 CET
        utc(2023, 10, 29, 3),  # 04:00 CET
        utc(2023, 10, 29, 5),
    ]


def test_dst_lord_howe_half_hour_shift() -> None:
    # Lord Howe moves its clocks by 30 minutes: 02:00 -> 02:30 on 1 October 2023.
    times = fire_times("15 2 * * *", "Australia/Lord_Howe", utc(2023, 9, 29), 3)
    assert [t.replace(tzinfo=None) for t in times] == [
        datetime(2023, 9, 30, 2, 15),
        datetime(2023, 10, 1, 2, 45),
        datetime(2023, 10, 2, 2, 15),
    ]


def test_dst_a_later_wall_time_can_fire_earlier() -> None:
    # Lord Howe, 1 October 2023: 02:00 -> 02:30. 02:20 does not exist and reads as 02:50,
    # so after 02:35 the next fire of */20 is 02:40 (a later wall time), not 02:50.
    table = make_timetable("*/20 * * * *", "Australia/Lord_Howe")
    assert isinstance(table, CronTimetable)
    lord_howe = ZoneInfo("Australia/Lord_Howe")
    now = datetime(2023, 10, 1, 2, 35, tzinfo=lord_howe)
    assert table._next(now) == datetime(2023, 10, 1, 2, 40, tzinfo=lord_howe)
    assert table._prev(datetime(2023, 10, 1, 2, 45, tzinfo=lord_howe)) == datetime(
        2023, 10, 1, 2, 40, tzinfo=lord_howe
    )


# -- cron: properties --------------------------------------------------------------------

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "America/Sao_Paulo",  # switched at midnight
    "Africa/Casablanca",  # several changes a year
    "Asia/Kolkata",
    "Pacific/Apia",  # skipped 30 December 2011 entirely
]

minutes = st.sampled_from(["0", "30", "*/15", "5,35", "*/20", "59"])
hours = st.sampled_from(["*", "2", "0-5", "*/3", "1,2,3", "23", "0"])
days = st.sampled_from(["*", "*", "1", "15", "L", "29"])
months = st.sampled_from(["*", "*", "*/3", "3,10", "2"])
weekdays = st.sampled_from(["*", "*", "0", "1-5", "6"])


@st.composite
def cron_expressions(draw: st.DrawFn) -> str:
    return " ".join(draw(field) for field in (minutes, hours, days, months, weekdays))


@cache
def transitions(zone: str) -> list[datetime]:
    """The UTC instants at which ``zone`` changed its offset, 2010-2025."""
    tz = ZoneInfo(zone)
    found = []
    moment = utc(2010, 1, 1)
    previous = moment.astimezone(tz).utcoffset()
    while moment < utc(2025, 1, 1):
        moment += timedelta(minutes=30)
        offset = moment.astimezone(tz).utcoffset()
        if offset != previous:
            found.append(moment)
            previous = offset
    return found or [utc(2020, 1, 1)]


@st.composite
def instants_near_transitions(draw: st.DrawFn, zone: str) -> datetime:
    """Instants within a day of an offset change of ``zone`` (or anywhere, sometimes)."""
    if draw(st.booleans()):
        base = draw(st.sampled_from(transitions(zone)))
        near = st.integers(-180, 180) | st.integers(-1500, 1500)
        return base + timedelta(minutes=draw(near), seconds=draw(st.sampled_from([0, 0, 1])))
    return draw(st.datetimes(datetime(2000, 1, 1), datetime(2040, 1, 1), timezones=st.just(UTC)))


@st.composite
def zone_and_instant(draw: st.DrawFn) -> tuple[str, datetime]:
    zone = draw(st.sampled_from(ZONES))
    return zone, draw(instants_near_transitions(zone))


def reference_fires(table: CronTimetable, around: datetime, span: timedelta) -> list[datetime]:
    """Every fire instant within ``span`` of ``around``, the slow and obvious way: list
    each wall-clock match, read it with fold=0 (and fold=1 as well when the wall time
    happens twice and the expression fires every hour), keep the distinct instants."""
    tz = table.timezone
    expression = CRON_PRESETS.get(table.expression, table.expression)
    every_hour = expression.split()[1] == "*"
    wall = around.astimezone(tz).replace(tzinfo=None)
    it = croniter(expression, wall - span - timedelta(days=2))
    found = set()
    while True:
        candidate = it.get_next(datetime)
        if candidate > wall + span + timedelta(days=2):
            break
        first = candidate.replace(tzinfo=tz, fold=0).astimezone(UTC)
        second = candidate.replace(tzinfo=tz, fold=1).astimezone(UTC)
        found.add(first)
        round_trips = second.astimezone(tz).replace(tzinfo=None) == candidate
        if second > first and round_trips and every_hour:
            found.add(second)
    return sorted(f for f in found if abs(f - around) <= span)


@settings(max_examples=60, deadline=None)
@given(
    zone_and_instant(), st.sampled_from(["30 * * * *", "*/20 * * * *", "0 2 * * *", "15 0-5 * * *"])
)
def test_next_and_prev_match_the_brute_force_reference(
    zone_instant: tuple[str, datetime], expression: str
) -> None:
    zone, moment = zone_instant
    table = make_timetable(expression, zone)
    assert isinstance(table, CronTimetable)
    fires = reference_fires(table, moment, timedelta(days=2))
    after = [f for f in fires if f > moment]
    before = [f for f in fires if f < moment]
    assert table._next(moment) == after[0]
    assert table._prev(moment) == before[-1]


@settings(max_examples=60, deadline=None)
@given(zone_and_instant(), cron_expressions(), st.integers(min_value=2, max_value=6))
def test_cron_intervals_are_contiguous_and_increasing(
    zone_instant: tuple[str, datetime], expression: str, n: int
) -> None:
    zone, start = zone_instant
    table = make_timetable(expression, zone)
    infos = chain(table, restriction(start), start, n)
    assert len(infos) == n
    assert infos[0].data_interval.start >= start
    for info in infos:
        assert info.data_interval.start < info.data_interval.end
        assert info.run_after == info.data_interval.end
        assert info.logical_date == info.data_interval.start
        assert_utc(info.run_after)
        assert_utc(info.data_interval.start)
    for previous, following in itertools.pairwise(infos):
        assert following.data_interval.start == previous.data_interval.end


@settings(max_examples=60, deadline=None)
@given(
    zone_and_instant(),
    cron_expressions(),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)),
    st.booleans(),
)
def test_catchup_false_returns_the_latest_complete_interval(
    zone_instant: tuple[str, datetime], expression: str, age: timedelta, has_start: bool
) -> None:
    zone, now = zone_instant
    table = make_timetable(expression, zone)
    assert isinstance(table, CronTimetable)
    earliest = now - age if has_start else None
    restrict = restriction(earliest, catchup=False)
    info = table.next_dagrun_info(last_automated_data_interval=None, restriction=restrict, now=now)
    assert info is not None
    interval = info.data_interval
    if earliest is not None:
        assert interval.start >= earliest
    if interval.end <= now:
        # Complete, and the latest such: the interval after it has not ended.
        assert table._next(interval.end) > now
    else:
        # Nothing complete since the start date: the first interval from it.
        assert earliest is not None
        assert interval.start == table._next(earliest - timedelta(microseconds=1))
    # Asking again after any run that ended before it gives the same answer...
    old = DataInterval(interval.start - age - timedelta(days=1), interval.start - age)
    again = table.next_dagrun_info(last_automated_data_interval=old, restriction=restrict, now=now)
    assert again == info
    # ...and after this run, the next one starts where it ended.
    following = table.next_dagrun_info(
        last_automated_data_interval=interval, restriction=restrict, now=now
    )
    assert following is not None
    assert following.data_interval.start == interval.end


@settings(max_examples=40, deadline=None)
@given(zone_and_instant(), cron_expressions())
def test_manual_interval_is_complete_and_latest(
    zone_instant: tuple[str, datetime], expression: str
) -> None:
    zone, run_after = zone_instant
    table = make_timetable(expression, zone)
    assert isinstance(table, CronTimetable)
    interval = table.infer_manual_data_interval(run_after)
    assert interval.start < interval.end <= run_after
    assert table._next(interval.start) == interval.end
    assert table._next(interval.end) > run_after


# -- delta -------------------------------------------------------------------------------


def test_delta_intervals_from_the_start_date() -> None:
    table = make_timetable(timedelta(hours=6))
    infos = chain(table, restriction(utc(2024, 1, 1, 1)), utc(2024, 1, 2), 3)
    assert [i.data_interval for i in infos] == [
        DataInterval(utc(2024, 1, 1, 1), utc(2024, 1, 1, 7)),
        DataInterval(utc(2024, 1, 1, 7), utc(2024, 1, 1, 13)),
        DataInterval(utc(2024, 1, 1, 13), utc(2024, 1, 1, 19)),
    ]


def test_delta_catchup_false_keeps_the_start_date_grid() -> None:
    table = make_timetable(timedelta(hours=6))
    restrict = restriction(utc(2024, 1, 1, 1), catchup=False)
    info = table.next_dagrun_info(
        last_automated_data_interval=None, restriction=restrict, now=utc(2024, 3, 1, 12)
    )
    assert info is not None
    assert info.data_interval == DataInterval(utc(2024, 3, 1, 1), utc(2024, 3, 1, 7))
    before_start = table.next_dagrun_info(
        last_automated_data_interval=None, restriction=restrict, now=utc(2023, 1, 1)
    )
    assert before_start is not None
    assert before_start.data_interval.start == utc(2024, 1, 1, 1)


deltas = st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(days=40))
moments = st.datetimes(datetime(2000, 1, 1), datetime(2040, 1, 1), timezones=st.just(UTC))


@given(deltas, moments, st.integers(min_value=2, max_value=8))
def test_delta_intervals_are_contiguous(delta: timedelta, start: datetime, n: int) -> None:
    infos = chain(make_timetable(delta), restriction(start), start, n)
    assert len(infos) == n
    assert infos[0].data_interval.start == start
    for info in infos:
        assert info.data_interval.end - info.data_interval.start == delta
        assert info.run_after == info.data_interval.end
    for previous, following in itertools.pairwise(infos):
        assert following.data_interval.start == previous.data_interval.end


@given(deltas, moments, st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=900)))
def test_delta_catchup_false_latest_complete(
    delta: timedelta, start: datetime, age: timedelta
) -> None:
    now = start + age
    table = make_timetable(delta)
    info = table.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=restriction(start, catchup=False),
        now=now,
    )
    assert info is not None
    interval = info.data_interval
    assert interval.start >= start
    assert (interval.start - start) % delta == timedelta(0)  # on the start date's grid
    if interval.end <= now:
        assert interval.end + delta > now
    else:
        assert interval.start == start


# -- serialization -----------------------------------------------------------------------

schedules = st.one_of(
    st.none(),
    st.just("@once"),
    st.sampled_from(sorted(CRON_PRESETS)),
    cron_expressions(),
    deltas,
)


@given(schedules, st.sampled_from([*ZONES, "+05:30", "-03:00"]))
def test_serialize_round_trips(schedule: str | timedelta | None, zone: str) -> None:
    table = make_timetable(schedule, zone)
    data = table.serialize()
    assert json.loads(json.dumps(data)) == data
    back = timetable_from_dict(json.loads(json.dumps(data)))
    assert back == table
    assert type(back) is type(table)
    assert back.summary == table.summary
    assert back.periodic == table.periodic
    assert hash(back) == hash(table)
    restrict = restriction(utc(2024, 1, 1))
    assert chain(back, restrict, utc(2024, 2, 1), 3) == chain(table, restrict, utc(2024, 2, 1), 3)


def test_timetable_from_dict_rejects_unknown_data() -> None:
    with pytest.raises(InvalidScheduleError, match="unknown type"):
        timetable_from_dict({"type": "lunar"})
    with pytest.raises(InvalidScheduleError, match="expression"):
        timetable_from_dict({"type": "cron"})


def test_cron_serialization_keeps_the_zone_name() -> None:
    assert make_timetable("@daily", "Europe/Berlin").serialize() == {
        "type": "cron",
        "expression": "@daily",
        "timezone": "Europe/Berlin",
    }


# -- value objects -----------------------------------------------------------------------


def test_intervals_are_normalised_to_utc_and_checked() -> None:
    interval = DataInterval(berlin(2024, 1, 1, 1), berlin(2024, 1, 2, 1))
    assert interval.start == utc(2024, 1, 1, 0)
    assert_utc(interval.start)
    assert_utc(interval.end)
    with pytest.raises(ValueError, match="before it starts"):
        DataInterval(utc(2024, 1, 2), utc(2024, 1, 1))
    with pytest.raises(ValueError, match="naive"):
        DataInterval(datetime(2024, 1, 1), utc(2024, 1, 2))
    with pytest.raises(ValueError, match="naive"):
        TimeRestriction(earliest=datetime(2024, 1, 1), latest=None, catchup=True)
    with pytest.raises(ValueError, match="naive"):
        make_timetable("@daily").next_dagrun_info(
            last_automated_data_interval=None,
            restriction=restriction(utc(2024, 1, 1)),
            now=datetime(2024, 1, 1),
        )
    info = DagRunInfo.interval(utc(2024, 1, 1), utc(2024, 1, 2))
    assert info.logical_date == utc(2024, 1, 1)
    assert info.run_after == utc(2024, 1, 2)
