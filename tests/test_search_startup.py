"""A first start on a big blog never keeps readers waiting: a real `ai-news-bot run` on 3,000 posts
and no search index yet answers /today and /search within a second at every moment after it
starts polling, while the index is built in the background, and the scan that answers until then
gives the same answer as the index after.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
from pathlib import Path

import pytest

from bot.testing.fakeapi import FakeTelegram
from tests.helpers.broadcasting import BotProcess
from tests.helpers.harness import daily_post, midday_config, midday_zone
from tests.helpers.processes import environment, start, until_polling

pytestmark = pytest.mark.slow

POSTS = 3000
WITHIN = 1.0  # seconds from a reader's message to the bot's answer
EVERY = 0.3  # seconds between two rounds of questions
BUILT = "search index: SyncStats(added=3000"
# Words of the generated posts (written for this test).
WORDS = (
    *("模型", "发布", "开源", "推理", "训练", "数据", "芯片", "算力", "智能体", "多模态", "评测", "融资"),
    *("产品", "平台", "用户", "开发者", "安全", "OpenAI", "Claude", "Gemini", "agent", "inference"),
)
# In every tenth post: 300 hits, fewer than the index counts exactly (index.MAX_TOTAL).
RARE = "稀有专题"
SEARCH = f"/search {RARE} 开源"
FIRST_USER = 700_000


def write_posts(folder: Path, today: dt.date) -> None:
    """`POSTS` daily posts, one a day up to today, about 6 KB of text each."""
    folder.mkdir()
    rng = random.Random(3000)
    for n in range(POSTS):
        day = today - dt.timedelta(days=n)
        body = "\n\n".join(
            f"## 第 {section} 节\n\n### [{rng.choice(WORDS)} 新闻 {n}](https://example.com/{n}/{section})\n\n"
            + "，".join(" ".join(rng.choices(WORDS, k=8)) for _ in range(12))
            + "。"
            for section in range(4)
        )
        body += f"\n\n{RARE}：第 {n} 期。" if n % 10 == 0 else ""
        (folder / f"{day}-daily.md").write_text(daily_post(day, f"日报 {n}", body=body), encoding="utf-8")


def answers(server: FakeTelegram, user: int) -> list[str]:
    """The texts the bot sent the reader."""
    return [m["text"] for m in server.messages(user) if m["from"]["is_bot"]]


async def ask(server: FakeTelegram, user: int, text: str) -> float:
    """Send `text` as a new reader; the seconds until the bot's first message to them."""
    asked = time.monotonic()
    server.user_message(text, user_id=user)
    while not answers(server, user):
        if time.monotonic() - asked > 10 * WITHIN:
            break
        await asyncio.sleep(0.01)
    return time.monotonic() - asked


async def test_answers_within_a_second_while_the_first_index_is_built(
    server: FakeTelegram, tmp_path: Path
) -> None:
    """From the first poll until after the index is built: every /today and /search answered within
    a second; /search answered during the build (by the scan) exactly as after it (by the index)."""
    zone = midday_zone(time.time())
    write_posts(tmp_path / "posts", dt.datetime.now(zone).date())
    (tmp_path / "config.toml").write_text(midday_config(zone), encoding="utf-8")
    bot = BotProcess(
        await start(
            "run", "--config", "config.toml", cwd=tmp_path, env=environment(server, token=server.token)
        )
    )
    bot._reader = asyncio.create_task(bot._collect())
    try:
        await until_polling(server, bot.process)
        user = FIRST_USER
        waits: list[tuple[str, float, bool]] = []  # question, seconds, asked before the index was built
        rounds_after = 0
        deadline = time.monotonic() + 180
        while rounds_after < 3 and time.monotonic() < deadline:
            building = not any(BUILT in line for line in bot.lines)
            rounds_after += not building
            for text in ("/today", SEARCH):
                waits.append((text, await ask(server, user, text), building))
                user += 1
            await asyncio.sleep(EVERY)
        slowest = max(seconds for _, seconds, building in waits if building)
        print(f"slowest answer during the build: {slowest:.3f} s")  # shown with pytest -s
        slow = [(text, round(seconds, 2)) for text, seconds, _ in waits if seconds > WITHIN]
        assert not slow, f"answered later than {WITHIN} s: {slow}\n{bot.log()}"
        during = [n for n, (text, _, building) in enumerate(waits) if text == SEARCH and building]
        after = [n for n, (text, _, building) in enumerate(waits) if text == SEARCH and not building]
        assert during, bot.log()  # the build took long enough to be asked during it
        assert after
        assert answers(server, FIRST_USER + during[0]) == answers(server, FIRST_USER + after[-1])
    finally:
        await bot.terminate()
