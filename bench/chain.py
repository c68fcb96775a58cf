"""50 no-op tasks in a chain: how long from one task's end to the next one's start.

Airflow 3.3 on this kind of machine: 53 s in all, about 1 s between two tasks.
Run: ``.venv/bin/python bench/chain.py``
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import describe, parse_args, peak_memory_mib, run_dag_once, write_line

TASKS = 50
SOURCE = f"""
from datetime import datetime
from tradewind import DAG, chain
from tradewind.operators import PythonOperator

def noop():
    return None

with DAG("bench_chain", schedule=None, start_date=datetime(2024, 1, 1)):
    chain(*[PythonOperator(task_id=f"t{{i:03d}}", python_callable=noop) for i in range({TASKS})])
"""


def main() -> None:
    args = parse_args(__doc__ or "")
    figures = run_dag_once(args, "bench_chain", SOURCE)
    gaps = [start - end for end, start in zip(figures.ends[:-1], figures.starts[1:], strict=True)]
    durations = [end - start for start, end in zip(figures.starts, figures.ends, strict=False)]
    print(
        f"bench/chain.py: {TASKS} chained no-op tasks ({args.executor} executor, "
        f"{args.database_url.split('://')[0] if args.database_url else 'sqlite'})"
    )
    write_line("run state", figures.state)
    write_line("total wall time", f"{figures.wall_seconds:.2f} s")
    write_line("gap between chained tasks", describe(gaps))
    write_line("task try duration (claim to outcome)", describe(durations))
    write_line(
        "CPU time (scheduler + runners)",
        f"{figures.cpu_seconds:.2f} s ({figures.cpu_seconds / TASKS * 1000:.0f} ms per task)",
    )
    write_line("scheduler peak RSS", f"{peak_memory_mib():.0f} MiB")


if __name__ == "__main__":
    main()
