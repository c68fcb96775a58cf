"""What a DAG file imports: DAG, operators' base class, ``@task``, XComArg, Param, context.

Everything is re-exported from the modules that own it; this package imports no database,
scheduler or runner code.
"""

from tradewind.sdk.baseoperator import BaseOperator, chain
from tradewind.sdk.context import (
    Context,
    DagRunView,
    RuntimeTaskInstance,
    build_context,
    execute_task,
    get_current_context,
    set_current_context,
)
from tradewind.sdk.dag import DAG, collect_dags, dag, get_current_dag
from tradewind.sdk.decorators import DecoratedTask, task
from tradewind.sdk.params import NOTSET, DagParam, Param, ParamsDict, ParamValidationError
from tradewind.sdk.xcom_arg import XComArg

__all__ = [
    "DAG",
    "NOTSET",
    "BaseOperator",
    "Context",
    "DagParam",
    "DagRunView",
    "DecoratedTask",
    "Param",
    "ParamValidationError",
    "ParamsDict",
    "RuntimeTaskInstance",
    "XComArg",
    "build_context",
    "chain",
    "collect_dags",
    "dag",
    "execute_task",
    "get_current_context",
    "get_current_dag",
    "set_current_context",
    "task",
]
