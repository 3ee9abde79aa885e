"""Helpers the test modules share: the running bot (`harness`), `python -m bot` as a process
(`processes`), the publishing fixtures' building blocks (`publishing`) and where things are (`paths`).

Test modules import from here (or from `tests.conftest`), never from one another.
"""
