"""The real bot, over HTTP, against the fake Bot API on 127.0.0.1, with a clock the test moves."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from bot.app import build_bot, run_bot
from bot.config import ChannelConfig, Config, PostsConfig, ScheduleConfig, StorageConfig, TelegramConfig
from bot.context import BotApplication, Services
from bot.handlers import help_text
from bot.store import Store
from bot.testing.fakeapi import FakeTelegram
from tests.conftest import EXAMPLE_POSTS, SITE

SHANGHAI = ZoneInfo("Asia/Shanghai")
CHANNEL = "@ai_news_plus"
ADMIN = 4242
READER = 777
# The newest example post is dated 2026-11-29; this is that day in the blog's zone.
TODAY = dt.date(2026, 11, 29)
TODAY_POST = "2026-11-28-a83d7c41-02f5-4e6b-b1c9-7e4a90d2f365.md"  # the example post dated TODAY
# /help as readers get it from the fake server's bot (@ai_news_demo_bot) with site_url SITE.
HELP = help_text("aicode.cc", "ai_news_demo_bot")

JSON = dict[str, Any]


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
        return self.config.posts.dir

    def channel(self) -> list[JSON]:
        return self.server.sent(CHANNEL)

    async def ask(self, text: str, *, user: int = READER, **where: Any) -> list[JSON]:
        """Send `text` as a user and return the bot's answers in that chat (new or edited)."""
        update = self.server.user_message(text, user_id=user, **where)
        return await self.answers(update["message"]["chat"]["id"])

    async def answers(self, chat_id: int, *, count: int = 1, settle: float = 0.15) -> list[JSON]:
        first = len(self.server.requests)

        def found() -> list[JSON]:
            results = []
            for request in self.server.requests[first:]:
                result = request.response.get("result")
                if isinstance(result, dict) and result.get("chat", {}).get("id") == chat_id:
                    results.append(result)
            return results

        await self.server.wait_for(lambda: len(found()) >= count)
        await asyncio.sleep(settle)  # let a second message of the same answer arrive
        return found()

    async def press(self, message: JSON, data: str, *, user: int = READER) -> list[JSON]:
        self.server.press_button(message, data, user_id=user)
        return await self.answers(message["chat"]["id"])

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
) -> AsyncIterator[Bot]:
    """Start the bot like `ai-news-bot run` does (start-up catch-up included); stop it after."""
    store = Store.open(config.storage.database)
    token = config.telegram.token or ""
    application, services = build_bot(
        config, store, token=token, http=http, clock=clock, read_timeout=read_timeout
    )
    waits: list[float] = []

    async def sleep(seconds: float) -> None:  # flood waits are recorded, and pass on the clock at once
        waits.append(seconds)
        clock.now += seconds
        await asyncio.sleep(0.01)

    services.sender.sleep = sleep
    stop = asyncio.Event()
    task = asyncio.create_task(run_bot(application, services, stop))
    bot = Bot(server, config, clock, application, services, store, task, stop, waits)
    try:
        await server.wait_for(lambda: server.polling or task.done(), timeout=10)
        if task.done():
            task.result()
        await asyncio.sleep(0.05)  # the start-up publish check runs right after polling starts
        yield bot
    finally:
        stop.set()
        await task
        bot.services.search.close()
        store.close()


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
