"""The quality gate: which daily posts an automatic publish holds back, and why."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.posts import Post, daily_posts, load_posts, parse_post
from bot.quality import Verdict, assess, han_count
from tests.helpers.paths import EXAMPLE_POSTS, SITE

CATEGORY = "AI 日报"
GOOD_TITLE = "开源模型更新，机器人学习迎来大数据集"
GOOD_SUMMARY = "- 开源权重模型发布新版本\n- 机器人操作数据集开放"
# Two sections of about 120 readable characters each: long enough, Chinese, ends in "。".
GOOD_BODY = (
    "## 开源模型\n\n"
    + "新版本在长文档问答与代码库理解上明显改进，上下文扩展到 256K，推理成本同步下降。" * 3
    + "\n\n## 机器人\n\n"
    + "- 数据集覆盖抓取、装配与家务等多类任务，百万条真实演示轨迹开放下载\n"
)

# The corpus posts held, by file name prefix, with the rule that holds each.
LIVE_JUNK = {
    "2026-04-17-03a7f9d8": "title 'System Diagnostic Report', English body, one-sentence summary",
    "2026-04-23-1842d349": "title cut off ('GPT-5.5 发布打破'), English body, one-sentence summary",
}
# Good posts in posts/ that the gate holds: both stop mid-sentence after "深度解读 & 洞察：".
GOOD_BUT_HELD = {
    "2026-04-16-3b06fc51": "510 characters, ends '这标志着大模型公司从'",
    "2026-05-21-19b9b28d": "423 characters, ends '养活火箭和AI两个'",
}
# The 10 junk generator outputs in deleted/ (SOURCE.md): placeholder English titles and bodies.
DELETED_JUNK = {
    "2026-01-30-c6eb6691": "'Example Title', body 'This is the detailed report content.'",
    "2026-02-02-785eca39": "'System Diagnostic Report', English diagnostic text",
    "2026-03-27-51049810": "'Some title text', body 'Some report text'",
    "2026-05-17-bc95e5e8": "'Report Title', body 'This is the report content.'",
    "2026-06-17-bd31522a": "'Report Title', body 'This is the report content.'",
    "2026-06-20-e0ad3ec6": "'Report Title', body 'This is the report content.'",
    "2026-06-24-a227784c": "'Monthly Summary Report', 'Detailed analysis of the current situation.'",
    "2026-06-26-547248e8": "'Example Title', body 'This is the report content.'",
    "2026-08-12-08da2dac": "'Output Parsing Failure Report', the model's JSON error as the post",
    # Not a post at all: `title: AI Daily Brief: May 14, 2024` is not valid YAML, so it never loads.
    "2026-07-01-93489cd3": "'AI Daily Brief: May 14, 2024' (invalid YAML front matter)",
}
DELETED_INVALID_YAML = "2026-07-01-93489cd3"
# Other deleted daily posts the gate also holds: broken Chinese output (each left its day empty).
DELETED_BROKEN = {
    "2026-05-13-e93d4b37": "one sentence of body, one-sentence summary",
    "2026-05-27-6819d1ac": "255 characters, ends '评价这是'",
    "2026-06-04-b18e5fcf": "summary '- OpenAI CEO 奥尔特曼预言', body ends '公司已启动 Git 的'",
    "2026-06-16-1c3476e1": "129 characters, no sections",
}
# Deleted daily posts that are fine: a duplicate, the pre-rename name of the ' copy.md' post, and a
# short prose digest whose 260 characters end in "。".
DELETED_FINE = ("2025-12-30-97da4fc9", "2026-04-29-1b231f8d", "2026-05-16-c4543cac")


def make_post(*, title: str = GOOD_TITLE, summary: str = GOOD_SUMMARY, body: str = GOOD_BODY) -> Post:
    meta = (
        f"title: {json.dumps(title)}\ndate: 2026-11-27\ncategory: {CATEGORY}\nsummary: {json.dumps(summary)}"
    )
    front = f"---\n{meta}\n---\n"
    post, _ = parse_post((front + body).encode(), Path("2026-11-27-x.md"), site_url=SITE)
    return post


def held_names(folder: Path) -> list[str]:
    """The file names of the daily posts in `folder` that the gate holds."""
    posts = load_posts(folder, site_url=SITE).posts
    return [p.path.name[:19] for p in daily_posts(posts, CATEGORY) if assess(p).held]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"title": "Example Title"}, "title is a placeholder: 'Example Title'"),
        ({"title": "示例 Title 日报"}, "title is a placeholder: '示例 Title 日报'"),
        ({"title": "Monthly Summary Report"}, "title is a placeholder: 'Monthly Summary Report'"),
        ({"title": "OpenAI ships GPT-6"}, "title has no Chinese"),
        ({"summary": "This is a summary of the report."}, "summary has fewer than 2 bullets"),
        ({"summary": "- 只有一条"}, "summary has fewer than 2 bullets"),
        ({"body": "## 要闻\n\n只有一句话。"}, "body is 9 characters (usual: at least 400)"),
        (
            {"body": "新版本在长文档问答与代码库理解上明显改进。" * 6},
            "body has no ## sections and is 126 characters (usual: at least 400)",
        ),
        (
            {"body": "## News\n\n" + "OpenAI released a new model with better reasoning today. " * 4},
            "body is 0% Chinese (usual: at least 60%)",
        ),
        ({"body": GOOD_BODY + "\n这标志着大模型公司从"}, "text ends mid-sentence"),
    ],
)
def test_a_broken_post_is_held_with_its_reason(fields: dict[str, str], reason: str) -> None:
    """Each rule holds a post that breaks it and names why."""
    verdict = assess(make_post(**fields))
    assert verdict.held
    assert reason in verdict.reasons


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"title": "Claude Opus 4.7 发布"},  # English names in a Chinese title
        {"title": "State of AI Report 发布"},  # "Report" only counts in an all-English title
        {"summary": "- 第一条\n- 第二条"},
        {"body": GOOD_BODY + "\n这是完整的一句。"},
        {"body": GOOD_BODY + "\n- 列表项不以句号结尾"},
        {"body": GOOD_BODY + "\n" + "这是很长的一段文字，" * 100},  # long: a cut last item is not held
        {"body": "## 要闻\n\n" + "新版本在长文档问答与代码库理解上明显改进。" * 6},  # short, with a section
        {"body": "新版本在长文档问答与代码库理解上明显改进。" * 10},  # no sections, but 200 characters
    ],
)
def test_a_sound_post_is_not_held(fields: dict[str, str]) -> None:
    """A post that breaks no rule passes with no reasons."""
    assert assess(make_post(**fields)) == Verdict(held=False, reasons=())


def test_the_live_junk_posts_are_held(corpus_posts: Path) -> None:
    """Both junk posts in the live corpus are held."""
    assert set(LIVE_JUNK) <= set(held_names(corpus_posts))


def test_at_most_two_good_live_posts_are_held(corpus_posts: Path) -> None:
    """Of the other 242 daily posts, exactly the two known cut-off ones are held."""
    held = [name for name in held_names(corpus_posts) if name not in LIVE_JUNK]
    assert held == sorted(GOOD_BUT_HELD)


def test_the_deleted_junk_posts_are_held(corpus_deleted: Path) -> None:
    """The 9 loadable junk posts in deleted/ are held, and the broken Chinese ones too."""
    loadable = set(DELETED_JUNK) - {DELETED_INVALID_YAML}
    assert held_names(corpus_deleted) == sorted(loadable | set(DELETED_BROKEN))


def test_the_invalid_yaml_junk_post_does_not_load(corpus_deleted: Path) -> None:
    """The tenth junk post is not a post: its front matter is an error, never a publish."""
    library = load_posts(corpus_deleted, site_url=SITE)
    assert not any(p.path.name.startswith(DELETED_INVALID_YAML) for p in library.posts)
    assert [p.path.name[:19] for p in library.errors] == [DELETED_INVALID_YAML]


def test_the_fine_deleted_posts_are_not_held(corpus_deleted: Path) -> None:
    """Deleted daily posts that were fine (duplicates, a rename) pass the gate."""
    daily = daily_posts(load_posts(corpus_deleted, site_url=SITE).posts, CATEGORY)
    fine = [p for p in daily if p.path.name.startswith(DELETED_FINE)]
    assert [assess(p).held for p in fine] == [False] * len(DELETED_FINE)


def test_the_example_posts_are_not_held() -> None:
    """None of the repository's example posts in posts/ is held."""
    assert held_names(EXAMPLE_POSTS) == []


def test_check_reports_held_posts_as_warnings(corpus_posts: Path) -> None:
    """`ai-news-bot check` prints a gate warning on line 1 of each held live post."""
    out = io.StringIO()
    assert main(["check", "--posts", str(corpus_posts)], out=out) == 0
    gate = [line for line in out.getvalue().splitlines() if "held by the quality gate" in line]
    assert [Path(line.split(":", 1)[0]).name[:19] for line in gate] == sorted({*LIVE_JUNK, *GOOD_BUT_HELD})
    assert all(":1: warning: held by the quality gate: " in line for line in gate)
    junk = next(line for line in gate if "2026-04-23-1842d349" in line)
    assert junk.endswith("summary has fewer than 2 bullets; body is 0% Chinese (usual: at least 60%)")


def test_han_count_counts_exactly_the_han_ranges() -> None:
    """`han_count` (a pattern over UTF-8) counts exactly the code points of U+3400-U+4DBF,
    U+4E00-U+9FFF and U+F900-U+FAFF: every code point there is, surrogates included, one by one."""
    ranges = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))
    expected = [code for code in range(0x110000) if any(a <= code <= b for a, b in ranges)]
    found = [code for code in range(0x110000) if han_count(chr(code))]
    assert found == expected
    everything = "".join(map(chr, range(0x110000)))
    assert han_count(everything) == len(expected)  # and in one long text, with no match across two
