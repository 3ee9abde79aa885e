"""`python -m bot.locale`: extract bot/texts.py, update the .po files, compile them (see catalogs.py)."""

from __future__ import annotations

import sys

from bot.locale.catalogs import main

sys.exit(main())
