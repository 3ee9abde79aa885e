"""Benchmark: CPU per answered update, our bot against a minimal python-telegram-bot echo bot.

Two kinds of real processes, each against a fake Bot API server of its own
(bot/testing/fakeapi.py, served by this script on 127.0.0.1, no flood control):

* the floor: a minimal PTB echo bot (``Application.run_polling``, one ``MessageHandler`` that
  replies with the message's text; no rate limiter, no persistence, no logging set up);
* ours: ``ai-news-bot run`` (``python -m bot run --config config.toml``, INFO logging as
  deployed) on an SQLite store in a scratch folder, the posts folder a copy of the real corpus
  (``../shared/corpus/posts`` beside the repository, or ``$AI_NEWS_BOT_CORPUS/posts``; the
  script says so and exits when it is absent) in the scratch folder.

/today is measured as a reader meets it on a normal day: the day's post is out, and /today
answers with it (one message). The corpus ends on some past day, so the copy has its newest
daily post dated today (its ``date:`` line rewritten; nothing else changes, the original is
never touched), and the bot runs in a zone where it is midday now with the publish time 00:00
(the tests' ``midday_config``): on start-up it publishes today's post to the channel, as it would
have that morning, and the script waits for that before measuring. The bot reads the real
clock, with no hook for the benchmark (a faked clock, e.g. libfaketime, would also move the
timestamps of the store, the fake server and the CPU readings).

Each measurement sends ``--updates`` updates (default 200), each from a reader never seen before
(a user id of its own: the readers' budgets of bot/limits.py never hold one back), at a steady
``--rate`` (default 10 a second, below what either bot answers: our bot paces what it sends at
29 messages a second, bot/publish.py), as readers' questions arrive; ``--burst`` sends them all
at once instead (the echo bot then answers in a tight loop while ours keeps its pace, and a
process that runs without pause spends less CPU per request than one that wakes for each, so
the floor is lower). It waits until every one is answered (the bot's messages in that chat
reach the number a warm-up question of the same kind got). The process's CPU time (user +
system, all threads, from /proc/<pid>/stat) is read just before the first update is sent and
again when the last answer reached the server: start-up is not counted, steady-state answers
are. Before measuring, our bot has built its search index (its "search index:" log line, then
the process idle) and answered one warm-up question of each kind.

Measured: the echo floor, ``/today`` and ``/search 融资`` (the search index), and with
``--scan`` also ``/search 融资`` by a third bot process whose index cannot be opened (its file
is a folder), so searches take the scan engine (bot/search.py). The kinds take turns within a
round, in a rotated order each round (``--rounds``, default 3), so the machine's other load falls
on all of them alike; the ratio is ours / echo of the same round, the median over rounds. Goals
(the issue): ``/today`` <= 1.5x the floor, ``/search 融资`` <= 2x, each printed with PASS/FAIL
(the script always exits 0; it is a report).

Run from the repository root (about 3.5 minutes with the defaults, 5 with --scan)::

    PYTHONPATH=. .venv/bin/python bench/bench_updates.py
    PYTHONPATH=. .venv/bin/python bench/bench_updates.py --updates 300 --rounds 5 --scan
    PYTHONPATH=. .venv/bin/python bench/bench_updates.py --burst --updates 500
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
# `python bench/bench_updates.py` puts bench/, not the repository, on the path.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bot.testing.fakeapi import FakeTelegram, JSONDict, RequestPhase  # noqa: E402
from tests.helpers.broadcasting import BotProcess  # noqa: E402
from tests.helpers.harness import CHANNEL, midday_config, midday_zone  # noqa: E402
from tests.helpers.processes import environment, start  # noqa: E402

CORPUS = Path(os.environ.get("AI_NEWS_BOT_CORPUS", REPO.parent / "shared" / "corpus")) / "posts"
GOALS = {"/today": 1.5, "/search 融资": 2.0}
STARTUP_WITHIN = 120.0  # seconds: our bot's start-up builds the search index of the corpus
QUIET = 1.0  # seconds without a new message before a warm-up answer counts as complete
SENDS = frozenset({"sendMessage", "sendPhoto"})
READERS = itertools.count(20_000_000)  # every update comes from a reader of its own

# The floor: the smallest useful PTB bot, as python-telegram-bot's examples/echobot.py.
ECHO_BOT = """
import os
from telegram.ext import Application, MessageHandler, filters

async def echo(update, context):
    await update.message.reply_text(update.message.text)

api = os.environ["BENCH_API_URL"]
application = (
    Application.builder().token(os.environ["BENCH_TOKEN"])
    .base_url(api + "/bot").base_file_url(api + "/file/bot").build()
)
application.add_handler(MessageHandler(filters.TEXT, echo))
application.run_polling()
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, all its threads, in seconds (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command's closing parenthesis: state is field 3, utime 14, stime 15 (man 5 proc).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Answers:
    """The server's `on_request` hook: messages the bot sent, counted per chat."""

    def __init__(self, server: FakeTelegram) -> None:
        self.server = server
        self.per_chat: dict[int, int] = {}
        self.last_at = time.monotonic()
        server.on_request = self

    def __call__(self, method: str, params: JSONDict, phase: RequestPhase) -> bool:
        if phase == "executed" and method in SENDS:
            chat = params.get("chat_id")
            if isinstance(chat, int):
                self.per_chat[chat] = self.per_chat.get(chat, 0) + 1
                self.last_at = time.monotonic()
        return True

    def complete(self, chats: Sequence[int], messages: int) -> int:
        return sum(1 for chat in chats if self.per_chat.get(chat, 0) >= messages)


@dataclass
class Subject:
    """One bot process, its fake server, and what each kind of question costs it in messages."""

    name: str
    server: FakeTelegram
    process: BotProcess
    answers: Answers
    messages: dict[str, int] = field(default_factory=dict)

    def alive(self) -> None:
        if self.process.process.returncode is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.process.process.returncode}\n{self.process.log()}"
            )

    async def until(self, predicate: object, timeout: float, what: str) -> None:  # noqa: ASYNC109
        assert callable(predicate)
        deadline = time.monotonic() + timeout
        while not predicate():
            self.alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: {what} not within {timeout:.0f} s\n{self.process.log()}")
            await asyncio.sleep(0.02)

    async def idle(self, timeout: float = 60.0, below: float = 0.03) -> None:  # noqa: ASYNC109
        """Wait until the process spends less than `below` s of CPU in 0.5 s."""
        deadline = time.monotonic() + timeout
        before = cpu_seconds(self.process.pid)
        while True:
            await asyncio.sleep(0.5)
            self.alive()
            now = cpu_seconds(self.process.pid)
            if now - before < below or time.monotonic() > deadline:
                return
            before = now

    async def warm_up(self, text: str) -> int:
        """Ask once (a new reader); the number of messages the answer took."""
        user = next(READERS)
        self.server.user_message(text, user_id=user, first_name="读者")
        await self.until(lambda: self.answers.per_chat.get(user, 0) > 0, 30.0, f"the answer to {text}")
        await self.until(lambda: time.monotonic() - self.answers.last_at >= QUIET, 30.0, "quiet")
        self.messages[text] = self.answers.per_chat[user]
        return self.messages[text]

    async def measure(self, text: str, updates: int, rate: float | None) -> float:
        """CPU seconds per update for `updates` questions `text` from as many new readers, `rate`
        a second (None: all at once)."""
        messages = self.messages[text]
        users = [next(READERS) for _ in range(updates)]
        await self.idle(timeout=10.0)
        before = cpu_seconds(self.process.pid)
        started = time.monotonic()
        for n, user in enumerate(users):
            if rate is not None:
                await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
            self.server.user_message(text, user_id=user, first_name="读者")
        budget = 30.0 + 3.0 * updates * messages / 29.0
        await self.until(lambda: self.answers.complete(users, messages) == len(users), budget, text)
        return (cpu_seconds(self.process.pid) - before) / updates


async def start_echo(server: FakeTelegram) -> Subject:
    env = environment() | {"BENCH_API_URL": server.api_url, "BENCH_TOKEN": server.token}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        ECHO_BOT,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    return await _started("echo", server, process, index=False)


_DAILY = re.compile(r"^category:\s*[\"']?AI 日报[\"']?\s*$", re.MULTILINE)
_DATE = re.compile(r"^date:\s*[\"']?(\d{4}-\d{2}-\d{2})[\"']?\s*$", re.MULTILINE)


def posts_of_today(folder: Path, today: dt.date) -> Path:
    """A copy of the corpus in `folder` whose newest daily post is dated `today` (its `date:`
    line rewritten); the name of that post's file, as copied."""
    shutil.copytree(CORPUS, folder)
    daily: list[tuple[str, Path]] = []
    for path in folder.glob("*.md"):
        text = path.read_text(encoding="utf-8", errors="replace")
        front = text.split("\n---", 1)[0]
        if _DAILY.search(front) and (date := _DATE.search(front)):
            daily.append((date.group(1), path))
    _, newest = max(daily)
    text = newest.read_text(encoding="utf-8")
    newest.write_text(_DATE.sub(f"date: {today.isoformat()}", text, count=1), encoding="utf-8")
    return newest


async def start_ours(server: FakeTelegram, root: Path, posts: Path, zone: ZoneInfo, *, scan: bool) -> Subject:
    """`ai-news-bot run` in `root`: SQLite, `posts` as its posts folder, the publishing window of
    today open in `zone` (today's post goes out on start-up); with `scan`, an index file it cannot
    open (a folder in its place), so searches scan the posts."""
    root.mkdir(parents=True)  # noqa: ASYNC240 - set-up, before anything runs
    (root / "config.toml").write_text(midday_config(zone, posts=str(posts)), encoding="utf-8")
    if scan:
        (root / "bot.search.db").mkdir()
    process = await start(
        "run", "--config", "config.toml", cwd=root, env=environment(server, token=server.token)
    )
    return await _started("ours (scan)" if scan else "ours", server, process, index=not scan, published=True)


async def _started(
    name: str,
    server: FakeTelegram,
    process: asyncio.subprocess.Process,
    *,
    index: bool,
    published: bool = False,
) -> Subject:
    bot = BotProcess(process)
    bot._reader = asyncio.create_task(bot._collect())
    subject = Subject(name, server, bot, Answers(server))
    await subject.until(lambda: server.polling, STARTUP_WITHIN, "polling")
    if index:
        await subject.until(
            lambda: any("search index" in line for line in bot.lines), STARTUP_WITHIN, "the search index"
        )
    if published:
        await subject.until(lambda: bool(server.sent(CHANNEL)), STARTUP_WITHIN, "today's post in the channel")
    await subject.idle()
    print(f"  {name}: pid {process.pid}, ready", flush=True)
    return subject


@dataclass
class Kind:
    label: str  # as printed
    subject: Subject
    text: str
    goal: float | None = None
    per_update: list[float] = field(default_factory=list)  # CPU seconds, one per round


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


async def run(args: argparse.Namespace) -> None:
    rate = None if args.burst else args.rate
    async with contextlib.AsyncExitStack() as stack:
        with tempfile.TemporaryDirectory(prefix="bench-updates-") as scratch:
            subjects: list[Subject] = []
            try:
                servers = [
                    await stack.enter_async_context(FakeTelegram()) for _ in range(3 if args.scan else 2)
                ]
                zone = midday_zone(time.time())
                today = dt.datetime.now(zone).date()
                posts = Path(scratch) / "posts"
                dated = posts_of_today(posts, today)
                print(f"  today {today} in {zone.key}: {dated.name} is dated so in the copy", flush=True)
                echo = await start_echo(servers[0])
                subjects.append(echo)
                ours = await start_ours(servers[1], Path(scratch) / "ours", posts, zone, scan=False)
                subjects.append(ours)
                kinds = [
                    Kind("echo (floor)", echo, "/search 融资"),
                    Kind("/today", ours, "/today", GOALS["/today"]),
                    Kind("/search 融资", ours, "/search 融资", GOALS["/search 融资"]),
                ]
                if args.scan:
                    scanning = await start_ours(servers[2], Path(scratch) / "scan", posts, zone, scan=True)
                    subjects.append(scanning)
                    kinds.append(
                        Kind("/search 融资 (scan engine)", scanning, "/search 融资", GOALS["/search 融资"])
                    )
                for kind in kinds:
                    await kind.subject.warm_up(kind.text)
                for round_ in range(args.rounds):
                    order = kinds[round_ % len(kinds) :] + kinds[: round_ % len(kinds)]
                    for kind in order:
                        kind.per_update.append(await kind.subject.measure(kind.text, args.updates, rate))
                    line = ", ".join(f"{k.label} {_ms(k.per_update[-1])}" for k in kinds)
                    print(f"  round {round_ + 1}: CPU ms/update: {line}", flush=True)
            finally:
                for subject in subjects:
                    await subject.process.terminate()
            report(kinds, args.updates, rate)


def _pad(text: str, width: int) -> str:
    """`text` left-aligned in `width` terminal columns (a CJK character takes two)."""
    columns = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(0, width - columns)


def report(kinds: Sequence[Kind], updates: int, rate: float | None) -> None:
    floor = kinds[0]
    arrival = "all at once" if rate is None else f"{rate:g} a second"
    print()
    rounds = len(floor.per_update)
    print(f"CPU per answered update ({updates} updates per measurement, {arrival}, {rounds} rounds)")
    header = f"  {_pad('', 28)}{'msgs':>5}{'median ms':>11}{'min ms':>9}{'ratio':>8}  goal"
    print(header)
    print("  " + "-" * (len(header) - 2))
    for kind in kinds:
        median = statistics.median(kind.per_update)
        row = f"  {_pad(kind.label, 28)}{kind.subject.messages[kind.text]:>5}{_ms(median):>11}"
        row += f"{_ms(min(kind.per_update)):>9}"
        if kind is not floor:
            ratio = statistics.median(o / e for o, e in zip(kind.per_update, floor.per_update, strict=True))
            row += f"{ratio:>7.2f}x"
            if kind.goal:
                row += f"  <= {kind.goal:g}x {'PASS' if ratio <= kind.goal else 'FAIL'}"
        print(row)
    print("  (ratio: ours / echo of the same round, median over rounds; msgs: messages per answer)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--updates", type=int, default=200, help="updates per measurement (default 200)")
    parser.add_argument("--rate", type=float, default=10.0, help="updates sent a second (default 10)")
    parser.add_argument("--burst", action="store_true", help="send each measurement's updates at once")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every kind in turn (default 3)")
    parser.add_argument(
        "--scan", action="store_true", help="also /search by the scan engine (a third process)"
    )
    args = parser.parse_args(argv)
    if not CORPUS.is_dir():
        print(f"corpus not found at {CORPUS} (set AI_NEWS_BOT_CORPUS): nothing measured")
        return 0
    print(f"Python {platform.python_version()} on {platform.platform()}; CPUs: {os.cpu_count()}")
    files = sum(1 for _ in CORPUS.glob("*.md"))
    print(f"posts: {CORPUS} ({files} files)")
    wall = time.monotonic()
    asyncio.run(run(args))
    print(f"\ntotal wall time: {time.monotonic() - wall:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
