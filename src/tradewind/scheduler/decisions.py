"""What should happen next in one DAG run: a pure function of its task states.

Given the serialized DAG and the current state of each task instance, decide which tasks
become scheduled, skipped or upstream_failed, and whether the run is finished. Tasks are
visited in topological order and each decision is applied before the next task is looked
at, so a whole chain of skips or upstream failures settles in one pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from tradewind.dag_processing.serialization import SerializedDag
from tradewind.rules.states import FINISHED_TI_STATES, DagRunState, TaskInstanceState
from tradewind.rules.trigger_rules import Decision, TriggerRule, UpstreamCounts, evaluate

State = TaskInstanceState
PAST_OK = frozenset({State.SUCCESS, State.SKIPPED})


@dataclass(frozen=True)
class TaskView:
    state: str
    next_retry_at: datetime | None = None


@dataclass
class RunDecision:
    changes: dict[str, tuple[str, str]] = field(default_factory=dict)
    """task_id → (expected state, new state)."""
    run_state: str | None = None
    """The run's final state once every task has finished, else None."""


def decide(
    dag: SerializedDag,
    tasks: Mapping[str, TaskView],
    *,
    now: datetime,
    past_states: Mapping[str, str | None] | None = None,
) -> RunDecision:
    """Decide the next transitions of one run.

    ``past_states`` maps each ``depends_on_past`` task to its state in the previous run
    (None when there was no previous run or no such task then).
    """
    decision = RunDecision()
    current = {task_id: view.state for task_id, view in tasks.items()}
    for task_id in dag.topological_order:
        view = tasks.get(task_id)
        task = dag.tasks[task_id]
        if view is None:
            continue
        new_state: str | None = None
        if view.state == State.UP_FOR_RETRY:
            if view.next_retry_at is None or view.next_retry_at <= now:
                new_state = State.SCHEDULED
        elif view.state == State.NONE:
            upstream = [current[u] for u in task.upstream_task_ids if u in current]
            outcome = evaluate(TriggerRule(task.trigger_rule), UpstreamCounts.from_states(upstream))
            if outcome is Decision.RUN:
                past = (past_states or {}).get(task_id)
                if not task.depends_on_past or past is None or past in PAST_OK:
                    new_state = State.SCHEDULED
            elif outcome is Decision.SKIP:
                new_state = State.SKIPPED
            elif outcome is Decision.UPSTREAM_FAILED:
                new_state = State.UPSTREAM_FAILED
        if new_state is not None:
            decision.changes[task_id] = (view.state, new_state)
            current[task_id] = new_state
    if current and all(state in FINISHED_TI_STATES for state in current.values()):
        leaves = [leaf for leaf in dag.leaves if leaf in current] or list(current)
        failed = any(current[leaf] in (State.FAILED, State.UPSTREAM_FAILED) for leaf in leaves)
        decision.run_state = DagRunState.FAILED if failed else DagRunState.SUCCESS
    elif not current:
        decision.run_state = DagRunState.SUCCESS
    return decision
