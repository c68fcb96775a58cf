"""Chaos: two hosts as in the deploy guide, and one of them cut off mid-run.

Schedulers run in two network namespaces with addresses of their own; the database stays
on the host side. Host A's link is taken down while its tasks run. The other host must
carry on within the takeover time; A's runners must kill their own tasks before the tries
are retried on B (self-fencing), A must stop dispatching, and when the link comes back
nothing runs twice.
"""

from __future__ import annotations

import itertools
import os
import textwrap
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from tests.chaos.cluster import Cluster, wait_until
from tests.chaos.netns import NetnsHost, TcpProxy, make_hosts

from tradewind.dag_processing.processor import DagProcessor
from tradewind.db.migrate import migrate
from tradewind.db.models import Job

pytestmark = [
    pytest.mark.chaos,
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(300),
]

PROXY_PORT = 15432
THRESHOLD = 3.0  # scheduler and runner health thresholds of the cluster (FAST_SETTINGS)

TICKING_DAG = """
import itertools
import os
import time
from datetime import datetime

from tradewind import DAG, task

MARKERS = {markers!r}
NET = os.stat("/proc/self/ns/net").st_ino


def mark(kind, ti):
    with open(MARKERS, "a") as handle:
        handle.write(f"{{kind}} {{ti.run_id}} {{ti.task_id}} {{os.getpid()}} {{NET}} "
                     f"{{time.time():.6f}}\\n")


with DAG("chaos", schedule=None, start_date=datetime(2024, 1, 1), max_active_runs=32,
         max_active_tasks=64):

    @task
    def work(ti=None):
        mark("start", ti)
        for _ in range(20):
            time.sleep(0.1)
            mark("tick", ti)
        mark("end", ti)

    [work.override(task_id=f"w{{i}}")() for i in range(6)]
"""


@dataclass(frozen=True)
class Tick:
    kind: str
    run_id: str
    task_id: str
    pid: int
    net: int
    at: float


def read_ticks(path: Path) -> list[Tick]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        kind, run_id, task_id, pid, net, at = line.split()
        out.append(Tick(kind, run_id, task_id, int(pid), int(net), float(at)))
    return out


@pytest.fixture
def hosts() -> Iterator[list[NetnsHost]]:
    if os.geteuid() != 0:
        pytest.fail("network namespaces need root; run the chaos tests as root")
    made = make_hosts(2)
    try:
        for host in made:
            host.create()
        yield made
    finally:
        for host in made:
            host.destroy()


@pytest.mark.parametrize(("kind", "port"), [("postgres", 5432), ("mysql", 3306)])
def test_cut_off_host_stops_and_the_other_carries_on(
    hosts: list[NetnsHost], kind: str, port: int, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    database_url: str = request.getfixturevalue(f"{kind}_url")
    proxies = [TcpProxy(h.host_ip, PROXY_PORT, ("127.0.0.1", port)) for h in hosts]
    for proxy in proxies:
        proxy.start()
    cluster = Cluster(tmp_path, database_url)
    try:
        cluster.settings.dags_folder.mkdir(parents=True, exist_ok=True)
        (cluster.settings.dags_folder / "chaos.py").write_text(
            textwrap.dedent(TICKING_DAG.format(markers=str(cluster.markers)))
        )
        migrate(cluster.engine)
        DagProcessor(cluster.settings, cluster.sessions).refresh(force=True)
        url = make_url(database_url)
        for host in hosts:
            host_url = url.set(host=host.host_ip, port=PROXY_PORT)
            cluster.start_scheduler(
                prefix=host.command(),
                env={"TRADEWIND__DATABASE__URL": host_url.render_as_string(hide_password=False)},
            )
        net_a = os.stat(f"/run/netns/{hosts[0].name}").st_ino
        run_ids = cluster.trigger(8)

        def a_is_running_tasks() -> bool:
            ticks = read_ticks(cluster.markers)
            ended = {(t.run_id, t.task_id, t.pid) for t in ticks if t.kind == "end"}
            return any(
                t.kind == "start" and t.net == net_a and (t.run_id, t.task_id, t.pid) not in ended
                for t in ticks
            )

        wait_until(a_is_running_tasks, timeout=60, what="host A to run tasks")
        cut_at = time.time()
        hosts[0].cut()
        deadline = time.monotonic() + 120
        while not cluster.all_finished():
            assert time.monotonic() < deadline, f"B did not finish the runs: {cluster.run_states()}"
            time.sleep(0.2)
        finished_at = time.time()
        ticks = read_ticks(cluster.markers)
        # A stopped dispatching: no task started on A once it was cut off.
        late_a = [t for t in ticks if t.kind == "start" and t.net == net_a and t.at > cut_at + 1]
        assert late_a == [], "the cut-off host kept starting tasks"
        # A's runners fenced themselves before B retried their tries: no overlap.
        by_key: dict[tuple[str, str], dict[int, list[Tick]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for t in ticks:
            by_key[(t.run_id, t.task_id)][t.pid].append(t)
        for key, executions in by_key.items():
            spans = sorted(
                (min(x.at for x in ev), max(x.at for x in ev)) for ev in executions.values()
            )
            for (_, first_last), (second_start, _) in itertools.pairwise(spans):
                assert first_last < second_start, f"{key}: two executions overlapped"
        a_ticks_after_cut = [t.at for t in ticks if t.net == net_a and t.at > cut_at]
        if a_ticks_after_cut:
            assert max(a_ticks_after_cut) < cut_at + THRESHOLD, "A's tasks ran on past the fence"
        # When the link comes back, A rejoins and nothing runs twice.
        hosts[0].restore()
        a_pid = cluster.schedulers[0].pid  # type: ignore[union-attr]

        def a_rejoined() -> bool:
            with cluster.sessions() as session:
                job = session.scalars(
                    select(Job).where(Job.pid == a_pid, Job.state == "running")
                ).first()
            return job is not None and job.latest_heartbeat.timestamp() > finished_at

        wait_until(a_rejoined, timeout=60, what="host A's scheduler to heartbeat again")
        # Nothing ran twice, except the one window no orchestrator can close: a task on A
        # that finished just after the cut could not record its outcome, so it was retried
        # (at-least-once). Those are exactly the ones whose end on A came after the cut.
        ends: dict[tuple[str, str], list[Tick]] = defaultdict(list)
        for t in read_ticks(cluster.markers):
            if t.kind == "end":
                ends[(t.run_id, t.task_id)].append(t)
        assert len(ends) == len(run_ids) * 6
        for key, marks in ends.items():
            if len(marks) == 1:
                continue
            unrecorded = [m for m in marks if m.net == net_a and m.at > cut_at]
            assert len(marks) == 2 and len(unrecorded) == 1, f"{key} ran to its end twice"
        assert all(s == "success" for s in cluster.run_states().values())
        # Nothing outlives its purpose: the cut-off runners gave up and ended.
        cluster.assert_nothing_left(timeout=60)
    finally:
        cluster.close()
        for proxy in proxies:
            proxy.stop()
