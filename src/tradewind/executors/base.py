"""The executor protocol: the scheduler hands over tries; executors report process exits.

Executors never write states: a runner reports its own outcome to the database. What an
executor reports (:class:`ExecutorEvent`) is only that a runner process ended, which lets
the scheduler notice at once a runner that died before claiming or before finishing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Workload:
    """One try to run: the runner claims ``ti_id`` for ``try_number``."""

    ti_id: int
    try_number: int
    dag_id: str
    run_id: str
    task_id: str
    queue: str = "default"


@dataclass(frozen=True)
class ExecutorEvent:
    ti_id: int
    try_number: int
    pid: int
    returncode: int


class Executor(Protocol):
    name: str

    def start(self) -> None: ...

    @property
    def open_slots(self) -> int: ...

    def queue(self, workload: Workload) -> None: ...

    def sync(self) -> list[ExecutorEvent]:
        """Events since the last call; never blocks."""
        ...

    def wait(self, timeout: float) -> None:
        """Block until an event may be ready or ``timeout`` seconds pass."""
        ...

    def end(self) -> None:
        """Stop handing out work; running tries carry on in their own process groups."""
        ...
