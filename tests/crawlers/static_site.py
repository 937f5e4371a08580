"""A local HTTP server serving saved real pages under the URL structure of their engine."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class ClosingServer(ThreadingHTTPServer):
    """Stops listening when shut down: a page fetched after the site went away is refused at
    once, as from a real server that is gone, instead of waiting in the accept queue."""

    def shutdown(self) -> None:
        super().shutdown()
        self.server_close()


@dataclass
class Route:
    body: bytes
    content_type: str = "text/html"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class StaticSite:
    """``routes`` maps a path with its query ("/viewtopic.php?f=4&t=167") or a bare path to a page."""

    routes: dict[str, Route | list[Route]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def route(self, target: str) -> Route | None:
        """A list of routes answers one request each, in order, then repeats its last one."""
        found = self.routes.get(target) or self.routes.get(target.split("?", 1)[0])
        if isinstance(found, list):
            return found.pop(0) if len(found) > 1 else found[0]
        return found


def serve_site(site: StaticSite, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            site.requests.append(self.path)
            route = site.route(self.path)
            if route is None:
                route = Route(b"not found", "text/plain", 404)
            self.send_response(route.status)
            self.send_header("Content-Type", route.content_type)
            self.send_header("Content-Length", str(len(route.body)))
            for key, value in route.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(route.body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ClosingServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


JSON = "application/json; charset=utf-8"


def po_thread(images: dict[str, Route]) -> dict[str, Route | list[Route]]:
    """The real /po/ thread of 4chan's API docs (catalog and thread), with ``images`` served
    under /img (its three posts' images are /img/po/1546293948883.png, 1546294496751.png and
    1546294889019.jpg)."""
    from tests.conftest import DATA

    return {
        "/po/catalog.json": Route(
            (DATA / "fourchan" / "4chan-API_docs_catalog_example0.json").read_bytes(), JSON
        ),
        "/po/thread/570368.json": Route(
            (DATA / "fourchan" / "4chan-API_docs_threads_example0.json").read_bytes(), JSON
        ),
        **images,
    }


@contextmanager
def fourchan(
    sources: Path, board: str, routes: dict[str, Route | list[Route]]
) -> Iterator[tuple[StaticSite, str]]:
    """A local 4chan serving ``routes``, and the source of its ``board`` (images from /img)."""
    from tests.conftest import write_source

    site = StaticSite(routes)
    server = serve_site(site)
    base = f"http://127.0.0.1:{server.server_port}"
    write_source(
        sources, board, base, kind="fourchan",
        options={"boards": [board], "image_host": f"{base}/img"},
    )  # fmt: skip
    try:
        yield site, base
    finally:
        server.shutdown()
