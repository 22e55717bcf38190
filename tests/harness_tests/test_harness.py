"""Tests of the test harness itself: registries, token issuer, image builder, fixtures."""

from __future__ import annotations

import gzip
import hashlib
import json
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Callable

import httpx
import jwt
import pytest

from harness import images as im
from harness.binaries import binary_policy, in_ci
from harness.names import REPOSITORY_NAME_RE, TAG_RE, unique_repository
from harness.pki import libtrust_kid
from harness.registry import RegistryServer, parse_challenge, to_yaml
from harness.token_issuer import Scope, TokenIssuer

ACCEPT = ", ".join(im.MANIFEST_ACCEPT)


def small_image(text: str = "hi", **kw: object) -> im.BuiltManifest:
    return im.build_image(im.ImageSpec(layers=[im.BASE_FILES, {"app/x": text}], **kw))  # type: ignore[arg-type]


def get_token(issuer: TokenIssuer, scopes: list[str], auth: tuple[str, str] | None) -> str:
    r = httpx.get(issuer.realm, params={"service": issuer.service, "scope": scopes}, auth=auth)
    assert r.status_code == 200, r.text
    return r.json()["token"]


# --------------------------------------------------------------------------- variants


def test_anonymous_registry_answers_v2(registry: RegistryServer) -> None:
    r = httpx.get(f"{registry.url}/v2/")
    assert r.status_code == 200
    assert r.headers["Docker-Distribution-Api-Version"] == "registry/2.0"
    assert registry.url == f"http://{registry.host}"
    assert registry.host.startswith("127.0.0.1:")
    assert registry.config_path.exists() and "delete" in registry.config_path.read_text()
    assert "listening on" in registry.log_text()


def test_basic_registry_requires_credentials(registry_basic: RegistryServer) -> None:
    url = f"{registry_basic.url}/v2/"
    anon = httpx.get(url)
    assert anon.status_code == 401
    assert anon.headers["WWW-Authenticate"].startswith("Basic ")
    assert httpx.get(url, auth=(registry_basic.username or "", "wrong")).status_code == 401
    ok = httpx.get(url, auth=(registry_basic.username or "", registry_basic.password or ""))
    assert ok.status_code == 200


def test_basic_registry_push_with_skopeo(registry_basic: RegistryServer, unique_repo: str) -> None:
    item = small_image("basic")
    assert im.push(registry_basic, item, unique_repo, "v1") == item.digest
    with registry_basic.http_client() as c:
        assert c.get(f"/v2/{unique_repo}/tags/list").json()["tags"] == ["v1"]


def test_tls_registry_verified_with_harness_ca(registry_tls: RegistryServer, unique_repo: str) -> None:
    assert registry_tls.url.startswith("https://127.0.0.1:")
    assert registry_tls.ca_path is not None and registry_tls.ca_path.exists()
    r = httpx.get(f"{registry_tls.url}/v2/", verify=ssl.create_default_context(cafile=str(registry_tls.ca_path)))
    assert r.status_code == 200
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{registry_tls.url}/v2/")  # system trust store does not know the harness CA
    item = small_image("tls")
    assert im.push(registry_tls, item, unique_repo, "v1") == item.digest


def test_tls_registry_requiring_client_certificates(fresh_registry: Callable[..., RegistryServer]) -> None:
    srv = fresh_registry("tls", require_client_cert=True)
    assert srv.client_cert is not None
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{srv.url}/v2/", verify=srv.ssl_context(client_cert=False))
    r = httpx.get(f"{srv.url}/v2/", verify=srv.ssl_context(client_cert=True))
    assert r.status_code == 200
    item = small_image("mtls")
    assert im.push(srv, item, "mtls/app", "v1") == item.digest  # skopeo with client.cert/key in cert dir


def test_token_registry_challenge_and_token(registry_token: RegistryServer, token_issuer: TokenIssuer, unique_repo: str) -> None:
    r = httpx.get(f"{registry_token.url}/v2/")
    assert r.status_code == 401
    challenge = r.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    params = parse_challenge(challenge[len("Bearer ") :])
    assert params == {"realm": token_issuer.realm, "service": token_issuer.service}

    repo_challenge = httpx.get(f"{registry_token.url}/v2/{unique_repo}/tags/list").headers["WWW-Authenticate"]
    assert parse_challenge(repo_challenge.split(" ", 1)[1])["scope"] == f"repository:{unique_repo}:pull"

    token = get_token(token_issuer, [], ("alice", "alice-secret"))
    assert httpx.get(f"{registry_token.url}/v2/", headers={"Authorization": f"Bearer {token}"}).status_code == 200

    item = small_image("token")
    assert im.push(registry_token, item, unique_repo, "v1") == item.digest  # skopeo does the token dance
    pull = get_token(token_issuer, [f"repository:{unique_repo}:pull"], ("alice", "alice-secret"))
    tags = httpx.get(f"{registry_token.url}/v2/{unique_repo}/tags/list", headers={"Authorization": f"Bearer {pull}"})
    assert tags.status_code == 200 and tags.json()["tags"] == ["v1"]

    # The HTTP pusher and tag_existing follow the Bearer challenge with alice's credentials.
    ref_index = im.build_referrers_index([im.build_artifact(item)])
    assert im.push(registry_token, ref_index, unique_repo, im.cosign_tag(item.digest, "")) == ref_index.digest
    im.tag_existing(registry_token, unique_repo, "v1-again", item)
    assert token_issuer.count(f"repository:{unique_repo}:pull,push", username="alice") >= 1

    # A token without the scope is refused with insufficient_scope.
    denied = httpx.get(f"{registry_token.url}/v2/{unique_repo}/tags/list", headers={"Authorization": f"Bearer {token}"})
    assert denied.status_code == 401
    assert 'error="insufficient_scope"' in denied.headers["WWW-Authenticate"]


def test_token_issuer_acl_anonymous_and_wrong_password(
    registry_token: RegistryServer, token_issuer: TokenIssuer, unique_repo: str
) -> None:
    item = small_image("acl")
    im.push(registry_token, item, unique_repo, "v1", verify=False)
    anon = httpx.get(
        token_issuer.realm, params={"service": token_issuer.service, "scope": f"repository:{unique_repo}:pull,push,delete"}
    )
    assert anon.status_code == 200
    claims = jwt.decode(anon.json()["token"], options={"verify_signature": False})
    assert claims["access"] == [{"type": "repository", "name": unique_repo, "actions": ["pull"]}]
    assert claims["sub"] == "" and claims["aud"] == token_issuer.service and claims["iss"] == token_issuer.issuer
    headers = {"Authorization": f"Bearer {anon.json()['token']}"}
    assert httpx.get(f"{registry_token.url}/v2/{unique_repo}/tags/list", headers=headers).status_code == 200
    # Anonymous cannot delete even with a token.
    deleted = httpx.delete(f"{registry_token.url}/v2/{unique_repo}/manifests/{item.digest}", headers=headers)
    assert deleted.status_code == 401

    catalog_anon = get_token(token_issuer, ["registry:catalog:*"], None)
    assert jwt.decode(catalog_anon, options={"verify_signature": False})["access"][0]["actions"] == []
    catalog = get_token(token_issuer, ["registry:catalog:*"], ("bob", "bob-secret"))
    r = httpx.get(f"{registry_token.url}/v2/_catalog", headers={"Authorization": f"Bearer {catalog}"})
    assert r.status_code == 200 and unique_repo in r.json()["repositories"]

    bad = httpx.get(token_issuer.realm, params={"service": token_issuer.service}, auth=("alice", "nope"))
    assert bad.status_code == 401
    unknown = httpx.get(token_issuer.realm, params={"service": token_issuer.service}, auth=("mallory", "x"))
    assert unknown.status_code == 401


def test_token_issuer_records_requests_and_oauth_post(token_issuer: TokenIssuer) -> None:
    scope = "repository:records/app:pull"
    before = token_issuer.count(scope)
    get_token(token_issuer, [scope, "repository:records/other:pull"], ("alice", "alice-secret"))
    get_token(token_issuer, [scope], None)
    assert token_issuer.count(scope) == before + 2
    assert token_issuer.count(scope, username=None) >= 1
    last = token_issuer.requests[-1]
    assert (last.method, last.scopes, last.username, last.status) == ("GET", (scope,), None, 200)

    form = {
        "grant_type": "password",
        "client_id": "reginventory-tests",
        "username": "alice",
        "password": "alice-secret",
        "service": token_issuer.service,
        "scope": f"{scope} repository:records/app:push",
        "access_type": "offline",
    }
    first = httpx.post(token_issuer.realm, data=form)
    assert first.status_code == 200
    body = first.json()
    assert {"token", "access_token", "expires_in", "issued_at", "refresh_token"} <= set(body)
    assert body["expires_in"] == token_issuer.expires_in
    refreshed = httpx.post(
        token_issuer.realm,
        data={"grant_type": "refresh_token", "client_id": "t", "refresh_token": body["refresh_token"], "scope": scope},
    )
    assert refreshed.status_code == 200
    claims = jwt.decode(refreshed.json()["access_token"], options={"verify_signature": False})
    assert claims["sub"] == "alice" and claims["access"][0]["actions"] == ["pull"]
    assert httpx.post(token_issuer.realm, data={**form, "password": "bad"}).status_code == 401
    assert httpx.post(token_issuer.realm, data={**form, "client_id": ""}).status_code == 400
    grants = [r.grant_type for r in token_issuer.requests if r.method == "POST"]
    assert grants[-4:] == ["password", "refresh_token", "password", "password"]


def test_token_signature_and_x5c_header(token_issuer: TokenIssuer) -> None:
    token = get_token(token_issuer, ["repository:a/b:pull"], ("alice", "alice-secret"))
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256" and "x5c" in header
    pub = token_issuer.signing.cert.public_key()
    claims = jwt.decode(token, pub, algorithms=["RS256"], audience=token_issuer.service, issuer=token_issuer.issuer)  # type: ignore[arg-type]
    assert claims["exp"] - claims["iat"] == token_issuer.expires_in
    assert set(claims) >= {"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "access"}


def test_token_registry_accepts_libtrust_kid(fresh_registry: Callable[..., RegistryServer]) -> None:
    srv = fresh_registry("token", key_id_mode="kid")
    issuer = srv.token_issuer
    assert issuer is not None
    token = get_token(issuer, [], ("alice", "alice-secret"))
    assert jwt.get_unverified_header(token)["kid"] == libtrust_kid(issuer.signing.cert)
    assert len(libtrust_kid(issuer.signing.cert).split(":")) == 12
    assert httpx.get(f"{srv.url}/v2/", headers={"Authorization": f"Bearer {token}"}).status_code == 200


# --------------------------------------------------------------------------- lifecycle


def test_restart_keeps_port_and_data(fresh_registry: Callable[..., RegistryServer]) -> None:
    srv = fresh_registry()
    item = small_image("restart")
    im.push(srv, item, "keep/me", "v1", verify=False)
    url = srv.url
    pid = srv.proc.pid if srv.proc else None
    srv.restart()
    assert srv.url == url and srv.proc is not None and srv.proc.pid != pid
    assert im.sha256_digest(im.inspect_raw(srv, "keep/me:v1")) == item.digest
    srv.stop()
    assert not srv.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/v2/")


def test_garbage_collect_after_delete_shrinks_blob_bytes(fresh_registry: Callable[..., RegistryServer]) -> None:
    srv = fresh_registry()
    keep = small_image("keep", created="2024-01-01T00:00:00Z")
    drop = im.build_image(
        im.ImageSpec(layers=[im.BASE_FILES, {"app/x": "drop"}, {"app/y": "more"}], created="2024-02-01T00:00:00Z")
    )
    im.push(srv, keep, "gc/app", "keep")
    im.push(srv, drop, "gc/app", "drop")
    before = srv.blob_bytes()
    assert before == sum(b.size for b in {b.digest: b for b in [*keep.blobs(), *drop.blobs(), keep.manifest, drop.manifest]}.values())
    r = httpx.delete(f"{srv.url}/v2/gc/app/manifests/{drop.digest}")
    assert r.status_code == 202
    assert srv.blob_bytes() == before  # nothing freed until garbage collection
    output = srv.garbage_collect()
    unique_to_drop = {b.digest: b for b in [*drop.blobs(), drop.manifest]}
    for shared in keep.all_digests():
        unique_to_drop.pop(shared, None)
    eligible = {line.split(": ")[1] for line in output.splitlines() if line.startswith("blob eligible for deletion")}
    assert eligible == set(unique_to_drop)
    assert srv.blob_bytes() == before - sum(b.size for b in unique_to_drop.values())
    assert srv.running and httpx.get(f"{srv.url}/v2/gc/app/tags/list").json()["tags"] == ["keep"]
    assert drop.layers[0].digest in srv.blob_digests()  # shared base layer survives


def test_deletes_can_be_disabled(fresh_registry: Callable[..., RegistryServer]) -> None:
    srv = fresh_registry(delete_enabled=False)
    item = small_image("nodelete")
    im.push(srv, item, "nodel/app", "v1", verify=False)
    r = httpx.delete(f"{srv.url}/v2/nodel/app/manifests/{item.digest}")
    assert r.status_code == 405
    assert r.json()["errors"][0]["code"] == "UNSUPPORTED"


def test_extra_config_is_merged_into_yaml(tmp_path: Path) -> None:
    text = to_yaml({"a": {"b": [1, "x"], "c": {}}, "d": True, "e": [{"k": "v", "l": 2}]})
    assert text == 'a:\n  b:\n    - 1\n    - "x"\n  c: {}\nd: true\ne:\n  - k: "v"\n    l: 2'
    srv = RegistryServer("anonymous", directory=tmp_path, extra_config={"http": {"headers": None}, "log": {"level": "debug"}})
    cfg = srv.config()
    assert "headers" not in cfg["http"] and cfg["log"]["level"] == "debug" and cfg["http"]["secret"]


# --------------------------------------------------------------------------- images


def test_layers_and_images_are_deterministic() -> None:
    first, second = im.sample_images(), im.sample_images()
    assert {k: v.digest for k, v in first.items()} == {k: v.digest for k, v in second.items()}
    layer = im.make_layer({"b": "2", "a/c": b"1"})
    assert layer == im.make_layer({"a/c": b"1", "b": "2"})
    tar = gzip.decompress(layer.blob.data)
    assert layer.diff_id == "sha256:" + hashlib.sha256(tar).hexdigest()
    app = first["app_v11"]
    config = json.loads(app.config.data)
    assert config["rootfs"]["diff_ids"] == [l.diff_id for l in app.layers]
    assert config["created"] == app.created and config["config"]["Labels"] == dict(app.labels)
    # shared base layer: identical blob in the OCI and the Docker image
    assert first["alpine"].layers[0].digest == first["docker_image"].layers[0].digest
    assert first["alpine"].layers[0].blob.media_type == im.OCI_LAYER_GZIP
    assert first["docker_image"].layers[0].blob.media_type == im.DOCKER_LAYER_GZIP


def test_random_image_size_and_seed() -> None:
    a = im.random_image(20_000, seed=3, layers=2)
    assert a.digest == im.random_image(20_000, seed=3, layers=2).digest
    assert a.digest != im.random_image(20_000, seed=4, layers=2).digest
    assert 20_000 <= sum(a.layer_sizes) < 22_000


def test_artifact_attestation_and_index_shapes() -> None:
    imgs = im.sample_images()
    multi = imgs["multi"]
    assert isinstance(multi, im.BuiltIndex)
    body = json.loads(multi.manifest.data)
    plats = [m["platform"] for m in body["manifests"]]
    assert plats[:2] == [{"architecture": "amd64", "os": "linux"}, {"architecture": "arm64", "os": "linux", "variant": "v8"}]
    att = body["manifests"][2]
    assert att["platform"] == {"architecture": "unknown", "os": "unknown"}
    assert att["annotations"] == {
        "vnd.docker.reference.digest": multi.children[0].digest,
        "vnd.docker.reference.type": "attestation-manifest",
    }
    assert multi.platforms == ("linux/amd64", "linux/arm64/v8")
    sbom = json.loads(imgs["sbom"].manifest.data)
    assert sbom["artifactType"] == im.SBOM_ARTIFACT_TYPE
    assert sbom["config"] == {"mediaType": im.OCI_EMPTY, "digest": im.sha256_digest(b"{}"), "size": 2}
    assert sbom["subject"]["digest"] == imgs["app_v11"].digest
    docker_list = json.loads(imgs["docker_list"].manifest.data)
    assert docker_list["mediaType"] == im.DOCKER_LIST
    assert all(m["mediaType"] == im.DOCKER_MANIFEST for m in docker_list["manifests"])


def test_write_oci_layout(tmp_path: Path) -> None:
    root = tmp_path / "layout"
    multi = im.sample_images()["multi"]
    im.write_oci_layout(root, {"multi": multi})
    index = json.loads((root / "index.json").read_text())
    assert index["manifests"][0]["digest"] == multi.digest
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "multi"
    for digest in multi.all_digests():
        path = root / "blobs" / "sha256" / digest.split(":")[1]
        assert im.sha256_digest(path.read_bytes()) == digest
    out = subprocess.run(["skopeo", "inspect", "--raw", f"oci:{root}:multi"], capture_output=True, check=True).stdout
    assert out == multi.manifest.data


def test_sample_set_matches_registry(registry: RegistryServer, sample_images: im.SampleSet) -> None:
    s = sample_images
    assert s.repositories == ["hello", "library/alpine", "team-a/app", "team-a/multi", "team-b/api", "team-b/legacy"]
    catalog = httpx.get(f"{registry.url}/v2/_catalog", params={"n": 1000}).json()["repositories"]
    assert set(s.repositories) <= set(catalog)
    for repo in s.tags:
        listed = httpx.get(f"{registry.url}/v2/{repo}/tags/list").json()["tags"]
        assert sorted(listed) == s.tag_names(repo)
    for pushed in s.pushed_tags():
        raw = im.inspect_raw(registry, f"{pushed.repository}:{pushed.tag}")
        assert im.sha256_digest(raw) == pushed.digest, (pushed.repository, pushed.tag)
        head = httpx.head(f"{registry.url}/v2/{pushed.repository}/manifests/{pushed.tag}", headers={"Accept": ACCEPT})
        assert head.headers["Docker-Content-Digest"] == pushed.digest
        assert head.headers["Content-Type"] == pushed.media_type
    app = "team-a/app"
    assert s.tags_for_digest(app, s.roles["app_v11"].digest) == ["1.1.0", "latest", "stable"]
    sbom = s.roles["sbom"]
    assert s.untagged[app] == [sbom]
    assert im.sha256_digest(im.inspect_raw(registry, f"{app}@{sbom.digest}")) == sbom.digest
    assert s.get(app, "2.0.0-rc1").labels["org.opencontainers.image.description"] == "<script>alert(1)</script>"
    multi = s.get("team-a/multi", "1.0")
    for child in multi.children:  # index children are stored by digest
        assert im.sha256_digest(im.inspect_raw(registry, f"team-a/multi@{child.digest}")) == child.digest
    legacy = s.get("team-b/legacy", "multi")
    assert legacy.media_type == im.DOCKER_LIST and legacy.platforms == ("linux/amd64", "linux/arm/v7")
    assert s.get("team-b/legacy", "v1").media_type == im.DOCKER_MANIFEST
    # base layer shared across repositories
    base = s.get("library/alpine", "latest").layers[0].digest  # type: ignore[union-attr]
    assert all(base in s.blob_digests(r) for r in ("team-a/app", "team-b/api", "team-b/legacy"))
    cfg = httpx.get(f"{registry.url}/v2/{app}/blobs/{s.get(app, '1.0.0').config_digest}").json()  # type: ignore[union-attr]
    assert cfg["created"] == "2024-01-10T08:00:00Z"
    desc = json.loads(json.dumps(s.as_dict()))
    assert desc["tags"]["team-a/multi"]["1.0"]["children"][2]["platform"] == "unknown/unknown"
    assert desc["tags"]["library/alpine"]["3.19"]["layers"][0]["digest"] == base


# --------------------------------------------------------------------------- names, policy


def test_unique_repo_is_valid_and_unique(unique_repo: str, make_repo: Callable[[], str]) -> None:
    others = {make_repo() for _ in range(3)}
    assert len(others | {unique_repo}) == 4
    for name in [unique_repo, *others, unique_repository("Test_Weird[param-1/ÄÖ]")]:
        assert REPOSITORY_NAME_RE.match(name), name
    assert unique_repo.startswith("test/test-unique-repo-is-valid-and-unique-")
    assert TAG_RE.match(im.cosign_tag("sha256:" + "a" * 64))


def test_binary_policy() -> None:
    assert binary_policy([], ci=True) == ("ok", "")
    assert binary_policy(["skopeo"], ci=False)[0] == "skip"
    action, msg = binary_policy(["docker-registry"], ci=True)
    assert action == "fail" and "docker-registry" in msg
    assert in_ci({"CI": "true"}) and in_ci({"CI": "TRUE"}) and not in_ci({"CI": "1"}) and not in_ci({})


def test_scope_and_challenge_parsing() -> None:
    assert Scope.parse("repository:a/b:pull,push") == Scope("repository", "a/b", ("pull", "push"))
    assert Scope.parse("registry:catalog:*") == Scope("registry", "catalog", ("*",))
    assert parse_challenge('realm="http://x/token",service="s",scope="repository:a:pull,push"') == {
        "realm": "http://x/token",
        "service": "s",
        "scope": "repository:a:pull,push",
    }


def test_failed_test_report_shows_registry_log(tmp_path: Path) -> None:
    """Run a failing test in a child pytest and check the log section is attached."""
    tests_dir = Path(__file__).resolve().parents[1]
    (tmp_path / "conftest.py").write_text((tests_dir / "conftest.py").read_text())
    (tmp_path / "harness").symlink_to(tests_dir / "harness")
    (tmp_path / "test_fail.py").write_text(
        "import httpx\n"
        "def test_boom(registry):\n"
        "    httpx.get(registry.url + '/v2/does/not/exist/tags/list')\n"
        "    assert False\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "registry log: registry http://127.0.0.1:" in proc.stdout
    assert "GET /v2/does/not/exist/tags/list" in proc.stdout
