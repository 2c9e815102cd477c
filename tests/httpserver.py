"""A real HTTP server on 127.0.0.1 for tests: threaded, real sockets, a route table.

Routes map a path to a `Route` (static response) or to a callable taking the request handler and
returning nothing (it writes the response itself, for hostile behaviour). Every request is logged
in `server.requests` as (method, path, headers) so tests can assert what the client sent.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Union


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/xml"
    etag: str | None = None  # when set, answers 304 to a matching If-None-Match
    last_modified: str | None = None  # when set, answers 304 to a matching If-Modified-Since


Handler = Callable[[BaseHTTPRequestHandler], None]
RouteLike = Union[Route, Handler]


class _Handler(BaseHTTPRequestHandler):
    server: "LocalServer._Server"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _serve(self) -> None:
        owner = self.server.owner
        path = self.path
        with owner.lock:
            owner.requests.append(
                (self.command, path, {k.lower(): v for k, v in self.headers.items()})
            )
        route = owner.routes.get(path) or owner.routes.get(path.split("?", 1)[0])
        if route is None:
            self.send_response(404)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "9")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(b"not found")
            return
        if callable(route):
            route(self)
            return
        inm = self.headers.get("If-None-Match")
        ims = self.headers.get("If-Modified-Since")
        if (route.etag and inm == route.etag) or (
            route.last_modified and not route.etag and ims == route.last_modified
        ):
            self.send_response(304)
            if route.etag:
                self.send_header("ETag", route.etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(route.status)
        self.send_header("Content-Type", route.content_type)
        if route.etag:
            self.send_header("ETag", route.etag)
        if route.last_modified:
            self.send_header("Last-Modified", route.last_modified)
        for k, v in route.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(route.body)

    do_GET = _serve
    do_HEAD = _serve
    do_POST = _serve


class LocalServer:
    class _Server(ThreadingHTTPServer):
        daemon_threads = True
        owner: "LocalServer"

        def handle_error(self, request: Any, client_address: Any) -> None:
            # A client that hangs up (a refused redirect, a cut deadline) is expected in these
            # tests; printing it to stderr would pollute the CLI output under test.
            import sys

            self.owner.errors.append(repr(sys.exc_info()[1]))

    def __init__(self, *, poll_interval: float = 0.5) -> None:
        # poll_interval: how often serve_forever looks for shutdown (shorter ends tests sooner)
        self.poll_interval = poll_interval
        self.routes: dict[str, RouteLike] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self._server = self._Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self.port = self._server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(poll_interval,), daemon=True
        )

    def url(self, path: str) -> str:
        return self.base + path

    def add(self, path: str, route: RouteLike) -> str:
        self.routes[path] = route
        return self.url(path)

    def add_file(self, path: str, file: Path, **kwargs: Any) -> str:
        return self.add(path, Route(body=Path(file).read_bytes(), **kwargs))

    def redirect(self, path: str, to: str, status: int = 301) -> str:
        return self.add(
            path, Route(status=status, headers={"Location": to}, content_type="text/plain")
        )

    def hits(self, path: str) -> list[dict[str, str]]:
        with self.lock:
            return [h for (_, p, h) in self.requests if p == path]

    def start(self) -> "LocalServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
