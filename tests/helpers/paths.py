"""Where the repository, its example posts and the blog are."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_POSTS = REPO / "posts"
SITE = "https://aicode.cc"
