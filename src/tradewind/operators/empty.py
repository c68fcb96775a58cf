"""EmptyOperator: a task that does nothing, for grouping and joining branches.

The scheduler may finish an EmptyOperator without starting a runner (the serialized
task says ``is_empty``), so it must stay free of side effects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tradewind.sdk.baseoperator import BaseOperator

if TYPE_CHECKING:
    from tradewind.sdk.context import Context

__all__ = ["EmptyOperator"]


class EmptyOperator(BaseOperator):
    """A task that does nothing; takes only the common task arguments."""

    ui_color: str = "#e8f7e4"

    def execute(self, context: Context) -> Any:
        return None
