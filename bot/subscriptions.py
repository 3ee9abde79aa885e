"""What readers say about their subscriptions, and what they see: the topics they name, and the
settings panel of /subscriptions with its buttons. Pure: the handlers store and send.

The panel's buttons carry their whole meaning in callback data of a few bytes (`sb:t:3` toggles the
fourth topic of `[topics]`, `sb:a` every day's post, `sb:s` subscribe, `sb:u` unsubscribe), so they
keep working after a restart and need nothing stored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from bot import texts
from bot.calls import callback_button, keyboard
from bot.locale import Translate, chinese
from bot.pages import Page
from bot.store import Subscription
from bot.tags import suggest_tags
from bot.text import escape
from bot.topics import Topic, resolve_topic

PREFIX = "sb:"
_DATA = re.compile(r"sb:(?:t:(\d{1,3})|([asu]))")
TOPICS_PER_ROW = 3
# A topic list in a reply is joined like this (Chinese enumeration comma).
JOIN = "、"


@dataclass(frozen=True, slots=True)
class Wanted:
    """The topics a reader's words name (by name or alias), and the words that name none."""

    names: tuple[str, ...]
    unknown: tuple[str, ...]


def parse_topics(words: Sequence[str], topics: tuple[Topic, ...]) -> Wanted:
    """`/subscribe OpenAI 英伟达`: each word (commas and 、 separate too) as a topic name."""
    names: list[str] = []
    unknown: list[str] = []
    for word in (w for chunk in words for w in re.split(r"[,，、]+", chunk) if w.strip()):
        topic = resolve_topic(word, topics)
        if topic is None:
            unknown.append(word)
        elif topic.name not in names:
            names.append(topic.name)
    return Wanted(tuple(names), tuple(unknown))


def suggestions(words: Sequence[str], topics: tuple[Topic, ...], n: int = 5) -> list[str]:
    """Topic names close to words that name none (by a name or an alias that looks alike)."""
    owner = {alias: topic.name for topic in topics for alias in (topic.name, *topic.aliases)}
    found: list[str] = []
    for word in words:
        for label in suggest_tags(word, list(owner), n=n):
            if owner[label] not in found:
                found.append(owner[label])
    return found[:n]


def unknown_text(wanted: Wanted, topics: tuple[Topic, ...], tr: Translate = chinese) -> str:
    """The answer to topics that do not exist: which, the closest names, and every choice."""
    lines = [tr(texts.UNKNOWN_TOPICS).format(words=JOIN.join(wanted.unknown))]
    close = suggestions(wanted.unknown, topics)
    if close:
        lines.append(tr(texts.TOPIC_SUGGESTIONS).format(names=JOIN.join(close)))
    lines.append(tr(texts.TOPIC_CHOICES).format(names=JOIN.join(topic.name for topic in topics)))
    return "\n".join(lines)


def subscribed_text(sub: Subscription, tr: Translate = chinese) -> str:
    if sub.topics:
        return tr(texts.SUBSCRIBED_TOPICS).format(topics=JOIN.join(sub.topics))
    return tr(texts.SUBSCRIBED_ALL)


def panel(
    sub: Subscription | None, topics: tuple[Topic, ...], *, lead: str | None = None, tr: Translate = chinese
) -> Page:
    """/subscriptions: the settings, and buttons that change them; `lead` goes above."""
    if sub is None:
        state = tr(texts.SUBSCRIPTION_NONE)
    elif sub.status == "paused":
        state = tr(texts.SUBSCRIPTION_PAUSED).format(note=sub.note or "")
    elif sub.topics:
        state = tr(texts.SUBSCRIPTION_TOPICS).format(topics=JOIN.join(sub.topics))
    else:
        state = tr(texts.SUBSCRIPTION_ALL)
    text = "\n\n".join(part for part in (lead, state, tr(texts.SUBSCRIPTION_HINT)) if part)
    chosen = set(sub.topics) if sub is not None else set()
    buttons = [
        callback_button(("✅ " if topic.name in chosen else "▫️ ") + topic.name, f"{PREFIX}t:{index}")
        for index, topic in enumerate(topics)
    ]
    rows = [buttons[i : i + TOPICS_PER_ROW] for i in range(0, len(buttons), TOPICS_PER_ROW)]
    if sub is None or sub.status == "paused":
        rows.append([callback_button(tr(texts.SUBSCRIBE_NOW_BUTTON), f"{PREFIX}s")])
    else:
        rows.append(
            [
                callback_button(tr(texts.ALL_DAYS_BUTTON), f"{PREFIX}a"),
                callback_button(tr(texts.UNSUBSCRIBE_BUTTON), f"{PREFIX}u"),
            ]
        )
    return Page(escape(text), keyboard(rows))


@dataclass(frozen=True, slots=True)
class Change:
    """What a panel button asks: subscribe with these topics, or unsubscribe."""

    action: Literal["subscribe", "unsubscribe"]
    topics: tuple[str, ...] = ()


def press(data: str, sub: Subscription | None, topics: tuple[Topic, ...]) -> Change | None:
    """The change a panel button asks for, from the subscription as it is now; None for data
    that is not a panel button's (tampered, or a topic no longer in `[topics]`)."""
    match = _DATA.fullmatch(data)
    if match is None:
        return None
    current = sub.topics if sub is not None else ()
    index, letter = match.groups()
    if letter == "u":
        return Change("unsubscribe")
    if letter == "a":
        return Change("subscribe")
    if letter == "s":
        return Change("subscribe", current)
    if int(index) >= len(topics):
        return None
    name = topics[int(index)].name
    toggled = [t for t in current if t != name] if name in current else [*current, name]
    order = {topic.name: i for i, topic in enumerate(topics)}
    return Change("subscribe", tuple(sorted(toggled, key=lambda t: order.get(t, len(order)))))
