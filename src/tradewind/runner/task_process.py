"""Running the user's task: import the DAG file, render templates, execute, push XCom.

This is the only place (with ``tasks test``) where user code runs. Its result is an
:class:`Outcome`; the supervisor turns it into a state with the try's claim token.
Callbacks run here too, since they are user code: ``on_success_callback`` after success,
``on_retry_callback`` or ``on_failure_callback`` after an error.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from tradewind.dag_processing.parser import load_dags_from_file
from tradewind.exceptions import FailTask, NotFoundError, SkipTask
from tradewind.sdk.context import DagRunView, build_context, set_current_context
from tradewind.sdk.context import execute_task as run_operator
from tradewind.sdk.dag import DAG

log = logging.getLogger("tradewind.task")

OutcomeState = Literal["success", "skipped", "failed"]


@dataclass
class Outcome:
    state: OutcomeState
    retry_allowed: bool = True
    message: str = ""
    skip_task_ids: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "retry_allowed": self.retry_allowed,
            "message": self.message,
            "skip_task_ids": self.skip_task_ids,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outcome:
        return cls(
            state=data["state"],
            retry_allowed=bool(data.get("retry_allowed", True)),
            message=str(data.get("message", "")),
            skip_task_ids=list(data.get("skip_task_ids", [])),
        )


@dataclass(frozen=True)
class RunInfo:
    dag_id: str
    run_id: str
    run_type: str
    logical_date: datetime | None
    data_interval_start: datetime | None
    data_interval_end: datetime | None
    conf: dict[str, Any]
    start_date: datetime | None


def load_dag(fileloc: str, dag_id: str) -> DAG:
    dags = load_dags_from_file(fileloc)
    dag = dags.get(dag_id)
    if dag is None:
        raise NotFoundError(
            f"DAG '{dag_id}' is no longer defined in {fileloc}; it may have been renamed or "
            "removed. Run `tradewind dags list-import-errors` to check the file."
        )
    return dag


def execute_task(dag: DAG, task_id: str, ti: Any, run: RunInfo, *, will_retry: bool) -> Outcome:
    """Run one task in this process and say how it ended; never raises for task errors."""
    task = dag.task_dict.get(task_id)
    if task is None:
        return Outcome("failed", False, f"task '{task_id}' is no longer in DAG '{dag.dag_id}'")
    dag_run = DagRunView(
        dag_id=run.dag_id,
        run_id=run.run_id,
        run_type=run.run_type,
        logical_date=run.logical_date,
        data_interval_start=run.data_interval_start,
        data_interval_end=run.data_interval_end,
        conf=run.conf,
        start_date=run.start_date,
    )
    context = build_context(dag=dag, task=task, ti=ti, dag_run=dag_run)
    with set_current_context(context):
        try:
            run_operator(task, context)
        except SkipTask as skip:
            log.info("Task skipped: %s", skip or "SkipTask raised")
            return Outcome("skipped", message=str(skip))
        except FailTask as error:
            log.error("Task failed without retry: %s", error)
            _run_callback(task.on_failure_callback, context, error)
            return Outcome("failed", False, str(error) or "FailTask raised")
        except BaseException as error:
            text = _describe(error)
            log.error("Task failed: %s", text)
            callback = task.on_retry_callback if will_retry else task.on_failure_callback
            _run_callback(callback, context, error)
            return Outcome("failed", True, text)
        _run_callback(task.on_success_callback, context, None)
    return Outcome("success", skip_task_ids=sorted(getattr(ti, "skipped_task_ids", set())))


def _describe(error: BaseException) -> str:
    if isinstance(error, SystemExit):
        return f"the task called sys.exit({error.code})"
    trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    log.error("%s", trace.rstrip())
    return f"{type(error).__name__}: {error}"


def _run_callback(callback: Any, context: Any, error: BaseException | None) -> None:
    callbacks = callback if isinstance(callback, (list, tuple)) else [callback]
    for item in callbacks:
        if item is None:
            continue
        if error is not None:
            context["exception"] = error
        try:
            item(context)
        except Exception:
            log.exception("Callback %r raised; the task's outcome is unchanged", item)
