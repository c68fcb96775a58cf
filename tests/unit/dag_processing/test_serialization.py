"""serialize_dag, dag_hash and the SerializedDag/SerializedTask records."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tradewind import DAG, Param, task
from tradewind.dag_processing.serialization import (
    SerializedDag,
    SerializedTask,
    dag_hash,
    serialize_dag,
)
from tradewind.exceptions import AuthoringError
from tradewind.operators import BashOperator, EmptyOperator
from tradewind.rules.trigger_rules import TriggerRule
from tradewind.sdk.params import ParamValidationError


def build() -> DAG:
    with DAG(
        "etl",
        description="Extract, transform, load",
        schedule="0 2 * * *",
        start_date=datetime(2024, 1, 1, tzinfo=ZoneInfo("Europe/Berlin")),
        end_date=datetime(2025, 1, 1),
        catchup=True,
        max_active_runs=2,
        max_active_tasks=4,
        dagrun_timeout=timedelta(hours=1),
        params={"day": Param("2024-01-01", type="string"), "when": datetime(2024, 1, 1)},
        tags=["b", "a"],
        doc_md="# ETL",
        owner_links={"data": "https://example.com"},
        default_args={"owner": "data", "retries": 2, "retry_delay": 30},
    ) as etl:
        extract = BashOperator(
            task_id="extract",
            bash_command="echo",
            priority_weight=5,
            execution_timeout=timedelta(minutes=10),
            max_retry_delay=timedelta(minutes=3),
            retry_exponential_backoff=True,
            on_failure_callback=print,
        )

        @task(pool="p", pool_slots=2, queue="q")
        def transform(value: str) -> str:
            return value

        up = EmptyOperator(task_id="up_rule", weight_rule="upstream", priority_weight=10)
        absolute = EmptyOperator(task_id="absolute", weight_rule="absolute", priority_weight=7)
        end = EmptyOperator(task_id="end", trigger_rule="all_done", on_success_callback=print)
        extract >> transform(extract.output) >> up >> end
        extract >> absolute
    return etl


def test_serialized_dag_is_json_safe_and_complete() -> None:
    data = serialize_dag(build())
    assert json.loads(json.dumps(data)) == data
    assert data["dag_id"] == "etl"
    assert data["fileloc"] == __file__
    assert data["description"] == "Extract, transform, load"
    assert data["timetable"] == {
        "type": "cron",
        "expression": "0 2 * * *",
        "timezone": "Europe/Berlin",
    }
    assert data["schedule_summary"] == "0 2 * * *"
    assert data["timezone"] == "Europe/Berlin"
    assert data["start_date"] == "2023-12-31T23:00:00+00:00"
    assert data["end_date"] == "2025-01-01T00:00:00+00:00"
    assert (data["catchup"], data["max_active_runs"], data["max_active_tasks"]) == (True, 2, 4)
    assert data["dagrun_timeout"] == 3600
    assert data["params"]["day"] == {
        "description": None,
        "schema": {"type": "string"},
        "default": "2024-01-01",
    }
    assert data["tags"] == ["a", "b"]
    assert data["doc_md"] == "# ETL"
    assert data["owners"] == ["data"]
    assert [t["task_id"] for t in data["tasks"]] == [
        "absolute",
        "end",
        "extract",
        "transform",
        "up_rule",
    ]


def test_task_fields() -> None:
    tasks = {t["task_id"]: t for t in serialize_dag(build())["tasks"]}
    extract = tasks["extract"]
    assert extract["operator"] == "BashOperator"
    assert extract["upstream_task_ids"] == []
    assert extract["downstream_task_ids"] == ["absolute", "transform"]
    assert extract["trigger_rule"] == "all_success"
    assert extract["retries"] == 2
    assert extract["retry_delay"] == 30
    assert extract["retry_exponential_backoff"] is True
    assert extract["max_retry_delay"] == 180
    assert extract["execution_timeout"] == 600
    assert extract["template_fields"] == ["bash_command", "env", "cwd"]
    assert extract["has_on_failure_callback"] is True
    assert extract["has_on_success_callback"] is False
    assert extract["owner"] == "data"
    assert extract["is_empty"] is False
    transform = tasks["transform"]
    assert transform["operator_name"] == "@task"
    assert (transform["pool"], transform["pool_slots"], transform["queue"]) == ("p", 2, "q")
    assert transform["upstream_task_ids"] == ["extract"]
    assert tasks["end"]["trigger_rule"] == "all_done"
    assert tasks["end"]["is_empty"] is False  # it has a success callback
    assert tasks["absolute"]["is_empty"] is True
    assert tasks["up_rule"]["execution_timeout"] is None


def test_effective_priority_weights() -> None:
    tasks = {t["task_id"]: t for t in serialize_dag(build())["tasks"]}
    # downstream: own + every descendant (transform 1, up_rule 10, end 1, absolute 7)
    assert tasks["extract"]["priority_weight"] == 5 + 1 + 10 + 1 + 7
    assert tasks["transform"]["priority_weight"] == 1 + 10 + 1
    # upstream: own + every ancestor (transform 1, extract 5)
    assert tasks["up_rule"]["priority_weight"] == 10 + 1 + 5
    assert tasks["absolute"]["priority_weight"] == 7
    assert tasks["end"]["priority_weight"] == 1
    assert tasks["extract"]["own_priority_weight"] == 5


def test_hash_is_stable_and_changes_with_structure() -> None:
    first, second = serialize_dag(build()), serialize_dag(build())
    assert dag_hash(first) == dag_hash(second)
    assert len(dag_hash(first)) == 64
    changed = build()
    changed.get_task("end").retries = 9
    assert dag_hash(serialize_dag(changed)) != dag_hash(first)


def test_serialized_dag_round_trip() -> None:
    data = json.loads(json.dumps(serialize_dag(build())))
    dag = SerializedDag.from_dict(data)
    assert dag.dag_id == "etl"
    assert dag.timetable.summary == "0 2 * * *"
    assert dag.start_date == datetime(2023, 12, 31, 23, tzinfo=timezone.utc)
    assert dag.dagrun_timeout == timedelta(hours=1)
    assert dag.tags == ("a", "b")
    assert dag.topological_order == ("extract", "absolute", "transform", "up_rule", "end")
    assert dag.roots == ("extract",)
    assert dag.leaves == ("absolute", "end")
    assert dag.task_ids == ["absolute", "end", "extract", "transform", "up_rule"]
    extract = dag.tasks["extract"]
    assert isinstance(extract, SerializedTask)
    assert extract.retry_delay == timedelta(seconds=30)
    assert extract.execution_timeout == timedelta(minutes=10)
    assert extract.max_retry_delay == timedelta(minutes=3)
    assert extract.downstream_task_ids == frozenset({"absolute", "transform"})
    assert dag.tasks["end"].trigger_rule is TriggerRule.ALL_DONE
    assert dag.params.resolve() == {"day": "2024-01-01", "when": datetime(2024, 1, 1)}
    with pytest.raises(ParamValidationError):
        dag.params.resolve({"day": 3})


def test_unknown_format_version_is_refused() -> None:
    data = serialize_dag(build())
    data["format_version"] = 99
    with pytest.raises(AuthoringError, match="reserialize"):
        SerializedDag.from_dict(data)


def test_param_default_that_cannot_be_json_names_dag_and_param() -> None:
    etl = DAG("etl", params={"thing": object()})
    with pytest.raises(AuthoringError, match=r"DAG 'etl': param 'thing' cannot be stored as JSON"):
        serialize_dag(etl)


def test_manual_dag_without_schedule() -> None:
    with DAG("manual") as manual:
        EmptyOperator(task_id="only")
    data = serialize_dag(manual)
    assert data["start_date"] is None
    assert data["timezone"] == "UTC"
    restored = SerializedDag.from_dict(data)
    assert restored.timetable.summary == "None"
    assert restored.tasks["only"].is_empty
