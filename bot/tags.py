"""Tags, categories and topics as readers browse them: counts, the posts under one, suggestions for a typo."""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.posts import Post
from bot.text import label_key
from bot.topics import Topic, topics_of

# difflib's similarity ratio below which a label is not worth suggesting (its own default).
SUGGEST_CUTOFF = 0.6


@dataclass(frozen=True, slots=True)
class TagCount:
    """A label as displayed and how many posts carry it (as a tag, their category or a topic)."""

    label: str
    count: int


def tag_key(text: str) -> str:
    """The key a tag is looked up by: `normalize_label`, and a leading `#` ignored.

    Readers copy the hashtags under each post (`#AI日报`), so `/tag #AI日报` must work too.
    """
    return label_key(text.strip().lstrip("#"))


def _labels(post: Post, topics: tuple[Topic, ...]) -> tuple[str, ...]:
    # Every daily post has the same front-matter tags, so the topics its headlines name are
    # what tells one day from another.
    return (*post.tags, post.category, *topics_of(post, topics))


def tag_counts(posts: Iterable[Post], topics: tuple[Topic, ...] = ()) -> list[TagCount]:
    """Every tag, category and topic of `topics` with its number of posts, most used first, then by label.

    Spellings that normalise alike (`AI 日报`, `ai日报`) are one label, shown in the spelling
    used most often. A post counts once per label even when its tag repeats its category or a topic.
    """
    posts_per_key: Counter[str] = Counter()
    spellings: dict[str, Counter[str]] = {}
    for post in posts:
        seen: set[str] = set()
        for label in _labels(post, topics):
            key = label_key(label)
            if not key:
                continue
            spellings.setdefault(key, Counter())[label] += 1
            if key not in seen:
                seen.add(key)
                posts_per_key[key] += 1
    counts = [
        TagCount(min(spellings[key].items(), key=lambda item: (-item[1], item[0]))[0], count)
        for key, count in posts_per_key.items()
    ]
    counts.sort(key=lambda tc: (-tc.count, label_key(tc.label), tc.label))
    return counts


def posts_with_tag(posts: Iterable[Post], tag: str, topics: tuple[Topic, ...] = ()) -> list[Post]:
    """The posts whose tags, category or topics of `topics` match `tag` (by `tag_key`), newest first."""
    key = tag_key(tag)
    if not key:
        return []
    found = [post for post in posts if any(label_key(label) == key for label in _labels(post, topics))]
    found.sort(key=lambda post: (-post.date.toordinal(), -post.mtime_ns, str(post.path)))
    return found


def suggest_tags(tag: str, labels: Sequence[str], n: int = 5) -> list[str]:
    """Up to `n` of `labels` close to an unknown `tag`: those containing it first, then look-alikes."""
    key = tag_key(tag)
    if not key or n <= 0:
        return []
    by_key: dict[str, str] = {}
    for label in labels:
        by_key.setdefault(label_key(label), label)
    by_key.pop("", None)
    containing = [k for k in by_key if key in k]
    similar = difflib.get_close_matches(key, list(by_key), n=n, cutoff=SUGGEST_CUTOFF)
    keys = dict.fromkeys([*containing, *similar])
    return [by_key[k] for k in keys][:n]


def find_tag(counts: Iterable[TagCount], tag: str) -> TagCount | None:
    """The label a typed tag stands for (`ai日报` -> `AI 日报`), or None if no post carries it."""
    key = tag_key(tag)
    return next((tc for tc in counts if key and label_key(tc.label) == key), None)
