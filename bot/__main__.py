"""`python -m bot`: the same as the `ai-news-bot` command."""

import sys

from bot.cli import main

sys.exit(main())
