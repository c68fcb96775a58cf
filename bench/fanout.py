"""200 independent no-op tasks: throughput in tasks per second.

Airflow 3.3 on this kind of machine: 5-6 tasks/s, about 0.2 CPU-seconds per task.
Run: ``.venv/bin/python bench/fanout.py``
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import describe, parse_args, peak_memory_mib, run_dag_once, write_line

TASKS = 200
SOURCE = f"""
from datetime import datetime
from tradewind import DAG
from tradewind.operators import PythonOperator

def noop():
    return None

with DAG("bench_fanout", schedule=None, start_date=datetime(2024, 1, 1),
         max_active_tasks={TASKS}):
    for i in range({TASKS}):
        PythonOperator(task_id=f"t{{i:03d}}", python_callable=noop)
"""


def main() -> None:
    args = parse_args(__doc__ or "")
    figures = run_dag_once(args, "bench_fanout", SOURCE)
    durations = [end - start for start, end in zip(figures.starts, figures.ends, strict=False)]
    print(
        f"bench/fanout.py: {TASKS} independent no-op tasks ({args.executor} executor, "
        f"parallelism {args.parallelism})"
    )
    write_line("run state", figures.state)
    write_line("total wall time", f"{figures.wall_seconds:.2f} s")
    write_line("throughput", f"{TASKS / figures.wall_seconds:.1f} tasks/s")
    write_line("task try duration (claim to outcome)", describe(durations))
    write_line(
        "CPU time (scheduler + runners)",
        f"{figures.cpu_seconds:.2f} s ({figures.cpu_seconds / TASKS * 1000:.0f} ms per task)",
    )
    write_line("scheduler peak RSS", f"{peak_memory_mib():.0f} MiB")


if __name__ == "__main__":
    main()
