"""Configuration: TOML file + environment -> frozen Config, or one clear line and exit code 2."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.cli import EXIT_USAGE, main
from bot.config import (
    ChannelConfig,
    Config,
    ConfigError,
    PostsConfig,
    ScheduleConfig,
    StorageConfig,
    TelegramConfig,
    load_config,
)
from bot.engines import is_url
from bot.topics import DEFAULT_TOPICS, Topic

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file() -> None:
    """No file and no environment: the documented defaults, paths in the current folder."""
    assert load_config(None, {}) == Config(
        telegram=TelegramConfig(api_url="https://api.telegram.org", admins=(), token=None),
        channel=ChannelConfig(chat="@ai_news_plus", cover="preview"),
        posts=PostsConfig(dir=Path.cwd() / "posts", site_url="https://aicode.cc", category="AI 日报"),
        schedule=ScheduleConfig(timezone=ZoneInfo("Asia/Shanghai"), time=dt.time(8, 0)),
        storage=StorageConfig(database=Path.cwd() / "ai-news-bot.db"),
        source=None,
    )


def test_default_paths_are_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file that names no path: the default database and posts folder are beside the file,
    whatever folder the command runs in (before, cron and systemd could use two ledgers)."""
    path = write(tmp_path, '[channel]\nchat = "@other"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(Path("..") / "config.toml", {})
    assert config.storage.database == (elsewhere / ".." / "ai-news-bot.db")
    assert config.storage.database.resolve() == path.parent / "ai-news-bot.db"
    assert config.posts.dir.resolve() == path.parent / "posts"
    assert config.storage.database.is_absolute()


def test_example_config_is_the_defaults() -> None:
    """config.example.toml documents every key with its default value."""
    example = REPO / "config.example.toml"
    loaded = load_config(example, {})
    defaults = load_config(None, {})
    assert loaded.telegram == defaults.telegram
    assert loaded.channel == defaults.channel
    assert loaded.schedule == defaults.schedule
    assert loaded.posts.site_url == defaults.posts.site_url
    assert loaded.posts.category == defaults.posts.category
    assert loaded.posts.dir == REPO / "posts"
    assert loaded.storage.database == REPO / "ai-news-bot.db"


def test_every_key_read(tmp_path: Path) -> None:
    """Every documented key is read, with its type."""
    path = write(
        tmp_path,
        """
[telegram]
api_url = "http://127.0.0.1:8081/"
admins = [42, 1001]
[channel]
chat = -1001234567890
cover = "photo"
[posts]
dir = "/srv/blog/pages"
site_url = "https://example.org"
category = "周报"
[schedule]
timezone = "Europe/Berlin"
time = "07:45"
catch_up_minutes = 90
retry_minutes = 2
on_ambiguous = "resend"
[storage]
database = "state/bot.db"
local_dir = "cache"
""",
    )
    config = load_config(path, {})
    assert config.telegram == TelegramConfig(api_url="http://127.0.0.1:8081", admins=(42, 1001))
    assert config.channel == ChannelConfig(chat=-1001234567890, cover="photo")
    assert config.posts == PostsConfig(Path("/srv/blog/pages"), "https://example.org", "周报")
    assert config.schedule == ScheduleConfig(
        ZoneInfo("Europe/Berlin"), dt.time(7, 45), dt.timedelta(minutes=90), dt.timedelta(minutes=2), "resend"
    )
    assert config.storage == StorageConfig(tmp_path / "state" / "bot.db", tmp_path / "cache")
    assert config.source == path


def test_toml_local_time_accepted(tmp_path: Path) -> None:
    """A TOML local time (07:30:00) is as good as the string "07:30"."""
    config = load_config(write(tmp_path, "[schedule]\ntime = 07:30:00\n"), {})
    assert config.schedule.time == dt.time(7, 30)


def test_environment_overrides() -> None:
    """TELEGRAM_API_URL overrides api_url; the token comes only from TELEGRAM_BOT_TOKEN."""
    config = load_config(None, {"TELEGRAM_API_URL": "http://127.0.0.1:9000", "TELEGRAM_BOT_TOKEN": "123:abc"})
    assert config.telegram.api_url == "http://127.0.0.1:9000"
    assert config.telegram.token == "123:abc"


def test_token_not_in_repr() -> None:
    """The token never shows in a repr that could be logged."""
    config = load_config(None, {"TELEGRAM_BOT_TOKEN": "123456:SECRET-token-value"})
    assert "SECRET" not in repr(config)


def test_database_may_be_a_postgresql_url(tmp_path: Path) -> None:
    """[storage] database takes a postgresql:// URL as written (not a path); each instance's own
    files then go to the config file's folder unless local_dir says where."""
    url = "postgresql://ainews@db.example.internal:5432/ainews"
    config = load_config(write(tmp_path, f'[storage]\ndatabase = "{url}"\n'), {})
    assert config.storage.database == url
    assert config.storage.local_dir == tmp_path
    config = load_config(write(tmp_path, f'[storage]\ndatabase = "{url}"\nlocal_dir = "state"\n'), {})
    assert config.storage.local_dir == tmp_path / "state"


def test_database_url_from_the_environment_keeps_its_password_out_of_sight(tmp_path: Path) -> None:
    """AI_NEWS_BOT_DATABASE overrides the file's database; its password never shows where the
    database is named (logs, messages)."""
    path = write(tmp_path, '[storage]\ndatabase = "bot.db"\n')
    url = "postgresql://ainews:pa55-word@db.example.internal:5432/ainews"
    config = load_config(path, {"AI_NEWS_BOT_DATABASE": url})
    assert config.storage.database == url
    assert config.storage.password == "pa55-word"
    assert config.storage.where == "postgresql://ainews:***@db.example.internal:5432/ainews"
    assert load_config(path, {"AI_NEWS_BOT_DATABASE": "other.db"}).storage.database == tmp_path / "other.db"


@pytest.mark.parametrize(
    ("url", "shown", "password"),
    [
        ("POSTGRESQL://ainews:pw@db/ainews", "postgresql://ainews:***@db/ainews", "pw"),
        (
            "postgresql://db/ainews?user=ainews&password=pw&sslmode=require",
            "postgresql://db/ainews?user=ainews&password=***&sslmode=require",
            "pw",
        ),
        ("postgres://db/ainews", "postgres://db/ainews", None),
    ],
    ids=["upper-case-scheme", "password-parameter", "no-password"],
)
def test_every_spelling_of_a_database_url_is_a_url_with_its_password_hidden(
    tmp_path: Path, url: str, shown: str, password: str | None
) -> None:
    """A scheme in capitals is still a URL (never an SQLite file of that name), and a password
    given as a parameter is hidden like one in the user part."""
    config = load_config(None, {"AI_NEWS_BOT_DATABASE": url})
    assert isinstance(config.storage.database, str)
    assert is_url(config.storage.database)
    assert (config.storage.where, config.storage.password) == (shown, password)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("mysql://db/x", "expected a path to an SQLite file or a postgresql:// URL"),
        ("postgresql://db:port/x", "not a valid postgresql:// URL"),
    ],
)
def test_bad_database_url_is_named(tmp_path: Path, value: str, message: str) -> None:
    """A URL of another database, or a malformed one, is refused at load, naming the key."""
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, f'[storage]\ndatabase = "{value}"\n'), {})
    with pytest.raises(ConfigError, match="env AI_NEWS_BOT_DATABASE"):
        load_config(None, {"AI_NEWS_BOT_DATABASE": value})


def test_config_path_from_environment(tmp_path: Path) -> None:
    """AI_NEWS_BOT_CONFIG names the file when --config is not given."""
    path = write(tmp_path, '[channel]\nchat = "@other"\n')
    assert load_config(None, {"AI_NEWS_BOT_CONFIG": str(path)}).channel.chat == "@other"


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[telegram]\ntoken = 'x'\n", "unknown key [telegram] token (the token comes only from env"),
        ("[posts]\ndirectory = 'x'\n", "unknown key [posts] directory; expected one of: dir, site_url"),
        ("[webhooks]\nurl = 'x'\n", "unknown section [webhooks]; expected one of: telegram, channel"),
        ("[webhook]\nurl = 'x'\n", "[webhook] url: expected an http(s) URL"),
        (
            "[webhook]\nsecret = 'x'\n",
            "unknown key [webhook] secret (it comes only from env TELEGRAM_WEBHOOK_SECRET)",
        ),
        ("posts = 'x'\n", "[posts] must be a table"),
        ("[telegram]\nadmins = 42\n", "[telegram] admins: expected an array of numeric Telegram user ids"),
        ("[telegram]\nadmins = ['@me']\n", "[telegram] admins: expected an array of numeric"),
        ("[telegram]\nadmins = [true]\n", "[telegram] admins: expected an array of numeric"),
        ("[telegram]\napi_url = 'api.telegram.org'\n", "[telegram] api_url: expected an http(s) URL"),
        ("[channel]\nchat = 'ai_news_plus'\n", '[channel] chat: expected "@channelname" or a numeric'),
        ("[channel]\nchat = 0\n", '[channel] chat: expected "@channelname" or a numeric'),
        ("[channel]\nchat = '0'\n", '[channel] chat: expected "@channelname" or a numeric'),
        ("[channel]\nchat = '@a b'\n", '[channel] chat: expected "@channelname" or a numeric'),
        ("[channel]\nchat = '@'\n", '[channel] chat: expected "@channelname" or a numeric'),
        ("[channel]\nchat = '@1abc'\n", '[channel] chat: expected "@channelname" or a numeric'),
        ("[posts]\nsite_url = 'http://'\n", "[posts] site_url: expected an http(s) URL"),
        ("[posts]\nsite_url = 'https:// x'\n", "[posts] site_url: expected an http(s) URL"),
        ("[posts]\nsite_url = 'https://a.b:port'\n", "[posts] site_url: expected an http(s) URL"),
        ("[telegram]\napi_url = 'ftp://a.b'\n", "[telegram] api_url: expected an http(s) URL"),
        ("[channel]\nprivate_covers = 'yes'\n", "[channel] private_covers: expected true or false"),
        ("[channel]\ncover = 'big'\n", "[channel] cover: expected one of 'preview', 'photo', 'none'"),
        (
            "[schedule]\non_ambiguous = 'retry'\n",
            "[schedule] on_ambiguous: expected one of 'alert', 'resend'",
        ),
        ("[schedule]\ntimezone = 'Beijing'\n", "[schedule] timezone: expected an IANA time zone such as"),
        ("[schedule]\ntimezone = 8\n", "[schedule] timezone: expected a non-empty string, got 8 (integer)"),
        ("[schedule]\ntime = '8:00'\n", '[schedule] time: expected a 24-hour time "HH:MM"'),
        ("[schedule]\ntime = '25:00'\n", '[schedule] time: expected a 24-hour time "HH:MM"'),
        ("[schedule]\ntime = 800\n", '[schedule] time: expected a 24-hour time "HH:MM"'),
        (
            "[schedule]\ncatch_up_minutes = 1441\n",
            "catch_up_minutes: expected whole minutes from 1",
        ),
        ("[schedule]\nretry_minutes = 0\n", "[schedule] retry_minutes: expected whole minutes from 1 to"),
        ("[schedule]\nretry_minutes = '5'\n", "[schedule] retry_minutes: expected whole minutes"),
        ("[posts]\ncategory = ''\n", "[posts] category: expected a non-empty string"),
        ("[posts\n", "not valid TOML"),
        ("topics = ['OpenAI']\n", "[topics] must be a table"),
        (
            "[topics]\nOpenAI = 'OpenAI'\n",
            '[topics] OpenAI: expected an array of 1 to 20 non-empty names such as ["英伟达"',
        ),
        ("[topics]\nOpenAI = []\n", "[topics] OpenAI: expected an array of 1 to 20 non-empty names"),
        (
            "[topics]\n'英伟达' = ['英伟达', ' ']\n",
            "[topics] 英伟达: expected an array of 1 to 20 non-empty names",
        ),
        (
            "[topics]\nOpenAI = ['OpenAI', 5]\n",
            "[topics] OpenAI: expected an array of 1 to 20 non-empty names",
        ),
        ("[topics]\nOpenAI = { aliases = ['OpenAI'] }\n", "[topics] OpenAI: expected an array of 1 to 20"),
        (
            f"[topics]\nOpenAI = {[f'a{i}' for i in range(21)]}\n",
            "[topics] OpenAI: expected an array of 1 to 20",
        ),
        ("[topics]\n'#AI' = ['AI']\n", "[topics] '#AI': a topic name must be text not starting with #"),
        ("[topics]\n' ' = ['AI']\n", "[topics] ' ': a topic name must be text not starting with #"),
        (
            "[topics]\nOpenAI = ['a']\n'ＯｐｅｎＡＩ ' = ['b']\n",
            "[topics] ＯｐｅｎＡＩ: the same label as OpenAI; merge the two",
        ),
        (
            "[topics]\n" + "".join(f"t{i} = ['a']\n" for i in range(51)),
            "[topics] has 51 topics; at most 50 are allowed",
        ),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, toml: str, message: str) -> None:
    """A bad key or value is one line naming the key and what is expected."""
    path = write(tmp_path, toml)
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    assert message in str(caught.value)
    assert str(caught.value).startswith(str(path))
    assert "\n" not in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    """A config file that does not exist is an error, not silently the defaults."""
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml", {})


def test_bad_api_url_in_environment() -> None:
    """TELEGRAM_API_URL is validated like the file's key."""
    with pytest.raises(ConfigError, match="env TELEGRAM_API_URL: expected an http"):
        load_config(None, {"TELEGRAM_API_URL": "localhost:8081"})


def test_cli_exits_2_on_bad_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The command line prints one line and exits 2 on a bad configuration."""
    path = write(tmp_path, "[schedule]\ntimezone = 'Mars/Olympus'\n")
    assert main(["--config", str(path), "check"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "[schedule] timezone" in err


def test_topics_default_when_the_table_is_absent(tmp_path: Path) -> None:
    """No [topics] table, or no file: the default topics."""
    path = write(tmp_path, '[channel]\nchat = "@other"\n')
    assert (load_config(path, {}).topics, load_config(None, {}).topics) == (DEFAULT_TOPICS, DEFAULT_TOPICS)


def test_topics_table_replaces_the_defaults(tmp_path: Path) -> None:
    """[topics] is the whole map, in the file's order; names and aliases trimmed, repeated aliases once."""
    path = write(
        tmp_path,
        """
[topics]
"英伟达" = ["英伟达", "Nvidia", "NVIDIA"]
OpenAI = [" OpenAI ", "ChatGPT", "GPT-", "ChatGPT"]
"Hugging  Face" = ["Hugging Face"]
""",
    )
    assert load_config(path, {}).topics == (
        Topic("英伟达", ("英伟达", "Nvidia", "NVIDIA")),
        Topic("OpenAI", ("OpenAI", "ChatGPT", "GPT-")),
        Topic("Hugging Face", ("Hugging Face",)),
    )


def test_empty_topics_table_means_no_topics(tmp_path: Path) -> None:
    """An explicit empty [topics] turns topics off."""
    assert load_config(write(tmp_path, "[topics]\n"), {}).topics == ()


def test_example_config_ships_the_default_topics() -> None:
    """config.example.toml spells out exactly DEFAULT_TOPICS, so the two never drift apart."""
    assert load_config(REPO / "config.example.toml", {}).topics == DEFAULT_TOPICS
