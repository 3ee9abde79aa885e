"""ai-news-bot: publish the aicode.cc AI 日报 to Telegram and answer readers' questions about it."""
