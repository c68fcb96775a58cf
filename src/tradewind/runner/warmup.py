"""Warming a runner's database code once, in the process that forks the runners.

Each runner would otherwise compile every SQL statement it uses from scratch (SQLAlchemy
caches compiled statements per engine, and a new process starts cold). The fork server
creates the engine once and runs each of the runner's statements against a task instance
that cannot exist, in a transaction it rolls back: nothing is written, and every forked
runner inherits the compiled statements. A failure here (the database is down) only
means the runners start cold.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine, select

from tradewind.db.engine import make_session_factory
from tradewind.db.models import DagRun, SerializedDagRow, TaskInstance
from tradewind.exceptions import TaskFailure
from tradewind.models import transitions
from tradewind.models.xcom import pull_xcom, push_xcom

log = logging.getLogger(__name__)

NO_SUCH_ID = -1


def warm_up(engine: Engine) -> bool:
    """Compile the runner's statements on ``engine``; returns whether it worked."""
    sessions = make_session_factory(engine)
    try:
        with sessions() as session:
            transitions.claim_try(session, NO_SUCH_ID, try_number=1, hostname="", pid=0)
            transitions.heartbeat_try(session, NO_SUCH_ID, claim_token="")
            transitions.finish_try(session, NO_SUCH_ID, claim_token="", new_state="success")
            session.get(TaskInstance, NO_SUCH_ID)
            session.get(DagRun, NO_SUCH_ID)
            session.scalars(select(SerializedDagRow).where(SerializedDagRow.dag_id == "")).first()
            pull_xcom(session, dag_run_id=NO_SUCH_ID, task_ids="")
            try:
                push_xcom(session, ti_id=NO_SUCH_ID, claim_token="", key="", text="")
            except TaskFailure:
                pass  # expected: the fence finds no such try
            session.rollback()
        return True
    except Exception:  # warming is an optimisation, never a requirement
        log.warning("Could not warm up the runners' database statements", exc_info=True)
        return False
    finally:
        engine.dispose()  # no connection crosses the fork; the compiled statements do
