"""Test support shipped with the package: the fake Telegram Bot API server (`bot.testing.fakeapi`).

Imported only by the tests and by `ai-news-bot demo`, never by the running bot (`run` does not
load tornado's server for it), like `structlog.testing`.
"""
