"""ShortCircuitOperator: stop the rest of the DAG run when a condition is falsy.

With ``ignore_downstream_trigger_rules=True`` (the default) every task downstream, at any
distance, is skipped; with False only the direct downstream tasks are, and the tasks
after them follow their own trigger rules (so an ``all_done`` join still runs).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from tradewind.operators.python import PythonOperator

if TYPE_CHECKING:
    from tradewind.sdk.context import Context

__all__ = ["ShortCircuitOperator"]

log = logging.getLogger(__name__)


class ShortCircuitOperator(PythonOperator):
    """Run ``python_callable``; a falsy result skips the downstream tasks."""

    ui_color: str = "#f0eee4"

    def __init__(self, *, ignore_downstream_trigger_rules: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ignore_downstream_trigger_rules = ignore_downstream_trigger_rules

    def execute(self, context: Context) -> Any:
        condition = super().execute(context)
        if condition:
            log.info("Condition result is %r: downstream tasks proceed.", condition)
            return condition
        if self.ignore_downstream_trigger_rules:
            to_skip = self.get_flat_relative_ids(upstream=False)
        else:
            to_skip = set(self.downstream_task_ids)
        log.info("Condition result is %r: skipping %s.", condition, sorted(to_skip))
        if to_skip:
            context["ti"].skip_tasks(sorted(to_skip))
        return condition
