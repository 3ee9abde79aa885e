"""The catalogues (bot/locale/): every text of bot/texts.py in every language, the same placeholders,
the committed .pot and .mo made from what is in the code and the .po, English that fits Telegram's
limits as the Chinese does, and which Telegram language_code gets which language."""

from __future__ import annotations

import io
import re
import tomllib

import pytest
from babel.messages.catalog import Catalog
from telegram.constants import BotCommandLimit, CallbackQueryLimit, MessageLimit

from bot import pages, texts
from bot.locale import LANGUAGES, LOCALE_DIR, Translate, catalogs, chinese, language, translator
from bot.telegram_rules import check_reply_markup
from tests.helpers.paths import REPO

REGENERATE = "run `python -m bot.locale` (README, Languages)"
MSGIDS = [str(message.id) for message in catalogs.template() if message.id]
# Han ideographs, CJK punctuation and full-width forms: what an English text should not have left.
CHINESE = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")


def catalogue(language: str) -> Catalog:
    return catalogs.read_catalogue(catalogs.po_path(language), language)


def entries(language: str) -> dict[str, str]:
    return {str(m.id): str(m.string) for m in catalogue(language) if m.id}


def test_the_template_is_what_the_code_has() -> None:
    """The committed .pot lists exactly the texts of bot/texts.py, in the file's order."""
    committed = [str(m.id) for m in catalogs.read_catalogue(catalogs.TEMPLATE) if m.id]
    assert committed == MSGIDS, REGENERATE


def test_every_text_constant_is_a_msgid_unless_chinese_only() -> None:
    """Each str constant of bot/texts.py, and each value of a dict constant, is in the catalogues,
    except the names in CHINESE_ONLY (the channel message and alerts), which all exist."""
    missing = []
    for name, value in vars(texts).items():
        if not name.isupper() or name == "CHINESE_ONLY" or name in texts.CHINESE_ONLY:
            continue
        values = (
            [value] if isinstance(value, str) else list(value.values()) if isinstance(value, dict) else []
        )
        missing += [f"{name}: {text!r}" for text in values if text not in MSGIDS]
    assert missing == [], REGENERATE
    assert [name for name in texts.CHINESE_ONLY if not isinstance(getattr(texts, name, None), str)] == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_text_has_a_reviewed_translation(language: str) -> None:
    """The .po file has every msgid of the code, no other, none obsolete, none fuzzy, none empty:
    a text in one language only fails here."""
    catalog = catalogue(language)
    found = entries(language)
    assert sorted(set(MSGIDS) - set(found)) == [], f"not in the .po: {REGENERATE}"
    assert sorted(set(found) - set(MSGIDS)) == [], f"no longer in the code: {REGENERATE}"
    assert list(catalog.obsolete) == []
    assert [str(m.id) for m in catalog if m.id and m.fuzzy] == [], "review, then delete the '#, fuzzy' line"
    assert [msgid for msgid, msgstr in found.items() if not msgstr.strip()] == [], "write the msgstr"


@pytest.mark.parametrize("language", LANGUAGES)
def test_placeholders_are_the_same_in_every_language(language: str) -> None:
    """Each translation has exactly the {name} fields of its msgid (and balanced braces), so
    .format(...) fills it as it fills the Chinese."""
    differ = {
        msgid: (catalogs.placeholders(msgid), catalogs.placeholders(msgstr))
        for msgid, msgstr in entries(language).items()
        if catalogs.placeholders(msgid) != catalogs.placeholders(msgstr)
    }
    assert differ == {}


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_committed_mo_is_the_po_compiled(language: str) -> None:
    """The .mo the bot reads translates exactly what the .po says (compiled here with Babel)."""
    committed = catalogs.mo_messages(catalogs.mo_path(language).read_bytes())
    assert committed == catalogs.mo_messages(catalogs.compiled(catalogue(language))), REGENERATE
    assert set(committed) == set(MSGIDS)


def test_english_is_english() -> None:
    """No Chinese characters (or full-width punctuation) left in an English text."""
    assert {k: v for k, v in entries("en").items() if CHINESE.search(v)} == {}


def test_the_bot_reads_the_english_catalogue() -> None:
    """translator("en") is the compiled catalogue, read with the standard library."""
    tr = translator("en")
    assert tr(texts.BAD_DAY) == entries("en")[texts.BAD_DAY]
    assert all(tr(msgid) == msgstr for msgid, msgstr in entries("en").items())
    assert tr("not a msgid") == "not a msgid"  # anything else as it is


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("en", "en"),
        ("en-GB", "en"),
        ("EN-us", "en"),
        ("en_US", "en"),
        (None, None),
        ("", None),
        ("zh-hans", None),
        ("zh", None),
        ("de", None),
        ("eng", None),
        ("ru-en", None),
    ],
)
def test_which_language_code_gets_english(code: str | None, expected: str | None) -> None:
    """A Telegram language_code whose first subtag is "en" gets English; none or any other, Chinese."""
    assert language(code) == expected
    if expected is None:
        assert translator(code) is chinese
        assert translator(code)(texts.HELP) == texts.HELP


@pytest.mark.parametrize("tr", [chinese, translator("en")], ids=["zh", "en"])
def test_texts_fit_telegram_in_every_language(tr: Translate) -> None:
    """What Telegram limits holds in both languages: command descriptions (1-256 characters),
    button labels (a non-empty text, short enough to read), button answers (200 characters), and
    the longest /help (an admin's) within one message."""
    for names in (texts.READER_COMMANDS, texts.ADMIN_COMMANDS):
        for description in map(tr, names.values()):
            assert (
                BotCommandLimit.MIN_DESCRIPTION <= len(description.strip()) <= BotCommandLimit.MAX_DESCRIPTION
            )
    largest = pages.MAX_PAGE + 1
    labels = [
        tr(texts.PREV_PAGE),
        tr(texts.NEXT_PAGE),
        tr(texts.PAGE_OF).format(page=largest, pages=largest),
        tr(texts.ALL_TAGS_BUTTON),
        tr(texts.TAG_BUTTON).format(label="x" * pages.MAX_BUTTON_LABEL, count=99999),
    ]
    check_reply_markup(
        {"reply_markup": {"inline_keyboard": [[{"text": t, "callback_data": "n"} for t in labels]]}}
    )
    assert [label for label in labels[:4] if len(label) > pages.MAX_BUTTON_LABEL] == []
    answers = [tr(texts.SLOW_DOWN).format(seconds=86400), tr(texts.BUTTON_EXPIRED), tr(texts.NOT_ADMIN)]
    assert [a for a in answers if len(a) > CallbackQueryLimit.ANSWER_CALLBACK_QUERY_TEXT_LENGTH] == []
    longest_help = tr(texts.HELP).format(site="x" * 100, bot="x" * 32) + tr(texts.ADMIN_HELP)
    assert len(longest_help) <= MessageLimit.MAX_TEXT_LENGTH


def test_the_extractor_takes_every_text_constant_but_the_chinese_only() -> None:
    """The extraction method: a str (implicit concatenation too) and each dict value is a msgid with
    its comment lines and name; CHINESE_ONLY names, lower-case names and other values are not."""
    source = (
        "CHINESE_ONLY = ('ALERT',)\n"
        "# -- a section --------\n"
        "# {n}: how many.\n"
        "COUNT = '共 {n} 篇'\n"
        "HELP = (\n    '第一行\\n'\n    '第二行'\n)\n"
        "MENU = {'today': '今天', 'tag': '标签'}\n"
        "ALERT = '警告'\n"
        "helper = '不是文字'\n"
        "LIMIT = 64\n"
        "MIXED = {'a': '一', 'b': 2}\n"
    )
    found = list(catalogs.extract_texts(io.BytesIO(source.encode()), {}, [], {}))
    assert [(text, comments) for _, _, text, comments in found] == [
        ("共 {n} 篇", ["{n}: how many.", "COUNT"]),
        ("第一行\n第二行", ["HELP"]),
        ("今天", ["MENU['today']"]),
        ("标签", ["MENU['tag']"]),
    ]


def test_a_new_text_is_pending_until_translated() -> None:
    """A msgid the .po does not translate yet (or only fuzzily) is what the tool lists to translate."""
    catalog = Catalog(locale="en")
    catalog.add("新的文字")
    catalog.add("旧的文字", "Old text")
    catalog.add("改过的文字", "Changed text", flags=["fuzzy"])
    assert catalogs.pending(catalog) == ["新的文字", "改过的文字"]


def test_the_catalogues_ship_with_the_package() -> None:
    """pyproject's package-data takes every catalogue file of bot/locale/, the .mo files included,
    so `pip install .` gives the bot its languages without Babel."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert "bot.locale" in project["tool"]["setuptools"]["packages"]
    patterns = project["tool"]["setuptools"]["package-data"]["bot.locale"]
    shipped = {path for pattern in patterns for path in LOCALE_DIR.glob(pattern)}
    catalogues = {p for p in LOCALE_DIR.rglob("*") if p.suffix in (".po", ".mo", ".pot")}
    assert shipped == catalogues
    assert {catalogs.mo_path(name) for name in LANGUAGES} <= shipped
