"""`ai-news-bot copy-db`, moving an SQLite install into another database, and a database URL's
password kept out of everything the command line prints."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
from pathlib import Path

import pytest

from bot.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, main
from bot.store import PubKey, Store

KEY = PubKey("@ai_news_plus", dt.date(2026, 11, 29))


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


@pytest.fixture
async def old_install(tmp_path: Path) -> Path:
    """An SQLite ledger with a sent day, an update id, a button text and an event."""
    path = tmp_path / "old.db"
    store = await Store.open(path)
    try:
        assert await store.claim(KEY, owner="a", lease=45, post_path="p.md", post_sha256="h") is not None
        await store.mark_sent(KEY, owner="a", chat_id=-100, message_ids=(7,))
        await store.first_time(41)
        await store.put_texts({"K": "很长的查询"})
        await store.record_event("from the old install")
    finally:
        await store.close()
    return path


def test_copy_db_moves_an_install_and_is_safe_to_rerun(
    old_install: Path, database: Path | str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Into a new database of each engine: every row the first time, nothing the second; the
    target then answers like the old ledger."""
    target = str(database)
    code, out = run("copy-db", str(old_install), target)
    assert code == EXIT_OK, capsys.readouterr().err
    assert "publication 1, processed_update 1, cover_file 0" in out
    code, out = run("copy-db", str(old_install), target)
    assert code == EXIT_OK
    assert "publication 0, processed_update 0" in out
    assert "event 0 new rows" in out

    async def read() -> tuple[str | None, bool, str | None]:
        store = await Store.open(database)
        try:
            row = await store.get(KEY)
            return (row.status if row else None), await store.first_time(41), await store.get_text("K")
        finally:
            await store.close()

    assert asyncio.run(read()) == ("sent", False, "很长的查询")


def test_copy_db_destination_from_the_environment(
    old_install: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without DESTINATION, AI_NEWS_BOT_DATABASE is the target (where the bot will look)."""
    monkeypatch.setenv("AI_NEWS_BOT_DATABASE", str(tmp_path / "new.db"))
    code, out = run("copy-db", str(old_install))
    assert code == EXIT_OK
    assert f"copied into {tmp_path / 'new.db'}" in out


@pytest.mark.parametrize(
    "case",
    [
        (("missing.db", "new.db"), EXIT_FAILURE, "missing.db: no database to copy"),
        (("old.db", "old.db"), EXIT_USAGE, "SOURCE and DESTINATION are the same database"),
        (("old.db",), EXIT_USAGE, "give DESTINATION, or set AI_NEWS_BOT_DATABASE"),
        (("old.db", "mysql://x/y"), EXIT_USAGE, "expected a path to an SQLite file or a postgresql:// URL"),
    ],
    ids=["missing-source", "same", "no-destination", "not-postgres"],
)
def test_copy_db_refuses_what_cannot_work(
    old_install: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    case: tuple[tuple[str, ...], int, str],
) -> None:
    """A missing source, the same database twice, no destination, a URL of another database: one
    line, and nothing written."""
    args, code, message = case
    monkeypatch.chdir(old_install.parent)
    monkeypatch.delenv("AI_NEWS_BOT_DATABASE", raising=False)
    assert run("copy-db", *args)[0] == code
    assert message in capsys.readouterr().err
    assert not (old_install.parent / "new.db").exists()


def test_database_password_is_never_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A PostgreSQL server that cannot be reached: the error names the database with its password
    hidden, and the password appears nowhere in the output or the log."""
    monkeypatch.setenv("AI_NEWS_BOT_DATABASE", "postgresql://ainews:s3cret-pw@127.0.0.1:1/ainews")
    monkeypatch.chdir(tmp_path)
    code, out = run("-v", "publish", "--dry-run")
    err = capsys.readouterr().err
    assert code == EXIT_FAILURE
    assert "postgresql://ainews:***@127.0.0.1:1/ainews" in err
    assert "s3cret-pw" not in out + err
