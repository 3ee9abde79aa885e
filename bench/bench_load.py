"""Benchmark: cold load + render of the blog's posts, against plain `frontmatter.load` as a baseline.

What is measured, on two folders of Markdown posts:

* ``baseline frontmatter.load``: ``frontmatter.load(path)`` (python-frontmatter) of every ``*.md``
  file in the folder, listing included, results kept in a list; nothing else.
* ``ours load``: ``load_posts(folder, site_url="https://aicode.cc")`` from ``bot.posts``: read,
  validate and normalise every file into a ``Post`` (front matter checks, body cleanup, summary,
  sha256 of the bytes, problems list).
* ``ours load+render``: the same ``load_posts`` call, then
  ``render_post(post, chat_id="@ai_news_plus")`` for every loaded post (all of them, not only the
  daily ones): the cost a cold start of the bot pays before it can publish anything.
* ``render alone``: the render part of each ``ours load+render`` run, timed on its own inside that
  run (median), so the cost of rendering itself is visible without subtracting two noisy medians.

"Cold" means every measurement is a fresh call in the same process: nothing in ``bot`` caches
parsed posts, and every result is dropped (and ``gc.collect()`` run) before the next measurement.
It does *not* mean a cold OS page cache: all files are read once, untimed, before the first
measurement, so that the baseline and ours read from the same warm cache whatever runs first.
Each variant runs ``--repeat`` times; the order is reversed every round (baseline first, then
ours first) and the median is reported, with every run's time for judging the noise.

The folders:

* (a) the real corpus: ``../shared/corpus/posts`` beside the repository, or
  ``$AI_NEWS_BOT_CORPUS/posts``; skipped when it is not there.
* (b) a generated folder of ``--posts-count`` posts (default 10,000) in ``bench/.data/`` (git-ignored).
  With the corpus present its files are cycled through, each written under a new unique name
  ``<date>-<uuid>.md`` with the front matter's ``date:`` shifted back by 10 years per cycle (so
  dates differ), all other bytes unchanged. Without the corpus, synthetic posts of the same shape
  are written (front matter with title, date, category "AI 日报", tags, coverImage, a "- " bullet
  summary; ``##`` sections of ``### [headline](url)`` items and Chinese paragraphs, ~15 KB,
  ending in the web-only ``<div class="telegram-card">`` block). The folder is reused while its
  file count and source match, otherwise regenerated.

The goals (README.md, "Benchmark"), each printed with PASS/FAIL (the script always exits 0; it is a report):

* "rendering adds at most 20% over the baseline": checked as
  median(render alone) / median(baseline) <= 0.20, on each folder. The ratio of the whole cold
  start, median(ours load+render) / median(baseline), is printed beside it: our load validates
  and normalises more than ``frontmatter.load`` does, and that cost is shown, not hidden.
* "10,000 posts load in under 10 s on this 2-core machine": checked as
  median(ours load+render) < 10 s on the generated folder when it has 10,000 posts.

Run from the repository root::

    .venv/bin/python bench/bench_load.py                    # 10,000 generated posts, 3 repeats
    .venv/bin/python bench/bench_load.py --posts-count 2000 --repeat 5
    .venv/bin/python bench/bench_load.py --profile          # also cProfile one load+render
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import io
import os
import platform
import pstats
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import frontmatter
import yaml

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `python bench/bench_load.py` puts bench/, not the repository, on the path
    sys.path.insert(0, str(REPO))

from bot.posts import load_posts  # noqa: E402
from bot.render import render_post  # noqa: E402

SITE_URL = "https://aicode.cc"
CHAT_ID = "@ai_news_plus"
DATA_DIR = REPO / "bench" / ".data"  # git-ignored
DEFAULT_CORPUS = REPO.parent / "shared" / "corpus"
# The goals README.md's "Benchmark" section states.
MAX_OVERHEAD = 0.20
GOAL_POSTS = 10_000
GOAL_SECONDS = 10.0
# Generated copies of the corpus move back this many days per pass over it, so dates differ.
SHIFT_DAYS_PER_CYCLE = 3653
UUID_NAMESPACE = uuid.UUID("5d0c6c2e-6f2a-4c61-9b1e-2b9a3f1c7e10")
_DATE_LINE = re.compile(rb"^date:[ \t]*(\d{4})-(\d{2})-(\d{2})", re.MULTILINE)
SOURCE_FILE = "SOURCE.txt"  # not *.md, so neither loader sees it


# -- the generated folder -----------------------------------------------------------------------


def corpus_posts_dir(explicit: Path | None) -> Path:
    base = explicit or Path(os.environ.get("AI_NEWS_BOT_CORPUS", DEFAULT_CORPUS))
    return base / "posts"


def _shifted_copy(raw: bytes, cycle: int) -> tuple[dt.date, bytes]:
    """The file's bytes with its front matter `date:` moved back `cycle` * 10 years."""
    end = raw.find(b"\n---", 3)  # the closing line of the front matter
    match = _DATE_LINE.search(raw, 0, end if end > 0 else len(raw))
    if match is None:
        raise ValueError("no 'date: YYYY-MM-DD' line in the front matter")
    old = dt.date(int(match[1]), int(match[2]), int(match[3]))
    new = old - dt.timedelta(days=SHIFT_DAYS_PER_CYCLE * cycle)
    return new, raw[: match.start(1)] + new.isoformat().encode() + raw[match.end(3) :]


def _write_from_corpus(target: Path, corpus: Path, count: int) -> None:
    sources = sorted(corpus.glob("*.md"))
    if not sources:
        raise SystemExit(f"no *.md files in {corpus}")
    raws = [path.read_bytes() for path in sources]
    for index in range(count):
        cycle, which = divmod(index, len(sources))
        date, data = _shifted_copy(raws[which], cycle)
        name = uuid.uuid5(UUID_NAMESPACE, f"{index}:{sources[which].name}")
        (target / f"{date.isoformat()}-{name}.md").write_bytes(data)


# Words for synthetic posts (written for this benchmark, not taken from any post).
# A space-separated string keeps the list readable (a tuple literal formats one word a line).
_WORDS = (  # noqa: SIM905
    "人工智能 大模型 开源 推理 训练 数据集 发布 研究团队 性能 显著 提升 多模态 智能体 芯片 算力 企业 用户 "
    "开发者 平台 应用 场景 能力 评测 基准 成本 降低 效率 安全 合规 监管 市场 融资 产品 更新 版本 接口 "
    "上下文 长文本 代码 生成 图像 视频 语音 机器人 具身智能 自动驾驶 云服务 合作 宣布 推出 支持 部署 端侧 "
    "参数 架构 优化 实验 结果 表明 未来 趋势 行业 生态"
).split()
_SECTIONS = ("模型发布", "产品与应用", "研究进展", "行业动态", "投融资", "政策与安全")


def _sentence(rng: random.Random) -> str:
    clauses = ["".join(rng.choices(_WORDS, k=rng.randint(4, 9))) for _ in range(rng.randint(2, 4))]
    return "，".join(clauses) + "。"


def _paragraph(rng: random.Random) -> str:
    return "".join(_sentence(rng) for _ in range(rng.randint(3, 6)))


def synthetic_post(index: int, date: dt.date, rng: random.Random) -> str:
    """One post shaped like the blog's AI 日报: front matter, linked headlines, ~15 KB."""
    headlines: list[tuple[str, str]] = []
    body: list[str] = []
    size = 0
    section = 0
    while size < 12_500:
        title = f"{'一二三四五六七八九十'[section % 10]}、{_SECTIONS[section % len(_SECTIONS)]}"
        body.append(f"## {title}\n\n{_paragraph(rng)}\n")
        for item in range(rng.randint(2, 4)):
            headline = "".join(rng.choices(_WORDS, k=rng.randint(4, 8)))
            url = f"https://news.example.com/{index}/{section}-{item}"
            headlines.append((headline, url))
            body.append(f"### [{headline}]({url})\n\n{_paragraph(rng)}\n\n{_paragraph(rng)}\n")
        section += 1
        size = len("\n".join(body).encode())
    summary = "\n".join(f"- {h}" for h, _ in headlines[:12])
    title = f"AI 日报：{headlines[0][0]}"
    tags = ", ".join(f'"{t}"' for t in ("AI", "AI 日报", *rng.sample(_WORDS, 3)))
    front = (
        f'---\ntitle: "{title}"\ndate: {date.isoformat()}\ncategory: "AI 日报"\ntags: [{tags}]\n'
        f'coverImage: "https://img.example.com/covers/{index}.png"\n'
        f"summary: |\n" + "".join(f"  {line}\n" for line in summary.splitlines()) + "---\n"
    )
    card = (
        '<div class="telegram-card">\n  <div class="telegram-card__title">加入 Telegram 群组</div>\n'
        '  <a class="telegram-card__cta" href="https://t.me/ai_news_plus">@ai_news_plus</a>\n</div>\n'
    )
    return f"{front}# {title}\n\n" + "\n".join(body) + f"\n---\n\n{card}"


def _write_synthetic(target: Path, count: int) -> None:
    rng = random.Random(20260822)  # deterministic: the same folder on every machine
    first = dt.date(2026, 8, 22)
    for index in range(count):
        date = first - dt.timedelta(days=index)
        name = uuid.uuid5(UUID_NAMESPACE, f"synthetic:{index}")
        (target / f"{date.isoformat()}-{name}.md").write_text(synthetic_post(index, date, rng), "utf-8")


def generated_folder(count: int, corpus: Path | None, data_dir: Path) -> tuple[Path, str]:
    """The folder of `count` generated posts, (re)written only if missing or different."""
    source = f"corpus {corpus}" if corpus else "synthetic"
    folder = data_dir / f"posts-{count}"
    marker = folder / SOURCE_FILE
    if (
        folder.is_dir()
        and marker.is_file()
        and marker.read_text("utf-8").strip() == source
        and sum(1 for _ in folder.glob("*.md")) == count
    ):
        return folder, f"{source} (reused {folder})"
    data_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    staging = Path(tempfile.mkdtemp(prefix=f"posts-{count}-", dir=data_dir))
    try:
        if corpus:
            _write_from_corpus(staging, corpus, count)
        else:
            _write_synthetic(staging, count)
        (staging / SOURCE_FILE).write_text(source + "\n", "utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    took = time.perf_counter() - started
    return folder, f"{source} (generated {folder} in {took:.1f} s)"


# -- measuring ----------------------------------------------------------------------------------


def baseline(folder: Path) -> object:
    return [frontmatter.load(path) for path in sorted(folder.glob("*.md"))]


def ours_load(folder: Path) -> object:
    return load_posts(folder, site_url=SITE_URL)


def ours_load_render(folder: Path) -> object:
    library = load_posts(folder, site_url=SITE_URL)
    rendering = time.perf_counter()
    calls = [render_post(post, chat_id=CHAT_ID) for post in library.posts]
    return library, calls, time.perf_counter() - rendering


VARIANTS: dict[str, Callable[[Path], object]] = {
    "baseline frontmatter.load": baseline,
    "ours load": ours_load,
    "ours load+render": ours_load_render,
}


@dataclass
class Result:
    name: str
    files: int
    times: dict[str, list[float]] = field(default_factory=dict)
    render_times: list[float] = field(default_factory=list)  # the render part of each load+render run
    notes: list[str] = field(default_factory=list)

    def median(self, variant: str) -> float:
        return statistics.median(self.times[variant])


def _describe_output(variant: str, output: object) -> str:
    if variant == "ours load+render":
        assert isinstance(output, tuple)
        library, calls, _ = output
        errors = sum(1 for p in library.problems if p.severity == "error")
        return (
            f"ours: {len(library.posts)} posts loaded, {errors} errors, "
            f"{len(library.problems) - errors} warnings; {len(calls)} posts rendered "
            f"to {sum(len(c) for c in calls)} API calls"
        )
    if variant == "baseline frontmatter.load":
        assert isinstance(output, list)
        return f"baseline: {len(output)} files loaded"
    return ""


def measure(name: str, folder: Path, repeat: int) -> Result:
    files = sorted(folder.glob("*.md"))
    for path in files:  # warm the OS page cache, untimed, so the first variant is not penalised
        path.read_bytes()
    result = Result(name, len(files), {variant: [] for variant in VARIANTS})
    order = list(VARIANTS)
    for round_ in range(repeat):
        for variant in order if round_ % 2 == 0 else reversed(order):
            gc.collect()
            started = time.perf_counter()
            output = VARIANTS[variant](folder)
            elapsed = time.perf_counter() - started
            result.times[variant].append(elapsed)
            if variant == "ours load+render":
                assert isinstance(output, tuple)
                result.render_times.append(output[2])
            if round_ == 0 and (note := _describe_output(variant, output)):
                result.notes.append(note)
            del output
    return result


# -- reporting ----------------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(result: Result) -> list[str]:
    label = f"{result.name} ({result.files} files)"
    base = result.median("baseline frontmatter.load")
    load = result.median("ours load")
    full = result.median("ours load+render")
    width = max(len(label), 28)
    lines: list[str] = []

    def row(first: str, what: str, seconds: float, tail: str = "") -> None:
        rate = result.files / seconds if seconds > 0 else float("inf")
        lines.append(f"{first:<{width}}  {what:<30}{seconds:8.3f} s {rate:8.0f} posts/s   {tail}".rstrip())

    row(label, "baseline frontmatter.load", base)
    row("", "ours load", load, f"ratio {load / base:.2f} ({(load / base - 1) * 100:+.0f}%)")
    ratio = full / base
    row("", "ours load+render", full, f"ratio {ratio:.2f} ({(ratio - 1) * 100:+.0f}%)")
    render = statistics.median(result.render_times)
    goal = f"goal <= +{MAX_OVERHEAD:.0%}: {_verdict(render / base <= MAX_OVERHEAD)}"
    row("", "render alone (in load+render)", render, f"adds {render / base * 100:+.0f}% of baseline  {goal}")
    if result.name.startswith("generated"):
        if result.files == GOAL_POSTS:
            verdict = _verdict(full < GOAL_SECONDS)
            lines.append(
                f"{'':<{width}}  goal {GOAL_POSTS:,} posts load+render < {GOAL_SECONDS:.0f} s: "
                f"{full:.2f} s  {verdict}"
            )
        else:
            scaled = full * GOAL_POSTS / result.files
            lines.append(
                f"{'':<{width}}  goal {GOAL_POSTS:,} posts < {GOAL_SECONDS:.0f} s: n/a with "
                f"{result.files} posts (linear extrapolation {scaled:.2f} s)"
            )
    for variant, times in result.times.items():
        runs = "  ".join(f"{t:.3f}" for t in times)
        lines.append(f"{'':<{width}}  runs {variant}: {runs} s")
    runs = "  ".join(f"{t:.3f}" for t in result.render_times)
    lines.append(f"{'':<{width}}  runs render alone: {runs} s")
    lines.extend(f"{'':<{width}}  {note}" for note in result.notes)
    return lines


def profile(folder: Path, top: int) -> str:
    """cProfile of one `ours load+render` on `folder`: top functions by own time and by cumulative."""
    profiler = cProfile.Profile()
    profiler.enable()
    ours_load_render(folder)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(r"bot[/\\]", top)
    stats.print_callers(r"method 'sub' of|method 'search' of|genexpr")
    return out.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--posts-count", type=int, default=GOAL_POSTS, help="generated posts (default 10000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each variant (default 3)")
    parser.add_argument(
        "--corpus",
        type=Path,
        help="corpus folder containing posts/ (default: $AI_NEWS_BOT_CORPUS or ../shared/corpus)",
    )
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="where the generated folder goes")
    parser.add_argument("--profile", action="store_true", help="also cProfile one load+render per folder")
    args = parser.parse_args(argv)
    if args.posts_count < 1 or args.repeat < 1:
        parser.error("--posts-count and --repeat must be at least 1")

    wall = time.perf_counter()
    cpus = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    print(f"Python {platform.python_version()} ({platform.python_implementation()}) on {platform.platform()}")
    print(
        f"CPUs: {cpus} (usable by this process: {usable}); python-frontmatter "
        f"{metadata.version('python-frontmatter')}, PyYAML {yaml.__version__} "
        f"(libyaml: {yaml.__with_libyaml__})"
    )
    print(f"repeat {args.repeat}, medians reported; all times in seconds of wall clock (perf_counter)")

    corpus = corpus_posts_dir(args.corpus)
    have_corpus = corpus.is_dir() and any(corpus.glob("*.md"))
    folders: list[tuple[str, Path]] = []
    if have_corpus:
        print(f"corpus: {corpus}")
        folders.append(("corpus", corpus))
    else:
        print(f"corpus: not found at {corpus} (set AI_NEWS_BOT_CORPUS); corpus row skipped")
    generated, how = generated_folder(args.posts_count, corpus if have_corpus else None, args.data_dir)
    print(f"generated posts from: {how}")
    folders.append(("generated", generated))
    print()

    for name, folder in folders:
        result = measure(name, folder, args.repeat)
        print("\n".join(report(result)))
        print()
        if args.profile:
            print(f"cProfile of one ours load+render on {folder}:")
            print(profile(folder, 25))

    print(
        "ratio = median(ours) / median(baseline). The +20% goal ('rendering adds at most 20% over the "
        "baseline') is checked on render alone / baseline; ours load+render is shown beside it."
    )
    print(f"total wall time: {time.perf_counter() - wall:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
