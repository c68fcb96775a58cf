"""``tradewind db``: create, upgrade and inspect the metadata database schema."""

from __future__ import annotations

import typer

from tradewind.cli.common import console, state

app = typer.Typer(help="Create, upgrade or reset the metadata database.", no_args_is_help=True)


@app.command("migrate")
def migrate_command() -> None:
    """Create or upgrade the schema; safe to run from two machines at once."""
    from tradewind.db.migrate import migrate

    state.ensure_database_folder()
    revision = migrate(state.engine, default_pool_slots=state.settings.core.default_pool_slots)
    console.print(f"Database is at revision {revision} ({state.engine.url.render_as_string()})")


@app.command("check")
def check_command() -> None:
    """Exit 0 when the schema is current, 1 when `tradewind db migrate` is needed."""
    from tradewind.db.migrate import current_revision, head_revision

    with state.engine.connect() as connection:
        current = current_revision(connection)
    head = head_revision()
    if current != head:
        console.print(
            f"Schema at {current or 'nothing'}, newest is {head}: run `tradewind db migrate`."
        )
        raise typer.Exit(1)
    console.print(f"Schema is current ({head}).")


@app.command("reset")
def reset_command(
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Drop every Tradewind table and create them again (all history is lost)."""
    from tradewind.db.migrate import migrate
    from tradewind.db.models import Base

    if not yes:
        typer.confirm("This deletes every DAG run, task instance and XCom. Continue?", abort=True)
    state.ensure_database_folder()
    Base.metadata.drop_all(state.engine)
    with state.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    migrate(state.engine, default_pool_slots=state.settings.core.default_pool_slots)
    console.print("Database reset.")
