"""A daily schedule with catchup: one run per missed day since start_date.

Unpause it (`tradewind dags unpause example_catchup`) and the scheduler creates a run for
each of the last few days, oldest first, at most ``max_active_runs`` at a time.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tradewind import DAG, task

START = (datetime.now(timezone.utc) - timedelta(days=3)).replace(
    hour=0, minute=0, second=0, microsecond=0
)

with DAG(
    "example_catchup",
    schedule="@daily",
    start_date=START,
    catchup=True,
    max_active_runs=2,
    tags=["example", "schedule"],
) as dag:

    @task
    def process_day(ds=None, data_interval_start=None, data_interval_end=None) -> str:
        print(f"processing {ds}: {data_interval_start} to {data_interval_end}")
        return ds

    process_day()
