"""Tags: counts per label, the posts under a tag however it is typed, suggestions for a typo."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bot.posts import Post, load_posts, parse_post
from bot.tags import TagCount, find_tag, posts_with_tag, suggest_tags, tag_counts, tag_key
from bot.topics import DEFAULT_TOPICS, Topic
from tests.conftest import corpus_dir
from tests.helpers.paths import EXAMPLE_POSTS, SITE


def md_post(name: str, front: str, *, mtime_ns: int = 0, body: str = "## 正文\n") -> Post:
    """A post parsed from a real Markdown file's bytes."""
    raw = f"---\n{textwrap.dedent(front).strip()}\n---\n{body}"
    post, _ = parse_post(raw.encode(), Path(f"posts/{name}.md"), site_url=SITE, mtime_ns=mtime_ns)
    return post


def names(posts: list[Post]) -> list[str]:
    return [post.path.stem for post in posts]


OLD = md_post(
    "old", 'title: 旧\ndate: 2026-01-01\ncategory: AI 日报\ntags: ["AI", "AI 日报"]\nsummary: "- a"'
)
NEW = md_post("new", 'title: 新\ndate: 2026-03-01\ncategory: AI 日报\ntags: ["ai", "GPT-5"]\nsummary: "- b"')
# Same day as NEW: the file written later comes first, then the path decides.
NEW_LATER = md_post(
    "new-later",
    'title: 新2\ndate: 2026-03-01\ncategory: ai日报\ntags: ["ai"]\nsummary: "- c"',
    mtime_ns=5,
)
TECH = md_post(
    "tech", 'title: 技术\ndate: 2026-02-01\ncategory: 技术分享\ntags: ["SQLite", "  "]\nsummary: "- d"'
)
UNCATEGORISED = md_post("none", 'title: 无\ndate: 2026-02-02\nsummary: "- e"')
POSTS = [OLD, NEW, NEW_LATER, TECH, UNCATEGORISED]


def test_tag_counts_counts_posts_per_label() -> None:
    """Every tag and category with its post count, most first, then by label; blanks ignored."""
    assert tag_counts(POSTS) == [
        TagCount("ai", 3),  # "ai" twice and "AI" once: the most used spelling is shown
        TagCount("AI 日报", 3),  # OLD's tag and category count once; "ai日报" is the same label
        TagCount("GPT-5", 1),
        TagCount("SQLite", 1),
        TagCount("技术分享", 1),
    ]


def test_tag_counts_on_the_example_posts() -> None:
    """The example posts' tags and categories, as a reader would see them listed."""
    posts = load_posts(EXAMPLE_POSTS, site_url=SITE).posts
    assert tag_counts(posts) == [
        TagCount("AI", 6),
        TagCount("AI 日报", 6),
        TagCount("SQLite", 1),
        TagCount("全文检索", 1),
        TagCount("技术分享", 1),
    ]


@pytest.mark.parametrize(
    "typed", ["AI 日报", "ai日报", "ＡＩ 日报", "Ai 日报", "AI  日报", " #AI日报 ", "#ai日报"]
)
def test_posts_with_tag_ignores_case_width_spaces_and_hash(typed: str) -> None:
    """However the tag is typed (hashtag included), the same posts, newest first."""
    assert names(posts_with_tag(POSTS, typed)) == ["new-later", "new", "old"]


def test_posts_with_tag_matches_tags_and_categories() -> None:
    """A category is a tag too; a label on no post finds nothing; an empty tag finds nothing."""
    assert (
        names(posts_with_tag(POSTS, "技术分享")),
        names(posts_with_tag(POSTS, "gpt-5")),
        posts_with_tag(POSTS, "GPT 5"),
        posts_with_tag(POSTS, "  #  "),
    ) == (["tech"], ["new"], [], [])


def test_posts_with_tag_orders_by_date_then_file_time_then_path() -> None:
    """Newest date first; on the same date the later-written file, then the path."""
    twin = md_post("a-twin", 'title: x\ndate: 2026-03-01\ncategory: AI 日报\nsummary: "- f"', mtime_ns=0)
    assert names(posts_with_tag([*POSTS, twin], "AI 日报")) == ["new-later", "a-twin", "new", "old"]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("ai日报", "AI 日报"), ("#ＡＩ 日报", "AI 日报"), ("sqlite", "SQLite"), ("nope", None), ("", None)],
)
def test_find_tag_gives_the_displayed_label(typed: str, expected: str | None) -> None:
    """A typed tag resolves to its label as displayed, or None."""
    found = find_tag(tag_counts(POSTS), typed)
    assert (found.label if found else None) == expected


def test_tag_key() -> None:
    """The lookup key: normalised label without a leading #."""
    assert [tag_key(t) for t in ("#AI 日报", "ＡＩ　日报", "C#")] == ["ai日报", "ai日报", "c#"]


LABELS = [
    "AI",
    "AI 日报",
    "技术分享",
    "database",
    "linux",
    "读书",
    "Redis",
    "MySQL",
    "OpenAI",
    "创业故事",
    "创业",
]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("日报", ["AI 日报"]),  # contained in a label
        ("创业", ["创业故事", "创业"]),  # every label containing it, in the given (popularity) order
        ("databse", ["database"]),  # a typo
        ("mysq", ["MySQL"]),
        ("openai", ["OpenAI"]),
        ("ai", ["AI", "AI 日报", "OpenAI"]),
        ("技术", ["技术分享"]),
        ("量子计算", []),
        ("", []),
        ("#", []),
    ],
)
def test_suggest_tags(typed: str, expected: list[str]) -> None:
    """Labels containing the typed tag first, then look-alikes; nothing when nothing is close."""
    assert suggest_tags(typed, LABELS) == expected


def test_suggest_tags_returns_at_most_n() -> None:
    """At most n suggestions, and none for n = 0."""
    assert (suggest_tags("a", LABELS, n=2), suggest_tags("ai", LABELS, n=0)) == (["AI", "AI 日报"], [])


def test_corpus_tag_counts_and_lookup() -> None:
    """On the real blog: AI 日报 is the biggest label, and every way of typing it finds all its posts."""
    posts = load_posts(corpus_dir("posts"), site_url=SITE).posts
    counts = tag_counts(posts)
    daily = [p for p in posts if "AI 日报" in (*p.tags, p.category)]
    assert counts[0].label in ("AI", "AI 日报")
    assert find_tag(counts, "ai日报") == TagCount("AI 日报", len(daily))
    assert set(posts_with_tag(posts, "ＡＩ 日报")) == set(daily)
    assert sum(1 for tc in counts if tc.count == 0) == 0


# -- topics ------------------------------------------------------------------------------------

TOPICS = (
    Topic("OpenAI", ("OpenAI", "ChatGPT", "GPT-")),
    Topic("英伟达", ("英伟达", "Nvidia")),
    Topic("谷歌", ("谷歌", "Gemini")),
)
DAILY = 'category: AI 日报\ntags: ["AI", "AI 日报"]\nsummary: "- a"'
MON = md_post("mon", f"title: 英伟达财报超预期\ndate: 2026-03-02\n{DAILY}", body="## 芯片\n### 台积电扩产\n")
TUE = md_post(
    "tue",
    f"title: 模型密集发布\ndate: 2026-03-03\n{DAILY}",
    body="## 模型\n### [GPT-5 发布](https://openai.com/gpt-5)\n### NVIDIA 开源新模型\n",
)
WED = md_post(
    "wed",
    'title: 平静的一天\ndate: 2026-03-04\ncategory: AI 日报\ntags: ["OpenAI"]\nsummary: "- b"',
    body="## 应用\n### ChatGPT 上线新功能\n### [发布会](https://blog.google/gemini)\n",
)
WEEK = [MON, TUE, WED]


def test_tag_counts_lists_topics_with_tags() -> None:
    """Topics count alongside tags and categories; a tag that is also a topic counts once per post."""
    assert tag_counts(WEEK, TOPICS) == [
        TagCount("AI 日报", 3),
        TagCount("AI", 2),  # WED has only the "OpenAI" tag
        TagCount("OpenAI", 2),  # WED's front-matter tag and its headline: one post
        TagCount("英伟达", 2),
    ]


def test_tag_counts_without_topics_is_unchanged() -> None:
    """No topic set: only tags and categories, as before topics existed."""
    assert tag_counts(WEEK) == [TagCount("AI 日报", 3), TagCount("AI", 2), TagCount("OpenAI", 1)]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("英伟达", ["tue", "mon"]),  # title, and "NVIDIA" in a headline
        ("#openai", ["wed", "tue"]),
        ("谷歌", []),  # "gemini" only in WED's URL
        ("Nvidia", []),  # an alias is not a label: /tag shows and finds topic names
    ],
)
def test_posts_with_tag_finds_topics(typed: str, expected: list[str]) -> None:
    """A topic is a tag: its posts, however it is typed, newest first."""
    assert names(posts_with_tag(WEEK, typed, TOPICS)) == expected


def test_corpus_tag_counts_with_default_topics(corpus_posts: Path) -> None:
    """On the real blog, /tag lists every default topic, each with the posts `posts_with_tag` finds."""
    posts = load_posts(corpus_posts, site_url=SITE).posts
    counts = {tc.label: tc.count for tc in tag_counts(posts, DEFAULT_TOPICS)}
    assert {
        topic.name: len(posts_with_tag(posts, topic.name, DEFAULT_TOPICS)) for topic in DEFAULT_TOPICS
    } == {topic.name: counts[topic.name] for topic in DEFAULT_TOPICS}
