"""Real local receivers of notifications: an HTTP server that records every
webhook and Apprise ``json://`` call, and an SMTP server (aiosmtpd) that
records Apprise's email.

>>> with serve_receiver() as receiver:
...     import httpx
...     _ = httpx.post(receiver.url + "/hook", json={"event": "opened"})
...     receiver.calls[0].path, receiver.calls[0].json
('/hook', {'event': 'opened'})
"""

from __future__ import annotations

import contextlib
import email
import json
import threading
from dataclasses import dataclass, field

from werkzeug.wrappers import Request, Response

from tests.emulator import serve


@dataclass
class Call:
    path: str
    headers: dict
    json: dict


@dataclass
class Receiver:
    """A WSGI app recording each POST; ``fail_next(n)`` answers the next ``n`` with 503."""

    url: str = ""
    calls: list[Call] = field(default_factory=list)
    failing: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ, start_response):
        request = Request(environ)
        with self.lock:
            if self.failing:
                self.failing -= 1
                return Response("try later", 503)(environ, start_response)
            body = request.get_data(as_text=True)
            self.calls.append(Call(request.path, dict(request.headers), json.loads(body) if body else {}))
        return Response("ok")(environ, start_response)

    def fail_next(self, count: int) -> None:
        with self.lock:
            self.failing = count

    def on(self, path: str) -> list[Call]:
        with self.lock:
            return [call for call in self.calls if call.path == path]


@contextlib.contextmanager
def serve_receiver():
    receiver = Receiver()
    with serve(receiver) as url:
        receiver.url = url
        yield receiver


class Mailbox:
    """An aiosmtpd handler keeping each message received."""

    def __init__(self):
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@contextlib.contextmanager
def serve_smtp(port: int):
    from aiosmtpd.controller import Controller

    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()
