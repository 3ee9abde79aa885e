"""Topic tags: which companies and products a post's title and `###` headlines name."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.text import fold, strip_inline

if TYPE_CHECKING:
    from bot.posts import Post


@dataclass(frozen=True, slots=True)
class Topic:
    """A topic label and the names that stand for it in a headline (matched ignoring case and width)."""

    name: str
    aliases: tuple[str, ...]


# The companies and products the blog's daily posts name most, most frequent first: the 25 in
# the title or a `###` headline of at least 22 of the 244 daily posts (9%), measured 2026-08 on
# the blog; config.example.toml ships the same map with the counts, and a test keeps the two
# equal. An alias is a Chinese or English name, a product only that company makes, or a chief
# executive who stands for the company in headlines; 马斯克 is a topic of his own, his news
# spans xAI, Tesla, SpaceX and OpenAI.
DEFAULT_TOPICS: tuple[Topic, ...] = (
    Topic("OpenAI", ("OpenAI", "ChatGPT", "GPT-", "Codex", "Sora", "奥尔特曼", "奥特曼", "Altman")),
    Topic("Anthropic", ("Anthropic", "Claude")),
    Topic("谷歌", ("谷歌", "Google", "Gemini", "DeepMind", "Gemma", "Alphabet")),
    Topic("阿里巴巴", ("阿里", "Alibaba", "通义", "千问", "Qwen", "万相")),
    Topic("英伟达", ("英伟达", "Nvidia", "黄仁勋")),
    Topic("微软", ("微软", "Microsoft", "Copilot")),
    Topic("DeepSeek", ("DeepSeek", "深度求索")),
    Topic("Meta", ("Meta", "Llama", "扎克伯格", "Zuckerberg")),
    Topic("xAI", ("xAI", "SpaceXAI", "Grok")),
    Topic("腾讯", ("腾讯", "Tencent", "混元", "元宝", "微信", "WeChat")),
    Topic(
        "字节跳动",
        ("字节", "ByteDance", "豆包", "火山引擎", "Seedance", "即梦", "扣子", "Coze", "抖音", "TikTok"),
    ),
    Topic("月之暗面", ("月之暗面", "Kimi", "Moonshot")),
    Topic("马斯克", ("马斯克", "Musk")),
    Topic("智谱", ("智谱", "Zhipu", "GLM", "ChatGLM", "Z.ai")),
    Topic("苹果", ("苹果", "Apple", "iPhone", "Siri")),
    Topic("MiniMax", ("MiniMax", "稀宇", "海螺AI", "Hailuo")),
    Topic("蚂蚁集团", ("蚂蚁", "Ant Group", "百灵", "灵波", "LingBot")),
    Topic("亚马逊", ("亚马逊", "Amazon", "AWS", "Alexa")),
    Topic("华为", ("华为", "Huawei", "昇腾", "鸿蒙", "HarmonyOS", "盘古")),
    Topic("OpenClaw", ("OpenClaw", "Clawdbot", "Moltbot", "龙虾", "养虾")),
    Topic("宇树科技", ("宇树", "Unitree")),
    Topic("小米", ("小米", "Xiaomi", "MiMo")),
    Topic("百度", ("百度", "Baidu", "文心", "ERNIE")),
    Topic("GitHub", ("GitHub",)),
    Topic("Cursor", ("Cursor", "Anysphere")),
)


# -- headlines ----------------------------------------------------------------------------------

_FENCE = re.compile(r"^ {0,3}(```+|~~~+)", re.MULTILINE)


def _code_blocks(body: str) -> list[tuple[int, int]]:
    """Where `body`'s fenced code blocks are (CommonMark 4.5): a `### comment` in a script is no headline."""
    blocks: list[tuple[int, int]] = []
    fence, opened = "", 0
    for mark in _FENCE.finditer(body):
        start = mark.start()
        end = body.find("\n", mark.end())
        end = len(body) if end == -1 else end
        if not fence:
            fence, opened = mark[1], start
        elif mark[1].startswith(fence) and not body[mark.end() : end].strip(" \t"):
            blocks.append((opened, end))
            fence = ""
    if fence:  # never closed: code to the end
        blocks.append((opened, len(body)))
    return blocks


def _h3_text(line: str) -> str | None:
    """The text of an ATX heading of exactly three # (CommonMark 4.2), None for any other line.

    Up to three spaces before "###", then a space or nothing, and an optional closing run of #:
    "### [OpenAI 发布 …](https://…)", "### 其他动态 ###"; "####" and "###foo" are not headings.
    """
    text = line.lstrip(" ")
    if len(line) - len(text) > 3 or not text.startswith("###") or text[3:4] not in ("", " ", "\t"):
        return None
    text = text[3:].strip(" \t")
    unclosed = text.rstrip("#")
    return unclosed.rstrip(" \t") if not unclosed or unclosed[-1] in " \t" else text


def headlines(body: str) -> list[str]:
    """The text of each `###` headline of a Markdown body, as a reader sees it (link text, no URL)."""
    code = _code_blocks(body) if "```" in body or "~~~" in body else []
    found: list[str] = []
    # str.find jumps from one "###" to the next: far faster than a multiline regex, which
    # tries every character of the (often 15 KB) body.
    at = body.find("###")
    while at != -1:
        start = body.rfind("\n", 0, at) + 1
        end = body.find("\n", at)
        end = len(body) if end == -1 else end
        markdown = _h3_text(body[start:end])
        if markdown and not (code and any(first <= start < last for first, last in code)):
            found.append(markdown)
        at = body.find("###", end)
    if not found:
        return []
    # One pass of each regex over all the headlines, not one per headline: a third of the time.
    lines = strip_inline("\n".join(found)).split("\n")
    return [text for line in lines if (text := " ".join(line.split()))]


# -- matching -----------------------------------------------------------------------------------


# A Latin alias is a whole word: "Meta" is not in "metadata", "AMD" is not in "AMDOCS". Letters
# and digits are separate runs, so "Qwen" is in "Qwen3" and "GPT-4" is not in "GPT-40"; an alias
# edge that is not a Latin letter or digit ("GPT-", any Chinese name) matches anywhere. The text
# is folded first, so lower-case letters are enough (with the accented ones: é, ü, ệ, ...).
_LATIN = re.compile("[a-z\u00e0-\u00f6\u00f8-\u024f\u1e00-\u1eff]")
_DIGIT = re.compile("[0-9]")


def _edge(char: str) -> re.Pattern[str] | None:
    """What the text beside an alias that starts or ends with `char` must not be."""
    return next((kind for kind in (_LATIN, _DIGIT) if kind.fullmatch(char)), None)


def _literal(alias: str) -> str:
    """A folded alias as a regex; its spaces are optional ("Hugging Face" is also "HuggingFace").

    A space, not a newline: the text has one headline a line, and a name does not run across two.
    """
    return " *".join(re.escape(word) for word in alias.split())


@dataclass(frozen=True, slots=True)
class _Alias:
    """One folded alias of topic `index`, and the test that it is in a text at a given place."""

    index: int
    text: str
    spaced: re.Pattern[str] | None  # only for an alias with a space, which the text may leave out
    before: re.Pattern[str] | None
    after: re.Pattern[str] | None

    @classmethod
    def of(cls, alias: str, index: int) -> _Alias:
        # The word edges are checked here, not as lookarounds in a regex per alias: compiling a
        # hundred of those with the accented-letter class takes a noticeable 40 ms.
        spaced = re.compile(_literal(alias)) if " " in alias else None
        return cls(index, alias, spaced, _edge(alias[0]), _edge(alias[-1]))

    def at(self, text: str, start: int) -> bool:
        if self.spaced is None:
            end = start + len(self.text) if text.startswith(self.text, start) else -1
        else:
            end = match.end() if (match := self.spaced.match(text, start)) else -1
        return not (
            end == -1
            or (self.before and start and self.before.match(text, start - 1))
            or (self.after and end < len(text) and self.after.match(text, end))
        )


@dataclass(frozen=True, slots=True, eq=False)  # hashed by identity: the per-post cache key stays cheap
class _Matcher:
    """One topic set, compiled: finds which topics a folded text names in one scan."""

    names: tuple[str, ...]
    # Where an alias may start: all aliases in one alternation of literals, which re scans fast
    # (it skips to the characters an alias starts with). Word edges are checked after: a
    # lookbehind in front would make re try every alternative at every character: 12x slower.
    starts: re.Pattern[str]
    by_first: dict[str, tuple[_Alias, ...]]  # first character -> the aliases to confirm
    # The topics of each post already looked at, by the sha256 of its file.
    seen: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False, compare=False)

    def indices_in(self, text: str) -> set[int]:
        found: set[int] = set()
        match = self.starts.search(text)
        while match is not None:
            start = match.start()
            for alias in self.by_first[text[start]]:
                if alias.index not in found and alias.at(text, start):
                    found.add(alias.index)
            if len(found) == len(self.names):
                break
            # From the next character, not the match's end: an alias may start inside another.
            match = self.starts.search(text, start + 1)
        return found


# The posts whose topics are remembered, per topic set: every post of a 10,000-post blog.
MAX_REMEMBERED = 16384


@functools.lru_cache(maxsize=16)  # one topic set per running bot; a few more in tests
def _matcher(topics: tuple[Topic, ...]) -> _Matcher:
    folded = {(fold(alias).strip(), index) for index, topic in enumerate(topics) for alias in topic.aliases}
    aliases = [_Alias.of(alias, index) for alias, index in sorted(folded) if alias]
    by_first: dict[str, list[_Alias]] = {}
    for alias in aliases:
        by_first.setdefault(alias.text[0], []).append(alias)
    return _Matcher(
        names=tuple(topic.name for topic in topics),
        starts=re.compile("|".join(dict.fromkeys(_literal(alias.text) for alias in aliases)) or "(?!)"),
        by_first={first: tuple(group) for first, group in by_first.items()},
    )


def _search_text(post: Post) -> str:
    """What topics are looked for in: the title and the `###` headlines, folded."""
    return fold("\n".join([post.title, *headlines(post.body)]))


def topics_of(post: Post, topics: tuple[Topic, ...]) -> tuple[str, ...]:
    """The names of the topics with an alias in the post's title or `###` headlines, in `topics` order.

    Remembered per topic set by the file's sha256 (the title and headlines are in the file), so a
    warm `/tag` only reads the memory.
    """
    if not topics:
        return ()
    matcher = _matcher(topics)
    found = matcher.seen.get(post.sha256)
    if found is None:
        indices = matcher.indices_in(_search_text(post))
        found = tuple(name for index, name in enumerate(matcher.names) if index in indices)
        if len(matcher.seen) >= MAX_REMEMBERED:
            matcher.seen.clear()  # a blog rewritten many times over: start again, rarely
        matcher.seen[post.sha256] = found
    return found


def clear_caches() -> None:
    """Forget compiled topic sets and every post's topics: for a benchmark that measures a cold start."""
    _matcher.cache_clear()


def matching_headlines(post: Post, topics: tuple[Topic, ...], names: Sequence[str]) -> list[str]:
    """The post's `###` headlines (else its title) that name one of the topics called `names`,
    in the post's order: what a reader who follows those topics is told the post is about."""
    chosen = tuple(topic for topic in topics if topic.name in names)
    if not chosen:
        return []
    matcher = _matcher(chosen)
    found = [line for line in headlines(post.body) if matcher.indices_in(fold(line))]
    if not found and matcher.indices_in(fold(post.title)):
        found = [post.title]
    return found


def resolve_topic(word: str, topics: tuple[Topic, ...]) -> Topic | None:
    """The topic a reader's word names: by its name or one of its aliases, ignoring case and width."""
    key = fold(word).strip().lstrip("#")
    if not key:
        return None
    for topic in topics:
        if key == fold(topic.name).strip() or any(key == fold(alias).strip() for alias in topic.aliases):
            return topic
    return None
