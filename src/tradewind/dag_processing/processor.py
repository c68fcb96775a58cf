"""Keeping the database in step with the DAG folder.

Each changed file is parsed in an isolated process (:func:`parser.parse_file`); its DAGs
are stored serialized with their hash, its import error (if any) is recorded, DAGs that
left a file or whose file was deleted are deactivated. A file with an import error keeps
its DAGs' last good version active, as Airflow does, and the error is shown until fixed.

Several schedulers may refresh the same folder at once; every write is an upsert keyed by
the DAG id or file hash, so the last writer wins with identical content.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from tradewind.config import CoreSettings, Settings
from tradewind.dag_processing.parser import FileParseResult, find_dag_files, parse_file
from tradewind.dag_processing.serialization import SerializedDag, dag_hash
from tradewind.db.models import Dag, DagFile, DagRun, ImportError_, SerializedDagRow
from tradewind.models.dag_runs import RUN_TYPE_SCHEDULED
from tradewind.models.jobs import db_now
from tradewind.rules.timetables import DataInterval, TimeRestriction

log = logging.getLogger(__name__)

EXAMPLE_DAGS_FOLDER = Path(__file__).resolve().parent.parent / "example_dags"


def fileloc_hash(path: str | Path) -> str:
    return hashlib.sha256(str(path).encode()).hexdigest()


@dataclass
class RefreshReport:
    parsed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    dag_ids: list[str] = field(default_factory=list)


class DagProcessor:
    """Parses the DAG folder (and the examples when enabled) into the database."""

    def __init__(self, settings: Settings, session_factory: sessionmaker[Session]) -> None:
        self.settings = settings
        self.session_factory = session_factory

    def dag_files(self) -> list[Path]:
        files = list(find_dag_files(self.settings.dags_folder))
        if self.settings.core.load_examples:
            files.extend(find_dag_files(EXAMPLE_DAGS_FOLDER))
        return [path.resolve() for path in files]

    def refresh(self, *, force: bool = False) -> RefreshReport:
        """Parse new and changed files, forget deleted ones. Returns what was done."""
        report = RefreshReport()
        files = {str(path): path for path in self.dag_files()}
        with self.session_factory() as session:
            known = {row.fileloc: row.mtime for row in session.scalars(select(DagFile))}
        for fileloc, path in files.items():
            try:
                mtime = path.stat().st_mtime
            except FileNotFoundError:
                continue
            if not force and known.get(fileloc) == mtime:
                continue
            result = parse_file(path, timeout=self.settings.core.dag_file_processor_timeout)
            self._store_with_retry(result, mtime)
            report.parsed.append(fileloc)
            if result.error is not None:
                report.errors.append(fileloc)
            report.dag_ids.extend(d["dag_id"] for d in result.dags)
        for fileloc in set(known) - set(files):
            with self.session_factory() as session, session.begin():
                forget_file(session, fileloc)
            report.removed.append(fileloc)
        return report

    def _store_with_retry(self, result: FileParseResult, mtime: float) -> None:
        for attempt in range(3):
            try:
                with self.session_factory() as session, session.begin():
                    store_parse_result(
                        session,
                        result,
                        mtime=mtime,
                        defaults=self.settings.core,
                    )
                return
            except IntegrityError:
                # Another scheduler stored the same file at the same moment: read again.
                if attempt == 2:
                    raise


def store_parse_result(
    session: Session, result: FileParseResult, *, mtime: float, defaults: CoreSettings
) -> None:
    """Write one file's DAGs or import error; the caller owns the transaction."""
    fileloc = str(Path(result.path).resolve())
    key = fileloc_hash(fileloc)
    now = db_now(session)
    file_row = session.get(DagFile, key)
    if file_row is None:
        session.add(
            DagFile(
                fileloc_hash=key,
                fileloc=fileloc,
                mtime=mtime,
                last_parsed=now,
                parse_duration=result.duration,
            )
        )
    else:
        file_row.mtime, file_row.last_parsed = mtime, now
        file_row.parse_duration = result.duration
    if result.error is not None:
        error_row = session.scalars(
            select(ImportError_).where(ImportError_.fileloc_hash == key)
        ).first()
        if error_row is None:
            error_row = ImportError_(fileloc_hash=key, filename=fileloc)
            session.add(error_row)
        error_row.message = result.error.message
        error_row.stacktrace = result.error.traceback or ""
        error_row.timestamp = now
        return
    session.execute(delete(ImportError_).where(ImportError_.fileloc_hash == key))
    seen = []
    for data in result.dags:
        store_dag(session, data, fileloc=fileloc, now=now, defaults=defaults)
        seen.append(data["dag_id"])
    deactivate_missing(session, fileloc, keep=seen)


def store_dag(
    session: Session,
    data: dict[str, object],
    *,
    fileloc: str,
    now: datetime,
    defaults: CoreSettings,
) -> None:
    """Upsert one serialized DAG and, when its structure changed, its next run.

    What the DAG leaves unset comes from ``defaults``: paused at creation, max active runs
    and tasks.
    """
    serialized = SerializedDag.from_dict(data)
    digest = dag_hash(data)
    row = session.get(Dag, serialized.dag_id)
    is_new = row is None
    if row is None:
        # The DAG's own is_paused_upon_creation wins over the configured default (Airflow).
        paused = serialized.is_paused_upon_creation
        row = Dag(
            dag_id=serialized.dag_id,
            fileloc=fileloc,
            is_paused=defaults.dags_are_paused_at_creation if paused is None else paused,
        )
        session.add(row)
    changed = is_new or row.dag_hash != digest or not row.is_active
    row.fileloc = fileloc
    row.is_active = True
    row.description = serialized.description
    row.schedule_summary = serialized.timetable.summary
    row.tags = json.dumps(sorted(serialized.tags))
    row.owners = ", ".join(sorted({t.owner for t in serialized.tasks.values()}))
    row.max_active_runs = serialized.max_active_runs or defaults.max_active_runs_per_dag
    row.max_active_tasks = serialized.max_active_tasks or defaults.max_active_tasks_per_dag
    row.last_parsed_time = now
    if not changed:
        return
    row.dag_hash = digest
    session.flush()
    blob = session.get(SerializedDagRow, serialized.dag_id)
    text = json.dumps(data, sort_keys=True)
    if blob is None:
        session.add(
            SerializedDagRow(
                dag_id=serialized.dag_id,
                fileloc=fileloc,
                data=text,
                dag_hash=digest,
                last_updated=now,
            )
        )
    else:
        blob.fileloc, blob.data, blob.dag_hash, blob.last_updated = fileloc, text, digest, now
    update_next_dagrun(session, row, serialized, now=now)


def update_next_dagrun(session: Session, row: Dag, dag: SerializedDag, *, now: datetime) -> None:
    """Compute the next scheduled run after the last one already created."""
    last = session.execute(
        select(DagRun.data_interval_start, DagRun.data_interval_end)
        .where(DagRun.dag_id == dag.dag_id, DagRun.run_type == RUN_TYPE_SCHEDULED)
        .order_by(DagRun.scheduled_logical_date.desc())
        .limit(1)
    ).first()
    last_interval = (
        DataInterval(start=last[0], end=last[1]) if last and last[0] and last[1] else None
    )
    info = dag.timetable.next_dagrun_info(
        last_automated_data_interval=last_interval,
        restriction=TimeRestriction(
            earliest=dag.start_date, latest=dag.end_date, catchup=dag.catchup
        ),
        now=now,
    )
    if info is None:
        row.next_dagrun = row.next_dagrun_create_after = None
        row.next_dagrun_data_interval_start = row.next_dagrun_data_interval_end = None
        return
    row.next_dagrun = info.logical_date
    row.next_dagrun_data_interval_start = info.data_interval.start
    row.next_dagrun_data_interval_end = info.data_interval.end
    row.next_dagrun_create_after = info.run_after


def deactivate_missing(session: Session, fileloc: str, *, keep: Iterable[str]) -> None:
    keep = list(keep)
    query = update(Dag).where(Dag.fileloc == fileloc, Dag.is_active.is_(True))
    if keep:
        query = query.where(Dag.dag_id.not_in(keep))
    session.execute(query.values(is_active=False))


def forget_file(session: Session, fileloc: str) -> None:
    """A file left the folder: its DAGs become inactive, its import error goes."""
    key = fileloc_hash(fileloc)
    deactivate_missing(session, fileloc, keep=())
    session.execute(delete(ImportError_).where(ImportError_.fileloc_hash == key))
    session.execute(delete(DagFile).where(DagFile.fileloc_hash == key))
