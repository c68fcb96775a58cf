"""Chaos: SIGKILL schedulers and runners at random, then count executions.

Invariants checked (../shared/DESIGN.md 1-5): every run succeeds; each (run, task) ends
exactly once; no two executions of one task instance overlap; while only schedulers are
killed no task starts twice; a runner killed mid-try is retried without spending the
task's own retries, and its task process dies with it.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.chaos.cluster import Cluster, Marker, process_alive, wait_until

from tradewind.db.models import TaskTry

pytestmark = [
    pytest.mark.chaos,
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(300),
]

RUNS = 15
WIDTH = 8


@pytest.fixture(params=["postgres", "mysql"])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    url = request.getfixturevalue(f"{request.param}_url")
    instance = Cluster(tmp_path, url)
    try:
        yield instance
    finally:
        instance.close()


def _executions(markers: list[Marker]) -> dict[tuple[str, str], list[tuple[Marker, Marker | None]]]:
    """Pair each start with the end written by the same process."""
    ends = {(m.run_id, m.task_id, m.pid): m for m in markers if m.kind == "end"}
    result: dict[tuple[str, str], list[tuple[Marker, Marker | None]]] = defaultdict(list)
    for m in sorted((m for m in markers if m.kind == "start"), key=lambda m: m.at):
        result[(m.run_id, m.task_id)].append((m, ends.get((m.run_id, m.task_id, m.pid))))
    return result


def _assert_every_task_ended_once(cluster: Cluster, run_ids: list[str]) -> None:
    states = cluster.run_states()
    assert all(states[r] == "success" for r in run_ids), states
    markers = cluster.read_markers()
    end_counts: dict[tuple[str, str], int] = defaultdict(int)
    for m in markers:
        if m.kind == "end":
            end_counts[(m.run_id, m.task_id)] += 1
    expected = {(r, f"w{i}") for r in run_ids for i in range(WIDTH)} | {
        (r, "join") for r in run_ids
    }
    assert set(end_counts) == expected
    assert all(count == 1 for count in end_counts.values()), {
        k: v for k, v in end_counts.items() if v != 1
    }


def test_killing_schedulers_loses_nothing_and_runs_nothing_twice(cluster: Cluster) -> None:
    cluster.write_fanout_dag(width=WIDTH, seconds=2.0)
    for _ in range(3):
        cluster.start_scheduler()
    run_ids = cluster.trigger(RUNS)
    rng = random.Random(1234)
    deadline = time.monotonic() + 240
    while not cluster.all_finished():
        assert time.monotonic() < deadline, f"runs not finished: {cluster.run_states()}"
        pause_until = time.monotonic() + rng.uniform(2.0, 4.0)
        while time.monotonic() < pause_until and not cluster.all_finished():
            time.sleep(0.1)
        if not cluster.all_finished():
            cluster.restart_scheduler(rng.randrange(3))
    assert cluster.restarts >= 3, "the chaos loop should have killed several schedulers"
    _assert_every_task_ended_once(cluster, run_ids)
    starts: dict[tuple[str, str], int] = defaultdict(int)
    for m in cluster.read_markers():
        if m.kind == "start":
            starts[(m.run_id, m.task_id)] += 1
    assert all(n == 1 for n in starts.values()), "a task started twice while only schedulers died"
    # Runners outlived the schedulers that started them: no try was lost.
    with cluster.sessions() as session:
        lost = session.scalars(select(TaskTry).where(TaskTry.state == "lost")).all()
    assert lost == []
    cluster.assert_nothing_left(timeout=30)


def _mid_work(cluster: Cluster) -> list:  # type: ignore[type-arg]
    """Running tries whose task is in the middle of its work (started < 0.4 s ago, no end).

    A runner killed after its task's work but before it records the outcome loses that
    outcome, and the retry does the work again: that is the at-least-once window every
    orchestrator has. The chaos here kills runners mid-work, where a retry must run the
    task exactly once more.
    """
    markers = cluster.read_markers()
    ended = {(m.run_id, m.task_id, m.pid) for m in markers if m.kind == "end"}
    fresh = {
        (m.run_id, m.task_id)
        for m in markers
        if m.kind == "start"
        and (m.run_id, m.task_id, m.pid) not in ended
        and time.time() - m.at < 0.4
    }
    return [
        ti
        for ti in cluster.running_tries()
        if ti.pid and (ti.run_id, ti.task_id) in fresh and ti.task_id != "join"
    ]


def test_killing_runners_retries_each_once_without_spending_retries(cluster: Cluster) -> None:
    cluster.write_fanout_dag(width=WIDTH, seconds=1.2)
    for _ in range(2):
        cluster.start_scheduler()
    run_ids = cluster.trigger(RUNS)
    rng = random.Random(99)
    kills: list[tuple[str, str, int, float]] = []  # run, task, supervisor pid, when
    deadline = time.monotonic() + 240
    while not cluster.all_finished():
        assert time.monotonic() < deadline, f"runs not finished: {cluster.run_states()}"
        time.sleep(rng.uniform(0.5, 1.5))
        candidates = _mid_work(cluster)
        if not candidates or len(kills) >= 12:
            continue
        victim = rng.choice(candidates)
        try:
            os.kill(victim.pid, signal.SIGKILL)  # type: ignore[arg-type]
        except ProcessLookupError:
            continue
        kills.append((victim.run_id, victim.task_id, int(victim.pid or 0), time.time()))
        # The task process of the killed runner must die with it.
        task_pids = [
            m.pid
            for m in cluster.read_markers()
            if (m.run_id, m.task_id) == (victim.run_id, victim.task_id) and m.kind == "start"
        ]
        for pid in task_pids:
            wait_until(
                lambda pid=pid: not process_alive(pid),
                timeout=5,
                what=f"task process {pid} of a killed runner to die",
            )
    assert len(kills) >= 3, "the chaos loop should have killed several runners"
    _assert_every_task_ended_once(cluster, run_ids)
    executions = _executions(cluster.read_markers())
    kill_times = defaultdict(list)
    for run_id, task_id, _pid, when in kills:
        kill_times[(run_id, task_id)].append(when)
    for key, runs in executions.items():
        for (_first, first_end), (second, _) in itertools.pairwise(runs):
            if first_end is not None:
                assert first_end.at <= second.at, f"{key}: executions overlap"
            else:
                killed_before = [t for t in kill_times[key] if t <= second.at]
                assert killed_before, f"{key}: a second execution started while the first ran"
    by_key = {(ti.run_id, ti.task_id): ti for ti in cluster.task_instances()}
    killed_keys = {(r, t) for r, t, _, _ in kills}
    for key in killed_keys:
        ti = by_key[key]
        assert ti.state == "success"
        # Lost tries raise max_tries by one each: the task's own retries (0) are untouched.
        assert ti.max_tries - ti.infrastructure_failures == 0
    with cluster.sessions() as session:
        lost = session.scalars(select(TaskTry).where(TaskTry.state == "lost")).all()
    assert len(lost) >= 1
    cluster.assert_nothing_left(timeout=30)
