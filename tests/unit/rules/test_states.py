"""The state machine of task instances and DAG runs: the sets, the edges, the errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradewind.exceptions import InvalidTransitionError
from tradewind.rules.states import (
    ALLOWED_DAG_RUN_TRANSITIONS,
    ALLOWED_TI_TRANSITIONS,
    FINISHED_DAG_RUN_STATES,
    FINISHED_TI_STATES,
    UNFINISHED_DAG_RUN_STATES,
    UNFINISHED_TI_STATES,
    DagRunState,
    TaskInstanceState,
    check_dag_run_transition,
    check_ti_transition,
    is_allowed_dag_run_transition,
    is_allowed_dag_run_user_mark,
    is_allowed_ti_transition,
    is_allowed_user_mark,
)

S = TaskInstanceState
R = DagRunState


def test_values_are_airflow_strings() -> None:
    assert [s.value for s in S] == [
        "none",
        "scheduled",
        "queued",
        "running",
        "success",
        "failed",
        "up_for_retry",
        "upstream_failed",
        "skipped",
        "removed",
    ]
    assert [s.value for s in R] == ["queued", "running", "success", "failed"]
    assert str(S.UP_FOR_RETRY) == "up_for_retry"
    assert str(R.RUNNING) == "running"
    assert f"{S.SUCCESS}" == "success"
    stored: set[str] = {S.SUCCESS}  # compares equal to the string a database returns
    assert "success" in stored


def test_finished_and_unfinished_partition_the_states() -> None:
    assert set(S) == FINISHED_TI_STATES | UNFINISHED_TI_STATES
    assert not FINISHED_TI_STATES & UNFINISHED_TI_STATES
    assert {S.SUCCESS, S.FAILED, S.UPSTREAM_FAILED, S.SKIPPED, S.REMOVED} == FINISHED_TI_STATES
    assert {R.SUCCESS, R.FAILED} == FINISHED_DAG_RUN_STATES
    assert set(R) == FINISHED_DAG_RUN_STATES | UNFINISHED_DAG_RUN_STATES


def test_every_state_has_an_entry_and_no_self_loops() -> None:
    assert set(ALLOWED_TI_TRANSITIONS) == set(S)
    assert set(ALLOWED_DAG_RUN_TRANSITIONS) == set(R)
    for src, dsts in ALLOWED_TI_TRANSITIONS.items():
        assert src not in dsts
    for run_src, run_dsts in ALLOWED_DAG_RUN_TRANSITIONS.items():
        assert run_src not in run_dsts


def test_tables_cannot_be_changed() -> None:
    with pytest.raises(TypeError):
        ALLOWED_TI_TRANSITIONS[S.SUCCESS] = frozenset()  # type: ignore[index]


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        (S.NONE, S.SCHEDULED),
        (S.NONE, S.SKIPPED),
        (S.NONE, S.UPSTREAM_FAILED),
        (S.NONE, S.REMOVED),
        (S.SCHEDULED, S.QUEUED),
        (S.SCHEDULED, S.NONE),
        (S.QUEUED, S.RUNNING),
        (S.QUEUED, S.SCHEDULED),
        (S.QUEUED, S.NONE),
        (S.QUEUED, S.FAILED),
        (S.RUNNING, S.SUCCESS),
        (S.RUNNING, S.FAILED),
        (S.RUNNING, S.UP_FOR_RETRY),
        (S.RUNNING, S.SKIPPED),
        (S.RUNNING, S.NONE),
        (S.UP_FOR_RETRY, S.SCHEDULED),
        (S.UP_FOR_RETRY, S.NONE),
        (S.UP_FOR_RETRY, S.FAILED),
        (S.SUCCESS, S.NONE),
        (S.REMOVED, S.NONE),
    ],
)
def test_machine_edges(src: TaskInstanceState, dst: TaskInstanceState) -> None:
    assert is_allowed_ti_transition(src, dst)
    check_ti_transition(src, dst)
    check_ti_transition(src.value, dst.value)


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        (S.SUCCESS, S.RUNNING),
        (S.FAILED, S.UP_FOR_RETRY),
        (S.NONE, S.RUNNING),
        (S.NONE, S.QUEUED),
        (S.SCHEDULED, S.RUNNING),
        (S.SKIPPED, S.SUCCESS),
        (S.RUNNING, S.QUEUED),
        (S.RUNNING, S.RUNNING),
    ],
)
def test_forbidden_edges_raise_naming_both_states(
    src: TaskInstanceState, dst: TaskInstanceState
) -> None:
    assert not is_allowed_ti_transition(src, dst)
    with pytest.raises(InvalidTransitionError) as info:
        check_ti_transition(src, dst)
    assert f"'{src.value}'" in str(info.value)
    assert f"'{dst.value}'" in str(info.value)


@pytest.mark.parametrize("src", sorted(FINISHED_TI_STATES))
def test_every_finished_state_can_be_cleared(src: TaskInstanceState) -> None:
    assert ALLOWED_TI_TRANSITIONS[src] == {S.NONE}


@given(st.sampled_from(S), st.sampled_from(S))
def test_user_marks(src: TaskInstanceState, dst: TaskInstanceState) -> None:
    expected = dst in (S.SUCCESS, S.FAILED, S.SKIPPED) and src != dst
    assert is_allowed_user_mark(src, dst) is expected
    if is_allowed_ti_transition(src, dst) or expected:
        check_ti_transition(src, dst, by_user=True)
    else:
        with pytest.raises(InvalidTransitionError):
            check_ti_transition(src, dst, by_user=True)


def test_a_mark_is_not_a_machine_edge() -> None:
    assert is_allowed_user_mark(S.SUCCESS, S.FAILED)
    with pytest.raises(InvalidTransitionError):
        check_ti_transition(S.SUCCESS, S.FAILED)
    check_ti_transition(S.SUCCESS, S.FAILED, by_user=True)


@given(st.sampled_from(S))
def test_finished_states_only_leave_by_clear_or_mark(src: TaskInstanceState) -> None:
    for dst in S:
        if src in FINISHED_TI_STATES and is_allowed_ti_transition(src, dst):
            assert dst is S.NONE


def test_unknown_state_strings_are_refused() -> None:
    with pytest.raises(ValueError, match="not a task instance state"):
        is_allowed_ti_transition("succeeded", "none")
    with pytest.raises(ValueError, match="not a DAG run state"):
        is_allowed_dag_run_transition("queued", "done")


@pytest.mark.parametrize(
    ("src", "dst", "allowed"),
    [
        (R.QUEUED, R.RUNNING, True),
        (R.QUEUED, R.FAILED, True),
        (R.QUEUED, R.SUCCESS, True),
        (R.RUNNING, R.SUCCESS, True),
        (R.RUNNING, R.FAILED, True),
        (R.RUNNING, R.QUEUED, True),
        (R.SUCCESS, R.QUEUED, True),
        (R.FAILED, R.QUEUED, True),
        (R.FAILED, R.RUNNING, True),
        (R.SUCCESS, R.FAILED, False),
        (R.FAILED, R.SUCCESS, False),
        (R.RUNNING, R.RUNNING, False),
    ],
)
def test_dag_run_edges(src: DagRunState, dst: DagRunState, allowed: bool) -> None:
    assert is_allowed_dag_run_transition(src, dst) is allowed
    if allowed:
        check_dag_run_transition(src, dst)
    else:
        with pytest.raises(InvalidTransitionError) as info:
            check_dag_run_transition(src, dst)
        assert f"'{src.value}'" in str(info.value)
        assert f"'{dst.value}'" in str(info.value)


def test_dag_run_user_marks() -> None:
    assert is_allowed_dag_run_user_mark(R.SUCCESS, R.FAILED)
    assert is_allowed_dag_run_user_mark(R.RUNNING, R.SUCCESS)
    assert not is_allowed_dag_run_user_mark(R.FAILED, R.FAILED)
    assert not is_allowed_dag_run_user_mark(R.SUCCESS, R.RUNNING)
    check_dag_run_transition(R.SUCCESS, R.FAILED, by_user=True)
    with pytest.raises(InvalidTransitionError, match="even as a user mark"):
        check_dag_run_transition(R.RUNNING, R.RUNNING, by_user=True)
