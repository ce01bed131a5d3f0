"""What a failed send means for its message, by the kind of failure (bot/delivery/transport.py):

- rate limited: nobody sends to the platform until the time it named, then this message goes again;
- unreachable (blocked the bot, chat gone): nothing more goes to the chat until the person writes again;
- refused, or temporary too many times: this message is given up, and the chat's next one goes;
- temporary: this message is tried again later, backing off exponentially with jitter, and the
  chat's later messages wait behind it to keep their order.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import Enum

from bot.delivery.limits import Limits
from bot.delivery.transport import DeliveryError


class Verdict(Enum):
    SLOW_DOWN = "slow down"
    UNREACHABLE = "unreachable"
    GIVE_UP = "give up"
    RETRY = "retry"


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    wait: float = 0.0  # seconds: what the platform asked for (SLOW_DOWN), or the back-off (RETRY)


def decide(exc: DeliveryError, attempts: int, limits: Limits) -> Decision:
    """What to do after a send failed; `attempts`: the message's failed tries before this one."""
    if exc.retry_after:
        return Decision(Verdict.SLOW_DOWN, exc.retry_after)
    if exc.unreachable:
        return Decision(Verdict.UNREACHABLE)
    if exc.permanent or attempts + 1 >= limits.max_attempts:
        return Decision(Verdict.GIVE_UP)
    return Decision(Verdict.RETRY, backoff(attempts, limits))


def backoff(attempts: int, limits: Limits) -> float:
    """Seconds before the next try. The jitter keeps messages that failed together (the platform was
    down for everyone) from all coming back in the same second."""
    return min(limits.backoff_max, limits.backoff_base * 2**attempts) * (1 + random.random() / 2)
