"""The only place that builds the python-telegram-bot Application, and the loop that runs it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx
from telegram import BotCommand, BotCommandScopeChat, BotCommandScopeDefault, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, Forbidden, TelegramError
from telegram.ext import AIORateLimiter, ApplicationBuilder, ContextTypes, Defaults

from bot import handlers, texts
from bot.broadcast import Broadcaster
from bot.config import Config, journal_path, search_index_path
from bot.context import BotApplication, Context, Services
from bot.engines import PostgresEngine
from bot.gitpull import GitPull
from bot.health import (
    API_DOWN_AFTER,
    UPDATES_STALE_AFTER,
    ApiHealth,
    HealthServer,
    Report,
    Telemetry,
    iso,
    judge,
)
from bot.jobs import schedule_jobs
from bot.journal import Journal
from bot.leader import Leadership
from bot.limits import ReaderLimits
from bot.locale import LANGUAGES, Translate, chinese, translator
from bot.polling import Poller
from bot.posts import PostFolder
from bot.publish import (
    CONNECT_TIMEOUT,
    POOL_TIMEOUT,
    READ_TIMEOUT,
    SEND_RATE,
    WRITE_TIMEOUT,
    Delivery,
    Pacer,
    Sender,
    classify,
    describe_error,
)
from bot.searcher import Searcher
from bot.store import PubKey, Store, StoreError
from bot.workflow import Publisher, publication_link, publish_due

logger = logging.getLogger(__name__)

# Long polling holds a request open this long; its read timeout must exceed it.
POLL_TIMEOUT = 30
# What the bot listens for: commands, button presses, and `@bot QUERY` (inline mode, which
# must also be enabled with @BotFather /setinline or Telegram never sends these).
ALLOWED_UPDATES = [
    Update.MESSAGE,
    Update.EDITED_MESSAGE,
    Update.CALLBACK_QUERY,
    Update.INLINE_QUERY,
    Update.MY_CHAT_MEMBER,  # the bot added to or removed from a group or channel
]


class RunError(Exception):
    """The bot cannot start (e.g. a webhook is set); the message says what to do."""


def build_application(
    config: Config, *, token: str, read_timeout: float = READ_TIMEOUT, telemetry: Telemetry | None = None
) -> BotApplication:
    """The PTB Application against `[telegram] api_url`, with our context type and defaults.

    `base_url`/`base_file_url` make a self-hosted Bot API server or the fake one work the same.
    """
    api = config.telegram.api_url
    telemetry = telemetry if telemetry is not None else Telemetry()
    builder = (
        ApplicationBuilder()
        .token(token)
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .defaults(Defaults(parse_mode=ParseMode.HTML, tzinfo=config.schedule.timezone))
        .context_types(ContextTypes(context=Context))
        .request(
            telemetry.request(
                connection_pool_size=8,
                connect_timeout=CONNECT_TIMEOUT,
                read_timeout=read_timeout,
                write_timeout=WRITE_TIMEOUT,
                pool_timeout=POOL_TIMEOUT,
            )
        )
        .get_updates_request(telemetry.request(read_timeout=POLL_TIMEOUT + 10, connect_timeout=10))
        # Paces 30 messages/s overall and 20/min per group or channel (docs/telegram.md, "Rate
        # limits"). No retries here: our Sender waits out RetryAfter itself, so it can tell what was
        # delivered.
        .rate_limiter(AIORateLimiter(max_retries=0))
    )
    application: BotApplication = builder.build()
    return application


def build_bot(
    config: Config,
    store: Store,
    *,
    token: str,
    http: httpx.AsyncClient | None,
    clock: Callable[[], float] = time.time,
    read_timeout: float = READ_TIMEOUT,
) -> tuple[BotApplication, Services]:
    """The Application and the services wired into it, sharing one `Telemetry` (the requests
    feed the metrics the services report)."""
    telemetry = Telemetry(api=ApiHealth(clock=clock))
    application = build_application(config, token=token, read_timeout=read_timeout, telemetry=telemetry)
    services = build_services(application, config, store, http=http, clock=clock, telemetry=telemetry)
    return application, services


def build_services(
    application: BotApplication,
    config: Config,
    store: Store,
    *,
    http: httpx.AsyncClient | None,
    clock: Callable[[], float] = time.time,
    telemetry: Telemetry | None = None,
) -> Services:
    """Wire the services into the application: handlers, jobs, and `context.services`.

    `telemetry`: the one given to `build_application`, so the requests and the services feed
    the same metrics.
    """
    telemetry = telemetry if telemetry is not None else Telemetry()
    # One pace for everything the bot sends: readers' answers and the broadcast's copies share it.
    pacer = Pacer(SEND_RATE)
    sender = Sender(application.bot, store, http=http, clock=clock, pacer=pacer)
    # Which process holds a claim: host and pid for people reading the ledger, and a token of this
    # start, since a container restarted in place is the same host with the same pid (1), and must
    # not take the dead process's claims for its own.
    owner = f"{secrets.token_hex(3)}@{socket.gethostname()}:{os.getpid()}"
    publisher = Publisher(
        sender, store, config, owner=owner, journal=Journal(journal_path(config)), metrics=telemetry.metrics
    )
    broadcast_sender = Sender(application.bot, store, http=http, clock=clock, flood_retries=0, pacer=pacer)
    services = Services(
        config=config,
        store=store,
        posts=PostFolder(config.posts.dir, site_url=config.posts.site_url),
        sender=sender,
        publisher=publisher,
        search=Searcher(
            search_index_path(config),
            config.posts.dir,
            site_url=config.posts.site_url,
            synonyms=config.search_synonyms,
        ),
        limits=ReaderLimits(store),
        telemetry=telemetry,
        clock=clock,
        missing_since={},
        pull=GitPull(config.posts.dir) if config.posts.pull == "git" else None,
    )
    # Its own Sender: a flood wait pauses the whole broadcast instead of one worker waiting in place.
    services.broadcaster = Broadcaster(services, broadcast_sender, owner=owner)
    application.bot_data["services"] = services
    handlers.register(application, config.telegram.admins)
    schedule_jobs(application, config.schedule)
    return services


def _commands(names: dict[str, str], tr: Translate) -> list[BotCommand]:
    return [BotCommand(name, tr(description)) for name, description in names.items()]


async def set_commands(application: BotApplication, config: Config) -> None:
    """Reader commands for everyone; admins see theirs too in their private chat (cosmetic only).

    Each menu in Chinese for everyone (no language_code) and once more per catalogue (bot/locale)
    for users whose Telegram is in that language: Telegram picks the list by scope, then language.
    """
    bot = application.bot
    menus: list[tuple[str | None, Translate]] = [(None, chinese)]
    menus += [(language, translator(language)) for language in LANGUAGES]
    for language, tr in menus:
        readers = _commands(texts.READER_COMMANDS, tr)
        await bot.set_my_commands(readers, scope=BotCommandScopeDefault(), language_code=language)
    for admin in config.telegram.admins:
        for language, tr in menus:
            everything = _commands(texts.READER_COMMANDS, tr) + _commands(texts.ADMIN_COMMANDS, tr)
            scope = BotCommandScopeChat(admin)
            try:
                await bot.set_my_commands(everything, scope=scope, language_code=language)
            except (BadRequest, Forbidden) as exc:
                # Telegram knows an admin's chat only after they have written to the bot.
                logger.warning("admin %s: command menu not set (%s); send the bot /start once", admin, exc)
                break


def log_post_problems(services: Services) -> None:
    """Name every post file the bot skips, once at start-up; the rest still load.

    `ai-news-bot check` lists the same problems, warnings included; /status counts the files
    (docs/reliability.md, case 27).
    """
    for problem in services.library().errors:
        logger.warning("post file skipped: %s", problem)


# After this long without a 409, a new Conflict is a new incident and the admins hear of it again.
CONFLICT_QUIET_SECONDS = 3600.0


class PollingErrors:
    """The poller's `on_error`: each error logged in one line; a 409 Conflict alerts the admins.

    Telegram answers 409 to `getUpdates` when another process polls with the same token (or a
    webhook was set meanwhile): the two take turns and each loses updates (docs/reliability.md,
    case 6). The admins are told once per incident, not on every poll; the publish claim still
    allows one post. With leader election a 409 means something outside it polls (an old
    version, a script with the same token). It is called synchronously, so the alert runs as a
    task.
    """

    def __init__(self, services: Services, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.services = services
        self.monotonic = monotonic
        self.conflicts = 0
        self._last_conflict: float | None = None
        self._alerts: set[asyncio.Task[None]] = set()

    def __call__(self, exc: TelegramError) -> None:
        if not isinstance(exc, Conflict):
            logger.error("polling for updates failed: %s", describe_error(exc))
            return
        self.conflicts += 1
        now = self.monotonic()
        new_incident = self._last_conflict is None or now - self._last_conflict > CONFLICT_QUIET_SECONDS
        self._last_conflict = now
        if not new_incident:
            logger.debug("polling conflict again (%d so far): %s", self.conflicts, exc)
            return
        logger.error(
            "polling conflict: %s. Another process is polling with this token (or a webhook was set); "
            "run only one instance",
            exc,
        )
        task = asyncio.get_running_loop().create_task(
            self._alert(texts.ALERT_POLL_CONFLICT.format(detail=exc))
        )
        self._alerts.add(task)
        task.add_done_callback(self._alerts.discard)

    async def _alert(self, text: str) -> None:
        try:
            await self.services.publisher.alert(text)
        except Exception:  # a background task: nothing above it would see the error
            logger.exception("could not alert the admins about the polling conflict")

    async def drain(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Let alerts in flight finish before the bot's HTTP client closes; cancel stragglers."""
        if not self._alerts:
            return
        _, pending = await asyncio.wait(set(self._alerts), timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


async def run_bot(
    application: BotApplication,
    services: Services,
    stop: asyncio.Event,
    *,
    ready: Callable[[], None] | None = None,
) -> None:
    """Serve until `stop` is set: start-up catch-up first, then the jobs and handlers.

    Updates come by webhook, or by polling: at once with SQLite, and with PostgreSQL only while
    this instance is the elected leader (bot/leader.py). `ready` is called once the token was
    accepted and updates can arrive (or, for a follower, the election runs).
    """
    webhook = services.config.webhook
    if not await _reach_bot_api(application, services.config.telegram.api_url, stop):
        return
    async with application:  # already initialised: getMe answered, the token is accepted
        # Search ready before the first update: the index synced if little changed, else the
        # scan's texts made (a few seconds for thousands of posts) and the index built in the
        # background while the scan answers. A cache: no failure here may stop the bot.
        try:
            await services.search.start(services.library())
        except Exception:
            logger.exception("search index not started; searches scan the posts, the index job tries again")
        updater = application.updater
        assert updater is not None
        polling_errors = PollingErrors(services)
        if webhook.url:
            await set_commands(application, services.config)
            # PTB's server refuses (403) a request whose X-Telegram-Bot-Api-Secret-Token header
            # is not the secret, or that is not JSON (docs/reliability.md, case 25). setWebhook is
            # idempotent: every instance sets the same URL and secret; pending updates are never
            # dropped.
            await updater.start_webhook(
                listen=webhook.listen,
                port=webhook.port,
                url_path=webhook.path,
                webhook_url=webhook.url,
                secret_token=webhook.secret,
                allowed_updates=ALLOWED_UPDATES,
                drop_pending_updates=False,
            )
        else:
            info = await application.bot.get_webhook_info()
            if info.url:
                # Polling would take the bot off its webhook, or fail with 409 for ever.
                raise RunError(f"a webhook is set ({info.url}); remove it first, or configure [webhook] url")
            await set_commands(application, services.config)
        await application.start()
        poller = Poller(
            application,
            timeout=POLL_TIMEOUT,
            allowed_updates=ALLOWED_UPDATES,
            on_error=polling_errors,
            handled=services.store.handled,
        )
        polling = not webhook.url
        election: asyncio.Task[None] | None = None
        engine = services.store.engine
        if isinstance(engine, PostgresEngine):
            # Several instances may share this database: only the elected primary polls (Telegram
            # answers a second poller with 409) and follows edits; the others serve jobs (and,
            # behind a webhook, updates) and take over when it is gone.
            services.primary = False

            async def lead() -> None:
                services.primary = True
                if polling:
                    poller.start()

            async def follow(orderly: bool) -> None:
                services.primary = False
                await poller.stop(confirm=orderly)

            election = asyncio.create_task(Leadership(engine).run(lead, follow, stop), name="election")
        elif polling:
            poller.start()
        health = await _start_health(services)
        if ready is not None:
            ready()
        try:
            log_post_problems(services)
            # Started after the publish time (restart, crash, deploy): catch up now. Nothing that
            # goes wrong here may stop the bot: the reconcile job tries again in a few minutes.
            try:
                await publish_due(services, services.now())
            except Exception:
                logger.exception("the start-up publish check failed; the reconcile job tries again")
            await stop.wait()
        finally:
            if services.broadcaster is not None:
                await services.broadcaster.stop()
            if health is not None:
                await health.stop()
            if election is not None:
                await election
            await poller.stop()
            if updater.running:
                await updater.stop()
            await polling_errors.drain()
            await application.stop()


async def _start_health(services: Services) -> HealthServer | None:
    """The /healthz and /metrics server, when `[health] port` is set."""
    health = services.config.health
    if health.port is None:
        return None
    server = HealthServer(
        lambda: health_report(services), services.telemetry.metrics, lambda: count_posts(services)
    )
    server.start(health.listen, health.port)
    return server


async def health_report(services: Services) -> Report:
    """/healthz: the facts, and whether they add up to healthy (bot.health.judge)."""
    zone = services.config.schedule.timezone
    api = services.telemetry.api
    today = services.today()
    chat = str(services.config.channel.chat)
    try:
        row = await services.store.get(PubKey(chat, today))
        last = await services.store.last_sent(chat)
    except StoreError:
        row = last = None
    writable = await services.store.writable()
    polling = not services.config.webhook.url
    receiving = (
        api.last_updates is not None and services.clock() - api.last_updates < UPDATES_STALE_AFTER
        if polling
        else api.down_for() <= API_DOWN_AFTER
    )
    published = None
    if last is not None:
        published = {
            "day": last.key.day.isoformat(),
            "link": publication_link(last),
            "at": iso(last.updated_at, zone),
        }
    facts = {
        "receiving_updates": receiving,
        "database_writable": writable,
        "today": {"day": today.isoformat(), "state": row.status if row is not None else "none"},
        "last_publication": published,
        "bot_api_last_answer": iso(api.last_answer, zone),
    }
    return judge(
        api_down_for=api.down_for(),
        database_writable=writable,
        today_state=row.status if row is not None else None,
        facts=facts,
    )


def count_posts(services: Services) -> None:
    """The posts gauges, read when /metrics is scraped."""
    library = services.library()
    metrics = services.telemetry.metrics
    metrics.posts.labels("loaded").set(len(library.posts))
    metrics.posts.labels("broken").set(len({problem.path for problem in library.errors}))


# Waits between tries to reach the Bot API at start-up: doubling from the first to the last.
START_RETRY_FIRST, START_RETRY_MAX = 1.0, 60.0


async def _reach_bot_api(application: BotApplication, api_url: str, stop: asyncio.Event) -> bool:
    """Initialise (getMe) until the Bot API answers; False if stopped while waiting.

    A unit started at boot before the network is up, or while Telegram is unreachable, waits with
    backoff instead of exiting (systemd would give up on a fast crash loop). A rejected token, or
    any other refusal, is final and raised at once.
    """
    wait = START_RETRY_FIRST
    attempt = 1
    while True:
        try:
            await application.initialize()
        except TelegramError as exc:
            if classify(exc) not in (Delivery.NOT_SENT, Delivery.AMBIGUOUS) or isinstance(exc, Conflict):
                raise
            logger.warning(
                "the Bot API at %s cannot be reached (attempt %d: %s); trying again in %.0f s",
                *(api_url, attempt, describe_error(exc), wait),
            )
        else:
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait)
        if stop.is_set():
            return False
        wait = min(wait * 2, START_RETRY_MAX)
        attempt += 1


def demo_config(config: Config, *, api_url: str, admins: tuple[int, ...], database: Any) -> Config:
    """`config` pointed at a local API server and a scratch database (for `ai-news-bot demo`)."""
    return replace(
        config,
        telegram=replace(config.telegram, api_url=api_url, admins=admins),
        storage=replace(config.storage, database=database),
    )
