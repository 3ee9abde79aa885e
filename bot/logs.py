"""Logging set-up: quiet HTTP loggers and a filter that keeps the bot token out of every line."""

from __future__ import annotations

import logging
import re
import warnings

# A bot token is `<bot id>:<35 characters>`; in URLs it follows `/bot`. Redact both shapes
# (docs/telegram.md, "Logging and the token"; docs/reliability.md, case 24).
_TOKEN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{30,}")
REDACTED = "<redacted-token>"
# PTB's warning for do_api_request on a method it has its own function for.
DO_API_REQUEST_WARNING = r"Please use 'Bot\.\w+' instead of 'Bot\.do_api_request"
RETRY_AFTER_WARNING = r".*attribute `retry_after` will be of type `datetime\.timedelta`"


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """`text` with every bot token, and each of `secrets`, replaced by a placeholder."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return _TOKEN.sub(REDACTED, text)


class RedactingFilter(logging.Filter):
    """Rewrites each record's final message so no token survives, whatever logged it."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message, self.secrets)
        if record.exc_info and record.exc_info[1] is not None:
            # Tracebacks are formatted later from exc_info; fold them in now, redacted.
            formatter = logging.Formatter()
            cleaned = redact(f"{cleaned}\n{formatter.formatException(record.exc_info)}", self.secrets)
            record.exc_info = None
            record.exc_text = None
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


def add_secrets(*secrets: str | None) -> None:
    """Redact these too from every line from now on (a database password learnt from the config
    or the command line after logging was set up)."""
    extra = tuple(secret for secret in secrets if secret)
    for handler in logging.getLogger().handlers:
        for found in handler.filters:
            if isinstance(found, RedactingFilter):
                found.secrets = (*found.secrets, *extra)


def setup_logging(verbosity: int, secrets: tuple[str, ...] = ()) -> None:
    """Root logging for the CLI: WARNING, INFO with -v, DEBUG with -vv; tokens always redacted."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    # On the handler, not a logger: a handler filter sees records from every logger, PTB's and
    # httpx's included.
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL, token included, at INFO.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    # Every Bot API call is sent as data through `Bot.do_api_request` (bot/calls.py explains why);
    # PTB warns on each one whose method it also has. Known and intended: not for the log.
    # PTB 22.2+ says on every 429 that `retry_after` will become a timedelta; the sender reads it
    # either way (publish.retry_after_seconds). Both are matched by their text, which only PTB
    # writes, and not by PTB's warning classes: a command that never talks to Telegram (`check`,
    # `search`, `preview`) must not import python-telegram-bot to set up its log.
    warnings.filterwarnings("ignore", message=DO_API_REQUEST_WARNING)
    warnings.filterwarnings("ignore", message=RETRY_AFTER_WARNING)
    # The job scheduler says "Running job" at INFO every minute: only at -vv.
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if level <= logging.DEBUG else logging.WARNING)
