"""Pacing readers: the budgets themselves, then a /search flood in a live group.

docs/reliability.md, case 26.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot import texts
from bot.jobs import DAILY_JOB
from bot.limits import GROUP_ANSWERS, USER_BURST, ReaderLimits
from bot.store import Store
from tests.helpers.harness import ADMIN, CHANNEL, HELP, Bot, Clock, at

NOW = 1_800_000_000.0

GROUP = -100777


@pytest.fixture
def clock() -> Clock:
    """The budgets' time (the store's clock), which the tests move."""
    return Clock(NOW)


@pytest.fixture
async def stores(database: Path | str, clock: Clock) -> AsyncIterator[tuple[Store, Store]]:
    """Two instances' stores on one database (each engine)."""
    first = await Store.open(database, clock=clock)
    second = await Store.open(database, clock=clock)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def test_bucket_allows_a_burst_then_one_per_interval(stores: tuple[Store, Store], clock: Clock) -> None:
    """A bucket of 3 per 30 s: three at once, then the wait until the next token; keys are independent."""
    store, _ = stores
    assert [await store.take_token("k", capacity=3, per_seconds=30) for _ in range(3)] == [0, 0, 0]
    assert await store.take_token("k", capacity=3, per_seconds=30) == pytest.approx(10)
    clock.now += 5
    assert await store.take_token("k", capacity=3, per_seconds=30) == pytest.approx(5)
    clock.now += 5
    assert await store.take_token("k", capacity=3, per_seconds=30) == 0
    assert await store.take_token("other", capacity=3, per_seconds=30) == 0  # keys are independent


async def test_idle_buckets_are_pruned(stores: tuple[Store, Store], clock: Clock) -> None:
    """The table stays bounded: a bucket untouched for a day (full again by then) is deleted."""
    store, _ = stores
    for key in range(10):
        await store.take_token(f"user:{key}", capacity=1, per_seconds=1)
    clock.now += 86400 + 1
    await store.take_token("new", capacity=1, per_seconds=1)
    await store.prune()
    rows = await store.engine.read("SELECT key FROM bucket")
    assert [row["key"] for row in rows] == ["new"]


@pytest.mark.reliability(26)
async def test_reader_gets_one_note_then_silence(stores: tuple[Store, Store]) -> None:
    """Past the burst a reader gets one "slow down" note, then is ignored; other readers are not."""
    limits = ReaderLimits(stores[0])
    verdicts = [(await limits.check(GROUP, 1, group=True))[0] for _ in range(USER_BURST + 3)]
    assert verdicts == ["answer"] * USER_BURST + ["slow_down", "ignore", "ignore"]
    assert (await limits.check(GROUP, 2, group=True))[0] == "answer"  # others are not punished


async def test_group_budget_is_shared_by_its_readers_and_by_every_instance(
    stores: tuple[Store, Store],
) -> None:
    """40 readers in one group, answered by two instances in turn, share the group's one budget;
    another group has its own."""
    instances = [ReaderLimits(store) for store in stores]
    verdicts = [(await instances[user % 2].check(GROUP, user, group=True))[0] for user in range(40)]
    assert verdicts.count("answer") == GROUP_ANSWERS
    assert (await instances[0].check(-100888, 1, group=True))[0] == "answer"  # another group is not


async def test_a_database_that_cannot_answer_lets_readers_through(tmp_path: Path) -> None:
    """Pacing protects Telegram's limits; it must not silence the bot when the database is away."""
    store = await Store.open(tmp_path / "bot.db")
    await store.close()
    assert await ReaderLimits(store).check(GROUP, 1, group=True) == ("answer", 0.0)


@pytest.mark.reliability(26)
async def test_search_flood_in_a_group_leaves_room_for_the_daily_post(bot: Bot) -> None:
    """50 /search from 10 readers at once: the group gets at most 20 messages a minute (Telegram's
    limit), the flooders a note each at most, and the daily post still goes out at once."""
    first = len(bot.server.requests)
    for n in range(50):
        bot.server.user_message("/search 模型", user_id=1000 + n % 10, chat_id=GROUP, chat_type="supergroup")
    await bot.settled()  # every /search handled (and answered, if it was going to be)
    answers = bot.answered(GROUP, first)
    assert GROUP_ANSWERS <= len(answers) <= 20
    notes = [a for a in answers if str(a.get("text", "")).startswith("查询太频繁")]
    assert len(notes) <= 10
    bot.clock.now = at(8)
    await bot.job(DAILY_JOB)
    assert len(bot.channel()) == 1
    assert [r.status for r in bot.server.calls("sendMessage") if r.params["chat_id"] == CHANNEL] == [200]


async def test_reader_over_the_limit_is_told_once_and_can_ask_again_later(bot: Bot) -> None:
    """USER_BURST + 3 searches from one reader: USER_BURST answers and one note, nothing for the
    rest; a minute later the reader is answered again."""
    for _ in range(USER_BURST + 3):
        bot.server.user_message("/search 模型", user_id=5151, chat_id=GROUP, chat_type="supergroup")
    answers = [str(a["text"]) for a in await bot.answers(GROUP, count=USER_BURST + 1, exactly=True)]
    assert len(answers) == USER_BURST + 1
    assert answers[-1] == texts.SLOW_DOWN.format(seconds=8)
    bot.clock.now += 60
    (again,) = await bot.ask("/search 模型", user=5151, chat_id=GROUP, chat_type="supergroup")
    assert not str(again["text"]).startswith("查询太频繁")


async def test_admins_are_not_paced(bot: Bot) -> None:
    """An admin's searches past the readers' burst are all answered, none with the note."""
    for _ in range(USER_BURST + 2):
        (answer,) = await bot.ask("/search 模型", user=ADMIN, chat_id=GROUP, chat_type="supergroup")
        assert not str(answer["text"]).startswith("查询太频繁")


async def test_page_buttons_over_the_limit_get_a_note_not_an_edit(bot: Bot) -> None:
    """Page buttons count like messages: past the burst a press gets the note as its callback
    answer, and the list is not edited."""
    (listing,) = await bot.ask("/tag", user=4343, chat_id=GROUP, chat_type="supergroup")
    buttons = listing["reply_markup"]["inline_keyboard"]
    data = buttons[0][0]["callback_data"]
    for _ in range(USER_BURST + 1):
        bot.server.press_button(listing, data, user_id=4343)
    answers = await bot.server.wait_requests("answerCallbackQuery", USER_BURST + 1)
    await bot.settled()
    assert len(answers) == USER_BURST + 1
    assert answers[-1].params.get("text") == texts.SLOW_DOWN.format(seconds=8)
    assert len(bot.server.calls("editMessageText")) == USER_BURST - 1


@pytest.mark.reliability(26)
async def test_refusals_are_paced_like_answers(bot: Bot) -> None:
    """30 /status from one reader in a group: the usual burst of refusals and one note, not 30
    replies; another reader's /help is answered at once behind them."""
    for _ in range(30):
        bot.server.user_message("/status", user_id=6161, chat_id=GROUP, chat_type="supergroup")
    answers = [str(a["text"]) for a in await bot.answers(GROUP, count=USER_BURST + 1, exactly=True)]
    assert answers == [texts.NOT_ADMIN] * USER_BURST + [texts.SLOW_DOWN.format(seconds=8)]
    (help_answer,) = await bot.ask("/help", user=6262, chat_id=GROUP, chat_type="supergroup")
    assert help_answer["text"] == HELP
