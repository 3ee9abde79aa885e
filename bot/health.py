"""Health and metrics for operators: GET /healthz and GET /metrics, and a heartbeat after each day.

`[health] listen`/`port` turn on a small HTTP server beside the bot (off by default):

- `/healthz` answers 200 with a small JSON document (receiving updates, database writable,
  today's state, the last publication), or 503 with the reasons when the Bot API has been
  unreachable for over a minute, the database cannot be written, or today's post ended
  `failed` or `unknown`. Docker's HEALTHCHECK and load balancers read the status code.
- `/metrics` is the Prometheus text format from prometheus-client, on a registry of the bot's
  own: updates by kind, answers by command, publish outcomes, Bot API request time, flood waits,
  posts loaded and broken.

`[health] heartbeat_url` is pinged once the day's post is settled (healthchecks.io, Uptime Kuma
push monitors): the URL itself when it was sent, with `/fail` appended when it failed, ended
unknown, or the day closed without it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import tornado.httpserver
import tornado.netutil
import tornado.web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from telegram.request import HTTPXRequest, RequestData

logger = logging.getLogger(__name__)

# The Bot API counts as down once no request has got an answer for this long.
API_DOWN_AFTER = 60.0
# Polling holds a getUpdates open for app.POLL_TIMEOUT seconds; without a successful one for this
# long, updates are not being received.
UPDATES_STALE_AFTER = 120.0


class Metrics:
    """The bot's Prometheus metrics, on a registry of its own (nothing process-wide)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.updates = Counter("ai_news_bot_updates", "Updates received, by kind", ["kind"], registry=r)
        self.answers = Counter(
            "ai_news_bot_answers", "Commands and buttons handled, by command", ["command"], registry=r
        )
        self.publications = Counter(
            "ai_news_bot_publications", "Publish attempts, by outcome", ["outcome"], registry=r
        )
        self.requests = Histogram(
            "ai_news_bot_bot_api_request_seconds",
            "Bot API request time, by method",
            ["method"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.request_errors = Counter(
            "ai_news_bot_bot_api_request_errors",
            "Bot API requests that got no answer (network) or a 5xx, by method",
            ["method"],
            registry=r,
        )
        self.flood_waits = Counter(
            "ai_news_bot_flood_waits", "429 Too Many Requests answers from the Bot API", registry=r
        )
        self.posts = Gauge(
            "ai_news_bot_posts", "Post files in the posts folder, by state", ["state"], registry=r
        )
        self.api_up = Gauge("ai_news_bot_bot_api_up", "1 while the Bot API answers requests", registry=r)

    def text(self) -> bytes:
        return generate_latest(self.registry)


@dataclass
class ApiHealth:
    """Whether the Bot API answers, from every request the bot makes (polling included)."""

    clock: Callable[[], float] = time.time
    last_answer: float | None = None
    failing_since: float | None = None
    last_updates: float | None = None  # the last getUpdates that answered

    def answered(self, method: str) -> None:
        self.last_answer = self.clock()
        self.failing_since = None
        if method == "getUpdates":
            self.last_updates = self.last_answer

    def failed(self) -> None:
        if self.failing_since is None:
            self.failing_since = self.clock()

    def down_for(self) -> float:
        """Seconds the Bot API has not answered; 0 while it does."""
        return 0.0 if self.failing_since is None else self.clock() - self.failing_since


class TrackedRequest(HTTPXRequest):
    """PTB's own HTTP request class, timing every Bot API call and noting whether it got an answer."""

    def __init__(self, metrics: Metrics, health: ApiHealth, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._metrics = metrics
        self._health = health

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> tuple[int, bytes]:
        api_method = url.rsplit("/", 1)[-1]
        started = time.perf_counter()
        try:
            code, payload = await super().do_request(url, method, request_data, *args, **kwargs)
        except Exception:
            self._metrics.request_errors.labels(api_method).inc()
            self._health.failed()
            self._metrics.api_up.set(0)
            raise
        self._metrics.requests.labels(api_method).observe(time.perf_counter() - started)
        if code >= 500:
            self._metrics.request_errors.labels(api_method).inc()
            self._health.failed()
            self._metrics.api_up.set(0)
        else:
            self._health.answered(api_method)
            self._metrics.api_up.set(1)
        if code == 429:
            self._metrics.flood_waits.inc()
        return code, payload


@dataclass
class Telemetry:
    """What the bot measures about itself: the metrics and whether the Bot API answers. Made by
    the caller and handed to `app.build_application` (its requests feed both) and to the services."""

    metrics: Metrics = field(default_factory=Metrics)
    api: ApiHealth = field(default_factory=ApiHealth)

    def request(self, **kwargs: Any) -> TrackedRequest:
        return TrackedRequest(self.metrics, self.api, **kwargs)


@dataclass(frozen=True, slots=True)
class Report:
    """What /healthz says: healthy or not, why not, and the facts behind it."""

    healthy: bool
    problems: tuple[str, ...]
    facts: dict[str, Any] = field(hash=False)

    def json(self) -> str:
        return json.dumps(
            {"healthy": self.healthy, "problems": list(self.problems), **self.facts}, ensure_ascii=False
        )


def judge(
    *,
    api_down_for: float,
    database_writable: bool,
    today_state: str | None,
    facts: dict[str, Any],
) -> Report:
    """The health rules, pure: unhealthy when the Bot API has been unreachable for over a minute,
    the database cannot be written, or today's post ended failed or unknown."""
    problems: list[str] = []
    if api_down_for > API_DOWN_AFTER:
        problems.append(f"the Bot API has not answered for {api_down_for:.0f} s")
    if not database_writable:
        problems.append("the database cannot be written")
    if today_state in ("failed", "unknown"):
        problems.append(f"today's post ended {today_state}")
    return Report(not problems, tuple(problems), facts)


class _Healthz(tornado.web.RequestHandler):
    def initialize(self, report: Callable[[], Awaitable[Report]]) -> None:
        self.report = report

    async def get(self) -> None:
        report = await self.report()
        self.set_status(200 if report.healthy else 503)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(report.json())


class _Metrics(tornado.web.RequestHandler):
    def initialize(self, metrics: Metrics, refresh: Callable[[], None]) -> None:
        self.metrics = metrics
        self.refresh = refresh

    def get(self) -> None:
        self.refresh()
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(self.metrics.text())


class HealthServer:
    """The /healthz and /metrics HTTP server on one address (a small tornado app in the bot's loop)."""

    def __init__(
        self, report: Callable[[], Awaitable[Report]], metrics: Metrics, refresh: Callable[[], None]
    ) -> None:
        app = tornado.web.Application(
            [
                (r"/healthz", _Healthz, {"report": report}),
                (r"/metrics", _Metrics, {"metrics": metrics, "refresh": refresh}),
            ],
            log_function=lambda handler: None,  # probes every few seconds must not fill the log
        )
        self._server = tornado.httpserver.HTTPServer(app)
        self.port = 0

    def start(self, listen: str, port: int) -> None:
        sockets = tornado.netutil.bind_sockets(port, listen)
        self._server.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]
        logger.info("health and metrics on http://%s:%d/healthz and /metrics", listen, self.port)

    async def stop(self) -> None:
        self._server.stop()
        await self._server.close_all_connections()


async def ping(url: str, *, ok: bool, client: httpx.AsyncClient | None = None) -> bool:
    """One heartbeat: GET `url` (success) or `url/fail`; True when it was answered 2xx."""
    target = url.rstrip("/") + ("" if ok else "/fail")
    try:
        if client is None:
            async with httpx.AsyncClient(timeout=10.0) as own:
                response = await own.get(target)
        else:
            response = await client.get(target)
    except httpx.HTTPError as exc:
        logger.warning("heartbeat %s not delivered: %s", target, exc)
        return False
    if not response.is_success:
        logger.warning("heartbeat %s answered %d", target, response.status_code)
    return response.is_success


def iso(timestamp: float | None, zone: dt.tzinfo) -> str | None:
    return (
        None
        if timestamp is None
        else dt.datetime.fromtimestamp(timestamp, zone).isoformat(timespec="seconds")
    )
