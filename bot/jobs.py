"""The JobQueue jobs: the daily run at the publish time, the reconcile run, following edits,
watching leases, the subscribers' broadcast, and keeping the search index and the database tidy.

Each is a thin shell over `bot.workflow` or the store, which are idempotent: every instance
sharing a database runs all of them, and extra runs are harmless.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from telegram.ext import Application

from bot.config import ScheduleConfig
from bot.context import BotApplication, Context
from bot.store import StoreError
from bot.workflow import follow_edits, publish_due, refresh_posts

logger = logging.getLogger(__name__)


async def edits_tick(context: Context) -> None:
    """Edits of the published post, followed by the primary instance only: instances whose posts
    folders are not in step would otherwise undo each other's edits."""
    services = context.services
    if services.primary:
        await refresh_posts(services)  # the blog's latest (at most one git pull a minute)
        await follow_edits(services)


async def index_tick(context: Context) -> None:
    """Keep the search index in step with the posts folder (searches scan until it is)."""
    services = context.services
    await services.search.sync(services.library())


async def lease_tick(context: Context) -> None:
    """A sender that died mid-send (on any instance) has its claim expired and the admins told."""
    await context.services.publisher.settle()


async def broadcast_tick(context: Context) -> None:
    """Subscribers' copies of the day's post, sent by the primary alone: the broadcast's pace is the
    bot's, and two instances sending at once would double it."""
    services = context.services
    if services.primary and services.broadcaster is not None:
        await services.broadcaster.tick()


async def prune_tick(context: Context) -> None:
    try:
        await context.services.store.prune()
    except StoreError as exc:
        logger.warning("pruning the database failed: %s", exc)


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
LEASE_JOB = "leases"
# Seconds: with workflow.LEASE_SECONDS, a dead sender's day is `unknown`, and the admins told, within
# LEASE_SECONDS + LEASE_WATCH_SECONDS (and one alert's send) of its death.
LEASE_WATCH_SECONDS = 15.0
BROADCAST_JOB = "broadcast"
BROADCAST_EVERY = 10.0  # seconds: subscribers get the post this soon after the channel
PRUNE_JOB = "prune"
PRUNE_EVERY = 3600.0


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
    jobs.run_repeating(
        lease_tick,
        LEASE_WATCH_SECONDS,
        first=LEASE_WATCH_SECONDS,
        name=LEASE_JOB,
        job_kwargs={**options, "id": LEASE_JOB},
    )
    jobs.run_repeating(
        broadcast_tick,
        BROADCAST_EVERY,
        first=BROADCAST_EVERY,
        name=BROADCAST_JOB,
        job_kwargs={**options, "id": BROADCAST_JOB},
    )
    jobs.run_repeating(
        prune_tick, PRUNE_EVERY, first=60, name=PRUNE_JOB, job_kwargs={**options, "id": PRUNE_JOB}
    )


def next_run(application: Application[Any, Any, Any, Any, Any, Any]) -> dt.datetime | None:
    """When the daily job fires next, for /status."""
    jobs = application.job_queue
    found = jobs.get_jobs_by_name(DAILY_JOB) if jobs is not None else ()
    return found[0].next_t if found else None
