"""The engine's Clock on an asyncio event loop (real, monotonic time)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["AsyncioClock"]


class AsyncioClock:
    """Implements :class:`sizing.sip.interfaces.Clock` with ``loop.time()`` and ``call_later``.

    Timers are asyncio TimerHandles, whose ``cancel()`` is idempotent as the
    engine expects. The loop is the running one unless given.
    """

    __slots__ = ("_loop",)

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop if loop is not None else asyncio.get_running_loop()

    def now(self) -> float:
        return self._loop.time()

    def call_later(self, delay_s: float, callback: Callable[[], object]) -> asyncio.TimerHandle:
        if not delay_s >= 0:  # also rejects NaN
            raise ValueError(f"call_later delay must be >= 0 seconds, got {delay_s!r}")
        return self._loop.call_later(delay_s, callback)
