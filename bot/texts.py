"""Every piece of text a reader sees, in one place (Chinese, for the blog's readers)."""

from __future__ import annotations

READ_MORE = "阅读全文"
# Shown when a message has no room for every summary bullet; n is how many were left out.
MORE_BULLETS = "…还有 {n} 条要点，见全文"
