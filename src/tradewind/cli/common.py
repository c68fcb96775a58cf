"""What every command shares: settings, database access, and printing tables or JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from enum import Enum
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tradewind.config import Settings, load_settings
from tradewind.db.engine import engine_from_settings, make_session_factory
from tradewind.db.migrate import is_up_to_date
from tradewind.exceptions import DatabaseError

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

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings()
        return self._settings

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = engine_from_settings(self.settings)
        return self._engine

    def require_schema(self) -> None:
        if not is_up_to_date(self.engine):
            raise DatabaseError(
                f"The database at {self.settings.database_url.split('@')[-1]} has no Tradewind "
                "schema or an old one. Run `tradewind db migrate` first."
            )

    @contextmanager
    def session(self) -> Iterator[Session]:
        self.require_schema()
        factory = make_session_factory(self.engine)
        with factory() as session, session.begin():
            yield session


state = CliState()


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def print_rows(rows: Sequence[dict[str, Any]], columns: Sequence[str], output: OutputFormat,
               *, title: str | None = None) -> None:
    if output is OutputFormat.json:
        sys.stdout.write(json.dumps(list(rows), default=str, indent=2) + "\n")
        return
    if output is OutputFormat.plain:
        for row in rows:
            sys.stdout.write("\t".join("" if row.get(c) is None else str(row.get(c))
                                       for c in columns) + "\n")
        return
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    console.print(table)


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[red]Error:[/red] {message}", highlight=False)
    return typer.Exit(code)
