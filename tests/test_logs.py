"""Logging: the bot token never reaches a log line, whatever logger or level wrote it."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot.logs import REDACTED, RedactingFilter, redact, setup_logging

TOKEN = "123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The root handler set up by `setup_logging -vv`, writing to a buffer."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    setup_logging(2, secrets=("s3cret-webhook",))
    buffer = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    yield buffer
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.NOTSET)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f"POST https://api.telegram.org/bot{TOKEN}/sendMessage",
            f"POST https://api.telegram.org/bot{REDACTED}/sendMessage",
        ),
        (f"token={TOKEN} again {TOKEN}", f"token={REDACTED} again {REDACTED}"),
        ("message 12:30 at 2026-03-01", "message 12:30 at 2026-03-01"),
        ("secret s3cret-webhook here", f"secret {REDACTED} here"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    """Token-shaped strings and the configured secrets are replaced; ordinary text is not."""
    assert redact(text, ("s3cret-webhook",)) == expected


@pytest.mark.reliability(24)
def test_token_in_arguments_redacted_at_debug(captured: io.StringIO) -> None:
    """A token passed as a %-argument at DEBUG (as PTB logs its base URL) is redacted."""
    logging.getLogger("telegram.ext").debug("Set Bot API URL: %s", f"https://api.telegram.org/bot{TOKEN}")
    assert TOKEN not in captured.getvalue()
    assert f"/bot{REDACTED}" in captured.getvalue()


def test_token_in_traceback_redacted(captured: io.StringIO) -> None:
    """A token inside an exception's traceback text is redacted too."""
    try:
        raise RuntimeError(f"cannot reach /bot{TOKEN}/getMe")
    except RuntimeError:
        logging.getLogger("bot").exception("request failed")
    assert TOKEN not in captured.getvalue()
    assert "RuntimeError: cannot reach /bot<redacted-token>/getMe" in captured.getvalue()


@pytest.mark.reliability(24)
def test_httpx_request_lines_hidden(captured: io.StringIO) -> None:
    """httpx's INFO request lines (full URL with token) are not even emitted."""
    logging.getLogger("httpx").info("HTTP Request: POST https://api.telegram.org/bot%s/getMe", TOKEN)
    assert captured.getvalue() == ""


def test_filter_keeps_records() -> None:
    """The filter rewrites messages, it never drops a record."""
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "hello world"
