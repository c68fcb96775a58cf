"""The ``tradewind`` command: one Typer app, one module per command group.

Every command (``version`` included) reads the configuration first, so an unknown section
or key, or a bad value, stops any command with a message naming it; only ``--help`` works
without a valid configuration.
"""

from __future__ import annotations

import sys

import typer

from tradewind import __version__
from tradewind.cli import (
    dags_commands,
    db_commands,
    pools_commands,
    process_commands,
    tasks_commands,
)
from tradewind.cli.common import print_error, state
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
app.add_typer(pools_commands.app, name="pools")
app.command("status")(status)
app.command("scheduler")(process_commands.scheduler)
app.command("standalone")(process_commands.standalone)


@app.command("version")
def version() -> None:
    """Print Tradewind's version."""
    sys.stdout.write(f"{__version__}\n")


def _wants_help(args: list[str]) -> bool:
    return not args or "--help" in args


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if not _wants_help(args):
            _ = state.settings  # validate the configuration before any command runs
        app(args=args, prog_name="tradewind")
    except TradewindError as error:
        print_error(str(error))
        sys.exit(1)
    except Exception as error:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import OperationalError

        if not isinstance(error, OperationalError):
            raise
        # The database cannot be reached or opened: say which one, without a traceback.
        where = make_url(state.settings.database_url).render_as_string(hide_password=True)
        print_error(
            f"The metadata database {where} cannot be used: {error.orig or error}. Check "
            "database.url (TRADEWIND__DATABASE__URL) and that the database is running."
        )
        sys.exit(1)
