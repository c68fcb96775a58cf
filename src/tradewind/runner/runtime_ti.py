"""The task instance a running task sees as ``ti``: XCom push/pull and branch skips.

Two implementations of :class:`tradewind.sdk.context.RuntimeTaskInstance`:
:class:`DatabaseTaskInstance` inside a real try (every write fenced by the claim token),
and :class:`MemoryTaskInstance` for ``tradewind tasks test``, which writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from tradewind.models.xcom import RETURN_VALUE_KEY, encode_value, pull_xcom, push_xcom
from tradewind.serde import loads


@dataclass
class TaskInstanceIdentity:
    dag_id: str
    task_id: str
    run_id: str
    map_index: int
    try_number: int
    max_tries: int
    hostname: str
    state: str = "running"


@dataclass
class DatabaseTaskInstance(TaskInstanceIdentity):
    ti_id: int = 0
    dag_run_id: int = 0
    claim_token: str = ""
    xcom_max_size: int = 1_048_576
    session_factory: sessionmaker[Session] | None = None
    skipped_task_ids: set[str] = field(default_factory=set)

    def _session(self) -> Session:
        assert self.session_factory is not None
        return self.session_factory()

    def xcom_push(self, key: str, value: Any) -> None:
        text = encode_value(value, key=key, task_id=self.task_id, max_size=self.xcom_max_size)
        with self._session() as session, session.begin():
            push_xcom(session, ti_id=self.ti_id, claim_token=self.claim_token, key=key, text=text)

    def xcom_pull(
        self,
        task_ids: str | Sequence[str] | None = None,
        dag_id: str | None = None,
        key: str = RETURN_VALUE_KEY,
        include_prior_dates: bool = False,
        default: Any = None,
    ) -> Any:
        with self._session() as session:
            return pull_xcom(
                session,
                dag_run_id=self.dag_run_id,
                task_ids=self.task_id if task_ids is None else task_ids,
                key=key,
                default=default,
            )

    def skip_tasks(self, task_ids: Iterable[str]) -> None:
        self.skipped_task_ids.update(task_ids)


@dataclass
class MemoryTaskInstance(TaskInstanceIdentity):
    """For ``tasks test``: XComs live in a dict, checked for size like the real ones."""

    xcom_max_size: int = 1_048_576
    xcoms: dict[tuple[str, str], str] = field(default_factory=dict)
    skipped_task_ids: set[str] = field(default_factory=set)

    def xcom_push(self, key: str, value: Any) -> None:
        text = encode_value(value, key=key, task_id=self.task_id, max_size=self.xcom_max_size)
        self.xcoms[(self.task_id, key)] = text

    def xcom_pull(
        self,
        task_ids: str | Sequence[str] | None = None,
        dag_id: str | None = None,
        key: str = RETURN_VALUE_KEY,
        include_prior_dates: bool = False,
        default: Any = None,
    ) -> Any:
        wanted = self.task_id if task_ids is None else task_ids
        if isinstance(wanted, str):
            text = self.xcoms.get((wanted, key))
            return default if text is None else loads(text)
        return [
            default if (t := self.xcoms.get((task_id, key))) is None else loads(t)
            for task_id in wanted
        ]

    def skip_tasks(self, task_ids: Iterable[str]) -> None:
        self.skipped_task_ids.update(task_ids)
