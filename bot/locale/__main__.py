"""`python -m bot.locale`: extract bot/texts.py, update the .po files, compile them (see catalogs.py)."""

from __future__ import annotations

import sys

try:
    from bot.locale.catalogs import main
except ImportError as exc:  # Babel is a dev dependency: the bot itself reads the compiled .mo files
    sys.exit(f"python -m bot.locale needs Babel ({exc}): pip install -e '.[dev]'")

sys.exit(main())
