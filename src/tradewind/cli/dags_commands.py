"""``tradewind dags``: list, parse, pause, trigger and inspect DAGs and their runs."""

from __future__ import annotations

import json
import time
from typing import Any

import typer

from tradewind.cli.common import (
    OUTPUT_OPTION,
    OutputFormat,
    console,
    err_console,
    fail,
    iso,
    print_rows,
    state,
)
from tradewind.exceptions import AuthoringError, NotFoundError
from tradewind.rules.states import FINISHED_DAG_RUN_STATES, DagRunState

app = typer.Typer(help="List, parse, pause, trigger and inspect DAGs.", no_args_is_help=True)


@app.command("reserialize")
def reserialize() -> None:
    """Parse the DAG folder into the database now."""
    from tradewind.dag_processing.processor import DagProcessor
    from tradewind.db.engine import make_session_factory

    state.require_schema()
    processor = DagProcessor(state.settings, make_session_factory(state.engine))
    report = processor.refresh(force=True)
    console.print(
        f"Parsed {len(report.parsed)} files: {len(report.dag_ids)} DAGs, "
        f"{len(report.errors)} import errors."
    )
    if report.errors:
        console.print("See them with `tradewind dags list-import-errors`.")


@app.command("list")
def list_dags(
    output: OutputFormat = OUTPUT_OPTION,
    include_inactive: bool = typer.Option(False, help="Also list DAGs whose file is gone."),
) -> None:
    """Every DAG with its file, schedule and whether it is paused."""
    from sqlalchemy import select

    from tradewind.db.models import Dag

    with state.session() as session:
        query = select(Dag).order_by(Dag.dag_id)
        if not include_inactive:
            query = query.where(Dag.is_active.is_(True))
        rows = [
            {
                "dag_id": dag.dag_id,
                "fileloc": dag.fileloc,
                "owners": dag.owners,
                "is_paused": dag.is_paused,
                "is_active": dag.is_active,
                "schedule": dag.schedule_summary,
                "tags": json.loads(dag.tags),
                "next_dagrun": iso(dag.next_dagrun),
            }
            for dag in session.scalars(query)
        ]
    print_rows(rows, ["dag_id", "schedule", "is_paused", "owners", "fileloc"], output)


@app.command("list-import-errors")
def list_import_errors(output: OutputFormat = OUTPUT_OPTION) -> None:
    """DAG files that failed to import, with the error and when it was seen."""
    from sqlalchemy import select

    from tradewind.db.models import ImportError_

    with state.session() as session:
        rows = [
            {
                "filename": error.filename,
                "message": error.message,
                "timestamp": iso(error.timestamp),
                "stacktrace": error.stacktrace,
            }
            for error in session.scalars(select(ImportError_).order_by(ImportError_.filename))
        ]
    if output is OutputFormat.table and not rows:
        console.print("No import errors.")
        return
    print_rows(rows, ["filename", "message", "timestamp"], output)


def _set_paused(dag_id: str, paused: bool) -> None:
    from sqlalchemy import update

    from tradewind.db.models import Dag

    with state.session() as session:
        result = session.execute(update(Dag).where(Dag.dag_id == dag_id).values(is_paused=paused))
        if not getattr(result, "rowcount", 0):
            raise fail(f"DAG '{dag_id}' not found; see `tradewind dags list`.")
    console.print(f"DAG {dag_id} is now {'paused' if paused else 'unpaused'}.")


@app.command("pause")
def pause(dag_id: str) -> None:
    """Stop creating scheduled runs of a DAG (manual triggers still run)."""
    _set_paused(dag_id, True)


@app.command("unpause")
def unpause(dag_id: str) -> None:
    """Resume creating scheduled runs of a DAG."""
    _set_paused(dag_id, False)


@app.command("trigger")
def trigger(
    dag_id: str,
    run_id: str | None = typer.Option(
        None, "--run-id", "-r", help="Run id (default: manual__<time>)."
    ),
    conf: str | None = typer.Option(
        None, "--conf", "-c", help="JSON object passed as dag_run.conf."
    ),
    wait: bool = typer.Option(
        False, "--wait", help="Wait for the run: exit 0 on success, 1 on failure."
    ),
    timeout: float = typer.Option(
        0, help="With --wait: give up after this many seconds (0: never)."
    ),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Create a manual run of a DAG now."""
    from sqlalchemy.exc import IntegrityError

    from tradewind.models.dag_runs import conf_from_json
    from tradewind.models.jobs import db_now
    from tradewind.scheduler.dag_cache import DagCache
    from tradewind.scheduler.loop import scheduler_is_running
    from tradewind.scheduler.runs import trigger_dag

    try:
        conf_value = conf_from_json(conf)
    except ValueError as error:
        raise fail(str(error)) from None
    try:
        with state.session() as session:
            try:
                run = trigger_dag(
                    session,
                    DagCache(),
                    dag_id,
                    now=db_now(session),
                    run_id=run_id,
                    conf=conf_value,
                )
            except (NotFoundError, ValueError, AuthoringError) as error:
                raise fail(str(error)) from None
            new_run_id = run.run_id
            created: dict[str, str | None] = {
                "dag_id": run.dag_id,
                "run_id": new_run_id,
                "state": run.state,
                "logical_date": iso(run.logical_date),
            }
            running = scheduler_is_running(session, state.settings.scheduler.health_threshold)
    except IntegrityError:
        # Another trigger took the same run id between our check and our commit.
        raise fail(
            f"DAG '{dag_id}' already has a run with run_id '{run_id}'; pick another"
        ) from None
    # With --output json, stdout carries only the JSON; the human messages go to stderr.
    say = err_console if output is OutputFormat.json else console
    if output is OutputFormat.json and not wait:
        print_rows([created], list(created), output)
    else:
        say.print(f"Created run {new_run_id} of {dag_id}.", highlight=False)
    if not running:
        err_console.print(
            "[yellow]No scheduler is running: the run waits until one starts "
            "(`tradewind scheduler` or `tradewind standalone`).[/yellow]"
        )
    if wait:
        final = _wait_for_run(dag_id, new_run_id, timeout)
        say.print(f"Run {new_run_id} ended: {final}", highlight=False)
        if output is OutputFormat.json:
            print_rows([{**created, "state": final}], list(created), output)
        raise typer.Exit(0 if final == DagRunState.SUCCESS else 1)


def _wait_for_run(dag_id: str, run_id: str, timeout: float) -> str:
    from tradewind.models.dag_runs import get_dag_run

    deadline = time.monotonic() + timeout if timeout else None
    delay = 0.05
    while True:
        with state.session() as session:
            run = get_dag_run(session, dag_id, run_id)
            current = run.state if run else "missing"
        if current in FINISHED_DAG_RUN_STATES or current == "missing":
            return current
        if deadline is not None and time.monotonic() > deadline:
            raise fail(f"run {run_id} still {current} after {timeout:g}s", code=2)
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


@app.command("state")
def run_state(dag_id: str, run_id: str) -> None:
    """Print the state of one DAG run."""
    from tradewind.models.dag_runs import get_dag_run

    with state.session() as session:
        run = get_dag_run(session, dag_id, run_id)
        if run is None:
            raise fail(
                f"DAG '{dag_id}' has no run '{run_id}'; see `tradewind dags list-runs {dag_id}`."
            )
        console.print(run.state, highlight=False)


@app.command("list-runs")
def list_runs(
    dag_id: str,
    output: OutputFormat = OUTPUT_OPTION,
    limit: int = typer.Option(25, help="Newest runs first, at most this many."),
) -> None:
    """The runs of a DAG, newest first."""
    from sqlalchemy import select

    from tradewind.db.models import DagRun

    with state.session() as session:
        runs = session.scalars(
            select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).limit(limit)
        )
        rows: list[dict[str, Any]] = [
            {
                "dag_id": run.dag_id,
                "run_id": run.run_id,
                "run_type": run.run_type,
                "state": run.state,
                "logical_date": iso(run.logical_date),
                "start_date": iso(run.start_date),
                "end_date": iso(run.end_date),
            }
            for run in runs
        ]
    print_rows(
        rows, ["run_id", "run_type", "state", "logical_date", "start_date", "end_date"], output
    )
