"""A forward proxy on 127.0.0.1 for Chromium's screenshots, applying the address guard to every
connection the browser makes.

Chromium follows redirects and meta refreshes, loads subresources and resolves names itself,
out of sight of Playwright's route handler; pointed at this proxy (and forbidden to resolve any
name itself), every one of its connections is a CONNECT or an absolute-form request here, judged
by :class:`AddressRule` and made to the address that was checked. Plain HTTP is one request per
connection (``Connection: close``), so a kept-alive connection cannot carry a second request to
another host past the check. See docs/adr/0013-address-guard.md.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from crawlers.guard import AddressRule, Pinned, default_port

# Longest request head (request line and headers) accepted from the browser.
MAX_HEAD_BYTES = 64 * 1024
# Seconds a connection to a site may take to open; and a tunnel may stay silent.
CONNECT_TIMEOUT_S = 10.0
IDLE_TIMEOUT_S = 30.0
_HOP_BY_HOP = {b"connection", b"keep-alive", b"proxy-connection", b"proxy-authorization"}


@dataclass
class ProxyState:
    rule: AddressRule = field(default_factory=AddressRule)
    # URLs (or host:port for tunnels) the guard refused, in order.
    refused: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def refuse(self, what: str) -> None:
        with self.lock:
            self.refused.append(what)


def _read_head(sock: socket.socket) -> tuple[bytes, bytes] | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(8192)
        if not chunk:
            return None
        data += chunk
        if len(data) > MAX_HEAD_BYTES:
            return None
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            target.sendall(chunk)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        client: socket.socket = self.request
        client.settimeout(IDLE_TIMEOUT_S)
        try:
            received = _read_head(client)
            if received is None:
                return
            head, rest = received
            line, *headers = head.split(b"\r\n")
            parts = line.split(b" ")
            if len(parts) != 3:
                return self._answer(client, b"400 Bad Request")
            method, target, _version = parts
            if method == b"CONNECT":
                self._tunnel(client, target.decode("latin-1"), rest)
            else:
                self._forward(client, method, target.decode("latin-1"), headers, rest)
        except OSError:
            return

    @staticmethod
    def _answer(client: socket.socket, status: bytes) -> None:
        client.sendall(
            b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )

    def _connect(self, host: str, port: int, shown: str) -> socket.socket | None:
        state = self.server.state
        verdict = state.rule.check(host.strip("[]").lower(), port)
        if not isinstance(verdict, Pinned):
            state.refuse(shown)
            return None
        return socket.create_connection((verdict.address, port), CONNECT_TIMEOUT_S)

    def _tunnel(self, client: socket.socket, target: str, rest: bytes) -> None:
        host, _, port = target.rpartition(":")
        if not port.isdigit():
            return self._answer(client, b"400 Bad Request")
        upstream = self._connect(host, int(port), f"https://{target}")
        if upstream is None:
            return self._answer(client, b"403 Forbidden")
        with upstream:
            upstream.settimeout(IDLE_TIMEOUT_S)
            client.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            if rest:
                upstream.sendall(rest)
            self._both_ways(client, upstream)

    def _forward(
        self, client: socket.socket, method: bytes, url: str, headers: list[bytes], rest: bytes
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            self.server.state.refuse(url[:300])
            return self._answer(client, b"403 Forbidden")
        try:
            port = parts.port or default_port(parts.scheme)
        except ValueError:
            return self._answer(client, b"400 Bad Request")
        upstream = self._connect(parts.hostname, port, url[:300])
        if upstream is None:
            return self._answer(client, b"403 Forbidden")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        kept = [h for h in headers if h.split(b":", 1)[0].strip().lower() not in _HOP_BY_HOP]
        head = b"\r\n".join(
            [method + b" " + path.encode("latin-1") + b" HTTP/1.1", *kept, b"Connection: close"]
        )
        with upstream:
            upstream.settimeout(IDLE_TIMEOUT_S)
            upstream.sendall(head + b"\r\n\r\n" + rest)
            response = _read_head(upstream)
            if response is None:
                return self._answer(client, b"502 Bad Gateway")
            status, *response_headers = response[0].split(b"\r\n")
            kept = [
                h
                for h in response_headers
                if h.split(b":", 1)[0].strip().lower() not in _HOP_BY_HOP
            ]
            client.sendall(
                b"\r\n".join([status, *kept, b"Connection: close", b"Proxy-Connection: close"])
                + b"\r\n\r\n"
                + response[1]
            )
            _pipe(upstream, client)

    @staticmethod
    def _both_ways(client: socket.socket, upstream: socket.socket) -> None:
        back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
        back.start()
        _pipe(client, upstream)
        back.join(IDLE_TIMEOUT_S)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, state: ProxyState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


class GuardProxy:
    """``with GuardProxy() as proxy:`` serves on ``proxy.address`` until the block ends; set
    ``proxy.state.rule`` to the rule of the page being rendered."""

    def __init__(self) -> None:
        self.state = ProxyState()
        self._server = _Server(self.state)
        self.address = f"127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> GuardProxy:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
