"""The DAG processor keeps the database in step with the DAG folder: changed files are
re-parsed, deleted files deactivate their DAGs, a hanging file becomes an import error
that names the timeout, and a fixed file replaces its import error with its DAGs."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.scheduling import Harness, harness, write_dag

from tradewind.config import Settings
from tradewind.db.models import Dag, DagFile, ImportError_
from tradewind.exceptions import NotFoundError
from tradewind.models.jobs import db_now
from tradewind.scheduler.dag_cache import DagCache
from tradewind.scheduler.runs import trigger_dag

pytestmark = pytest.mark.integration

HEADER = """
from datetime import datetime
from tradewind import DAG
from tradewind.operators import EmptyOperator
"""


@pytest.fixture
def h(make_settings: Callable[..., Settings]) -> Iterator[Harness]:
    settings = make_settings(core={"dag_file_processor_timeout": 1.0})
    with harness(settings) as instance:
        yield instance


_EDITS = itertools.count(1)


def _write(h: Harness, name: str, body: str) -> Path:
    path = write_dag(h.settings, name, HEADER + body)
    # Each edit is a later one: the modification time moves even on coarse clocks.
    stamp = time.time() + next(_EDITS)
    os.utime(path, (stamp, stamp))
    return path


def _dags(h: Harness) -> dict[str, Dag]:
    with h.sessions() as session:
        return {d.dag_id: d for d in session.scalars(select(Dag))}


def _errors(h: Harness) -> dict[str, str]:
    with h.sessions() as session:
        return {e.filename: e.message for e in session.scalars(select(ImportError_))}


def _tasks(h: Harness, dag_id: str) -> list[str]:
    with h.sessions() as session:
        dag = DagCache().get(session, dag_id)
    assert dag is not None
    return dag.task_ids


def test_changed_file_is_parsed_again_and_unchanged_file_is_not(h: Harness) -> None:
    path = _write(
        h,
        "growing",
        """
with DAG("growing", schedule=None, start_date=datetime(2024, 1, 1)):
    EmptyOperator(task_id="a")
""",
    )
    report = h.processor.refresh()
    assert report.parsed == [str(path.resolve())] and report.dag_ids == ["growing"]
    assert _tasks(h, "growing") == ["a"]
    first_hash = _dags(h)["growing"].dag_hash
    cache = DagCache()
    with h.sessions() as session:
        assert cache.get(session, "growing").task_ids == ["a"]  # type: ignore[union-attr]

    assert h.processor.refresh().parsed == []  # unchanged: not imported again

    _write(
        h,
        "growing",
        """
with DAG("growing", schedule=None, start_date=datetime(2024, 1, 1)):
    EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")
with DAG("sibling", schedule=None, start_date=datetime(2024, 1, 1)):
    EmptyOperator(task_id="x")
""",
    )
    assert h.processor.refresh().parsed == [str(path.resolve())]
    assert _tasks(h, "growing") == ["a", "b"]
    assert _dags(h)["growing"].dag_hash != first_hash
    with h.sessions() as session:  # a scheduler's cache sees the new version too
        assert cache.get(session, "growing").task_ids == ["a", "b"]  # type: ignore[union-attr]

    # A DAG that leaves a file that stays is deactivated; the other one stays.
    _write(
        h,
        "growing",
        """
with DAG("growing", schedule=None, start_date=datetime(2024, 1, 1)):
    EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")
""",
    )
    h.processor.refresh()
    dags = _dags(h)
    assert dags["growing"].is_active and not dags["sibling"].is_active


def test_deleted_file_deactivates_its_dags_and_clears_its_import_error(h: Harness) -> None:
    path = _write(
        h,
        "doomed",
        """
with DAG("doomed", schedule=None, start_date=datetime(2024, 1, 1)):
    EmptyOperator(task_id="a")
""",
    )
    h.processor.refresh()
    assert _dags(h)["doomed"].is_active
    # Broken: the import error is shown, the last good version stays active.
    _write(h, "doomed", "with DAG('doomed', schedule=None:\n    pass\n")
    report = h.processor.refresh()
    assert report.errors == [str(path.resolve())]
    assert "SyntaxError" in _errors(h)[str(path.resolve())]
    assert _dags(h)["doomed"].is_active

    path.unlink()
    report = h.processor.refresh()
    assert report.removed == [str(path.resolve())]
    assert not _dags(h)["doomed"].is_active
    assert _errors(h) == {}
    with h.sessions() as session:
        assert session.scalars(select(DagFile)).all() == []
    with pytest.raises(NotFoundError, match="doomed"), h.sessions() as session:
        trigger_dag(session, DagCache(), "doomed", now=db_now(session))

    # Back again: active again.
    _write(
        h,
        "doomed",
        """
with DAG("doomed", schedule=None, start_date=datetime(2024, 1, 1)):
    EmptyOperator(task_id="a")
""",
    )
    h.processor.refresh()
    assert _dags(h)["doomed"].is_active


def test_hanging_file_becomes_a_timeout_import_error_until_fixed(h: Harness) -> None:
    path = _write(
        h,
        "hangs",
        """
import time
time.sleep(60)
with DAG("hangs", schedule=None, start_date=datetime(2024, 1, 1)):
    EmptyOperator(task_id="a")
""",
    )
    started = time.monotonic()
    report = h.processor.refresh()
    assert time.monotonic() - started < 5, "the processor waited for the hanging file"
    assert report.errors == [str(path.resolve())]
    message = _errors(h)[str(path.resolve())]
    assert "did not finish within 1 s" in message
    assert "core.dag_file_processor_timeout" in message
    assert "hangs" not in _dags(h)

    _write(
        h,
        "hangs",
        """
with DAG("hangs", schedule=None, start_date=datetime(2024, 1, 1)):
    EmptyOperator(task_id="a")
""",
    )
    report = h.processor.refresh()
    assert report.errors == [] and report.dag_ids == ["hangs"]
    assert _errors(h) == {}
    assert _dags(h)["hangs"].is_active and _tasks(h, "hangs") == ["a"]


@pytest.mark.parametrize("configured", [False, True])
def test_is_paused_upon_creation_overrides_the_config(
    make_settings: Callable[..., Settings], configured: bool
) -> None:
    settings = make_settings(core={"dags_are_paused_at_creation": configured})
    with harness(settings) as h:
        _write(
            h,
            "flags",
            """
with DAG("paused_flag", schedule="@daily", start_date=datetime(2024, 1, 1),
         is_paused_upon_creation=True):
    EmptyOperator(task_id="a")
with DAG("active_flag", schedule="@daily", start_date=datetime(2024, 1, 1),
         is_paused_upon_creation=False):
    EmptyOperator(task_id="a")
with DAG("default_flag", schedule="@daily", start_date=datetime(2024, 1, 1)):
    EmptyOperator(task_id="a")
""",
        )
        h.parse()
        paused = {dag_id: row.is_paused for dag_id, row in _dags(h).items()}
        assert paused == {"paused_flag": True, "active_flag": False, "default_flag": configured}
        # Only at creation: a user's later choice survives a re-parse.
        with h.sessions() as session, session.begin():
            session.get(Dag, "paused_flag").is_paused = False  # type: ignore[union-attr]
        h.parse()
        assert _dags(h)["paused_flag"].is_paused is False
