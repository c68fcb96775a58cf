"""Shared fixtures: settings in a temporary TRADEWIND_HOME, and real databases.

PostgreSQL and MariaDB tests get a fresh database of their own, dropped afterwards. When a
service cannot be reached the test is skipped on a developer's machine, and fails with
``CI=true``: CI never passes by skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from tradewind.config import Settings, load_settings

POSTGRES_ADMIN_URL = os.environ.get(
    "TRADEWIND_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
MYSQL_ADMIN_URL = os.environ.get(
    "TRADEWIND_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def service_unavailable(what: str, error: Exception) -> None:
    message = f"{what} is not reachable ({error}); run `make services` to start it"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def tw_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    (home / "dags").mkdir(parents=True)
    return home


@pytest.fixture
def make_settings(tw_home: Path) -> Callable[..., Settings]:
    """Settings for a temporary home: ``make_settings(core={"executor": "sequential"})``."""

    def factory(database_url: str = "", **sections: dict[str, Any]) -> Settings:
        env: dict[str, str] = {"TRADEWIND_HOME": str(tw_home)}
        sections.setdefault("core", {}).setdefault("load_examples", False)
        sections["core"].setdefault("dags_are_paused_at_creation", False)
        if database_url:
            sections.setdefault("database", {})["url"] = database_url
        for section, values in sections.items():
            for key, value in values.items():
                text_value = str(value).lower() if isinstance(value, bool) else str(value)
                env[f"TRADEWIND__{section.upper()}__{key.upper()}"] = text_value
        return load_settings(env)

    return factory


def _create_database(admin_url: str, kind: str) -> Iterator[str]:
    name = f"tw_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        with admin.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {name}"))
    except Exception as error:
        service_unavailable(kind, error)
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as connection:
            if kind == "PostgreSQL":
                connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
            connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from _create_database(POSTGRES_ADMIN_URL, "PostgreSQL")


@pytest.fixture
def mysql_url() -> Iterator[str]:
    yield from _create_database(MYSQL_ADMIN_URL, "MariaDB")


@pytest.fixture
def sqlite_url(tw_home: Path) -> str:
    return f"sqlite:///{tw_home / 'tradewind.db'}"


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def any_database_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs once per supported database."""
    fixture = {"sqlite": "sqlite_url", "postgres": "postgres_url", "mysql": "mysql_url"}
    return str(request.getfixturevalue(fixture[request.param]))
