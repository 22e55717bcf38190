"""The TOML crawl configuration: several registries, credentials from the environment (never
from the file), unknown keys refused with the file and key named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from crawl_helpers import dicts
from harness.images import ImageSpec, build_image, push
from harness.registry import RegistryServer
from typer.testing import CliRunner

from reginventory.cli.main import app, load_commands
from reginventory.client.transport import TLSOptions
from reginventory.errors import ConfigError, IllegalArgumentError
from reginventory.inventory.crawl_config import CrawlTarget, load_config, override_target


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "crawl.toml"
    path.write_text(text)
    return path


def test_config_reads_registries_and_credentials_from_environment(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
out = "s3://bucket/inventory"

[[registries]]
url = "https://reg.example.com"
username_env = "REG_USER"
password_env = "REG_PASSWORD"
repo = "^team-"
namespaces = ["team-a"]
max_in_flight = 8
rate = 50
ca_bundle = "/etc/ssl/ca.pem"

[[registries]]
url = "https://registry-1.docker.io"
docker_config = true
repositories = ["library/alpine"]
""",
    )
    config = load_config(path, environ={"REG_USER": "bot", "REG_PASSWORD": "s3cret"})
    assert config.out == "s3://bucket/inventory"
    first, hub = config.targets
    assert (first.username, first.password, first.registry) == ("bot", "s3cret", "reg.example.com")
    assert (first.max_in_flight, first.rate, first.tls.ca_bundle) == (8, 50.0, "/etc/ssl/ca.pem")
    assert first.selects("team-a/app") and not first.selects("team-b/app") and not first.selects("other/team-a")
    assert hub.repositories == ("library/alpine",) and hub.use_docker_config
    assert "s3cret" not in repr(first)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[registries]]\nurl = "http://r"\nrepo_regex = "x"\n', "unknown key 'repo_regex'"),
        ('[[registries]]\nurl = "http://r"\npassword = "hunter2"\n', "key 'password': credentials are never stored"),
        ('[[registries]]\nurl = "http://r"\npassword_env = "NOPE"\n', "NOPE, which is not set"),
        ('registry = "http://r"\n', "unknown key 'registry'"),
        ('[[registries]]\nurl = "http://r"\nmax_in_flight = "many"\n', "'max_in_flight' has the wrong type"),
        ("[[registries]\n", "invalid TOML"),
    ],
)
def test_config_errors_name_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert str(path) in str(caught.value) and message in str(caught.value)


def test_config_error_exits_1_on_the_cli(tmp_path: Path) -> None:
    load_commands()
    path = _write(tmp_path, '[[registries]]\nurl = "http://127.0.0.1:1"\nbogus = 1\n')
    result = CliRunner().invoke(app, ["crawl", "--config", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1 and "unknown key 'bogus'" in result.stderr


def test_target_selection() -> None:
    target = CrawlTarget("http://127.0.0.1:5000", repo="app$", namespaces=("team-a", "team-b/"))
    assert target.selects("team-a/app") and target.selects("team-b/x/app")
    assert not target.selects("team-c/app") and not target.selects("team-a/api")
    assert target.registry == "127.0.0.1:5000"


@pytest.mark.needs_registry
def test_config_crawls_a_registry_with_credentials(
    registry_basic: RegistryServer, unique_repo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = build_image(ImageSpec(layers=[{"secret": "behind basic auth\n"}]))
    push(registry_basic, image, unique_repo, "v1", verify=False)
    monkeypatch.setenv("CRAWL_TEST_USER", registry_basic.username or "")
    monkeypatch.setenv("CRAWL_TEST_PASSWORD", registry_basic.password or "")
    path = _write(
        tmp_path,
        f"""
out = "{tmp_path / 'out'}"
[[registries]]
url = "{registry_basic.url}"
username_env = "CRAWL_TEST_USER"
password_env = "CRAWL_TEST_PASSWORD"
docker_config = false
repositories = ["{unique_repo}"]
""",
    )
    load_commands()
    result = CliRunner().invoke(app, ["crawl", "--config", str(path), "--quiet"])
    assert result.exit_code == 0, result.output
    tags = dicts(str(tmp_path / "out"), "tags")
    assert [(t["repository"], t["tag"], t["digest"]) for t in tags] == [(unique_repo, "v1", image.digest)]
    crawls = dicts(str(tmp_path / "out"), "crawls")
    assert registry_basic.password not in crawls[0]["options"]


def test_docker_hub_names() -> None:
    target = CrawlTarget("docker.io", repositories=("alpine", "bitnami/redis"))
    assert target.registry == "docker.io" and target.is_docker_hub
    assert target.repository_names() == ("library/alpine", "bitnami/redis")
    assert CrawlTarget("http://127.0.0.1:5000", repositories=("alpine",)).repository_names() == ("alpine",)


def test_override_target_replaces_only_what_is_given() -> None:
    base = CrawlTarget(
        "https://reg.example.com", username="bot", password="s3cret", repo="^a/", max_in_flight=8, rate=50,
        tls=TLSOptions(ca_bundle="/etc/ca.pem"),
    )
    assert override_target(base) == base
    changed = override_target(base, repo="^b/", max_in_flight=2, rate=None, no_verify=True, namespaces=None)
    assert (changed.repo, changed.max_in_flight, changed.rate) == ("^b/", 2, 50)
    assert changed.tls == TLSOptions(no_verify=True, ca_bundle="/etc/ca.pem")
    other = override_target(base, username="me")  # no password given: the config's is not kept
    assert (other.username, other.password) == ("me", None)
    with pytest.raises(IllegalArgumentError, match="at least 1"):
        override_target(base, max_in_flight=0)


@pytest.mark.needs_registry
def test_command_line_flags_override_the_config_file(registry: RegistryServer, unique_repo: str, tmp_path: Path) -> None:
    image = build_image(ImageSpec(layers=[{"flags": "win\n"}]))
    push(registry, image, unique_repo, "v1")
    out = tmp_path / "out"
    path = _write(
        tmp_path,
        f"""
[[registries]]
url = "{registry.url}"
repo = "^no-such-repository$"
max_in_flight = 8
rate = 50
docker_config = false
""",
    )
    load_commands()
    args = ["crawl", "--config", str(path), "--out", str(out), "--quiet",
            "--repo", f"^{unique_repo}$", "--concurrency", "3", "--rate", "500"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert [(t["repository"], t["digest"]) for t in dicts(str(out), "tags")] == [(unique_repo, image.digest)]
    options = json.loads(dicts(str(out), "crawls")[0]["options"])
    assert (options["repo"], options["max_in_flight"], options["rate"]) == (f"^{unique_repo}$", 3, 500.0)
