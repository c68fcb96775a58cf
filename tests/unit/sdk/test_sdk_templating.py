"""Context building and Jinja rendering of templated fields."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from tests.unit.fakes import FakeTaskInstance

from tradewind import DAG, BaseOperator, Param, get_current_context
from tradewind.exceptions import TaskFailure, TradewindError
from tradewind.sdk.context import (
    Context,
    DagRunView,
    RuntimeTaskInstance,
    build_context,
    execute_task,
    set_current_context,
)
from tradewind.sdk.params import ParamValidationError

LOGICAL_DATE = datetime(2024, 3, 5, 6, 7, 8, tzinfo=timezone.utc)


class Templated(BaseOperator):
    template_fields: Sequence[str] = ("value",)
    template_ext: Sequence[str] = (".sql",)

    def __init__(self, *, value: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.value = value

    def execute(self, context: Context) -> Any:
        return self.value


def make_context(
    dag: DAG,
    task: BaseOperator,
    ti: FakeTaskInstance | None = None,
    conf: dict[str, Any] | None = None,
) -> Context:
    run = DagRunView(
        dag_id=dag.dag_id,
        run_id="scheduled__2024-03-05",
        run_type="scheduled",
        logical_date=LOGICAL_DATE,
        data_interval_start=LOGICAL_DATE,
        data_interval_end=LOGICAL_DATE + timedelta(days=1),
        conf=conf or {},
    )
    ti = ti or FakeTaskInstance(dag.dag_id, task.task_id)
    return build_context(dag=dag, task=task, ti=ti, dag_run=run)


def render(value: Any, dag: DAG | None = None, **task_kwargs: Any) -> Any:
    dag = dag or DAG("tpl")
    task = Templated(task_id=f"t{len(dag.task_dict)}", value=value, dag=dag, **task_kwargs)
    task.render_template_fields(make_context(dag, task))
    return task.value


def test_fake_task_instance_satisfies_the_protocol() -> None:
    assert isinstance(FakeTaskInstance("d", "t"), RuntimeTaskInstance)


def test_context_has_airflow_keys() -> None:
    with DAG("tpl") as dag:
        task = Templated(task_id="t", value="")
    context = make_context(dag, task)
    assert context["dag"] is dag
    assert context["task"] is task
    assert context["ti"] is context["task_instance"]
    assert context["run_id"] == "scheduled__2024-03-05"
    assert context["logical_date"] == LOGICAL_DATE
    assert context["ds"] == "2024-03-05"
    assert context["ds_nodash"] == "20240305"
    assert context["ts"] == "2024-03-05T06:07:08+00:00"
    assert context["ts_nodash"] == "20240305T060708"
    assert context["ts_nodash_with_tz"] == "20240305T060708+0000"
    assert context["data_interval_end"] == LOGICAL_DATE + timedelta(days=1)
    assert context["try_number"] == 1
    assert context["macros"].ds_add("2024-03-05", 2) == "2024-03-07"


def test_templates_see_every_context_key() -> None:
    template = (
        "{{ ds }}|{{ ds_nodash }}|{{ ts }}|{{ ts_nodash }}|{{ logical_date.year }}|"
        "{{ data_interval_start | ds }}|{{ data_interval_end | ds_nodash }}|{{ run_id }}|"
        "{{ dag.dag_id }}|{{ task.task_id }}|{{ ti.task_id }}|{{ task_instance.try_number }}|"
        "{{ dag_run.run_type }}|{{ params.p }}|{{ macros.ds_add(ds, -1) }}|"
        "{{ macros.ds_format(ds, '%Y-%m-%d', '%d/%m/%Y') }}|{{ logical_date | ts_nodash }}"
    )
    dag = DAG("tpl", params={"p": 7})
    assert render(template, dag) == (
        "2024-03-05|20240305|2024-03-05T06:07:08+00:00|20240305T060708|2024|"
        "2024-03-05|20240306|scheduled__2024-03-05|tpl|t0|t0|1|scheduled|7|2024-03-04|"
        "05/03/2024|20240305T060708"
    )


def test_params_precedence_dag_then_task_then_conf() -> None:
    with DAG("tpl", params={"a": "dag", "b": "dag", "c": "dag"}) as dag:
        task = Templated(task_id="t", value="", params={"b": "task", "c": "task"})
    context = make_context(dag, task, conf={"c": "conf", "d": "extra"})
    assert context["params"] == {"a": "dag", "b": "task", "c": "conf", "d": "extra"}


def test_conf_breaking_a_param_schema_fails_the_context() -> None:
    with DAG("tpl", params={"n": Param(1, type="integer")}) as dag:
        task = Templated(task_id="t", value="")
    with pytest.raises(ParamValidationError, match="'n'"):
        make_context(dag, task, conf={"n": "one"})


def test_nested_values_are_rendered() -> None:
    class Pair(NamedTuple):
        left: str
        right: int

    value = {"k": ["{{ ds }}", ("{{ ds_nodash }}", 3)], "n": None, "pair": Pair("{{ ds }}", 1)}
    assert render(value) == {
        "k": ["2024-03-05", ("20240305", 3)],
        "n": None,
        "pair": Pair("2024-03-05", 1),
    }


def test_undefined_renders_empty() -> None:
    assert render("a{{ missing }}b") == "ab"


def test_user_defined_macros_and_native_rendering() -> None:
    dag = DAG("tpl", user_defined_macros={"target": "prod", "double": lambda x: x * 2})
    assert render("{{ target }}-{{ double(2) }}", dag) == "prod-4"
    native = DAG("native", render_template_as_native_obj=True, params={"ids": [1, 2]})
    assert render("{{ params.ids }}", native) == [1, 2]
    assert render("{{ missing }}", native) == ""
    assert render("{{ params.ids }}", DAG("text", params={"ids": [1, 2]})) == "[1, 2]"


def test_template_file_found_next_to_dag_and_in_searchpath(tmp_path: Path) -> None:
    dag_folder = tmp_path / "dags"
    dag_folder.mkdir()
    (dag_folder / "query.sql").write_text("SELECT '{{ ds }}'\n")
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "other.sql").write_text("-- {{ params.x }}")
    dag = DAG("tpl", template_searchpath=str(extra), params={"x": 1})
    dag.fileloc = str(dag_folder / "pipeline.py")
    assert render("query.sql", dag) == "SELECT '2024-03-05'\n"
    assert render("other.sql", dag) == "-- 1"
    assert render(str(extra / "other.sql"), dag) == "-- 1"
    assert render("not a file.sql ", dag) == "not a file.sql "
    with pytest.raises(TaskFailure, match=r"Template file 'missing.sql'.*template_searchpath"):
        render("missing.sql", dag)


def test_xcom_args_are_resolved_when_rendering() -> None:
    with DAG("tpl") as dag:
        source = Templated(task_id="source", value="")
        sink = Templated(task_id="sink", value={"v": source.output, "k": source.output["k"]})
    ti = FakeTaskInstance("tpl", "sink")
    ti.xcoms[("source", "return_value")] = 42
    ti.xcoms[("source", "k")] = "kay"
    sink.render_template_fields(make_context(dag, sink, ti))
    assert sink.value == {"v": 42, "k": "kay"}


def test_missing_xcom_key_fails_but_missing_return_value_is_none() -> None:
    with DAG("tpl") as dag:
        source = Templated(task_id="source", value="")
        sink = Templated(task_id="sink", value=source.output)
        other = Templated(task_id="other", value=source.output["nope"])
    sink.render_template_fields(make_context(dag, sink))
    assert sink.value is None
    with pytest.raises(TaskFailure, match="XCom 'nope' of task 'source' was not found"):
        other.render_template_fields(make_context(dag, other))


def test_get_current_context() -> None:
    with pytest.raises(TradewindError, match="outside a running task"):
        get_current_context()
    context = Context(ds="x")
    with set_current_context(context):
        assert get_current_context() is context
    with pytest.raises(TradewindError):
        get_current_context()


def test_execute_task_renders_executes_and_pushes() -> None:
    with DAG("tpl") as dag:
        task = Templated(task_id="t", value="{{ ds }}")
        quiet = Templated(task_id="quiet", value="x", do_xcom_push=False)
        many = Templated(task_id="many", value={"a": 1, "b": 2}, multiple_outputs=True)
        wrong = Templated(task_id="wrong", value=[1], multiple_outputs=True)
    ti = FakeTaskInstance("tpl", "t")
    assert execute_task(task, make_context(dag, task, ti)) == "2024-03-05"
    assert ti.xcoms == {("t", "return_value"): "2024-03-05"}
    ti = FakeTaskInstance("tpl", "quiet")
    execute_task(quiet, make_context(dag, quiet, ti))
    assert ti.xcoms == {}
    ti = FakeTaskInstance("tpl", "many")
    execute_task(many, make_context(dag, many, ti))
    assert ti.xcoms == {
        ("many", "a"): 1,
        ("many", "b"): 2,
        ("many", "return_value"): {"a": 1, "b": 2},
    }
    with pytest.raises(TaskFailure, match="multiple_outputs=True but returned a list"):
        execute_task(wrong, make_context(dag, wrong))
