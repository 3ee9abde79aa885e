"""ai-news-bot: publish the aicode.cc AI 日报 to Telegram and answer readers' questions about it."""

__version__ = "0.1.0"
