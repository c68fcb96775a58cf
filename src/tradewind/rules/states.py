"""The states of task instances and DAG runs, and which changes between them are allowed.

This module owns the state machine. ``tradewind.models.transitions`` is the one writer of
state; it asks :func:`check_ti_transition` / :func:`check_dag_run_transition` before every
compare-and-set, so that a bug elsewhere (a scheduler step, a runner, a CLI command) cannot
write a change the design never meant to happen, such as ``success -> running``.

Two kinds of change are distinguished because they have different authors:

* the *machine* (:data:`ALLOWED_TI_TRANSITIONS`, :data:`ALLOWED_DAG_RUN_TRANSITIONS`): what
  the scheduler, executors and runners do on their own, plus *clearing* (any finished
  state back to ``none``/``queued``), which users trigger but which re-enters the machine;
* *user marks* (:func:`is_allowed_user_mark`, :func:`is_allowed_dag_run_user_mark`): a
  person overriding the outcome ("mark success"), which may jump from any state.

A change from a state to itself is never a transition: writers treat it as a no-op instead.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

from tradewind.exceptions import InvalidTransitionError


class TaskInstanceState(str, enum.Enum):
    """The state of one task instance (one task in one DAG run).

    A ``str`` enum so that values compare equal to the strings stored in the database and
    written in Airflow-style code (``ti.state == "success"``).
    """

    NONE = "none"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    UP_FOR_RETRY = "up_for_retry"
    UPSTREAM_FAILED = "upstream_failed"
    SKIPPED = "skipped"
    REMOVED = "removed"

    def __str__(self) -> str:
        return self.value


class DagRunState(str, enum.Enum):
    """The state of one DAG run."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


_TI = TaskInstanceState
_DR = DagRunState

#: Task-instance states after which nothing happens on its own any more.
FINISHED_TI_STATES: frozenset[TaskInstanceState] = frozenset(
    {_TI.SUCCESS, _TI.FAILED, _TI.UPSTREAM_FAILED, _TI.SKIPPED, _TI.REMOVED}
)
#: Task-instance states that the scheduler, an executor or a runner still has to move on.
UNFINISHED_TI_STATES: frozenset[TaskInstanceState] = frozenset(
    {_TI.NONE, _TI.SCHEDULED, _TI.QUEUED, _TI.RUNNING, _TI.UP_FOR_RETRY}
)
#: DAG-run states after which the scheduler leaves the run alone.
FINISHED_DAG_RUN_STATES: frozenset[DagRunState] = frozenset({_DR.SUCCESS, _DR.FAILED})
#: DAG-run states the scheduler still works on.
UNFINISHED_DAG_RUN_STATES: frozenset[DagRunState] = frozenset({_DR.QUEUED, _DR.RUNNING})

#: States a user may mark any task instance as (Airflow's "mark success/failed/skipped").
TI_USER_MARK_STATES: frozenset[TaskInstanceState] = frozenset(
    {_TI.SUCCESS, _TI.FAILED, _TI.SKIPPED}
)
#: States a user may mark any DAG run as.
DAG_RUN_USER_MARK_STATES: frozenset[DagRunState] = frozenset({_DR.SUCCESS, _DR.FAILED})

# Why each edge exists is written next to it: an edge without a reason should not exist.
ALLOWED_TI_TRANSITIONS: Mapping[TaskInstanceState, frozenset[TaskInstanceState]] = MappingProxyType(
    {
        _TI.NONE: frozenset(
            {
                _TI.SCHEDULED,  # upstreams allow it to run
                _TI.SKIPPED,  # trigger rule decided SKIP, or a branch skipped it
                _TI.UPSTREAM_FAILED,  # trigger rule decided UPSTREAM_FAILED
                _TI.REMOVED,  # the task is gone from the DAG's current version
            }
        ),
        _TI.SCHEDULED: frozenset(
            {
                _TI.QUEUED,  # handed to an executor
                _TI.NONE,  # cleared by a user
                _TI.SKIPPED,  # skipped by a branch before it was queued
                _TI.UPSTREAM_FAILED,  # an upstream was cleared and then failed
                _TI.REMOVED,  # the task is gone from the DAG's current version
            }
        ),
        _TI.QUEUED: frozenset(
            {
                _TI.RUNNING,  # a runner claimed the try
                _TI.SCHEDULED,  # taken back from a dead scheduler or executor
                _TI.NONE,  # cleared by a user
                _TI.FAILED,  # the executor could not start it at all
            }
        ),
        _TI.RUNNING: frozenset(
            {
                _TI.SUCCESS,  # the try succeeded
                _TI.FAILED,  # the try failed with no retries left (or FailTask)
                _TI.UP_FOR_RETRY,  # the try failed (or its runner died), retries left
                _TI.SKIPPED,  # the task raised SkipTask
                _TI.NONE,  # cleared by a user while running; the runner stops
            }
        ),
        _TI.UP_FOR_RETRY: frozenset(
            {
                _TI.SCHEDULED,  # the retry delay has passed
                _TI.NONE,  # cleared by a user
                _TI.FAILED,  # the run ended (e.g. dagrun_timeout) before the retry
                _TI.SKIPPED,  # skipped by a branch that was re-run
            }
        ),
        # Every finished state goes back to ``none`` when a user clears it (or, for
        # ``removed``, when the task comes back in a new version of the DAG).
        _TI.SUCCESS: frozenset({_TI.NONE}),
        _TI.FAILED: frozenset({_TI.NONE}),
        _TI.UPSTREAM_FAILED: frozenset({_TI.NONE}),
        _TI.SKIPPED: frozenset({_TI.NONE}),
        _TI.REMOVED: frozenset({_TI.NONE}),
    }
)

ALLOWED_DAG_RUN_TRANSITIONS: Mapping[DagRunState, frozenset[DagRunState]] = MappingProxyType(
    {
        _DR.QUEUED: frozenset(
            {
                _DR.RUNNING,  # the scheduler started it (max_active_runs allowed it)
                _DR.SUCCESS,  # nothing left to run (e.g. every task already finished)
                _DR.FAILED,  # dagrun_timeout passed while it waited, or the DAG is gone
            }
        ),
        _DR.RUNNING: frozenset(
            {
                _DR.SUCCESS,  # every leaf task finished and none failed
                _DR.FAILED,  # a leaf failed, a deadlock, or dagrun_timeout
                _DR.QUEUED,  # a user cleared it; it waits for a slot again
            }
        ),
        # A finished run re-opens when a user clears some of its tasks: normally back to
        # ``queued`` (Airflow's default), or straight to ``running`` when the caller
        # chooses to skip the max_active_runs wait.
        _DR.SUCCESS: frozenset({_DR.QUEUED, _DR.RUNNING}),
        _DR.FAILED: frozenset({_DR.QUEUED, _DR.RUNNING}),
    }
)


def _ti_state(value: TaskInstanceState | str) -> TaskInstanceState:
    try:
        return TaskInstanceState(value)
    except ValueError:
        valid = ", ".join(s.value for s in TaskInstanceState)
        raise ValueError(
            f"{value!r} is not a task instance state; valid states are: {valid}"
        ) from None


def _dag_run_state(value: DagRunState | str) -> DagRunState:
    try:
        return DagRunState(value)
    except ValueError:
        valid = ", ".join(s.value for s in DagRunState)
        raise ValueError(f"{value!r} is not a DAG run state; valid states are: {valid}") from None


def is_allowed_ti_transition(src: TaskInstanceState | str, dst: TaskInstanceState | str) -> bool:
    """Whether the machine (scheduler, executor, runner, or clearing) may go ``src -> dst``."""
    return _ti_state(dst) in ALLOWED_TI_TRANSITIONS[_ti_state(src)]


def is_allowed_user_mark(src: TaskInstanceState | str, dst: TaskInstanceState | str) -> bool:
    """Whether a user may mark a task instance in ``src`` as ``dst``.

    A user may mark any task instance as success, failed or skipped, whatever it is
    doing: marking a running task makes its runner notice the change and stop, as in
    Airflow. Marking a state as itself is not a change and returns False.
    """
    src_state, dst_state = _ti_state(src), _ti_state(dst)
    return dst_state in TI_USER_MARK_STATES and src_state != dst_state


def check_ti_transition(
    src: TaskInstanceState | str, dst: TaskInstanceState | str, *, by_user: bool = False
) -> None:
    """Raise :class:`InvalidTransitionError` unless ``src -> dst`` is allowed.

    With ``by_user=True`` the user marks are allowed as well as the machine's edges.
    """
    src_state, dst_state = _ti_state(src), _ti_state(dst)
    if is_allowed_ti_transition(src_state, dst_state):
        return
    if by_user and is_allowed_user_mark(src_state, dst_state):
        return
    allowed = ", ".join(sorted(s.value for s in ALLOWED_TI_TRANSITIONS[src_state]))
    raise InvalidTransitionError(
        f"task instance cannot go from {src_state.value!r} to {dst_state.value!r}"
        f"{' (even as a user mark)' if by_user else ''}; from {src_state.value!r} it may go "
        f"to: {allowed}"
    )


def is_allowed_dag_run_transition(src: DagRunState | str, dst: DagRunState | str) -> bool:
    """Whether the scheduler (or clearing) may move a DAG run from ``src`` to ``dst``."""
    return _dag_run_state(dst) in ALLOWED_DAG_RUN_TRANSITIONS[_dag_run_state(src)]


def is_allowed_dag_run_user_mark(src: DagRunState | str, dst: DagRunState | str) -> bool:
    """Whether a user may mark a DAG run in ``src`` as ``dst`` (success or failed).

    Marking a state as itself is not a change and returns False.
    """
    src_state, dst_state = _dag_run_state(src), _dag_run_state(dst)
    return dst_state in DAG_RUN_USER_MARK_STATES and src_state != dst_state


def check_dag_run_transition(
    src: DagRunState | str, dst: DagRunState | str, *, by_user: bool = False
) -> None:
    """Raise :class:`InvalidTransitionError` unless the DAG run may go ``src -> dst``.

    With ``by_user=True`` the user marks are allowed as well as the machine's edges.
    """
    src_state, dst_state = _dag_run_state(src), _dag_run_state(dst)
    if is_allowed_dag_run_transition(src_state, dst_state):
        return
    if by_user and is_allowed_dag_run_user_mark(src_state, dst_state):
        return
    allowed = ", ".join(sorted(s.value for s in ALLOWED_DAG_RUN_TRANSITIONS[src_state]))
    raise InvalidTransitionError(
        f"DAG run cannot go from {src_state.value!r} to {dst_state.value!r}"
        f"{' (even as a user mark)' if by_user else ''}; from {src_state.value!r} it may go "
        f"to: {allowed}"
    )


__all__ = [
    "ALLOWED_DAG_RUN_TRANSITIONS",
    "ALLOWED_TI_TRANSITIONS",
    "DAG_RUN_USER_MARK_STATES",
    "FINISHED_DAG_RUN_STATES",
    "FINISHED_TI_STATES",
    "TI_USER_MARK_STATES",
    "UNFINISHED_DAG_RUN_STATES",
    "UNFINISHED_TI_STATES",
    "DagRunState",
    "TaskInstanceState",
    "check_dag_run_transition",
    "check_ti_transition",
    "is_allowed_dag_run_transition",
    "is_allowed_dag_run_user_mark",
    "is_allowed_ti_transition",
    "is_allowed_user_mark",
]
