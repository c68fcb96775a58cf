"""``tradewind pools``: list, create or resize, and delete pools (named slot budgets)."""

from __future__ import annotations

import typer

from tradewind.cli.common import OUTPUT_OPTION, OutputFormat, console, fail, print_rows, state
from tradewind.exceptions import NotFoundError

app = typer.Typer(
    help="List, create, resize and delete pools (slot budgets for tasks).", no_args_is_help=True
)

COLUMNS = ["name", "slots", "used", "open", "description"]


@app.command("list")
def list_command(output: OutputFormat = OUTPUT_OPTION) -> None:
    """Every pool with its slots, the slots its queued and running tries use, and open slots."""
    from tradewind.models.pools import list_pools

    with state.session() as session:
        rows = [pool.as_dict() for pool in list_pools(session)]
    print_rows(rows, COLUMNS, output)


@app.command("set")
def set_command(
    name: str = typer.Argument(..., help="Pool name (letters, digits, '_', '.', '-')."),
    slots: int = typer.Argument(..., help="How many slots the pool has (0 or more)."),
    description: str | None = typer.Option(
        None, "--description", "-d", help="What the pool is for (kept when omitted)."
    ),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Create a pool, or change its slots (and description) if it exists."""
    from tradewind.models.pools import PoolError, set_pool

    with state.session() as session:
        try:
            info = set_pool(session, name, slots, description)
        except PoolError as error:
            raise fail(str(error)) from None
        row = info.as_dict()
    if output is OutputFormat.table:
        console.print(f"Pool {name} has {slots} slots ({row['used']} in use).", highlight=False)
    else:
        print_rows([row], COLUMNS, output)


@app.command("delete")
def delete_command(name: str = typer.Argument(..., help="Pool name.")) -> None:
    """Delete a pool; refused for default_pool and while queued or running tries use it."""
    from tradewind.models.pools import PoolError, delete_pool

    with state.session() as session:
        try:
            delete_pool(session, name)
        except (PoolError, NotFoundError) as error:
            raise fail(str(error)) from None
    console.print(f"Pool {name} deleted.", highlight=False)
