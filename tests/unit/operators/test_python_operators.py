"""PythonOperator, BranchPythonOperator, ShortCircuitOperator and EmptyOperator."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from tests.unit.fakes import FakeTaskInstance

from tradewind import DAG, get_current_context
from tradewind.exceptions import AuthoringError, TaskFailure
from tradewind.operators import (
    BranchPythonOperator,
    EmptyOperator,
    PythonOperator,
    ShortCircuitOperator,
)
from tradewind.sdk.context import DagRunView, build_context, execute_task


def run(
    the_dag: DAG, task_id: str, ti: FakeTaskInstance | None = None
) -> tuple[Any, FakeTaskInstance]:
    operator = the_dag.get_task(task_id)
    ti = ti or FakeTaskInstance(the_dag.dag_id, task_id)
    when = datetime(2024, 1, 2, tzinfo=timezone.utc)
    dag_run = DagRunView(the_dag.dag_id, "manual__1", "manual", when, when, when, {"c": 1})
    context = build_context(dag=the_dag, task=operator, ti=ti, dag_run=dag_run)
    return execute_task(operator, context), ti


def test_op_args_op_kwargs_and_context_by_name() -> None:
    def add(a: int, b: int, ds: str, ti: Any, dag_run: Any) -> str:
        assert get_current_context()["ti"] is ti
        return f"{a + b} {ds} {ti.task_id} {dag_run.conf}"

    with DAG("py") as the_dag:
        PythonOperator(task_id="add", python_callable=add, op_args=[1], op_kwargs={"b": 2})
    result, ti = run(the_dag, "add")
    assert result == "3 2024-01-02 add {'c': 1}"
    assert ti.xcoms == {("add", "return_value"): result}


def test_kwargs_receives_the_whole_context_and_op_kwargs_win() -> None:
    def everything(**kwargs: Any) -> tuple[str, str, bool]:
        return kwargs["ds"], kwargs["run_id"], "templates_dict" in kwargs

    def shadow(ds: str) -> str:
        return ds

    with DAG("py") as the_dag:
        PythonOperator(task_id="all", python_callable=everything)
        PythonOperator(task_id="shadow", python_callable=shadow, op_kwargs={"ds": "mine"})
    assert run(the_dag, "all")[0] == ("2024-01-02", "manual__1", True)
    assert run(the_dag, "shadow")[0] == "mine"


def test_positional_argument_named_like_a_context_key() -> None:
    def first(ds: str, **kwargs: Any) -> str:
        return ds

    with DAG("py") as the_dag:
        PythonOperator(task_id="t", python_callable=first, op_args=["positional"])
    assert run(the_dag, "t")[0] == "positional"


def test_templated_op_args_op_kwargs_and_templates_dict() -> None:
    def show(x: str, y: str, templates_dict: dict[str, str]) -> str:
        return f"{x}|{y}|{templates_dict['z']}"

    with DAG("py") as the_dag:
        PythonOperator(
            task_id="t",
            python_callable=show,
            op_args=["{{ ds }}"],
            op_kwargs={"y": "{{ run_id }}"},
            templates_dict={"z": "{{ ds_nodash }}"},
        )
    assert run(the_dag, "t")[0] == "2024-01-02|manual__1|20240102"


def test_xcom_arg_in_op_kwargs_sets_upstream_and_resolves() -> None:
    with DAG("py") as the_dag:
        source = PythonOperator(task_id="source", python_callable=lambda: 5)
        PythonOperator(
            task_id="sink", python_callable=lambda v: v * 2, op_kwargs={"v": source.output}
        )
    assert the_dag.get_task("sink").upstream_task_ids == {"source"}
    xcoms: dict[tuple[str, str], Any] = {}
    run(the_dag, "source", FakeTaskInstance("py", "source", xcoms=xcoms))
    assert run(the_dag, "sink", FakeTaskInstance("py", "sink", xcoms=xcoms))[0] == 10


def test_none_result_pushes_nothing() -> None:
    with DAG("py") as the_dag:
        PythonOperator(task_id="t", python_callable=lambda: None)
    result, ti = run(the_dag, "t")
    assert result is None
    assert ti.xcoms == {}


def test_python_callable_must_be_callable() -> None:
    with pytest.raises(AuthoringError, match="python_callable must be callable"):
        PythonOperator(task_id="t", python_callable="not callable")  # type: ignore[arg-type]


def test_branch_skips_direct_downstream_not_followed() -> None:
    with DAG("br") as the_dag:
        branch = BranchPythonOperator(task_id="branch", python_callable=lambda: "a")
        a, b, c = (EmptyOperator(task_id=name) for name in "abc")
        after_b = EmptyOperator(task_id="after_b")
        branch >> [a, b, c]
        b >> after_b
    result, ti = run(the_dag, "branch")
    assert result == "a"
    assert ti.skipped == ["b", "c"]
    assert ti.xcoms == {("branch", "return_value"): "a"}


def test_branch_list_none_and_join_reachable_from_followed_branch() -> None:
    with DAG("br") as the_dag:
        many = BranchPythonOperator(task_id="many", python_callable=lambda: ["a", "b"])
        none = BranchPythonOperator(task_id="none", python_callable=lambda: None)
        a, b, c, join = (EmptyOperator(task_id=name) for name in ["a", "b", "c", "join"])
        many >> [a, b, c, join]
        a >> join
        none >> [c]
    assert run(the_dag, "many")[1].skipped == ["c"]  # join is kept: it follows a
    assert run(the_dag, "none")[1].skipped == ["c"]


def test_branch_to_unknown_task_fails() -> None:
    with DAG("br") as the_dag:
        branch = BranchPythonOperator(task_id="branch", python_callable=lambda: "ghost")
        branch >> EmptyOperator(task_id="real")
    with pytest.raises(TaskFailure, match=r"\['ghost'\] that are not in DAG 'br'"):
        run(the_dag, "branch")


def test_branch_with_a_wrong_return_type_fails() -> None:
    with DAG("br") as the_dag:
        BranchPythonOperator(task_id="branch", python_callable=lambda: [1])
    with pytest.raises(TaskFailure, match="must return a task_id"):
        run(the_dag, "branch")


def test_short_circuit_skips_every_descendant_by_default() -> None:
    with DAG("sc") as the_dag:
        check = ShortCircuitOperator(task_id="check", python_callable=lambda: 0)
        a, b, c = (EmptyOperator(task_id=name) for name in "abc")
        check >> a >> b
        c >> b
    result, ti = run(the_dag, "check")
    assert result == 0
    assert ti.skipped == ["a", "b"]


def test_short_circuit_respecting_trigger_rules_skips_direct_downstream_only() -> None:
    with DAG("sc") as the_dag:
        check = ShortCircuitOperator(
            task_id="check", python_callable=lambda: [], ignore_downstream_trigger_rules=False
        )
        check >> EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")
    assert run(the_dag, "check")[1].skipped == ["a"]


def test_short_circuit_truthy_skips_nothing() -> None:
    with DAG("sc") as the_dag:
        check = ShortCircuitOperator(task_id="check", python_callable=lambda: "yes")
        check >> EmptyOperator(task_id="a")
    result, ti = run(the_dag, "check")
    assert result == "yes"
    assert ti.skipped == []


def test_empty_operator_returns_nothing() -> None:
    with DAG("e") as the_dag:
        EmptyOperator(task_id="e")
    result, ti = run(the_dag, "e")
    assert result is None
    assert ti.xcoms == {}
