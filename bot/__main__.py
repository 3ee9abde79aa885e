"""`python -m bot`: the same as the `ai-news-bot` command."""

from bot.cli import main_exit

main_exit()
