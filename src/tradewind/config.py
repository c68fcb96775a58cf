"""Typed settings, read once from ``tradewind.toml`` and ``TRADEWIND__SECTION__KEY`` variables.

``TRADEWIND_HOME`` (default ``~/tradewind``) holds ``tradewind.toml``, ``dags/``, ``logs/``
and the SQLite file. Environment variables override the file. A section or key that does
not exist is an error that names it and lists what exists: a typo in a config key should
never be silently ignored.

Settings are read with :func:`load_settings` and passed down explicitly; nothing reads
configuration at import time.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tradewind.exceptions import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ENV_PREFIX = "TRADEWIND__"
HOME_VARIABLE = "TRADEWIND_HOME"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class CoreSettings(_Section):
    dags_folder: str = ""
    """Folder of DAG files; empty means ``$TRADEWIND_HOME/dags``."""
    executor: str = "local"
    """``sequential``, ``local`` or ``celery``."""
    load_examples: bool = True
    parallelism: int = Field(32, ge=1)
    """Most task tries running at once across the whole cluster."""
    max_active_tasks_per_dag: int = Field(16, ge=1)
    max_active_runs_per_dag: int = Field(16, ge=1)
    default_pool_slots: int = Field(128, ge=0)
    xcom_max_size: int = Field(1_048_576, ge=1)
    """Largest XCom value in bytes of JSON (default 1 MiB)."""
    dag_file_processor_timeout: float = Field(30.0, gt=0)
    dags_are_paused_at_creation: bool = True
    """New DAGs start paused (no scheduled runs); manual triggers always run."""
    default_timezone: str = "UTC"


class DatabaseSettings(_Section):
    url: str = ""
    """SQLAlchemy URL; empty means SQLite at ``$TRADEWIND_HOME/tradewind.db``."""
    pool_size: int = Field(5, ge=1)
    max_overflow: int = Field(10, ge=0)
    pool_recycle: int = Field(1800, ge=-1)
    echo: bool = False


class SchedulerSettings(_Section):
    loop_interval: float = Field(1.0, gt=0)
    """Longest sleep between two loops when nothing wakes the scheduler earlier."""
    heartbeat_interval: float = Field(1.0, gt=0)
    health_threshold: float = Field(10.0, gt=0)
    """A scheduler silent this long is dead and its queued tries are taken over."""
    runner_heartbeat_interval: float = Field(1.0, gt=0)
    runner_health_threshold: float = Field(30.0, gt=0)
    """A runner silent this long has lost its try, which is retried. A runner that cannot
    reach the database for 70% of it kills its own task first, so this is also the longest
    database outage (x 0.7) that running tasks survive. A runner that dies on a live
    machine is noticed at once by its executor, not after this threshold."""
    max_infrastructure_retries: int = Field(3, ge=0)
    """Retries after lost runners, on top of (not taken from) the task's own retries."""
    dag_dir_list_interval: float = Field(5.0, gt=0)
    """How often the DAG folder is checked for new, changed or deleted files."""
    max_tis_per_query: int = Field(256, ge=1)


class LoggingSettings(_Section):
    base_log_folder: str = ""
    """Empty means ``$TRADEWIND_HOME/logs``."""
    level: str = "INFO"


class WebserverSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    secret_key: str = ""


class CelerySettings(_Section):
    broker_url: str = "redis://127.0.0.1:6379/0"
    result_backend: str = ""
    default_queue: str = "default"
    worker_concurrency: int = Field(8, ge=1)


class Settings(_Section):
    home: Path = Path("~/tradewind")
    core: CoreSettings = CoreSettings()
    database: DatabaseSettings = DatabaseSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    logging: LoggingSettings = LoggingSettings()
    webserver: WebserverSettings = WebserverSettings()
    celery: CelerySettings = CelerySettings()

    @property
    def dags_folder(self) -> Path:
        folder = self.core.dags_folder
        return Path(folder).expanduser() if folder else self.home / "dags"

    @property
    def log_folder(self) -> Path:
        folder = self.logging.base_log_folder
        return Path(folder).expanduser() if folder else self.home / "logs"

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.home / 'tradewind.db'}"

    @property
    def config_file(self) -> Path:
        return self.home / "tradewind.toml"


SECTIONS: dict[str, type[_Section]] = {
    "core": CoreSettings,
    "database": DatabaseSettings,
    "scheduler": SchedulerSettings,
    "logging": LoggingSettings,
    "webserver": WebserverSettings,
    "celery": CelerySettings,
}


def _check_known(section: str, key: str, origin: str) -> None:
    model = SECTIONS.get(section)
    if model is None:
        raise ConfigError(
            f"Unknown config section [{section}] in {origin}. "
            f"Known sections: {', '.join(sorted(SECTIONS))}."
        )
    if key not in model.model_fields:
        raise ConfigError(
            f"Unknown config key '{key}' in section [{section}] ({origin}). "
            f"Known keys of [{section}]: {', '.join(sorted(model.model_fields))}."
        )


def _read_file(path: Path) -> dict[str, dict[str, Any]]:
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}. Fix the file.") from error
    for section, values in data.items():
        if not isinstance(values, dict):
            raise ConfigError(
                f"{path}: '{section}' must be a [section] table, e.g. [core], not a plain key."
            )
        for key in values:
            _check_known(section, key, str(path))
    return data


def _read_environment(environ: dict[str, str]) -> dict[str, dict[str, str]]:
    values: dict[str, dict[str, str]] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        parts = name[len(ENV_PREFIX) :].lower().split("__")
        if len(parts) != 2:
            raise ConfigError(
                f"Environment variable {name} must look like TRADEWIND__<SECTION>__<KEY>, "
                "e.g. TRADEWIND__CORE__EXECUTOR."
            )
        section, key = parts
        _check_known(section, key, f"environment variable {name}")
        values.setdefault(section, {})[key] = value
    return values


def load_settings(
    environ: dict[str, str] | None = None, *, home: str | Path | None = None
) -> Settings:
    """Read ``$TRADEWIND_HOME/tradewind.toml`` and the environment into :class:`Settings`.

    Raises :class:`ConfigError` naming any unknown section or key, or a bad value.
    """
    env = dict(os.environ if environ is None else environ)
    home_path = Path(home or env.get(HOME_VARIABLE) or "~/tradewind").expanduser().absolute()
    merged: dict[str, dict[str, Any]] = _read_file(home_path / "tradewind.toml")
    for section, values in _read_environment(env).items():
        merged.setdefault(section, {}).update(values)
    try:
        return Settings.model_validate({"home": home_path, **merged})
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in item['loc'])}: {item['msg']}" for item in error.errors()
        )
        raise ConfigError(
            f"Invalid configuration ({problems}). Fix {home_path / 'tradewind.toml'} "
            "or the TRADEWIND__SECTION__KEY environment variable."
        ) from None
