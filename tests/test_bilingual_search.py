"""Search the way a bilingual reader names things, end to end against the fake Bot API: one company
under every name, Traditional Chinese, model-name spellings, in /search, /tag and inline mode."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.helpers.harness import Bot, at, daily_post


@pytest.fixture
def nvidia_post(bot: Bot) -> None:
    """A post whose headline names 英伟达 and GLM-5 (only the Simplified name, no English)."""
    bot.clock.now = at(9)
    (bot.posts / "nv.md").write_text(
        daily_post(
            dt.date(2026, 11, 20),
            "本周要闻",
            body="### [英伟达发布新一代 GPU，智谱 GLM-5 上线](https://example.com/nv)\n\n详细内容。" * 3,
        ),
        encoding="utf-8",
    )


@pytest.mark.usefixtures("nvidia_post")
async def test_english_name_finds_the_chinese_and_says_so(bot: Bot) -> None:
    """/search Nvidia finds the post that says 英伟达, says it also searched 英伟达, and bolds it."""
    (answer,) = await bot.ask("/search Nvidia")
    text = answer["text"]
    assert "本周要闻" in text
    assert "Nvidia，也搜了 英伟达" in text
    units = text.encode("utf-16-le")  # entity offsets count UTF-16 code units
    bold = [
        units[2 * e["offset"] : 2 * (e["offset"] + e["length"])].decode("utf-16-le")
        for e in answer["entities"]
        if e["type"] == "bold"
    ]
    assert "英伟达" in bold


@pytest.mark.usefixtures("nvidia_post")
@pytest.mark.parametrize("query", ["英偉達", "輝達", "GLM5", "GLM 5", "glm-5"])
async def test_traditional_and_spellings_find_the_post(bot: Bot, query: str) -> None:
    """Taiwan's and Hong Kong's names and every spelling of a model name find the post."""
    (answer,) = await bot.ask(f"/search {query}")
    assert "本周要闻" in answer["text"]


@pytest.mark.usefixtures("nvidia_post")
async def test_quoted_name_is_literal(bot: Bot) -> None:
    """'"Nvidia"' in quotes matches the word alone: the post that says only 英伟达 is not found."""
    (answer,) = await bot.ask('/search "Nvidia"')
    assert "本周要闻" not in answer["text"]
    assert "也搜了" not in answer["text"]


@pytest.mark.usefixtures("nvidia_post")
@pytest.mark.parametrize("typed", ["輝達", "英偉達"])
async def test_tag_in_traditional_finds_the_topic(bot: Bot, typed: str) -> None:
    """/tag 輝達 (Taiwan's name) and /tag 英偉達 list the 英伟达 topic."""
    (answer,) = await bot.ask(f"/tag {typed}")
    assert answer["text"].startswith("🏷 英伟达：共 1 篇")


@pytest.mark.usefixtures("nvidia_post")
async def test_inline_mode_widens_too(bot: Bot) -> None:
    """@bot Nvidia in any chat offers the post that says 英伟达."""
    request = await bot.inline("Nvidia")
    titles = [result["title"] for result in request.params["results"]]
    assert any("本周要闻" in title for title in titles)
