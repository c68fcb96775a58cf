"""Tradewind: a workflow orchestrator with Airflow's authoring API and high availability.

This module is what DAG files import (``from tradewind import DAG, task``), so it stays
light: it pulls in the authoring layer only, never the database, scheduler or CLI.
"""

from tradewind.rules.trigger_rules import TriggerRule
from tradewind.sdk.baseoperator import BaseOperator, chain
from tradewind.sdk.context import get_current_context
from tradewind.sdk.dag import DAG, dag
from tradewind.sdk.decorators import task
from tradewind.sdk.params import Param

__version__ = "0.1.0"

# Plain sorted() order (a test checks it), not ruff's isort-style order.
__all__ = [  # noqa: RUF022
    "BaseOperator",
    "DAG",
    "Param",
    "TriggerRule",
    "chain",
    "dag",
    "get_current_context",
    "task",
]
