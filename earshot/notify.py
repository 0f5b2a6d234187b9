"""Tell people: event messages, the channels they go through, and the sender
that delivers the outbox.

Two kinds of channel (``[[notify]]``): an Apprise URL (Slack, Discord,
Teams, Telegram, ntfy, PagerDuty, email, ``json://``... one library) gets a
title and a plain-text body; a ``webhook`` gets the event's JSON (see README,
"Notifications"). Post text is untrusted, so every message is plain text.

Channels are slow and rate-limited (Apprise keeps seconds between two
requests of one service), so nothing here runs on the polling path: the
watch records events in the outbox table, and a :class:`Sender` thread per
channel delivers them, retrying with backoff and jitter, and marks each
delivered. A secret in a URL (``${NAME}``) is expanded only to send, and no
log line or error names a URL.

>>> title, body = message({"event": "opened", "label": "ChatGPT", "level": "possible", "sources": ["forum", "hn"],
...     "reports": 14, "minutes": 10, "expected": 0.4, "start": "2023-11-08T13:45:00+00:00", "peak_score": 7.1,
...     "sample_posts": [], "official": None, "lead_minutes": None, "dashboard_url": "http://localhost:8501/?at=x"})
>>> title
'ChatGPT: possible outage (2 sources, 14 reports in 10 min vs 0.4 expected)'
"""

from __future__ import annotations

import logging
import random
import threading
import time

import httpx
import pandas as pd

from . import USER_AGENT
from .config import ConfigError, Notifier
from .store import due_deliveries, mark_delivered, mark_failed, open_db
from .timeutil import utc_now

log = logging.getLogger("earshot.notify")
# httpx logs each request's URL at INFO, and a channel's URL may hold a secret.
logging.getLogger("httpx").setLevel(logging.WARNING)
# Apprise's own lines would repeat ours (and its debug lines show URLs): what
# went wrong reaches the log through the sender's line, from the result's logs.
logging.getLogger("apprise").propagate = False


class NotifyError(Exception):
    """A channel did not take a message; ``str(error)`` says why, naming no URL."""


# -- messages ----------------------------------------------------------------------


def message(payload: dict) -> tuple[str, str]:
    """The title and plain-text body people read for one event."""
    event, label = payload["event"], payload.get("label") or payload.get("service", "earshot")
    if event == "silence_ended":
        return f"earshot: quiet window {payload['silence']!r} ended", payload["summary"]
    if event == "test":
        return "earshot: test message", "This is a test from `earshot notify --test`: this channel works."
    counts = (
        f"{len(payload['sources'])} source{'s' if len(payload['sources']) != 1 else ''}, "
        f"{payload['reports']} reports in {payload['minutes']} min vs {payload['expected']:.1f} expected"
    )
    titles = {
        "opened": f"{label}: possible outage ({counts})",
        "confirmed": f"{label}: confirmed outage ({counts})",
        "reminder": f"{label}: {payload['level']} outage still going ({_recent(payload)}; {counts})",
        "acknowledged": f"{label}: the provider acknowledged the outage{_lead(payload)}",
        "resolved": f"{label}: the outage signal is over ({counts})",
    }
    start = pd.Timestamp(payload["start"])
    lines = [f"Since {start:%H:%M} UTC on {start:%Y-%m-%d}: {counts}; peak score {payload['peak_score']:.1f}."]
    if payload.get("end"):
        lines.append(f"Quiet again from {pd.Timestamp(payload['end']):%H:%M} UTC.")
    if payload["sources"]:
        lines.append(f"Heard on: {', '.join(payload['sources'])}")
    if payload["sample_posts"]:
        lines.append("First reports:")
        lines += [
            f"  - [{post['source']} {pd.Timestamp(post['created_at']):%H:%M}] {post['text']}"
            for post in payload["sample_posts"]
        ]
    lines.append(_official(payload))
    lines.append(f"Replay on the dashboard: {payload['dashboard_url']}")
    return titles[event], "\n".join(lines)


def _recent(payload: dict) -> str:
    n, minutes = payload.get("recent_reports"), payload.get("recent_minutes")
    if n is None or not minutes:
        return "no count of the last minutes"
    return f"{n} report{'s' if n != 1 else ''} in the last {minutes:g} min"


def _lead(payload: dict, joint: str = ", ") -> str:
    lead = payload.get("lead_minutes")
    if lead is None:
        return ""
    return f"{joint}{lead:+.0f} min after earshot" if lead >= 0 else f"{joint}{-lead:.0f} min before earshot"


def _official(payload: dict) -> str:
    official = payload.get("official")
    if not official:
        return "Official status: no official word yet."
    first = pd.Timestamp(official["first_post"])
    return (
        f"Official status: {official.get('status') or 'posted'} ({official['title']}), first posted "
        f"{first:%H:%M} UTC{_lead(payload, '; ')}."
    )


# -- channels ----------------------------------------------------------------------


def send(notifier: Notifier, payload: dict, timeout: float = 15.0) -> None:
    """Deliver one event through ``notifier``, or raise :class:`NotifyError`."""
    try:
        address = notifier.address()
    except ConfigError as error:
        raise NotifyError(str(error)) from None
    if notifier.kind == "webhook":
        _post_webhook(address, payload, timeout)
    else:
        _apprise(address, payload, [address, *notifier.secrets()])


def _post_webhook(address: str, payload: dict, timeout: float) -> None:
    headers = {"User-Agent": USER_AGENT, "Idempotency-Key": payload.get("id", "")}
    try:
        response = httpx.post(address, json=payload, headers=headers, timeout=timeout)
    except httpx.TimeoutException:
        raise NotifyError(f"no answer within {timeout:g}s") from None
    except httpx.TransportError as error:
        raise NotifyError(f"could not connect ({type(error).__name__})") from None
    if not response.is_success:
        raise NotifyError(f"HTTP {response.status_code} {response.reason_phrase}".rstrip())


NOTIFY_TYPES = {"opened": "warning", "confirmed": "failure", "reminder": "warning", "resolved": "success"}


def _apprise(address: str, payload: dict, secrets: list[str]) -> None:
    import apprise

    channel = apprise_channel(address)
    title, body = message(payload)
    result = channel.notify(
        title=title,
        body=body,
        notify_type=NOTIFY_TYPES.get(payload["event"], "info"),
        body_format=apprise.NotifyFormat.TEXT,
    )
    if not result:
        # Apprise's warnings name the host, not the URL; a secret in them is blanked all the same.
        said = [
            _blank(entry.message, secrets) for entry in result.logs() if entry.level in ("WARNING", "ERROR", "CRITICAL")
        ]
        raise NotifyError(f"Apprise could not deliver{': ' + '; '.join(said[-2:]) if said else ''}")


def apprise_channel(address: str):
    """An Apprise object sending to ``address``, or :class:`NotifyError` when Apprise cannot read it."""
    import apprise

    channel = apprise.Apprise()
    if not channel.add(address):
        raise NotifyError(f"Apprise does not understand this URL (scheme {address.split(':', 1)[0]!r})")
    return channel


def check_channel(notifier: Notifier) -> None:
    """Refuse an Apprise URL Apprise cannot read, at start rather than at the first outage
    (a URL whose secret is not in the environment yet is checked when it is sent)."""
    if notifier.kind != "apprise":
        return
    try:
        address = notifier.address()
    except ConfigError:
        return
    try:
        apprise_channel(address)
    except NotifyError as error:
        raise ConfigError(f"notify {notifier.name!r}: {error}") from None


def _blank(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


# -- the sender ----------------------------------------------------------------------


class Sender:
    """Deliver the outbox of the database at ``db_path`` to ``notifiers``.

    :meth:`deliver_due` sends what is due once, in this thread (tests, ``flush``);
    :meth:`start` runs one thread per channel, so a slow or rate-limited
    channel never holds up another. A failed delivery stays pending and is
    tried again after ``backoff * 2**attempts`` seconds (at most
    ``max_backoff``), with jitter.
    """

    def __init__(self, db_path, notifiers, clock=utc_now, backoff: float = 5.0, max_backoff: float = 900.0):
        self.db_path = db_path
        self.notifiers = {n.name: n for n in notifiers}
        self.clock = clock
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._last_sent: dict[str, float] = {}
        self._flush_until = float("inf")  # set by stop(): the end of the grace period

    def deliver_due(self, db=None, only: str | None = None) -> list[tuple[str, str, str | None]]:
        """Send every delivery due now; return ``(notifier, event key, error or None)`` for each tried."""
        db = db or open_db(self.db_path)
        done = []
        for name, notifier in self.notifiers.items():
            if only is not None and name != only:
                continue
            for delivery in due_deliveries(db, name, self.clock()):
                if self.stopping.is_set() and self._flush_until < time.monotonic():
                    return done
                done.append(self._deliver(db, notifier, delivery))
                if done[-1][2] is not None:
                    break  # the rest wait behind it, in order
        return done

    def _deliver(self, db, notifier: Notifier, delivery: dict) -> tuple[str, str, str | None]:
        wait = notifier.min_interval - (time.monotonic() - self._last_sent.get(notifier.name, -1e9))
        if wait > 0:
            time.sleep(wait)
        what = f"{delivery['event']} of {delivery['episode'] or delivery['service'] or 'earshot'}"
        try:
            send(notifier, delivery["payload"])
        except NotifyError as error:
            self._last_sent[notifier.name] = time.monotonic()
            attempts = delivery["attempts"] + 1
            delay = min(self.max_backoff, self.backoff * 2 ** (attempts - 1)) * random.uniform(0.5, 1.5)
            mark_failed(db, delivery["event_id"], notifier.name, str(error), self.clock() + pd.Timedelta(seconds=delay))
            log.warning(
                "notify %r: %s failed (attempt %d): %s; retrying in %.0f s", notifier.name, what, attempts, error, delay
            )
            return notifier.name, delivery["key"], str(error)
        self._last_sent[notifier.name] = time.monotonic()
        mark_delivered(db, delivery["event_id"], notifier.name, self.clock())
        log.info("notify %r: delivered %s", notifier.name, what)
        return notifier.name, delivery["key"], None

    # -- threads ----------------------------------------------------------------

    def start(self) -> None:
        for name in self.notifiers:
            thread = threading.Thread(target=self._run, args=(name,), name=f"notify-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _run(self, name: str) -> None:
        db = open_db(self.db_path)
        while not self.stopping.is_set():
            try:
                self.deliver_due(db, only=name)
            except Exception:  # a bug must not end deliveries for good: say so, try again
                log.exception("notify %r: the sender failed; trying again", name)
            self.wake.wait(1.0)
            self.wake.clear()
        # Flush: what is due when asked to stop still goes out, within the grace period.
        self.deliver_due(db, only=name)

    def stop(self, grace: float = 10.0) -> None:
        """Stop the threads after they have sent what is due, waiting at most ``grace`` seconds."""
        self._flush_until = time.monotonic() + grace
        self.stopping.set()
        self.wake.set()
        for thread in self._threads:
            thread.join(timeout=max(0.0, self._flush_until - time.monotonic()))


def send_test(notifier: Notifier) -> str | None:
    """Send one test message through ``notifier``; return None, or why it failed."""
    try:
        send(notifier, {"event": "test", "id": "earshot-test", "service": None, "created_at": utc_now().isoformat()})
    except NotifyError as error:
        return str(error)
    return None
