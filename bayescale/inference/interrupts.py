"""Ctrl-C and SIGTERM stop bayescale, even where a sampler catches the signal and returns early.

nutpie answers Ctrl-C by returning the draws it has; a fit made of them would look complete. While
:func:`interrupts_as_keyboard_interrupt` is active, SIGINT and SIGTERM are remembered and raise
``KeyboardInterrupt``; :func:`raise_if_interrupted` raises it again after a sampler that
swallowed it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_seen = threading.Event()


def _handler(signum, frame):
    _seen.set()
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextmanager
def interrupts_as_keyboard_interrupt() -> Iterator[None]:
    """Within this block, SIGINT and SIGTERM raise ``KeyboardInterrupt`` and are remembered.

    Outside the main thread (where Python cannot install signal handlers) it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    for number in previous:
        signal.signal(number, _handler)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def clear() -> None:
    """Forget an earlier interrupt (at the start of a new piece of work)."""
    _seen.clear()


def raise_if_interrupted() -> None:
    """Raise ``KeyboardInterrupt`` if an interrupt arrived since :func:`clear`."""
    if _seen.is_set():
        _seen.clear()
        raise KeyboardInterrupt("interrupted while sampling")
