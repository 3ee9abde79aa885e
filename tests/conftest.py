"""Shared fixtures: the fake Bot API, the example posts, the running bot, and the real blog corpus
when it is beside the repository. Helpers that are not fixtures live in tests/helpers/."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import Config
from bot.testing.fakeapi import FakeTelegram
from tests.helpers.databases import ENGINES, fresh_database
from tests.helpers.harness import (
    Bot,
    Clock,
    admin_has_written,
    at,
    copy_example_posts,
    make_config,
    running_bot,
)
from tests.helpers.paths import REPO

# The example posts the page and tag tests spell out in full (the others only make the lists
# long enough to page through in the demo).
CORE_EXAMPLES = (
    "2026-11-27-5f0c2a9e-6b1d-4c3e-9a57-2d8e1f4b7c10.md",
    "2026-11-28-a83d7c41-02f5-4e6b-b1c9-7e4a90d2f365.md",
    "sqlite-fts5-chinese-search.md",
)
# The real posts are third-party text used as test data only, never copied into the repository:
# they live in ../shared/corpus (or $AI_NEWS_BOT_CORPUS) and the tests that need them skip without.
CORPUS = Path(os.environ.get("AI_NEWS_BOT_CORPUS", REPO.parent / "shared" / "corpus"))
# Queries that break naive search code (docs/reliability.md, cases 19 and 20): FTS5 syntax, quotes, HTML,
# SQL, control characters, invisible and huge input. Every search path must answer them.
HOSTILE_QUERIES = (
    '"',
    '"unclosed phrase',
    "a AND",
    "a AND b",
    "NOT",
    "OR OR OR",
    "NEAR(a b",
    "*",
    "^x",
    "c++",
    "bar-baz",
    "title:x",
    "{title}: x",
    "-",
    "-芯片",
    "- - -",
    "<a href='x'>",
    "<b>&amp;</i>",
    "'; DROP TABLE search_doc; --",
    "a\x00b\x01\x1f\x7f",
    "\u200b\u202e",
    "   ",
    "",
    "芯" * 256,
    "🙂" * 128,
    "x" * 5000,
)


def corpus_dir(name: str) -> Path:
    """`../shared/corpus/<name>`, or skip the test when the corpus is not there."""
    folder = CORPUS / name
    if not folder.is_dir():
        pytest.skip(f"corpus not found at {folder} (set AI_NEWS_BOT_CORPUS)")
    return folder


def corpus_file(prefix: str, folder: str = "posts") -> Path:
    """The corpus file whose name starts with `prefix` (file names are long uuids)."""
    matches = sorted(corpus_dir(folder).glob(f"{prefix}*.md"))
    if len(matches) != 1:
        pytest.fail(f"expected one corpus file starting with {prefix!r}, found {len(matches)}")
    return matches[0]


@pytest.fixture(params=ENGINES)
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Path | str]:
    """A new, empty database on each engine: an SQLite file, and a PostgreSQL schema of its own
    (skipped, saying why, unless AI_NEWS_BOT_TEST_POSTGRES names a server)."""
    async with fresh_database(request.param, tmp_path) as location:
        yield location


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegram]:
    """A fake Telegram Bot API server on a free port of 127.0.0.1."""
    async with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def posts(tmp_path: Path) -> Path:
    """The example posts, copied to this test's posts folder (make_config's `posts.dir`)."""
    return copy_example_posts(tmp_path / "posts")


@pytest.fixture
def config(server: FakeTelegram, tmp_path: Path) -> Config:
    """The bot's configuration: make_config's layout under tmp_path. A module may override it."""
    return make_config(tmp_path, server)


@pytest.fixture
async def bot(server: FakeTelegram, config: Config, posts: Path) -> AsyncIterator[Bot]:
    """The example posts and the real bot started at 07:00, before the publish time: nothing is
    published by itself until a test moves the clock and runs a job (or an admin publishes)."""
    async with running_bot(server, config, Clock(at(7))) as running:
        yield running


@pytest.fixture(name="admin_has_written")
def admin_has_written_fixture(server: FakeTelegram) -> None:
    """The admin has written to the bot before it starts, so the admins' alerts can arrive
    (`@pytest.mark.usefixtures("admin_has_written")`)."""
    admin_has_written(server)


@pytest.fixture
def corpus_posts() -> Path:
    """The real blog's posts (skips without the corpus)."""
    return corpus_dir("posts")


@pytest.fixture
def corpus_deleted() -> Path:
    """The real blog's deleted posts (skips without the corpus)."""
    return corpus_dir("deleted")
