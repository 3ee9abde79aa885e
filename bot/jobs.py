"""The JobQueue jobs: the daily run at the publish time, the reconcile run, and following edits.

Each is a thin shell over `bot.workflow`, which is idempotent, so extra runs are harmless.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from telegram.ext import Application

from bot.config import ScheduleConfig
from bot.context import BotApplication, Context
from bot.workflow import follow_edits, publish_due


async def edits_tick(context: Context) -> None:
    await follow_edits(context.services)


async def index_tick(context: Context) -> None:
    """Keep the search index in step with the posts folder (searches scan until it is)."""
    services = context.services
    services.search.sync(services.library())


async def tick(context: Context) -> None:
    """The job callback: the daily run, the reconcile run and the start-up check are all this."""
    services = context.services
    await publish_due(services, services.now())


DAILY_JOB = "daily"
RECONCILE_JOB = "reconcile"
EDITS_JOB = "edits"
EDITS_EVERY = 60.0  # seconds: an edited post shows in the channel within a minute
INDEX_JOB = "index"
INDEX_EVERY = 30.0  # seconds: a new or edited post is in the index (until then: scanned) this soon


def schedule_jobs(application: BotApplication, schedule: ScheduleConfig) -> None:
    """The daily job at `time` in the blog's zone, and a reconcile job every `retry`.

    `misfire_grace_time=None`: APScheduler's default of 1 s silently drops a run when the event
    loop was busy at that second (docs/reliability.md, case 3); `coalesce` folds missed runs into one.
    """
    jobs = application.job_queue
    assert jobs is not None, "python-telegram-bot[job-queue] is a dependency"
    options = {"misfire_grace_time": None, "coalesce": True, "replace_existing": True}
    at = schedule.time.replace(tzinfo=schedule.timezone)  # a naive time would be read as UTC
    jobs.run_daily(tick, at, name=DAILY_JOB, job_kwargs={**options, "id": DAILY_JOB})
    seconds = schedule.retry.total_seconds()
    jobs.run_repeating(
        tick, seconds, first=seconds, name=RECONCILE_JOB, job_kwargs={**options, "id": RECONCILE_JOB}
    )
    jobs.run_repeating(
        edits_tick, EDITS_EVERY, first=EDITS_EVERY, name=EDITS_JOB, job_kwargs={**options, "id": EDITS_JOB}
    )
    jobs.run_repeating(
        index_tick, INDEX_EVERY, first=INDEX_EVERY, name=INDEX_JOB, job_kwargs={**options, "id": INDEX_JOB}
    )


def next_run(application: Application[Any, Any, Any, Any, Any, Any]) -> dt.datetime | None:
    """When the daily job fires next, for /status."""
    jobs = application.job_queue
    found = jobs.get_jobs_by_name(DAILY_JOB) if jobs is not None else ()
    return found[0].next_t if found else None
