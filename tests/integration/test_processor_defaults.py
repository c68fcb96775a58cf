"""What a DAG leaves unset comes from the configuration: max active runs and tasks."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.scheduling import harness, write_dag

from tradewind.config import Settings
from tradewind.db.models import Dag

pytestmark = pytest.mark.integration


def test_unset_limits_come_from_core_settings(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(core={"max_active_runs_per_dag": 3, "max_active_tasks_per_dag": 5})
    write_dag(
        settings,
        "limits",
        """
        from datetime import datetime
        from tradewind import DAG
        from tradewind.operators import EmptyOperator

        with DAG("defaults_apply", schedule=None, start_date=datetime(2024, 1, 1)):
            EmptyOperator(task_id="a")

        with DAG("own_limits", schedule=None, start_date=datetime(2024, 1, 1),
                 max_active_runs=1, max_active_tasks=2):
            EmptyOperator(task_id="a")
    """,
    )
    with harness(settings) as h:
        h.parse()
        with h.sessions() as session:
            defaults = session.get(Dag, "defaults_apply")
            own = session.get(Dag, "own_limits")
            assert defaults is not None and own is not None
            assert (defaults.max_active_runs, defaults.max_active_tasks) == (3, 5)
            assert (own.max_active_runs, own.max_active_tasks) == (1, 2)
