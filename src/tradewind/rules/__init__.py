"""Pure rules of the orchestrator: states, trigger rules, timetables and retries.

Everything here is a function of its arguments: no I/O, no clock, no database. The
scheduler, the runner and the CLI all decide with these rules, so they agree, and the rules
can be tested exhaustively by property.
"""

from __future__ import annotations

from tradewind.rules.retries import DEFAULT_MAX_RETRY_DELAY, retry_delay, should_retry
from tradewind.rules.states import (
    ALLOWED_DAG_RUN_TRANSITIONS,
    ALLOWED_TI_TRANSITIONS,
    FINISHED_DAG_RUN_STATES,
    FINISHED_TI_STATES,
    UNFINISHED_DAG_RUN_STATES,
    UNFINISHED_TI_STATES,
    DagRunState,
    TaskInstanceState,
    check_dag_run_transition,
    check_ti_transition,
    is_allowed_dag_run_transition,
    is_allowed_dag_run_user_mark,
    is_allowed_ti_transition,
    is_allowed_user_mark,
)
from tradewind.rules.timetables import (
    CRON_PRESETS,
    CronTimetable,
    DagRunInfo,
    DataInterval,
    DeltaTimetable,
    NullTimetable,
    OnceTimetable,
    TimeRestriction,
    Timetable,
    make_timetable,
    timetable_from_dict,
)
from tradewind.rules.trigger_rules import Decision, TriggerRule, UpstreamCounts, evaluate

__all__ = [
    "ALLOWED_DAG_RUN_TRANSITIONS",
    "ALLOWED_TI_TRANSITIONS",
    "CRON_PRESETS",
    "DEFAULT_MAX_RETRY_DELAY",
    "FINISHED_DAG_RUN_STATES",
    "FINISHED_TI_STATES",
    "UNFINISHED_DAG_RUN_STATES",
    "UNFINISHED_TI_STATES",
    "CronTimetable",
    "DagRunInfo",
    "DagRunState",
    "DataInterval",
    "Decision",
    "DeltaTimetable",
    "NullTimetable",
    "OnceTimetable",
    "TaskInstanceState",
    "TimeRestriction",
    "Timetable",
    "TriggerRule",
    "UpstreamCounts",
    "check_dag_run_transition",
    "check_ti_transition",
    "evaluate",
    "is_allowed_dag_run_transition",
    "is_allowed_dag_run_user_mark",
    "is_allowed_ti_transition",
    "is_allowed_user_mark",
    "make_timetable",
    "retry_delay",
    "should_retry",
    "timetable_from_dict",
]
