"""Cases of docs/reliability.md not covered elsewhere, each through the running bot (or the CLI as a
process).

Every test for a case, here or in another file, is marked `reliability(N)` with its case number in
docs/reliability.md, and listed under that case there; the first test below checks that the
document and the markers agree. The `# -- #N` section comments below name those case numbers.
"""

from __future__ import annotations

import ast
import asyncio
import datetime as dt
import logging
import math
import os
import re
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot import texts
from bot.config import Config
from bot.db import BUSY_TIMEOUT
from bot.jobs import DAILY_JOB, RECONCILE_JOB
from bot.posts import MAX_FILE_BYTES, MAX_FRONT_MATTER_BYTES, PostFolder
from bot.store import PubKey
from bot.testing.fakeapi import FakeTelegram
from tests.helpers.harness import (
    ADMIN,
    CHANNEL,
    READER,
    SHANGHAI,
    TODAY,
    TODAY_POST,
    Bot,
    Clock,
    admin_has_written,
    at,
    copy_example_posts,
    daily_post,
    make_config,
    running_bot,
    until,
)
from tests.helpers.paths import REPO
from tests.helpers.processes import OUTCOMES, environment, finish, start, until_polling

KEY = PubKey(CHANNEL, TODAY)
RELIABILITY_CASES = 30
RELIABILITY_DOC = REPO / "docs" / "reliability.md"
# In docs/reliability.md: each case is a `### Case N: title` heading, and its tests are list items
# `- `tests/FILE::FUNCTION`` below it (other mentions of tests are prose and not read here).
_CASE_HEADING = re.compile(r"^### Case (\d+): ", re.MULTILINE)
_LISTED_TEST = re.compile(r"^- `tests/(test_\w+\.py)::(\w+)`$", re.MULTILINE)


def _marked_cases() -> dict[int, list[str]]:
    """Case number -> the tests marked `@pytest.mark.reliability(N)`, read from the test files."""
    found: dict[int, list[str]] = {}
    for path in sorted(Path(__file__).parent.glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for decorator in node.decorator_list:
                match decorator:
                    case ast.Call(
                        func=ast.Attribute(attr="reliability", value=ast.Attribute(attr="mark")),
                        args=[ast.Constant(value=int(case))],
                    ):
                        found.setdefault(case, []).append(f"{path.name}::{node.name}")
    return found


def _documented_cases() -> tuple[list[int], dict[int, list[str]]]:
    """The case numbers of docs/reliability.md's headings in document order, and for each case the
    tests listed under it (up to the next case or the next `## ` section)."""
    text = RELIABILITY_DOC.read_text(encoding="utf-8")
    headings = list(_CASE_HEADING.finditer(text))
    numbers = [int(heading[1]) for heading in headings]
    listed: dict[int, list[str]] = {}
    for index, heading in enumerate(headings):
        if index + 1 < len(headings):
            end = headings[index + 1].start()
        else:
            section = text.find("\n## ", heading.end())
            end = len(text) if section == -1 else section
        body = text[heading.end() : end]
        listed[int(heading[1])] = [f"{name}::{test}" for name, test in _LISTED_TEST.findall(body)]
    return numbers, listed


def test_every_reliability_case_has_a_test() -> None:
    """docs/reliability.md numbers its cases 1 to 30 in order; every case has a marked test, every
    marker names one of them, and each case lists exactly the tests marked with its number."""
    every = list(range(1, RELIABILITY_CASES + 1))
    numbers, listed = _documented_cases()
    assert numbers == every, f"case headings in {RELIABILITY_DOC.name}: {numbers}"
    found = _marked_cases()
    assert sorted(found) == every, (
        f"cases without a marked test: {sorted(set(every) - set(found))}; "
        f"markers for no case: {sorted(set(found) - set(every))}"
    )
    for case in every:
        marked, documented = set(found[case]), set(listed[case])
        assert documented == marked, (
            f"case {case}: marked but not listed in {RELIABILITY_DOC.name}: {sorted(marked - documented)}; "
            f"listed but not marked reliability({case}): {sorted(documented - marked)}"
        )
        assert len(listed[case]) == len(documented), f"case {case}: a test is listed twice"


TOKYO = ZoneInfo("Asia/Tokyo")


class WallClock(Clock):
    """The real clock, for tests that let the JobQueue fire by itself."""

    def __call__(self) -> float:
        return time.time()


def with_schedule(config: Config, **changes: object) -> Config:
    return replace(config, schedule=replace(config.schedule, **changes))  # type: ignore[arg-type]


def alerts(bot: Bot) -> list[str]:
    return [m["text"] for m in bot.server.sent(ADMIN)]


# -- #3 the event loop blocked at the fire time -----------------------------------------------------


def _zone_away_from_midnight(when: float) -> ZoneInfo:
    """Asia/Shanghai, or Europe/London (8 h away) when Shanghai is near midnight at `when`."""
    for name in ("Asia/Shanghai", "Europe/London"):
        zone = ZoneInfo(name)
        if 1 <= dt.datetime.fromtimestamp(when, zone).hour <= 22:
            return zone
    raise AssertionError("unreachable: the two zones are 8 hours apart")


@pytest.mark.slow
@pytest.mark.reliability(3)
async def test_event_loop_blocked_at_fire_time_still_posts_once(server: FakeTelegram, tmp_path: Path) -> None:
    """The real JobQueue: the loop is blocked across the daily job's second and 2.5 s past it; it still
    posts, once.

    APScheduler's default misfire_grace_time of 1 s would drop that run with only a log WARNING;
    nothing else could send here (the start-up check was early, reconcile is minutes away).
    """
    fire = math.ceil(time.time() + 2)  # a whole second, far enough ahead for the start-up
    zone = _zone_away_from_midnight(fire)
    local = dt.datetime.fromtimestamp(fire, zone)
    folder = tmp_path / "posts"
    folder.mkdir()
    (folder / "today.md").write_text(daily_post(local.date(), "阻塞时的日报"), encoding="utf-8")
    config = with_schedule(make_config(tmp_path, server), timezone=zone, time=local.time())
    async with running_bot(server, config, WallClock(0.0)) as bot:
        jobs = bot.application.job_queue
        assert jobs is not None
        (job,) = jobs.get_jobs_by_name(DAILY_JOB)
        assert job.next_t is not None
        assert job.next_t.timestamp() == fire
        await asyncio.sleep(max(0.0, fire - 0.5 - time.time()))
        assert time.time() < fire - 0.05, "the bot took too long to start for this test"
        # The point: nothing in the loop runs from before the fire time until 2.5 s after it.
        time.sleep(fire + 2.5 - time.time())  # noqa: ASYNC251
        unblocked = time.time()
        key = PubKey(CHANNEL, local.date())

        async def sent() -> bool:
            row = await bot.store.get(key)
            return row is not None and row.status == "sent"

        await until(sent)
        row = await bot.store.get(key)
        assert row is not None
        assert row.created_at >= unblocked - 0.1  # claimed by the run that fired late
        assert job.next_t is not None
        assert job.next_t.timestamp() > fire  # tomorrow, same time
        assert job.next_t.astimezone(zone).time() == local.time()
        await bot.job(DAILY_JOB)
        await bot.job(RECONCILE_JOB)
        assert [m["text"].split("\n")[0] for m in bot.channel()] == ["阻塞时的日报"]


# -- #5 the process's own time zone never matters -----------------------------------------------------


@pytest.fixture
def process_tz() -> Iterator[Callable[[str], None]]:
    """Set this process's TZ (what naive `time` and `datetime.now()` would use); restored after."""
    saved = os.environ.get("TZ")

    def set_tz(name: str) -> None:
        os.environ["TZ"] = name
        time.tzset()

    yield set_tz
    if saved is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = saved
    time.tzset()


@pytest.mark.reliability(5)
@pytest.mark.parametrize(
    ("process", "zone", "hour"),
    [
        ("America/New_York", SHANGHAI, 8),
        ("Asia/Tokyo", SHANGHAI, 8),
        ("UTC", TOKYO, 9),
        ("America/New_York", TOKYO, 9),
    ],
    ids=str,
)
async def test_naive_time_is_not_read_in_the_process_time_zone(
    server: FakeTelegram,
    tmp_path: Path,
    posts: Path,
    *,
    process_tz: Callable[[str], None],
    process: str,
    zone: ZoneInfo,
    hour: int,
) -> None:
    """With the system zone elsewhere, the daily job is at `time` in the configured zone, and posts then."""
    process_tz(process)
    offset = dt.datetime.now(zone).utcoffset()
    assert time.localtime().tm_gmtoff != (offset.total_seconds() if offset else 0)  # TZ took effect
    config = with_schedule(make_config(tmp_path, server), timezone=zone, time=dt.time(hour, 0))
    async with running_bot(server, config, Clock(at(7))) as bot:
        jobs = bot.application.job_queue
        assert jobs is not None
        (job,) = jobs.get_jobs_by_name(DAILY_JOB)
        assert job.next_t is not None
        local = job.next_t.astimezone(zone)
        assert (local.hour, local.minute, local.utcoffset()) == (hour, 0, offset)
        assert job.next_t == dt.datetime.combine(local.date(), dt.time(hour), tzinfo=zone)
        if zone is SHANGHAI:
            bot.clock.now = at(8)
            await bot.job(DAILY_JOB)
            assert len(bot.channel()) == 1
            assert await bot.store.get(KEY) is not None


RUN_CONFIG = f"""\
[telegram]
admins = [{ADMIN}]

[channel]
chat = "{CHANNEL}"

[posts]
dir = "posts"

[storage]
database = "bot.db"
"""


@pytest.mark.slow
@pytest.mark.reliability(5)
async def test_run_in_new_york_shows_the_next_run_at_8_in_shanghai(
    server: FakeTelegram, tmp_path: Path
) -> None:
    """`TZ=America/New_York ai-news-bot run`: /status says the next run is 08:00 CST."""
    copy_example_posts(tmp_path / "posts")
    (tmp_path / "config.toml").write_text(RUN_CONFIG, encoding="utf-8")
    env = {**environment(server, token=server.token), "TZ": "America/New_York"}
    process = await start("run", "--config", "config.toml", cwd=tmp_path, env=env)
    try:
        await until_polling(server, process)

        def status() -> list[str]:
            return [m["text"] for m in server.sent(ADMIN) if "下次定时发送" in m["text"]]

        before = time.time()
        server.user_message("/status", user_id=ADMIN)
        await server.wait_for(lambda: bool(status()), timeout=10)
        after = time.time()
    finally:
        process.send_signal(signal.SIGTERM)
        result = await finish(process)
    assert result.code == 0, result.err

    def next_eight(now: float) -> str:
        local = dt.datetime.fromtimestamp(now, SHANGHAI)
        day = local.date() if local.time() < dt.time(8) else local.date() + dt.timedelta(days=1)
        return f"下次定时发送：{day} 08:00 CST"

    (text,) = status()
    assert next_eight(before) in text or next_eight(after) in text, text


# -- #6 two processes polling with one token ----------------------------------------------------------


def _conflicts(server: FakeTelegram) -> int:
    return sum(r.status == 409 for r in server.calls("getUpdates"))


@pytest.mark.slow
@pytest.mark.reliability(6)
@pytest.mark.usefixtures("admin_has_written")
async def test_polling_conflict_alerts_the_admins_once(bot: Bot, caplog: pytest.LogCaptureFixture) -> None:
    """409 Conflict on getUpdates, again and again: one admin alert, one ERROR line; the bot goes on."""
    server = bot.server
    caplog.set_level(logging.DEBUG, logger="bot.app")
    server.fail_next("getUpdates", status=409, times=2)
    await bot.ask("/help")  # ends the waiting long poll; the next two polls conflict
    await server.wait_for(lambda: _conflicts(server) == 2 and server.polling, timeout=10)
    await server.wait_for(lambda: len(alerts(bot)) >= 1)
    (alert,) = alerts(bot)
    assert alert == texts.ALERT_POLL_CONFLICT.format(
        detail="Conflict: terminated by other getUpdates request; "
        "make sure that only one bot instance is running"
    )
    errors = [r for r in caplog.records if r.name == "bot.app" and r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "polling conflict" in errors[0].getMessage()
    assert [e.message for e in await bot.store.events(1)] == [alert]  # /status shows it too
    # Polling recovered: commands are answered, and the day's post goes out once.
    (reply,) = await bot.ask("/help")
    assert reply["text"].startswith("👋")
    bot.clock.now = at(8)
    await bot.job(DAILY_JOB)
    assert len(bot.channel()) == 1


@pytest.mark.slow
@pytest.mark.reliability(6)
async def test_two_polling_instances_alert_once_each_and_post_once(
    server: FakeTelegram, tmp_path: Path, posts: Path
) -> None:
    """Two bots poll with one token on one database: each tells the admins once; one channel post."""
    admin_has_written(server)
    config = make_config(tmp_path, server)
    async with (
        running_bot(server, config, Clock(at(7))) as first,
        running_bot(server, config, Clock(at(7))) as second,
    ):
        await server.wait_for(lambda: len(server.sent(ADMIN)) >= 2, timeout=10)
        await server.wait_for(lambda: _conflicts(server) >= 3, timeout=10)  # they keep taking turns
        assert [m["text"] for m in server.sent(ADMIN)] == [
            texts.ALERT_POLL_CONFLICT.format(
                detail="Conflict: terminated by other getUpdates request; "
                "make sure that only one bot instance is running"
            )
        ] * 2
        first.clock.now = second.clock.now = at(8)
        await asyncio.gather(first.job(DAILY_JOB), second.job(DAILY_JOB))
        await asyncio.gather(first.job(RECONCILE_JOB), second.job(RECONCILE_JOB))
        assert len(server.sent(CHANNEL)) == 1
        assert len(server.sent(ADMIN)) == 2


# -- #7 several processes fire at once -------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.reliability(7)
async def test_three_publish_processes_send_once(server: FakeTelegram, tmp_path: Path) -> None:
    """Three `ai-news-bot publish` processes started together on one database: one channel message."""
    copy_example_posts(tmp_path / "posts")
    (tmp_path / "config.toml").write_text(RUN_CONFIG, encoding="utf-8")
    server.delay_next("sendMessage", 1.0)  # the winner's send is in flight while the others look
    env = environment(server, token=server.token)
    processes = await asyncio.gather(
        *(
            start("publish", TODAY.isoformat(), "--config", "config.toml", cwd=tmp_path, env=env)
            for _ in range(3)
        )
    )
    results = await asyncio.gather(*(finish(process) for process in processes))
    assert [r.code for r in results] == [0, 0, 0], [r.err for r in results]
    lines = [line for r in results for line in r.out.splitlines()]
    assert len(lines) == 3
    assert all(line.startswith(OUTCOMES) for line in lines), lines
    assert sum(line.startswith(OUTCOMES[0]) for line in lines) == 1
    assert len(server.sent(CHANNEL)) == 1
    assert len(server.calls("sendMessage")) == 1


# -- #10 the API unreachable at the fire time --------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.reliability(10)
@pytest.mark.usefixtures("admin_has_written")
async def test_connect_error_at_fire_time_sends_once_after_recovery(bot: Bot) -> None:
    """API down at 08:00 (ConnectError): `retryable`; back at 08:00:30; sent once when the wait is over."""
    server = bot.server
    port = server.port
    await server.stop()
    bot.clock.now = at(8)
    await bot.job(DAILY_JOB)
    row = await bot.store.get(KEY)
    assert row is not None
    assert (row.status, row.attempt) == ("retryable", 1)
    assert row.error is not None
    assert "ConnectError" in row.error
    bot.clock.now = at(8) + 10
    await bot.job(RECONCILE_JOB)  # still down, still waiting: no new attempt
    await server.start(port=port)
    sends_before = len(server.calls("sendMessage"))
    bot.clock.now = at(8) + 30
    await bot.job(RECONCILE_JOB)  # back, but the 60 s wait after the first attempt is not over
    row = await bot.store.get(KEY)
    assert row is not None
    assert (row.status, row.attempt) == ("retryable", 1)
    assert len(server.calls("sendMessage")) == sends_before
    bot.clock.now = at(8) + 61
    await bot.job(RECONCILE_JOB)
    await bot.job(RECONCILE_JOB)
    await bot.job(DAILY_JOB)
    row = await bot.store.get(KEY)
    assert row is not None
    assert (row.status, row.attempt) == ("sent", 2)
    assert len(bot.channel()) == 1
    assert alerts(bot) == []  # nothing was lost and nothing is ambiguous: no one to bother


# -- #27 and #28 files that cannot be posts ------------------------------------------------------------------

# file name -> (bytes, what the problem says). The BOM file is a good post.
BAD_FILES: dict[str, tuple[bytes, str]] = {
    "time-title.md": (
        b"---\ntitle: 9:30\ndate: 2026-11-02\n---\nx\n",
        "'title' must be text, got number 570",
    ),
    "octal-title.md": (
        b"---\ntitle: 0123\ndate: 2026-11-02\n---\nx\n",
        "'title' must be text, got number 83",
    ),
    "no-title.md": (b"---\ntitle: no\ndate: 2026-11-02\n---\nx\n", "'title' must be text, got boolean False"),
    "time-date.md": (
        b"---\ntitle: T\ndate: 9:30\n---\nx\n",
        "'date' must be a date such as 2026-03-01, got number 570",
    ),
    "list-title.md": (b"---\ntitle: [a, b]\ndate: 2026-11-02\n---\nx\n", "'title' must be text, got list"),
    "invalid-utf8.md": (b"---\ntitle: T\ndate: 2026-11-02\n---\n\xff\xfe\n", "file is not valid UTF-8"),
    "bad-yaml.md": (b"---\ntitle: [\ndate: 2026-11-02\n---\nx\n", "front matter is not valid YAML"),
    "list-front-matter.md": (b"---\n- a\n- b\n---\nx\n", "front matter must be a mapping"),
    "text-front-matter.md": (b"---\njust words\n---\nx\n", "front matter must be a mapping"),
    "python-tag.md": (
        b"---\ntitle: !!python/object/apply:os.system ['echo pwned']\ndate: 2026-11-02\n---\nx\n",
        "front matter is not valid YAML",
    ),
}
BOM_DAY = dt.date(2026, 11, 1)


def _bomb() -> bytes:
    """Billion laughs: nine levels of ten aliases each, 10^9 strings if expanded."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    return ("---\ntitle: T\ndate: 2026-11-02\n" + "\n".join(lines) + "\n---\nx\n").encode()


def _huge_file() -> bytes:
    return b"---\ntitle: T\ndate: 2026-11-02\n---\n" + b"x" * MAX_FILE_BYTES


def _huge_front_matter() -> bytes:
    return b"---\ntitle: T\ndate: 2026-11-02\nsummary: '" + b"x" * MAX_FRONT_MATTER_BYTES + b"'\n---\nx\n"


def _deep_nesting() -> bytes:
    return b"---\ntitle: T\ndate: 2026-11-02\nx: " + b"[" * 30_000 + b"]" * 30_000 + b"\n---\nx\n"


HOSTILE_FILES: dict[str, tuple[Callable[[], bytes], str]] = {
    "bomb.md": (_bomb, "YAML anchors and aliases are not allowed in front matter"),
    "huge-file.md": (_huge_file, "over the 1,048,576-byte limit"),
    "huge-front-matter.md": (_huge_front_matter, "front matter is over 65,536 bytes"),
    "deep-nesting.md": (_deep_nesting, "front matter is not valid YAML"),
}


def write_bad_files(folder: Path) -> dict[str, str]:
    """Every bad and hostile file, plus a good post with a BOM; returns name -> expected problem."""
    expected = {}
    for name, (raw, reason) in BAD_FILES.items():
        (folder / name).write_bytes(raw)
        expected[name] = reason
    for name, (make, reason) in HOSTILE_FILES.items():
        (folder / name).write_bytes(make())
        expected[name] = reason
    (folder / "bom.md").write_bytes(b"\xef\xbb\xbf" + daily_post(BOM_DAY, "带 BOM 的日报").encode())
    return expected


@pytest.mark.reliability(27)
async def test_bad_front_matter_is_skipped_named_and_the_bot_keeps_working(
    server: FakeTelegram, tmp_path: Path, posts: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Broken files beside good posts: the bot starts, logs each by name, answers, and posts the day."""
    expected = write_bad_files(posts)
    admin_has_written(server)
    caplog.set_level(logging.WARNING, logger="bot.app")
    async with running_bot(server, make_config(tmp_path, server), Clock(at(7))) as bot:
        skipped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("post file skipped: ")]
        for name, reason in expected.items():
            (line,) = [s for s in skipped if f"{posts / name}:" in s]
            assert reason in line, line
        assert len(skipped) == len(expected)
        # /today works, and the BOM did not hide the other post's front matter.
        (bom,) = await bot.ask(f"/today {BOM_DAY}")
        assert bom["text"].startswith("带 BOM 的日报")
        (status,) = await bot.ask("/status", user=ADMIN)
        assert f"有错误的文件 {len(expected)} 个" in status["text"]
        bot.clock.now = at(8)
        await bot.job(DAILY_JOB)
        (sent,) = bot.channel()
        (today,) = await bot.ask("/today")
        assert today["text"] == sent["text"]
        row = await bot.store.get(KEY)
        assert row is not None
        assert row.post_path == str(posts / TODAY_POST)


@pytest.mark.reliability(28)
@pytest.mark.parametrize("name", list(HOSTILE_FILES))
def test_hostile_file_rejected_in_under_a_second(tmp_path: Path, name: str) -> None:
    """An alias bomb, a file over 1 MB, front matter over 64 KB, 30 000 nested lists: each refused
    in under a second by the folder load the bot runs before answering, with the file named."""
    (tmp_path / "good.md").write_text(daily_post(TODAY, "好的日报"), encoding="utf-8")
    folder = PostFolder(tmp_path, site_url="https://aicode.cc")
    folder.load()
    make, reason = HOSTILE_FILES[name]
    (tmp_path / name).write_bytes(make())
    started = time.perf_counter()
    library = folder.load()
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0
    assert [p.title for p in library.posts] == ["好的日报"]
    (problem,) = library.errors
    assert str(problem).startswith(f"{tmp_path / name}:")
    assert reason in problem.message


# -- #30 the database locked at the fire time -------------------------------------------------------


@pytest.fixture
def locked(bot: Bot) -> Iterator[sqlite3.Connection]:
    """Another connection (a backup, a cron job) holding the database's write lock."""
    other = sqlite3.connect(bot.config.storage.database, isolation_level=None, timeout=0)
    other.execute("BEGIN EXCLUSIVE")
    yield other
    if other.in_transaction:
        other.execute("ROLLBACK")
    other.close()


@pytest.mark.slow
@pytest.mark.reliability(30)
@pytest.mark.usefixtures("admin_has_written")
async def test_locked_database_at_fire_time_fails_closed_then_sends_once(
    bot: Bot, locked: sqlite3.Connection
) -> None:
    """Write lock held elsewhere: /today answers; the daily job sends nothing; after release, one post."""
    started = time.perf_counter()
    note, _ = await bot.ask("/today", count=2)
    assert time.perf_counter() - started < 1.0  # readers are never blocked in WAL mode
    assert note["text"] == texts.TODAY_NOT_YET.format(today=TODAY, day=TODAY - dt.timedelta(days=1))
    bot.clock.now = at(8)
    await bot.job(DAILY_JOB)  # waits out busy_timeout, then gives up: no claim, no send
    assert bot.channel() == []
    assert await bot.store.get(KEY) is None
    locked.execute("ROLLBACK")
    bot.clock.now = at(8, 5)
    await bot.job(RECONCILE_JOB)
    await bot.job(RECONCILE_JOB)
    assert len(bot.channel()) == 1
    row = await bot.store.get(KEY)
    assert row is not None
    assert row.status == "sent"


@pytest.mark.slow
@pytest.mark.reliability(30)
@pytest.mark.usefixtures("admin_has_written")
async def test_commands_are_answered_while_the_daily_job_waits_for_the_lock(
    bot: Bot, locked: sqlite3.Connection
) -> None:
    """While the daily job waits for another process's write lock, the bot stands still for at most
    the busy timeout (1 s), then fails closed: /today is answered soon after, not after 5 s."""
    bot.clock.now = at(8)
    job = asyncio.create_task(bot.job(DAILY_JOB))
    await asyncio.sleep(0)  # the job starts, and blocks on the lock
    started = time.perf_counter()
    bot.server.user_message("/today", user_id=READER)
    await bot.server.wait_for(lambda: bool(bot.server.sent(READER)), timeout=10)
    waited = time.perf_counter() - started
    await job
    assert waited < BUSY_TIMEOUT + 1.0, f"/today was answered after {waited:.1f} s"


@pytest.mark.slow
@pytest.mark.reliability(30)
@pytest.mark.usefixtures("admin_has_written")
async def test_short_lock_at_fire_time_is_waited_out(bot: Bot) -> None:
    """A lock released within busy_timeout (a checkpoint, a quick backup): the post goes out on time."""
    other = sqlite3.connect(
        bot.config.storage.database, isolation_level=None, timeout=0, check_same_thread=False
    )
    other.execute("BEGIN EXCLUSIVE")

    def release_soon() -> None:
        time.sleep(0.5)
        other.execute("ROLLBACK")

    releaser = asyncio.get_running_loop().run_in_executor(None, release_soon)
    try:
        bot.clock.now = at(8)
        await bot.job(DAILY_JOB)
        await releaser
    finally:
        other.close()
    assert len(bot.channel()) == 1


# -- #29 (part) the posts folder empty, missing or unreadable ------------------------------------------


@pytest.mark.reliability(29)
@pytest.mark.parametrize(
    "how",
    [
        "empty",
        "missing",
        "symlink-loop",
        "no-permission",
    ],
)
async def test_unusable_posts_folder_keeps_the_bot_answering(
    server: FakeTelegram, tmp_path: Path, how: str
) -> None:
    """No usable posts folder: commands are answered, nothing is sent, the admins hear at the
    publish time what is wrong with the folder, and at the window's end once that there was no post."""
    folder = tmp_path / "posts"
    if how == "empty":
        folder.mkdir()
    elif how == "symlink-loop":  # scandir fails with ELOOP, as root too
        folder.symlink_to(folder)
    elif how == "no-permission":
        folder.mkdir()
        (folder / TODAY_POST).write_text(daily_post(TODAY, "读不到"), encoding="utf-8")
        folder.chmod(0)
        try:
            os.listdir(folder)
        except PermissionError:
            pass
        else:
            folder.chmod(0o755)
            pytest.skip("this process reads folders whatever their permissions (root)")
    admin_has_written(server)
    try:
        async with running_bot(server, make_config(tmp_path, server), Clock(at(7))) as bot:
            (today,) = await bot.ask("/today")
            assert today["text"] == texts.NO_POSTS
            (day,) = await bot.ask(f"/today {TODAY}")
            assert day["text"] == texts.NO_POSTS
            (tags,) = await bot.ask("/tag")
            assert tags["text"] == texts.NO_TAGS
            (found,) = await bot.ask("/search 芯片")
            assert found["text"] == texts.SEARCH_NOTHING.format(query="芯片")
            (status,) = await bot.ask("/status", user=ADMIN)
            assert "文章：0 篇" in status["text"]
            bot.clock.now = at(8)
            await bot.job(DAILY_JOB)
            await bot.job(RECONCILE_JOB)
            # told at once, and once, what is wrong with the folder
            (trouble,) = [text for text in alerts(bot) if text.startswith("📂")]
            assert trouble.startswith(f"📂 日报还发不出去：文章目录 {tmp_path / 'posts'} 有问题（")
            bot.clock.now = at(14, 1)
            await bot.job(RECONCILE_JOB)
            await bot.job(RECONCILE_JOB)
            assert bot.channel() == []
            assert alerts(bot)[-1:] == [texts.ALERT_NO_POST.format(day=TODAY, end="14:00")]
            assert alerts(bot).count(texts.ALERT_NO_POST.format(day=TODAY, end="14:00")) == 1
    finally:
        if how == "no-permission":
            folder.chmod(0o755)
