"""Benchmark: how fast the quick commands of the command line start, against a bare Python.

What is measured, each as a fresh process, wall clock from start to exit:

* ``baseline python -c pass``: a bare interpreter starting and doing nothing: this Python in a
  new, empty virtual environment made for the run (``venv``, no pip), so that no ``.pth`` file
  of any site-packages runs (the base installation's own may import anything: on the
  development machine one imports ``certifi`` and ``pathlib``, 25 ms);
* ``this environment's python -c pass``: the environment's own interpreter doing nothing, for
  reference only. It can be much slower than the bare one: the ``.pth`` files of its
  site-packages run at every start, and an editable install's (``pip install -e``) imports
  setuptools' finder, with ``pathlib`` and ``importlib.util``: about 11 ms on the development
  machine, half the bare interpreter's time. Every command here pays that too, so measure in an
  environment made by ``pip install .`` (as the README's first command makes it) for what users see;
* ``--version``, ``--help``;
* ``check``, ``preview latest`` and ``search 模型`` on a posts folder (default: the repository's
  example posts), with a configuration file in a temporary folder that names that posts folder
  and a database there: ``search`` uses its index file there, built by the untimed first run,
  as it would be on a machine where the bot runs;
* ``import bot.cli``: ``python -c "import bot.cli"``, what every command pays before it parses
  its arguments;
* ``floor``: ``python -c "import yaml, argparse, logging, dataclasses, pathlib, typing"`` with
  this environment's Python, for reference: PyYAML (python-frontmatter's parser, which every
  command that reads a post needs) and the standard modules every such command here uses, and
  nothing of ours.

The commands run as users run them: the environment's ``ai-news-bot`` script (``python -m bot``
when there is none), with the repository first on ``PYTHONPATH`` so that its code is measured.
For the figures users see, run it with the Python of an environment made by ``pip install .``::

    python3 -m venv /tmp/users && /tmp/users/bin/pip install . \
        && PYTHONPATH=. /tmp/users/bin/python bench/bench_startup.py

Every process runs with its bytecode cached (``PYTHONPYCACHEPREFIX`` in a temporary folder, each
command run once untimed before measuring), as an installed package would: without it the
repository's modules would be compiled from source on every start (``PYTHONDONTWRITEBYTECODE``)
and that would be measured instead. The rounds interleave the baseline and the commands, the
order reversed every other round, so that the load of a shared machine falls on both alike; the
median of ``--repeat`` rounds is reported, with the ratio median(command) / median(baseline).

The goal, printed with PASS/FAIL (the script always exits 0; it is a report): every command
above starts in at most ``--max-ratio`` (4) times the baseline. tests/test_startup.py checks the
other half of the promise: none of them imports python-telegram-bot, tornado or httpx.

Run from the repository root::

    .venv/bin/python bench/bench_startup.py                 # 15 rounds, the example posts
    .venv/bin/python bench/bench_startup.py --repeat 30 --posts ../some/posts
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_POSTS = REPO / "posts"
BASELINE = "baseline python -c pass"
ENVIRONMENT = "this environment's python -c pass"
IMPORT = "import bot.cli"
FLOOR = "floor"
FLOOR_MODULES = "yaml, argparse, logging, dataclasses, pathlib, typing"
MAX_RATIO = 4.0


def bare_python(folder: Path) -> Path:
    """The interpreter of a new, empty virtual environment in `folder`: a bare `python`."""
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(folder)
    return folder / ("Scripts" if os.name == "nt" else "bin") / "python"


def cli_command() -> list[str]:
    """`ai-news-bot` as users run it: this environment's script, else `python -m bot`."""
    script = shutil.which("ai-news-bot", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "bot"]


def commands(posts: Path, config: Path, bare: Path) -> dict[str, list[str]]:
    """Each measured process's command line."""
    cli = cli_command()
    options = ["--config", str(config), "--posts", str(posts)]
    return {
        BASELINE: [str(bare), "-c", "pass"],
        ENVIRONMENT: [sys.executable, "-c", "pass"],
        "--version": [*cli, "--version"],
        "--help": [*cli, "--help"],
        "check": [*cli, "check", *options],
        "preview latest": [*cli, "preview", "latest", *options],
        "search 模型": [*cli, "search", "模型", "--config", str(config)],
        IMPORT: [sys.executable, "-c", "import bot.cli"],
        FLOOR: [sys.executable, "-c", f"import {FLOOR_MODULES}"],
    }


def environment(cache: Path) -> dict[str, str]:
    """This environment with the repository first on the path and bytecode cached in `cache`."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    for name in ("AI_NEWS_BOT_CONFIG", "TELEGRAM_BOT_TOKEN", "AI_NEWS_BOT_DATABASE"):
        env.pop(name, None)
    return env


def run_once(arguments: Sequence[str], env: dict[str, str], cwd: Path) -> float:
    """One process's wall time; a failing command stops the benchmark with its output."""
    started = time.perf_counter()
    done = subprocess.run(arguments, env=env, cwd=cwd, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(arguments)} exited {done.returncode}:\n{done.stderr.decode()}")
    return elapsed


def measure(
    runs: dict[str, list[str]], env: dict[str, str], cwd: Path, repeat: int
) -> dict[str, list[float]]:
    for arguments in runs.values():  # untimed: bytecode written, the search index built
        run_once(arguments, env, cwd)
    times: dict[str, list[float]] = {name: [] for name in runs}
    order = list(runs)
    for round_ in range(repeat):
        for name in order if round_ % 2 == 0 else reversed(order):
            times[name].append(run_once(runs[name], env, cwd))
    return times


def report(times: dict[str, list[float]], max_ratio: float) -> list[str]:
    base, own = statistics.median(times[BASELINE]), statistics.median(times[ENVIRONMENT])
    width = max(len(name) for name in times)
    lines = [f"{BASELINE:<{width}}  {base * 1000:7.1f} ms"]
    for name, runs in times.items():
        if name == BASELINE:
            continue
        median = statistics.median(runs)
        ratio = median / base
        tail = f"goal <= {max_ratio:g}x: {'PASS' if ratio <= max_ratio else 'FAIL'}"
        if name == IMPORT:
            tail = f"(the import itself: {(median - own) * 1000:+.1f} ms over this environment's start)"
        elif name == FLOOR:
            tail = f"(import {FLOOR_MODULES} in this environment: nothing of ours)"
        elif name == ENVIRONMENT:
            tail = f"(its site-packages' start-up: {(median - base) * 1000:+.1f} ms, in every command)"
        lines.append(f"{name:<{width}}  {median * 1000:7.1f} ms  ratio {ratio:5.2f}  {tail}")
    lines.append("")
    for name, runs in times.items():
        lines.append(f"runs {name}: " + "  ".join(f"{t * 1000:.0f}" for t in runs) + " ms")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=15, help="rounds (default 15)")
    parser.add_argument(
        "--posts", type=Path, default=EXAMPLE_POSTS, help="posts folder (default: the example posts)"
    )
    parser.add_argument(
        "--max-ratio", type=float, default=MAX_RATIO, help="goal: at most this times the baseline (4)"
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    posts = args.posts.resolve()

    wall = time.perf_counter()
    print(f"Python {platform.python_version()} ({platform.python_implementation()}) on {platform.platform()}")
    print(f"CPUs: {os.cpu_count()}; posts: {posts}; {args.repeat} rounds, medians of wall time")
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as scratch:
        folder = Path(scratch)
        config = folder / "config.toml"
        config.write_text(f'[posts]\ndir = "{posts}"\n[storage]\ndatabase = "{folder / "bot.db"}"\n', "utf-8")
        env = environment(folder / "pycache")
        runs = commands(posts, config, bare_python(folder / "bare"))
        print(f"commands run as: {' '.join(runs['--version'][:-1])}")
        times = measure(runs, env, folder, args.repeat)
    print()
    print("\n".join(report(times, args.max_ratio)))
    print()
    print("ratio = median(command) / median(baseline), both measured in the same rounds.")
    print(f"total wall time: {time.perf_counter() - wall:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
