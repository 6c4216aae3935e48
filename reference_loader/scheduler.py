"""The reference scheduler (APScheduler 3): each job on its cron or interval trigger.

No two runs of one job at once (max_instances=1), missed runs coalesced into one, run if at
most `misfire_grace_s` late. Stopping sets the cancel event every running load watches: a load
still producing aborts its transaction, one already committing finishes; nothing is ever half
published. Loads that fail are logged and recorded in the ledger; the scheduler goes on.

    run_scheduler(settings, stop)          # blocks until `stop` is set (CLI, `offload run`)
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from plumbing.errors import OffloadError
from plumbing.kafka_errors import BrokerUnreachable
from plumbing.topics import ping
from plumbing.waiting import wait_for
from reference_loader.jobs import Job, jobs_of, trigger_of
from reference_loader.load import RunOptions, run_job

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler

    from config import Settings

logger = logging.getLogger(__name__)

_PING_S = 2.0


def _scheduled_run(settings: Settings, job: Job, cancel: threading.Event) -> None:
    try:
        run_job(settings, job, RunOptions(cancel=cancel))
    except OffloadError as exc:
        # Recorded in the ledger with the same message; the next fire time retries.
        logger.error("reference job %s failed: %s", job.name, exc)


def start_scheduler(settings: Settings, cancel: threading.Event) -> BackgroundScheduler:
    """Start a background scheduler with every job that has a schedule.

    Args:
        settings: the jobs and where their state lives.
        cancel: set it to make running loads abort before their commit (on shutdown).

    Raises:
        JobConfigError: a schedule does not parse.
    """
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(
        job_defaults={"coalesce": True, "max_instances": 1},
        executors={"default": {"type": "threadpool", "max_workers": 4}},
    )
    for job in jobs_of(settings).values():
        trigger = trigger_of(job)
        if trigger is None:
            logger.info(
                "reference job %s has no schedule (load it with `reference load`)", job.name
            )
            continue
        scheduler.add_job(
            _scheduled_run,
            trigger,
            args=(settings, job, cancel),
            id=job.name,
            name=f"reference load {job.name}",
            misfire_grace_time=job.spec.misfire_grace_s,
            coalesce=True,
            max_instances=1,
        )
    scheduler.start()
    for entry in scheduler.get_jobs():
        logger.info("reference job %s: next run at %s", entry.id, entry.next_run_time)
    return scheduler


def run_scheduler(settings: Settings, stop: threading.Event) -> None:
    """Run the scheduler until `stop` is set, then stop it: running loads abort (or finish
    their commit) before this returns. For the CLI and the whole-gateway supervisor.

    Started before the broker answers, it waits for it first (saying so once), so that the
    first scheduled loads do not fail.
    """
    kafka = settings.kafka

    def broker_answers() -> bool:
        if not ping(kafka, timeout=_PING_S):
            raise BrokerUnreachable(kafka.bootstrap_servers, _PING_S)
        return True

    what = f"the Kafka cluster at {kafka.bootstrap_servers} (kafka.bootstrap_servers)"
    if not wait_for(broker_answers, what, stop, logger):
        return
    cancel = threading.Event()
    scheduler = start_scheduler(settings, cancel)
    try:
        stop.wait()
    finally:
        logger.info("stopping the reference scheduler")
        cancel.set()
        scheduler.shutdown(wait=True)
