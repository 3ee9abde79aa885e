"""`ai-news-bot demo`: the real bot against the fake Bot API on 127.0.0.1, printed as a conversation."""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from bot import texts
from bot.app import build_bot, demo_config, run_bot
from bot.config import Config
from bot.posts import latest_post, load_posts
from bot.store import Store
from bot.testing.fakeapi import FakeTelegram

READER_ID = 10001
ADMIN_ID = 10002
STEP_TIMEOUT = 10.0  # seconds; the whole demo normally takes about one


def _buttons(message: dict[str, Any]) -> list[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    lines = []
    for row in rows:
        cells = []
        for button in row:
            target = f" → {button['url']}" if "url" in button else ""
            cells.append(f"[{button['text']}{target}]")
        lines.append(" ".join(cells))
    return lines


def format_message(message: dict[str, Any], width: int = 100) -> str:
    """A message as a reader sees it: cover note, visible text, buttons; indented for the transcript."""
    lines = []
    preview = message.get("link_preview_options") or {}
    if preview.get("url") and not preview.get("is_disabled"):
        lines.append(f"🖼  cover (link preview): {preview['url']}")
    if message.get("photo"):
        lines.append("🖼  cover (photo)")
    for paragraph in str(message.get("text") or message.get("caption") or "").split("\n"):
        lines.extend(textwrap.wrap(paragraph, width) or [""])
    lines.extend(_buttons(message))
    return textwrap.indent("\n".join(lines), "    │ ")


class _Transcript:
    def __init__(self, server: FakeTelegram, out: TextIO) -> None:
        self.server = server
        self.out = out

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    async def step(self, title: str, act: Callable[[], object], chat: int | str) -> None:
        """Do `act`, wait for the bot's answer in `chat` (a new or edited message), print it."""
        chat_id = self.server.chat(chat).id if not isinstance(chat, int) else chat
        first = len(self.server.requests)
        self.say(f"\n━━ {title}")
        act()

        def answers() -> list[dict[str, Any]]:
            found = []
            for request in self.server.requests[first:]:
                message = request.response.get("result")
                if (
                    request.method in _SHOWN
                    and isinstance(message, dict)
                    and message["chat"]["id"] == chat_id
                ):
                    found.append(message)
            return found

        await self.server.wait_for(lambda: bool(answers()), STEP_TIMEOUT)
        await asyncio.sleep(0.2)  # a post may be two messages (photo and its continuation)
        for message in answers():
            self.say(format_message(message))


_SHOWN = ("sendMessage", "sendPhoto", "editMessageText")


async def run_demo(config: Config, out: TextIO) -> int:
    """Run the scenario; 0 when every step got its answer, 1 otherwise."""
    library = load_posts(config.posts.dir, site_url=config.posts.site_url)
    post = latest_post(library.posts, config.posts.category)
    assert post is not None, "the CLI checks there is a post first"
    zone = config.schedule.timezone
    # The demo's clock: one minute past the publish time on the newest post's day, so the
    # daily publish happens whatever today's date is.
    start = dt.datetime.combine(post.date, config.schedule.time, tzinfo=zone) + dt.timedelta(minutes=1)
    started = asyncio.get_running_loop().time()

    def clock() -> float:
        return start.timestamp() + (asyncio.get_running_loop().time() - started)

    async with FakeTelegram(clock=clock) as server:
        with tempfile.TemporaryDirectory(prefix="ai-news-bot-demo-") as scratch:
            demo = demo_config(
                config, api_url=server.api_url, admins=(ADMIN_ID,), database=Path(scratch) / "demo.db"
            )
            store = await Store.open(demo.storage.database, clock=clock)
            transcript = _Transcript(server, out)
            transcript.say(
                f"ai-news-bot demo: the real bot, over HTTP, against a fake Telegram at {server.api_url}\n"
                f"(no token, no network). Posts: {config.posts.dir} ({len(library.posts)} loaded). "
                f"Clock: {start:%Y-%m-%d %H:%M} {zone.key}."
            )
            application, services = build_bot(demo, store, token=server.token, http=None, clock=clock)
            stop = asyncio.Event()
            bot = asyncio.create_task(run_bot(application, services, stop))
            try:
                return await _scenario(server, transcript, demo, bot)
            except TimeoutError as exc:
                transcript.say(f"\ndemo failed: the bot did not answer in time ({exc})")
                return 1
            finally:
                stop.set()
                await bot
                services.search.close()
                await store.close()


async def _scenario(
    server: FakeTelegram, transcript: _Transcript, config: Config, bot: asyncio.Task[None]
) -> int:
    channel = config.channel.chat
    transcript.say(
        f"\n━━ {config.schedule.time:%H:%M} daily publish → {channel} (the bot started late: catch-up)"
    )
    await server.wait_for(lambda: bool(server.sent(channel)) or bot.done(), STEP_TIMEOUT)
    if bot.done():
        bot.result()  # raises what stopped the bot
    await asyncio.sleep(0.2)
    for message in server.sent(channel):
        transcript.say(format_message(message))

    def reader(text: str) -> Callable[[], object]:
        return lambda: server.user_message(text, user_id=READER_ID, first_name="读者")

    await transcript.step("读者 (private chat) › /today", reader("/today"), READER_ID)
    await transcript.step("读者 › /tag", reader("/tag"), READER_ID)
    tag_list = server.sent(READER_ID)[-1]
    first_tag = tag_list["reply_markup"]["inline_keyboard"][0][0]
    await transcript.step(
        f"读者 presses [{first_tag['text']}] (the same message is edited)",
        lambda: server.press_button(tag_list, first_tag["callback_data"], user_id=READER_ID),
        READER_ID,
    )
    await transcript.step("读者 › /search 模型", reader("/search 模型"), READER_ID)
    results = server.sent(READER_ID)[-1]
    buttons = [b for row in (results.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]
    forward = next((b for b in buttons if b["text"] == texts.NEXT_PAGE), None)
    if forward is not None:
        await transcript.step(
            f"读者 presses [{forward['text']}] (the same message is edited)",
            lambda: server.press_button(results, forward["callback_data"], user_id=READER_ID),
            READER_ID,
        )
    await transcript.step("读者 › /publish (not an admin)", reader("/publish"), READER_ID)
    await transcript.step(
        "admin › /publish (already sent today: a link, nothing new in the channel)",
        lambda: server.user_message("/publish", user_id=ADMIN_ID, first_name="Admin"),
        ADMIN_ID,
    )
    channel_messages = len(server.sent(channel))
    transcript.say(f"\nChannel {channel} holds {channel_messages} message(s) from the bot. Demo finished.")
    return 0 if channel_messages >= 1 else 1
