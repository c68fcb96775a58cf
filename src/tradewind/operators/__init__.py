"""The operators shipped with Tradewind: bash, python, empty, branch and short-circuit."""

from tradewind.operators.bash import BashOperator
from tradewind.operators.branch import BranchMixin, BranchPythonOperator
from tradewind.operators.empty import EmptyOperator
from tradewind.operators.python import PythonOperator
from tradewind.operators.short_circuit import ShortCircuitOperator

__all__ = [
    "BashOperator",
    "BranchMixin",
    "BranchPythonOperator",
    "EmptyOperator",
    "PythonOperator",
    "ShortCircuitOperator",
]
