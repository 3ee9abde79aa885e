"""What readers see: the day's post, tag and search pages, inline results; never a post before it is out.

A `Reading` is one moment's view for one update: the posts as loaded, the release rules at that
moment, the search engine, and where long button texts are kept. The handlers ask it for a page
and send what it returns; nothing here talks to Telegram.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot import deeplinks, pages, texts
from bot.calls import JSON, article_result
from bot.config import Config
from bot.locale import Translate, chinese
from bot.pages import Page, PageRef
from bot.posts import Library, Post
from bot.render import render_post
from bot.schedule import Release
from bot.search import SearchEngine, SearchResult, search_form, synonyms_for
from bot.suggest import closest, suggestion_names, that_find
from bot.tags import TagCount, find_tag, posts_with_tag, suggest_tags, tag_counts, tag_key
from bot.telegram_rules import INLINE_QUERY_RESULTS
from bot.text import clip, escape, one_line

TAGS_PER_PAGE = 20
POSTS_PER_PAGE = 10
HITS_PER_PAGE = 5
SUGGESTIONS = 3  # what a search that found nothing may have meant (bot/suggest.py)
SUGGESTION_CANDIDATES = 10  # the closest names and titles, searched for in turn until 3 find a post
# Inline mode: at most 50 results per answer (Bot API answerInlineQuery); `next_offset` comes back
# verbatim from the client, so it is only ever our own decimal number, and anything else counts as 0.
INLINE_RESULTS = INLINE_QUERY_RESULTS
MAX_INLINE_OFFSET = 10_000
_INLINE_OFFSET = re.compile(r"[0-9]{1,5}")
# Telegram shows a result's title on one line and its description on about two.
MAX_RESULT_TITLE = 128
MAX_RESULT_DESCRIPTION = 160


@dataclass(frozen=True, slots=True)
class TodayAnswer:
    """/today's answer: the post to show (if any) and a note to send before it (if any)."""

    post: Post | None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Reading:
    """One moment's view of the posts for one reader, with the texts in their language (`tr`)."""

    config: Config
    library: Library
    release: Release
    engine: Callable[[], SearchEngine]  # asked only when a search is made
    key_for: pages.KeyFor  # keeps a text too long for callback data, returns its key
    tr: Translate = chinese  # the reader's language (bot.locale.translator)
    # The t.me link that opens the bot with /start PAYLOAD; None when the bot's username is unknown.
    link_for: Callable[[str], str | None] | None = None

    # -- the day's post ----------------------------------------------------------------------------

    def post_for(self, day: dt.date) -> Post | None:
        return self.library.days(self.config.posts.category).get(day)

    def released_daily(self) -> list[Post]:
        """The daily posts readers may see, one a day (the file /today would show), newest first."""
        days = self.library.days(self.config.posts.category)
        return [days[day] for day in reversed(days) if self.release.released(day)]

    def visible_posts(self) -> list[Post]:
        """Every post readers may see: none dated after the last day that is out."""
        last = self.release.last_day
        return [post for post in self.library.posts if post.date <= last]

    def today(self, day: dt.date) -> TodayAnswer:
        """/today [DAY]: that day's post if it is out; for today before the publish time, a note and
        the latest post that is out (no spoilers)."""
        post = self.post_for(day) if self.release.released(day) else None
        if post is not None:
            return TodayAnswer(post)
        released = self.released_daily()
        if not released:
            return TodayAnswer(None, self.tr(texts.NO_POSTS))
        if day != self.release.today:
            return TodayAnswer(None, self.tr(texts.NO_POST_FOR_DAY).format(day=day))
        return TodayAnswer(released[0], self.tr(texts.TODAY_NOT_YET).format(today=day, day=released[0].date))

    # -- tags ------------------------------------------------------------------------------------

    def tag_counts(self) -> list[TagCount]:
        """Front-matter tags, categories and topics of the posts that are out, with their counts."""
        return tag_counts(self.visible_posts(), self.config.topics)

    def tag_list(self, page: int) -> Page:
        return pages.tag_list_page(
            self.tag_counts(), page, key_for=self.key_for, per_page=TAGS_PER_PAGE, tr=self.tr
        )

    def _find_tag(self, counts: list[TagCount], tag: str) -> TagCount | None:
        """The label `tag` stands for: a tag or topic by its name, or a topic by an alias (`Nvidia`)."""
        found = find_tag(counts, tag)
        if found is None:
            found = self._topic_by_alias(counts, tag)
        if found is None:
            # Another name of the same company (輝達 for the 英伟达 topic): bot/synonyms.py.
            entity = synonyms_for(tuple(self.config.search_synonyms)).names_of(search_form(tag))
            for name in entity[1] if entity is not None else ():
                found = find_tag(counts, name) or self._topic_by_alias(counts, name)
                if found is not None:
                    break
        return found

    def _topic_by_alias(self, counts: list[TagCount], tag: str) -> TagCount | None:
        key = tag_key(tag)
        topic = next((t for t in self.config.topics if key in map(tag_key, t.aliases)), None)
        return find_tag(counts, topic.name) if topic is not None else None

    def tag_page(self, tag: str, page: int) -> Page:
        """A tag's posts; a tag no post carries gets the search results for it, else suggestions."""
        counts = self.tag_counts()
        found = self._find_tag(counts, tag)
        if found is not None:  # shown and carried by the buttons as the blog spells it: `AI 日报`
            posts = posts_with_tag(self.visible_posts(), found.label, self.config.topics)
            shown = pages.tag_page(
                found.label, posts, page, key_for=self.key_for, per_page=POSTS_PER_PAGE, tr=self.tr
            )
            return self._shared(shown, deeplinks.tag_payload(found.label, self.key_for)) if posts else shown
        # No post carries it, but posts may mention it: their search results instead of a dead
        # end. `#芯片` searches for 芯片, as tags ignore a leading `#`.
        query = tag.strip().lstrip("#")
        result = self._search(query, 0)
        if result.total > 0:
            found_page = self.search_page(query, 0, result)
            note = self.tr(texts.TAG_SEARCH_INSTEAD).format(tag=clip(one_line(tag), pages.MAX_HEADING_ARG))
            return Page(f"{escape(note)}\n{found_page.text}", found_page.reply_markup)
        suggestions = suggest_tags(tag, [count.label for count in counts])
        return pages.no_such_tag(tag, suggestions, key_for=self.key_for, tr=self.tr)

    # -- search ----------------------------------------------------------------------------------

    def _search(self, query: str, page: int) -> SearchResult:
        return self.engine().search(
            query, limit=HITS_PER_PAGE, offset=page * HITS_PER_PAGE, until=self.release.last_day
        )

    def search_page(self, query: str, page: int, result: SearchResult | None = None) -> Page:
        """Page `page` of /search; `result` when that page was searched for already."""
        if result is None:
            result = self._search(query, page)
        suggestions = self.suggestions(query) if result.total == 0 else []
        shown = pages.search_page(
            query,
            result,
            page,
            key_for=self.key_for,
            per_page=HITS_PER_PAGE,
            suggestions=suggestions,
            tr=self.tr,
        )
        if result.total == 0 or not result.hits:
            return shown
        return self._shared(shown, deeplinks.search_payload(query, self.key_for))

    def suggestions(self, query: str) -> list[str]:
        """What a search that found nothing may have meant: the closest topic or synonym names,
        then titles of the posts that are out (never one that is not, as for the search itself);
        only those whose own search finds a post that is out."""
        titles = [post.title for post in sorted(self.visible_posts(), key=_newest_first)]
        candidates = closest(query, suggestion_names(self.config), titles, n=SUGGESTION_CANDIDATES)
        return that_find(candidates, lambda found: self._search(found, 0).total > 0, SUGGESTIONS)

    def _shared(self, page: Page, payload: str) -> Page:
        """A list with a "share this list" link, when the bot knows its link."""
        url = self.link_for(payload) if self.link_for is not None else None
        return page if url is None else pages.with_share(page, url, tr=self.tr)

    def page_for(self, ref: PageRef, arg: str | None) -> Page | None:
        """The page a ◀ ▶ or tag button asks for, with its text (`ref.arg`, or the text stored
        under `ref.key`); None without one (a key this bot never stored)."""
        if ref.kind == "tags":
            return self.tag_list(ref.page)
        if arg is None:
            return None  # forged, or from another bot's database
        if ref.kind == "tag":
            return self.tag_page(arg, ref.page)
        return self.search_page(arg, ref.page)

    # -- inline mode -----------------------------------------------------------------------------

    def inline(self, query: str, offset_text: str) -> tuple[list[JSON], str]:
        """One page of inline results and the `next_offset` for the next page ("" if none).

        A blank query lists the latest posts. Neither shows a post that is not out yet.
        """
        offset = inline_offset(offset_text)
        if not one_line(query):
            latest = self.released_daily()
            shown = latest[offset : offset + INLINE_RESULTS]
            end, total = offset + len(shown), len(latest)
        else:
            result = self.engine().search(
                query, limit=INLINE_RESULTS, offset=offset, until=self.release.last_day
            )
            shown = [hit.post for hit in result.hits]
            end, total = offset + len(shown), result.total
        # Only forward, and only to an offset `inline_offset` accepts, or the client would loop.
        next_offset = str(end) if offset < end < total and end <= MAX_INLINE_OFFSET else ""
        return [inline_result(post, self.tr) for post in shown], next_offset


def _newest_first(post: Post) -> tuple[int, int, str]:
    """Newest first, as the search ranks ties: a title suggested over an older one alike."""
    return (-post.date.toordinal(), -post.mtime_ns, str(post.path))


def inline_offset(offset: str) -> int:
    """Where a page of inline results starts: our own `next_offset`, or 0 for anything else."""
    if not _INLINE_OFFSET.fullmatch(offset):
        return 0
    value = int(offset)
    return value if value <= MAX_INLINE_OFFSET else 0


def inline_result(post: Post, tr: Translate = chinese) -> dict[str, Any]:
    """A post as an article result whose message is the channel message (Chinese, as the post: only
    the description under the title is in the reader's language, `tr`).

    An inline result is one message, never a photo with replies, so the cover is its link
    preview (and the result's thumbnail).
    """
    message = render_post(post, chat_id=0, cover="preview")[0]
    bullet = next((b for b in map(one_line, post.summary) if b), "")
    day = post.date.isoformat()
    description = (
        tr(texts.INLINE_DESCRIPTION).format(day=day, summary=bullet)
        if bullet
        else tr(texts.INLINE_DESCRIPTION_DAY).format(day=day)
    )
    return article_result(
        pages.text_key(post.path.name),  # unique in the folder, stable across restarts
        clip(one_line(post.title), MAX_RESULT_TITLE) or day,
        clip(description, MAX_RESULT_DESCRIPTION),
        post.url,
        message,
        thumbnail_url=post.cover_image,
    )
