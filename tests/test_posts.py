"""Posts: Markdown file -> frozen Post, or PostError with file and line; the day's post."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import text
from bot.posts import (
    MAX_FILE_BYTES,
    Post,
    PostError,
    PostFolder,
    article_url,
    daily_posts,
    derive_summary,
    latest_post,
    load_posts,
    parse_post,
    post_for_day,
    read_body,
    read_post,
    split_summary,
)
from bot.text import label_key, same_label
from tests.conftest import corpus_file
from tests.helpers.paths import EXAMPLE_POSTS, SITE

CARD = """
---

<div class="telegram-card">
  <div class="telegram-card__body"><a href="https://t.me/ai_news_plus">立即加入群组</a></div>
</div>
"""


def post_text(front: str, body: str = "## 标题\n\n### [新闻](https://example.com/1)\n\n正文。\n") -> str:
    return f"---\n{front.strip()}\n---\n{body}"


def parse(text: str | bytes, name: str = "2026-03-01-x.md") -> Post:
    raw = text.encode() if isinstance(text, str) else text
    post, _ = parse_post(raw, Path(name), site_url=SITE)
    return post


def parse_error(text: str | bytes, name: str = "bad.md") -> PostError:
    raw = text.encode() if isinstance(text, str) else text
    with pytest.raises(PostError) as caught:
        parse_post(raw, Path(name), site_url=SITE)
    return caught.value


# -- the real corpus ----------------------------------------------------------------------------


def test_normal_post_belongs_to_its_front_matter_date() -> None:
    """The file name says 02-28, `date` says 03-01: the post is 03-01's."""
    path = corpus_file("2026-02-28-97f38282")
    post, warnings = read_post(path, site_url=SITE)
    assert post.date == dt.date(2026, 3, 1)
    assert post.title == "OpenAI 超级融资与 Anthropic 被封杀：AI 巨头博弈进入新阶段"
    assert post.category == "AI 日报"
    assert post.tags == ("AI", "AI 日报")
    assert post.cover_image == "https://ssl.aicode.cc/n8n/2026/02-28/23-32-20-Xb4BiII9.png"
    assert post.url == "https://aicode.cc/2026-02-28-97f38282-9075-4ce6-a796-caf730591945.html"
    assert len(post.summary) == 10
    assert post.summary[0] == "OpenAI完成1100亿美元融资，估值7300亿美元，亚马逊投500亿，软银和英伟达各300亿"
    assert post.body.startswith("## OpenAI 史诗级融资与 AI 格局重塑")
    assert "telegram-card" not in post.body
    assert post.body.endswith("部署成本仅为同类方案 1/20")
    assert warnings == []


def test_missing_summary_derived_from_headlines() -> None:
    """No `summary`: the bullets are the body's section headlines, generic ones left out."""
    post, warnings = read_post(corpus_file("2025-12-12-7a1e55d7"), site_url=SITE)
    assert post.summary == (
        "阿里一日双发：Qwen3-TTS 与 Qwen3-Omni-Flash 引领多模态浪潮",
        "Adobe 与 ChatGPT 联手：专业创作迈入“对话即操作”时代",
        "Google 发布 Gemini TTS 2.5 与 FACTS 基准：在创新与责任间走钢丝",
        "美国42州检察长联名警告AI巨头：必须解决“幻觉”问题",
    )
    assert [w.message for w in warnings] == ["no 'summary': bullets taken from the body's headlines"]


@pytest.mark.parametrize(
    ("prefix", "count", "first", "warning"),
    [
        (
            "2026-07-30-eafe83c6",
            8,
            "OpenAI发布GPT-5.6系列，Luna模型降价80%，旗舰Sol实现自我优化推理系统",
            "summary lines do not start with '- '",
        ),
        (
            "2026-01-31-60f16cf8",
            8,
            "OpenAI揭秘GPT-5.2内部分析工具",
            "summary is one line; split into bullets",
        ),
        (
            "2026-06-14-e3e57e29",
            2,
            "Anthropic 的两款 AI 模型因被发现在国家安全层面存在风险，遭美国政府禁用",
            "summary is prose",
        ),
    ],
)
def test_irregular_summaries_become_bullets(prefix: str, count: int, first: str, warning: str) -> None:
    """Summaries without `- ` become bullets, and `check` says how they were read."""
    post, warnings = read_post(corpus_file(prefix), site_url=SITE)
    assert len(post.summary) == count
    assert post.summary[0] == first
    assert [w.message[: len(warning)] for w in warnings] == [warning]
    assert warnings[0].line == 8  # the `summary:` line


def test_space_in_file_name_is_url_encoded() -> None:
    """The ` copy.md` file's link is URL-encoded."""
    post, _ = read_post(corpus_file("2026-05-16-c4543cac"), site_url=SITE)
    assert post.url == "https://aicode.cc/2026-05-16-c4543cac-83de-4e81-a2d2-c04abca057c3%20copy.html"


@pytest.mark.parametrize(
    ("prefix", "title"),
    [
        ("2026-01-17-c5045b3b", "AI 日报 | 订阅降价+广告风暴与监管大锤同天降临"),
        ("2026-01-19-ed699bdf", "OpenAI 广告时代开启 & 重载机器人进厂"),
        ("2026-02-05-3f995af9", "AI架构突破与软件股震荡"),
    ],
)
def test_special_characters_kept_verbatim(prefix: str, title: str) -> None:
    """`|`, `&` and `<` in a post are kept as written; escaping is the renderer's job."""
    post, _ = read_post(corpus_file(prefix), site_url=SITE)
    assert post.title == title
    assert "telegram-card" not in post.body
    assert not post.body.startswith("# ")


def test_longest_body_keeps_literal_less_than() -> None:
    """The longest daily post keeps its literal `>`-comparisons and loses only the card."""
    post, _ = read_post(corpus_file("2026-02-05-3f995af9"), site_url=SITE)
    assert "LVA路线（语言>视觉>动作）" in post.body
    assert "<div" not in post.body


def test_invalid_yaml_reported_with_line() -> None:
    """The deleted post whose front matter is not YAML: PostError naming file and line."""
    path = corpus_file("2026-07-01-93489cd3", folder="deleted")
    with pytest.raises(PostError) as caught:
        read_post(path, site_url=SITE)
    assert caught.value.line == 2
    assert str(caught.value) == (
        f"{path}:2: front matter is not valid YAML: mapping values are not allowed in this context"
    )


def test_whole_corpus_loads(corpus_posts: Path) -> None:
    """All 297 posts load, 244 of them daily, none is an error."""
    library = load_posts(corpus_posts, site_url=SITE)
    assert len(library.posts) == 297
    assert library.errors == ()
    assert len(daily_posts(library.posts, "AI 日报")) == 244


def test_read_body_is_the_parsed_body(corpus_posts: Path, corpus_deleted: Path) -> None:
    """`read_body` (what a search hit's snippet is cut from, without YAML) gives every real post,
    live or deleted, the body `parse_post` gives it."""
    for folder in (corpus_posts, corpus_deleted):
        for post in load_posts(folder, site_url=SITE).posts:
            assert read_body(post.path.read_bytes(), post.path, post.title) == post.body, post.path


def test_front_matter_boundary_is_python_frontmatters() -> None:
    """The opening and closing lines of a front matter are found as python-frontmatter's YAML
    handler finds them (its pattern is copied, so that reading a body needs no YAML import)."""
    from frontmatter.default_handlers import YAMLHandler

    from bot import posts

    assert YAMLHandler.FM_BOUNDARY is not None
    assert (posts._BOUNDARY.pattern, posts._BOUNDARY.flags) == (
        YAMLHandler.FM_BOUNDARY.pattern,
        YAMLHandler.FM_BOUNDARY.flags,
    )


def test_deleted_folder_loads_around_the_broken_file(corpus_deleted: Path) -> None:
    """One broken file is reported; the other 28 still load."""
    library = load_posts(corpus_deleted, site_url=SITE)
    assert [e.path.name[:19] for e in library.errors] == ["2026-07-01-93489cd3"]
    assert len(library.posts) == 28


# -- parsing rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("2026-03-01", dt.date(2026, 3, 1)),
        ("2026-03-01 07:31:00", dt.date(2026, 3, 1)),
        ("2026-03-01T07:31:00+08:00", dt.date(2026, 3, 1)),
        ("'2026-03-01'", dt.date(2026, 3, 1)),
        ("'2026/3/1'", dt.date(2026, 3, 1)),
    ],
)
def test_date_as_date_datetime_or_string(date: str, expected: dt.date) -> None:
    """`date` may be a YAML date, a datetime or a string."""
    assert parse(post_text(f"title: T\ndate: {date}")).date == expected


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ('["AI","AI 日报"]', ("AI", "AI 日报")),
        ("AI", ("AI",)),
        ("AI, 日报，模型", ("AI", "日报", "模型")),
        ("[AI, 2026, AI]", ("AI", "2026")),
        ("[]", ()),
    ],
)
def test_tags_as_list_or_string(tags: str, expected: tuple[str, ...]) -> None:
    """`tags` may be a list or a comma-separated string; duplicates drop."""
    assert parse(post_text(f"title: T\ndate: 2026-03-01\ntags: {tags}")).tags == expected


@pytest.mark.parametrize(
    ("summary", "bullets", "how"),
    [
        ("- a\n- b", ("a", "b"), "bullets"),
        ("* a\n• b\n1. c", ("a", "b", "c"), "bullets"),
        ("a\nb\n\nc", ("a", "b", "c"), "lines"),
        ("甲；乙；丙。", ("甲", "乙", "丙"), "semicolons"),
        ("第一句。第二句！第三句", ("第一句", "第二句！", "第三句"), "prose"),
        ("- **粗体** 与 [链接](https://x) 与 `code`", ("粗体 与 链接 与 code",), "bullets"),
        ("   ", (), "bullets"),
    ],
)
def test_split_summary(summary: str, bullets: tuple[str, ...], how: str) -> None:
    """Every summary shape the blog has produced becomes a list of bullets."""
    assert split_summary(summary) == (bullets, how)


def test_derive_summary_prefers_linked_headlines() -> None:
    """Linked `###` headlines are the bullets when there are any."""
    body = "## 一、大事\n\n### [甲](https://a)\n\n### 深度解读\n\n## 更多动态\n\n### [乙](https://b)\n"
    assert derive_summary(body) == ("甲", "乙")


def test_derive_summary_falls_back_to_sections() -> None:
    """Without linked headlines, `##` titles, numbering and generic sections removed."""
    body = "## 一、甲\n\n### 影响\n\n## 02｜乙\n\n## 更多\n\n## 总结\n"
    assert derive_summary(body) == ("甲", "乙")


def test_h1_repeating_the_title_and_card_are_stripped() -> None:
    """The H1 that repeats the title and the trailing telegram-card block are dropped."""
    post = parse(post_text("title: 标题 A\ndate: 2026-03-01", "\n# 标题 A\n\n## 节\n\n正文\n" + CARD))
    assert post.body == "## 节\n\n正文"


def test_h1_differing_from_the_title_is_kept() -> None:
    """An H1 that says something else is content, not a repeat."""
    post = parse(post_text("title: 标题\ndate: 2026-03-01", "# 别的\n\n正文\n"))
    assert post.body == "# 别的\n\n正文"


@pytest.mark.reliability(27)
def test_bom_and_crlf_do_not_hide_front_matter() -> None:
    """A UTF-8 BOM and Windows line ends still parse (docs/reliability.md, case 27)."""
    raw = "\ufeff---\r\ntitle: T\r\ndate: 2026-03-01\r\n---\r\n正文\r\n".encode()
    post = parse(raw)
    assert (post.title, post.body) == ("T", "正文")


def test_sha256_identifies_the_bytes() -> None:
    """Two versions of a file have different hashes; the same bytes the same hash."""
    a = parse(post_text("title: T\ndate: 2026-03-01"))
    b = parse(post_text("title: T\ndate: 2026-03-01"))
    c = parse(post_text("title: T2\ndate: 2026-03-01"))
    assert a.sha256 == b.sha256 != c.sha256


def test_post_is_frozen() -> None:
    """A Post cannot be changed after parsing."""
    post = parse(post_text("title: T\ndate: 2026-03-01"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        post.title = "x"  # type: ignore[misc]


def test_article_url_encodes() -> None:
    """Spaces and non-ASCII characters in the file name are percent-encoded."""
    assert article_url("https://aicode.cc/", Path("a b/日报 copy.md")) == (
        "https://aicode.cc/%E6%97%A5%E6%8A%A5%20copy.html"
    )


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("no front matter\n", 1, "no front matter: the file must start with '---'"),
        ("\n\nhello\n", 3, "no front matter"),
        ("---\ntitle: T\ndate: 2026-03-01\n", 1, "front matter is not closed by a '---' line"),
        ("---\ntitle: T\ndate: 2026-03-01\nfoo: [1,\n---\nbody", 5, "front matter is not valid YAML"),
        ("---\ndate: 2026-03-01\n---\nbody", 1, "front matter has no 'title'"),
        ("---\ntitle: T\n---\nbody", 1, "front matter has no 'date'"),
        ("---\ntitle: T\ndate: soon\n---\n", 3, "'date' must be a date such as 2026-03-01, got str 'soon'"),
        ("---\ntitle: T\ndate: 2026-02-30x\n---\n", 3, "'date' must be a date"),
        ("---\ntitle: no\ndate: 2026-03-01\n---\n", 2, "'title' must be text, got boolean False"),
        ("---\ntitle: 0123\ndate: 2026-03-01\n---\n", 2, "'title' must be text, got number 83"),
        ("---\ntitle: T\ndate: 2026-03-01\ntags: {a: 1}\n---\n", 4, "'tags' must be a list or a string"),
        ("---\ntitle: T\ndate: 2026-03-01\ntags: [[a]]\n---\n", 4, "every tag must be text"),
        ("---\ntitle: T\ndate: 2026-03-01\nsummary: 3\n---\n", 4, "'summary' must be text or a list"),
        ("---\n- a\n- b\n---\n", 1, "front matter must be a mapping"),
        ("---\n---\nbody", 1, "front matter must be a mapping"),
        ("---\nx: &a [1]\ny: *a\ntitle: T\n---\n", 2, "YAML anchors and aliases are not allowed"),
    ],
)
@pytest.mark.reliability(27)
def test_file_that_cannot_be_a_post(text: str, line: int, reason: str) -> None:
    """Each kind of broken file raises PostError naming the line and the reason."""
    error = parse_error(text)
    assert (error.line, error.reason[: len(reason)]) == (line, reason)
    assert str(error).startswith(f"bad.md:{line}: ")


def test_invalid_utf8_names_the_line() -> None:
    """Bytes that are not UTF-8 are reported on the line where they are."""
    error = parse_error(b"---\ntitle: T\ndate: 2026-03-01\n---\nok\n\xff\xfe bad\n")
    assert (error.line, error.reason) == (6, "file is not valid UTF-8")


@pytest.mark.reliability(28)
def test_oversized_file_rejected_before_parsing(tmp_path: Path) -> None:
    """A file over 1 MB is refused without being parsed (docs/reliability.md, case 28)."""
    path = tmp_path / "huge.md"
    path.write_bytes(b"---\ntitle: T\ndate: 2026-03-01\n---\n" + b"x" * MAX_FILE_BYTES)
    started = time.perf_counter()
    with pytest.raises(PostError, match="over the 1,048,576-byte limit"):
        read_post(path, site_url=SITE)
    assert time.perf_counter() - started < 1  # a guard against hanging, not a benchmark


@pytest.mark.reliability(28)
def test_alias_bomb_rejected_quickly() -> None:
    """A billion-laughs front matter is refused at the first anchor, in well under a second."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 30)]
    text = "---\ntitle: T\ndate: 2026-03-01\n" + "\n".join(lines) + "\n---\nbody\n"
    error = parse_error(text)
    assert (error.line, error.reason) == (4, "YAML anchors and aliases are not allowed in front matter")


def test_ampersand_and_asterisk_in_text_are_not_anchors() -> None:
    """`&` and `*` inside quoted values are text, not YAML anchors."""
    post = parse(post_text('title: "R&D *新高* & more"\ndate: 2026-03-01\nsummary: "- **粗** & *斜*"'))
    assert post.title == "R&D *新高* & more"
    assert post.summary == ("粗 & 斜",)  # `*斜*` is emphasis: a reader sees 斜


def test_unreadable_file_is_a_post_error(tmp_path: Path) -> None:
    """A path that cannot be read is reported like any other broken file."""
    with pytest.raises(PostError, match="cannot read file"):
        read_post(tmp_path / "missing.md", site_url=SITE)


# -- folders and the day's post -----------------------------------------------------------------


def write_post(folder: Path, name: str, *, date: str, category: str = "AI 日报", mtime: int = 0) -> Path:
    path = folder / name
    path.write_text(post_text(f"title: {name}\ndate: {date}\ncategory: {category}"), encoding="utf-8")
    if mtime:
        os.utime(path, ns=(mtime, mtime))
    return path


def test_broken_file_skipped_rest_loaded(tmp_path: Path) -> None:
    """A broken file is one error; every other file in the folder still loads."""
    write_post(tmp_path, "a.md", date="2026-03-01")
    (tmp_path / "b.md").write_text("---\ntitle: [\n---\n", encoding="utf-8")
    write_post(tmp_path, "c.md", date="2026-03-02")
    (tmp_path / "notes.txt").write_text("not a post", encoding="utf-8")
    library = load_posts(tmp_path, site_url=SITE)
    assert [p.path.name for p in library.posts] == ["a.md", "c.md"]
    assert [(e.path.name, e.line) for e in library.errors] == [("b.md", 3)]


def test_missing_folder_is_an_error(tmp_path: Path) -> None:
    """A posts folder that does not exist is reported, not a crash."""
    library = load_posts(tmp_path / "nope", site_url=SITE)
    assert library.posts == ()
    assert [e.message for e in library.errors] == ["posts folder does not exist or is not a folder"]


def test_post_for_day_ignores_other_categories(tmp_path: Path) -> None:
    """A tech article sharing the day is never the day's post."""
    write_post(tmp_path, "daily.md", date="2026-03-01", mtime=1_000)
    write_post(tmp_path, "article.md", date="2026-03-01", category="技术分享", mtime=2_000)
    posts = load_posts(tmp_path, site_url=SITE).posts
    day = post_for_day(posts, dt.date(2026, 3, 1), "AI 日报")
    assert day is not None
    assert day.path.name == "daily.md"


@pytest.mark.reliability(29)
def test_post_for_day_newest_file_wins(tmp_path: Path) -> None:
    """The blog re-runs a failed post under a new file name: the newest file is the day's post."""
    write_post(tmp_path, "z-first.md", date="2026-03-01", mtime=1_000_000_000)
    write_post(tmp_path, "a-rerun.md", date="2026-03-01", mtime=2_000_000_000)
    posts = load_posts(tmp_path, site_url=SITE).posts
    day = post_for_day(posts, dt.date(2026, 3, 1), "AI 日报")
    assert day is not None
    assert day.path.name == "a-rerun.md"


def test_post_for_day_none(tmp_path: Path) -> None:
    """No post of the category on that day: None."""
    write_post(tmp_path, "a.md", date="2026-03-01")
    posts = load_posts(tmp_path, site_url=SITE).posts
    assert post_for_day(posts, dt.date(2026, 3, 2), "AI 日报") is None


def test_category_match_ignores_width_case_and_spaces(tmp_path: Path) -> None:
    """`ai日报` and full-width `ＡＩ 日报` name the same category as `AI 日报`."""
    write_post(tmp_path, "a.md", date="2026-03-01", category="ＡＩ 日报")
    posts = load_posts(tmp_path, site_url=SITE).posts
    assert post_for_day(posts, dt.date(2026, 3, 1), "ai日报") is not None
    assert label_key("ＡＩ 日报") == label_key("ai日报") == "ai日报"


def test_category_and_h1_in_traditional_chinese_match(tmp_path: Path) -> None:
    """`AI 日報` is the daily category, and an H1 in Traditional characters repeats a Simplified
    title: compared as `label_key` does, by `same_label` without the table when it cannot matter."""
    write_post(tmp_path, "a.md", date="2026-03-01", category="AI 日報")
    posts = load_posts(tmp_path, site_url=SITE).posts
    assert post_for_day(posts, dt.date(2026, 3, 1), "AI 日报") is not None
    post = parse(post_text("title: 英伟达发布芯片\ndate: 2026-03-01", "# 英偉達發布晶片\n\n正文\n"))
    assert post.body == "# 英偉達發布晶片\n\n正文"  # 晶片 is another word, not another spelling
    post = parse(post_text("title: 英伟达发布芯片\ndate: 2026-03-01", "# 英偉達發布芯片\n\n正文\n"))
    assert post.body == "正文"


@given(
    st.text(alphabet="aAＡ 日報报英偉伟达達技术x-1１\U0002b6ee", max_size=8),
    st.text(alphabet="aAＡ 日報报英偉伟达達技术x-1１\U0002b6ee", max_size=8),
)
def test_same_label_is_label_key_equality(a: str, b: str) -> None:
    """`same_label(a, b)` answers exactly `label_key(a) == label_key(b)`."""
    assert same_label(a, b) == (label_key(a) == label_key(b))


def test_simplified_makes_ideographs_of_ideographs_only() -> None:
    """What `same_label` relies on: the conversion changes only characters of the CJK blocks, one
    into one, and makes of each an ideograph of those blocks or of the supplementary planes."""
    table = text._t2s_table()
    assert table
    assert all(text._converts(chr(old)) for old in table)
    assert all(text._converts(chr(new)) or new >= text.SUPPLEMENTARY_IDEOGRAPHS for new in table.values())


def test_latest_post(tmp_path: Path) -> None:
    """`latest` is the newest day of the pushed category."""
    write_post(tmp_path, "old.md", date="2026-03-01")
    write_post(tmp_path, "new.md", date="2026-03-03")
    write_post(tmp_path, "article.md", date="2026-03-09", category="技术分享")
    latest = latest_post(load_posts(tmp_path, site_url=SITE).posts, "AI 日报")
    assert latest is not None
    assert latest.path.name == "new.md"


def test_example_posts_are_clean() -> None:
    """The repository's own example posts parse without a single warning."""
    library = load_posts(EXAMPLE_POSTS, site_url=SITE)
    assert library.problems == ()
    assert len(daily_posts(library.posts, "AI 日报")) == 6


# -- a folder kept loaded -----------------------------------------------------------------------


def _daily(day: str, title: str) -> str:
    return post_text(f"title: {title}\ndate: {day}\ncategory: AI 日报")


def test_folder_unchanged_is_not_read_again(tmp_path: Path) -> None:
    """With nothing changed, load() hands back the very same library."""
    (tmp_path / "a.md").write_text(_daily("2026-11-01", "一"), encoding="utf-8")
    folder = PostFolder(tmp_path, site_url=SITE)
    assert folder.load() is folder.load()


def test_folder_picks_up_new_changed_and_removed_files(tmp_path: Path) -> None:
    """A new file appears, an edited one is re-read, a removed one disappears."""
    (tmp_path / "a.md").write_text(_daily("2026-11-01", "一"), encoding="utf-8")
    (tmp_path / "b.md").write_text(_daily("2026-11-02", "二"), encoding="utf-8")
    folder = PostFolder(tmp_path, site_url=SITE)
    assert [p.title for p in folder.load().posts] == ["一", "二"]
    (tmp_path / "c.md").write_text(_daily("2026-11-03", "三"), encoding="utf-8")
    (tmp_path / "a.md").write_text(_daily("2026-11-01", "一（更新）"), encoding="utf-8")
    (tmp_path / "b.md").unlink()
    assert [p.title for p in folder.load().posts] == ["一（更新）", "三"]


def test_folder_is_scanned_only_after_a_change(tmp_path: Path) -> None:
    """With inotify, an unchanged folder is not scanned again; the very next load after a file is
    edited in place, added, touched or removed, or after the folder is replaced, scans it."""
    pytest.importorskip("inotify_simple")
    (tmp_path / "posts").mkdir()
    folder = PostFolder(tmp_path / "posts", site_url=SITE)
    a = folder.folder / "a.md"
    a.write_text(_daily("2026-11-01", "一"), encoding="utf-8")
    first = folder.load()
    assert folder.load() is first
    assert folder.scans == 1
    a.write_text(_daily("2026-11-01", "一（更新）"), encoding="utf-8")
    assert [p.title for p in folder.load().posts] == ["一（更新）"]
    (folder.folder / "b.md").write_text(_daily("2026-11-02", "二"), encoding="utf-8")
    assert [p.title for p in folder.load().posts] == ["一（更新）", "二"]
    os.utime(a, ns=(0, 0))
    folder.load()
    a.unlink()
    assert [p.title for p in folder.load().posts] == ["二"]
    assert folder.scans == 5
    folder.load()
    assert folder.scans == 5
    (folder.folder).rename(tmp_path / "old")
    (tmp_path / "posts").mkdir()
    (folder.folder / "c.md").write_text(_daily("2026-11-03", "三"), encoding="utf-8")
    assert [p.title for p in folder.load().posts] == ["三"]


def test_folder_with_a_symlinked_post_is_scanned_every_time(tmp_path: Path) -> None:
    """A post that is a symlink may be edited where no watch on the folder sees it: every load scans."""
    (tmp_path / "posts").mkdir()
    target = tmp_path / "elsewhere.md"
    target.write_text(_daily("2026-11-01", "一"), encoding="utf-8")
    (tmp_path / "posts" / "a.md").symlink_to(target)
    folder = PostFolder(tmp_path / "posts", site_url=SITE)
    folder.load()
    target.write_text(_daily("2026-11-01", "一（更新）"), encoding="utf-8")
    assert [p.title for p in folder.load().posts] == ["一（更新）"]
    assert folder.scans == 2


def test_folder_reports_a_file_that_broke(tmp_path: Path) -> None:
    """A file edited into garbage becomes a problem; the other posts stay."""
    (tmp_path / "a.md").write_text(_daily("2026-11-01", "一"), encoding="utf-8")
    (tmp_path / "b.md").write_text(_daily("2026-11-02", "二"), encoding="utf-8")
    folder = PostFolder(tmp_path, site_url=SITE)
    folder.load()
    (tmp_path / "b.md").write_text("---\ntitle: [\n---\n", encoding="utf-8")
    library = folder.load()
    assert [p.title for p in library.posts] == ["一"]
    assert [(e.path.name, e.line) for e in library.errors] == [
        ("b.md", 3)
    ]  # where YAML notices the unclosed [


def test_folder_that_disappears_is_an_error(tmp_path: Path) -> None:
    """A posts folder removed while running gives an error, not an exception."""
    folder = PostFolder(tmp_path / "gone", site_url=SITE)
    assert [e.message for e in folder.load().errors] == ["posts folder does not exist or is not a folder"]
