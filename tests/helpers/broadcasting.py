"""The subscribers' broadcast from a real `ai-news-bot run` process against the fake Bot API with
Telegram's flood limits on: the site (config, today's post, subscriptions written straight into
the SQLite database), the process (started, SIGKILLed, its stderr kept), and what the fake server
saw, per subscriber and timed. Shared by tests/test_broadcast_crash.py and bench/bench_broadcast.py.

The process reads the wall clock, so the site's [schedule] uses `midday_zone`: time 00:00 with a
day-long catch-up, in a zone where it is midday now. The post is dated today in that zone; the
bot publishes it to the channel as it starts (catch-up) and its `broadcast` job (every 10 s, the
first 10 s after the start) then sends the subscribers' copies.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.store import Delivery, Store
from bot.testing.fakeapi import FakeTelegram, JSONDict, RequestPhase
from tests.helpers.harness import ADMIN, daily_post, midday_config, midday_zone
from tests.helpers.processes import environment, start

# Subscriber n (0-based) is the user, and private chat, SUBSCRIBER_BASE + n; readers asking /today
# are other users, from READER_BASE on.
SUBSCRIBER_BASE = 5_000_000
READER_BASE = 8_000_000
SENDS = frozenset({"sendMessage", "sendPhoto"})
DATABASE = "bot.db"


@dataclass(frozen=True, slots=True)
class Site:
    """A folder with config.toml, posts/ (today's post) and the database with the subscriptions."""

    root: Path
    day: dt.date
    subscribers: tuple[int, ...]
    env: dict[str, str]

    @property
    def database(self) -> Path:
        return self.root / DATABASE


async def prepare(server: FakeTelegram, root: Path, subscribers: int) -> Site:
    """`subscribers` private chats subscribed to every day's post (written with `Store.subscribe`
    before the bot starts) and known to the fake server as users who started the bot; today's
    post; flood control on."""
    zone = midday_zone(time.time())
    day = dt.datetime.now(zone).date()
    (root / "posts").mkdir(parents=True)
    (root / "posts" / f"{day}-daily.md").write_text(daily_post(day, "广播测试日报"), encoding="utf-8")
    config = midday_config(zone, storage=f'database = "{DATABASE}"')
    (root / "config.toml").write_text(config, encoding="utf-8")
    ids = tuple(SUBSCRIBER_BASE + n for n in range(subscribers))
    store = await Store.open(root / DATABASE)
    try:
        for chat_id in ids:
            await store.subscribe(chat_id, 0, topics=(), language="zh", by=chat_id)
    finally:
        await store.close()
    server.start_users(ids)
    server.start_users([ADMIN])  # the admins' alerts can arrive (none expected)
    server.flood_control = True
    return Site(root, day, ids, environment(server, token=server.token))


@dataclass
class BotProcess:
    """One `ai-news-bot run` in the site's folder, its stderr collected as it writes it."""

    process: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)
    _reader: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind in the bot."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)

    async def wait(self) -> int:
        code = await self.process.wait()
        if self._reader is not None:
            await self._reader
        return code

    async def terminate(self, within: float = 15.0) -> None:
        """SIGTERM (a clean stop), then SIGKILL if it has not exited `within` seconds later."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), within)
            except TimeoutError:
                self.kill()
        await self.wait()

    def log(self) -> str:
        return f"--- ai-news-bot run (pid {self.pid}, exit {self.process.returncode}):\n" + "\n".join(
            self.lines
        )

    async def _collect(self) -> None:
        assert self.process.stderr is not None
        async for line in self.process.stderr:
            self.lines.append(line.decode(errors="replace").rstrip("\n"))


# `python -m bot` with the broadcast's rate replaced (the bot has no setting for it): an experiment.
WITH_RATE = (
    "import sys, bot.publish as p; p.SEND_RATE = float(sys.argv.pop(1)); "
    "import bot.app as a; a.SEND_RATE = p.SEND_RATE; "
    "from bot.cli import main_exit; main_exit()"
)


async def start_bot(site: Site, *, rate: float | None = None) -> BotProcess:
    """`ai-news-bot run --config config.toml` in the site's folder; `rate`: the broadcast's messages a
    second instead of bot.publish.SEND_RATE (for measuring what another rate would do)."""
    args = ("run", "--config", "config.toml")
    if rate is None:
        process = await start(*args, cwd=site.root, env=site.env)
    else:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            WITH_RATE,
            str(rate),
            *args,
            cwd=site.root,
            env=site.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    bot = BotProcess(process)
    bot._reader = asyncio.create_task(bot._collect())
    # stdout is not read: `run` prints nothing there, and an unread pipe must not fill.
    return bot


@dataclass
class Sent:
    """One message the fake server took from the bot (HTTP 200): when (time.monotonic() as the
    server executed it), where, and the index of its request in `server.requests`."""

    at: float
    chat_id: int
    index: int


class Watch:
    """The fake server's `on_request` hook: every message the bot sent, timed; and `on_copy`,
    called with the number of subscribers' copies so far after each one (e.g. to kill the bot)."""

    def __init__(self, server: FakeTelegram, subscribers: Sequence[int]) -> None:
        self.server = server
        self.subscribers = frozenset(subscribers)
        self.sent: list[Sent] = []
        self.by_chat: dict[int, list[float]] = {}  # chat id -> when each of its messages was sent
        self.flood_waits: list[Sent] = []  # the sends answered 429 (flood control), timed likewise
        self.copies = 0
        self.on_copy: Callable[[int], None] | None = None
        self._executed: dict[int, tuple[float, int]] = {}
        server.on_request = self

    def __call__(self, method: str, params: JSONDict, phase: RequestPhase) -> bool:
        if method not in SENDS:
            return True
        if phase == "executed":
            # The request is recorded right after this, before any other call is served.
            self._executed[id(params)] = (time.monotonic(), len(self.server.requests))
        elif phase == "answered":
            at, index = self._executed.pop(id(params), (0.0, -1))
            if index < 0 or index >= len(self.server.requests):
                return True
            request = self.server.requests[index]
            if request.params is not params:
                return True
            if request.status == 429:
                chat = params.get("chat_id")
                self.flood_waits.append(Sent(at, chat if isinstance(chat, int) else 0, index))
            if request.status != 200:
                return True
            chat_id = int(request.response["result"]["chat"]["id"])
            self.sent.append(Sent(at, chat_id, index))
            self.by_chat.setdefault(chat_id, []).append(at)
            if chat_id in self.subscribers:
                self.copies += 1
                if self.on_copy is not None:
                    self.on_copy(self.copies)
        return True

    def per_subscriber(self) -> Counter[int]:
        """Messages each subscriber received (every subscriber present, 0 included)."""
        counts: Counter[int] = Counter(dict.fromkeys(self.subscribers, 0))
        for sent in self.sent:
            if sent.chat_id in self.subscribers:
                counts[sent.chat_id] += 1
        return counts

    def copy_times(self) -> list[float]:
        return [sent.at for sent in self.sent if sent.chat_id in self.subscribers]


async def settled(site: Site, *, timeout: float, process: BotProcess | None = None) -> list[Delivery]:  # noqa: ASYNC109
    """Wait (real time) until every delivery of the day is planned and none is `pending` or
    `claimed`; the deliveries then. TimeoutError, with the counts and the bot's log, otherwise."""
    deadline = time.monotonic() + timeout
    store = await Store.open(site.database)
    try:
        while True:
            counts = await store.delivery_counts(site.day)
            planned = sum(counts.values())
            if planned >= len(site.subscribers) and not counts.get("pending") and not counts.get("claimed"):
                return await store.deliveries(site.day)
            if time.monotonic() > deadline:
                log = process.log() if process is not None else ""
                raise TimeoutError(f"deliveries not settled within {timeout:.0f} s: {counts}\n{log}")
            await asyncio.sleep(0.5)
    finally:
        await store.close()


async def delivery_states(site: Site) -> dict[int, str]:
    """Each subscriber's delivery state for the day (chat id -> status), from the database."""
    store = await Store.open(site.database)
    try:
        return {d.chat_id: d.status for d in await store.deliveries(site.day)}
    finally:
        await store.close()
