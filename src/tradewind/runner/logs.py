"""Where each try's log lives: one file per try, named after its DAG, run, task and try.

``{base_log_folder}/dag_id=<dag>/run_id=<run>/task_id=<task>/attempt=<n>.log`` (with
``map_index=<i>/`` before the file for mapped tasks) holds the task's stdout, stderr and
logging, and the runner's own lines about claiming, heartbeats and the outcome.
"""

from __future__ import annotations

import re
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9_.:+\-@=]")


def _safe(part: str) -> str:
    return _UNSAFE.sub("_", part)


def log_path(
    base: Path, *, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1
) -> Path:
    folder = (
        base / f"dag_id={_safe(dag_id)}" / f"run_id={_safe(run_id)}" / f"task_id={_safe(task_id)}"
    )
    if map_index >= 0:
        folder = folder / f"map_index={map_index}"
    return folder / f"attempt={try_number}.log"


def read_log(path: Path, *, limit: int = 2_000_000) -> str:
    """The log's text (its last ``limit`` bytes for very long logs)."""
    if not path.exists():
        return ""
    with path.open("rb") as handle:
        size = path.stat().st_size
        if size > limit:
            handle.seek(size - limit)
        return handle.read().decode(errors="replace")
