"""Webhook mode (docs/reliability.md, case 25): only requests carrying the secret are processed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from bot.app import build_bot, run_bot
from bot.config import WEBHOOK_SECRET_ENV, ConfigError, WebhookConfig, load_config
from bot.store import Store
from bot.testing.fakeapi import FakeTelegram
from tests.helpers.harness import READER, Clock, at, copy_example_posts, free_port, make_config

SECRET = "s3cret_webhook-Token"
PATH = "/telegram/updates"
HEADER = "X-Telegram-Bot-Api-Secret-Token"


@pytest.fixture
async def webhook(server: FakeTelegram, tmp_path: Path) -> AsyncIterator[str]:
    """A bot receiving updates by webhook on 127.0.0.1; yields the local URL Telegram would post to."""
    copy_example_posts(tmp_path / "posts")
    port = free_port()
    config = make_config(tmp_path, server)
    hook = WebhookConfig(url=f"https://bot.example.org{PATH}", listen="127.0.0.1", port=port, secret=SECRET)
    config = replace(config, webhook=hook)
    clock = Clock(at(9))
    store = await Store.open(config.storage.database, clock=clock)
    application, services = build_bot(
        config, store, token=config.telegram.token or "", http=None, clock=clock
    )
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_bot(application, services, stop, ready=ready.set))
    try:
        await asyncio.wait_for(asyncio.shield(ready.wait()), timeout=10)
        yield f"http://127.0.0.1:{port}{PATH}"
    finally:
        stop.set()
        await task
        services.search.close()
        await store.close()


def _today(server: FakeTelegram, user: int = READER) -> dict[str, object]:
    """An update as Telegram would post it: a reader's /today."""
    update = server.user_message("/today", user_id=user)
    server.pending_updates.clear()  # nobody polls in webhook mode; the test posts it itself
    return update


@pytest.mark.reliability(25)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {HEADER: "wrong"},
        {HEADER: SECRET[:-1]},
        {HEADER: SECRET, "Content-Type": "text/plain"},
    ],
    ids=["no-secret", "wrong-secret", "prefix-of-secret", "not-json"],
)
async def test_update_without_the_secret_is_refused(
    server: FakeTelegram, webhook: str, headers: dict[str, str]
) -> None:
    """A post without the secret header, with a wrong or partial one, or not JSON: 403, and the
    update is never processed (a later update that carries the secret is answered first)."""
    update = _today(server)
    marker = _today(server, user=READER + 1)
    async with httpx.AsyncClient() as client:
        if headers.get("Content-Type") == "text/plain":
            response = await client.post(webhook, content=str(update), headers=headers)
        else:
            response = await client.post(webhook, json=update, headers=headers)
        assert response.status_code == 403
        # Updates are handled one at a time, in order: once the marker is answered, the refused
        # update would have been too, had it been let in.
        accepted = await client.post(webhook, json=marker, headers={HEADER: SECRET})
    assert accepted.status_code == 200
    await server.wait_for(lambda: bool(server.sent(READER + 1)))
    assert server.sent(READER) == []  # nothing was processed


@pytest.mark.reliability(25)
async def test_update_with_the_secret_is_answered(server: FakeTelegram, webhook: str) -> None:
    """A post with the right secret is processed: the reader gets today's post."""
    async with httpx.AsyncClient() as client:
        response = await client.post(webhook, json=_today(server), headers={HEADER: SECRET})
    assert response.status_code == 200
    await server.wait_for(lambda: bool(server.sent(READER)))
    assert str(server.sent(READER)[0]["text"]).startswith("示例日报")


@pytest.mark.reliability(25)
async def test_webhook_is_set_with_the_secret_outside_the_url(server: FakeTelegram, webhook: str) -> None:
    """setWebhook gets the public URL and the secret as secret_token; pending updates are kept;
    the bot never polls."""
    (call,) = server.calls("setWebhook")
    assert call.params["url"] == f"https://bot.example.org{PATH}"
    assert call.params["secret_token"] == SECRET
    assert SECRET not in call.params["url"]
    assert not call.params.get("drop_pending_updates")
    assert server.calls("getUpdates") == []
    assert server.calls("deleteWebhook") == []


def test_webhook_section_is_read(tmp_path: Path) -> None:
    """[webhook] url, listen and port are read; the secret comes from the environment and is not
    in the config's repr; the path is the URL's."""
    path = tmp_path / "config.toml"
    path.write_text('[webhook]\nurl = "https://bot.example.org/tg"\nlisten = "0.0.0.0"\nport = 8443\n')
    config = load_config(path, {WEBHOOK_SECRET_ENV: SECRET})
    assert config.webhook == WebhookConfig("https://bot.example.org/tg", "0.0.0.0", 8443, SECRET)
    assert config.webhook.path == "/tg"
    assert SECRET not in repr(config)


@pytest.mark.parametrize("secret", ["has space", "x" * 257, "ünicode", "7000000001:AAH-token"])
def test_unusable_secret_is_a_config_error_that_does_not_echo_it(secret: str) -> None:
    """A secret Telegram would refuse (spaces, over 256 characters, non-ASCII, the bot token) is a
    config error naming the variable, never the secret."""
    environ = {WEBHOOK_SECRET_ENV: secret, "TELEGRAM_BOT_TOKEN": "7000000001:AAH-token"}
    with pytest.raises(ConfigError, match=WEBHOOK_SECRET_ENV) as raised:
        load_config(None, environ)
    assert secret not in str(raised.value)


@pytest.mark.parametrize("port", [0, 70000, "8080", True])
def test_bad_port_is_a_config_error(tmp_path: Path, port: object) -> None:
    """[webhook] port 0, over 65535, a string or a boolean is a config error."""
    path = tmp_path / "config.toml"
    value = f'"{port}"' if isinstance(port, str) else str(port).lower()
    path.write_text(f"[webhook]\nport = {value}\n")
    with pytest.raises(ConfigError, match=r"\[webhook\] port: expected a TCP port"):
        load_config(path, {})
