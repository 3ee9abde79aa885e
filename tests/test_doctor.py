"""`ai-news-bot doctor` as an operator runs it: a real process against the fake Bot API."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.cli import EXIT_FAILURE, EXIT_OK
from bot.config import DATABASE_ENV
from bot.store import SCHEMA_VERSION, Store
from bot.testing.fakeapi import FakeTelegram
from tests.helpers.databases import postgres_schema, postgres_url
from tests.helpers.harness import ADMIN, CHANNEL, TODAY, copy_example_posts, daily_post
from tests.helpers.processes import WRONG_TOKEN, cli, environment

# Each test starts `python -m bot doctor` as a real process.
pytestmark = pytest.mark.slow


def write_config(
    home: Path, server: FakeTelegram, *, admins: str = f"[{ADMIN}]", extra: str = ""
) -> list[str]:
    (home / "config.toml").write_text(
        f'[telegram]\napi_url = "{server.api_url}"\nadmins = {admins}\n'
        f'[channel]\nchat = "{CHANNEL}"\n{extra}\n[storage]\ndatabase = "bot.db"\n',
        encoding="utf-8",
    )
    return ["--config", str(home / "config.toml")]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    copy_example_posts(tmp_path / "posts")
    return tmp_path


async def test_everything_in_order(server: FakeTelegram, home: Path) -> None:
    """A healthy deployment: every line ✓ and exit 0."""
    server.user_message("/start", user_id=ADMIN)
    args = write_config(home, server)
    result = await cli("doctor", *args, cwd=home, env=environment(server, token=server.token))
    assert result.code == EXIT_OK, result
    lines = result.out.splitlines()
    assert [line[:1] for line in lines] == ["✓"] * len(lines)
    names = [line.split(":")[0] for line in lines]
    assert names == [
        "✓ config",
        "✓ token",
        f"✓ channel {CHANNEL}",
        f"✓ admin {ADMIN}",
        "✓ webhook",
        f"✓ database {home / 'bot.db'}",
        f"✓ posts {home / 'posts'}",
    ]
    assert "created at the first start" in lines[5]
    assert "7 posts, 6 AI 日报, 0 broken" in lines[6]


async def test_each_problem_is_named_with_its_fix(server: FakeTelegram, home: Path) -> None:
    """An admin who never started the bot, the bot without delete rights, pin on without the
    right, a webhook left set, a database from a newer version, a broken post: a ✗ line each,
    with what to do; exit 1. Nothing is sent to any chat."""
    server.set_member(CHANNEL, server.bot_id, "administrator", can_post_messages=True)
    server.webhook_url = "https://old.example/hook"
    (home / "posts" / "bad.md").write_text("---\ntitle: x\ndate: 2026-02-29\n---\nb\n", encoding="utf-8")
    with sqlite3.connect(home / "bot.db") as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    args = write_config(home, server, extra="pin = true")
    result = await cli("doctor", *args, cwd=home, env=environment(server, token=server.token))
    assert result.code == EXIT_FAILURE, result
    out = result.out
    assert f"✗ channel {CHANNEL}: the bot lacks can_edit_messages, can_delete_messages — give the bot" in out
    assert f"✗ admin {ADMIN}: unknown to the bot (BadRequest: Chat not found): not started yet" in out
    assert "✗ webhook: set to https://old.example/hook, but the config polls — remove it" in out
    assert f"is newer than this ai-news-bot's ({SCHEMA_VERSION}) — upgrade ai-news-bot" in out
    assert "1 broken" in out
    assert server.sent() == []


async def test_rejected_token_and_no_admins(server: FakeTelegram, home: Path) -> None:
    """A token Telegram rejects stops the Telegram checks at one line; the local ones still run."""
    args = write_config(home, server, admins="[]")
    result = await cli("doctor", *args, cwd=home, env=environment(server, token=WRONG_TOKEN))
    assert result.code == EXIT_FAILURE
    assert "✗ token: rejected by" in result.out
    assert WRONG_TOKEN.split(":")[1] not in result.out + result.err
    assert "✓ posts" in result.out


async def test_admin_who_blocked_the_bot(server: FakeTelegram, home: Path) -> None:
    """An admin who wrote once but blocked the bot since: alerts would not reach them."""
    server.user_message("/start", user_id=ADMIN)
    server.block_bot(ADMIN)
    args = write_config(home, server)
    result = await cli("doctor", *args, cwd=home, env=environment(server, token=server.token))
    assert f"✗ admin {ADMIN}: has not started the bot (or blocked it)" in result.out


async def test_no_admins_is_a_failure(server: FakeTelegram, home: Path) -> None:
    """An empty admins list: nobody would hear of a failed day."""
    args = write_config(home, server, admins="[]")
    result = await cli("doctor", *args, cwd=home, env=environment(server, token=server.token))
    assert result.code == EXIT_FAILURE
    assert "✗ admins: [telegram] admins is empty" in result.out


async def test_todays_post_and_a_current_database(server: FakeTelegram, home: Path) -> None:
    """With the ledger in place and today's file there, doctor says so."""
    server.user_message("/start", user_id=ADMIN)
    await _create_ledger(home / "bot.db")
    (home / "posts" / "now.md").write_text(daily_post(TODAY, "今天"), encoding="utf-8")
    args = write_config(home, server)
    result = await cli("doctor", *args, cwd=home, env=environment(server, token=server.token))
    assert f"writable, schema {SCHEMA_VERSION}" in result.out


async def test_a_postgresql_ledger_is_checked_without_its_password(server: FakeTelegram, home: Path) -> None:
    """A PostgreSQL ledger (from env AI_NEWS_BOT_DATABASE): ✓ writable at this schema; one that
    cannot be reached: ✗ with what to check. Its password is never printed."""
    async with postgres_schema(postgres_url()) as url:
        await _create_ledger(url)
        args = write_config(home, server)
        env = {**environment(server, token=server.token), DATABASE_ENV: url}
        result = await cli("doctor", *args, cwd=home, env=env)
        (line,) = [line for line in result.out.splitlines() if " database " in line]
        assert line.startswith("✓ database postgresql://")
        assert line.endswith(f"writable, schema {SCHEMA_VERSION}")
    env[DATABASE_ENV] = "postgresql://ainews:s3cret-pw@127.0.0.1:1/ainews"
    result = await cli("doctor", *args, cwd=home, env=env)
    (line,) = [line for line in result.out.splitlines() if " database " in line]
    assert line.startswith("✗ database postgresql://ainews:***@127.0.0.1:1/ainews: cannot be opened")
    assert "s3cret-pw" not in result.out + result.err


async def _create_ledger(database: Path | str) -> None:
    await (await Store.open(database)).close()
