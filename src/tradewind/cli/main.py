"""The ``tradewind`` command: one Typer app, one module per command group."""

from __future__ import annotations

import sys

import typer

from tradewind import __version__
from tradewind.cli import dags_commands, db_commands, process_commands, tasks_commands
from tradewind.cli.common import err_console
from tradewind.cli.status_command import status
from tradewind.exceptions import TradewindError

app = typer.Typer(
    name="tradewind",
    help="Tradewind: workflows as DAGs of Python tasks, with high availability built in.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(db_commands.app, name="db")
app.add_typer(dags_commands.app, name="dags")
app.add_typer(tasks_commands.app, name="tasks")
app.command("status")(status)
app.command("scheduler")(process_commands.scheduler)
app.command("standalone")(process_commands.standalone)


@app.command("version")
def version() -> None:
    """Print Tradewind's version."""
    sys.stdout.write(f"{__version__}\n")


def main() -> None:
    try:
        app()
    except TradewindError as error:
        err_console.print(f"[red]Error:[/red] {error}", highlight=False)
        sys.exit(1)
