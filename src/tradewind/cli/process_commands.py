"""``tradewind scheduler`` and ``tradewind standalone``: the long-running processes."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from types import FrameType

import typer

from tradewind.cli.common import console, state

PR_SET_PDEATHSIG = 1


def _configure_logging(*, quiet_alembic: bool = True) -> None:
    logging.basicConfig(
        level=state.settings.logging.level,
        format="[%(asctime)s] %(levelname)s %(name)s - %(message)s",
    )
    # Alembic's set-up chatter is noise; keep "Running upgrade ..." only where we migrate.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    if quiet_alembic:
        logging.getLogger("alembic").setLevel(logging.WARNING)


def scheduler(
    num_runs: int = typer.Option(0, help="Stop after this many passes (0: run until stopped)."),
) -> None:
    """Run a scheduler (several may run at once on PostgreSQL or MySQL)."""
    from tradewind.scheduler.loop import Scheduler

    _configure_logging()
    state.require_schema()
    job = Scheduler(state.settings, state.engine)
    job.install_signal_handlers()
    job.run(max_passes=num_runs or None)


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes a child get SIGTERM when standalone dies (Linux only).

    Without it, a SIGKILLed standalone would leave its scheduler running on its own.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    parent = os.getpid()

    def _preexec() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return _preexec


def standalone() -> None:
    """Database, scheduler (and web server when installed) in one command, for a laptop."""
    from tradewind.db.migrate import migrate

    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    # Before anything else, so that a stop during start-up is a clean stop too.
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    _configure_logging(quiet_alembic=False)
    settings = state.settings
    settings.home.mkdir(parents=True, exist_ok=True)
    settings.dags_folder.mkdir(parents=True, exist_ok=True)
    settings.log_folder.mkdir(parents=True, exist_ok=True)
    migrate(state.engine, default_pool_slots=settings.core.default_pool_slots)
    if stop.is_set():
        raise typer.Exit(0)
    console.print(f"[bold]Tradewind standalone[/bold] — home {settings.home}", highlight=False)
    console.print(
        f"  database  {state.engine.url.render_as_string(hide_password=True)}", highlight=False
    )
    console.print(
        f"  DAGs      {settings.dags_folder}"
        + (" (+ examples)" if settings.core.load_examples else ""),
        highlight=False,
    )
    console.print(f"  executor  {settings.core.executor}", highlight=False)
    console.print(
        "  Try: tradewind dags list; tradewind dags trigger example_etl --wait", highlight=False
    )
    env = dict(os.environ, TRADEWIND_HOME=str(settings.home))
    children = {
        "scheduler": subprocess.Popen(
            [sys.executable, "-m", "tradewind", "scheduler"],
            env=env,
            preexec_fn=_die_with_parent(),  # standalone has one thread here
        ),
    }
    code = 0
    while not stop.is_set():
        for name, child in children.items():
            if child.poll() is not None:
                console.print(f"[red]{name} exited with code {child.returncode}[/red]")
                stop.set()
                code = child.returncode or 1
        stop.wait(0.2)
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children.values():
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    raise typer.Exit(code)
