"""Read the TOML configuration and the environment into one frozen, validated `Config`."""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.synonyms import DEFAULT_SYNONYMS, Entity
from bot.text import fold, label_key
from bot.topics import DEFAULT_TOPICS, Topic

CONFIG_ENV = "AI_NEWS_BOT_CONFIG"
TOKEN_ENV = "TELEGRAM_BOT_TOKEN"  # noqa: S105 - the variable's name, not a secret
API_URL_ENV = "TELEGRAM_API_URL"
WEBHOOK_SECRET_ENV = "TELEGRAM_WEBHOOK_SECRET"  # noqa: S105 - the variable's name, not a secret
# A database URL with its password stays out of the config file: this overrides [storage] database.
DATABASE_ENV = "AI_NEWS_BOT_DATABASE"
# What Telegram accepts as a webhook's secret_token (Bot API setWebhook).
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")

# [topics] stays a short list a reader can page through in /tag; 20 names cover any company.
MAX_TOPICS = 50
MAX_ALIASES = 20
# [search] synonyms: every query term is looked up in it, and a name widens a search to all of
# its entity's names; bounded so one query stays bounded work (the default has 61 entities).
MAX_SYNONYMS = 200
MAX_SYNONYM_NAMES = 20
MAX_NAME_LENGTH = 64

CoverMode = Literal["preview", "photo", "none"]
COVER_MODES: tuple[CoverMode, ...] = ("preview", "photo", "none")
# What a send with an unknown outcome (timeout, 5xx, a crash mid-send) leads to: an admin alert
# and nothing more (at most once, the default), or a resend after the usual wait (at least once).
Ambiguous = Literal["alert", "resend"]
AMBIGUOUS_MODES: tuple[Ambiguous, ...] = ("alert", "resend")


class ConfigError(Exception):
    """The configuration cannot be used; the message is one line naming the key and the fix."""


@dataclass(frozen=True, slots=True)
class TelegramConfig:
    """[telegram]: the Bot API server, the admins' user ids, and the token (from the environment)."""

    api_url: str = "https://api.telegram.org"
    admins: tuple[int, ...] = ()
    # Only from the environment, never from the file; kept out of repr() so it never lands in a log.
    token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    """[channel]: where the day's post goes and how it is sent."""

    chat: str | int = "@ai_news_plus"
    cover: CoverMode = "preview"
    # Covers the bot downloads itself may come from loopback and private addresses (self-hosted
    # images, tests). Off: only public addresses, so a post cannot make the bot fetch an internal URL.
    private_covers: bool = False
    silent: bool = False  # sent without a notification sound
    protect_content: bool = False  # readers cannot forward or save the post
    thread_id: int | None = None  # a forum supergroup's topic to post in
    pin: bool = False  # pin the day's post (silently), unpinning the bot's previous pin


PullMode = Literal["none", "git"]
PULL_MODES: tuple[PullMode, ...] = ("none", "git")


@dataclass(frozen=True, slots=True)
class PostsConfig:
    """[posts]: the posts folder, the blog it belongs to, and the category pushed daily."""

    dir: Path = Path("posts")
    site_url: str = "https://aicode.cc"
    category: str = "AI 日报"
    # "git": `git pull --ff-only` in `dir` before each look for the day's post (bot/gitpull.py).
    pull: PullMode = "none"


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """Updates by webhook instead of long polling: Telegram posts them to `url`, a reverse proxy
    passes them to `listen`:`port` (same path). Unset `url`: the bot polls."""

    url: str | None = None
    listen: str = "127.0.0.1"
    port: int = 8080
    # Only from the environment, like the token; Telegram sends it back in a header with every
    # update, and a request without it is refused (docs/reliability.md, case 25).
    secret: str | None = field(default=None, repr=False)

    @property
    def path(self) -> str:
        """The URL's path: where the local server takes the updates."""
        return (urlsplit(self.url).path if self.url else "") or "/"


@dataclass(frozen=True, slots=True)
class ScheduleConfig:
    """[schedule]: when the day's post goes out, how long it may still go out late, and what
    follows a send whose outcome is unknown."""

    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    time: dt.time = dt.time(8, 0)
    # How long after `time` the day's post may still go out automatically: when the file comes
    # late (looked for again every `retry`) or the bot starts late. Then admins are told.
    catch_up: dt.timedelta = dt.timedelta(hours=6)
    retry: dt.timedelta = dt.timedelta(minutes=5)
    on_ambiguous: Ambiguous = "alert"


@dataclass(frozen=True, slots=True)
class HealthConfig:
    """GET /healthz and /metrics on listen:port (off while `port` is unset), and a heartbeat URL
    pinged once the day's post is settled (`/fail` appended when it failed)."""

    listen: str = "127.0.0.1"
    port: int | None = None
    heartbeat_url: str | None = None


@dataclass(frozen=True, slots=True)
class StorageConfig:
    """The ledger: an SQLite file (one instance, the default) or a `postgresql://` URL (several
    instances sharing it). `local_dir` holds what each instance keeps for itself, the search
    index cache and the journal; by default beside the SQLite file, or the config file's folder."""

    database: Path | str = Path("ai-news-bot.db")
    local_dir: Path | None = None

    @property
    def where(self) -> str:
        """The database for a log line or a message: the file, or the URL without its password."""
        return describe_database(self.database)

    @property
    def password(self) -> str | None:
        """The password in a PostgreSQL URL, to keep out of every log line."""
        return database_password(self.database)

    def local_file(self, name: str) -> Path:
        """Where this instance keeps its own file `name` (e.g. "ai-news-bot.journal")."""
        if self.local_dir is not None:
            return self.local_dir / name
        if isinstance(self.database, Path):
            return self.database.with_name(name)
        return Path(name).absolute()


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration: one table each, the topics and the search synonyms."""

    telegram: TelegramConfig = field(default_factory=TelegramConfig)
    channel: ChannelConfig = field(default_factory=ChannelConfig)
    posts: PostsConfig = field(default_factory=PostsConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    webhook: WebhookConfig = field(default_factory=WebhookConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    # Topic tags for /tag; DEFAULT_TOPICS unless the file has a [topics] table.
    topics: tuple[Topic, ...] = DEFAULT_TOPICS
    # The names that stand for one company, for /search; DEFAULT_SYNONYMS unless the file has
    # [search] synonyms.
    search_synonyms: tuple[Entity, ...] = DEFAULT_SYNONYMS
    source: Path | None = None  # the file it came from, None when defaults apply


def _local_name(config: Config, suffix: str) -> str:
    database = config.storage.database
    stem = database.stem if isinstance(database, Path) else "ai-news-bot"
    return stem + suffix


def search_index_path(config: Config) -> Path:
    """The search index: a cache of this instance's, beside an SQLite ledger in a file of its own
    (`bot.db` -> `bot.search.db`), else in `[storage] local_dir`."""
    return config.storage.local_file(_local_name(config, ".search.db"))


def journal_path(config: Config) -> Path:
    """Sent messages the database could not record wait here (`bot.db` -> `bot.journal`)."""
    return config.storage.local_file(_local_name(config, ".journal"))


# -- value parsers: each takes the raw TOML value and returns the typed value or raises
# _InvalidValueError with what was expected; the caller adds the key's name.


class _InvalidValueError(Exception):
    pass


def _describe(value: object) -> str:
    kind = {bool: "boolean", int: "integer", float: "float", str: "string", list: "array", dict: "table"}
    return f"{value!r} ({kind.get(type(value), type(value).__name__)})"


def _string(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _InvalidValueError(f"expected a non-empty string, got {_describe(value)}")
    return value.strip()


def _url(value: object) -> str:
    text = _string(value)
    try:
        parts = urlsplit(text)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        host = None
    if parts.scheme not in ("https", "http") or not host or any(char.isspace() for char in text):
        raise _InvalidValueError(f'expected an http(s) URL such as "https://example.org", got {text!r}')
    return text.rstrip("/")


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise _InvalidValueError(f"expected true or false, got {_describe(value)}")
    return value


def _positive(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _InvalidValueError(f"expected a positive whole number, got {_describe(value)}")
    return value


def _port(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise _InvalidValueError(f"expected a TCP port from 1 to 65535, got {_describe(value)}")
    return value


def _admins(value: object) -> tuple[int, ...]:
    # bool is a subclass of int: `admins = [true]` must not authorise user 1.
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value
    ):
        raise _InvalidValueError(
            f"expected an array of numeric Telegram user ids such as [123456789], got {_describe(value)}"
        )
    return tuple(cast(list[int], value))


# A public username as Telegram allows it (letters, digits, underscores, starting with a letter;
# 4-character ones exist as collectibles), or a non-zero numeric id.
_USERNAME = re.compile(r"@[A-Za-z][A-Za-z0-9_]{3,31}")


def _chat(value: object) -> str | int:
    if isinstance(value, int) and not isinstance(value, bool) and value != 0:
        return value
    if isinstance(value, str) and _USERNAME.fullmatch(value):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[1-9][0-9]*", value):
        return int(value)
    raise _InvalidValueError(
        f'expected "@channelname" or a numeric chat id such as -1001234567890, got {_describe(value)}'
    )


def _choice(choices: tuple[str, ...]) -> _Parser:
    def parse(value: object) -> str:
        if value not in choices:
            raise _InvalidValueError(
                f"expected one of {', '.join(map(repr, choices))}, got {_describe(value)}"
            )
        return value

    return parse


def _timezone(value: object) -> ZoneInfo:
    name = _string(value)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _InvalidValueError(
            f'expected an IANA time zone such as "Asia/Shanghai", got {name!r}'
        ) from None


def _time(value: object) -> dt.time:
    # TOML has a local-time type (08:00:00); accept it as well as the string "08:00".
    if isinstance(value, dt.time):
        return value.replace(microsecond=0)
    text = _string(value) if isinstance(value, str) else ""
    try:
        hour, minute = text.split(":")
        if len(hour) != 2 or len(minute) != 2:
            raise ValueError(text)
        return dt.time(int(hour), int(minute))
    except ValueError:
        raise _InvalidValueError(
            f'expected a 24-hour time "HH:MM" such as "08:00", got {_describe(value)}'
        ) from None


def _minutes(low: int, high: int) -> _Parser:
    def parse(value: object) -> dt.timedelta:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _InvalidValueError(f"expected whole minutes from {low} to {high}, got {_describe(value)}")
        return dt.timedelta(minutes=value)

    return parse


def _path(value: object) -> Path:
    return Path(_string(value))


_DATABASE_SCHEMES = ("postgresql", "postgres")


def database_password(database: Path | str) -> str | None:
    """The password in a PostgreSQL URL (`user:password@host`, or `?password=`), if any."""
    if isinstance(database, Path):
        return None
    parts = urlsplit(database)
    given = [value for name, value in parse_qsl(parts.query) if name == "password"]
    return parts.password or (given[0] if given else None)


def database_secrets(database: Path | str) -> tuple[str, ...]:
    """The password of a database URL as written and as decoded (`%40` is `@`): what the log must
    never show."""
    password = database_password(database)
    return () if password is None else tuple({password, unquote(password)})


def describe_database(database: Path | str) -> str:
    """A database fit for a log line or a message: the file, or the URL with its password hidden
    (in the user part, and as a `password=` parameter)."""
    if isinstance(database, Path):
        return str(database)
    parts = urlsplit(database)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
    query = "&".join(
        f"{name}=***" if name == "password" else part
        for part in parts.query.split("&")
        if part
        for name in [part.split("=", 1)[0]]
    )
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def parse_database(text: str) -> Path | str:
    """`[storage] database` as written on a command line: a path, or a postgresql:// URL."""
    try:
        return _database(text)
    except _InvalidValueError as exc:
        raise ConfigError(f"{describe_database(text) if '://' in text else text}: {exc}") from None


def _database(value: object) -> Path | str:
    """A path to an SQLite file, or a postgresql:// URL (kept as written: libpq parses it)."""
    text = _string(value)
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if not scheme:
        return Path(text)
    if scheme not in _DATABASE_SCHEMES:
        raise _InvalidValueError("expected a path to an SQLite file or a postgresql:// URL")
    text = f"{scheme}://{text.split('://', 1)[1]}"  # POSTGRESQL:// is a URL too, not a file name
    try:
        urlsplit(text).port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise _InvalidValueError("not a valid postgresql:// URL") from None
    if any(char.isspace() for char in text):
        raise _InvalidValueError("not a valid postgresql:// URL")
    return text


def _aliases(value: object) -> tuple[str, ...]:
    if (
        not isinstance(value, list)
        or not 1 <= len(value) <= MAX_ALIASES
        or not all(isinstance(v, str) and v.strip() for v in value)
    ):
        raise _InvalidValueError(
            f'expected an array of 1 to {MAX_ALIASES} non-empty names such as ["英伟达", "Nvidia"], '
            f"got {_describe(value)}"
        )
    return tuple(dict.fromkeys(" ".join(v.split()) for v in cast(list[str], value)))


def _synonyms(value: object) -> tuple[Entity, ...]:
    """[search] synonyms: a table of `name = ["other name", ...]`, in the file's order; the name
    itself is always one of its entity's names. An empty table means no synonyms at all."""
    if not isinstance(value, dict):
        raise _InvalidValueError(
            f'expected a table of names such as {{ "英伟达" = ["Nvidia", "輝達"] }}, got {_describe(value)}'
        )
    table = cast(dict[str, object], value)
    if len(table) > MAX_SYNONYMS:
        raise _InvalidValueError(f"{len(table)} entities; at most {MAX_SYNONYMS} are allowed")
    entities: list[Entity] = []
    owner: dict[str, tuple[int, str]] = {}  # a folded name -> the entity it stands for
    for index, (key, raw) in enumerate(table.items()):
        if not isinstance(raw, list) or len(raw) > MAX_SYNONYM_NAMES:
            raise _InvalidValueError(
                f'{key!r}: expected an array of up to {MAX_SYNONYM_NAMES} names such as ["Nvidia", "輝達"], '
                f"got {_describe(raw)}"
            )
        names: list[str] = []
        for written in [key, *cast(list[object], raw)]:
            if not isinstance(written, str) or not written.strip():
                raise _InvalidValueError(f"{key!r}: expected non-empty names, got {_describe(written)}")
            names.append(name := " ".join(written.split()))
            if len(name) > MAX_NAME_LENGTH:
                raise _InvalidValueError(f"{name!r}: a name is at most {MAX_NAME_LENGTH} characters")
        # Spellings that fold alike (Nvidia, NVIDIA; 英伟达, 英偉達) are all kept: each is shown as written.
        entity = Entity(names[0], tuple(dict.fromkeys(names)))
        for name in entity.names:
            other, other_name = owner.setdefault(" ".join(fold(name).split()), (index, entity.name))
            if other != index:  # a search for it could not tell which entity is meant
                raise _InvalidValueError(
                    f"{name!r} is a name of both {other_name!r} and {entity.name!r}; keep one"
                )
        entities.append(entity)
    return tuple(entities)


_Parser = Callable[[object], Any]
# In place of a key: a section whose keys are the user's own names, each value read by this parser.
_ANY_KEY = "*"

# section -> key -> parser. The one place that says which keys exist.
_SCHEMA: dict[str, dict[str, _Parser]] = {
    "telegram": {"api_url": _url, "admins": _admins},
    "channel": {
        "chat": _chat,
        "cover": _choice(COVER_MODES),
        "private_covers": _bool,
        "silent": _bool,
        "protect_content": _bool,
        "thread_id": _positive,
        "pin": _bool,
    },
    "posts": {"dir": _path, "site_url": _url, "category": _string, "pull": _choice(PULL_MODES)},
    "schedule": {
        "timezone": _timezone,
        "time": _time,
        # At least a minute, so the job firing a moment after `time` is inside the window; at
        # most a day (the window also ends at local midnight: never post on the next day).
        "catch_up_minutes": _minutes(1, 24 * 60),
        "retry_minutes": _minutes(1, 24 * 60),
        "on_ambiguous": _choice(AMBIGUOUS_MODES),
    },
    "storage": {"database": _database, "local_dir": _path},
    "webhook": {"url": _url, "listen": _string, "port": _port},
    "health": {"listen": _string, "port": _port, "heartbeat_url": _url},
    # topic name -> the names that stand for it in a headline
    "topics": {_ANY_KEY: _aliases},
    "search": {"synonyms": _synonyms},
}
_PATH_KEYS = {("posts", "dir"), ("storage", "database"), ("storage", "local_dir")}
# The defaults of the sections that hold paths, for resolving a default path like a written one.
_DEFAULTS: dict[str, Any] = {"posts": PostsConfig(), "storage": StorageConfig()}


def _parse_tables(data: Mapping[str, object], where: str, base: Path) -> dict[str, dict[str, Any]]:
    parsed: dict[str, dict[str, Any]] = {}
    for section, table in data.items():
        if section not in _SCHEMA:
            raise ConfigError(f"{where}: unknown section [{section}]; expected one of: {', '.join(_SCHEMA)}")
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: [{section}] must be a table, got {_describe(table)}")
        keys = _SCHEMA[section]
        values: dict[str, Any] = {}
        for key, raw in table.items():
            parse = keys.get(key) or keys.get(_ANY_KEY)
            if parse is None:
                hint = {
                    ("telegram", "token"): f" (the token comes only from env {TOKEN_ENV})",
                    ("webhook", "secret"): f" (it comes only from env {WEBHOOK_SECRET_ENV})",
                }.get((section, key), "")
                raise ConfigError(
                    f"{where}: unknown key [{section}] {key}{hint}; expected one of: {', '.join(keys)}"
                )
            try:
                value = parse(raw)
            except _InvalidValueError as exc:
                raise ConfigError(f"{where}: [{section}] {key}: {exc}") from None
            if (section, key) in _PATH_KEYS and isinstance(value, Path) and not value.is_absolute():
                # Relative paths are relative to the config file, so the bot behaves the same
                # whatever directory systemd or cron starts it from.
                value = base / value
            values[key] = value
        parsed[section] = values
    return parsed


def load_config(path: Path | None, environ: Mapping[str, str]) -> Config:
    """Load `path` (or `$AI_NEWS_BOT_CONFIG`, or defaults when neither is given) plus the environment."""
    if path is None and environ.get(CONFIG_ENV):
        path = Path(environ[CONFIG_ENV])
    sections: dict[str, dict[str, Any]] = {}
    if path is not None:
        try:
            with path.open("rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not valid TOML: the file is not UTF-8") from None
        sections = _parse_tables(data, str(path), path.parent.absolute())
    # Every relative path, written or a default, is relative to the config file's folder (without
    # a file: the current one) and made absolute now, so `run` started by systemd in one folder
    # and `publish` by cron in another use the same ledger and never both send the day's post.
    base = path.parent.absolute() if path is not None else Path.cwd()
    for section, key in _PATH_KEYS:
        if key not in sections.get(section, {}):
            default = getattr(_DEFAULTS[section], key)
            if default is not None:
                sections.setdefault(section, {})[key] = base / default
    storage = sections.setdefault("storage", {})
    if environ.get(DATABASE_ENV, "").strip():
        try:
            database = _database(environ[DATABASE_ENV].strip())
        except _InvalidValueError as exc:
            raise ConfigError(f"env {DATABASE_ENV}: {exc}") from None
        storage["database"] = base / database if isinstance(database, Path) else database
    if isinstance(storage["database"], str):
        storage.setdefault("local_dir", base)

    telegram = dict(sections.get("telegram", {}))
    if environ.get(API_URL_ENV):
        try:
            telegram["api_url"] = _url(environ[API_URL_ENV])
        except _InvalidValueError as exc:
            raise ConfigError(f"env {API_URL_ENV}: {exc}") from None
    token = environ.get(TOKEN_ENV, "").strip() or None
    secret = environ.get(WEBHOOK_SECRET_ENV, "").strip() or None
    if secret is not None and (not _SECRET.fullmatch(secret) or secret == token):
        # Never echoed: it is a secret. Telegram takes 1-256 of these characters only.
        raise ConfigError(
            f"env {WEBHOOK_SECRET_ENV}: expected 1 to 256 characters A-Z a-z 0-9 _ -, not the bot token"
        )
    return Config(
        telegram=TelegramConfig(**telegram, token=token),
        channel=ChannelConfig(**sections.get("channel", {})),
        posts=PostsConfig(**sections.get("posts", {})),
        schedule=_schedule(sections.get("schedule", {})),
        storage=StorageConfig(**sections.get("storage", {})),
        webhook=WebhookConfig(**sections.get("webhook", {}), secret=secret),
        health=HealthConfig(**sections.get("health", {})),
        topics=_topics(sections["topics"], str(path)) if "topics" in sections else DEFAULT_TOPICS,
        search_synonyms=sections.get("search", {}).get("synonyms", DEFAULT_SYNONYMS),
        source=path,
    )


def _topics(values: dict[str, tuple[str, ...]], where: str) -> tuple[Topic, ...]:
    """[topics] in the file's order; an empty table means no topics at all."""
    if len(values) > MAX_TOPICS:
        raise ConfigError(f"{where}: [topics] has {len(values)} topics; at most {MAX_TOPICS} are allowed")
    topics: list[Topic] = []
    seen: dict[str, str] = {}
    for key, aliases in values.items():
        name = " ".join(key.split())
        if not name or name.startswith("#"):
            # /tag drops a leading # (readers copy hashtags): such a topic could never be found.
            raise ConfigError(f"{where}: [topics] {key!r}: a topic name must be text not starting with #")
        if (label := label_key(name)) in seen:
            # /tag could not tell them apart: one label, counted twice.
            raise ConfigError(f"{where}: [topics] {name}: the same label as {seen[label]}; merge the two")
        seen[label] = name
        topics.append(Topic(name, aliases))
    return tuple(topics)


def _schedule(values: dict[str, Any]) -> ScheduleConfig:
    renamed = {"catch_up_minutes": "catch_up", "retry_minutes": "retry"}
    return ScheduleConfig(**{renamed.get(key, key): value for key, value in values.items()})


def default_environ() -> Mapping[str, str]:
    """The process environment; only the CLI shell calls this."""
    return os.environ
