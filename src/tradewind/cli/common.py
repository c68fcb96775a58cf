"""What every command shares: settings, database access, and printing tables or JSON.

Heavy libraries (SQLAlchemy, Alembic, the scheduler) are imported inside the functions
that need them, so that ``tradewind version`` and ``--help`` start in a fraction of a
second and each command loads only what it uses.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape

from tradewind.config import Settings, load_settings
from tradewind.exceptions import DatabaseError

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

console = Console()
err_console = Console(stderr=True)


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    plain = "plain"


OUTPUT_OPTION = typer.Option(
    OutputFormat.table, "--output", "-o", help="Print a table (default), JSON or plain text."
)


class CliState:
    """Settings and an engine, created once per command when first needed."""

    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._engine: Engine | None = None
        self._schema_checked = False
        self._factory: sessionmaker[Session] | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings()
        return self._settings

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from tradewind.db.engine import engine_from_settings

            self._engine = engine_from_settings(self.settings)
        return self._engine

    def database_file_missing(self) -> bool:
        """True when the database is a SQLite file that does not exist (yet)."""
        from sqlalchemy.engine import make_url

        url = make_url(self.settings.database_url)
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
            return False
        return not Path(url.database).expanduser().exists()

    def ensure_database_folder(self) -> None:
        """Create the folder of a SQLite database file (``db migrate`` on a fresh home)."""
        from sqlalchemy.engine import make_url

        url = make_url(self.settings.database_url)
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)

    def require_schema(self) -> None:
        """Fail with the fix (``tradewind db migrate``) unless the schema is current.

        Checked once per command; a missing SQLite file is reported without creating it.
        """
        if self._schema_checked:
            return
        from tradewind.db.migrate import is_up_to_date

        if self.database_file_missing() or not is_up_to_date(self.engine):
            raise DatabaseError(
                f"The database at {self.settings.database_url.split('@')[-1]} has no Tradewind "
                "schema or an old one. Run `tradewind db migrate` first."
            )
        self._schema_checked = True

    @contextmanager
    def session(self) -> Iterator[Session]:
        self.require_schema()
        if self._factory is None:
            from tradewind.db.engine import make_session_factory

            self._factory = make_session_factory(self.engine)
        with self._factory() as session, session.begin():
            yield session


state = CliState()


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def print_rows(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    output: OutputFormat,
    *,
    title: str | None = None,
) -> None:
    if output is OutputFormat.json:
        sys.stdout.write(json.dumps(list(rows), default=str, indent=2) + "\n")
        return
    if output is OutputFormat.plain:
        for row in rows:
            sys.stdout.write(
                "\t".join("" if row.get(c) is None else str(row.get(c)) for c in columns) + "\n"
            )
        return
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    console.print(table)


def print_error(message: str) -> None:
    """Print ``Error: message`` to stderr on one logical line (never wrapped mid-message)."""
    err_console.print(f"[red]Error:[/red] {escape(message)}", highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error and return the ``typer.Exit`` to raise: ``raise fail("...")``."""
    print_error(message)
    return typer.Exit(code)
