"""A RuntimeTaskInstance for unit tests of the authoring layer and operators.

It keeps XComs in a dict (shared between instances when one dict is passed) and records
the tasks a branch asks to skip; the real runner keeps both in the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FakeTaskInstance:
    dag_id: str
    task_id: str
    run_id: str = "manual__1"
    map_index: int = -1
    try_number: int = 1
    max_tries: int = 0
    hostname: str = "host"
    state: str | None = "running"
    xcoms: dict[tuple[str, str], Any] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[(self.task_id, key)] = value

    def xcom_pull(
        self,
        task_ids: str | Sequence[str] | None = None,
        dag_id: str | None = None,
        key: str = "return_value",
        include_prior_dates: bool = False,
        default: Any = None,
    ) -> Any:
        wanted = self.task_id if task_ids is None else task_ids
        if isinstance(wanted, str):
            return self.xcoms.get((wanted, key), default)
        return [self.xcoms.get((task_id, key), default) for task_id in wanted]

    def skip_tasks(self, task_ids: Iterable[str]) -> None:
        self.skipped.extend(task_ids)
