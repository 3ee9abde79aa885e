"""Turn a `Post` into the exact Bot API calls that show it in Telegram, within Telegram's limits."""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot import texts
from bot.calls import NO_PREVIEW, ApiCall, SendOptions, keyboard, send_message, send_photo, url_button
from bot.config import ChannelConfig, CoverMode
from bot.posts import Post
from bot.telegram_rules import CAPTION_LENGTH, MAX_TEXT_LENGTH, parse_html
from bot.text import ELLIPSIS, clip, escape, is_latin, one_line, same_label, utf16_len

# Lengths are measured on the visible text (what Telegram counts after parsing the HTML) in
# UTF-16 code units, and kept below the limits by a margin in case Telegram counts a character
# differently from us (docs/telegram.md, "Text and formatting").
TEXT_BUDGET = MAX_TEXT_LENGTH - 96
CAPTION_BUDGET = CAPTION_LENGTH - 24
MAX_TITLE = 256
MAX_HASHTAGS = 10
MAX_HASHTAG = 64
# A bullet is cut (with "…") only when at least this much of it fits; otherwise it moves on whole.
MIN_CUT = 24


# -- pieces -------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)  # every daily post has the same tags
def hashtag(label: str) -> str | None:
    """`label` as a Telegram hashtag: `AI 日报` -> `#AI日报`, `GPT-5` -> `#GPT_5`; None if impossible.

    A hashtag is `#` + letters, digits and `_`, and needs a letter (docs/telegram.md, "Hashtags").
    Words are glued together, with `_` only where two Latin letters or digits would touch.
    """
    words = re.findall(r"\w+", label)
    joined = ""
    for word in words:
        if joined and is_latin(joined[-1]) and is_latin(word[0]):
            joined += "_"
        joined += word
    joined = joined.strip("_")[:MAX_HASHTAG]
    if not any(char.isalpha() for char in joined):
        return None
    return "#" + joined


def hashtags(post: Post) -> list[str]:
    """The post's tags and category as hashtags, first occurrence kept, at most MAX_HASHTAGS.

    Two are the same when their `label_key`s are; `same_label` tells without converting
    Traditional Chinese when it cannot matter (`#AI` and `#AI日报`), as for most posts.
    """
    kept: list[str] = []
    for label in (*post.tags, post.category):
        tag = hashtag(label)
        if tag is not None and not any(same_label(tag, other) for other in kept):
            kept.append(tag)
            if len(kept) == MAX_HASHTAGS:
                break
    return kept


BULLET = "• "


def _bullet_lines(bullets: Sequence[str]) -> list[str]:
    return [BULLET + bullet for bullet in bullets]


def split_bullets(bullets: Sequence[str], budget: int) -> tuple[list[str], list[str], bool]:
    """Bullet lines that fit in `budget`, the bullets left over, and whether one was cut.

    Whole bullets first; the first one that does not fit is cut with "…" if at least MIN_CUT of
    it fits, and its remainder, starting with "…", leads the leftovers.
    """
    shown: list[str] = []
    used = -1  # the first line needs no newline before it
    for index, bullet in enumerate(bullets):
        line = BULLET + bullet
        cost = utf16_len(line) + 1
        if used + cost <= budget:
            shown.append(line)
            used += cost
            continue
        room = budget - used - 1
        rest = list(bullets[index:])
        if room < MIN_CUT + 2:
            return shown, rest, False
        head = clip(line, room)
        shown.append(head)
        rest[0] = ELLIPSIS + bullet[len(head) - len(BULLET) - len(ELLIPSIS) :].lstrip()
        return shown, rest, True
    return shown, [], False


# -- messages -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Parts:
    """The message's pieces; `head_html`/`head_plain` are the same lines as HTML and as seen."""

    head_html: str
    head_plain: str
    bullets: tuple[str, ...]
    tags: tuple[str, ...]


def _parts(post: Post) -> _Parts:
    title = clip(one_line(post.title), MAX_TITLE)
    date = f"📅 {post.date.isoformat()}"
    head_html = f'<b><a href="{html.escape(post.url)}">{escape(title)}</a></b>\n{date}'
    bullets = tuple(filter(None, map(one_line, post.summary)))
    return _Parts(head_html, f"{title}\n{date}", bullets, tuple(hashtags(post)))


def _compose(head_html: str, lines: Sequence[str], tags: Sequence[str]) -> str:
    blocks = [head_html] if head_html else []
    if lines:
        blocks.append(escape("\n".join(lines)))
    if tags:
        blocks.append(" ".join(tags))
    return "\n\n".join(blocks)


def _blocks_cost(head_plain: str, lines: Sequence[str], tags: Sequence[str]) -> int:
    """Visible length of what `_compose` makes of these pieces."""
    blocks = [b for b in (head_plain, "\n".join(lines), " ".join(tags)) if b]
    return utf16_len("\n\n".join(blocks))


def _room_for_bullets(head_plain: str, tags: Sequence[str], budget: int) -> int:
    """What is left of `budget` for the bullet lines once the header and hashtags are placed."""
    return budget - (_blocks_cost(head_plain, ["x"], tags) - 1)


def _fit_message(
    head_html: str, head_plain: str, bullets: Sequence[str], tags: Sequence[str], budget: int
) -> str:
    """One message: header, as many bullets as fit (the rest visibly elided), hashtags."""
    lines = _bullet_lines(bullets)
    if _blocks_cost(head_plain, lines, tags) <= budget:  # the usual case: everything fits
        return _compose(head_html, lines, tags)
    tags = list(tags)
    while tags and _blocks_cost(head_plain, [], tags) > budget // 2:
        tags.pop()  # hundreds of tags never crowd out the news
    if _blocks_cost(head_plain, lines, tags) <= budget:
        return _compose(head_html, lines, tags)
    note_room = utf16_len(texts.MORE_BULLETS.format(n=len(bullets))) + 1
    shown, rest, cut = split_bullets(bullets, _room_for_bullets(head_plain, tags, budget) - note_room)
    omitted = len(rest) - cut
    if omitted:
        shown.append(texts.MORE_BULLETS.format(n=omitted))
    return _compose(head_html, shown, tags)


def _button(post: Post, subscribe_url: str | None = None) -> dict[str, Any]:
    row = [url_button(texts.READ_MORE, post.url)]
    if subscribe_url is not None:
        row.append(url_button(texts.SUBSCRIBE_BUTTON, subscribe_url))
    return keyboard([row])


def render_post(
    post: Post,
    *,
    chat_id: str | int,
    cover: CoverMode = "preview",
    options: SendOptions | None = None,
    subscribe_url: str | None = None,
) -> list[ApiCall]:
    """The calls that publish `post` to `chat_id`, cover shown as configured, sent with `options`;
    with `subscribe_url` (the channel's message), a 🔔 button that opens the bot to subscribe."""
    parts = _parts(post)
    if cover == "photo" and post.cover_image:
        return _render_photo(
            post, post.cover_image, parts, chat_id, options=options, subscribe_url=subscribe_url
        )
    preview: dict[str, Any] = dict(NO_PREVIEW)
    if cover == "preview" and post.cover_image:
        # Telegram fetches the cover and shows it large above a full 4096-character message.
        preview = {"url": post.cover_image, "prefer_large_media": True, "show_above_text": True}
    text = _fit_message(parts.head_html, parts.head_plain, parts.bullets, parts.tags, TEXT_BUDGET)
    return [
        send_message(
            chat_id, text, reply_markup=_button(post, subscribe_url), link_preview=preview, options=options
        )
    ]


def render_channel(
    post: Post, channel: ChannelConfig, chat_id: str | int | None = None, *, subscribe_url: str | None = None
) -> tuple[list[ApiCall], list[ApiCall]]:
    """The channel message as `[channel]` says (cover mode, silent, protect_content, thread_id),
    to `chat_id` or the configured chat; and, in photo mode, the text-only calls to fall back on
    when Telegram takes the cover no way at all."""
    target = channel.chat if chat_id is None else chat_id
    options = SendOptions(channel.silent, channel.protect_content, channel.thread_id)
    calls = render_post(
        post, chat_id=target, cover=channel.cover, options=options, subscribe_url=subscribe_url
    )
    text_only = (
        render_post(post, chat_id=target, cover="none", options=options, subscribe_url=subscribe_url)
        if channel.cover == "photo"
        else []
    )
    return calls, text_only


def _render_photo(
    post: Post,
    cover: str,
    parts: _Parts,
    chat_id: str | int,
    *,
    options: SendOptions | None,
    subscribe_url: str | None = None,
) -> list[ApiCall]:
    """sendPhoto with the caption that fits; what does not fit follows as a reply."""
    lines = _bullet_lines(parts.bullets)
    button = _button(post, subscribe_url)
    if _blocks_cost(parts.head_plain, lines, parts.tags) <= CAPTION_BUDGET:
        caption = _compose(parts.head_html, lines, parts.tags)
        return [send_photo(chat_id, cover, caption, reply_markup=button, options=options)]
    room = _room_for_bullets(parts.head_plain, (), CAPTION_BUDGET)
    shown, rest, _ = split_bullets(parts.bullets, room)
    first = send_photo(
        chat_id, cover, _compose(parts.head_html, shown, ()), reply_markup=button, options=options
    )
    if not rest and not parts.tags:
        return [first]
    text = _fit_message("", "", rest, parts.tags, TEXT_BUDGET)
    return [first, send_message(chat_id, text, reply_to_call=0, options=options)]


# -- for people ---------------------------------------------------------------------------------


def describe(calls: Sequence[ApiCall]) -> str:
    """The calls as a reader would see them in Telegram: plain text, image and buttons noted."""
    out: list[str] = []
    for index, call in enumerate(calls):
        params = call.params
        out.append(f"── {call.method} → {params.get('chat_id')}")
        if call.reply_to is not None:
            out.append(f"[in reply to message {call.reply_to + 1}]")
        preview = params.get("link_preview_options") or {}
        if call.method == "sendPhoto":
            out.append(f"[photo: {params['photo']}]")
        elif preview.get("url"):
            out.append(f"[cover image, large, above the text: {preview['url']}]")
        body = params.get("text") if "text" in params else params.get("caption", "")
        out.append(parse_html(str(body)).text if params.get("parse_mode") else str(body))
        for row in (params.get("reply_markup") or {}).get("inline_keyboard", []):
            out.append("  ".join(f"[{b['text']} → {b.get('url') or b.get('callback_data')}]" for b in row))
        if index < len(calls) - 1:
            out.append("")
    return "\n".join(out)
