"""``earshot watch --listen``: what watch knows, served over HTTP to the
operator's stack.

========================  ===================================================
``GET /metrics``          Prometheus text format (``prometheus_client``)
``GET /feed.atom``        Atom feed of the newest episode events
``GET /api/v1/status``    ``earshot status --json``'s record
``GET /api/v1/episodes``  watch's episodes as JSON (``?service=&since=``)
``GET /healthz``          200 ``ok``; 503 and the reason when watch is not well
========================  ===================================================

It reads only :class:`~earshot.roof.watch.readings.Readings`' newest snapshot,
never the database. The HTTP stack is waitress: one thread reads and writes
every socket, and a request reaches a handler only once it is whole, so a
slow or hostile client holds a buffer, not a handler, and never watch's loop.
"""

from __future__ import annotations

import json
import logging
import threading
from urllib.parse import parse_qs

import pandas as pd
from prometheus_client import make_wsgi_app
from waitress.server import create_server

from earshot.feed import FEED_ENTRIES, atom_feed
from earshot.health import restamped, unhealthy_because

from .readings import Readings

log = logging.getLogger("earshot.watch")
ENDPOINTS = ("/metrics", "/feed.atom", "/api/v1/status", "/api/v1/episodes", "/healthz")


class App:
    """The WSGI application over ``readings``."""

    def __init__(self, readings: Readings):
        self.readings = readings
        self.metrics = make_wsgi_app(readings.registry)
        self.routes = {
            "/": self.index,
            "/metrics": self.metrics,
            "/feed.atom": self.feed,
            "/api/v1/status": self.status,
            "/api/v1/episodes": self.episodes,
            "/healthz": self.healthz,
        }

    def __call__(self, environ, start_response):
        route = self.routes.get(environ.get("PATH_INFO") or "/")
        if route is None:
            return _text(start_response, "404 Not Found", f"not found; try {', '.join(ENDPOINTS)}\n")
        if environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
            return _text(start_response, "405 Method Not Allowed", "only GET\n", [("Allow", "GET, HEAD")])
        return route(environ, start_response)

    def index(self, environ, start_response):
        return _text(start_response, "200 OK", "earshot watch serves:\n" + "".join(f"  {e}\n" for e in ENDPOINTS))

    def feed(self, environ, start_response):
        snapshot = self.readings.current()
        body = atom_feed(
            snapshot.feed[:FEED_ENTRIES] if snapshot else [],
            self_url=_url(environ),
            dashboard_url=self.readings.config.watch.dashboard_url,
        )
        return _reply(start_response, "200 OK", "application/atom+xml; charset=utf-8", body)

    def status(self, environ, start_response):
        snapshot = self.readings.current()
        if snapshot is None:
            return _json(start_response, "503 Service Unavailable", {"error": "watch has not finished its first pass"})
        record = restamped(snapshot.status, pd.Timestamp.now(tz="UTC"), self.readings.config.watch.stale_after)
        return _json(start_response, "200 OK", record)

    def episodes(self, environ, start_response):
        snapshot = self.readings.current()
        query = parse_qs(environ.get("QUERY_STRING", ""))
        episodes = snapshot.episodes if snapshot else []
        if "service" in query:
            episodes = [e for e in episodes if e["service"] in query["service"]]
        if "since" in query:
            try:
                since = pd.Timestamp(query["since"][-1])
            except ValueError:
                return _json(
                    start_response,
                    "400 Bad Request",
                    {"error": "since: expected an ISO 8601 time, e.g. 2024-01-03T12:00Z"},
                )
            since = since.tz_localize("UTC") if since.tzinfo is None else since
            # Episodes still going at `since` count: an outage that began the night before is news.
            episodes = [e for e in episodes if e["end"] is None or pd.Timestamp(e["end"]) >= since]
        return _json(start_response, "200 OK", episodes)

    def healthz(self, environ, start_response):
        snapshot = self.readings.current()
        why = unhealthy_because(
            snapshot and snapshot.status, pd.Timestamp.now(tz="UTC"), self.readings.config.watch.stale_after
        )
        if why is None:
            return _text(start_response, "200 OK", "ok\n")
        return _text(start_response, "503 Service Unavailable", f"{why}\n")


class Server:
    """The :class:`App` served on ``host:port`` from a thread of its own."""

    def __init__(self, readings: Readings, host: str = "127.0.0.1", port: int = 9464):
        self.server = create_server(
            App(readings),
            host=host,
            port=port,
            threads=2,
            ident="earshot",
            channel_timeout=30,  # an idle or dribbling client is closed after this
            connection_limit=64,
            clear_untrusted_proxy_headers=True,
        )
        self.thread = threading.Thread(target=self.server.run, name="serve", daemon=True)

    @property
    def url(self) -> str:
        host = self.server.effective_host
        return f"http://{'[' + host + ']' if ':' in host else host}:{self.server.effective_port}"

    def start(self) -> Server:
        self.thread.start()
        log.info("serving %s on %s", ", ".join(ENDPOINTS), self.url)
        return self

    def stop(self) -> None:
        self.server.task_dispatcher.shutdown(timeout=2)
        # Close the listening socket and every open connection; the loop then ends.
        for channel in list(self.server._map.values()):
            channel.close()
        self.thread.join(timeout=3)


def _url(environ) -> str:
    host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
    return f"{environ.get('wsgi.url_scheme', 'http')}://{host}{environ.get('PATH_INFO', '')}"


def _json(start_response, status: str, value) -> list[bytes]:
    return _reply(start_response, status, "application/json", json.dumps(value).encode())


def _text(start_response, status: str, text: str, headers=()) -> list[bytes]:
    return _reply(start_response, status, "text/plain; charset=utf-8", text.encode(), headers)


def _reply(start_response, status: str, kind: str, body: bytes, headers=()) -> list[bytes]:
    start_response(
        status,
        [
            ("Content-Type", kind),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            *headers,
        ],
    )
    return [body]
