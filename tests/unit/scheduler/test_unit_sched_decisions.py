"""scheduler.decisions.decide: a pure function from task states to the next transitions."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tradewind.dag_processing.serialization import SerializedDag, serialize_dag
from tradewind.operators import EmptyOperator
from tradewind.rules.states import FINISHED_TI_STATES, TaskInstanceState
from tradewind.rules.trigger_rules import TriggerRule
from tradewind.scheduler.decisions import RunDecision, TaskView, decide
from tradewind.sdk.dag import DAG

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc)
S = TaskInstanceState
FINISHED = sorted(s.value for s in FINISHED_TI_STATES)


def build(
    edges: list[tuple[str, str]], tasks: list[str] | None = None, **task_args: Mapping[str, Any]
) -> SerializedDag:
    """A serialized DAG of EmptyOperators; ``task_args[task_id]`` are its arguments."""
    names = sorted(set(tasks or []) | {n for edge in edges for n in edge})
    with DAG("d", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
        ops = {n: EmptyOperator(task_id=n, **dict(task_args.get(n, {}))) for n in names}
        for up, down in edges:
            ops[up] >> ops[down]
    return SerializedDag.from_dict(serialize_dag(dag))


def views(**states: str) -> dict[str, TaskView]:
    return {task_id: TaskView(state) for task_id, state in states.items()}


def new_states(decision: RunDecision) -> dict[str, str]:
    return {task_id: new for task_id, (_old, new) in decision.changes.items()}


def test_roots_are_scheduled_and_downstream_waits() -> None:
    dag = build([("a", "b"), ("b", "c")])
    decision = decide(dag, views(a="none", b="none", c="none"), now=NOW)
    assert decision.changes == {"a": ("none", "scheduled")}
    assert decision.run_state is None


def test_skip_propagates_through_a_chain_in_one_pass() -> None:
    dag = build([("a", "b"), ("b", "c"), ("c", "d"), ("x", "d")])
    decision = decide(dag, views(a="skipped", b="none", c="none", d="none", x="running"), now=NOW)
    # d is all_success with a skipped upstream: skipped even though x still runs.
    assert new_states(decision) == {"b": "skipped", "c": "skipped", "d": "skipped"}
    assert decision.run_state is None  # x is unfinished


def test_upstream_failed_propagates_and_fails_the_run() -> None:
    dag = build([("a", "b"), ("b", "c"), ("a", "cleanup")], cleanup={"trigger_rule": "all_done"})
    decision = decide(dag, views(a="failed", b="none", c="none", cleanup="none"), now=NOW)
    assert new_states(decision) == {
        "b": "upstream_failed",
        "c": "upstream_failed",
        "cleanup": "scheduled",
    }
    assert decision.run_state is None  # cleanup still has to run
    after = decide(
        dag, views(a="failed", b="upstream_failed", c="upstream_failed", cleanup="success"), now=NOW
    )
    assert after.changes == {} and after.run_state == "failed"  # leaf c upstream_failed


def test_run_state_comes_from_the_leaves() -> None:
    dag = build([("a", "b")], tasks=["solo"])
    assert (
        decide(dag, views(a="failed", b="success", solo="success"), now=NOW).run_state == "success"
    )  # a is not a leaf
    assert (
        decide(dag, views(a="success", b="success", solo="failed"), now=NOW).run_state == "failed"
    )
    assert (
        decide(dag, views(a="success", b="skipped", solo="removed"), now=NOW).run_state == "success"
    )
    assert (
        decide(dag, views(a="success", b="upstream_failed", solo="success"), now=NOW).run_state
        == "failed"
    )
    assert decide(dag, views(a="success", b="running", solo="success"), now=NOW).run_state is None


def test_one_failed_and_one_success_rules() -> None:
    dag = build(
        [("a", "alert"), ("b", "alert"), ("a", "any_ok"), ("b", "any_ok")],
        alert={"trigger_rule": TriggerRule.ONE_FAILED},
        any_ok={"trigger_rule": TriggerRule.ONE_SUCCESS},
    )
    first = decide(dag, views(a="failed", b="running", alert="none", any_ok="none"), now=NOW)
    assert new_states(first) == {"alert": "scheduled"}  # any_ok waits for b
    second = decide(dag, views(a="failed", b="success", alert="success", any_ok="none"), now=NOW)
    assert new_states(second) == {"any_ok": "scheduled"}


def test_up_for_retry_waits_for_next_retry_at() -> None:
    dag = build([("a", "b")])
    later = {"a": TaskView("up_for_retry", NOW + timedelta(seconds=30)), "b": TaskView("none")}
    assert decide(dag, later, now=NOW).changes == {}
    due = {"a": TaskView("up_for_retry", NOW), "b": TaskView("none")}
    assert decide(dag, due, now=NOW).changes == {"a": ("up_for_retry", "scheduled")}
    assert decide(dag, later, now=NOW + timedelta(seconds=31)).changes == {
        "a": ("up_for_retry", "scheduled")
    }
    unset = {"a": TaskView("up_for_retry", None), "b": TaskView("none")}
    assert decide(dag, unset, now=NOW).changes == {"a": ("up_for_retry", "scheduled")}
    assert decide(dag, later, now=NOW).run_state is None  # up_for_retry is unfinished


def test_depends_on_past_needs_a_successful_or_skipped_previous_try() -> None:
    dag = build([], tasks=["p"], p={"depends_on_past": True})
    state = views(p="none")
    assert decide(dag, state, now=NOW, past_states={"p": "failed"}).changes == {}
    assert decide(dag, state, now=NOW, past_states={"p": "running"}).changes == {}
    for ok in ("success", "skipped", None):
        assert decide(dag, state, now=NOW, past_states={"p": ok}).changes == {
            "p": ("none", "scheduled")
        }
    assert decide(dag, state, now=NOW).changes == {"p": ("none", "scheduled")}


def test_only_none_and_up_for_retry_are_moved() -> None:
    dag = build([("a", "b")])
    for state in ("scheduled", "queued", "running", "success", "failed", "skipped"):
        decision = decide(dag, views(a=state, b="success"), now=NOW)
        assert "a" not in decision.changes


def test_removed_upstream_counts_as_absent_and_empty_run_succeeds() -> None:
    dag = build([("a", "b")])
    assert new_states(decide(dag, views(a="removed", b="none"), now=NOW)) == {"b": "scheduled"}
    assert decide(dag, {}, now=NOW).run_state == "success"


# --- property: decide() settles every task whose upstreams have all finished ----------

RULES = [rule.value for rule in TriggerRule]


@st.composite
def dag_and_states(draw: st.DrawFn) -> tuple[SerializedDag, dict[str, str], list[str]]:
    size = draw(st.integers(min_value=1, max_value=9))
    names = [f"t{i}" for i in range(size)]
    edges = [(names[i], names[j]) for j in range(size) for i in range(j) if draw(st.booleans())]
    rules = {n: {"trigger_rule": draw(st.sampled_from(RULES))} for n in names}
    dag = build(edges, tasks=names, **rules)
    states = {n: draw(st.sampled_from(FINISHED)) if n in dag.roots else "none" for n in names}
    # What each scheduled task will finish as, when the simulated runner gets to it.
    outcomes = [draw(st.sampled_from(["success", "failed", "skipped"])) for _ in names]
    return dag, states, outcomes


@settings(max_examples=200, deadline=None)
@given(dag_and_states())
def test_repeated_decisions_reach_a_fixpoint_with_no_task_left_behind(
    case: tuple[SerializedDag, dict[str, str], list[str]],
) -> None:
    dag, states, outcomes = case
    for _step in range(4 * len(states) + 4):
        decision = decide(dag, {t: TaskView(s) for t, s in states.items()}, now=NOW)
        for task_id, (old, new) in decision.changes.items():
            assert states[task_id] == old
            assert old == "none" and new in ("scheduled", "skipped", "upstream_failed")
            states[task_id] = new
        # The simulated executor finishes every scheduled task.
        ran = False
        for index, task_id in enumerate(dag.topological_order):
            if states[task_id] == "scheduled":
                states[task_id] = outcomes[index]
                ran = True
        if not decision.changes and not ran:
            break
    else:
        raise AssertionError(f"no fixpoint: {states}")
    for task_id, task in dag.tasks.items():
        upstream = [states[u] for u in task.upstream_task_ids]
        if all(s in FINISHED for s in upstream):
            assert states[task_id] != "none", (task_id, task.trigger_rule, upstream)
    # At the fixpoint every task has finished, and the run state follows the leaves.
    assert all(s in FINISHED for s in states.values())
    final = decide(dag, {t: TaskView(s) for t, s in states.items()}, now=NOW)
    assert final.changes == {}
    failed_leaf = any(states[leaf] in ("failed", "upstream_failed") for leaf in dag.leaves)
    assert final.run_state == ("failed" if failed_leaf else "success")
