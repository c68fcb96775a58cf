"""Retries: the first try fails on purpose, the second succeeds after retry_delay."""

from __future__ import annotations

from datetime import datetime, timedelta

from tradewind import DAG, task

with DAG(
    "example_retries",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    default_args={"retries": 2, "retry_delay": timedelta(seconds=1)},
    tags=["example"],
) as dag:

    @task
    def flaky(**context) -> str:
        try_number = context["ti"].try_number
        if try_number < 2:
            raise RuntimeError(f"try {try_number} fails on purpose; the next one will work")
        return f"succeeded on try {try_number}"

    @task(execution_timeout=timedelta(seconds=30))
    def report(message: str) -> None:
        print(message)

    report(flaky())
