"""Pacing readers: per-user and per-group budgets for answers, so a flood of /search cannot spend
Telegram's limits (20 messages a minute in a group) that the daily post and other readers need
(docs/reliability.md, case 26).

Token buckets in memory: each instance paces what it sends itself, like PTB's AIORateLimiter.
Several instances behind webhooks would each allow this much; a shared budget belongs with the
shared database then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# At most this many buckets are kept; beyond it, full ones (idle keys) are forgotten.
MAX_KEYS = 10_000

Verdict = Literal["answer", "slow_down", "ignore"]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


@dataclass(slots=True)
class TokenBuckets:
    """`capacity` tokens per key, refilled evenly over `per_seconds`."""

    capacity: int
    per_seconds: float
    _buckets: dict[object, _Bucket] = field(default_factory=dict)

    def take(self, key: object, now: float) -> float:
        """Take a token: 0.0 when one was there, else the seconds until one will be."""
        rate = self.capacity / self.per_seconds
        bucket = self._buckets.get(key)
        if bucket is None:
            self._forget_idle(now)
            bucket = self._buckets[key] = _Bucket(float(self.capacity), now)
        bucket.tokens = min(self.capacity, bucket.tokens + max(0.0, now - bucket.at) * rate)
        bucket.at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / rate

    def _forget_idle(self, now: float) -> None:
        if len(self._buckets) < MAX_KEYS:
            return
        rate = self.capacity / self.per_seconds
        self._buckets = {
            key: bucket
            for key, bucket in self._buckets.items()
            if bucket.tokens + (now - bucket.at) * rate < self.capacity
        }


# A reader may ask this often (burst, then one per per_seconds / capacity).
USER_BURST, USER_PERIOD = 4, 30.0
PRIVATE_BURST, PRIVATE_PERIOD = 10, 30.0
# Answers per group and minute: Telegram allows 20; 5 stay free for the daily post (when the
# group is the target), admins and the slow-down notes.
GROUP_ANSWERS, GROUP_PERIOD = 15, 60.0


@dataclass(slots=True)
class ReaderLimits:
    """Whether to answer a reader's command or button now."""

    users: TokenBuckets = field(default_factory=lambda: TokenBuckets(USER_BURST, USER_PERIOD))
    private: TokenBuckets = field(default_factory=lambda: TokenBuckets(PRIVATE_BURST, PRIVATE_PERIOD))
    groups: TokenBuckets = field(default_factory=lambda: TokenBuckets(GROUP_ANSWERS, GROUP_PERIOD))
    # One "slow down" note per reader and period; more would be a flood of its own.
    notes: TokenBuckets = field(default_factory=lambda: TokenBuckets(1, USER_PERIOD))

    def check(self, chat_id: int, user_id: int, *, group: bool, now: float) -> tuple[Verdict, float]:
        """("answer", 0) or, over a budget, ("slow_down" once, then "ignore") with the wait in seconds."""
        wait = (self.users if group else self.private).take((chat_id, user_id), now)
        if wait == 0 and group:
            wait = self.groups.take(chat_id, now)
        if wait == 0:
            return "answer", 0.0
        if self.notes.take((chat_id, user_id), now) == 0 and (
            not group or self.groups.take(chat_id, now) == 0
        ):
            return "slow_down", wait
        return "ignore", wait
