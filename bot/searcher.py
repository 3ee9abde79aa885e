"""The search engine inside the running bot: the index (bot/index.py) built and synced in a worker
thread of its own, the scan answering until it is ready (docs/search.md)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from bot.index import SearchIndex, SearchIndexError, SyncStoppedError
from bot.posts import Library, Post
from bot.search import Entity, ScanDocuments, ScanSearch, SearchEngine, SearchResult
from bot.text import prepare_folding

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

# After a sync failed, answers do not wait for another one for this long (seconds); the index job
# tries again every 30 s.
RETRY_AFTER = 60.0


class _IndexView:
    """The index as the `SearchEngine` for one library: hits and snippets come from its posts."""

    def __init__(self, index: SearchIndex, posts: Mapping[str, Post]) -> None:
        self._index = index
        self._posts = posts

    def search(
        self, query: str, *, limit: int, offset: int = 0, until: dt.date | None = None
    ) -> SearchResult:
        return self._index.search(query, limit=limit, offset=offset, until=until, posts=self._posts)


class Searcher:
    """The search engine for the posts as loaded: the index once it has been synced to them, a
    scan of the posts until then (same results, same order).

    The index is built and synced in a worker thread of its own, on a connection of its own, so
    the event loop never waits for it; searches read it on another connection. Until the first
    sync is done (a first build takes seconds on a big blog), the scan answers; after it, an
    answer to a changed folder waits for the sync of what changed (milliseconds), then reads the
    index. If the index file cannot be used, searching goes on by scanning the posts.
    """

    # Start-up syncs before answering when at most this many files changed (a fraction of a
    # second); more, and the scan answers while the index catches up in the background.
    SYNC_FIRST = 100

    def __init__(
        self, path: Path | str, folder: Path, *, site_url: str, synonyms: Sequence[Entity] = ()
    ) -> None:
        self.path = path
        self.folder = folder
        self.site_url = site_url
        self.synonyms = tuple(synonyms)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="search-index")
        self._stop = threading.Event()  # set by close(): a sync under way stops
        self._closed = False
        self._retry_at = 0.0  # after a failed sync, answers do not wait for another before this
        self._writer: SearchIndex | None = None  # used in the worker thread only
        self._reader: SearchIndex | None = None  # used on the event loop
        self._synced: Library | None = None  # the library the index last synced to
        self._lock = asyncio.Lock()
        self._background: asyncio.Task[bool] | None = None
        self._by_name: tuple[Library, dict[str, Post]] | None = None
        self._documents = ScanDocuments()
        self._scan: tuple[Library, ScanSearch] | None = None

    def engine(self, library: Library) -> SearchEngine:
        """What answers a search over `library` now (never waits: `ready` first, to read the index)."""
        if self._reader is not None and self._synced is library:
            if self._by_name is None or self._by_name[0] is not library:
                self._by_name = (library, {post.path.name: post for post in library.posts})
            return _IndexView(self._reader, self._by_name[1])
        if self._scan is None or self._scan[0] is not library:
            self._scan = (
                library,
                ScanSearch(library.posts, synonyms=self.synonyms, documents=self._documents),
            )
        return self._scan[1]

    async def start(self, library: Library) -> None:
        """At start-up: sync now if little changed since the last run; else make the scan ready
        (in the worker thread) and build the index in the background. The patterns that fold
        queries and snippets fast are compiled there first: a restart with nothing to index would
        leave them to folding the texts whole."""
        await self._in_worker(prepare_folding)
        changes = await self._in_worker(self._changes)
        if changes is not None and changes <= self.SYNC_FIRST:
            await self.sync(library)
            return
        await self._in_worker(self._documents.of, library.posts)
        self._background = asyncio.create_task(self.sync(library), name="search-index")

    async def ready(self, library: Library) -> None:
        """Before answering: once the index has been built, bring it in step with `library` (only
        what changed is read); while a first build runs, the scan answers."""
        if self._reader is None or self._synced is library or self._closed:
            return
        if time.monotonic() < self._retry_at:  # the last sync failed: the index job tries again
            return
        await self.sync(library)

    async def sync(self, library: Library) -> bool:
        """Bring the index in step with the folder that `library` was loaded from, in the worker
        thread; False (logged) when the index cannot be used, and searches keep scanning."""
        async with self._lock:
            if self._synced is library:
                return True
            if self._closed or not await self._in_worker(self._sync):
                self._retry_at = time.monotonic() + RETRY_AFTER
                return False
            if self._reader is None:
                try:
                    self._reader = SearchIndex.open(
                        self.path, self.folder, site_url=self.site_url, synonyms=self.synonyms, reader=True
                    )
                except SearchIndexError as exc:
                    logger.error("search index unavailable, scanning the posts instead: %s", exc)
                    self._retry_at = time.monotonic() + RETRY_AFTER
                    return False
                self._documents.clear()  # the scan is not needed any more: its texts go
                self._scan = None
            self._reader.reload()
            self._synced = library
            return True

    async def _in_worker(self, call: Callable[..., _T], *args: Any) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._worker, call, *args)

    def _open(self) -> SearchIndex:
        if self._writer is None:
            self._writer = SearchIndex.open(
                self.path, self.folder, site_url=self.site_url, synonyms=self.synonyms
            )
        return self._writer

    def _changes(self) -> int | None:
        """In the worker: how many files the next sync reads or drops; None if the index is unusable."""
        try:
            return self._open().changes()
        except Exception:  # a cache: whatever goes wrong, searches scan the posts
            logger.exception("search index unavailable, scanning the posts instead")
            return None

    def _sync(self) -> bool:
        """In the worker."""
        try:
            self._open().sync(stop=self._stop)
        except SyncStoppedError:
            return False
        except (SearchIndexError, sqlite3.Error, OSError) as exc:
            logger.error("search index unavailable, scanning the posts instead: %s", exc)
            return False
        except Exception:  # a cache: whatever goes wrong, searches scan the posts
            logger.exception("search index not synced, scanning the posts instead")
            return False
        return True

    def close(self) -> None:
        """Stop using the index: a sync under way stops (undone: a first build starts again at the
        next start), then the worker closes its connection."""
        self._stop.set()
        self._closed = True
        if self._background is not None:
            self._background.cancel()
        if self._writer is not None:
            self._worker.submit(self._writer.close)
        self._worker.shutdown(wait=True)
        if self._reader is not None:
            self._reader.close()
        self._writer = self._reader = self._synced = None
