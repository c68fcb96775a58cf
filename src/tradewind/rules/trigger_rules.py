"""Trigger rules: when a task may run, given the states of its direct upstream tasks.

This module owns the decision only. The scheduler counts the upstream states of a task
instance (:class:`UpstreamCounts`), calls :func:`evaluate`, and writes the outcome through
``tradewind.models.transitions``. Keeping the decision a pure function of counts makes it
testable by property and identical wherever it is used (scheduler, ``tasks test``, UI).

The semantics are Apache Airflow's (``airflow/ti_deps/deps/trigger_rule_dep.py`` with
``flag_upstream_failed=True``, the way the scheduler calls it), for tasks that are not
mapped. Where Airflow's code and its one-line docs disagree, the code wins:

* ``one_done`` counts ``success`` and ``failed`` only; an ``upstream_failed`` upstream
  does not make it run (Airflow: "at least one upstream task has either succeeded or
  failed"). When every upstream is done and none succeeded or failed, it is skipped.
* ``none_failed_min_one_success`` is skipped when every upstream was skipped; since it
  otherwise waits until all upstreams succeeded or were skipped, "all done, no failure,
  no success" is the same thing.
* ``all_success`` is the one rule whose non-WAIT decision can still change: it says SKIP
  as soon as an upstream is skipped, and UPSTREAM_FAILED if a failure arrives later.
  Airflow has the same order (the failure check comes first), so the scheduler writes
  whichever it sees first; both stop the task.

``removed`` upstreams count as *done* and as nothing else: they neither satisfy nor break
a rule. A rule that needs *all* upstreams in some state is judged over the upstreams that
were not removed. Airflow does exactly this for mapped upstreams, and for unmapped ones a
removed task drops out of the upstream list altogether, so the outcome is the same. It
also means that once every upstream is finished the answer is never WAIT (except for an
all-removed upstream list, which behaves like no upstream at all: RUN).
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from tradewind.exceptions import InvalidTriggerRuleError
from tradewind.rules.states import TaskInstanceState


class TriggerRule(str, enum.Enum):
    """The condition on the direct upstream tasks under which a task runs."""

    ALL_SUCCESS = "all_success"
    ALL_FAILED = "all_failed"
    ALL_DONE = "all_done"
    ALL_SKIPPED = "all_skipped"
    ONE_SUCCESS = "one_success"
    ONE_FAILED = "one_failed"
    ONE_DONE = "one_done"
    NONE_FAILED = "none_failed"
    NONE_FAILED_MIN_ONE_SUCCESS = "none_failed_min_one_success"
    NONE_SKIPPED = "none_skipped"
    ALWAYS = "always"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, value: str | TriggerRule) -> TriggerRule:
        """Turn what a DAG file wrote into a rule, or say which rules exist.

        Raises :class:`InvalidTriggerRuleError` (an authoring error, so the DAG file is
        reported as broken instead of failing later in the scheduler).
        """
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            try:
                return cls(value)
            except ValueError:
                pass
        valid = ", ".join(rule.value for rule in cls)
        raise InvalidTriggerRuleError(
            f"{value!r} is not a trigger rule; valid trigger rules are: {valid}"
        )


@dataclass(frozen=True)
class UpstreamCounts:
    """How many direct upstream task instances are in each finished state.

    ``total`` counts every upstream task instance, finished or not; the difference
    between ``total`` and :attr:`done` is how many are still unfinished.
    """

    total: int
    success: int = 0
    skipped: int = 0
    failed: int = 0
    upstream_failed: int = 0
    removed: int = 0

    def __post_init__(self) -> None:
        for name in ("total", "success", "skipped", "failed", "upstream_failed", "removed"):
            if getattr(self, name) < 0:
                raise ValueError(f"UpstreamCounts.{name} cannot be negative: {self}")
        if self.done > self.total:
            raise ValueError(f"more finished upstreams than upstreams in total: {self}")

    @property
    def done(self) -> int:
        """How many upstreams are finished (success, skipped, failed, upstream_failed,
        removed)."""
        return self.success + self.skipped + self.failed + self.upstream_failed + self.removed

    @property
    def unfinished(self) -> int:
        """How many upstreams may still change state."""
        return self.total - self.done

    @classmethod
    def from_states(cls, states: Iterable[TaskInstanceState | str]) -> UpstreamCounts:
        """Count the states of the upstream task instances (one entry per instance)."""
        counter: Counter[TaskInstanceState] = Counter(TaskInstanceState(s) for s in states)
        return cls(
            total=sum(counter.values()),
            success=counter[TaskInstanceState.SUCCESS],
            skipped=counter[TaskInstanceState.SKIPPED],
            failed=counter[TaskInstanceState.FAILED],
            upstream_failed=counter[TaskInstanceState.UPSTREAM_FAILED],
            removed=counter[TaskInstanceState.REMOVED],
        )


class Decision(enum.Enum):
    """What the scheduler does with a task instance whose upstreams it just counted."""

    RUN = "run"  # schedule it
    WAIT = "wait"  # leave it as it is; ask again when an upstream changes
    SKIP = "skip"  # set it to skipped
    UPSTREAM_FAILED = "upstream_failed"  # set it to upstream_failed


def evaluate(rule: TriggerRule | str, counts: UpstreamCounts) -> Decision:
    """Decide what happens to a task under ``rule`` given its upstream ``counts``.

    See the module docstring for where this follows Airflow's code over its docs, and
    how ``removed`` upstreams count.
    """
    rule = TriggerRule.parse(rule)
    # Removed upstreams are done but otherwise as if absent (see module docstring).
    total = counts.total - counts.removed
    if total == 0 or rule is TriggerRule.ALWAYS:
        # Airflow: "The task instance did not have any upstream tasks." -> passes.
        return Decision.RUN

    success, skipped = counts.success, counts.skipped
    failed, upstream_failed = counts.failed, counts.upstream_failed
    any_failure = failed + upstream_failed > 0
    all_done = counts.done >= counts.total

    if rule is TriggerRule.ALL_SUCCESS:
        if any_failure:
            return Decision.UPSTREAM_FAILED
        if skipped:
            return Decision.SKIP
        return Decision.RUN if success >= total else Decision.WAIT

    if rule is TriggerRule.ALL_FAILED:
        if success or skipped:
            return Decision.SKIP
        return Decision.RUN if failed + upstream_failed >= total else Decision.WAIT

    if rule is TriggerRule.ALL_DONE:
        return Decision.RUN if all_done else Decision.WAIT

    if rule is TriggerRule.ALL_SKIPPED:
        if success or any_failure:
            return Decision.SKIP
        return Decision.RUN if skipped >= total else Decision.WAIT

    if rule is TriggerRule.ONE_SUCCESS:
        if success:
            return Decision.RUN
        if not all_done:
            return Decision.WAIT
        return Decision.SKIP if skipped >= total else Decision.UPSTREAM_FAILED

    if rule is TriggerRule.ONE_FAILED:
        if any_failure:
            return Decision.RUN
        return Decision.SKIP if all_done else Decision.WAIT

    if rule is TriggerRule.ONE_DONE:
        # Airflow counts success and failed here, not upstream_failed.
        if success or failed:
            return Decision.RUN
        return Decision.SKIP if all_done else Decision.WAIT

    if rule is TriggerRule.NONE_FAILED:
        if any_failure:
            return Decision.UPSTREAM_FAILED
        return Decision.RUN if success + skipped >= total else Decision.WAIT

    if rule is TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS:
        if any_failure:
            return Decision.UPSTREAM_FAILED
        if skipped >= total:
            return Decision.SKIP
        return Decision.RUN if success + skipped >= total else Decision.WAIT

    if rule is TriggerRule.NONE_SKIPPED:
        if skipped:
            return Decision.SKIP
        return Decision.RUN if all_done else Decision.WAIT

    raise AssertionError(f"unhandled trigger rule {rule!r}")  # pragma: no cover


__all__ = ["Decision", "TriggerRule", "UpstreamCounts", "evaluate"]
