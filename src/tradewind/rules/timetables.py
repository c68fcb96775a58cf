"""Timetables: which DAG runs a schedule asks for, and over which data interval.

This module owns the arithmetic of schedules, in Airflow 2's data-interval model: a run
covers the interval ``[start, end)``, its ``logical_date`` is ``start``, and it becomes due
at ``end`` (its ``run_after``). The scheduler asks :meth:`Timetable.next_dagrun_info` for
the run after the last automated one, stores its ``run_after``, and creates it when that
time has come. Everything here is pure: the current time comes in as ``now``, so that the
rules can be tested with any clock and two schedulers agree on the answer.

All datetimes returned are timezone-aware UTC. Cron expressions are evaluated on the wall
clock of the DAG's time zone, so that ``0 2 * * *`` in ``Europe/Berlin`` means 02:00 in
Berlin all year round. Daylight-saving changes are handled as follows:

* a wall time that does not exist (the clock jumps from 02:00 to 03:00) is read with the
  offset in force before the jump, as PEP 495 and pendulum do: 02:30 becomes 03:30 summer
  time, so a daily run keeps its place and an hourly run does not fire twice at 03:30;
* a wall time that happens twice (the clock goes back from 03:00 to 02:00) fires once, at
  its first occurrence, unless the expression fires every hour (its hour field is ``*``):
  then it fires at both, so that ``30 * * * *`` stays one run per real hour. Airflow makes
  the same distinction (``_covers_every_hour``).
"""

from __future__ import annotations

import abc
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from tradewind.exceptions import InvalidScheduleError

UTC = timezone.utc

#: Airflow's cron presets (plus ``@annually``), mapped to the cron they stand for.
CRON_PRESETS: dict[str, str] = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}

_ACCEPTED = (
    "a schedule is None (manual runs only), '@once', a preset ("
    + ", ".join(CRON_PRESETS)
    + "), a five-field cron expression such as '0 0 * * *', or a positive datetime.timedelta"
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TINY = timedelta(microseconds=1)


def _require_aware(value: datetime, name: str) -> datetime:
    """Return ``value`` in UTC; refuse naive datetimes, whose meaning would be a guess."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {value!r}")
    return value.astimezone(UTC)


@dataclass(frozen=True)
class DataInterval:
    """The interval ``[start, end)`` of data a DAG run covers; both ends in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        start = _require_aware(self.start, "DataInterval.start")
        end = _require_aware(self.end, "DataInterval.end")
        if end < start:
            raise ValueError(f"DataInterval ends ({end}) before it starts ({start})")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)

    @classmethod
    def exact(cls, at: datetime) -> DataInterval:
        """An empty interval at one instant (for manual and ``@once`` runs)."""
        return cls(start=at, end=at)


@dataclass(frozen=True)
class DagRunInfo:
    """A run a timetable asks for: when it becomes due, and the data it covers."""

    run_after: datetime
    data_interval: DataInterval

    def __post_init__(self) -> None:
        object.__setattr__(self, "run_after", _require_aware(self.run_after, "run_after"))

    @property
    def logical_date(self) -> datetime:
        """Airflow's ``logical_date`` (formerly ``execution_date``): the interval start."""
        return self.data_interval.start

    @classmethod
    def interval(cls, start: datetime, end: datetime) -> DagRunInfo:
        """A run over ``[start, end)``, due at ``end``."""
        return cls(run_after=end, data_interval=DataInterval(start=start, end=end))

    @classmethod
    def exact(cls, at: datetime) -> DagRunInfo:
        """A run due at ``at`` with the empty interval at ``at``."""
        return cls(run_after=at, data_interval=DataInterval.exact(at))


@dataclass(frozen=True)
class TimeRestriction:
    """What the DAG allows: runs not before ``earliest`` (the start date) nor starting
    after ``latest`` (the end date), and whether missed intervals are caught up."""

    earliest: datetime | None
    latest: datetime | None
    catchup: bool

    def __post_init__(self) -> None:
        if self.earliest is not None:
            object.__setattr__(
                self, "earliest", _require_aware(self.earliest, "TimeRestriction.earliest")
            )
        if self.latest is not None:
            object.__setattr__(
                self, "latest", _require_aware(self.latest, "TimeRestriction.latest")
            )


class Timetable(abc.ABC):
    """What a schedule means: the automated runs it creates and the interval of manual ones.

    Instances compare equal when they serialize equally, so that the scheduler can tell
    whether a re-parsed DAG changed its schedule.
    """

    #: Whether the timetable creates runs over and over (cron, delta) or not (None, once).
    periodic: ClassVar[bool] = False
    #: The ``type`` written by :meth:`serialize` and read by :func:`timetable_from_dict`.
    type_name: ClassVar[str]

    @property
    @abc.abstractmethod
    def summary(self) -> str:
        """A short text for people: the expression, preset or delta the user wrote."""

    @abc.abstractmethod
    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
        now: datetime,
    ) -> DagRunInfo | None:
        """The next automated run after ``last_automated_data_interval``; None if there
        will be none (no schedule, ``@once`` already ran, past the end date, or catchup
        with no start date).

        As in Airflow, the run returned may not be due yet: the caller stores
        ``run_after`` and creates the run once ``now >= run_after``, then calls again
        with the new run's interval. Each call returns one run, so catching up is one
        run per call. ``now`` matters only when ``restriction.catchup`` is False: then
        runs start at the latest interval that has completed at ``now``.
        """

    @abc.abstractmethod
    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        """The data interval of a run a user triggers at ``run_after``."""

    @abc.abstractmethod
    def serialize(self) -> dict[str, Any]:
        """A JSON-safe dict that :func:`timetable_from_dict` turns back into this."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Timetable):
            return NotImplemented
        return self.serialize() == other.serialize()

    def __hash__(self) -> int:
        return hash(tuple(sorted((k, repr(v)) for k, v in self.serialize().items())))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.summary!r})"


class NullTimetable(Timetable):
    """``schedule=None``: no automated runs; users trigger every run."""

    type_name = "null"

    @property
    def summary(self) -> str:
        return "None"

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
        now: datetime,
    ) -> DagRunInfo | None:
        return None

    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        return DataInterval.exact(run_after)

    def serialize(self) -> dict[str, Any]:
        return {"type": self.type_name}


class OnceTimetable(Timetable):
    """``schedule="@once"``: one automated run, due at the start date.

    As in Airflow, catchup does not matter: the one run is at ``earliest`` even if that
    is long past. Without a start date there is no run.
    """

    type_name = "once"

    @property
    def summary(self) -> str:
        return "@once"

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
        now: datetime,
    ) -> DagRunInfo | None:
        if last_automated_data_interval is not None or restriction.earliest is None:
            return None
        if restriction.latest is not None and restriction.earliest > restriction.latest:
            return None
        return DagRunInfo.exact(restriction.earliest)

    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        return DataInterval.exact(run_after)

    def serialize(self) -> dict[str, Any]:
        return {"type": self.type_name}


class _IntervalTimetable(Timetable):
    """Shared logic of periodic timetables: a set of boundary instants in UTC, each
    interval running from one boundary to the next (Airflow's
    ``_DataIntervalTimetable``)."""

    periodic = True

    @abc.abstractmethod
    def _next(self, current: datetime) -> datetime:
        """The first boundary strictly after ``current``."""

    @abc.abstractmethod
    def _prev(self, current: datetime) -> datetime:
        """The last boundary strictly before ``current``."""

    def _align_to_next(self, current: datetime) -> datetime:
        """``current`` if it is a boundary, else the first boundary after it."""
        return self._next(current - _TINY)

    def _align_to_prev(self, current: datetime) -> datetime:
        """``current`` if it is a boundary, else the last boundary before it."""
        return self._prev(current + _TINY)

    @abc.abstractmethod
    def _latest_complete_start(self, earliest: datetime | None, now: datetime) -> datetime:
        """Start of the latest interval that has ended at ``now`` (catchup=False)."""

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
        now: datetime,
    ) -> DagRunInfo | None:
        now = _require_aware(now, "now")
        earliest = restriction.earliest
        if earliest is not None:
            earliest = self._align_to_next(earliest)
        if not restriction.catchup:
            skip_to = self._latest_complete_start(restriction.earliest, now)
            earliest = skip_to if earliest is None else max(earliest, skip_to)
        if last_automated_data_interval is None:
            if earliest is None:
                # catchup with no start date: nothing to start from (as in Airflow).
                return None
            start = earliest
        else:
            # Continue where the last run ended. Airflow aligns a last end that is off
            # the schedule (the schedule changed) *back* to the previous boundary, which
            # makes the new interval overlap the old one; we go forward instead so that
            # no data is covered twice and a run never starts before the last one ended.
            start = self._align_to_next(last_automated_data_interval.end)
            if earliest is not None:
                start = max(start, earliest)
        if restriction.latest is not None and start > restriction.latest:
            return None
        return DagRunInfo.interval(start=start, end=self._next(start))


class CronTimetable(_IntervalTimetable):
    """A cron expression (or preset) evaluated in a time zone, like Airflow's
    ``CronDataIntervalTimetable``: each interval runs from one fire time to the next.

    See the module docstring for daylight-saving behaviour.
    """

    type_name = "cron"

    def __init__(self, expression: str, timezone: str | tzinfo = "UTC") -> None:
        self.expression = expression.strip()
        self._tz = _parse_timezone(timezone)
        self._cron = _validate_cron(self.expression)
        # Airflow's _covers_every_hour: croniter expands 'every hour' to ['*'].
        expanded = croniter(self._cron, datetime(2000, 1, 1)).expanded
        self._fires_every_hour = expanded[1] == ["*"]

    @property
    def timezone(self) -> tzinfo:
        """The time zone whose wall clock the expression is read on."""
        return self._tz

    @property
    def summary(self) -> str:
        return self.expression

    def serialize(self) -> dict[str, Any]:
        return {
            "type": self.type_name,
            "expression": self.expression,
            "timezone": _timezone_name(self._tz),
        }

    # -- mapping wall-clock fire times to instants ------------------------------------

    def _instants(self, wall: datetime) -> list[datetime]:
        """The UTC instants at which a naive local fire time ``wall`` fires."""
        first = wall.replace(tzinfo=self._tz, fold=0)
        second = wall.replace(tzinfo=self._tz, fold=1)
        first_utc, second_utc = first.astimezone(UTC), second.astimezone(UTC)
        if first_utc == second_utc:
            return [first_utc]
        if first_utc > second_utc:
            # A gap: ``wall`` does not exist. fold=0 reads it with the offset before the
            # jump, which lands after the gap (02:30 -> 03:30 summer time).
            return [first_utc]
        # A fold: ``wall`` happens twice.
        return [first_utc, second_utc] if self._fires_every_hour else [first_utc]

    def _offset_at(self, instant: datetime) -> timedelta:
        offset = instant.astimezone(self._tz).utcoffset()
        assert offset is not None
        return offset

    def _offsets_near(self, instant: datetime) -> list[timedelta]:
        """The UTC offsets in force within a day of ``instant``.

        Offset changes are rare (at most a few a year), so the offsets a day either side
        bound every offset in between, which bounds how far a wall time can be from the
        instant it maps to.
        """
        return [self._offset_at(instant + timedelta(days=d)) for d in (-1, 0, 1)]

    def _local_naive(self, instant: datetime) -> datetime:
        return instant.astimezone(self._tz).replace(tzinfo=None, fold=0)

    def _next(self, current: datetime) -> datetime:
        """The first fire instant strictly after ``current``.

        Fire instants are not monotonic in wall time around a gap (02:30 maps after
        03:00), so instead of taking croniter's first match we walk the wall-clock
        matches, starting early enough and stopping once no later match can map earlier
        than the best one found.
        """
        current = current.astimezone(UTC)
        offsets = self._offsets_near(current)
        wall = self._local_naive(current)
        # A wall time before ``wall`` maps after ``current`` only right after a gap.
        lookback = max(timedelta(0), max(offsets) - min(offsets))
        it = croniter(self._cron, wall - lookback - _TINY)
        best: datetime | None = None
        bound: timedelta | None = None
        while True:
            candidate = it.get_next(datetime)
            # Every instant of ``candidate`` is at least candidate - max offset.
            if (
                best is not None
                and bound is not None
                and candidate.replace(tzinfo=UTC) - bound > best
            ):
                return best
            for instant in self._instants(candidate):
                if instant > current and (best is None or instant < best):
                    best = instant
                    bound = max(self._offsets_near(instant))

    def _prev(self, current: datetime) -> datetime:
        """The last fire instant strictly before ``current`` (mirror of :meth:`_next`)."""
        current = current.astimezone(UTC)
        offsets = self._offsets_near(current)
        wall = self._local_naive(current)
        # A wall time after ``wall`` maps before ``current`` only around a fold.
        lookahead = max(timedelta(0), max(offsets) - min(offsets))
        it = croniter(self._cron, wall + lookahead + _TINY)
        best: datetime | None = None
        bound: timedelta | None = None
        while True:
            candidate = it.get_prev(datetime)
            # Every instant of ``candidate`` is at most candidate - min offset.
            if (
                best is not None
                and bound is not None
                and candidate.replace(tzinfo=UTC) - bound < best
            ):
                return best
            for instant in self._instants(candidate):
                if instant < current and (best is None or instant > best):
                    best = instant
                    bound = min(self._offsets_near(instant))

    def _latest_complete_start(self, earliest: datetime | None, now: datetime) -> datetime:
        # Airflow's CronDataIntervalTimetable._skip_to_latest: if ``now`` is on a
        # boundary, the interval ending at ``now``; otherwise the one before the interval
        # ``now`` is in.
        last_start = self._prev(now)
        if self._next(last_start) == now:
            return last_start
        return self._prev(last_start)

    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        """The latest complete interval at ``run_after``, as in Airflow: a manual run at
        01:00 on the 25th of a ``@daily`` DAG covers the 24th."""
        run_after = _require_aware(run_after, "run_after")
        end = self._align_to_prev(run_after)
        return DataInterval(start=self._prev(end), end=end)


class DeltaTimetable(_IntervalTimetable):
    """A fixed ``timedelta`` between runs (Airflow's ``DeltaDataIntervalTimetable``):
    intervals ``[earliest + k*delta, earliest + (k+1)*delta)``.

    The delta is absolute time, so the time zone does not matter. With catchup off,
    Airflow rounds ``now`` down to a multiple of the delta since the Unix epoch, which can
    move the intervals off the start date's grid; we keep the grid anchored at the start
    date (at the epoch only when there is no start date), so that runs stay aligned
    with the start date however catchup is set.
    """

    type_name = "delta"

    def __init__(self, delta: timedelta) -> None:
        if not isinstance(delta, timedelta) or delta <= timedelta(0):
            raise InvalidScheduleError(
                f"schedule {delta!r} is not a positive timedelta; {_ACCEPTED}"
            )
        self.delta = delta

    @property
    def summary(self) -> str:
        return str(self.delta)

    def serialize(self) -> dict[str, Any]:
        return {
            "type": self.type_name,
            "days": self.delta.days,
            "seconds": self.delta.seconds,
            "microseconds": self.delta.microseconds,
        }

    def _next(self, current: datetime) -> datetime:
        return current.astimezone(UTC) + self.delta

    def _prev(self, current: datetime) -> datetime:
        return current.astimezone(UTC) - self.delta

    def _align_to_next(self, current: datetime) -> datetime:
        # Every instant starts an interval: the grid is wherever the runs began.
        return current.astimezone(UTC)

    def _align_to_prev(self, current: datetime) -> datetime:
        return current.astimezone(UTC)

    def _latest_complete_start(self, earliest: datetime | None, now: datetime) -> datetime:
        anchor = _EPOCH if earliest is None else earliest.astimezone(UTC)
        completed = (now - anchor) // self.delta  # intervals that have ended by ``now``
        if completed < 1:
            return anchor  # none has ended yet: the first one, never before the start
        return anchor + (completed - 1) * self.delta

    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        """The ``delta`` ending at ``run_after``, as in Airflow."""
        run_after = _require_aware(run_after, "run_after")
        return DataInterval(start=run_after - self.delta, end=run_after)


# -- parsing ----------------------------------------------------------------------------

_OFFSET_RE = re.compile(r"^([+-])(\d{2}):(\d{2})$")


def _parse_timezone(value: str | tzinfo) -> tzinfo:
    """An IANA name (``Europe/Berlin``), ``UTC``, a ``+HH:MM`` offset, or a tzinfo whose
    name we can recover (zoneinfo, pendulum, pytz, fixed offsets), so that it serializes.
    """
    if isinstance(value, str):
        name = value.strip()
        if name.upper() in ("UTC", "Z"):
            return UTC
        match = _OFFSET_RE.match(name)
        if match:
            sign = 1 if match.group(1) == "+" else -1
            offset = timedelta(hours=int(match.group(2)), minutes=int(match.group(3)))
            if offset >= timedelta(hours=24):
                raise InvalidScheduleError(f"time zone offset {value!r} is out of range")
            return UTC if not offset else timezone(sign * offset)
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidScheduleError(
                f"unknown time zone {value!r}; use an IANA name such as 'Europe/Berlin', "
                "'UTC', or an offset such as '+02:00'"
            ) from None
    if isinstance(value, ZoneInfo):
        return value
    if isinstance(value, timezone):
        offset = value.utcoffset(None)
        return UTC if not offset else value
    if isinstance(value, tzinfo):
        for attr in ("key", "name", "zone"):  # zoneinfo / pendulum, pendulum, pytz
            zone_name = getattr(value, attr, None)
            if isinstance(zone_name, str):
                return _parse_timezone(zone_name)
    raise InvalidScheduleError(
        f"time zone {value!r} is neither a name nor a tzinfo with a name; use an IANA name "
        "such as 'Europe/Berlin'"
    )


def _timezone_name(tz: tzinfo) -> str:
    if isinstance(tz, ZoneInfo):
        return tz.key
    offset = tz.utcoffset(None)
    if not offset:
        return "UTC"
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(offset) // timedelta(minutes=1)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _validate_cron(expression: str) -> str:
    """The five-field cron an expression or preset stands for; InvalidScheduleError if
    it is not one, or if it never fires."""
    if expression.startswith("@"):
        if expression not in CRON_PRESETS:
            raise InvalidScheduleError(f"unknown schedule preset {expression!r}; {_ACCEPTED}")
        return CRON_PRESETS[expression]
    fields = expression.split()
    if len(fields) != 5:
        raise InvalidScheduleError(
            f"schedule {expression!r} is not a cron expression (cron has five fields: "
            f"minute hour day-of-month month day-of-week); {_ACCEPTED}"
        )
    cron = " ".join(fields)
    try:
        croniter(cron, datetime(2000, 1, 1)).get_next(datetime)
    except (ValueError, TypeError, KeyError) as exc:  # croniter's errors are ValueErrors
        raise InvalidScheduleError(
            f"schedule {expression!r} is not a valid cron expression ({exc}); {_ACCEPTED}"
        ) from None
    return cron


def make_timetable(
    schedule: str | timedelta | Timetable | None, timezone: str | tzinfo = "UTC"
) -> Timetable:
    """The timetable for what a DAG file passed as ``schedule``.

    ``None`` -> :class:`NullTimetable`, ``"@once"`` -> :class:`OnceTimetable`, a preset or
    cron string -> :class:`CronTimetable` in ``timezone``, a ``timedelta`` ->
    :class:`DeltaTimetable`; a :class:`Timetable` is returned as it is. Anything else
    raises :class:`InvalidScheduleError` naming the value and what is accepted, so the
    DAG file is reported as broken when it is parsed.
    """
    if schedule is None:
        return NullTimetable()
    if isinstance(schedule, Timetable):
        return schedule
    if isinstance(schedule, timedelta):
        return DeltaTimetable(schedule)
    if isinstance(schedule, str):
        if schedule.strip() == "@once":
            return OnceTimetable()
        return CronTimetable(schedule, timezone)
    raise InvalidScheduleError(
        f"schedule {schedule!r} (of type {type(schedule).__name__}) is not accepted; {_ACCEPTED}"
    )


def timetable_from_dict(data: dict[str, Any]) -> Timetable:
    """The inverse of :meth:`Timetable.serialize`."""
    kind = data.get("type")
    try:
        if kind == NullTimetable.type_name:
            return NullTimetable()
        if kind == OnceTimetable.type_name:
            return OnceTimetable()
        if kind == CronTimetable.type_name:
            return CronTimetable(data["expression"], data.get("timezone", "UTC"))
        if kind == DeltaTimetable.type_name:
            return DeltaTimetable(
                timedelta(
                    days=data["days"],
                    seconds=data["seconds"],
                    microseconds=data["microseconds"],
                )
            )
    except KeyError as exc:
        raise InvalidScheduleError(
            f"serialized timetable {data!r} lacks the key {exc.args[0]!r}"
        ) from None
    raise InvalidScheduleError(
        f"serialized timetable {data!r} has an unknown type {kind!r}; "
        "expected one of: null, once, cron, delta"
    )


__all__ = [
    "CRON_PRESETS",
    "CronTimetable",
    "DagRunInfo",
    "DataInterval",
    "DeltaTimetable",
    "NullTimetable",
    "OnceTimetable",
    "TimeRestriction",
    "Timetable",
    "make_timetable",
    "timetable_from_dict",
]
