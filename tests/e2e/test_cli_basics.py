"""The ``tradewind`` command without a scheduler: version, help, configuration errors,
``db migrate`` and ``tasks test``. Every test runs the installed command as a subprocess."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tests.e2e.cli_e2e import Home

COMMAND_GROUPS = ["db", "dags", "tasks", "pools", "status", "scheduler", "standalone", "version"]
SUBCOMMANDS = {
    "db": ["migrate", "check", "reset"],
    "dags": [
        "reserialize",
        "list",
        "list-import-errors",
        "pause",
        "unpause",
        "trigger",
        "state",
        "list-runs",
    ],
    "tasks": ["states-for-dag-run", "tries", "test", "stop", "clear", "logs"],
    "pools": ["list", "set", "delete"],
}

TESTABLE_DAG = """
    from datetime import datetime
    from tradewind import DAG
    from tradewind.operators import BashOperator

    with DAG("e2e_testable", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
        BashOperator(task_id="ok", bash_command="echo tested {{ ds }}")
        BashOperator(task_id="bad", bash_command="echo failing; exit 4")
"""


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path / "home")


def _listed_commands(help_text: str) -> set[str]:
    """Command names in a Typer help screen (the first word of each row of the box)."""
    return set(re.findall(r"^[│|]\s+([a-z][a-z-]*)\s", help_text, flags=re.MULTILINE))


def test_version_prints_the_package_version(home: Home) -> None:
    from tradewind import __version__

    assert home.ok("version").strip() == __version__


def test_help_lists_every_command_group_and_command(home: Home) -> None:
    results = home.run_many([["--help"], *([group, "--help"] for group in SUBCOMMANDS)])
    for result in results:
        assert result.code == 0, result.describe()
    top = _listed_commands(results[0].out)
    assert set(COMMAND_GROUPS) <= top, results[0].out
    for (_group, expected), result in zip(SUBCOMMANDS.items(), results[1:], strict=True):
        assert set(expected) <= _listed_commands(result.out), result.out


def test_db_migrate_creates_home_and_default_pool(home: Home) -> None:
    missing = home.run("pools", "list")
    assert missing.code == 1
    assert "tradewind db migrate" in missing.err, missing.describe()
    assert not home.database.exists(), "a command that only reads created the database"

    assert "revision" in home.ok("db", "migrate")
    assert home.ok("db", "check")
    pools = home.json("pools", "list")
    assert [p["name"] for p in pools] == ["default_pool"]
    assert home.run("db", "migrate").code == 0  # idempotent


@pytest.mark.parametrize(
    ("toml", "env", "named"),
    [
        (None, {"TRADEWIND__CORE__NOPE": "1"}, ["'nope'", "Known keys of [core]", "executor"]),
        ('[core]\nexecuter = "local"\n', {}, ["'executer'", "Known keys of [core]", "executor"]),
        ("[sheduler]\nloop_interval = 1\n", {}, ["[sheduler]", "Known sections", "scheduler"]),
    ],
    ids=["env-key", "toml-key", "toml-section"],
)
def test_unknown_config_key_stops_every_command(
    home: Home, toml: str | None, env: dict[str, str], named: list[str]
) -> None:
    if toml is not None:
        home.path.mkdir(parents=True, exist_ok=True)
        (home.path / "tradewind.toml").write_text(toml)
    commands = [["version"], ["db", "migrate"], ["scheduler"]]
    if env:  # the full tour once; the file variants need not repeat it
        commands += [["dags", "list"], ["pools", "list"], ["tasks", "test", "d", "t"], ["status"]]
    for result in home.run_many(commands, env=env, timeout=30):
        assert result.code != 0, result.describe()
        for text in named:
            assert text in result.err, f"{text!r} not named\n{result.describe()}"
        assert "Traceback" not in result.err, result.describe()
    assert not home.database.exists(), "a bad configuration must change nothing"


def test_tasks_test_runs_a_task_without_scheduler_and_records_nothing(home: Home) -> None:
    home.write_dag("e2e_testable", TESTABLE_DAG)
    # With no database at all: the task runs and no database file appears.
    fresh = home.run("tasks", "test", "e2e_testable", "ok")
    assert fresh.code == 0, fresh.describe()
    assert "tested" in fresh.out + fresh.err
    assert not home.database.exists()

    # With a migrated database: still nothing is written to it.
    home.ok("db", "migrate")
    ok, bad, unknown = home.run_many(
        [
            ["tasks", "test", "e2e_testable", "ok"],
            ["tasks", "test", "e2e_testable", "bad"],
            ["tasks", "test", "e2e_testable", "nope"],
        ]
    )
    assert ok.code == 0, ok.describe()
    assert "success" in ok.out, ok.describe()
    assert bad.code == 1, bad.describe()
    assert "failed" in bad.out, bad.describe()
    assert unknown.code == 1, unknown.describe()
    assert "bad, ok" in unknown.err, unknown.describe()
    for table in ("dag_run", "task_instance", "task_try", "xcom", "dag"):
        assert home.query(f"SELECT COUNT(*) FROM {table}") == [(0,)], table


def test_tasks_test_finds_example_dags(tmp_path: Path) -> None:
    home = Home(tmp_path / "examples", load_examples=True)
    result = home.run("tasks", "test", "example_bash_pipeline", "extract")
    assert result.code == 0, result.describe()
    assert "extracting orders" in result.out + result.err
