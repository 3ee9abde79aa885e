"""What handlers and jobs share: the running bot's services, reached through a typed PTB context."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telegram.ext import Application, CallbackContext, ExtBot

from bot.config import Config
from bot.gitpull import GitPull
from bot.health import Telemetry
from bot.index import SearchIndex, SearchIndexError
from bot.limits import ReaderLimits
from bot.posts import Library, Post, PostFolder, daily_posts, newest, post_for_day
from bot.publish import Publisher, Sender
from bot.search import ScanSearch, SearchEngine
from bot.store import PubKey, Store

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class Services:
    """The bot's dependencies, built once by `app.build_services` and never global."""

    config: Config
    store: Store
    posts: PostFolder
    sender: Sender
    publisher: Publisher
    clock: Callable[[], float]  # Unix seconds; tests pass a fixed clock
    pull: GitPull | None = None  # [posts] pull = "git"
    telemetry: Telemetry = field(default_factory=Telemetry)  # metrics and the Bot API's health
    limits: ReaderLimits = field(default_factory=ReaderLimits)
    # Published files seen missing, by publication, and since when (schedule.follow_edits).
    missing_since: dict[str, float] = field(default_factory=dict)
    _index: SearchIndex | None = field(default=None, repr=False)
    _indexed: Library | None = field(default=None, repr=False)  # the library the index last synced to
    _fallback: tuple[Library, SearchEngine] | None = field(default=None, repr=False)

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock(), tz=dt.UTC)

    def today(self) -> dt.date:
        """Today in the blog's time zone: the post's `date` is a Beijing date."""
        return self.now().astimezone(self.config.schedule.timezone).date()

    def library(self) -> Library:
        """The posts as they are on disk now (only changed files are re-read)."""
        return self.posts.load()

    def post_for(self, day: dt.date) -> Post | None:
        return post_for_day(self.library().posts, day, self.config.posts.category)

    def released(self, day: dt.date) -> bool:
        """Readers see a day's post once it is out: an earlier day, or today from the publish
        time on (or earlier, if an admin already published it). No spoilers before 08:00."""
        today = self.today()
        if day != today:
            return day < today
        start = dt.datetime.combine(day, self.config.schedule.time, tzinfo=self.config.schedule.timezone)
        if self.now() >= start:
            return True
        row = self.store.get(PubKey(str(self.config.channel.chat), day))
        return row is not None and row.status == "sent"

    def last_released_day(self) -> dt.date:
        """The newest day readers may see posts of (search and lists stop there)."""
        today = self.today()
        return today if self.released(today) else today - dt.timedelta(days=1)

    def visible_posts(self) -> list[Post]:
        """Every post readers may see: none dated after the last day that is out."""
        last = self.last_released_day()
        return [post for post in self.library().posts if post.date <= last]

    def released_daily(self) -> list[Post]:
        """The daily posts readers may see, one a day (the file /today would show), newest first."""
        by_day: dict[dt.date, list[Post]] = {}
        for post in daily_posts(self.library().posts, self.config.posts.category):
            by_day.setdefault(post.date, []).append(post)
        return [newest(by_day[day]) for day in sorted(by_day, reverse=True) if self.released(day)]

    def latest_released(self) -> Post | None:
        """The newest post readers may see."""
        released = self.released_daily()
        return released[0] if released else None

    def search(self) -> SearchEngine:
        """The full-text index, synced when the posts changed (only changed files are re-read).

        If the index file cannot be used, searching still works by scanning the posts.
        """
        library = self.library()
        try:
            if self._index is None:
                self._index = SearchIndex.open(
                    search_index_path(self.config), self.config.posts.dir, site_url=self.config.posts.site_url
                )
            if self._indexed is not library:
                self._index.sync()
                self._indexed = library
            return self._index
        except (SearchIndexError, sqlite3.Error, OSError) as exc:
            logger.error("search index unavailable, scanning the posts instead: %s", exc)
        if self._fallback is None or self._fallback[0] is not library:
            self._fallback = (library, ScanSearch(library.posts))
        return self._fallback[1]

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None


def search_index_path(config: Config) -> Path:
    """The search index: a cache beside the ledger, in its own file (`bot.db` -> `bot.search.db`)."""
    return config.storage.database.with_suffix(".search.db")


def journal_path(config: Config) -> Path:
    """Sent messages the database could not record wait here (`bot.db` -> `bot.journal`)."""
    return config.storage.database.with_suffix(".journal")


class Context(CallbackContext[ExtBot[Any], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """PTB's callback context plus `services` (PTB examples/contexttypesbot.py)."""

    @property
    def services(self) -> Services:
        services: Services = self.application.bot_data["services"]
        return services


BotApplication = Application[ExtBot[Any], Context, dict[Any, Any], dict[Any, Any], dict[Any, Any], Any]
