"""`ai-news-bot publish` from cron is the schedule: the daily job's decision at that moment, as a process."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest

from bot import texts
from bot.cli import EXIT_FAILURE, EXIT_HELD, EXIT_NO_POST, EXIT_OK
from bot.testing.fakeapi import FakeTelegram
from tests.helpers.harness import ADMIN, CHANNEL, daily_post, midday_zone
from tests.helpers.processes import cli, environment

# Each test starts `python -m bot publish` as a real process, most of them twice or more.
pytestmark = pytest.mark.slow

# The subprocess reads the wall clock: a zone where it is 12:xx now, so the schedule below puts
# "now" before, inside or after the day's window whatever the hour the tests run.
NOW = time.time()
ZONE = midday_zone(NOW)
DAY = dt.datetime.fromtimestamp(NOW, ZONE).date()


def config(server: FakeTelegram, *, time_: str, catch_up: int = 1439, database: bool = True) -> str:
    storage = '\n[storage]\ndatabase = "bot.db"\n' if database else ""
    return (
        f'[telegram]\napi_url = "{server.api_url}"\nadmins = [{ADMIN}]\n'
        f'[channel]\nchat = "{CHANNEL}"\n'
        f'[schedule]\ntimezone = "{ZONE.key}"\ntime = "{time_}"\ncatch_up_minutes = {catch_up}\n{storage}'
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "posts").mkdir()
    (tmp_path / "posts" / "today.md").write_text(daily_post(DAY, "定时日报"), encoding="utf-8")
    return tmp_path


def write(home: Path, text: str) -> list[str]:
    (home / "config.toml").write_text(text, encoding="utf-8")
    return ["--config", str(home / "config.toml")]


async def test_before_the_publish_time_nothing_is_sent(server: FakeTelegram, home: Path) -> None:
    """Before [schedule] time: one line saying when it is due, exit 0, and not one Bot API call."""
    args = write(home, config(server, time_="23:59"))
    result = await cli("publish", *args, cwd=home, env=environment(server, token=server.token))
    assert result.code == EXIT_OK, result
    assert (
        result.out
        == f"ai-news-bot: not due yet: the {DAY} post goes out at 23:59 ({ZONE.key}); nothing sent\n"
    )
    assert server.requests == []


async def test_inside_the_window_it_sends_once(server: FakeTelegram, home: Path) -> None:
    """Inside the window: claimed, checked and sent (exit 0); run again: already sent, exit 0."""
    args = write(home, config(server, time_="00:00"))
    env = environment(server, token=server.token)
    first = await cli("publish", *args, cwd=home, env=env)
    second = await cli("publish", *args, cwd=home, env=env)
    assert (first.code, second.code) == (EXIT_OK, EXIT_OK), (first, second)
    assert first.out.startswith(f"ai-news-bot: {DAY} sent: https://t.me/ai_news_plus/")
    assert second.out.startswith(f"ai-news-bot: {DAY} was already sent: https://t.me/ai_news_plus/")
    assert len(server.sent(CHANNEL)) == 1


async def test_after_the_window_closed_nothing_is_sent_and_admins_are_told_once(
    server: FakeTelegram, home: Path
) -> None:
    """The window closed unsent (00:00 + 60 min, now 12:xx): nothing sent, exit 1, the admins told
    once however often cron runs; an explicit `publish DAY` still sends, like /publish."""
    server.user_message("hi", user_id=ADMIN)
    args = write(home, config(server, time_="00:00", catch_up=60))
    env = environment(server, token=server.token)
    first = await cli("publish", *args, cwd=home, env=env)
    second = await cli("publish", *args, cwd=home, env=env)
    assert (first.code, second.code) == (EXIT_FAILURE, EXIT_FAILURE), (first, second)
    assert (
        first.out
        == f"ai-news-bot: the {DAY} window closed at 01:00 with nothing sent; the admins were told\n"
    )
    assert server.sent(CHANNEL) == []
    told = [
        m["text"] for m in server.sent(ADMIN) if m["text"] == texts.ALERT_LATE.format(day=DAY, end="01:00")
    ]
    assert len(told) == 1
    deliberate = await cli("publish", str(DAY), *args, cwd=home, env=env)
    assert deliberate.code == EXIT_OK, deliberate
    assert len(server.sent(CHANNEL)) == 1


async def test_no_post_yet_exits_3(server: FakeTelegram, home: Path) -> None:
    """Inside the window with no file for the day yet: exit 3, nothing sent; cron tries again later."""
    (home / "posts" / "today.md").unlink()
    (home / "posts" / "old.md").write_text(daily_post(DAY - dt.timedelta(days=1), "昨天"), encoding="utf-8")
    args = write(home, config(server, time_="00:00"))
    result = await cli("publish", *args, cwd=home, env=environment(server, token=server.token))
    assert result.code == EXIT_NO_POST, result
    assert result.out.startswith(f"ai-news-bot: no post for {DAY} in ")
    assert server.sent(CHANNEL) == []


async def test_a_held_post_exits_4(server: FakeTelegram, home: Path) -> None:
    """The quality gate holds the day's post: exit 4, nothing in the channel, the admins asked."""
    server.user_message("hi", user_id=ADMIN)
    junk = "---\ntitle: Example Title\ndate: {day}\ncategory: AI 日报\nsummary: x\n---\nshort\n"
    (home / "posts" / "today.md").write_text(junk.format(day=DAY), encoding="utf-8")
    args = write(home, config(server, time_="00:00"))
    result = await cli("publish", *args, cwd=home, env=environment(server, token=server.token))
    assert result.code == EXIT_HELD, result
    assert "held by the quality gate" in result.out
    assert server.sent(CHANNEL) == []
    assert any("看起来有问题" in str(m.get("text")) for m in server.sent(ADMIN))


async def test_dry_run_reads_the_ledger(server: FakeTelegram, home: Path) -> None:
    """`--dry-run` says what a real run would do, and for a day already sent says so with the link."""
    args = write(home, config(server, time_="00:00"))
    env = environment(server, token=server.token)
    before = await cli("publish", "--dry-run", *args, cwd=home, env=environment(server))
    assert before.code == EXIT_OK, before
    assert before.out.startswith(
        f"ai-news-bot: dry run: the {DAY} post is due: a real run claims and sends it\n"
    )
    assert "定时日报" in before.out
    assert server.requests == []
    await cli("publish", *args, cwd=home, env=env)
    (sent,) = server.sent(CHANNEL)
    after = await cli("publish", "--dry-run", *args, cwd=home, env=environment(server))
    link = f"https://t.me/ai_news_plus/{sent['message_id']}"
    assert after.out == f"ai-news-bot: dry run: {DAY} was already sent: {link}\n"
    deliberate = await cli("publish", str(DAY), "--dry-run", *args, cwd=home, env=environment(server))
    assert (
        deliberate.out == f"ai-news-bot: dry run: {DAY} was already sent: {link}; a real run sends nothing\n"
    )


async def test_one_ledger_from_any_folder(server: FakeTelegram, home: Path) -> None:
    """A config that names no database, `publish` run from two different folders: one ledger beside
    the config file, one channel message (before, each folder got its own ledger and its own post)."""
    args = write(home, config(server, time_="00:00", database=False))
    env = environment(server, token=server.token)
    elsewhere = home / "elsewhere"
    elsewhere.mkdir()
    first = await cli("publish", *args, cwd=home, env=env)
    second = await cli("publish", *args, cwd=elsewhere, env=env)
    assert (first.code, second.code) == (EXIT_OK, EXIT_OK), (first, second)
    assert second.out.startswith(f"ai-news-bot: {DAY} was already sent")
    assert len(server.sent(CHANNEL)) == 1
    assert (home / "ai-news-bot.db").exists()
    assert not (elsewhere / "ai-news-bot.db").exists()


async def test_now_sends_today_whatever_the_time(server: FakeTelegram, home: Path) -> None:
    """`publish --now` before the publish time sends today's post, like an admin's /publish."""
    args = write(home, config(server, time_="23:59"))
    result = await cli("publish", "--now", *args, cwd=home, env=environment(server, token=server.token))
    assert result.code == EXIT_OK, result
    assert len(server.sent(CHANNEL)) == 1
