"""Run the async client from synchronous code, also inside a running event loop (Jupyter).

Every synchronous call is handed to one background thread that owns an event loop; the
caller's thread blocks on the result. The connections of a client live on that loop, so the
same client serves many calls, and a notebook's own loop is never touched.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from typing import Any, Awaitable, Callable, Coroutine, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="reginventory-io", daemon=True)
            thread.start()
            _loop = loop
        return _loop


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on the background loop and wait for its result."""
    loop = _background_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        coroutine.close()
        raise RuntimeError("run_sync() called from the reginventory I/O thread: await the coroutine instead")
    return asyncio.run_coroutine_threadsafe(coroutine, loop).result()


_closers: list[Callable[[], Awaitable[None]]] = []


def close_at_exit(closer: Callable[[], Awaitable[None]]) -> None:
    """Run ``closer`` on the background loop when the interpreter exits (closes connections)."""
    _closers.append(closer)


@atexit.register
def _close_all() -> None:
    if _loop is None or _loop.is_closed() or not _closers:
        return

    async def close() -> None:
        for closer in _closers:
            try:
                await closer()
            except Exception:  # noqa: BLE001 - best effort at exit
                pass

    try:
        asyncio.run_coroutine_threadsafe(close(), _loop).result(timeout=5)
    except Exception:  # noqa: BLE001
        pass
