"""The local executor's runner helper: killing it loses nothing."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

import pytest
from tests.scheduling import harness, write_dag

from tradewind.config import Settings
from tradewind.executors.local import LocalExecutor

pytestmark = pytest.mark.integration

CHAIN = """
from datetime import datetime
from tradewind import DAG, chain
from tradewind.operators import BashOperator

with DAG("helper_chain", schedule=None, start_date=datetime(2024, 1, 1)):
    chain(*[BashOperator(task_id=f"t{i}", bash_command="sleep 0.2") for i in range(6)])
"""


def test_a_killed_runner_helper_is_replaced_and_the_run_finishes(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(scheduler={"runner_heartbeat_interval": 0.2})
    write_dag(settings, "helper_chain", CHAIN)
    with harness(settings) as h:
        h.parse()
        run_id = h.trigger("helper_chain")
        executor = h.scheduler.executor
        assert isinstance(executor, LocalExecutor)
        h.run_until(lambda: h.task_states("helper_chain", run_id).get("t1") == "success")
        first_helper = executor._process
        assert first_helper is not None
        os.kill(first_helper.pid, signal.SIGKILL)
        first_helper.wait()
        assert h.wait_for_run("helper_chain", run_id, timeout=60) == "success"
        assert executor._process is not None and executor._process.pid != first_helper.pid
        tis = h.task_instances("helper_chain", run_id)
        assert all(ti.try_number == 1 for ti in tis), "no task needed a second try"


def test_tries_handed_to_a_helper_that_died_before_forking_them_still_run(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(scheduler={"runner_heartbeat_interval": 0.2})
    write_dag(settings, "helper_chain", CHAIN)
    with harness(settings) as h:
        h.parse()
        h.start()
        executor = h.scheduler.executor
        assert isinstance(executor, LocalExecutor) and executor._process is not None
        frozen = executor._process
        os.kill(frozen.pid, signal.SIGSTOP)  # it receives the try but never forks it
        run_id = h.trigger("helper_chain")
        h.run_until(lambda: h.task_states("helper_chain", run_id).get("t0") == "queued")
        os.kill(frozen.pid, signal.SIGKILL)
        frozen.wait()
        assert h.wait_for_run("helper_chain", run_id, timeout=60) == "success"
        tis = h.task_instances("helper_chain", run_id)
        assert all(ti.try_number == 1 for ti in tis)
