"""Chaos: restart the database server in the middle of a run.

Every scheduler must reconnect on its own (pooled connections are checked before use,
failed passes are retried) and every runner must still record its outcome, so the runs
finish and no task ends twice.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.chaos.cluster import Cluster, wait_until

pytestmark = [
    pytest.mark.chaos,
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(300),
]


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def restart_postgres() -> None:
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[0]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart", "-m", "fast"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    wait_until(lambda: _port_open(5432), timeout=30, what="PostgreSQL to accept connections")


def restart_mariadb() -> None:
    admin = shutil.which("mariadb-admin") or shutil.which("mysqladmin") or "mariadb-admin"
    subprocess.run([admin, "-uroot", "shutdown"], check=True, capture_output=True, timeout=60)
    wait_until(lambda: not _port_open(3306), timeout=30, what="MariaDB to stop")
    subprocess.run(
        [
            "start-stop-daemon",
            "--start",
            "--oknodo",
            "--background",
            "--exec",
            "/usr/sbin/mariadbd",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    wait_until(lambda: _port_open(3306), timeout=60, what="MariaDB to accept connections")


RESTARTS: dict[str, Callable[[], None]] = {"postgres": restart_postgres, "mysql": restart_mariadb}


@pytest.fixture(params=["postgres", "mysql"])
def db_cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Cluster, str]]:
    url = request.getfixturevalue(f"{request.param}_url")
    instance = Cluster(tmp_path, url)
    try:
        yield instance, request.param
    finally:
        instance.close()


def test_database_restart_mid_run(db_cluster: tuple[Cluster, str]) -> None:
    cluster, kind = db_cluster
    cluster.write_fanout_dag(width=8, seconds=1.0)
    for _ in range(2):
        cluster.start_scheduler()
    run_ids = cluster.trigger(4)
    wait_until(
        lambda: len(cluster.running_tries()) >= 2,
        timeout=60,
        what="tasks to be running before the restart",
    )
    cluster.engine.dispose()
    RESTARTS[kind]()
    deadline = time.monotonic() + 120
    while True:
        try:
            if cluster.all_finished():
                break
        except Exception:
            pass
        assert time.monotonic() < deadline, "runs did not finish after the database restart"
        time.sleep(0.2)
    assert all(cluster.run_states()[r] == "success" for r in run_ids), cluster.run_states()
    ends = Counter((m.run_id, m.task_id) for m in cluster.read_markers() if m.kind == "end")
    assert len(ends) == 4 * 9
    assert set(ends.values()) == {1}, "a task ran to its end twice across the restart"
    for process in cluster.schedulers:
        assert process is not None and process.poll() is None, "a scheduler died"
