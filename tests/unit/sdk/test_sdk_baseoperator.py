"""BaseOperator: arguments, default_args, dependencies, chain, XComArg wiring."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tradewind import DAG, BaseOperator, TriggerRule, chain
from tradewind.exceptions import AuthoringError, DagCycleError, InvalidTriggerRuleError
from tradewind.operators import BashOperator, EmptyOperator
from tradewind.sdk.context import Context
from tradewind.sdk.xcom_arg import XComArg


class GreetOperator(BaseOperator):
    template_fields: Sequence[str] = ("greeting",)

    def __init__(self, *, greeting: str = "hello", name: str = "world", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.greeting = greeting
        self.name = name

    def execute(self, context: Context) -> Any:
        return f"{self.greeting} {self.name}"


def test_defaults_match_airflow() -> None:
    op = EmptyOperator(task_id="t")
    assert op.owner == "tradewind"
    assert op.retries == 0
    assert op.retry_delay == timedelta(minutes=5)
    assert op.retry_exponential_backoff is False
    assert op.max_retry_delay is None
    assert op.execution_timeout is None
    assert op.trigger_rule is TriggerRule.ALL_SUCCESS
    assert (op.pool, op.pool_slots, op.queue) == ("default_pool", 1, "default")
    assert (op.priority_weight, op.weight_rule) == (1, "downstream")
    assert op.depends_on_past is False
    assert op.do_xcom_push is True
    assert op.multiple_outputs is False
    assert not op.has_dag()
    assert repr(op) == "<Task(EmptyOperator): t>"


def test_durations_accept_seconds() -> None:
    op = EmptyOperator(task_id="t", retry_delay=30, execution_timeout=2.5, max_retry_delay=600)
    assert op.retry_delay == timedelta(seconds=30)
    assert op.execution_timeout == timedelta(seconds=2.5)
    assert op.max_retry_delay == timedelta(minutes=10)


def test_naive_task_start_date_is_utc() -> None:
    op = EmptyOperator(task_id="t", start_date=datetime(2024, 1, 1))
    assert op.start_date == datetime(2024, 1, 1, tzinfo=timezone.utc)


def test_default_args_fill_missing_arguments_at_every_level() -> None:
    defaults = {"retries": 3, "owner": "data", "name": "from-defaults", "bogus": 1}
    with DAG("etl", default_args=defaults):
        implicit = GreetOperator(task_id="implicit")
        explicit = GreetOperator(task_id="explicit", retries=0, name="given")
    assert (implicit.retries, implicit.owner, implicit.name) == (3, "data", "from-defaults")
    assert (explicit.retries, explicit.owner, explicit.name) == (0, "data", "given")


def test_operator_default_args_override_dag_default_args() -> None:
    with DAG("etl", default_args={"retries": 3, "queue": "q1"}):
        op = EmptyOperator(task_id="t", default_args={"retries": 5})
    assert (op.retries, op.queue) == (5, "q1")


def test_default_args_reach_operator_given_dag_explicitly() -> None:
    etl = DAG("etl", default_args={"retries": 4})
    op = EmptyOperator(task_id="t", dag=etl)
    assert op.retries == 4
    assert op.dag is etl


def test_unknown_argument_names_class_task_and_argument() -> None:
    with DAG("etl"), pytest.raises(AuthoringError) as info:
        BashOperator(task_id="say", bash_command="echo", retires=3)
    message = str(info.value)
    assert "BashOperator" in message
    assert "'say'" in message
    assert "retires" in message
    assert "DAG 'etl'" in message


def test_positional_arguments_are_refused() -> None:
    with pytest.raises(AuthoringError, match="keyword arguments only"):
        EmptyOperator("t")  # type: ignore[call-arg]


def test_unknown_trigger_rule_names_task_and_dag() -> None:
    with DAG("etl"), pytest.raises(InvalidTriggerRuleError) as info:
        EmptyOperator(task_id="t", trigger_rule="all_sucess")
    message = str(info.value)
    assert "Task 't'" in message
    assert "DAG 'etl'" in message
    assert "all_success" in message  # lists the valid rules


def test_trigger_rule_accepts_enum_and_string() -> None:
    assert EmptyOperator(task_id="a", trigger_rule=TriggerRule.ALL_DONE).trigger_rule == "all_done"
    assert EmptyOperator(task_id="b", trigger_rule="one_failed").trigger_rule is (
        TriggerRule.ONE_FAILED
    )


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"task_id": "bad id"}, "task_id 'bad id' is not valid"),
        ({"task_id": "t", "weight_rule": "heaviest"}, "weight_rule 'heaviest'"),
        ({"task_id": "t", "retries": -1}, "retries must be at least 0"),
        ({"task_id": "t", "pool_slots": 0}, "pool_slots must be at least 1"),
        ({"task_id": "t", "retry_delay": "5m"}, "retry_delay must be a timedelta"),
    ],
)
def test_bad_values(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(AuthoringError, match=fragment):
        EmptyOperator(**kwargs)


def test_shift_operators_with_tasks_and_lists() -> None:
    with DAG("etl"):
        a, b, c, d, e = (EmptyOperator(task_id=name) for name in "abcde")
        result = a >> [b, c]
        assert result == [b, c]
        [b, c] >> d
        e << d
        assert (d << [a]) == [a]
    assert a.downstream_task_ids == {"b", "c", "d"}
    assert d.upstream_task_ids == {"a", "b", "c"}
    assert e.upstream_task_ids == {"d"}
    assert [t.task_id for t in d.upstream_list] == ["a", "b", "c"]
    assert [t.task_id for t in a.downstream_list] == ["b", "c", "d"]
    assert [t.task_id for t in a.get_flat_relatives()] == ["b", "c", "d", "e"]
    assert [t.task_id for t in e.get_flat_relatives(upstream=True)] == ["a", "b", "c", "d"]


def test_set_upstream_and_downstream() -> None:
    with DAG("etl"):
        a, b, c = (EmptyOperator(task_id=name) for name in "abc")
        b.set_upstream(a)
        b.set_downstream([c])
    assert a.downstream_task_ids == {"b"}
    assert c.upstream_task_ids == {"b"}


def test_dependency_gives_a_dag_to_a_task_without_one() -> None:
    with DAG("etl") as etl:
        a = EmptyOperator(task_id="a")
    loose = EmptyOperator(task_id="loose")
    a >> loose
    assert loose.dag is etl
    assert etl.task_ids == ["a", "loose"]


def test_dependencies_without_any_dag_or_across_dags_fail() -> None:
    a, b = EmptyOperator(task_id="a"), EmptyOperator(task_id="b")
    with pytest.raises(AuthoringError, match="neither belongs to a DAG"):
        a >> b
    with pytest.raises(AuthoringError, match="has not been assigned to a DAG"):
        _ = a.dag
    with DAG("one"):
        c = EmptyOperator(task_id="c")
    with DAG("two"):
        d = EmptyOperator(task_id="d")
    with pytest.raises(AuthoringError, match="different DAGs"):
        c >> d


def test_chain_linear_and_fan() -> None:
    with DAG("etl"):
        a, b, c, d = (EmptyOperator(task_id=name) for name in "abcd")
        chain(a, [b, c], d)
    assert a.downstream_task_ids == {"b", "c"}
    assert d.upstream_task_ids == {"b", "c"}


def test_chain_pairs_equal_length_lists() -> None:
    with DAG("etl"):
        a, b, c, d, e, f = (EmptyOperator(task_id=name) for name in "abcdef")
        chain(a, [b, c], [d, e], f)
    assert b.downstream_task_ids == {"d"}
    assert c.downstream_task_ids == {"e"}
    assert f.upstream_task_ids == {"d", "e"}


def test_chain_refuses_lists_of_different_length() -> None:
    with DAG("etl"):
        a, b, c = (EmptyOperator(task_id=name) for name in "abc")
        with pytest.raises(AuthoringError, match="same length; got 2 and 1"):
            chain([a, b], [c])


def test_chain_detects_cycles() -> None:
    with DAG("etl"):
        a, b = (EmptyOperator(task_id=name) for name in "ab")
        with pytest.raises(DagCycleError):
            chain(a, b, a)


def test_xcom_arg_in_templated_field_sets_upstream() -> None:
    with DAG("etl"):
        source = EmptyOperator(task_id="source")
        sink = GreetOperator(task_id="sink", greeting=source.output)  # type: ignore[arg-type]
        later = GreetOperator(task_id="later")
        later.greeting = source.output["k"]  # type: ignore[assignment]
    assert sink.upstream_task_ids == {"source"}
    assert later.upstream_task_ids == {"source"}


def test_xcom_arg_in_untemplated_field_does_not() -> None:
    with DAG("etl"):
        source = EmptyOperator(task_id="source")
        sink = GreetOperator(task_id="sink", name=source.output)  # type: ignore[arg-type]
    assert sink.upstream_task_ids == set()


def test_xcom_arg_shift_operators() -> None:
    with DAG("etl"):
        a, b, c = (EmptyOperator(task_id=name) for name in "abc")
        assert (a.output >> b) is b
        [c] >> a.output
    assert a.downstream_task_ids == {"b"}
    assert a.upstream_task_ids == {"c"}


def test_xcom_arg_basics() -> None:
    with DAG("etl"):
        a = EmptyOperator(task_id="a")
    arg = a.output
    assert arg == XComArg(a)
    assert arg["x"].key == "x"
    assert hash(arg) == hash(XComArg(a))
    assert str(arg) == (
        "{{ task_instance.xcom_pull(task_ids='a', dag_id='etl', key='return_value') }}"
    )
    with pytest.raises(TypeError, match="cannot be iterated"):
        list(arg)


def test_execute_must_be_overridden() -> None:
    with pytest.raises(NotImplementedError, match="BaseOperator does not implement execute"):
        BaseOperator(task_id="t").execute(Context())


def test_task_type_and_operator_name() -> None:
    op = GreetOperator(task_id="t")
    assert op.task_type == "GreetOperator"
    assert op.operator_name == "GreetOperator"
