"""Jinja rendering of operators' templated fields.

Owns the Jinja environment of a DAG (search path = the DAG file's folder plus
``template_searchpath``, ``user_defined_macros``, Airflow's ``ds``/``ts`` filters, native
rendering when ``render_template_as_native_obj``) and the walk over a field's value:
strings are rendered (or loaded from a file when they end with one of the operator's
``template_ext``), lists, tuples, sets and dict values are walked, and runtime placeholders
(:class:`~tradewind.sdk.xcom_arg.ResolvableArg`) are resolved.

Undefined names render as empty strings, as in Airflow; templates are not strict.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import jinja2.nativetypes

from tradewind.exceptions import AuthoringError, TaskFailure
from tradewind.sdk.xcom_arg import ResolvableArg

if TYPE_CHECKING:
    from tradewind.sdk.baseoperator import BaseOperator
    from tradewind.sdk.context import Context
    from tradewind.sdk.dag import DAG

__all__ = ["get_template_env", "render_template", "render_template_fields"]


def _ds(value: datetime) -> str:
    return value.strftime("%Y-%m-%d")


def _ds_nodash(value: datetime) -> str:
    return value.strftime("%Y%m%d")


def _ts(value: datetime) -> str:
    return value.isoformat()


def _ts_nodash(value: datetime) -> str:
    return value.strftime("%Y%m%dT%H%M%S")


def _ts_nodash_with_tz(value: datetime) -> str:
    return value.isoformat().replace("-", "").replace(":", "")


FILTERS = {
    "ds": _ds,
    "ds_nodash": _ds_nodash,
    "ts": _ts,
    "ts_nodash": _ts_nodash,
    "ts_nodash_with_tz": _ts_nodash_with_tz,
}


def template_searchpath(dag: DAG | None) -> list[str]:
    """Folders searched for template files: the DAG file's folder, then template_searchpath."""
    paths: list[str] = []
    if dag is not None:
        if dag.fileloc:
            paths.append(str(Path(dag.fileloc).resolve().parent))
        paths.extend(dag.template_searchpath)
    return paths


def get_template_env(dag: DAG | None) -> jinja2.Environment:
    """A Jinja environment set up from ``dag``'s template options (defaults without a DAG)."""
    native = dag is not None and dag.render_template_as_native_obj
    env_class = jinja2.nativetypes.NativeEnvironment if native else jinja2.Environment
    env = env_class(
        loader=jinja2.FileSystemLoader(template_searchpath(dag)),
        undefined=jinja2.Undefined,
        extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"],
        # Shell scripts and SQL often need their final newline.
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters.update(FILTERS)
    if dag is not None and dag.user_defined_macros:
        env.globals.update(dag.user_defined_macros)
    return env


def _load_template(
    value: str, env: jinja2.Environment, task: BaseOperator | None, field: str | None
) -> jinja2.Template:
    if os.path.isabs(value) and os.path.isfile(value):
        return env.from_string(Path(value).read_text())
    try:
        return env.get_template(value)
    except jinja2.TemplateNotFound:
        where = f" of task {task.task_id!r}" if task is not None else ""
        searched = getattr(env.loader, "searchpath", [])
        raise TaskFailure(
            f"Template file {value!r} for field {field!r}{where} was not found in "
            f"{searched}. Put it next to the DAG file or in the DAG's template_searchpath; "
            f"if the value is not a file name, end it with a space so it is rendered as "
            f"a template string."
        ) from None


def render_template(
    value: Any,
    context: Context,
    env: jinja2.Environment,
    *,
    template_ext: Sequence[str] = (),
    task: BaseOperator | None = None,
    field: str | None = None,
) -> Any:
    """``value`` rendered: strings through Jinja, containers walked, placeholders resolved."""
    if isinstance(value, str):
        if template_ext and value.endswith(tuple(template_ext)):
            template = _load_template(value, env, task, field)
        else:
            template = env.from_string(value)
        rendered = template.render(context)
        # The native environment returns Undefined itself for a lone "{{ missing }}".
        return "" if isinstance(rendered, jinja2.Undefined) else rendered
    if isinstance(value, ResolvableArg):
        return value.resolve(context)

    def again(item: Any) -> Any:
        return render_template(
            item, context, env, template_ext=template_ext, task=task, field=field
        )

    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a namedtuple
        return type(value)(*(again(item) for item in value))
    if isinstance(value, (list, tuple, set, frozenset)):
        return type(value)(again(item) for item in value)
    if isinstance(value, dict):
        return {key: again(item) for key, item in value.items()}
    return value


def render_template_fields(
    task: BaseOperator, context: Context, jinja_env: jinja2.Environment | None = None
) -> None:
    """Render every field named in ``task.template_fields`` in place.

    The runner runs one try per process, so rendering into the task object is safe.

    Raises:
        AuthoringError: a name in ``template_fields`` that is not an attribute of the task.
    """
    env = jinja_env if jinja_env is not None else get_template_env(task.get_dag())
    for field in task.template_fields:
        if not hasattr(task, field):
            raise AuthoringError(
                f"{type(task).__name__}.template_fields names {field!r}, but task "
                f"{task.task_id!r} has no such attribute; set it in __init__."
            )
        rendered = render_template(
            getattr(task, field),
            context,
            env,
            template_ext=task.template_ext,
            task=task,
            field=field,
        )
        setattr(task, field, rendered)
