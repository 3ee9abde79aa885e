"""What a search that found nothing offers instead: the closest topic names, synonyms and post titles.

`closest` is pure: the names (`suggestion_names` of the configuration) and the titles (of the
posts a reader may see) come from the caller, in the order ties should keep; `that_find` keeps
those whose search finds a post (the caller's search, which may leave posts out). Matching is on
`fold`ed text, as the search matches, with difflib's similarity ratio, as `bot.tags.suggest_tags`
does for tags. `suggestion_query` is the search a suggestion stands for (its button runs it).
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from bot.search import parse_query
from bot.text import ELLIPSIS, clip, fold, one_line

# difflib's similarity ratio below which a name is not worth suggesting (its own default, as for tags).
NAME_CUTOFF = 0.6
# A title is long and has a stretch that looks like almost anything short: a stretch of it must
# be closer to the query than a name must be.
TITLE_CUTOFF = 0.75
MAX_TITLE = 30  # characters (UTF-16 units) of a title shown as a suggestion
# The shortest query a title is compared with: one character is in half of the titles.
MIN_TITLE_PROBE = 2
_QUOTES = str.maketrans({'"': " ", "“": " ", "”": " "})
# The end of a name that is a prefix rather than a word ("GPT-" stands for GPT-4, GPT-5...).
_NAME_TAIL = " -_.:/"


def closest(query: str, names: Sequence[str], titles: Sequence[str], n: int = 3) -> list[str]:
    """Up to `n` of `names`, then of `titles`, close to what `query` looks for, closest first.

    A name is compared with the whole query and with each of its words (`-word` exclusions
    left out), so `英伟达 xyzzy` suggests 英伟达; a title is compared stretch by stretch with the
    whole query. A suggestion that is the query itself is left out, so is a title that has a
    suggested name in it, and a title is clipped to `MAX_TITLE`. Ties keep the order of `names`
    and `titles`.
    """
    if n <= 0:
        return []
    terms = parse_query(query).terms
    key = " ".join(terms)
    if not key:
        return []
    probes = list(dict.fromkeys([key, *terms]))
    seen = {key}
    named = _keyed(((cleaned, cleaned) for cleaned in map(_name, names)), seen)
    found = _best(
        ((shown, max(_ratio(p, folded) for p in probes)) for shown, folded in named), NAME_CUTOFF, n
    )
    if len(found) < n and len(key) >= MIN_TITLE_PROBE:
        # A title with a suggested name in it is what that name's search finds first: no need.
        named_keys = [" ".join(fold(name).split()) for name in found]
        titled = (
            (shown, folded)
            for shown, folded in _keyed(((clip(one_line(title), MAX_TITLE), title) for title in titles), seen)
            if not any(name in folded for name in named_keys)
        )
        scores = ((shown, _stretch_ratio(key, folded)) for shown, folded in titled)
        found += _best(scores, TITLE_CUTOFF, n - len(found))
    return found


def that_find(suggestions: Iterable[str], finds: Callable[[str], bool], n: int = 3) -> list[str]:
    """The first `n` suggestions whose search (`suggestion_query`) `finds` something: a name no
    post mentions would be one more dead end."""
    found: list[str] = []
    for suggestion in suggestions:
        if len(found) >= n:
            break
        if finds(suggestion_query(suggestion)):
            found.append(suggestion)
    return found


def suggestion_query(suggestion: str) -> str:
    """The search a suggestion from `closest` stands for: a clipped title without its "…", and
    quoted (as one phrase) when it has spaces, so `Ant Group` is not `Ant` and `Group` anywhere,
    or starts with "-", which would exclude it."""
    text = " ".join(suggestion.removesuffix(ELLIPSIS).translate(_QUOTES).split())
    return f'"{text}"' if " " in text or text.startswith("-") else text


def suggestion_names(config: Any) -> list[str]:
    """The names a search may have meant: each topic's name and aliases (config.topics), then each
    search synonym entity's name and names, from `config.search.synonyms` or `config.search_synonyms`
    (bot/synonyms.py `Entity(name, names)`) when the configuration has them."""
    names: list[str] = []
    for topic in getattr(config, "topics", ()):
        names += [topic.name, *topic.aliases]
    synonyms = getattr(getattr(config, "search", None), "synonyms", None)
    if synonyms is None:
        synonyms = getattr(config, "search_synonyms", None)
    for entity in synonyms or ():
        name = getattr(entity, "name", None)
        names += [text for text in (name, *getattr(entity, "names", ())) if isinstance(text, str)]
    return names


def _name(name: str) -> str:
    """A name as a suggestion: one line, without the dash of a prefix alias (`GPT-` -> `GPT`)."""
    return one_line(name).rstrip(_NAME_TAIL)


def _keyed(texts: Iterable[tuple[str, str]], seen: set[str]) -> Iterator[tuple[str, str]]:
    """(text to show, folded text to match) for each (shown, original) pair whose texts are not
    blank and not seen yet (in `seen`, which this updates): a title is matched whole, shown clipped."""
    for shown, original in texts:
        folded = " ".join(fold(one_line(original)).split())
        shown_key = " ".join(fold(shown).split())
        if not folded or not shown_key or folded in seen or shown_key in seen:
            continue
        seen.update((folded, shown_key))
        yield shown, folded


def _best(scores: Iterable[tuple[str, float]], cutoff: float, n: int) -> list[str]:
    """The `n` texts with the highest scores of at least `cutoff`; ties in the order given."""
    kept = [(score, order, text) for order, (text, score) in enumerate(scores) if score >= cutoff]
    kept.sort(key=lambda item: (-item[0], item[1]))
    return [text for _, _, text in kept[:n]]


def _ratio(probe: str, text: str) -> float:
    return difflib.SequenceMatcher(None, probe, text, autojunk=False).ratio()


def _stretch_ratio(probe: str, text: str) -> float:
    """The best similarity ratio of `probe` with a stretch of `text` as long as it, give or take a
    character (one left out, one too many)."""
    size = len(probe)
    if len(text) <= size + 1:
        return _ratio(probe, text)
    # No stretch can share more characters with the probe than the whole text does.
    common = Counter(probe) & Counter(text)
    shared, shared_chars = sum(common.values()), set(common)
    if 2 * shared / (2 * size - 1) < TITLE_CUTOFF:
        return 0.0
    matcher = difflib.SequenceMatcher(None, autojunk=False)
    matcher.set_seq2(probe)
    best = 0.0
    # A stretch that starts with a character the probe lacks is no closer than the one after it.
    starts = [at for at, char in enumerate(text) if char in shared_chars]
    for width in (size - 1, size, size + 1):
        for start in (at for at in starts if at + width <= len(text)):
            matcher.set_seq1(text[start : start + width])
            if matcher.real_quick_ratio() > best and matcher.quick_ratio() > best:
                best = max(best, matcher.ratio())
    return best
