"""``tradewind status``: every scheduler, web server and worker, and the runners in flight."""

from __future__ import annotations

from tradewind.cli.common import OUTPUT_OPTION, OutputFormat, console, iso, print_rows, state
from tradewind.rules.states import TaskInstanceState


def status(output: OutputFormat = OUTPUT_OPTION) -> None:
    """Each process with host, pid, start time, last heartbeat and whether it is alive."""
    from sqlalchemy import select

    from tradewind.db.models import TaskInstance
    from tradewind.models.jobs import db_now, list_jobs

    cfg = state.settings.scheduler
    with state.session() as session:
        now = db_now(session)
        jobs = [
            {
                "kind": job.job_type,
                "id": job.id,
                "hostname": job.hostname,
                "pid": job.pid,
                "start_date": iso(job.start_date),
                "latest_heartbeat": iso(job.latest_heartbeat),
                "heartbeat_age_seconds": round(job.heartbeat_age, 3),
                "alive": job.is_alive,
            }
            for job in list_jobs(session, threshold=cfg.health_threshold)
        ]
        runners = []
        for ti in session.scalars(
            select(TaskInstance).where(TaskInstance.state == TaskInstanceState.RUNNING)
        ):
            age = (now - ti.runner_heartbeat).total_seconds() if ti.runner_heartbeat else None
            runners.append(
                {
                    "kind": "runner",
                    "id": ti.id,
                    "hostname": ti.hostname,
                    "pid": ti.pid,
                    "start_date": iso(ti.start_date),
                    "latest_heartbeat": iso(ti.runner_heartbeat),
                    "heartbeat_age_seconds": round(age, 3) if age is not None else None,
                    "alive": age is not None and age < cfg.runner_health_threshold,
                    "task": f"{ti.dag_id}.{ti.task_id} {ti.run_id} try {ti.try_number}",
                }
            )
    rows = jobs + runners
    if output is OutputFormat.table and not rows:
        console.print("No scheduler, web server, worker or runner is alive.")
        return
    print_rows(
        rows,
        [
            "kind",
            "id",
            "hostname",
            "pid",
            "start_date",
            "latest_heartbeat",
            "heartbeat_age_seconds",
            "alive",
        ],
        output,
    )
