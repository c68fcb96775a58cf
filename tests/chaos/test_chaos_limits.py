"""Limits hold for the whole cluster, not per scheduler, even while schedulers are killed.

Three schedulers on one database: a pool of 2 slots, a DAG with max_active_tasks=2 and a
DAG with max_active_runs=1. The task markers' times (taken inside the tasks) show how many
ran at once.
"""

from __future__ import annotations

import random
import textwrap
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.chaos.cluster import Cluster
from tests.scheduling import max_overlap

from tradewind.dag_processing.processor import DagProcessor
from tradewind.db.migrate import migrate
from tradewind.db.models import DagRun
from tradewind.models.jobs import db_now
from tradewind.models.pools import set_pool
from tradewind.scheduler.dag_cache import DagCache
from tradewind.scheduler.runs import trigger_dag

pytestmark = [
    pytest.mark.chaos,
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(300),
]

LIMITS_DAG = """
import os
import time
from datetime import datetime

from tradewind import DAG, task

MARKERS = {markers!r}


def mark(kind, ti):
    with open(MARKERS, "a") as handle:
        handle.write(f"{{kind}} {{ti.dag_id}} {{ti.run_id}} {{ti.task_id}} {{os.getpid()}} "
                     f"{{time.time():.6f}}\\n")


@task
def work(ti=None):
    mark("start", ti)
    time.sleep(0.4)
    mark("end", ti)


with DAG("pooled", schedule=None, start_date=datetime(2024, 1, 1)):
    [work.override(task_id=f"p{{i}}", pool="tight")() for i in range(10)]

with DAG("narrow", schedule=None, start_date=datetime(2024, 1, 1), max_active_tasks=2):
    [work.override(task_id=f"n{{i}}")() for i in range(10)]

with DAG("single_run", schedule=None, start_date=datetime(2024, 1, 1), max_active_runs=1):
    work.override(task_id="only")()
"""


@pytest.fixture(params=["postgres", "mysql"])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    instance = Cluster(tmp_path, request.getfixturevalue(f"{request.param}_url"))
    try:
        yield instance
    finally:
        instance.close()


def _intervals(markers_file: Path) -> dict[str, list[tuple[float, float, int]]]:
    starts: dict[tuple[str, str, str, str], float] = {}
    spans: dict[str, list[tuple[float, float, int]]] = defaultdict(list)
    for line in markers_file.read_text().splitlines():
        kind, dag_id, run_id, task_id, pid, at = line.split()
        key = (dag_id, run_id, task_id, pid)
        if kind == "start":
            starts[key] = float(at)
        else:
            spans[dag_id].append((starts[key], float(at), 1))
    return spans


def test_pools_and_dag_limits_hold_across_schedulers(cluster: Cluster) -> None:
    folder = cluster.settings.dags_folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "limits.py").write_text(
        textwrap.dedent(LIMITS_DAG.format(markers=str(cluster.markers)))
    )
    migrate(cluster.engine)
    with cluster.sessions() as session, session.begin():
        set_pool(session, "tight", 2)
    DagProcessor(cluster.settings, cluster.sessions).refresh(force=True)
    for _ in range(3):
        cluster.start_scheduler()
    with cluster.sessions() as session, session.begin():
        cache = DagCache()
        for dag_id, runs in (("pooled", 2), ("narrow", 2), ("single_run", 4)):
            for i in range(runs):
                trigger_dag(session, cache, dag_id, now=db_now(session), run_id=f"r{i}")
    rng = random.Random(7)
    deadline = time.monotonic() + 180
    next_kill = time.monotonic() + rng.uniform(2, 4)
    while not cluster.all_finished(dag_ids=("pooled", "narrow", "single_run")):
        assert time.monotonic() < deadline, "the runs did not finish"
        if time.monotonic() >= next_kill:
            cluster.restart_scheduler(rng.randrange(3))
            next_kill = time.monotonic() + rng.uniform(2, 4)
        time.sleep(0.1)
    spans = _intervals(cluster.markers)
    assert len(spans["pooled"]) == 20 and len(spans["narrow"]) == 20
    assert max_overlap(spans["pooled"]) == 2, "pool 'tight' has 2 slots"
    assert max_overlap(spans["narrow"]) == 2, "max_active_tasks=2"
    with cluster.sessions() as session:
        runs = session.execute(
            select(DagRun.start_date, DagRun.end_date, DagRun.state).where(
                DagRun.dag_id == "single_run"
            )
        ).all()
    assert all(state == "success" for _, _, state in runs)
    assert max_overlap([(s, e, 1) for s, e, _ in runs]) == 1, "max_active_runs=1"
