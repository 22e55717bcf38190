"""A fault-injecting HTTP proxy in front of a real registry, for what distribution never does:
garbage manifest bodies, wrong digests, huge answers, 403 on one repository, vanishing tags.

Every request is forwarded unchanged unless a rule matches its method and path.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

import httpx

#: (status, headers, body) of an answer.
Answer = tuple[int, dict[str, str], bytes]
#: A rule gets the method, the path (with query) and a function that asks the real registry.
Rule = Callable[[str, str, Callable[[], httpx.Response]], Answer]


def forward(response: httpx.Response) -> Answer:
    headers = {k: v for k, v in response.headers.items() if k.lower() not in ("transfer-encoding", "connection", "content-length")}
    return response.status_code, headers, response.content


def answer_json(status: int, data: object, headers: dict[str, str] | None = None) -> Answer:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(data).encode()


def denied(method: str, path: str, upstream: Callable[[], httpx.Response]) -> Answer:
    return answer_json(403, {"errors": [{"code": "DENIED", "message": "requested access to the resource is denied"}]})


def garbage_manifest(method: str, path: str, upstream: Callable[[], httpx.Response]) -> Answer:
    body = b"<html>this is not a manifest {"
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    return 200, {"Content-Type": "application/vnd.oci.image.manifest.v1+json", "Docker-Content-Digest": digest}, body


def wrong_digest(method: str, path: str, upstream: Callable[[], httpx.Response]) -> Answer:
    status, headers, body = forward(upstream())
    headers = {k: v for k, v in headers.items() if k.lower() != "docker-content-digest"}
    headers["Docker-Content-Digest"] = "sha256:" + "0" * 64
    return status, headers, body


def huge_manifest(method: str, path: str, upstream: Callable[[], httpx.Response]) -> Answer:
    body = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","pad":"' + b"x" * (5 << 20) + b'"}'
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    return 200, {"Content-Type": "application/vnd.oci.image.manifest.v1+json", "Docker-Content-Digest": digest}, body


def server_error(method: str, path: str, upstream: Callable[[], httpx.Response]) -> Answer:
    return answer_json(500, {"errors": [{"code": "UNKNOWN", "message": "boom"}]})


def corrupt_blob(method: str, path: str, upstream: Callable[[], httpx.Response]) -> Answer:
    return 200, {"Content-Type": "application/octet-stream"}, b'{"created": "not what you asked for"}'


def add_tags(*extra: str) -> Rule:
    """A tag list with tags that do not exist (they vanished between list and HEAD)."""

    def rule(method: str, path: str, upstream: Callable[[], httpx.Response]) -> Answer:
        status, headers, body = forward(upstream())
        data = json.loads(body)
        data["tags"] = [*(data.get("tags") or []), *extra]
        return status, headers, json.dumps(data).encode()

    return rule


@dataclass
class FaultProxy:
    """``with FaultProxy(upstream_url) as proxy``: ``proxy.url`` serves the registry with faults."""

    upstream: str
    rules: list[tuple[str, re.Pattern[str], Rule]] = field(default_factory=list)

    def add(self, methods: str, path_regex: str, rule: Rule) -> FaultProxy:
        self.rules.append((methods, re.compile(path_regex), rule))
        return self

    def __enter__(self) -> FaultProxy:
        proxy = self
        client = httpx.Client(base_url=self.upstream, timeout=30, trust_env=False)
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                method, path = self.command, self.path
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("accept", "authorization", "range")}

                def upstream() -> httpx.Response:
                    with lock:
                        return client.request(method, path, headers=headers)

                for methods, pattern, rule in proxy.rules:
                    if method in methods and pattern.search(path):
                        status, out_headers, body = rule(method, path, upstream)
                        break
                else:
                    status, out_headers, body = forward(upstream())
                self.send_response(status)
                for k, v in out_headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if method != "HEAD":
                    self.wfile.write(body)

            do_GET = _handle
            do_HEAD = _handle

        self._client = client
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()
