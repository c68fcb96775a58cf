"""XCom storage: small JSON values passed between the tasks of one DAG run.

Values are written by the runner that holds the try's claim token, checked in the same
transaction, so a try that was taken away cannot overwrite a newer try's values. The size
limit is ``core.xcom_max_size`` (1 MiB by default); a larger value fails the task with a
message saying the size, the limit and how to raise it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from tradewind.db.models import TaskInstance, XCom
from tradewind.db.types import utcnow
from tradewind.exceptions import TaskFailure, XComTooLargeError
from tradewind.serde import dumps, loads

RETURN_VALUE_KEY = "return_value"


def encode_value(value: Any, *, key: str, task_id: str, max_size: int) -> str:
    """Serialize an XCom value, enforcing the size limit with a helpful message."""
    try:
        text = dumps(value)
    except TypeError as error:
        raise TaskFailure(
            f"XCom '{key}' of task '{task_id}' cannot be stored: {error}. Return JSON-friendly "
            "values (str, int, float, bool, None, list, dict, datetime, Decimal, tuple) or set "
            "do_xcom_push=False."
        ) from None
    size = len(text.encode())
    if size > max_size:
        raise XComTooLargeError(
            f"XCom '{key}' of task '{task_id}' is {size:,} bytes, above the limit of "
            f"{max_size:,} bytes. Store large data elsewhere (a file or object store) and pass "
            "its location, or raise the limit with core.xcom_max_size in tradewind.toml "
            "(TRADEWIND__CORE__XCOM_MAX_SIZE)."
        )
    return text


def push_xcom(
    session: Session,
    *,
    ti_id: int,
    claim_token: str,
    key: str,
    text: str,
    now: datetime | None = None,
) -> None:
    """Store an encoded value for the try holding ``claim_token``; the caller commits."""
    fence = session.execute(
        update(TaskInstance)
        .where(TaskInstance.id == ti_id, TaskInstance.claim_token == claim_token)
        .values(updated_at=utcnow())
    )
    if not getattr(fence, "rowcount", 0):
        raise TaskFailure(
            "this try no longer holds its task instance (stopped, or declared lost); "
            "its XCom was not stored"
        )
    ti = session.get(TaskInstance, ti_id)
    assert ti is not None
    session.execute(
        delete(XCom).where(
            XCom.dag_run_id == ti.dag_run_id,
            XCom.task_id == ti.task_id,
            XCom.map_index == ti.map_index,
            XCom.key == key,
        )
    )
    session.execute(
        insert(XCom).values(
            dag_run_id=ti.dag_run_id,
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            task_id=ti.task_id,
            map_index=ti.map_index,
            key=key,
            value=text,
            timestamp=now or utcnow(),
        )
    )


def pull_xcom(
    session: Session,
    *,
    dag_run_id: int,
    task_ids: str | Sequence[str],
    key: str = RETURN_VALUE_KEY,
    default: Any = None,
) -> Any:
    """Airflow semantics: one task id gives its value; a list gives a list of values."""
    single = isinstance(task_ids, str)
    wanted = [task_ids] if isinstance(task_ids, str) else list(task_ids)
    rows = session.execute(
        select(XCom.task_id, XCom.value).where(
            XCom.dag_run_id == dag_run_id, XCom.task_id.in_(wanted), XCom.key == key
        )
    ).all()
    found = {task_id: loads(value) for task_id, value in rows}
    if single:
        return found.get(wanted[0], default)
    return [found.get(task_id, default) for task_id in wanted]
