"""The write commands, driven through the real Typer app against real registries."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
from typer.testing import CliRunner

from harness.images import inspect_raw, push, random_image, tag_existing
from reginventory.cli.app import app
from reginventory.cli.main import COMMAND_MODULES, COMMANDS, load_commands

WRITE_COMMANDS = ("copy", "tag", "untag", "delete", "pull", "push")


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """``cli(*args, input=...)`` runs the app in-process with an empty docker config."""
    load_commands()
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Any:
        return runner.invoke(app, list(args), input=input, catch_exceptions=False)

    return invoke


def test_every_write_command_is_documented_and_takes_no_password_argument(cli: Callable[..., Any]) -> None:
    for name in WRITE_COMMANDS:
        result = cli(name, "--help")
        assert result.exit_code == 0 and "Example:" in result.stdout and f"reginventory {name}" in result.stdout
        assert "--password " not in result.stdout and "--password-stdin" in result.stdout
    assert cli("copy", "a/b:c", "d/e:f", "--password", "x").exit_code == 2


def test_command_map_names_the_module_of_every_command() -> None:
    load_commands()
    registered = {c.name: c.callback.__module__ for c in app.registered_commands if c.name and c.callback}
    assert registered == {name: f"reginventory.cli.{module}" for name, module in COMMANDS.items()}
    assert set(COMMANDS.values()) == set(COMMAND_MODULES)


def test_copy_starts_without_the_inventory_libraries() -> None:
    """``reginventory copy`` imports its own module only: no pandas, pyarrow, DuckDB or Jinja."""
    script = (
        "import sys\n"
        "sys.argv = ['reginventory', 'copy', '--help']\n"
        "from reginventory.cli.main import main\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert exc.code == 0, exc.code\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'pandas', 'pyarrow', 'duckdb', 'jinja2'})\n"
        "print('heavy:', ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert "reginventory copy" in out and out.strip().endswith("heavy:")


def test_copy_module_skips_httpx_cli_and_cryptography() -> None:
    """Loading the copy command imports neither httpx's own command-line client (click, rich,
    pygments) nor cryptography (schema1 signatures only); both still import when asked for.
    aiohttp's default SSL contexts get the system CA store (loaded beside the start)."""
    script = (
        "import sys, ssl\n"
        "from reginventory.cli.main import load_commands\n"
        "load_commands(['copy'])\n"
        "print('loaded:', ','.join(sorted({'httpx._main', 'cryptography', 'pygments'} & set(sys.modules))))\n"
        "import httpx._main, reginventory.client.jws\n"
        "print('later:', callable(httpx._main.main))\n"
        "from reginventory.client.startup import wait_for_ca_stores\n"
        "from aiohttp import connector\n"
        "wait_for_ca_stores()\n"
        "stores = {c.cert_store_stats()['x509_ca'] for c in (connector._SSL_CONTEXT_VERIFIED, connector._SSL_CONTEXT_UNVERIFIED)}\n"
        "print('stores:', stores == {ssl.create_default_context().cert_store_stats()['x509_ca']}, 'set_default_verify_paths' in vars(ssl.SSLContext))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["loaded: ", "later: True", "stores: True False"]


def test_the_ca_store_thread_is_waited_for_at_exit() -> None:
    """The thread that loads aiohttp's CA stores is not a daemon: a quick exit (``--help``) that
    tore the SSL contexts down while it was still inside OpenSSL crashed (SIGSEGV, about one run
    in eight). Twenty quick exits must all succeed."""
    script = "import reginventory.client.startup as s, reginventory.client\nprint(s._loader is not None and not s._loader.daemon)\n"
    assert subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout == "True\n"
    help_script = "import sys\nsys.argv = ['reginventory', 'inspect', '--help']\nfrom reginventory.cli.main import main\nmain()\n"
    codes = [subprocess.run([sys.executable, "-c", help_script], capture_output=True).returncode for _ in range(20)]
    assert codes == [0] * 20


@pytest.mark.parametrize("command", sorted({m: c for c, m in COMMANDS.items()}.values()))
def test_the_entry_point_runs_each_module_s_commands_by_name(command: str) -> None:
    """With only the named command's module imported, the command still goes by its name
    (a lone Typer command would take its own name as its first argument)."""
    script = (
        "import sys\n"
        f"sys.argv = ['reginventory', {command!r}, '--help']\n"
        "from reginventory.cli.main import main\n"
        "main()\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"Usage: reginventory {command} " in result.stdout


def test_copy_tag_untag_delete(cli: Callable[..., Any], registry: Any, registry_dest: Any,
                               make_repo: Callable[[], str]) -> None:
    src, dst = make_repo(), make_repo()
    image = random_image(300_000, seed=50, layers=2)
    push(registry, image, src, "v1", verify=False)

    copied = cli("copy", f"{registry.host}/{src}:v1", f"http://{registry_dest.host}/{dst}:v1")
    assert copied.exit_code == 0 and copied.stdout.strip() == image.digest
    assert "3 uploaded" in copied.stderr and inspect_raw(registry_dest, f"{dst}:v1") == image.manifest.data

    assert cli("tag", f"{registry_dest.host}/{dst}:v1", "two").stdout.strip() == image.digest
    assert cli("tag", f"{registry_dest.host}/{dst}@{image.digest}", "three").exit_code == 0
    untagged = cli("untag", f"{registry_dest.host}/{dst}:two")
    assert untagged.exit_code == 0 and "placeholder" in untagged.stdout
    assert cli("untag", f"{registry_dest.host}/{dst}@{image.digest}").exit_code == 2

    tag_existing(registry_dest, dst, "four", image)
    preview = cli("delete", f"{registry_dest.host}/{dst}:v1")
    assert preview.exit_code == 1 and "four, three, v1" in preview.stdout and "--yes" in preview.stderr
    assert inspect_raw(registry_dest, f"{dst}:three") == image.manifest.data  # nothing deleted yet
    deleted = cli("delete", f"{registry_dest.host}/{dst}:v1", "--yes", "--layers")
    assert deleted.exit_code == 0 and "tags removed with it: four, three, v1" in deleted.stdout
    assert cli("digest", f"{registry_dest.host}/{dst}:three").exit_code == 1


def test_pull_then_push(cli: Callable[..., Any], registry: Any, registry_dest: Any, tmp_path: Path,
                        make_repo: Callable[[], str]) -> None:
    src, dst = make_repo(), make_repo()
    image = random_image(200_000, seed=51)
    push(registry, image, src, "v1", verify=False)

    pulled = cli("pull", f"{registry.host}/{src}:v1", str(tmp_path / "out"))
    assert pulled.exit_code == 0 and pulled.stdout.strip() == image.digest
    assert (tmp_path / "out" / "image.manifest").read_bytes() == image.manifest.data
    pushed = cli("push", str(tmp_path / "out"), f"{registry_dest.host}/{dst}:v9")
    assert pushed.exit_code == 0 and pushed.stdout.strip() == image.digest
    assert inspect_raw(registry_dest, f"{dst}:v9") == image.manifest.data
    missing = cli("push", str(tmp_path / "nothing"), f"{registry_dest.host}/{dst}:v9")
    assert missing.exit_code == 1 and "no cached image" in missing.stderr


def test_credentials_from_stdin(cli: Callable[..., Any], registry_basic: Any, unique_repo: str) -> None:
    image = random_image(10_000, seed=52)
    push(registry_basic, image, unique_repo, "v1", verify=False)
    user = registry_basic.username
    denied = cli("tag", f"{registry_basic.host}/{unique_repo}:v1", "v2")
    assert denied.exit_code == 1 and "unauthorized" in denied.stderr
    ok = cli("tag", f"{registry_basic.host}/{unique_repo}:v1", "v2", "--username", user, "--password-stdin",
             input=f"{registry_basic.password}\n")
    assert ok.exit_code == 0 and ok.stdout.strip() == image.digest
