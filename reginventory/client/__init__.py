"""The registry client: references, manifests, auth and transport, and the registry operations."""

import sys


def _import_httpx_without_its_cli() -> None:
    """Import httpx without ``httpx._main``, its command-line client.

    httpx imports that module when click, rich and pygments are installed (typer brings them):
    ~0.1 s of every start, for code reginventory never runs. httpx falls back to a stub ``main``
    when the import fails; the block lasts only while httpx itself is imported, so an explicit
    ``import httpx._main`` later still works.
    """
    if "httpx" in sys.modules or "httpx._main" in sys.modules:
        return
    sys.modules["httpx._main"] = None  # type: ignore[assignment]
    try:
        import httpx  # noqa: F401
    finally:
        del sys.modules["httpx._main"]


_import_httpx_without_its_cli()
