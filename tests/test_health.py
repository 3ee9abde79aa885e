"""Health and metrics: GET /healthz and /metrics beside the running bot, and the daily heartbeat."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import tornado.httpserver
import tornado.netutil
import tornado.web

from bot.config import Config, HealthConfig
from bot.health import judge
from bot.jobs import DAILY_JOB, RECONCILE_JOB
from bot.testing.fakeapi import FakeTelegram
from tests.helpers.harness import (
    TODAY,
    Bot,
    Clock,
    at,
    copy_example_posts,
    free_port,
    make_config,
    running_bot,
    until,
)
from tests.helpers.publishing import hold_database


@pytest.fixture
def config(server: FakeTelegram, tmp_path: Path) -> Config:
    """make_config's layout with /healthz and /metrics on a free port of 127.0.0.1."""
    return replace(make_config(tmp_path, server), health=HealthConfig(port=free_port()))


async def get(bot: Bot, path: str) -> httpx.Response:
    port = bot.config.health.port
    async with httpx.AsyncClient() as client:
        return await client.get(f"http://127.0.0.1:{port}{path}")


@pytest.mark.usefixtures("admin_has_written")
async def test_healthy_bot(bot: Bot) -> None:
    """/healthz: 200 and the facts: receiving updates, the database writable, today's state, the
    last publication (after one)."""
    bot.clock.now = at(8)
    await bot.job(DAILY_JOB)
    await bot.ask("/help")  # a getUpdates answered at the new time
    response = await get(bot, "/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["healthy"] is True
    assert body["problems"] == []
    assert body["receiving_updates"] is True
    assert body["database_writable"] is True
    assert body["today"] == {"day": TODAY.isoformat(), "state": "sent"}
    assert body["last_publication"]["day"] == TODAY.isoformat()
    assert body["last_publication"]["link"].startswith("https://t.me/ai_news_plus/")


@pytest.mark.usefixtures("admin_has_written")
async def test_failed_day_is_unhealthy(bot: Bot) -> None:
    """Today's post refused for good (403): 503, and why."""
    bot.server.fail_next(
        "sendMessage", status=403, description="Forbidden: bot was kicked from the channel chat"
    )
    bot.clock.now = at(8)
    await bot.job(DAILY_JOB)
    response = await get(bot, "/healthz")
    assert response.status_code == 503
    assert response.json()["problems"] == ["today's post ended failed"]


@pytest.mark.slow
@pytest.mark.usefixtures("admin_has_written")
async def test_database_that_cannot_be_written_is_unhealthy(bot: Bot) -> None:
    """Another process holds the database's write lock past the busy timeout: 503."""
    with hold_database(bot.config.storage.database):
        response = await get(bot, "/healthz")
    assert response.status_code == 503
    assert response.json()["problems"] == ["the database cannot be written"]
    assert (await get(bot, "/healthz")).status_code == 200


@pytest.mark.slow
@pytest.mark.usefixtures("admin_has_written")
async def test_unreachable_bot_api_for_over_a_minute_is_unhealthy(bot: Bot) -> None:
    """The Bot API stops answering: healthy for the first minute, then 503 until it answers again."""
    await bot.server.stop()
    await until(lambda: bot.services.telemetry.api.failing_since is not None, timeout=10)
    assert (await get(bot, "/healthz")).status_code == 200
    bot.clock.now += 61
    response = await get(bot, "/healthz")
    assert response.status_code == 503
    assert response.json()["problems"][0].startswith("the Bot API has not answered for")


@pytest.mark.usefixtures("admin_has_written")
async def test_metrics_in_the_prometheus_format(bot: Bot) -> None:
    """/metrics: updates by kind, answers by command, publish outcomes, request time, posts."""
    await bot.ask("/today", count=2)  # before 08:00: a note, then yesterday's post
    await bot.ask("/search 芯片")
    bot.clock.now = at(8)
    await bot.job(DAILY_JOB)
    response = await get(bot, "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'ai_news_bot_updates_total{kind="message"}' in text
    assert 'ai_news_bot_answers_total{command="today"} 1.0' in text
    assert 'ai_news_bot_answers_total{command="search"} 1.0' in text
    assert 'ai_news_bot_publications_total{outcome="sent"} 1.0' in text
    assert 'ai_news_bot_bot_api_request_seconds_count{method="sendMessage"}' in text
    assert 'ai_news_bot_posts{state="loaded"} 7.0' in text
    assert 'ai_news_bot_posts{state="broken"} 0.0' in text
    assert "ai_news_bot_bot_api_up 1.0" in text


def test_health_rules() -> None:
    """The rules alone: each problem named, none when all is well."""
    assert judge(api_down_for=0, database_writable=True, today_state="sent", facts={}).healthy
    report = judge(api_down_for=61, database_writable=False, today_state="unknown", facts={})
    assert report.problems == (
        "the Bot API has not answered for 61 s",
        "the database cannot be written",
        "today's post ended unknown",
    )


@pytest.fixture
async def pings() -> AsyncIterator[tuple[str, list[str]]]:
    """A heartbeat receiver (healthchecks.io style) on 127.0.0.1: the paths it was pinged at."""
    seen: list[str] = []

    class Ping(tornado.web.RequestHandler):
        def get(self, path: str) -> None:
            seen.append(self.request.path)
            self.write("OK")

    http = tornado.httpserver.HTTPServer(tornado.web.Application([(r"/(.*)", Ping)]))
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    http.add_sockets(sockets)
    yield f"http://127.0.0.1:{sockets[0].getsockname()[1]}/ping/abc", seen
    http.stop()
    await http.close_all_connections()


async def test_heartbeat_once_the_day_is_sent(
    server: FakeTelegram, tmp_path: Path, pings: tuple[str, list[str]]
) -> None:
    """heartbeat_url is pinged once after the day's post went out, however often the jobs run."""
    url, seen = pings
    copy_example_posts(tmp_path / "posts")
    config = replace(make_config(tmp_path, server), health=HealthConfig(heartbeat_url=url))
    async with running_bot(server, config, Clock(at(7))) as bot:
        await bot.job(RECONCILE_JOB)
        assert seen == []  # nothing settled before the publish time
        bot.clock.now = at(8)
        await bot.job(DAILY_JOB)
        await bot.job(RECONCILE_JOB)
        assert seen == ["/ping/abc"]


async def test_heartbeat_fail_when_the_window_closes_unsent(
    server: FakeTelegram, tmp_path: Path, pings: tuple[str, list[str]]
) -> None:
    """No post by the end of the window: `/fail` is pinged, once."""
    url, seen = pings
    (tmp_path / "posts").mkdir()
    config = replace(make_config(tmp_path, server), health=HealthConfig(heartbeat_url=url))
    async with running_bot(server, config, Clock(at(7))) as bot:
        bot.clock.now = at(14, 1)
        await bot.job(RECONCILE_JOB)
        await bot.job(RECONCILE_JOB)
        assert seen == ["/ping/abc/fail"]
