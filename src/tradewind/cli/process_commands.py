"""``tradewind scheduler`` and ``tradewind standalone``: the long-running processes."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

import typer

from tradewind.cli.common import console, state
from tradewind.db.migrate import migrate
from tradewind.scheduler.loop import Scheduler


def _configure_logging() -> None:
    logging.basicConfig(
        level=state.settings.logging.level,
        format="[%(asctime)s] %(levelname)s %(name)s - %(message)s",
    )


def scheduler(
    num_runs: int = typer.Option(0, help="Stop after this many passes (0: run until stopped)."),
) -> None:
    """Run a scheduler (several may run at once on PostgreSQL or MySQL)."""
    _configure_logging()
    state.require_schema()
    job = Scheduler(state.settings, state.engine)
    job.install_signal_handlers()
    job.run(max_passes=num_runs or None)


def standalone() -> None:
    """Database, scheduler (and web server when installed) in one command, for a laptop."""
    _configure_logging()
    settings = state.settings
    settings.home.mkdir(parents=True, exist_ok=True)
    settings.dags_folder.mkdir(parents=True, exist_ok=True)
    settings.log_folder.mkdir(parents=True, exist_ok=True)
    migrate(state.engine, default_pool_slots=settings.core.default_pool_slots)
    console.print(f"[bold]Tradewind standalone[/bold] — home {settings.home}", highlight=False)
    console.print(f"  database  {state.engine.url.render_as_string(hide_password=True)}",
                  highlight=False)
    console.print(f"  DAGs      {settings.dags_folder}"
                  + (" (+ examples)" if settings.core.load_examples else ""), highlight=False)
    console.print(f"  executor  {settings.core.executor}", highlight=False)
    console.print("  Try: tradewind dags list; tradewind dags trigger example_etl --wait",
                  highlight=False)
    env = dict(os.environ, TRADEWIND_HOME=str(settings.home))
    children = {
        "scheduler": subprocess.Popen([sys.executable, "-m", "tradewind", "scheduler"], env=env),
    }
    stopping = False

    def _stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    code = 0
    while not stopping:
        for name, child in children.items():
            if child.poll() is not None:
                console.print(f"[red]{name} exited with code {child.returncode}[/red]")
                stopping, code = True, child.returncode or 1
        time.sleep(0.2)
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children.values():
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
    raise typer.Exit(code)
