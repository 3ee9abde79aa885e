"""Webhook mode (docs/reliability.md, case 25): only requests carrying the secret are processed."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from bot.app import build_bot, run_bot
from bot.config import WEBHOOK_SECRET_ENV, ConfigError, WebhookConfig, load_config
from bot.store import Store
from bot.testing.fakeapi import FakeTelegram
from tests.harness import READER, Clock, at, copy_example_posts, make_config

SECRET = "s3cret_webhook-Token"
PATH = "/telegram/updates"
HEADER = "X-Telegram-Bot-Api-Secret-Token"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
async def webhook(server: FakeTelegram, tmp_path: Path) -> AsyncIterator[str]:
    """A bot receiving updates by webhook on 127.0.0.1; yields the local URL Telegram would post to."""
    copy_example_posts(tmp_path / "posts")
    port = _free_port()
    config = make_config(tmp_path, server)
    hook = WebhookConfig(url=f"https://bot.example.org{PATH}", listen="127.0.0.1", port=port, secret=SECRET)
    config = replace(config, webhook=hook)
    store = Store.open(config.storage.database)
    application, services = build_bot(
        config, store, token=config.telegram.token or "", http=None, clock=Clock(at(9))
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
        store.close()


def _today(server: FakeTelegram) -> dict[str, object]:
    """An update as Telegram would post it: a reader's /today."""
    update = server.user_message("/today", user_id=READER)
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
    update = _today(server)
    async with httpx.AsyncClient() as client:
        if headers.get("Content-Type") == "text/plain":
            response = await client.post(webhook, content=str(update), headers=headers)
        else:
            response = await client.post(webhook, json=update, headers=headers)
    assert response.status_code == 403
    await asyncio.sleep(0.3)
    assert server.sent(READER) == []  # nothing was processed


@pytest.mark.reliability(25)
async def test_update_with_the_secret_is_answered(server: FakeTelegram, webhook: str) -> None:
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
    path = tmp_path / "config.toml"
    path.write_text('[webhook]\nurl = "https://bot.example.org/tg"\nlisten = "0.0.0.0"\nport = 8443\n')
    config = load_config(path, {WEBHOOK_SECRET_ENV: SECRET})
    assert config.webhook == WebhookConfig("https://bot.example.org/tg", "0.0.0.0", 8443, SECRET)
    assert config.webhook.path == "/tg"
    assert SECRET not in repr(config)


@pytest.mark.parametrize("secret", ["has space", "x" * 257, "ünicode", "7000000001:AAH-token"])
def test_unusable_secret_is_a_config_error_that_does_not_echo_it(secret: str) -> None:
    environ = {WEBHOOK_SECRET_ENV: secret, "TELEGRAM_BOT_TOKEN": "7000000001:AAH-token"}
    with pytest.raises(ConfigError, match=WEBHOOK_SECRET_ENV) as raised:
        load_config(None, environ)
    assert secret not in str(raised.value)


@pytest.mark.parametrize("port", [0, 70000, "8080", True])
def test_bad_port_is_a_config_error(tmp_path: Path, port: object) -> None:
    path = tmp_path / "config.toml"
    value = f'"{port}"' if isinstance(port, str) else str(port).lower()
    path.write_text(f"[webhook]\nport = {value}\n")
    with pytest.raises(ConfigError, match=r"\[webhook\] port: expected a TCP port"):
        load_config(path, {})
