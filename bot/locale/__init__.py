"""The bot's languages: Chinese (bot/texts.py, the msgids) and the gettext catalogues beside this file.

`translator(update.effective_user.language_code)` is how a handler gets a reader's language: English
for a Telegram `language_code` starting with "en", Chinese for any other or none. The catalogues are
made from bot/texts.py by `python -m bot.locale` (bot/locale/catalogs.py, needs Babel: the dev
extra); the compiled .mo files are committed, so the bot itself needs only the standard library.
"""

from __future__ import annotations

import functools
import gettext
from collections.abc import Callable
from pathlib import Path

# A text's translation for one reader: its msgid (a bot/texts.py constant) -> the text to show them.
Translate = Callable[[str], str]
DOMAIN = "ai-news-bot"
LOCALE_DIR = Path(__file__).resolve().parent
# Languages with a catalogue (bot/locale/<name>/LC_MESSAGES/ai-news-bot.po), as Telegram's
# language_code starts (IETF tags: "en", "en-GB"). Chinese is the source language and has none.
LANGUAGES = ("en",)


def chinese(text: str) -> str:
    """The Chinese text: the msgid itself, with no lookup."""
    return text


def language(language_code: str | None) -> str | None:
    """The catalogue for a Telegram user's `language_code` ("en" for en, en-GB, EN_us), or None
    for Chinese (no code, zh-hans, or any language without a catalogue)."""
    primary = (language_code or "").strip().lower().replace("_", "-").split("-")[0]
    return primary if primary in LANGUAGES else None


def translator(language_code: str | None) -> Translate:
    """How to translate bot/texts.py for a reader whose Telegram `language_code` is this."""
    found = language(language_code)
    return chinese if found is None else catalogue(found).gettext


@functools.cache
def catalogue(name: str) -> gettext.NullTranslations:
    """The compiled catalogue of a language, read once; without its .mo file, the Chinese msgids."""
    return gettext.translation(DOMAIN, localedir=LOCALE_DIR, languages=[name], fallback=True)
