"""The command line as a user runs it: `python -m bot` in a real process against the fake Bot API."""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import time
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

import bot
from bot.cli import EXIT_FAILURE, EXIT_NO_POST, EXIT_OK, EXIT_USAGE
from bot.config import API_URL_ENV, TOKEN_ENV, WEBHOOK_SECRET_ENV
from bot.logs import REDACTED
from bot.posts import read_post
from bot.render import describe, render_post
from bot.testing.fakeapi import FakeTelegram
from tests.helpers.harness import (
    CHANNEL,
    HELP,
    READER,
    TODAY_POST,
    Clock,
    copy_example_posts,
    daily_post,
    free_port,
    make_config,
    midday_zone,
    running_bot,
)
from tests.helpers.paths import EXAMPLE_POSTS, REPO, SITE
from tests.helpers.processes import (
    DAY,
    WITHIN,
    WRONG_TOKEN,
    Finished,
    cli,
    environment,
    finish,
    outcomes,
    start,
    until_polling,
)

# Each test starts `python -m bot` as a real process (about half a second each, before it does anything).
pytestmark = pytest.mark.slow

FORBIDDEN = "Forbidden: bot is not a member of the channel chat"
# What the user writes: relative paths are relative to this file's folder (make_config's layout).
CONFIG_TOML = f"""\
[channel]
chat = "{CHANNEL}"

[posts]
dir = "posts"
site_url = "{SITE}"

[storage]
database = "bot.db"
"""
CONFIG = ("--config", "config.toml")


def leaked(result: Finished, *tokens: str) -> list[str]:
    """The tokens, or their secret halves, that appear anywhere in the output."""
    printed = result.out + result.err
    return [part for token in tokens for part in (token, token.split(":")[1]) if part in printed]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The folder a user runs the bot from: config.toml, the posts, and (later) the database."""
    copy_example_posts(tmp_path / "posts")
    (tmp_path / "config.toml").write_text(CONFIG_TOML, encoding="utf-8")
    return tmp_path


# -- run -----------------------------------------------------------------------------------------


async def test_run_without_token_is_a_usage_error(home: Path) -> None:
    """`run` without TELEGRAM_BOT_TOKEN exits 2 with one line naming the variable."""
    result = await cli("run", *CONFIG, cwd=home, env=environment())
    assert (result.code, result.out, len(result.err_lines)) == (EXIT_USAGE, "", 1)
    assert TOKEN_ENV in result.err


async def test_run_with_rejected_token_is_a_usage_error(server: FakeTelegram, home: Path) -> None:
    """`run` with a token Telegram rejects exits 2 with one line, and never prints the token."""
    result = await cli("run", *CONFIG, cwd=home, env=environment(server, token=WRONG_TOKEN))
    assert (result.code, len(result.err_lines)) == (EXIT_USAGE, 1)
    assert "token was rejected" in result.err_lines[0]
    assert leaked(result, WRONG_TOKEN, server.token) == []
    assert [r.status for r in server.calls("getMe")] == [401]


async def test_run_with_rejected_token_never_says_it_is_polling(server: FakeTelegram, home: Path) -> None:
    """A rejected token prints nothing on stdout: the bot never polled."""
    result = await cli("run", *CONFIG, cwd=home, env=environment(server, token=WRONG_TOKEN))
    assert (result.code, result.out) == (EXIT_USAGE, "")


@pytest.mark.reliability(18)
async def test_run_refuses_to_poll_while_a_webhook_is_set(server: FakeTelegram, home: Path) -> None:
    """PTB's polling start would delete a live webhook; `run` refuses instead."""
    server.webhook_url = "https://bot.example/hook"
    result = await cli("run", *CONFIG, cwd=home, env=environment(server, token=server.token))
    assert (result.code, len(result.err_lines)) == (EXIT_USAGE, 1)
    assert "a webhook is set (https://bot.example/hook)" in result.err
    assert server.calls("deleteWebhook") == []
    assert server.calls("getUpdates") == []
    assert server.webhook_url == "https://bot.example/hook"


async def test_webhook_without_its_secret_is_a_usage_error(server: FakeTelegram, home: Path) -> None:
    """[webhook] url set but no TELEGRAM_WEBHOOK_SECRET: refused before anything is contacted."""
    config = home / "config.toml"
    config.write_text(config.read_text() + '\n[webhook]\nurl = "https://bot.example.org/tg"\n')
    result = await cli("run", *CONFIG, cwd=home, env=environment(server, token=server.token))
    assert (result.code, len(result.err_lines)) == (EXIT_USAGE, 1)
    assert "TELEGRAM_WEBHOOK_SECRET" in result.err
    assert server.requests == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_run_stops_on_signal(server: FakeTelegram, home: Path, signum: signal.Signals) -> None:
    """`run` polls until SIGTERM or Ctrl-C, then exits 0 within seconds saying it stopped."""
    process = await start("run", *CONFIG, cwd=home, env=environment(server, token=server.token))
    await until_polling(server, process)
    signalled = time.monotonic()
    process.send_signal(signum)
    result = await finish(process, within=10)
    assert time.monotonic() - signalled < 10
    assert (result.code, result.out.splitlines()) == (
        EXIT_OK,
        [f"ai-news-bot: polling {server.api_url}; Ctrl-C stops", "ai-news-bot: stopped"],
    )
    assert "Traceback" not in result.err


@pytest.mark.reliability(24)
async def test_debug_logging_never_shows_the_token(server: FakeTelegram, home: Path) -> None:
    """`run -vv` logs every Bot API call at DEBUG through a conversation, the token redacted."""
    process = await start("-vv", "run", *CONFIG, cwd=home, env=environment(server, token=server.token))
    await until_polling(server, process)
    server.user_message("/today", user_id=READER)
    await server.wait_for(lambda: len(server.sent(READER)) >= 1)
    server.user_message("/help", user_id=READER)
    await server.wait_for(lambda: HELP in [m.get("text") for m in server.sent(READER)])
    process.send_signal(signal.SIGTERM)
    result = await finish(process)
    assert result.code == EXIT_OK
    assert leaked(result, server.token) == []
    # DEBUG was on, and lines that carried the token (PTB logs its base URL) were rewritten.
    assert " DEBUG telegram.ext.ExtBot: Calling Bot API endpoint `sendMessage`" in result.err
    assert f"/bot{REDACTED}" in result.err


# -- publish -------------------------------------------------------------------------------------


async def test_publish_dry_run_prints_the_calls_and_sends_nothing(server: FakeTelegram, home: Path) -> None:
    """`publish DAY --dry-run` prints the calls, needs no token and makes no request."""
    result = await cli("publish", DAY, "--dry-run", *CONFIG, cwd=home, env=environment(server))
    post, _ = read_post(home / "posts" / TODAY_POST, site_url=SITE)
    header = f"=== {DAY}: {home / 'posts' / TODAY_POST} -> {CHANNEL} (dry run: nothing sent)"
    assert result == Finished(EXIT_OK, f"{header}\n{describe(render_post(post, chat_id=CHANNEL))}\n", "")
    assert server.requests == []


async def test_publish_sends_once_then_says_already_sent(server: FakeTelegram, home: Path) -> None:
    """`publish DAY` sends the post with a t.me link; run again, it says already sent and sends nothing."""
    env = environment(server, token=server.token)
    first = await cli("publish", DAY, *CONFIG, cwd=home, env=env)
    (message,) = server.sent(CHANNEL)
    second = await cli("publish", DAY, *CONFIG, cwd=home, env=env)
    link = f"https://t.me/{CHANNEL[1:]}/{message['message_id']}"
    assert (first.code, first.out) == (EXIT_OK, f"ai-news-bot: {DAY} sent: {link}\n")
    assert (second.code, second.out) == (EXIT_OK, f"ai-news-bot: {DAY} was already sent: {link}\n")
    assert server.sent(CHANNEL) == [message]


@pytest.mark.parametrize(
    ("day", "code"), [("2020-01-01", EXIT_NO_POST), ("2026-02-30", EXIT_USAGE)], ids=["no-post", "no-date"]
)
async def test_publish_day_without_post_or_not_a_date(
    server: FakeTelegram, home: Path, day: str, code: int
) -> None:
    """A day without a post exits 3, an impossible date 2; one line naming the day, no request."""
    result = await cli("publish", day, *CONFIG, cwd=home, env=environment(server, token=server.token))
    assert (result.code, result.out, len(result.err_lines)) == (code, "", 1)
    assert day in result.err
    assert server.requests == []


async def test_publish_refused_by_channel_fails_and_is_left_to_an_admin(
    server: FakeTelegram, home: Path
) -> None:
    """A 403 from the channel exits 1 with a clear line; the next run does not send again."""
    server.fail_next("sendMessage", status=403, description=FORBIDDEN)
    env = environment(server, token=server.token)
    first = await cli("publish", DAY, *CONFIG, cwd=home, env=env)
    second = await cli("publish", DAY, *CONFIG, cwd=home, env=env)
    assert (first.code, second.code) == (EXIT_FAILURE, EXIT_FAILURE)
    ((failed,), (earlier,)) = first.out.splitlines(), second.out.splitlines()
    assert failed.startswith(f"ai-news-bot: {DAY}: failed (")
    assert earlier.startswith(f"ai-news-bot: {DAY}: failed earlier (")
    assert FORBIDDEN.removeprefix("Forbidden: ") in failed
    assert "Traceback" not in first.err + second.err
    assert [r.status for r in server.calls("sendMessage")] == [403]
    assert server.sent(CHANNEL) == []


# -- run and publish at once ---------------------------------------------------------------------


@pytest.mark.parametrize("race", ["together", "cli-sending", "bot-sending"])
@pytest.mark.reliability(7)
async def test_run_and_cron_publish_send_exactly_once(server: FakeTelegram, home: Path, race: str) -> None:
    """The running bot's catch-up and a cron `publish` on one database: one channel message."""
    # together: both start at once. cli-sending: the bot starts while the CLI's send is held in
    # flight by the server. bot-sending: the CLI starts while the bot's catch-up send is held.
    # Each ends differently for the CLI (already sent / sent / being sent): all are exit 0.
    # Both read the same clock, the wall clock (the CLI cannot be given another), so the bot's
    # window is set to be open now: a zone where it is midday, publishing from 00:00.
    now = time.time()
    zone = midday_zone(now)
    day = dt.datetime.fromtimestamp(now, zone).date()
    (home / "posts" / "race.md").write_text(daily_post(day, "赛跑日报"), encoding="utf-8")
    config = make_config(home, server)
    schedule = replace(config.schedule, timezone=zone, time=dt.time(0, 0), catch_up=dt.timedelta(hours=23))
    if race != "together":
        server.delay_next("sendMessage", 1.0 if race == "cli-sending" else 2.5)
    process = await start("publish", str(day), *CONFIG, cwd=home, env=environment(server, token=server.token))
    if race == "cli-sending":
        await server.wait_for(lambda: bool(server.calls("getMe")) or process.returncode is not None, WITHIN)
    async with running_bot(server, replace(config, schedule=schedule), Clock(now)):
        result = await finish(process)
    assert result.code == EXIT_OK, result
    (line,) = result.out.splitlines()
    assert line.startswith(outcomes(day)), line
    assert len(server.sent(CHANNEL)) == 1


# -- demo ----------------------------------------------------------------------------------------


async def test_demo_plays_the_whole_conversation() -> None:
    """`demo` from the repository, no token and no config: publish, /today, /tag, /search; exit 0."""
    result = await cli("demo", cwd=REPO, env=environment(), within=15)
    post, _ = read_post(EXAMPLE_POSTS / TODAY_POST, site_url=SITE)
    steps = [step.partition("\n")[::2] for step in result.out.split("\n━━ ")[1:]]  # (header, transcript)
    commands = [header.split("› ")[1].split()[0] for header, _ in steps if "› " in header]
    (published,) = [shown for header, shown in steps if "daily publish" in header]
    assert (result.code, result.err) == (EXIT_OK, "")
    assert f"    │ {post.title}\n" in published
    assert commands[:3] == ["/today", "/tag", "/search"]
    assert [header for header, shown in steps if "    │ " not in shown] == []  # every step was answered
    assert "Traceback" not in result.out


async def test_demo_without_posts_exits_3(tmp_path: Path) -> None:
    """`demo --posts EMPTY` exits 3 with one line naming the folder."""
    result = await cli("demo", "--posts", str(tmp_path), cwd=REPO, env=environment())
    assert (result.code, result.out, len(result.err_lines)) == (EXIT_NO_POST, "", 1)
    assert str(tmp_path) in result.err


@pytest.mark.reliability(24)
async def test_debug_logging_never_shows_the_webhook_secret(server: FakeTelegram, home: Path) -> None:
    """`run -vv` in webhook mode: PTB's DEBUG line for setWebhook carries `secret_token`; the
    secret is redacted from it and every other line, like the token."""
    secret = "s3cret-Webhook_value-0123456789"
    port = free_port()
    config = home / "config.toml"
    config.write_text(
        config.read_text(encoding="utf-8")
        + f'\n[webhook]\nurl = "https://bot.example.org/hook"\nlisten = "127.0.0.1"\nport = {port}\n',
        encoding="utf-8",
    )
    env = {**environment(server, token=server.token), WEBHOOK_SECRET_ENV: secret}
    process = await start("-vv", "run", *CONFIG, cwd=home, env=env)
    await server.wait_for(lambda: bool(server.calls("setWebhook")) or process.returncode is not None, WITHIN)
    assert server.calls("setWebhook")[0].params["secret_token"] == secret  # it was really sent
    process.send_signal(signal.SIGTERM)
    result = await finish(process)
    assert result.code == EXIT_OK
    assert secret not in result.out + result.err
    assert "setWebhook" in result.err
    assert leaked(result, server.token) == []


async def test_run_waits_for_an_unreachable_bot_api(home: Path) -> None:
    """Started before the network (nothing listens at api_url yet): `run` logs each try and waits
    with backoff instead of exiting, then polls once the Bot API answers; SIGTERM still stops it."""
    port = free_port()
    server = FakeTelegram()
    env = {**environment(token=server.token), API_URL_ENV: f"http://127.0.0.1:{port}"}
    process = await start("run", *CONFIG, cwd=home, env=env)
    assert process.stderr is not None
    tries: list[str] = []
    while len(tries) < 2:
        line = (await asyncio.wait_for(process.stderr.readline(), WITHIN)).decode()
        assert line, "run exited instead of waiting"
        if "cannot be reached" in line:
            tries.append(line)
    assert "attempt 1" in tries[0]
    assert "attempt 2" in tries[1]
    await server.start(port=port)
    try:
        await server.wait_for(lambda: server.polling, WITHIN)
        process.send_signal(signal.SIGTERM)
        result = await finish(process)
    finally:
        await server.stop()
    assert result.code == EXIT_OK, result
    assert leaked(result, server.token) == []


async def test_run_logs_where_its_ledger_and_posts_are(server: FakeTelegram, home: Path) -> None:
    """`run` names the resolved (absolute) database and posts folder at start, at the default level."""
    process = await start("run", *CONFIG, cwd=home, env=environment(server, token=server.token))
    await until_polling(server, process)
    process.send_signal(signal.SIGTERM)
    result = await finish(process)
    assert f"database {home / 'bot.db'}, posts {home / 'posts'}" in result.err


async def test_run_never_imports_the_fake_telegram(server: FakeTelegram, home: Path) -> None:
    """The fake Bot API server is test and demo code: `run` answers readers without ever importing
    `bot.testing` (PYTHONPROFILEIMPORTTIME lists every module the process imported)."""
    env = {**environment(server, token=server.token), "PYTHONPROFILEIMPORTTIME": "1"}
    process = await start("run", *CONFIG, cwd=home, env=env)
    await until_polling(server, process)
    server.user_message("/today", user_id=READER)
    await server.wait_for(lambda: len(server.sent(READER)) >= 1)
    process.send_signal(signal.SIGTERM)
    result = await finish(process)
    imported = [
        line.rsplit("|", 1)[-1].strip() for line in result.err.splitlines() if line.startswith("import time:")
    ]
    assert "bot.app" in imported  # the listing is there
    assert [name for name in imported if name.startswith("bot.testing")] == []


async def test_run_warns_when_no_admin_is_configured(server: FakeTelegram, home: Path) -> None:
    """Without `[telegram] admins`, `run` warns at start: nobody could publish by hand or hear of a
    failed day."""
    process = await start("run", *CONFIG, cwd=home, env=environment(server, token=server.token))
    await until_polling(server, process)
    process.send_signal(signal.SIGTERM)
    result = await finish(process)
    assert "[telegram] admins is empty" in result.err


async def test_version() -> None:
    """`--version` prints `bot.__version__`, the one place the version is written: pyproject.toml
    takes the package's version from it."""
    result = await cli("--version", cwd=REPO, env=environment())
    assert result.code == EXIT_OK
    assert result.out == f"ai-news-bot {bot.__version__}\n"
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "bot.__version__"}
