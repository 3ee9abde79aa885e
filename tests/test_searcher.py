"""`searcher.Searcher` in the bot: the index built and synced in a worker thread, the scan answering
until it is ready, an answer to a changed folder waiting only for the sync of what changed."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.index import SearchIndex
from bot.posts import PostFolder
from bot.search import ScanSearch
from bot.searcher import Searcher
from tests.helpers.harness import daily_post
from tests.helpers.paths import EXAMPLE_POSTS, SITE


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return Path(shutil.copytree(EXAMPLE_POSTS, tmp_path / "posts"))


@pytest.fixture
async def searcher(tmp_path: Path, folder: Path) -> AsyncIterator[Searcher]:
    searcher = Searcher(tmp_path / "search.db", folder, site_url=SITE)
    yield searcher
    searcher.close()


def answer(engine: object, query: str) -> list[tuple[str, str]]:
    result = engine.search(query, limit=50)  # type: ignore[attr-defined]
    return [(hit.post.title, hit.snippet) for hit in result.hits]


async def test_a_first_build_runs_in_the_background_while_the_scan_answers(
    searcher: Searcher, folder: Path
) -> None:
    """With more changes than SYNC_FIRST, start() returns with the scan ready; the index answers the
    same once its build is done."""
    searcher.SYNC_FIRST = 0
    library = PostFolder(folder, site_url=SITE).load()
    await searcher.start(library)
    scan = searcher.engine(library)
    assert isinstance(scan, ScanSearch)
    assert await searcher.sync(library)  # waits for the background build
    index = searcher.engine(library)
    assert not isinstance(index, ScanSearch)
    for query in ("模型", "开源 机器人", "芯", "-开源 模型"):
        assert answer(index, query) == answer(scan, query)


async def test_little_changed_means_the_index_answers_from_the_start(tmp_path: Path, folder: Path) -> None:
    """A restart with the index file in step syncs before start() returns: no scan at all."""
    first = Searcher(tmp_path / "search.db", folder, site_url=SITE)
    posts = PostFolder(folder, site_url=SITE)
    await first.start(posts.load())
    assert await first.sync(posts.load())  # the first build, done
    first.close()
    again = Searcher(tmp_path / "search.db", folder, site_url=SITE)
    try:
        library = posts.load()
        await again.start(library)
        assert not isinstance(again.engine(library), ScanSearch)
    finally:
        again.close()


async def test_an_answer_to_a_changed_folder_waits_for_its_sync(searcher: Searcher, folder: Path) -> None:
    """After a new post, ready() syncs (in the worker) before the answer, which then finds it."""
    posts = PostFolder(folder, site_url=SITE)
    await searcher.start(posts.load())
    assert await searcher.sync(posts.load())  # the first build, done
    (folder / "2026-12-01-new.md").write_text(daily_post(dt.date(2026, 12, 1), "新帖 量子"), encoding="utf-8")
    library = posts.load()
    await searcher.ready(library)
    engine = searcher.engine(library)
    assert not isinstance(engine, ScanSearch)
    assert [title for title, _ in answer(engine, "量子")] == ["新帖 量子"]


async def test_an_unusable_index_file_leaves_the_scan_answering(tmp_path: Path, folder: Path) -> None:
    """A search index path that cannot be a database: logged, and searches scan."""
    (tmp_path / "search.db").mkdir()
    searcher = Searcher(tmp_path / "search.db", folder, site_url=SITE)
    try:
        library = PostFolder(folder, site_url=SITE).load()
        await searcher.start(library)
        assert not await searcher.sync(library)
        assert isinstance(searcher.engine(library), ScanSearch)
        assert answer(searcher.engine(library), "模型")
    finally:
        searcher.close()


async def test_closing_stops_a_first_build_at_once(tmp_path: Path) -> None:
    """close() during a first build of 3,000 posts returns within a fraction of the build, and the
    build is undone (the next start begins again), not left half made."""
    folder = tmp_path / "many"
    folder.mkdir()
    for n in range(3000):
        day = dt.date(2026, 11, 30) - dt.timedelta(days=n)
        (folder / f"{day}.md").write_text(daily_post(day, f"第 {n} 期 融资"), encoding="utf-8")
    searcher = Searcher(tmp_path / "search.db", folder, site_url=SITE)
    searcher.SYNC_FIRST = 0
    await searcher.start(PostFolder(folder, site_url=SITE).load())
    await asyncio.sleep(0.2)  # the build is under way
    started = time.monotonic()
    searcher.close()
    assert time.monotonic() - started < 1.0
    assert len(SearchIndex.open(tmp_path / "search.db", folder, site_url=SITE)) == 0
