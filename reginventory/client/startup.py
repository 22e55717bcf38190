"""httpx and aiohttp imported without two costs of every start that reginventory never needs.

- httpx imports its command-line client (``httpx._main``: click, rich, pygments) when those are
  installed, and typer brings them: ~0.1 s. httpx falls back to a stub ``main`` when that import
  fails; the block lasts only while httpx itself is imported, so an explicit
  ``import httpx._main`` later still works.
- aiohttp builds two default SSL contexts when imported, and each loads the system CA store
  (OpenSSL 3 parses every certificate: 0.1-0.15 s for both), also for a copy between plain-HTTP
  registries. The contexts are made as aiohttp makes them, but their CA store is loaded by a
  thread; OpenSSL releases the GIL meanwhile, so the rest of the start goes on beside it.
  Until the thread is done, a context of that import verifies nothing (it fails closed):
  :func:`wait_for_ca_stores` waits for it, and every aiohttp session of reginventory is made
  after it (:meth:`RegistryTransport.get_client`).

:func:`import_http_libraries` runs when ``reginventory.client`` is imported, before any module
imports httpx or aiohttp.
"""

from __future__ import annotations

import ssl
import sys
import threading

_loader: threading.Thread | None = None


def _import_httpx_without_its_cli() -> None:
    if "httpx" in sys.modules or "httpx._main" in sys.modules:
        return
    sys.modules["httpx._main"] = None  # type: ignore[assignment]
    try:
        import httpx  # noqa: F401
    finally:
        del sys.modules["httpx._main"]


def _import_aiohttp_loading_ca_stores_aside() -> None:
    global _loader
    if "aiohttp" in sys.modules:
        return
    own = vars(ssl.SSLContext).get("set_default_verify_paths")  # None: the C method is inherited
    load = ssl.SSLContext.set_default_verify_paths
    deferred: list[ssl.SSLContext] = []

    def defer(context: ssl.SSLContext) -> None:
        deferred.append(context)

    # ssl.create_default_context() reaches the store through this method too (load_default_certs).
    ssl.SSLContext.set_default_verify_paths = defer  # type: ignore[method-assign]
    try:
        import aiohttp  # noqa: F401
    finally:
        if own is None:
            del ssl.SSLContext.set_default_verify_paths
        else:
            ssl.SSLContext.set_default_verify_paths = own  # type: ignore[method-assign]
        if deferred:
            # Not a daemon: the interpreter waits for it before tearing modules down. A daemon
            # thread still inside OpenSSL when the contexts are freed crashed a quick exit
            # (``--help``) about one time in eight with SIGSEGV.
            _loader = threading.Thread(
                target=lambda: [load(context) for context in deferred], name="reginventory-ca-store", daemon=False
            )
            _loader.start()


def wait_for_ca_stores() -> None:
    """Return once the contexts aiohttp made at import have their CA store."""
    if _loader is not None:
        _loader.join()


def import_http_libraries() -> None:
    """Import httpx and aiohttp as described above (nothing happens if either is already in)."""
    _import_httpx_without_its_cli()
    _import_aiohttp_loading_ca_stores_aside()


__all__ = ["import_http_libraries", "wait_for_ca_stores"]
