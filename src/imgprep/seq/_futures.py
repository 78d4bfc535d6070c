"""Waiting for a ``concurrent.futures.Future`` without ever blocking indefinitely.

A wait is a loop of short timed waits, so a Ctrl-C (``KeyboardInterrupt``) in the waiting thread
is acted on within ``POLL_SECONDS`` whatever the platform does with signals during lock waits.
"""

from __future__ import annotations

import concurrent.futures
from concurrent.futures import Future
from typing import TypeVar

__all__ = ["POLL_SECONDS", "wait_for"]

V = TypeVar("V")

POLL_SECONDS = 0.1


def wait_for(future: Future[V]) -> V:
    """The result of ``future`` (or its exception raised); ``CancelledError`` if cancelled."""
    while True:
        try:
            # result() waits on the future's own condition: a few calls per wait, where
            # concurrent.futures.wait() builds and removes a waiter object each time.
            return future.result(timeout=POLL_SECONDS)
        except concurrent.futures.TimeoutError:
            if future.done():  # the item itself raised TimeoutError (or just finished)
                return future.result()
