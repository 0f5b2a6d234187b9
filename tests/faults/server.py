"""A real HTTP server on 127.0.0.1 that misbehaves on purpose, one way per path.

Every way a source can break that earshot must survive: errors, block pages,
stalls, drips, bodies too big to hold, gzip bombs, resets, hostile XML. Each
request is served on its own thread, so a stalled path never holds up another.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import socket
import struct
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.conftest import fixture_bytes

RSS = "application/rss+xml"
HEALTHY_FEED = fixture_bytes("mastodon_tag_rss.xml")
HN = fixture_bytes("hn_algolia_search.json")
HTML_BLOCK_PAGE = (
    b"<!DOCTYPE html><html><head><title>Attention Required! | Cloudflare</title></head><body>blocked</body></html>"
)
HUGE = 200_000_000


def _gzip_bomb(size: int) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as zipped:
        block = b"\0" * 1_000_000
        for _ in range(size // len(block)):
            zipped.write(block)
    return out.getvalue()


GZIP_BOMB = _gzip_bomb(HUGE)  # about 200 KB on the wire, 200 MB once decoded


def _feed(items: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>'
    ).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that hangs up mid-request is one of the faults being served, not a bug to print.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FaultServer:
    """``url(path)`` for each behaviour; ``hits`` counts requests per path."""

    def __init__(self):
        self.hits: Counter = Counter()
        self.stopping = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                path = self.path.split("?")[0]
                outer.hits[path] += 1
                behaviour = getattr(outer, "serve_" + path.strip("/").split("/")[0].replace("-", "_"), None)
                if behaviour is None:
                    self._send(404, b"no such fault", "text/plain")
                else:
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up
                        behaviour(self)

            def _send(self, status, body, content_type, headers=()):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}{path}"

    def close(self):
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def _sleep(self, seconds):
        self.stopping.wait(seconds)

    # -- behaviours --------------------------------------------------------------

    def serve_healthy(self, h):
        h._send(200, HEALTHY_FEED, RSS)

    def serve_http_500(self, h):
        h._send(500, b"internal error", "text/plain")

    def serve_http_404(self, h):
        h._send(404, b"gone", "text/plain")

    def serve_http_403(self, h):
        h._send(403, b"forbidden", "text/plain")

    def serve_retry_after_a_day(self, h):
        h._send(429, b"slow down", "text/plain", [("Retry-After", "86400")])

    def serve_html_block_page(self, h):
        h._send(200, HTML_BLOCK_PAGE, "text/html")

    def serve_truncated(self, h):
        h.send_response(200)
        h.send_header("Content-Type", RSS)
        h.send_header("Content-Length", str(len(HEALTHY_FEED)))
        h.end_headers()
        h.wfile.write(HEALTHY_FEED[: len(HEALTHY_FEED) // 3])
        h.wfile.flush()
        h.close_connection = True

    def serve_stall(self, h):
        self._sleep(90)
        h._send(200, HEALTHY_FEED, RSS)

    def serve_drip(self, h):
        h.send_response(200)
        h.send_header("Content-Type", RSS)
        h.send_header("Content-Length", str(len(HEALTHY_FEED)))
        h.end_headers()
        for byte in HEALTHY_FEED:
            if self.stopping.is_set():
                return
            h.wfile.write(bytes([byte]))
            h.wfile.flush()
            self._sleep(0.5)

    def serve_huge(self, h):
        h.send_response(200)
        h.send_header("Content-Type", RSS)
        h.send_header("Content-Length", str(HUGE))
        h.end_headers()
        chunk = b"<!-- padding -->" * 4096
        for _ in range(HUGE // len(chunk)):
            if self.stopping.is_set():
                return
            h.wfile.write(chunk)

    def serve_gzip_bomb(self, h):
        h._send(200, GZIP_BOMB, RSS, [("Content-Encoding", "gzip")])

    def serve_reset(self, h):
        # SO_LINGER 0: close sends a TCP reset instead of a clean end.
        h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        h.connection.close()
        h.close_connection = True

    def serve_bad_charset(self, h):
        h._send(200, HEALTHY_FEED, "application/rss+xml; charset=no-such-charset")

    def serve_entity_bomb(self, h):
        entities = '<!ENTITY a "aaaaaaaaaa">' + "".join(
            f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8)
        )
        body = f'<?xml version="1.0"?><!DOCTYPE rss [{entities}]><rss version="2.0"><channel><title>&i;</title>'
        body += "<item><title>x</title><guid>1</guid></item></channel></rss>"
        h._send(200, body.encode(), RSS)

    def serve_external_entity(self, h):
        secret = self.url("/secret")
        body = (
            f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY leak SYSTEM "{secret}">]>'
            '<rss version="2.0"><channel><title>t</title>'
            "<item><title>&leak; chatgpt down</title><guid>xxe-1</guid><link>https://example.org/1</link>"
            "<pubDate>Wed, 08 Nov 2023 13:50:00 GMT</pubDate></item></channel></rss>"
        )
        h._send(200, body.encode(), RSS)

    def serve_secret(self, h):
        h._send(200, b"the secret", "text/plain")

    def serve_bad_dates(self, h):
        h._send(
            200,
            _feed(
                "<item><title>chatgpt down?</title><guid>d-1</guid><pubDate>yesterday-ish</pubDate></item>"
                "<item><title>chatgpt is down</title><guid>d-2</guid><pubDate>Wed, 99 Nov 2023 99:99:99 GMT</pubDate></item>"
            ),
            RSS,
        )

    def serve_not_a_feed(self, h):
        h._send(200, b"\x89PNG\r\n\x1a\n" + b"\0" * 500, "image/png")

    def serve_renamed_fields(self, h):
        h._send(200, HN.replace(b'"hits"', b'"results"'), "application/json")

    def serve_json_html(self, h):
        h._send(200, HTML_BLOCK_PAGE, "text/html")


def refused_url() -> str:
    """An address where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/feed"
