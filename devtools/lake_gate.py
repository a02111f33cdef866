"""A reverse proxy in front of Azurite that can refuse writes under chosen folders.

Stands in for what makes an ADLS folder unwritable in production (an ACL or role assignment
taken away, a storage firewall): requests that write (``PUT``, ``POST``, ``PATCH``, ``DELETE``)
to a blob under a denied prefix get ``403 AuthorizationPermissionMismatch``, the answer Azure
Storage gives a principal without write permission; reads and every other path pass through
unchanged (the Shared Key signature covers the path, not the host, so it stays valid). The soak
injects "the lake unwritable for one slot" with it (:mod:`devtools.soak.driver`); only tests and
the soak use it.

Faithful to what it forwards and nothing more: it buffers each request and response whole (the
soak's partitions are small), and it refuses, with a 501, a request whose body is sent chunked,
which the Azure SDK does not do.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

WRITES = frozenset({"PUT", "POST", "PATCH", "DELETE"})
DENIED = (
    b'<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthorizationPermissionMismatch</Code>'
    b"<Message>This request is not authorized to perform this operation using this permission."
    b"</Message></Error>"
)
# hop-by-hop headers (RFC 9110 7.6.1), and what this proxy sets itself
HOP_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
        "host",
        "content-length",
        "date",
        "server",
    }
)


class WriteGate:
    """The proxy's state: its upstream and the denied prefixes (``/<account>/<container>/…``)."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.account_path = parts.path.rstrip("/")  # e.g. /devstoreaccount1
        self._denied: set[str] = set()
        self._lock = threading.Lock()
        self.refused = 0
        self.url = ""

    def deny(self, prefix: str) -> None:
        """Refuse writes under ``prefix`` (``<container>/<folder>``) until :meth:`allow`."""
        with self._lock:
            self._denied.add(f"{self.account_path}/{prefix.strip('/')}/")

    def allow(self, prefix: str | None = None) -> None:
        """Accept writes again under ``prefix`` (every prefix when ``None``)."""
        with self._lock:
            if prefix is None:
                self._denied.clear()
            else:
                self._denied.discard(f"{self.account_path}/{prefix.strip('/')}/")

    def refuses(self, method: str, path: str) -> bool:
        """Whether a ``method`` request to ``path`` is a write under a denied prefix."""
        blob = unquote(urlsplit(path).path)
        with self._lock:
            hit = method in WRITES and any(blob.startswith(p) for p in self._denied)
            self.refused += hit
            return hit


def _handler(gate: WriteGate) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the soak keeps its own journal."""

        def _reply(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
            self.send_response(status)  # adds this server's Date and Server
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD" and body:
                self.wfile.write(body)

        def forward(self) -> None:
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                self.close_connection = True  # the unread body must not be taken for a request
                self._reply(501, [("Content-Length", "0"), ("Connection", "close")], b"")
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if gate.refuses(self.command, self.path):
                self._reply(
                    403,
                    [
                        ("x-ms-error-code", "AuthorizationPermissionMismatch"),
                        ("Content-Type", "application/xml"),
                        ("Content-Length", str(len(DENIED))),
                    ],
                    DENIED,
                )
                return
            named = {h.strip().lower() for h in (self.headers.get("Connection") or "").split(",")}
            headers = {
                k: v
                for k, v in self.headers.items()
                if k.lower() not in HOP_HEADERS and k.lower() not in named
            }
            if length or self.command in WRITES:
                headers["Content-Length"] = str(length)
            upstream = http.client.HTTPConnection(gate.host, gate.port, timeout=120)
            try:
                try:
                    upstream.request(self.command, self.path, body=body or None, headers=headers)
                    response = upstream.getresponse()
                    data = response.read()
                except OSError as exc:  # Azurite down or stalled: say so, as a gateway does
                    message = f"lake gate: upstream {gate.host}:{gate.port}: {exc}".encode()
                    self.close_connection = True
                    self._reply(
                        502,
                        [("Content-Length", str(len(message))), ("Connection", "close")],
                        message,
                    )
                    return
                out = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_HEADERS]
                # a HEAD answers with the blob's length and no body
                size = response.getheader("Content-Length") if self.command == "HEAD" else None
                out.append(("Content-Length", size or str(len(data))))
                self._reply(response.status, out, data)
            finally:
                upstream.close()

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = do_OPTIONS = forward

    return Handler


@contextmanager
def write_gate(upstream: str) -> Iterator[WriteGate]:
    """Serve a :class:`WriteGate` before ``upstream`` (``http://host:port/<account>``)."""
    gate = WriteGate(upstream)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(gate))
    server.daemon_threads = True
    gate.url = f"http://127.0.0.1:{server.server_address[1]}{gate.account_path}"
    thread = threading.Thread(target=server.serve_forever, name="lake-gate", daemon=True)
    thread.start()
    try:
        yield gate
    finally:
        server.shutdown()
        server.server_close()
