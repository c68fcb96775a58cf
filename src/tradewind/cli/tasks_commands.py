"""``tradewind tasks``: inspect, test, stop and clear task instances."""

from __future__ import annotations

import logging
import socket
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from tradewind.cli.common import OUTPUT_OPTION, OutputFormat, console, fail, iso, print_rows, state

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from tradewind.dag_processing.serialization import SerializedDag
    from tradewind.db.models import DagRun
    from tradewind.sdk.dag import DAG

app = typer.Typer(help="Inspect, test, stop and clear task instances.", no_args_is_help=True)

STATE_COLUMNS = [
    "task_id",
    "map_index",
    "state",
    "try_number",
    "start_date",
    "end_date",
    "hostname",
]


def _require_run(session: Session, dag_id: str, run_id: str) -> DagRun:
    from tradewind.models.dag_runs import get_dag_run

    run = get_dag_run(session, dag_id, run_id)
    if run is None:
        raise fail(
            f"DAG '{dag_id}' has no run '{run_id}'; see `tradewind dags list-runs {dag_id}`."
        )
    return run


@app.command("states-for-dag-run")
def states_for_dag_run(dag_id: str, run_id: str, output: OutputFormat = OUTPUT_OPTION) -> None:
    """Each task instance of a run: state, try number, times and host."""
    from sqlalchemy import select

    from tradewind.db.models import TaskInstance

    with state.session() as session:
        run = _require_run(session, dag_id, run_id)
        tis = session.scalars(
            select(TaskInstance)
            .where(TaskInstance.dag_run_id == run.id)
            .order_by(
                TaskInstance.start_date.is_(None), TaskInstance.start_date, TaskInstance.task_id
            )
        )
        rows = [
            {
                "task_id": ti.task_id,
                "map_index": ti.map_index,
                "state": ti.state,
                "try_number": ti.try_number,
                "start_date": iso(ti.start_date),
                "end_date": iso(ti.end_date),
                "hostname": ti.hostname,
            }
            for ti in tis
        ]
    print_rows(rows, STATE_COLUMNS, output)


@app.command("tries")
def tries(dag_id: str, run_id: str, task_id: str, output: OutputFormat = OUTPUT_OPTION) -> None:
    """Every try of a task instance and how it ended (including tries lost to a dead runner)."""
    from sqlalchemy import select

    from tradewind.db.models import TaskInstance, TaskTry

    with state.session() as session:
        run = _require_run(session, dag_id, run_id)
        rows = [
            {
                "try_number": t.try_number,
                "state": t.state,
                "reason": t.reason,
                "hostname": t.hostname,
                "pid": t.pid,
                "start_date": iso(t.start_date),
                "end_date": iso(t.end_date),
            }
            for t in session.scalars(
                select(TaskTry)
                .join(TaskInstance, TaskInstance.id == TaskTry.task_instance_id)
                .where(TaskInstance.dag_run_id == run.id, TaskInstance.task_id == task_id)
                .order_by(TaskTry.try_number)
            )
        ]
        ti = session.scalars(
            select(TaskInstance).where(
                TaskInstance.dag_run_id == run.id, TaskInstance.task_id == task_id
            )
        ).first()
    print_rows(
        rows, ["try_number", "state", "reason", "hostname", "pid", "start_date", "end_date"], output
    )
    if ti is not None and output is OutputFormat.table:
        budget = state.settings.scheduler.max_infrastructure_retries
        own = ti.max_tries - ti.infrastructure_failures
        console.print(
            f"Tries lost to infrastructure: {ti.infrastructure_failures} of a budget of {budget} "
            f"(they do not use the task's own retries: {own}).",
            highlight=False,
        )


@app.command("stop")
def stop(dag_id: str, run_id: str, task_id: str) -> None:
    """Stop a running try: its runner kills the task's whole process tree within seconds."""
    from sqlalchemy import select

    from tradewind.db.models import TaskInstance
    from tradewind.models import transitions

    with state.session() as session:
        run = _require_run(session, dag_id, run_id)
        ti = session.scalars(
            select(TaskInstance).where(
                TaskInstance.dag_run_id == run.id, TaskInstance.task_id == task_id
            )
        ).first()
        if ti is None:
            raise fail(f"run '{run_id}' of '{dag_id}' has no task '{task_id}'.")
        previous = transitions.stop_try(session, ti.id)
    if previous is None:
        raise fail(f"task '{task_id}' is not running (state {ti.state}); nothing to stop.")
    console.print(f"Stopped {dag_id}.{task_id} (was {previous}); it is now failed.")


@app.command("clear")
def clear(
    dag_id: str,
    run_id: str,
    task_id: list[str] = typer.Option(None, "--task-id", "-t", help="Only these tasks."),
    downstream: bool = typer.Option(
        False, "--downstream", "-d", help="Also their downstream tasks."
    ),
) -> None:
    """Clear task instances so they run again (all of the run's by default)."""
    from sqlalchemy import select

    from tradewind.db.models import TaskInstance
    from tradewind.models import transitions
    from tradewind.rules.states import DagRunState
    from tradewind.scheduler.dag_cache import DagCache

    with state.session() as session:
        run = _require_run(session, dag_id, run_id)
        dag = DagCache().get(session, dag_id)
        wanted = set(task_id or [])
        if downstream and dag is not None:
            wanted = _with_descendants(dag, wanted)
        cleared = 0
        for ti in session.scalars(select(TaskInstance).where(TaskInstance.dag_run_id == run.id)):
            if wanted and ti.task_id not in wanted:
                continue
            retries = dag.tasks[ti.task_id].retries if dag and ti.task_id in dag.tasks else 0
            if ti.state == "running":
                transitions.stop_try(session, ti.id, reason="cleared by user")
                session.refresh(ti)
            if transitions.clear_task_instance(session, ti.id, expected=ti.state, retries=retries):
                cleared += 1
        if run.state != DagRunState.QUEUED:
            transitions.set_dag_run_state(
                session, run.id, expected=run.state, new_state=DagRunState.QUEUED
            )
    console.print(f"Cleared {cleared} task instances of {run_id}.")


@app.command("logs")
def logs(
    dag_id: str,
    run_id: str,
    task_id: str,
    try_number: int = typer.Option(0, "--try", help="Which try (default: the latest)."),
) -> None:
    """Print the log of a task's try."""
    from sqlalchemy import select

    from tradewind.db.models import TaskInstance
    from tradewind.runner.logs import log_path, read_log

    with state.session() as session:
        run = _require_run(session, dag_id, run_id)
        ti = session.scalars(
            select(TaskInstance).where(
                TaskInstance.dag_run_id == run.id, TaskInstance.task_id == task_id
            )
        ).first()
        if ti is None:
            raise fail(f"run '{run_id}' of '{dag_id}' has no task '{task_id}'.")
    number = try_number or ti.try_number
    path = log_path(
        state.settings.log_folder,
        dag_id=dag_id,
        run_id=run_id,
        task_id=task_id,
        try_number=number,
        map_index=ti.map_index,
    )
    if not path.exists():
        raise fail(f"no log for try {number} at {path}")
    sys.stdout.write(read_log(path))


def _with_descendants(dag: SerializedDag, task_ids: set[str]) -> set[str]:
    found = set(task_ids)
    stack = [t for t in task_ids if t in dag.tasks]
    while stack:
        for child in dag.tasks[stack.pop()].downstream_task_ids:
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def _find_dag(dag_id: str) -> DAG:
    """Import the DAG's file directly: from the database's record, else by searching."""
    from sqlalchemy import select

    from tradewind.dag_processing.parser import find_dag_files, load_dags_from_file
    from tradewind.dag_processing.processor import EXAMPLE_DAGS_FOLDER
    from tradewind.db.models import Dag

    candidates: list[Path] = []
    if not state.database_file_missing():  # never create a SQLite file just to look
        try:
            with state.session() as session:
                fileloc = session.scalar(select(Dag.fileloc).where(Dag.dag_id == dag_id))
            if fileloc:
                candidates.append(Path(fileloc))
        except Exception:  # no usable database: search the folder instead
            pass
    candidates += find_dag_files(state.settings.dags_folder)
    if state.settings.core.load_examples:
        candidates += find_dag_files(EXAMPLE_DAGS_FOLDER)
    for path in candidates:
        try:
            dags = load_dags_from_file(path)
        except Exception:  # a broken neighbour must not hide the DAG
            continue
        if dag_id in dags:
            return dags[dag_id]
    raise fail(f"DAG '{dag_id}' was not found in {state.settings.dags_folder}.")


@app.command("test")
def test(
    dag_id: str,
    task_id: str,
    logical_date: datetime | None = typer.Argument(None, help="Logical date (default: now)."),
    conf: str | None = typer.Option(None, "--conf", "-c", help="JSON object as dag_run.conf."),
) -> None:
    """Run one task now in this process, without the scheduler; nothing is recorded."""
    from tradewind.models.dag_runs import RUN_TYPE_TEST, conf_from_json
    from tradewind.runner.runtime_ti import MemoryTaskInstance
    from tradewind.runner.task_process import RunInfo, execute_task

    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(levelname)s - %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the schema check is not news
    dag = _find_dag(dag_id)
    if task_id not in dag.task_dict:
        known = ", ".join(sorted(dag.task_dict))
        raise fail(f"DAG '{dag_id}' has no task '{task_id}'; tasks: {known}")
    when = logical_date or datetime.now(timezone.utc)
    when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    interval = dag.timetable.infer_manual_data_interval(when)
    ti = MemoryTaskInstance(
        dag_id=dag_id,
        task_id=task_id,
        run_id=f"test__{when.isoformat()}",
        map_index=-1,
        try_number=1,
        max_tries=0,
        hostname=socket.getfqdn(),
        xcom_max_size=state.settings.core.xcom_max_size,
    )
    run = RunInfo(
        dag_id=dag_id,
        run_id=ti.run_id,
        run_type=RUN_TYPE_TEST,
        logical_date=when,
        data_interval_start=interval.start,
        data_interval_end=interval.end,
        conf=conf_from_json(conf),
        start_date=when,
    )
    outcome = execute_task(dag, task_id, ti, run, will_retry=False)
    console.print(
        f"Task {task_id} ended: {outcome.state}"
        + (f" ({outcome.message})" if outcome.message else ""),
        highlight=False,
    )
    raise typer.Exit(0 if outcome.state in ("success", "skipped") else 1)
