"""A templated bash pipeline: ds, params and XCom in Jinja templates."""

from __future__ import annotations

from datetime import datetime

from tradewind import DAG
from tradewind.operators import BashOperator

with DAG(
    "example_bash_pipeline",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    params={"table": "orders"},
    tags=["example", "bash"],
) as dag:
    extract = BashOperator(
        task_id="extract",
        bash_command="echo 'extracting {{ params.table }} for {{ ds }}'; echo {{ ds_nodash }}.csv",
    )
    check = BashOperator(
        task_id="check",
        bash_command='test -n "$FILE" && echo "checking $FILE from run {{ run_id }}"',
        env={"FILE": "{{ ti.xcom_pull(task_ids='extract') }}"},
        append_env=True,
    )
    publish = BashOperator(
        task_id="publish",
        bash_command="echo 'published {{ params.table }} for {{ data_interval_start }} "
        "to {{ data_interval_end }}'",
    )
    extract >> check >> publish
