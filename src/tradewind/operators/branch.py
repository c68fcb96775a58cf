"""Branching: follow some downstream tasks and skip the others.

Owns :class:`BranchMixin` (turning "the branches to follow" into ``ti.skip_tasks`` for the
direct downstream tasks not followed, shared with ``@task.branch``) and
:class:`BranchPythonOperator`. Skipped tasks' own downstream tasks are then decided by
their trigger rules, as in Airflow.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from tradewind.exceptions import TaskFailure
from tradewind.operators.python import PythonOperator
from tradewind.sdk.baseoperator import BaseOperator

if TYPE_CHECKING:
    from tradewind.sdk.context import Context

__all__ = ["BranchMixin", "BranchPythonOperator"]


def _branch_ids(task: BaseOperator, branches: str | Iterable[str] | None) -> set[str]:
    if branches is None:
        return set()
    items = [branches] if isinstance(branches, str) else list(branches)
    wrong = [item for item in items if not isinstance(item, str)]
    if wrong:
        raise TaskFailure(
            f"Branch task {task.task_id!r} must return a task_id, a list of task_ids or "
            f"None; got {branches!r}."
        )
    unknown = sorted(set(items) - set(task.dag.task_ids))
    if unknown:
        raise TaskFailure(
            f"Branch task {task.task_id!r} returned task_id(s) {unknown} that are not in "
            f"DAG {task.dag.dag_id!r}; return ids of its downstream tasks "
            f"({sorted(task.downstream_task_ids)})."
        )
    return set(items)


class BranchMixin(BaseOperator):
    """Skips the direct downstream tasks that are not followed.

    A direct downstream task that is also downstream of a followed task is not skipped
    (``branch >> [a, join]; a >> join`` with branch ``a`` keeps ``join``).
    """

    def do_branch(self, context: Context, branches: str | Iterable[str] | None) -> Any:
        """Skip what ``branches`` does not follow, and return ``branches`` (the XCom).

        Raises:
            TaskFailure: ``branches`` is not a task_id, list of task_ids or None, or names
                a task that is not in the DAG.
        """
        followed = _branch_ids(self, branches)
        for task_id in list(followed):
            followed |= self.dag.get_task(task_id).get_flat_relative_ids(upstream=False)
        to_skip = sorted(self.downstream_task_ids - followed)
        if to_skip:
            context["ti"].skip_tasks(to_skip)
        return branches


class BranchPythonOperator(PythonOperator, BranchMixin):
    """Run ``python_callable``; it returns the task_id(s) to follow (or None for none).

    The direct downstream tasks not returned are skipped.
    """

    ui_color: str = "#ffe5b4"

    def execute(self, context: Context) -> Any:
        return self.do_branch(context, super().execute(context))
