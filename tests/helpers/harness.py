"""The real bot, over HTTP, against the fake Bot API on 127.0.0.1, with a clock the test moves."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import shutil
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import httpx

from bot.app import build_bot, run_bot
from bot.config import ChannelConfig, Config, PostsConfig, ScheduleConfig, StorageConfig, TelegramConfig
from bot.context import BotApplication, Services
from bot.db import BUSY_TIMEOUT
from bot.handlers import help_text
from bot.store import Store
from bot.testing.fakeapi import FakeTelegram, Request
from tests.helpers.paths import EXAMPLE_POSTS, SITE

SHANGHAI = ZoneInfo("Asia/Shanghai")
CHANNEL = "@ai_news_plus"
ADMIN = 4242
READER = 777
# The newest example post is dated 2026-11-29; this is that day in the blog's zone.
TODAY = dt.date(2026, 11, 29)
TODAY_POST = "2026-11-28-a83d7c41-02f5-4e6b-b1c9-7e4a90d2f365.md"  # the example post dated TODAY
# /help as readers get it from the fake server's bot (@ai_news_demo_bot) with site_url SITE.
HELP = help_text("aicode.cc", "ai_news_demo_bot")
# Users who exist only to send `Bot.settled`'s marker: each marker comes from a new one, so the
# pacing of readers (bot/limits.py) never holds a marker back.
MARKER_USERS = itertools.count(9_900_000)

JSON = dict[str, Any]
# Messages a second for the in-process bot: in effect no pacing.
UNPACED = 100_000.0
# For tests that hold the database's write lock past every retry of a write: each try gives up
# after this instead of the bot's BUSY_TIMEOUT (1 s). Same path, a tenth of the wait.
SHORT_BUSY_TIMEOUT = 0.1


def at(hour: int, minute: int = 0, day: dt.date = TODAY) -> float:
    """Unix time of a local (Asia/Shanghai) wall-clock time."""
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=SHANGHAI).timestamp()


@dataclass
class Clock:
    """A clock the test sets; the bot never reads the wall clock for publishing decisions."""

    now: float

    def __call__(self) -> float:
        return self.now


def copy_example_posts(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for path in EXAMPLE_POSTS.glob("*.md"):
        shutil.copy(path, folder / path.name)
    return folder


def daily_post(day: dt.date, title: str, *, body: str = "", cover: str | None = None) -> str:
    """A daily post in the blog's shape."""
    cover_line = f"coverImage: {cover}\n" if cover else ""
    # Long enough, in Chinese, with a section: a real day's shape, which the quality gate passes.
    text = body or "这是当天要闻的详细说明，涵盖背景、进展与影响，供读者参考。" * 6
    return (
        f"---\ntitle: {title}\ndate: {day.isoformat()}\ncategory: AI 日报\ntags: [AI, AI 日报]\n{cover_line}"
        f"summary: |\n  - {title} 的第一条要点\n  - 第二条要点\n---\n\n## 今日要闻\n\n"
        f"### [{title}](https://example.com/{day})\n\n{text}\n"
    )


def make_config(tmp: Path, server: FakeTelegram, **channel: Any) -> Config:
    return Config(
        telegram=TelegramConfig(api_url=server.api_url, admins=(ADMIN,), token=server.token),
        channel=ChannelConfig(chat=CHANNEL, **channel),
        posts=PostsConfig(dir=tmp / "posts", site_url=SITE),
        schedule=ScheduleConfig(timezone=SHANGHAI, time=dt.time(8, 0)),
        storage=StorageConfig(database=tmp / "bot.db"),
    )


@dataclass
class Bot:
    """One running bot process (in this test's event loop)."""

    server: FakeTelegram
    config: Config
    clock: Clock
    application: BotApplication
    services: Services
    store: Store
    task: asyncio.Task[None]
    stop: asyncio.Event
    waits: list[float] = field(default_factory=list)

    @property
    def posts(self) -> Path:
        """The posts folder the bot reads."""
        return self.config.posts.dir

    def channel(self) -> list[JSON]:
        """What the channel holds from the bot now (after edits and deletions)."""
        return self.server.sent(CHANNEL)

    def answered(self, chat_id: int, since: int) -> list[JSON]:
        """The bot's messages in `chat_id` (sent or edited) that the server recorded from request
        number `since` (an index into `server.requests`) on, in order."""
        results = []
        for request in self.server.requests[since:]:
            result = request.response.get("result")
            if isinstance(result, dict) and result.get("chat", {}).get("id") == chat_id:
                results.append(result)
        return results

    async def ask(
        self, text: str, *, user: int = READER, count: int = 1, exactly: bool = False, **where: Any
    ) -> list[JSON]:
        """Send `text` as a user and return the bot's answers in that chat (new or edited) once
        `count` have come; `exactly=True` also checks that no more follow (see `answers`). `where`
        goes to `server.user_message` (chat_id, language_code, ...)."""
        update = self.server.user_message(text, user_id=user, **where)
        return await self.answers(update["message"]["chat"]["id"], count=count, exactly=exactly)

    async def answers(self, chat_id: int, *, count: int = 1, exactly: bool = False) -> list[JSON]:
        """Wait for `count` answers in `chat_id` from now on and return those recorded by then
        (more than `count` if more have already come: a caller that unpacks sees them).

        `exactly=True`: then wait until the bot has handled every update sent so far
        (`settled`), and check that it answered `count` times in the chat, no more.
        """
        first = len(self.server.requests)
        await self.server.wait_for(lambda: len(self.answered(chat_id, first)) >= count)
        if exactly:
            await self.settled()
            found = self.answered(chat_id, first)
            assert len(found) == count, f"{len(found)} answers in chat {chat_id}, expected {count}: {found}"
        return self.answered(chat_id, first)

    async def settled(self) -> None:
        """Return once the bot has handled every update sent to it so far, and sent what they
        called for: a marker /help from a user of its own is sent last and answered.

        PTB handles updates one at a time in order (the bot sets no `concurrent_updates`), so
        once the marker is answered, any answer to an earlier update has been recorded: a test
        can then check that something did NOT happen.
        """
        marker = next(MARKER_USERS)
        first = len(self.server.requests)
        self.server.user_message("/help", user_id=marker)
        await self.server.wait_for(lambda: bool(self.answered(marker, first)))

    async def press(
        self, message: JSON, data: str, *, user: int = READER, language_code: str | None = None
    ) -> list[JSON]:
        """Press a button of `message` as a user (whose app is in `language_code`, if given); the
        bot's answers in that chat (usually the edit)."""
        self.server.press_button(message, data, user_id=user, language_code=language_code)
        return await self.answers(message["chat"]["id"])

    async def inline(
        self, query: str, *, offset: str = "", user: int = READER, language_code: str | None = None
    ) -> Request:
        """Type `@bot query` as a user (scrolled to `offset`, their app in `language_code` if
        given); the bot's answerInlineQuery request."""
        update = self.server.inline_query(query, user_id=user, offset=offset, language_code=language_code)
        query_id = update["inline_query"]["id"]

        def answers() -> list[Request]:
            calls = self.server.calls("answerInlineQuery")
            return [r for r in calls if r.params.get("inline_query_id") == query_id]

        await self.server.wait_for(lambda: bool(answers()))
        (answer,) = answers()
        return answer

    async def job(self, name: str) -> None:
        """Run a scheduled job now, as the JobQueue would at its time."""
        jobs = self.application.job_queue
        assert jobs is not None
        (job,) = jobs.get_jobs_by_name(name)
        await job.run(self.application)


@asynccontextmanager
async def running_bot(
    server: FakeTelegram,
    config: Config,
    clock: Clock,
    *,
    http: httpx.AsyncClient | None = None,
    read_timeout: float = 5.0,
    busy_timeout: float = BUSY_TIMEOUT,
) -> AsyncIterator[Bot]:
    """Start the bot like `ai-news-bot run` does (start-up catch-up included); stop it after.

    `busy_timeout`: how long a write waits for another connection's lock (the bot's own setting
    unless a test says otherwise, see SHORT_BUSY_TIMEOUT).
    """
    # The ledger keeps the test's time too: leases, waits and records follow the clock it moves.
    store = await Store.open(config.storage.database, clock=clock, busy_timeout=busy_timeout)
    token = config.telegram.token or ""
    application, services = build_bot(
        config, store, token=token, http=http, clock=clock, read_timeout=read_timeout
    )
    waits: list[float] = []

    async def sleep(seconds: float) -> None:  # flood waits are recorded, and pass on the clock at once
        waits.append(seconds)
        clock.now += seconds
        await asyncio.sleep(0)  # still a point where other tasks run, as a real wait is

    services.sender.sleep = sleep
    # Telegram's pace (bot/publish.py, SEND_RATE) is the broadcast's business and is measured in
    # real processes (bench/bench_broadcast.py, tests/test_broadcast_crash.py); here answers go at
    # once, so a test that sends a hundred messages does not wait three seconds for them.
    if services.sender.pacer is not None:
        services.sender.pacer.rate = UNPACED
    stop = _Stop(application)
    task = asyncio.create_task(run_bot(application, services, stop))
    bot = Bot(server, config, clock, application, services, store, task, stop, waits)
    try:
        # Started: polling, the start-up publish check and the index sync done (or run_bot ended).
        started = asyncio.create_task(stop.started.wait())
        await asyncio.wait({started, task}, timeout=15, return_when=asyncio.FIRST_COMPLETED)
        started.cancel()
        if task.done():
            task.result()
            raise AssertionError("run_bot returned before it had started")
        assert stop.started.is_set(), "the bot did not finish starting within 15 s"
        yield bot
    finally:
        stop.set()
        await task
        bot.services.search.close()
        await store.close()


class _Stop(asyncio.Event):
    """run_bot's `stop`, which also tells when the bot has finished starting up: run_bot waits on
    it with the application running only after polling started, the start-up publish check ran
    and the search index was synced (before that it waits on it only between tries to reach the
    Bot API, with the application not yet running)."""

    def __init__(self, application: BotApplication) -> None:
        super().__init__()
        self.application = application
        self.started = asyncio.Event()

    async def wait(self) -> Literal[True]:
        if self.application.running:
            self.started.set()
        return await super().wait()


def with_channel(config: Config, **changes: Any) -> Config:
    return replace(config, channel=replace(config.channel, **changes))


Factory = Callable[..., Any]


def midday_zone(now: float) -> ZoneInfo:
    """A fixed-offset IANA zone in which `now` is between 12:00 and 13:00 local time.

    The subprocesses read the wall clock; with [schedule] time 00:00 and a day-long catch-up, the
    day's window is open from the crash until well after the recovering bot's clock (the wall
    clock plus the lease) in this zone, at any hour the tests run.
    """
    offset = 12 - dt.datetime.fromtimestamp(now, dt.UTC).hour  # -11 .. +12 hours from UTC
    return ZoneInfo(f"Etc/GMT{-offset:+d}")  # POSIX sign: Etc/GMT-3 is UTC+3


def midday_config(zone: ZoneInfo, *, posts: str = "posts", storage: str = 'database = "bot.db"') -> str:
    """config.toml for a bot process whose publishing window is open now (`midday_zone`), posting
    to CHANNEL with ADMIN, posts in `posts` and the `[storage]` lines `storage`."""
    return (
        f'[telegram]\nadmins = [{ADMIN}]\n\n[channel]\nchat = "{CHANNEL}"\n\n[posts]\ndir = "{posts}"\n\n'
        f'[schedule]\ntimezone = "{zone.key}"\ntime = "00:00"\ncatch_up_minutes = 1440\n\n'
        f"[storage]\n{storage}\n"
    )


def admin_has_written(server: FakeTelegram) -> None:
    """Telegram lets a bot write only to people who wrote to it first: the admin did, so alerts arrive."""
    server.user_message("hi", user_id=ADMIN)


async def until(predicate: Callable[[], bool | Awaitable[bool]], timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """For state the fake server does not see change (the ledger, the bot's telemetry): look
    again every 20 ms (`predicate` may be async, to read the store). (`server.wait_for` looks
    again only when a request or an update arrives.)"""
    deadline = time.monotonic() + timeout
    while True:
        met = predicate()
        if not isinstance(met, bool):
            met = await met
        if met:
            return
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
