"""``tradewind pools`` against PostgreSQL and MariaDB/MySQL, where pool rows are locked.

SQLite is covered by ``test_cli_standalone.py``; here the same commands run through the
``FOR UPDATE`` paths. Each test gets a fresh database from the shared fixtures (skipped
when the service is down on a developer machine, failed in CI).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.e2e.cli_e2e import Home

pytestmark = pytest.mark.integration


@pytest.fixture(
    params=[
        pytest.param("postgres_url", marks=pytest.mark.postgres, id="postgres"),
        pytest.param("mysql_url", marks=pytest.mark.mysql, id="mysql"),
    ]
)
def server_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(request.param))


def test_pools_commands_on_a_database_server(tmp_path: Path, server_url: str) -> None:
    home = Home(tmp_path / "home", database__url=server_url)
    home.ok("db", "migrate")
    home.ok("pools", "set", "reports", "2", "--description", "nightly reports")
    home.ok("pools", "set", "reports", "3")  # an update keeps the description
    pools = {p["name"]: p for p in home.json("pools", "list")}
    assert set(pools) == {"default_pool", "reports"}
    assert pools["reports"] == {
        "name": "reports",
        "slots": 3,
        "used": 0,
        "queued": 0,
        "running": 0,
        "open": 3,
        "description": "nightly reports",
    }
    refused, deleted = home.run_many(
        [["pools", "delete", "default_pool"], ["pools", "delete", "reports"]]
    )
    assert refused.code == 1 and "cannot be deleted" in refused.err, refused.describe()
    assert deleted.code == 0, deleted.describe()
    assert [p["name"] for p in home.json("pools", "list")] == ["default_pool"]
