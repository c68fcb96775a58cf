"""The public authoring surface and the import boundary of the authoring layer."""

from __future__ import annotations

import subprocess
import sys

import tradewind

PUBLIC_NAMES = [
    "BaseOperator",
    "DAG",
    "Param",
    "TriggerRule",
    "chain",
    "dag",
    "get_current_context",
    "task",
]

FORBIDDEN_PREFIXES = (
    "sqlalchemy",
    "typer",
    "tradewind.db",
    "tradewind.models",
    "tradewind.scheduler",
    "tradewind.executors",
    "tradewind.runner",
    "tradewind.cli",
)


def test_all_is_sorted_and_exactly_the_authoring_names() -> None:
    assert tradewind.__all__ == sorted(tradewind.__all__)
    assert tradewind.__all__ == PUBLIC_NAMES
    for name in PUBLIC_NAMES:
        assert getattr(tradewind, name) is not None
    assert tradewind.__version__ == "0.1.0"


def test_authoring_layer_imports_no_database_or_scheduler_code() -> None:
    # A fresh interpreter: this test process has already imported sqlalchemy elsewhere.
    code = (
        "import sys\n"
        "import tradewind, tradewind.sdk, tradewind.operators\n"
        f"bad = sorted(m for m in sys.modules if m.startswith({FORBIDDEN_PREFIXES!r}))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""


def test_public_names_come_from_the_sdk() -> None:
    from tradewind.sdk import DAG, BaseOperator, Param, chain, dag, get_current_context, task

    assert tradewind.DAG is DAG
    assert tradewind.BaseOperator is BaseOperator
    assert tradewind.Param is Param
    assert tradewind.chain is chain
    assert tradewind.dag is dag
    assert tradewind.get_current_context is get_current_context
    assert tradewind.task is task
