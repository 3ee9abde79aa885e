"""What handlers and jobs share: the running bot's services, reached through a typed PTB context."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from telegram.ext import Application, CallbackContext, ExtBot

from bot import deeplinks, pages
from bot.config import Config
from bot.gitpull import GitPull
from bot.health import Telemetry
from bot.limits import ReaderLimits
from bot.locale import Translate, chinese
from bot.pages import Page, PageRef
from bot.posts import Library, Post, PostFolder
from bot.publish import Sender
from bot.reading import Reading
from bot.schedule import Release, release_at
from bot.searcher import Searcher
from bot.store import PubKey, Store, StoreError

if TYPE_CHECKING:  # the workflow and the broadcast use the services: type-only imports avoid the cycle
    from bot.broadcast import Broadcaster
    from bot.workflow import Publisher

logger = logging.getLogger(__name__)


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
    # Whether this instance is the primary (bot/leader.py): it alone follows edits of the published
    # post. Always, with SQLite; with PostgreSQL, while it holds the leader's lock.
    primary: bool = True
    # Sends the day's post to subscribers (bot/broadcast.py); None in the command line's publish.
    broadcaster: Broadcaster | None = None

    def start_link(self, payload: str) -> str | None:
        """The t.me link that opens this bot with `/start payload`; None before getMe."""
        return deeplinks.bot_link(self.sender.bot, payload)

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock(), tz=dt.UTC)

    def today(self) -> dt.date:
        """Today in the blog's time zone: the post's `date` is a Beijing date."""
        return self.now().astimezone(self.config.schedule.timezone).date()

    def library(self) -> Library:
        """The posts as they are on disk now (only changed files are re-read)."""
        return self.posts.load()

    def post_for(self, day: dt.date) -> Post | None:
        return self.library().days(self.config.posts.category).get(day)

    async def release(self) -> Release:
        """The release rules now; before the publish time, whether an admin published today already
        (a ledger that cannot answer counts as not: nothing is shown early)."""
        now = self.now()
        release = release_at(now, self.config.schedule)
        if now < release.opens:
            try:
                row = await self.store.get(PubKey(str(self.config.channel.chat), release.today))
            except StoreError as exc:
                logger.warning("release rules without the ledger: %s", exc)
                row = None
            release = dataclasses.replace(release, sent_today=row is not None and row.status == "sent")
        return release

    @contextlib.asynccontextmanager
    async def reading(self, tr: Translate = chinese) -> AsyncIterator[Reading]:
        """What readers may see now, for answering one update (texts in the reader's language, `tr`).
        The long button texts its pages made are stored when the block ends, before the answer is
        sent, so its buttons work."""
        library = self.library()
        await self.search.ready(library)
        kept: dict[str, str] = {}

        def key_for(text: str) -> str:
            key = pages.text_key(text)
            kept[key] = text
            return key

        yield Reading(
            self.config,
            library,
            await self.release(),
            engine=lambda: self.search.engine(library),
            key_for=key_for,
            tr=tr,
            link_for=self.start_link,
        )
        try:
            await self.store.put_texts(kept)
        except StoreError as exc:  # the answer still goes; its ◀ ▶ buttons will say "expired"
            logger.warning("could not keep %d button texts: %s", len(kept), exc)

    async def stored_text(self, key: str) -> str | None:
        """The text a button or a start link carries as `key` (`pages.text_key`); None for a key
        this bot never stored (forged, or expired), or when the database cannot say now."""
        try:
            return await self.store.get_text(key)
        except StoreError as exc:
            logger.warning("stored text %s unavailable: %s", key, exc)
            return None

    async def page_for(self, ref: PageRef, tr: Translate = chinese) -> Page | None:
        """The page a ◀ ▶ or tag button asks for, in the presser's language; None for a key this bot
        never stored (forged, or expired), or when the database cannot say now."""
        arg = ref.arg if ref.key is None else await self.stored_text(ref.key)
        if ref.key is not None and arg is None:
            return None
        async with self.reading(tr) as reading:
            return reading.page_for(ref, arg)


class Context(CallbackContext[ExtBot[Any], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """PTB's callback context plus `services` (PTB examples/contexttypesbot.py)."""

    @property
    def services(self) -> Services:
        services: Services = self.application.bot_data["services"]
        return services


BotApplication = Application[ExtBot[Any], Context, dict[Any, Any], dict[Any, Any], dict[Any, Any], Any]
