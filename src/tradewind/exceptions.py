"""Every error Tradewind raises on purpose, under one root.

::

    TradewindError
    ├── ConfigError                 unknown section/key, bad value in tradewind.toml or env
    ├── AuthoringError              a DAG file that cannot become a valid DAG
    │   ├── DagCycleError           the task graph has a cycle
    │   ├── DuplicateTaskIdError    two tasks of one DAG share a task_id
    │   ├── InvalidTriggerRuleError an unknown trigger rule
    │   └── InvalidScheduleError    a schedule that is not cron, preset, timedelta or None
    ├── TaskFailure                 a task ended in failure (keeps the user's traceback text)
    │   ├── TaskTimeout             execution_timeout was exceeded
    │   └── XComTooLargeError       an XCom value above ``core.xcom_max_size``
    ├── InvalidTransitionError      a state change that the state machine forbids
    ├── ExecutorError               an executor could not start or hand over a try
    ├── DatabaseError               the metadata database is unusable as configured
    └── NotFoundError               a DAG, run or task that does not exist

Control flow inside a task (not errors): :class:`SkipTask` ends the try as skipped,
:class:`FailTask` ends it as failed without using the remaining retries.
"""

from __future__ import annotations


class TradewindError(Exception):
    """Root of every error Tradewind raises on purpose."""


class ConfigError(TradewindError):
    """The configuration names a section or key that does not exist, or a bad value."""


class AuthoringError(TradewindError):
    """A DAG file describes something that cannot be a valid DAG."""


class DagCycleError(AuthoringError):
    """The task graph of a DAG has a cycle."""


class DuplicateTaskIdError(AuthoringError):
    """Two tasks of one DAG share a task_id."""


class InvalidTriggerRuleError(AuthoringError):
    """A task names a trigger rule that does not exist."""


class InvalidScheduleError(AuthoringError):
    """A schedule is neither a cron string, a preset, a timedelta nor None."""


class TaskFailure(TradewindError):
    """A task try ended in failure; ``traceback_text`` keeps the user's traceback."""

    def __init__(self, message: str, traceback_text: str | None = None) -> None:
        super().__init__(message)
        self.traceback_text = traceback_text


class TaskTimeout(TaskFailure):
    """A task ran longer than its ``execution_timeout``."""


class XComTooLargeError(TaskFailure):
    """An XCom value is larger than ``core.xcom_max_size``."""


class InvalidTransitionError(TradewindError):
    """A state change that the state machine does not allow."""


class ExecutorError(TradewindError):
    """An executor could not start or hand over a task try."""


class DatabaseError(TradewindError):
    """The metadata database cannot be used as configured."""


class NotFoundError(TradewindError):
    """A DAG, DAG run or task instance that does not exist."""


class SkipTask(Exception):
    """Raise inside a task to end this try as *skipped*."""


class FailTask(Exception):
    """Raise inside a task to fail it at once, without using its remaining retries."""


# Airflow's names, so that ported DAG files keep working.
AirflowSkipException = SkipTask
AirflowFailException = FailTask

__all__ = [
    "AirflowFailException",
    "AirflowSkipException",
    "AuthoringError",
    "ConfigError",
    "DagCycleError",
    "DatabaseError",
    "DuplicateTaskIdError",
    "ExecutorError",
    "FailTask",
    "InvalidScheduleError",
    "InvalidTransitionError",
    "InvalidTriggerRuleError",
    "NotFoundError",
    "SkipTask",
    "TaskFailure",
    "TaskTimeout",
    "TradewindError",
    "XComTooLargeError",
]
