"""What handlers and jobs share: the running bot's services, reached through a typed PTB context."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from telegram.ext import Application, CallbackContext, ExtBot

from bot import pages
from bot.config import Config
from bot.gitpull import GitPull
from bot.health import Telemetry
from bot.index import Searcher
from bot.limits import ReaderLimits
from bot.posts import Library, Post, PostFolder, post_for_day
from bot.publish import Sender
from bot.reading import Reading
from bot.schedule import Release, release_at
from bot.store import PubKey, Store

if TYPE_CHECKING:  # the workflow uses the services: a type-only import avoids the cycle
    from bot.workflow import Publisher


@dataclass(eq=False)
class Services:
    """The bot's collaborators, built by `app.build_services` and passed in; never global."""

    config: Config
    store: Store
    posts: PostFolder
    sender: Sender
    publisher: Publisher
    search: Searcher
    limits: ReaderLimits
    telemetry: Telemetry
    clock: Callable[[], float]  # Unix seconds; tests pass a clock they move
    # Published files seen missing, by publication, and since when (workflow.follow_edits).
    missing_since: dict[str, float]
    pull: GitPull | None = None  # [posts] pull = "git"

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

    def release(self) -> Release:
        """The release rules now; before the publish time, whether an admin published today already."""
        now = self.now()
        release = release_at(now, self.config.schedule)
        if now < release.opens:
            row = self.store.get(PubKey(str(self.config.channel.chat), release.today))
            release = dataclasses.replace(release, sent_today=row is not None and row.status == "sent")
        return release

    def reading(self) -> Reading:
        """What readers may see now, for answering one update."""
        library = self.library()

        def key_for(text: str) -> str:
            key = pages.text_key(text)
            self.store.put_text(key, text, now=self.clock())
            return key

        return Reading(
            self.config,
            library,
            self.release(),
            engine=lambda: self.search.engine(library),
            key_for=key_for,
            text_for=lambda key: self.store.get_text(key, now=self.clock()),
        )


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
