"""Topics: the headlines of a post, and which topics its title and `###` headlines name."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot.posts import Post, load_posts
from bot.tags import posts_with_tag
from bot.text import fold, label_key, simplified
from bot.topics import DEFAULT_TOPICS, Topic, headlines, topics_of
from tests.helpers.paths import SITE


def post(title: str = "AI 日报", body: str = "", *, day: int = 1) -> Post:
    """A post with just the fields topics look at."""
    return Post(
        path=Path(f"posts/{title}-{day}.md"),
        title=title,
        date=dt.date(2026, 3, day),
        category="AI 日报",
        tags=("AI", "AI 日报"),
        cover_image=None,
        summary=(),
        body=body,
        url=f"{SITE}/x.html",
        # As for a real file: the sha256 of what the topics are read from.
        sha256=hashlib.sha256(f"{title}\n{body}".encode()).hexdigest(),
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("### [OpenAI 发布 GPT-5](https://openai.com/index/gpt-5)\n正文", ["OpenAI 发布 GPT-5"]),
        ("### 其他重要模型动态\n- 一条", ["其他重要模型动态"]),
        ("### 深度解读 ###", ["深度解读"]),
        ("### C#", ["C#"]),
        ("   ### 缩进三格", ["缩进三格"]),
        ("    ### 缩进四格是代码", []),
        ("## 章节\n#### 小节\n###不是标题\n# 一级", []),
        ("###\n### ###", []),
        (
            "### 月之暗面发布 [Kimi K2.6](https://www.qbitai.com/2026/04/404130.html)：300 个 Agent",
            ["月之暗面发布 Kimi K2.6：300 个 Agent"],
        ),
        ("### [MiniMax 挂牌港交所](https://x.cn/1) 开盘暴涨 42%", ["MiniMax 挂牌港交所 开盘暴涨 42%"]),
        ("### [维基](https://en.wikipedia.org/wiki/Meta_(company)) 条目", ["维基 条目"]),
        ('### [链接](https://x.cn/a "标题") 后', ["链接 后"]),
        # Link text holds no brackets (a nested one would make link stripping quadratic): the
        # outer brackets stay, the URL goes.
        ("### [[Beta] 新功能](https://x.cn/b)", ["[[Beta] 新功能]( )"]),
        ("### ![logo](https://x.cn/logo.png) 图文", ["logo 图文"]),  # an image's alt text, as search reads it
        ("### 详见 https://openai.com/blog 与 <https://anthropic.com>", ["详见 与"]),
        (
            "### **粗体** 与 `代码` 与 __下划线__",
            ["粗体 与 代码 与 __下划线__"],
        ),  # `__` is Python's, not emphasis
        ("### 一\n\n### 二\n### 三", ["一", "二", "三"]),
        ("```bash\n### 注释\n```\n### 标题", ["标题"]),
        ("~~~~\n### 注释\n~~~\n### 还在代码里\n~~~~\n### 标题", ["标题"]),
        ("行内 ``` 不是围栏\n### 标题", ["标题"]),
        ("```\n### 没有闭合的代码块", []),
        ("", []),
    ],
)
def test_headlines(body: str, expected: list[str]) -> None:
    """The text of each `###` headline, as a reader sees it: link text kept, URLs and code dropped."""
    assert headlines(body) == expected


@pytest.mark.parametrize(
    ("alias", "title", "matches"),
    [
        ("OpenAI", "OpenAI 发布新模型", True),
        ("OpenAI", "openai 发布新模型", True),  # case
        ("OpenAI", "ＯｐｅｎＡＩ 发布新模型", True),  # full width
        ("ＯｐｅｎＡＩ", "OpenAI 发布新模型", True),  # a full-width alias too
        ("NVIDIA", "Nvidia 财报超预期", True),
        ("英伟达", "据英伟达称", True),  # Chinese: anywhere
        ("小米", "小米汽车交付", True),
        ("Meta", "Meta发布新模型", True),  # Latin beside Chinese is a word
        ("Meta", "metadata 标准发布", False),  # not inside a longer Latin word
        ("Meta", "MetaGPT 开源", False),
        ("Meta", "意大利叫停Meta、谷歌", True),
        ("AMD", "AMDOCS 上市", False),
        ("AMD", "AMD、英特尔发布新芯片", True),
        ("Apple", "Applebee 开店", False),
        ("GPT-", "GPT-5 发布", True),  # the alias ends in "-": any version follows
        ("GPT-", "ChatGPT-5 发布", False),
        ("GPT-", "GPT 5 发布", False),
        ("Qwen", "Qwen3.6-27B 开源", True),  # a version number is not part of the word
        ("GPT-4", "GPT-4o 上线", True),
        ("GPT-4", "GPT-40 上线", False),  # but a number is not cut short
        ("Z.ai", "Z.ai 发布 GLM-5", True),
        ("Z.ai", "xyz.ai 发布", False),
        ("Hugging Face", "HuggingFace 融资", True),  # a space in an alias is optional
        ("Hugging Face", "Hugging　Face 融资", True),  # ideographic space
        ("Grok", "Grok 4.5 发布", True),
        ("Grok", "Groks 发布", False),
        ("Claude", "Café Claude 开业", True),
        ("Café", "Cafés 开业", False),  # accented Latin letters are Latin too
    ],
)
def test_alias_matching(alias: str, title: str, matches: bool) -> None:
    """Case and width never matter; a Latin alias is a whole word; a Chinese alias matches anywhere."""
    assert topics_of(post(title), (Topic("t", (alias,)),)) == (("t",) if matches else ())


@pytest.mark.parametrize(
    ("body", "matches"),
    [
        ("### [OpenAI 发布 GPT-5](https://x.cn/1)", True),
        ("### 谷歌跟进 [OpenAI](https://x.cn/1) 的定价", True),
        ("### [发布新模型](https://openai.com/index/new)", False),  # only in the URL
        ("### 详见 https://openai.com/index/new", False),
        ("## OpenAI 专题\n#### OpenAI 小节\n正文提到 OpenAI。", False),  # only title and ### count
        ("```\n### OpenAI\n```", False),
        ("- OpenAI 发布 GPT-5", False),  # a bullet is not a headline
    ],
)
def test_topics_are_read_from_headline_text_only(body: str, matches: bool) -> None:
    """A topic counts from a `###` headline's visible text, never from its URL, the body or code."""
    assert topics_of(post("AI 日报", body), (Topic("OpenAI", ("OpenAI",)),)) == (
        ("OpenAI",) if matches else ()
    )


def test_a_post_carries_every_topic_it_matches_in_topic_order() -> None:
    """All matching topics, in the order of the topic set, from the title and any headline."""
    topics = (
        Topic("微软", ("微软", "Microsoft")),
        Topic("OpenAI", ("OpenAI", "ChatGPT")),
        Topic("谷歌", ("谷歌", "Gemini")),
        Topic("英伟达", ("英伟达",)),
    )
    body = "## 模型\n### [ChatGPT 上线新功能](https://x.cn/1)\n### Gemini 3 发布\n"
    assert topics_of(post("Microsoft 与 OpenAI 续约", body), topics) == ("微软", "OpenAI", "谷歌")


def test_an_alias_inside_another_alias_still_counts() -> None:
    """Aliases of different topics that overlap in a headline are each found."""
    topics = (
        Topic("DeepMind", ("Google DeepMind",)),
        Topic("谷歌", ("Google",)),
        Topic("英伟达", ("英伟达",)),
        Topic("伟达", ("伟达",)),
    )
    assert topics_of(post("Google DeepMind 与英伟达合作"), topics) == ("DeepMind", "谷歌", "英伟达", "伟达")


def test_no_topics_no_labels() -> None:
    """An empty topic set gives no topics; so does a post that names none."""
    assert (topics_of(post("OpenAI 发布"), ()), topics_of(post("今日无事"), DEFAULT_TOPICS)) == ((), ())


# ASCII and CJK (which folding skips) next to what NFKC changes: full width, combining marks,
# Hangul jamo, ligatures, compatibility ideographs.
MIXED = st.text(st.sampled_from("aZ9 -.英伟达ＯＡ１，　\u0301\u0308\u0338\u1100\u1161\u11a8ﬁ\uf900ⅷ①ß"))


@given(MIXED | st.text())
@example("e\u0301")  # composes with the ASCII letter before it
@example("=\u0338")
def test_folding_is_nfkc_and_casefold(text: str) -> None:
    """The fast folding equals NFKC + casefold (then Traditional characters as Simplified) for any
    text (it normalises only non-CJK, non-ASCII runs)."""
    assert fold(text) == simplified(unicodedata.normalize("NFKC", text).casefold())


@given(st.text(), st.text(), st.lists(st.text(), max_size=3))
def test_any_post_and_aliases_are_safe(title: str, body: str, aliases: list[str]) -> None:
    """Any title, body and aliases: no exception, and only names of the given topics come back."""
    topics = (Topic("a", tuple(aliases)), *DEFAULT_TOPICS)
    assert set(topics_of(post(title or "x", body), topics)) <= {t.name for t in topics}


def test_default_topics_are_distinct() -> None:
    """The default topics have distinct labels and each has aliases."""
    labels = [label_key(topic.name) for topic in DEFAULT_TOPICS]
    assert len(set(labels)) == len(labels) >= 20
    assert all(topic.aliases for topic in DEFAULT_TOPICS)


# -- the real blog ------------------------------------------------------------------------------


def load_daily(folder: Path) -> tuple[tuple[Post, ...], list[Post]]:
    posts = load_posts(folder, site_url=SITE).posts
    return posts, [p for p in posts if label_key(p.category) == label_key("AI 日报")]


def test_every_default_topic_is_in_the_daily_posts(corpus_posts: Path) -> None:
    """On the real blog, each default topic is named by at least 22 daily posts (how they were chosen)."""
    _, daily = load_daily(corpus_posts)
    counts = {topic.name: 0 for topic in DEFAULT_TOPICS}
    for daily_post in daily:
        for name in topics_of(daily_post, DEFAULT_TOPICS):
            counts[name] += 1
    assert min(counts.values()) >= 22, counts
    assert list(counts.values()) == sorted(counts.values(), reverse=True)  # most frequent first


def test_tag_nvidia_lists_the_days_nvidia_made_the_headlines(corpus_posts: Path) -> None:
    """`/tag 英伟达`: exactly the posts whose title or headlines name Nvidia, newest first."""
    posts, _ = load_daily(corpus_posts)
    nvidia = re.compile(r"英伟达|(?<![a-z])nvidia(?![a-z])|黄仁勋")
    expected = {
        p
        for p in posts
        if nvidia.search(unicodedata.normalize("NFKC", "\n".join([p.title, *headlines(p.body)])).casefold())
    }
    found = posts_with_tag(posts, "英伟达", DEFAULT_TOPICS)
    assert len(found) >= 50
    assert set(found) == expected
    assert [p.date for p in found] == sorted((p.date for p in found), reverse=True)
