"""TaskFlow: @task and its variants, XComArg wiring, ids, override, multiple_outputs."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from tests.unit.fakes import FakeTaskInstance

from tradewind import DAG, dag, get_current_context, task
from tradewind.exceptions import AuthoringError, SkipTask, TaskFailure
from tradewind.operators import EmptyOperator
from tradewind.sdk.baseoperator import BaseOperator
from tradewind.sdk.context import DagRunView, build_context, execute_task
from tradewind.sdk.decorators import (
    DecoratedBashOperator,
    DecoratedBranchOperator,
    DecoratedPythonOperator,
    DecoratedShortCircuitOperator,
    DecoratedTask,
)
from tradewind.sdk.xcom_arg import XComArg


def run(
    the_dag: DAG,
    task_id: str,
    xcoms: dict[tuple[str, str], Any],
    conf: dict[str, Any] | None = None,
) -> tuple[Any, FakeTaskInstance]:
    """Run one task the way the runner does; returns its result and task instance."""
    operator = the_dag.get_task(task_id)
    ti = FakeTaskInstance(the_dag.dag_id, task_id, xcoms=xcoms)
    when = datetime(2024, 1, 2, tzinfo=timezone.utc)
    dag_run = DagRunView(the_dag.dag_id, "manual__1", "manual", when, when, when, conf or {})
    context = build_context(dag=the_dag, task=operator, ti=ti, dag_run=dag_run)
    return execute_task(operator, context), ti


def test_taskflow_wires_dependencies_and_passes_values() -> None:
    with DAG("flow") as flow:

        @task
        def extract() -> int:
            return 20

        @task(retries=2)
        def transform(value: int, factor: int = 1) -> int:
            return value * factor

        @task
        def load(values: list[int], ti: Any = None) -> str:
            return f"{values} by {ti.task_id}"

        first = extract()
        doubled = transform(first, factor=2)
        load([first, doubled])
    assert isinstance(first, XComArg)
    assert flow.task_ids == ["extract", "transform", "load"]
    assert flow.get_task("transform").upstream_task_ids == {"extract"}
    assert flow.get_task("load").upstream_task_ids == {"extract", "transform"}
    assert flow.get_task("transform").retries == 2
    assert isinstance(flow.get_task("extract"), DecoratedPythonOperator)
    assert flow.get_task("extract").operator_name == "@task"
    xcoms: dict[tuple[str, str], Any] = {}
    for task_id in flow.task_ids:
        run(flow, task_id, xcoms)
    assert xcoms[("transform", "return_value")] == 40
    assert xcoms[("load", "return_value")] == "[20, 40] by load"


def test_calling_twice_gives_suffixed_ids_and_override_renames() -> None:
    @task
    def step() -> None:
        pass

    with DAG("flow") as flow:
        step()
        step()
        step()
        step.override(task_id="named", retries=4)()
        step.override(task_id="named")()
    assert flow.task_ids == ["step", "step__1", "step__2", "named", "named__1"]
    assert flow.get_task("named").retries == 4
    assert flow.get_task("named__1").retries == 0


def test_override_keeps_the_original_untouched() -> None:
    @task(queue="a")
    def step() -> None:
        pass

    other = step.override(queue="b")
    assert isinstance(other, DecoratedTask)
    with DAG("flow") as flow:
        step()
        other()
    assert [t.queue for t in flow.tasks] == ["a", "b"]
    assert step.function() is None
    assert step.__name__ == "step"


def test_multiple_outputs_explicit_and_from_annotation() -> None:
    with DAG("flow") as flow:

        @task(multiple_outputs=True)
        def explicit():  # type: ignore[no-untyped-def]
            return {"a": 1, "b": 2}

        @task
        def annotated() -> dict[str, int]:
            return {"c": 3}

        @task
        def plain() -> list[int]:
            return [1]

        @task
        def use(a: int, c: int) -> int:
            return a + c

        out = explicit()
        use(out["a"], annotated()["c"])
        plain()
    assert flow.get_task("explicit").multiple_outputs
    assert flow.get_task("annotated").multiple_outputs
    assert not flow.get_task("plain").multiple_outputs
    assert flow.get_task("use").upstream_task_ids == {"explicit", "annotated"}
    xcoms: dict[tuple[str, str], Any] = {}
    for task_id in ["explicit", "annotated", "use"]:
        run(flow, task_id, xcoms)
    assert xcoms[("explicit", "a")] == 1
    assert xcoms[("explicit", "return_value")] == {"a": 1, "b": 2}
    assert xcoms[("use", "return_value")] == 4


def test_wrong_arguments_fail_when_building_the_dag() -> None:
    @task
    def needs(x: int, ds: str) -> None:
        pass

    with DAG("flow"):
        needs(1)  # ds comes from the context
        with pytest.raises(AuthoringError, match=r"'needs': missing argument\(s\) x"):
            needs()
        with pytest.raises(AuthoringError, match="unexpected keyword argument 'y'"):
            needs(1, y=2)


def test_context_by_name_and_get_current_context() -> None:
    with DAG("flow", params={"p": "v"}) as flow:

        @task
        def show(ds: str | None = None, params: dict[str, Any] | None = None) -> str:
            assert get_current_context()["ds"] == ds
            return f"{ds} {params}"

        @task
        def everything(**context: Any) -> str:
            return str(context["run_id"])

        show()
        everything()
    assert run(flow, "show", {})[0] == "2024-01-02 {'p': 'v'}"
    assert run(flow, "everything", {})[0] == "manual__1"


def test_task_string_arguments_are_templates() -> None:
    with DAG("flow") as flow:

        @task
        def echo(value: str) -> str:
            return value

        echo("day {{ ds }}")
    assert run(flow, "echo", {})[0] == "day 2024-01-02"


def test_task_branch_skips_the_other_branch() -> None:
    with DAG("flow") as flow:

        @task.branch
        def choose() -> str:
            return "left"

        left, right = EmptyOperator(task_id="left"), EmptyOperator(task_id="right")
        choose() >> [left, right]
    assert isinstance(flow.get_task("choose"), DecoratedBranchOperator)
    result, ti = run(flow, "choose", {})
    assert result == "left"
    assert ti.skipped == ["right"]


def test_task_short_circuit() -> None:
    with DAG("flow") as flow:

        @task.short_circuit(ignore_downstream_trigger_rules=False)
        def check() -> bool:
            return False

        after, later = EmptyOperator(task_id="after"), EmptyOperator(task_id="later")
        check() >> after >> later
    assert isinstance(flow.get_task("check"), DecoratedShortCircuitOperator)
    result, ti = run(flow, "check", {})
    assert result is False
    assert ti.skipped == ["after"]


def test_task_bash_runs_the_returned_command(capfd: pytest.CaptureFixture[str]) -> None:
    with DAG("flow") as flow:

        @task.bash
        def say(word: str) -> str:
            return "echo " + word + " {{ ds }}"

        @task.bash(skip_on_exit_code=3)
        def skip() -> str:
            return "exit 3"

        @task.bash
        def nothing() -> str:
            return "  "

        say("hi")
        skip()
        nothing()
    assert isinstance(flow.get_task("say"), DecoratedBashOperator)
    assert run(flow, "say", {})[0] == "hi 2024-01-02"
    assert "hi 2024-01-02" in capfd.readouterr().out
    with pytest.raises(SkipTask):
        run(flow, "skip", {})
    with pytest.raises(TaskFailure, match="must return the command"):
        run(flow, "nothing", {})


def test_dag_decorator_params_reach_tasks_at_run_time() -> None:
    @dag
    def with_params(limit: int = 3) -> None:
        @task
        def show(value: int) -> int:
            return value

        show(limit)

    built = with_params()
    assert run(built, "show", {})[0] == 3
    assert run(built, "show", {}, conf={"limit": 9})[0] == 9


def test_decorated_task_outside_a_dag_has_no_dag() -> None:
    @task
    def lonely() -> None:
        pass

    operator = lonely().operator
    assert isinstance(operator, BaseOperator)
    assert not operator.has_dag()


def test_docstring_becomes_doc_md() -> None:
    with DAG("flow") as flow:

        @task
        def documented() -> None:
            """Loads things."""

        documented()
    assert flow.get_task("documented").doc_md == "Loads things."
