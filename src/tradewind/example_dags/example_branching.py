"""Branching: only the chosen path runs; the join still runs after a skipped branch."""

from __future__ import annotations

from datetime import datetime

from tradewind import DAG, TriggerRule, task
from tradewind.operators import EmptyOperator

with DAG(
    "example_branching",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    tags=["example"],
    params={"weekday_only": True},
) as dag:

    @task.branch
    def choose(**context) -> str:
        day = context["logical_date"].weekday()
        return "weekday_report" if day < 5 else "weekend_report"

    weekday = EmptyOperator(task_id="weekday_report")
    weekend = EmptyOperator(task_id="weekend_report")
    join = EmptyOperator(task_id="join", trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)

    choose() >> [weekday, weekend] >> join
