"""The paged /tag and /search messages, and the self-contained callback data of their buttons."""

from __future__ import annotations

import base64
import hashlib
import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from bot import texts
from bot.calls import ApiCall, edit_message_text, keyboard, send_message, url_button
from bot.locale import Translate, chinese
from bot.posts import Post
from bot.search import MAX_QUERY, SearchResult, parse_query
from bot.suggest import suggestion_query
from bot.tags import TagCount
from bot.telegram_rules import MAX_CALLBACK_DATA
from bot.text import clip, escape, one_line

PageKind = Literal["tag", "search", "tags"]
# Stores the long text of a button whose callback data would not fit, and returns its key
# (`text_key(text)`); the handler supplies it and looks the text up again when pressed.
KeyFor = Callable[[str], str]

# -- callback data ------------------------------------------------------------------------------
#
#   T:<page>          the tag list                 t:<page>:<tag>     a tag's posts
#   s:<page>:<query>  search results               tk:<page>:<key>    sk:<page>:<key>   the same,
#   n                 the "page x/y" label: no-op                     text stored under <key>
#
# Everything a button needs is in its data, so buttons keep working after a restart
# (docs/telegram.md, "Buttons and callback data": no per-process caches). <page> is 0-based,
# ASCII digits, no leading zeros.
# These prefixes are reserved: other buttons of the bot must use other ones.

NOOP = "n"
MAX_PAGE = 9999
KEY_LENGTH = 12  # base32 characters: 60 bits of sha256, no collision among a few thousand texts
MAX_DATA = MAX_CALLBACK_DATA  # 64 bytes, not characters
# For the handler's CallbackQueryHandler(pattern=...): the data this module makes.
CALLBACK_PATTERN = re.compile(r"\A(?:n\Z|T:|t:|s:|tk:|sk:)")

_PREFIX: dict[PageKind, str] = {"tag": "t", "search": "s", "tags": "T"}
_KEY_PREFIX: dict[PageKind, str] = {"tag": "tk", "search": "sk"}
_KIND = {prefix: kind for kind, prefix in (*_PREFIX.items(), *_KEY_PREFIX.items())}
_DATA = re.compile(r"(?P<prefix>T|t|s|tk|sk):(?P<page>0|[1-9][0-9]{0,3})(?::(?P<rest>.+))?", re.DOTALL)
_KEY = re.compile(f"[A-Z2-7]{{{KEY_LENGTH}}}")


@dataclass(frozen=True, slots=True)
class PageRef:
    """A decoded button: which list, which page, and its text (`arg`) or the key it is stored under."""

    kind: PageKind
    page: int
    arg: str | None = None
    key: str | None = None


def text_key(text: str) -> str:
    """A short stable key for a text too long for callback data: 12 base32 characters of sha256."""
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
    return base64.b32encode(digest).decode("ascii")[:KEY_LENGTH]


def _check_page(page: int) -> None:
    if not 0 <= page <= MAX_PAGE:
        raise ValueError(f"page must be 0-{MAX_PAGE}, got {page}")


def encode_page(kind: PageKind, page: int, arg: str | None = None) -> str | None:
    """Callback data for `page` of a list; None when `arg` does not fit, for `encode_page_key`.

    It does not fit when the data would be over 64 bytes of UTF-8, or when `arg` has characters
    that should not travel in a button (control characters, lone surrogates).
    """
    _check_page(page)
    if kind == "tags":
        if arg is not None:
            raise ValueError("the tag list takes no argument")
        return f"T:{page}"
    if not arg:
        raise ValueError(f"a {kind} page needs a non-empty argument")
    if not _travels(arg):
        return None
    data = f"{_PREFIX[kind]}:{page}:{arg}"
    return data if len(data.encode("utf-8")) <= MAX_DATA else None


def _travels(arg: str) -> bool:
    """Only printable characters (no controls, no lone surrogates) go into callback data."""
    return arg.isprintable()


def encode_page_key(kind: PageKind, page: int, key: str) -> str:
    """Callback data for `page` of a list whose argument is stored under `key` (see `text_key`)."""
    _check_page(page)
    if kind == "tags":
        raise ValueError("the tag list takes no argument")
    if not _KEY.fullmatch(key):
        raise ValueError(f"not a key made by text_key: {key!r}")
    return f"{_KEY_PREFIX[kind]}:{page}:{key}"


def decode_page(data: str) -> PageRef | None:
    """The page a button asks for, or None for anything this module did not make.

    Strict: tampered, stale or foreign data is None, never an exception. `NOOP` is None too;
    the handler answers it before decoding.
    """
    if len(data.encode("utf-8", "surrogatepass")) > MAX_DATA:
        return None
    match = _DATA.fullmatch(data)
    if match is None:
        return None
    prefix, rest = match["prefix"], match["rest"]
    kind = _KIND[prefix]
    page = int(match["page"])
    if kind == "tags":
        return PageRef(kind, page) if rest is None else None
    if rest is None:
        return None
    if prefix in ("tk", "sk"):
        return PageRef(kind, page, key=rest) if _KEY.fullmatch(rest) else None
    return PageRef(kind, page, arg=rest) if _travels(rest) else None


class _Data:
    """Callback data for the buttons of one message; asks `key_for` at most once per text."""

    def __init__(self, key_for: KeyFor) -> None:
        self._key_for = key_for
        self._keys: dict[str, str] = {}

    def __call__(self, kind: PageKind, page: int, arg: str | None = None) -> str:
        data = encode_page(kind, page, arg)
        if data is not None:
            return data
        assert arg is not None  # only an argument can make data too long
        if arg not in self._keys:
            self._keys[arg] = self._key_for(arg)
        return encode_page_key(kind, page, self._keys[arg])


# -- pages --------------------------------------------------------------------------------------

# Sizes chosen so that the longest page stays within the text budget with every title at
# MAX_LIST_TITLE: 25 x (date + title + markers) is about 3,400 of render.TEXT_BUDGET's 4,000.
MAX_LIST_TITLE = 120
MAX_HEADING_ARG = 64  # a tag or query shown in a heading
MAX_BUTTON_LABEL = 32  # Telegram cuts long button texts anyway; keep the count visible
MAX_TAGS_PER_PAGE = 50  # buttons; Telegram allows about 100 per keyboard
MAX_POSTS_PER_PAGE = 25
MAX_HITS_PER_PAGE = 10
TAGS_PER_ROW = 2


@dataclass(frozen=True, slots=True)
class Page:
    """One message: Telegram HTML text and an inline keyboard in Bot API JSON (or none)."""

    text: str
    reply_markup: dict[str, Any] | None = field(default=None, hash=False)

    def send(self, chat_id: int, reply_parameters: dict[str, Any] | None = None) -> ApiCall:
        """The page as a new message (a list of links shows no preview)."""
        return send_message(
            chat_id, self.text, reply_markup=self.reply_markup, reply_parameters=reply_parameters
        )

    def edit(self, chat_id: int, message_id: int) -> ApiCall:
        """The page in place of an earlier one (◀ ▶)."""
        return edit_message_text(chat_id, message_id, self.text, reply_markup=self.reply_markup)


def with_share(page: Page, url: str, *, tr: Translate = chinese) -> Page:
    """`page` with a link that opens the same list in the bot, to pass on: a row of its own
    above the last row (◀ ▶ stay at the bottom, where the thumb is)."""
    rows = list(page.reply_markup["inline_keyboard"]) if page.reply_markup else []
    share = [url_button(tr(texts.SHARE_BUTTON), url)]
    return Page(page.text, keyboard([*rows[:-1], share, *rows[-1:]]))


def page_count(total: int, per_page: int) -> int:
    """How many pages `total` items fill (at least one), never more than callback data can name."""
    return min(max(1, -(-total // per_page)), MAX_PAGE + 1)


def clamp_page(page: int, total: int, per_page: int) -> int:
    """`page` if it exists, else the nearest page that does."""
    return min(max(page, 0), page_count(total, per_page) - 1)


def _check_per_page(per_page: int, most: int) -> None:
    if not 1 <= per_page <= most:
        raise ValueError(f"per_page must be 1-{most}, got {per_page}")


def _label(text: str, limit: int) -> str:
    """Post or reader text for one line of a message: no control characters, clipped."""
    return clip(one_line(text), limit)


def _heading(template: str, **values: object) -> str:
    return f"<b>{escape(template.format(**values))}</b>"


def _button(text: str, data: str) -> dict[str, str]:
    return {"text": text, "callback_data": data}


def _nav(
    data: _Data, kind: PageKind, page: int, pages: int, arg: str | None, *, tr: Translate
) -> list[dict[str, str]]:
    """◀ page x/y ▶, each arrow only where there is a page to go to; nothing for one page."""
    if pages <= 1:
        return []
    row: list[dict[str, str]] = []
    if page > 0:
        row.append(_button(tr(texts.PREV_PAGE), data(kind, page - 1, arg)))
    row.append(_button(tr(texts.PAGE_OF).format(page=page + 1, pages=pages), NOOP))
    if page < pages - 1:
        row.append(_button(tr(texts.NEXT_PAGE), data(kind, page + 1, arg)))
    return row


def _keyboard(rows: Sequence[list[dict[str, str]]]) -> dict[str, Any] | None:
    rows = [row for row in rows if row]
    return {"inline_keyboard": rows} if rows else None


def _post_line(post: Post, prefix: str = "• ") -> str:
    title = escape(_label(post.title, MAX_LIST_TITLE))
    return f'{prefix}{post.date.isoformat()} <a href="{html.escape(post.url)}">{title}</a>'


def tag_list_page(
    counts: Sequence[TagCount], page: int, *, key_for: KeyFor, per_page: int = 20, tr: Translate = chinese
) -> Page:
    """The tags as buttons with their counts, `per_page` at a time, most used first (texts in `tr`'s
    language, as every page here: Chinese unless the reader's is another)."""
    _check_per_page(per_page, MAX_TAGS_PER_PAGE)
    if not counts:
        return Page(escape(tr(texts.NO_TAGS)))
    data = _Data(key_for)
    pages = page_count(len(counts), per_page)
    page = clamp_page(page, len(counts), per_page)
    shown = counts[page * per_page : (page + 1) * per_page]
    buttons = [
        _button(
            tr(texts.TAG_BUTTON).format(label=_label(tc.label, MAX_BUTTON_LABEL), count=tc.count),
            data("tag", 0, tc.label),
        )
        for tc in shown
    ]
    rows = [buttons[i : i + TAGS_PER_ROW] for i in range(0, len(buttons), TAGS_PER_ROW)]
    return Page(
        _heading(tr(texts.TAG_LIST_HEADING), n=len(counts)),
        _keyboard([*rows, _nav(data, "tags", page, pages, None, tr=tr)]),
    )


def tag_page(
    tag_label: str,
    posts: Sequence[Post],
    page: int,
    *,
    key_for: KeyFor,
    per_page: int = 10,
    tr: Translate = chinese,
) -> Page:
    """The posts under one tag, as given (newest first), `per_page` at a time, date and linked title."""
    _check_per_page(per_page, MAX_POSTS_PER_PAGE)
    tag = _label(tag_label, MAX_HEADING_ARG)
    if not posts:
        return Page(escape(tr(texts.TAG_EMPTY).format(tag=tag)), _keyboard([[_all_tags_button(tr)]]))
    data = _Data(key_for)
    pages = page_count(len(posts), per_page)
    page = clamp_page(page, len(posts), per_page)
    lines = [_post_line(post) for post in posts[page * per_page : (page + 1) * per_page]]
    text = _heading(tr(texts.TAG_HEADING), tag=tag, n=len(posts)) + "\n\n" + "\n".join(lines)
    return Page(text, _keyboard([_nav(data, "tag", page, pages, tag_label, tr=tr)]))


def _all_tags_button(tr: Translate) -> dict[str, str]:
    return _button(tr(texts.ALL_TAGS_BUTTON), f"{_PREFIX['tags']}:0")


def no_such_tag(tag: str, suggestions: Sequence[str], *, key_for: KeyFor, tr: Translate = chinese) -> Page:
    """An unknown tag: say so, offer the suggestions (from `suggest_tags`) and the tag list."""
    data = _Data(key_for)
    lines = [tr(texts.NO_SUCH_TAG).format(tag=_label(tag, MAX_HEADING_ARG))]
    lines.append(tr(texts.TAG_SUGGESTIONS if suggestions else texts.TAG_LIST_HINT))
    rows = [
        [_button(_label(label, MAX_BUTTON_LABEL), data("tag", 0, label))]
        for label in suggestions
        if one_line(label)  # a blank label would be a button without text
    ]
    return Page(escape("\n".join(lines)), _keyboard([*rows, [_all_tags_button(tr)]]))


def search_page(
    query: str,
    result: SearchResult,
    page: int,
    *,
    key_for: KeyFor,
    per_page: int = 5,
    suggestions: Sequence[str] = (),
    tr: Translate = chinese,
) -> Page:
    """One page of search results: the query and total, then each hit's date, linked title, snippet.

    `result` holds the hits of `page` (the handler asks the engine for offset=page*per_page).
    A query with nothing to search for gets the usage message; one that found nothing, what it
    might have meant (`suggestions`, from bot/suggest.py `closest`) as a line and a button each.
    """
    _check_per_page(per_page, MAX_HITS_PER_PAGE)
    if not parse_query(query).terms:
        return search_usage(tr)
    shown_query = _label(query, MAX_HEADING_ARG)
    if result.total <= 0:
        return search_nothing(shown_query, suggestions, key_for=key_for, tr=tr)
    # The buttons carry the query as typed (one line, capped as the engine caps it), so a page
    # opened later runs the same search.
    arg = one_line(query[:MAX_QUERY])
    data = _Data(key_for)
    pages = page_count(result.total, per_page)
    shown_total = tr(texts.AT_LEAST).format(n=result.total) if result.capped else result.total
    heading = _heading(tr(texts.SEARCH_HEADING), query=shown_query, n=shown_total)
    if not result.hits:
        last = [_button(tr(texts.PREV_PAGE), data("search", pages - 1, arg))]
        return Page(f"{heading}\n\n{escape(tr(texts.SEARCH_PAGE_GONE))}", _keyboard([last]))
    page = clamp_page(page, result.total, per_page)
    for term, names in result.widened:
        joined = tr(texts.SUGGESTION_SEPARATOR).join(names)
        heading += "\n" + escape(
            tr(texts.SEARCH_WIDENED).format(term=_label(term, MAX_HEADING_ARG), names=joined)
        )
    blocks = [heading]
    for rank, hit in enumerate(result.hits[:per_page], start=page * per_page + 1):
        block = _post_line(hit.post, prefix=f"{rank}. ")
        blocks.append(f"{block}\n{hit.snippet}" if hit.snippet else block)
    return Page("\n\n".join(blocks), _keyboard([_nav(data, "search", page, pages, arg, tr=tr)]))


def search_nothing(
    shown_query: str, suggestions: Sequence[str], *, key_for: KeyFor, tr: Translate = chinese
) -> Page:
    """Nothing found: say so, and offer the suggestions, each a button that searches for it (the
    same data as a results page's, so it edits this message into that search's first page)."""
    data = _Data(key_for)
    shown = [(label, query) for label in suggestions if (query := suggestion_query(label)).strip('"')]
    lines = [tr(texts.SEARCH_NOTHING).format(query=shown_query)]
    if shown:
        joined = tr(texts.SUGGESTION_SEPARATOR).join(_label(label, MAX_HEADING_ARG) for label, _ in shown)
        lines.append(tr(texts.SEARCH_SUGGESTIONS).format(suggestions=joined))
    rows = [[_button(_label(label, MAX_BUTTON_LABEL), data("search", 0, query))] for label, query in shown]
    return Page(escape("\n".join(lines)), _keyboard(rows))


def search_usage(tr: Translate = chinese) -> Page:
    """How to use /search, for an empty query."""
    return Page(escape(tr(texts.SEARCH_USAGE)))
