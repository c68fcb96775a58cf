"""DAG building: arguments, time zone, graph queries, cycles, duplicates, @dag, registry."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tradewind import DAG, Param, dag
from tradewind.exceptions import (
    AuthoringError,
    DagCycleError,
    DuplicateTaskIdError,
    InvalidScheduleError,
    NotFoundError,
)
from tradewind.operators import EmptyOperator
from tradewind.sdk.dag import collect_dags, get_current_dag
from tradewind.sdk.params import DagParam, ParamValidationError

START = datetime(2024, 1, 1)


def test_operators_created_inside_with_join_the_dag() -> None:
    with DAG("etl", schedule="@daily", start_date=START) as etl:
        assert get_current_dag() is etl
        a = EmptyOperator(task_id="a")
        b = EmptyOperator(task_id="b")
    assert get_current_dag() is None
    assert etl.task_dict == {"a": a, "b": b}
    assert etl.task_ids == ["a", "b"]
    assert etl.tasks == [a, b]
    assert a.dag is etl
    assert a.dag_id == "etl"
    assert etl.get_task("b") is b
    assert etl.has_task("a")
    assert not etl.has_task("zzz")


def test_get_task_unknown_names_the_dag() -> None:
    with DAG("etl") as etl:
        EmptyOperator(task_id="a")
    with pytest.raises(NotFoundError, match="DAG 'etl' has no task 'nope'"):
        etl.get_task("nope")


def test_naive_start_date_is_utc_and_timezone_defaults_to_utc() -> None:
    etl = DAG("etl", schedule="@daily", start_date=START)
    assert etl.start_date == datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert etl.timezone == ZoneInfo("UTC")
    assert etl.timetable.summary == "@daily"


def test_timezone_comes_from_a_zoneinfo_start_date() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    etl = DAG("etl", schedule="0 2 * * *", start_date=datetime(2024, 1, 1, tzinfo=berlin))
    assert etl.timezone is berlin
    assert etl.timetable.serialize()["timezone"] == "Europe/Berlin"


def test_start_date_from_default_args() -> None:
    etl = DAG("etl", schedule="@daily", default_args={"start_date": START})
    assert etl.start_date == datetime(2024, 1, 1, tzinfo=timezone.utc)


def test_fileloc_is_the_creating_file() -> None:
    assert DAG("etl").fileloc == __file__


@pytest.mark.parametrize(
    "dag_id", ["has space", "ünïcode", "slash/no", "", "x" * 251, "semi;colon"]
)
def test_bad_dag_id_is_rejected_with_the_rule(dag_id: str) -> None:
    with pytest.raises(AuthoringError, match="dag_id"):
        DAG(dag_id)


def test_dag_id_allows_letters_digits_dash_underscore_dot() -> None:
    assert DAG("My-dag_1.v2").dag_id == "My-dag_1.v2"
    assert DAG("x" * 250).dag_id == "x" * 250


def test_bad_schedule_names_the_dag() -> None:
    with pytest.raises(InvalidScheduleError, match=r"DAG 'etl'.*not a cron"):
        DAG("etl", schedule="not a cron", start_date=START)
    with pytest.raises(InvalidScheduleError, match="DAG 'etl'"):
        DAG("etl", schedule=42, start_date=START)  # type: ignore[arg-type]


def test_timedelta_schedule() -> None:
    etl = DAG("etl", schedule=timedelta(hours=2), start_date=START)
    assert etl.timetable.serialize()["type"] == "delta"


def test_unknown_dag_argument_gets_a_hint() -> None:
    with pytest.raises(AuthoringError, match=r"DAG 'etl'.*schedule_interval \(use schedule="):
        DAG("etl", schedule_interval="@daily")


def test_bad_numbers_and_dates() -> None:
    with pytest.raises(AuthoringError, match="max_active_runs must be an integer >= 1"):
        DAG("etl", max_active_runs=0)
    with pytest.raises(AuthoringError, match=r"end_date .* is before start_date"):
        DAG("etl", start_date=START, end_date=datetime(2023, 1, 1))
    with pytest.raises(AuthoringError, match="tags must be a list"):
        DAG("etl", tags="prod")
    with pytest.raises(AuthoringError, match="dagrun_timeout"):
        DAG("etl", dagrun_timeout="1h")  # type: ignore[arg-type]


def test_dagrun_timeout_accepts_seconds() -> None:
    assert DAG("etl", dagrun_timeout=90).dagrun_timeout == timedelta(seconds=90)


def test_roots_leaves_and_topological_sort() -> None:
    with DAG("etl") as etl:
        a, b, c, d = (EmptyOperator(task_id=name) for name in "abcd")
        a >> [b, c] >> d
    assert [t.task_id for t in etl.roots] == ["a"]
    assert [t.task_id for t in etl.leaves] == ["d"]
    assert [t.task_id for t in etl.topological_sort()] == ["a", "b", "c", "d"]


def test_topological_sort_keeps_insertion_order_for_ties() -> None:
    with DAG("etl") as etl:
        z = EmptyOperator(task_id="z")
        y = EmptyOperator(task_id="y")
        x = EmptyOperator(task_id="x")
        x >> z
    assert [t.task_id for t in etl.topological_sort()] == ["y", "x", "z"]
    del y


def test_cycle_at_rshift_time_lists_the_path() -> None:
    with DAG("etl"):
        a, b, c = (EmptyOperator(task_id=name) for name in "abc")
        a >> b >> c
        with pytest.raises(DagCycleError, match=r"DAG 'etl'.*cycle: a -> b -> c -> a"):
            c >> a


def test_self_dependency_is_a_cycle() -> None:
    with DAG("etl"):
        a = EmptyOperator(task_id="a")
        with pytest.raises(DagCycleError, match="a -> a"):
            a >> a


def test_validate_finds_a_cycle_added_behind_the_eager_check() -> None:
    with DAG("etl") as etl:
        a, b = (EmptyOperator(task_id=name) for name in "ab")
        a >> b
    # Bypass >> (as a buggy helper could) to check that validate() is the safety net.
    b.downstream_task_ids.add("a")
    a.upstream_task_ids.add("b")
    with pytest.raises(DagCycleError) as info:
        etl.validate()
    message = str(info.value)
    assert "DAG 'etl' has a cycle" in message
    assert "a -> b -> a" in message
    assert "remove one of these dependencies" in message
    with pytest.raises(DagCycleError):
        etl.topological_sort()


def test_duplicate_task_id_names_dag_task_and_fix() -> None:
    with DAG("etl"):
        EmptyOperator(task_id="load")
        with pytest.raises(DuplicateTaskIdError) as info:
            EmptyOperator(task_id="load")
    message = str(info.value)
    assert "DAG 'etl'" in message
    assert "'load'" in message
    assert "unique task_id" in message


def test_scheduled_dag_without_start_date_fails_validation() -> None:
    etl = DAG("etl", schedule="@daily")
    with pytest.raises(AuthoringError, match="no start_date"):
        etl.validate()
    DAG("manual").validate()


def test_invalid_param_default_fails_validation() -> None:
    etl = DAG("etl", params={"n": Param("x", type="integer")})
    with pytest.raises(ParamValidationError, match=r"DAG 'etl'.*'n'.*integer"):
        etl.validate()


def test_params_are_params() -> None:
    etl = DAG(
        "etl", params={"a": 1, "b": Param("x", type="string")}, default_args={"params": {"c": 3}}
    )
    assert set(etl.params) == {"a", "b", "c"}
    assert all(isinstance(p, Param) for p in etl.params.values())
    assert etl.params.resolve() == {"a": 1, "b": "x", "c": 3}


def test_collect_dags_sees_dags_built_in_functions() -> None:
    def build() -> None:
        DAG("hidden")

    with collect_dags() as created:
        build()
        kept = DAG("kept")
    assert [d.dag_id for d in created] == ["hidden", "kept"]
    assert kept in created
    with collect_dags() as later:
        pass
    assert later == []


def test_dag_decorator_builds_dag_with_params_and_doc() -> None:
    @dag(schedule="@daily", start_date=START, tags=["x"])
    def my_pipeline(limit: int = 10, name: str = "n") -> None:
        """Docs of the pipeline."""
        assert isinstance(limit, DagParam)
        EmptyOperator(task_id="only")

    with collect_dags() as created:
        built = my_pipeline(limit=5)
    assert created == [built]
    assert built.dag_id == "my_pipeline"
    assert built.doc_md == "Docs of the pipeline."
    assert built.task_ids == ["only"]
    assert built.params.resolve() == {"limit": 5, "name": "n"}
    assert built.fileloc == __file__
    assert get_current_dag() is None


def test_dag_decorator_bare_and_with_dag_id() -> None:
    @dag
    def bare() -> None:
        EmptyOperator(task_id="t")

    @dag("custom_id")
    def named() -> None:
        pass

    @dag(dag_id="kw_id")
    def named_kw() -> None:
        pass

    assert bare().dag_id == "bare"
    assert named().dag_id == "custom_id"
    assert named_kw().dag_id == "kw_id"


def test_dag_decorator_param_objects_keep_their_schema() -> None:
    @dag
    def checked(n: int = Param(3, type="integer", minimum=1)) -> None:  # type: ignore[assignment]
        pass

    built = checked()
    assert built.params["n"].schema["minimum"] == 1
    with pytest.raises(ParamValidationError):
        built.params.resolve({"n": 0})
