"""`python -m bot`: the same as the `ai-news-bot` command."""

from bot.cli import main_exit

if __name__ == "__main__":  # not when a process the search index starts imports it (spawn)
    main_exit()
