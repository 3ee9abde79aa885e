"""Make the gettext catalogues from bot/texts.py with Babel (a dev dependency): `python -m bot.locale`.

One command does it all, and does nothing when nothing changed:

1. extract: every text constant of bot/texts.py (a str, or each value of a dict of str) not named
   in `texts.CHINESE_ONLY` is a msgid; the comment lines above it and its name are the comments a
   translator sees. The template is bot/locale/ai-news-bot.pot.
2. update: each language's .po file gets the new msgids (with an empty msgstr, or a guess from a
   similar old text marked fuzzy), keeps its translations, and drops texts no longer in the code.
3. compile: each .po file to its .mo file (fuzzy and empty entries left out: they show Chinese).

It then lists what still needs a translator (empty or fuzzy msgstr) and exits 1 while there is
any: write the English, delete the `#, fuzzy` line, run it again. tests/test_locale.py checks
the same, so a text in one language only fails the tests.
"""

from __future__ import annotations

import ast
import io
import string
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from babel.messages.catalog import Catalog
from babel.messages.extract import extract
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po, write_po

from bot.locale import DOMAIN, LANGUAGES, LOCALE_DIR

TEXTS = LOCALE_DIR.parent / "texts.py"
TEMPLATE = LOCALE_DIR / f"{DOMAIN}.pot"
# Header lines that change on every run; a file that differs only in them is left as it is.
_VOLATILE = ('"POT-Creation-Date:', '"PO-Revision-Date:', '"Generated-By:')
_WIDTH = 100
HEADER = """\
# ai-news-bot's own texts: {language}. The msgids are bot/texts.py (Chinese).
# Made by `python -m bot.locale`: write each msgstr, keep its {{placeholders}}, run it again.
#"""


def po_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(language: str) -> Path:
    return po_path(language).with_suffix(".mo")


# -- extract --------------------------------------------------------------------------------------


def _texts_of(value: ast.expr) -> list[tuple[str, str]] | None:
    """The texts of a constant's value: ("", text) for a str (implicit concatenation is one
    constant to ast), ('["key"]', text) for each value of a dict of str; None for anything else."""
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return [("", value.value)]
    if isinstance(value, ast.Dict) and value.values:
        found = []
        for key, item in zip(value.keys, value.values, strict=True):
            if not (isinstance(item, ast.Constant) and isinstance(item.value, str)):
                return None
            label = f"[{key.value!r}]" if isinstance(key, ast.Constant) else "[...]"
            found.append((label, item.value))
        return found
    return None


def _comments_above(lines: list[str], lineno: int) -> list[str]:
    """The `#` comment lines right above line `lineno` (1-based), without the `#`."""
    found: list[str] = []
    i = lineno - 2
    while i >= 0 and lines[i].lstrip().startswith("#"):
        text = lines[i].lstrip()[1:].strip()
        if not text.startswith("--"):  # a section rule, not about this text
            found.insert(0, text)
        i -= 1
    return found


def extract_texts(
    fileobj: IO[bytes], keywords: Mapping[str, Any], comment_tags: Collection[str], options: Mapping[str, Any]
) -> Iterator[tuple[int, str | None, str, list[str]]]:
    """A Babel extraction method for bot/texts.py: each module-level UPPER_CASE constant that is a
    text (or a dict of texts), unless named in the module's CHINESE_ONLY tuple."""
    source = fileobj.read().decode("utf-8")
    tree = ast.parse(source)
    lines = source.splitlines()
    constants: list[tuple[int, str, ast.expr]] = []
    chinese_only: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if not isinstance(target, ast.Name) or not target.id.isupper():
            continue
        if target.id == "CHINESE_ONLY":
            chinese_only = set(ast.literal_eval(value))
        else:
            constants.append((node.lineno, target.id, value))
    for lineno, name, value in constants:
        texts = _texts_of(value)
        if texts is None or name in chinese_only:
            continue
        comments = _comments_above(lines, lineno)
        for label, text in texts:
            yield lineno, None, text, [*comments, f"{name}{label}"]


def template() -> Catalog:
    """The msgids of bot/texts.py, in the file's order, each with its comments."""
    catalog = Catalog(
        domain=DOMAIN,
        header_comment=HEADER.format(language="the template of every language"),
        project="ai-news-bot",
        copyright_holder="the ai-news-bot authors",
        charset="utf-8",
        fuzzy=False,
    )
    with TEXTS.open("rb") as fileobj:
        # Babel's own types name a different tuple than what it takes from a method (funcname second).
        method: Any = extract_texts
        found = extract(method, fileobj)
        for lineno, text, comments, context in found:
            assert isinstance(text, str)
            previous = catalog.get(text, context)
            if previous is not None:  # the same text under two names: one entry, both names
                previous.auto_comments.extend(c for c in comments if c not in previous.auto_comments)
                continue
            location = (TEXTS.relative_to(LOCALE_DIR.parent.parent).as_posix(), lineno)
            catalog.add(text, locations=[location], auto_comments=comments, context=context)
    return catalog


# -- write ------------------------------------------------------------------------------------------


def po_text(catalog: Catalog) -> bytes:
    """A catalogue as a .po (or .pot) file: no line numbers (they change with every edit of texts.py)
    and no obsolete entries (a text gone from the code is gone)."""
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=_WIDTH, no_location=True, ignore_obsolete=True, include_previous=True)
    return buffer.getvalue()


def _stable(text: bytes) -> list[bytes]:
    return [line for line in text.splitlines() if not line.startswith(tuple(v.encode() for v in _VOLATILE))]


def _write_if_changed(path: Path, text: bytes) -> bool:
    if path.exists() and _stable(path.read_bytes()) == _stable(text):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text)
    return True


def read_catalogue(path: Path, language: str | None = None) -> Catalog:
    with path.open("rb") as fileobj:
        return read_po(fileobj, locale=language, domain=DOMAIN)


def compiled(catalog: Catalog) -> bytes:
    """The .mo file of a catalogue (fuzzy and untranslated entries left out)."""
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    return buffer.getvalue()


def mo_messages(data: bytes) -> dict[str, str]:
    """What a .mo file translates: msgid -> msgstr (the header left out)."""
    catalog = read_mo(io.BytesIO(data))
    return {str(m.id): str(m.string) for m in catalog if m.id}


def update(language: str, new: Catalog) -> tuple[list[str], list[str]]:
    """Bring one language's .po file up to the template, and compile it; (dropped, pending) msgids:
    texts gone from the code, and texts still without a reviewed translation."""
    path = po_path(language)
    if path.exists():
        catalog = read_catalogue(path, language)
    else:
        catalog = Catalog(
            locale=language,
            domain=DOMAIN,
            header_comment=HEADER.format(language=language),
            project="ai-news-bot",
            copyright_holder="the ai-news-bot authors",
            last_translator="the ai-news-bot authors",
            language_team=f"{language} <none>",
            charset="utf-8",
            fuzzy=False,
        )
    catalog.update(new)
    dropped = [str(key) for key in catalog.obsolete]
    _write_if_changed(path, po_text(catalog))
    written = read_catalogue(path, language)
    mo = compiled(written)
    if not mo_path(language).exists() or mo_messages(mo_path(language).read_bytes()) != mo_messages(mo):
        mo_path(language).write_bytes(mo)
    return dropped, pending(written)


def pending(catalog: Catalog) -> list[str]:
    """Msgids with no translation yet, or only a fuzzy one (a guess nobody checked)."""
    return [str(m.id) for m in catalog if m.id and (not m.string or m.fuzzy)]


def placeholders(text: str) -> set[str]:
    """The `{name}` fields of a text for str.format (ValueError for unbalanced braces)."""
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


def _shown(path: Path) -> str:
    return path.relative_to(LOCALE_DIR.parent.parent).as_posix()


def main() -> int:
    """Extract, update, compile; 1 while a text still needs its translation."""
    new = template()
    _write_if_changed(TEMPLATE, po_text(new))
    print(f"{_shown(TEMPLATE)}: {len(new)} texts")
    waiting = 0
    for language in LANGUAGES:
        dropped, todo = update(language, new)
        for text in dropped:
            print(f"{language}: dropped (no longer in bot/texts.py): {text!r}")
        for text in todo:
            print(f"{language}: needs a translation (empty or fuzzy): {text!r}")
        waiting += len(todo)
        print(f"{_shown(po_path(language))}: {len(todo)} to translate")
    if waiting:
        print("write the msgstr (and delete the '#, fuzzy' line), then run python -m bot.locale again")
    return 1 if waiting else 0
