"""A local HTTP server that speaks the part of Discourse's JSON API Bodyguard uses.

Used by the demo (with content written for it) and by the tests (with real Discourse responses).
Raw responses can be pinned to a path so real saved JSON is served byte for byte.
"""

from __future__ import annotations

import json
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PAGE = 20


class ClosingServer(ThreadingHTTPServer):
    """Stops listening when shut down: a page fetched after the site went away is refused at
    once, as from a real server that is gone, instead of waiting in the accept queue."""

    def shutdown(self) -> None:
        super().shutdown()
        self.server_close()


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@dataclass
class DiscourseSite:
    topics: dict[int, dict[str, Any]] = field(default_factory=dict)
    posts: dict[int, dict[str, Any]] = field(default_factory=dict)
    raw: dict[str, bytes] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    # Seconds each answer takes (tests that need a crawl to last a while).
    delay: float = 0.0
    # Uploaded files (images in posts): path -> (content type, bytes).
    uploads: dict[str, tuple[str, bytes]] = field(default_factory=dict)

    def add_topic(
        self, meta: dict[str, Any], posts: list[dict[str, Any]], stream: list[int] | None = None
    ) -> None:
        topic = dict(meta)
        topic["stream"] = stream if stream is not None else [p["id"] for p in posts]
        self.topics[int(meta["id"])] = topic
        for post in posts:
            self.posts[int(post["id"])] = post

    def _posts_of(self, topic_id: int, ids: list[int]) -> list[dict[str, Any]]:
        return [
            self.posts[i] for i in ids if i in self.posts and self.posts[i]["topic_id"] == topic_id
        ]

    def latest(self) -> dict[str, Any]:
        topics = sorted(self.topics.values(), key=lambda t: t["id"], reverse=True)
        return {
            "users": [],
            "topic_list": {
                "can_create_topic": False,
                "per_page": 30,
                "topics": [
                    {k: t[k] for k in ("id", "title", "slug")} | {"posts_count": len(t["stream"])}
                    for t in topics
                ],
            },
        }

    def topic(self, topic_id: int) -> dict[str, Any] | None:
        meta = self.topics.get(topic_id)
        if meta is None:
            return None
        stream = meta["stream"]
        return {
            "post_stream": {"posts": self._posts_of(topic_id, stream[:PAGE]), "stream": stream},
            "id": topic_id,
            "title": meta["title"],
            "fancy_title": meta["title"],
            "slug": meta["slug"],
            "posts_count": len(stream),
        }

    def posts_json(self, topic_id: int, ids: list[int]) -> dict[str, Any]:
        return {"post_stream": {"posts": self._posts_of(topic_id, ids)}, "id": topic_id}

    def search(self, query: str) -> dict[str, Any]:
        needle = _fold(query.strip().strip('"'))
        found = [p for p in self.posts.values() if needle and needle in _fold(p.get("cooked", ""))]
        topic_ids = {p["topic_id"] for p in found}
        return {
            "posts": [
                {
                    k: p.get(k)
                    for k in ("id", "name", "username", "created_at", "post_number", "topic_id")
                }
                | {"blurb": "…"}
                for p in found
            ],
            "topics": [
                {k: self.topics[t][k] for k in ("id", "title", "slug")}
                for t in topic_ids
                if t in self.topics
            ],
            "users": [],
            "categories": [],
            "grouped_search_result": {
                "term": query,
                "more_posts": None,
                "more_full_page_results": None,
            },
        }

    def topic_html(self, topic_id: int) -> bytes | None:
        """The server-rendered page Discourse serves to browsers without JavaScript: what a
        post's permalink shows, and what a re-check fetches."""
        meta = self.topics.get(topic_id)
        if meta is None:
            return None
        posts = "".join(
            f'<div class="topic-body crawler-post" id="post_{p["post_number"]}">'
            f'<span class="creator">{escape(p.get("username") or "")}</span>'
            f'<div class="post">{p.get("cooked", "")}</div></div>'
            for p in self._posts_of(topic_id, meta["stream"])
        )
        title = escape(meta["title"])
        return (
            f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head>"
            f"<body><h1>{title}</h1>{posts}</body></html>"
        ).encode()

    def respond(self, path: str, query: dict[str, list[str]]) -> tuple[int, str, bytes]:
        if path in self.raw:
            return 200, "application/json; charset=utf-8", self.raw[path]
        if path in self.uploads:
            content_type, data = self.uploads[path]
            return 200, content_type, data
        if path == "/robots.txt":
            return 200, "text/plain", b"User-agent: *\nAllow: /\n"
        body: dict[str, Any] | None = None
        parts = path.strip("/").split("/")
        if path == "/latest.json":
            body = self.latest()
        elif path == "/search.json":
            body = self.search(query.get("q", [""])[0])
        elif (
            len(parts) == 2
            and parts[0] == "t"
            and parts[1].endswith(".json")
            and parts[1][:-5].isdigit()
        ):
            body = self.topic(int(parts[1][:-5]))
        elif (
            len(parts) == 3 and parts[0] == "t" and parts[1].isdigit() and parts[2] == "posts.json"
        ):
            ids = [int(i) for i in query.get("post_ids[]", []) if i.isdigit()]
            body = self.posts_json(int(parts[1]), ids)
        elif len(parts) in (3, 4) and parts[0] == "t" and parts[2].isdigit():
            page = self.topic_html(int(parts[2]))
            if page is not None:
                return 200, "text/html; charset=utf-8", page
        if body is None:
            return (
                404,
                "application/json",
                b'{"errors":["The requested URL or resource could not be found."]}',
            )
        return 200, "application/json; charset=utf-8", json.dumps(body, ensure_ascii=False).encode()


def serve(site: DiscourseSite, port: int = 0) -> ThreadingHTTPServer:
    """Start serving ``site`` on 127.0.0.1 in a daemon thread; ``server.server_port`` tells where."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            site.requests.append(self.path)
            if site.delay:
                time.sleep(site.delay)
            status, content_type, body = site.respond(parts.path, parse_qs(parts.query))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ClosingServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="discourse-server", daemon=True).start()
    return server
