"""How long Rasa still waits for an action: a deadline sent with every call.

Rasa gives up on the action server after ``INTROCOACH_ACTION_TIMEOUT`` seconds
and tells the trainee so, but a slow or paused action server still has the
request and would run it later: it would store a score the trainee never saw.
So the Rasa server (``introcoach.rasa_server``) sends, with every call, the
moment it stops waiting (``X-IntroCoach-Deadline``, seconds since the epoch),
and the action server (``introcoach.action_server``) neither starts an action
after that moment nor lets it store anything once it has passed.
"""

from __future__ import annotations

import math
import time
from contextvars import ContextVar
from typing import Optional

HEADER = "X-IntroCoach-Deadline"

_current: ContextVar[Optional[float]] = ContextVar("introcoach_deadline", default=None)


def parse(raw: Optional[str]) -> Optional[float]:
    """The deadline in a header value, or None when absent or not a finite number."""
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def set_current(deadline: Optional[float]) -> None:
    """Set the deadline of the action call being handled (in its task's context)."""
    _current.set(deadline)


def passed(now: Optional[float] = None) -> bool:
    """True when the current call has a deadline and it is over."""
    deadline = _current.get()
    if deadline is None:
        return False
    return (time.time() if now is None else now) > deadline
