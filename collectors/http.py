"""Polite HTTP for every collector: timeouts, a User-Agent naming earshot,
bounded retries with jittered exponential backoff, Retry-After honoured, a
minimum interval between requests to the same host, an optional deadline
for a whole fetch (every request, retry and wait of it), per thread, and a
cap on the size of a body, counted as it streams in.

What cannot heal is not retried: a name that does not resolve, a refused
connection, a body over the cap, a 4xx other than 408 and 429. Each retry is
said (``on_retry``), and a Retry-After that would outlast the fetch's deadline
ends the fetch at once (:class:`FetchError` ``.retry_at`` says when to ask again).

>>> client = HttpClient(timeout=5, attempts=2)
>>> client.user_agent.startswith("earshot/")
True
"""

from __future__ import annotations

import contextlib
import email.utils
import errno
import json
import re
import socket
import threading
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from earshot import USER_AGENT

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_BYTES = 20_000_000


class FetchError(Exception):
    """A request failed for good; ``str(error)`` is one line saying what happened.

    ``response`` is the final response when the server answered (for its status
    and body), else None; ``retry_at`` is when the server asked to be asked
    again (a Retry-After longer than the fetch's deadline), else None.
    """

    def __init__(self, message: str, response: httpx.Response | None = None, retry_at: datetime | None = None):
        super().__init__(message)
        self.response = response
        self.retry_at = retry_at

    @property
    def status(self) -> int | None:
        return self.response.status_code if self.response is not None else None


class RetryableStatus(Exception):
    def __init__(self, response: httpx.Response):
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Seconds to wait according to a ``Retry-After`` header (seconds or HTTP date).

    >>> retry_after_seconds(httpx.Response(429, headers={"Retry-After": "7"}))
    7.0
    """
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


class _WaitRetryAfterOrBackoff:
    """tenacity wait: the server's Retry-After when it gave one, else jittered backoff."""

    def __init__(self, backoff: float, max_wait: float):
        self.max_wait = max_wait
        self.fallback = wait_exponential_jitter(multiplier=backoff, max=max_wait, jitter=backoff)

    def __call__(self, retry_state) -> float:
        error = retry_state.outcome.exception()
        if isinstance(error, RetryableStatus):
            seconds = retry_after_seconds(error.response)
            if seconds is not None:
                return min(seconds, self.max_wait)
        return self.fallback(retry_state)


def _is_retryable(error: BaseException) -> bool:
    if isinstance(error, httpx.ConnectError) and _cannot_heal(error):
        return False
    return isinstance(error, (RetryableStatus, httpx.TimeoutException, httpx.TransportError))


def _cannot_heal(error: httpx.ConnectError) -> str | None:
    """Why retrying this connection error is pointless, or None when it may heal."""
    cause = error.__cause__ or error.__context__
    while cause is not None:
        if isinstance(cause, socket.gaierror):
            return "the name does not resolve (offline, or a typo in the address?)"
        if isinstance(cause, ConnectionRefusedError) or getattr(cause, "errno", None) == errno.ECONNREFUSED:
            return "the connection was refused (nothing listens there)"
        cause = cause.__cause__ or cause.__context__
    text = str(error).lower()
    if "name or service not known" in text or "nodename nor servname" in text or "temporary failure in name" in text:
        return "the name does not resolve (offline, or a typo in the address?)"
    if "connection refused" in text:
        return "the connection was refused (nothing listens there)"
    return None


class DeadlineExceeded(Exception):
    """The fetch's deadline passed before the request could finish."""


class BodyTooLarge(Exception):
    """The body grew past the client's ``max_bytes`` while streaming in."""


class HttpClient:
    """An ``httpx.Client`` wrapped with earshot's manners.

    ``backoff`` is the first retry's wait in seconds (0 in tests); ``max_wait``
    caps any single wait, Retry-After included; ``min_interval`` spaces out
    requests to one host, and :meth:`limit_host` sets a host's own spacing
    (a service's published rate limit); ``max_bytes`` caps a body (decoded:
    a gzip bomb is cut too); ``on_retry(line)`` hears each retry, as
    "hn: retrying in 4 s: HTTP 503, attempt 2/3" (the label set by :meth:`deadline`).
    """

    def __init__(
        self,
        timeout: float = 15.0,
        attempts: int = 3,
        backoff: float = 2.0,
        max_wait: float = 120.0,
        min_interval: float = 1.0,
        user_agent: str = USER_AGENT,
        max_bytes: int = MAX_BYTES,
        on_retry: Callable[[str], None] | None = None,
    ):
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.max_wait = max_wait
        self.min_interval = min_interval
        self.user_agent = user_agent
        self.max_bytes = max_bytes
        self.on_retry = on_retry
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            # Only encodings _body can inflate a bounded piece at a time.
            headers={"User-Agent": user_agent, "Accept-Encoding": "gzip, deflate"},
            follow_redirects=True,
        )
        # Per host, the earliest moment its next request may start.
        self._next_slot: dict[str, float] = {}
        self._host_intervals: dict[str, float] = {}
        self._lock = threading.Lock()
        self._local = threading.local()

    def limit_host(self, url: str, min_interval: float) -> None:
        """Space requests to ``url``'s host at least ``min_interval`` seconds apart.

        >>> client = HttpClient(min_interval=1.0)
        >>> client.limit_host("https://hn.algolia.com/api/v1/search", 0.4)
        >>> client.interval_for("https://hn.algolia.com/x"), client.interval_for("https://example.com/")
        (0.4, 1.0)
        """
        self._host_intervals[urlsplit(url).netloc] = min_interval

    def interval_for(self, url: str) -> float:
        return self._host_intervals.get(urlsplit(url).netloc, self.min_interval)

    def close(self) -> None:
        self._client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @contextlib.contextmanager
    def deadline(self, seconds: float | None, label: str | None = None):
        """Bound everything this thread fetches inside the block to ``seconds``
        in all: reads, retries and waits (a body that drips a byte at a time
        cannot outlast it). ``None``: no deadline. ``label`` (a source's
        name) begins the lines ``on_retry`` hears.

        >>> with HttpClient().deadline(20) as client:
        ...     0 < client.remaining() <= 20
        True
        """
        before = getattr(self._local, "deadline", None), getattr(self._local, "label", None)
        self._local.deadline = None if seconds is None else time.monotonic() + seconds
        self._local.seconds = seconds
        self._local.label = label
        try:
            yield self
        finally:
            self._local.deadline, self._local.label = before

    def remaining(self) -> float | None:
        """Seconds left before this thread's deadline (None: no deadline)."""
        deadline = getattr(self._local, "deadline", None)
        return None if deadline is None else deadline - time.monotonic()

    def get(self, url: str, *, params: dict | None = None, headers: dict | None = None) -> httpx.Response:
        """GET ``url``; return a 2xx or 304 response, or raise :class:`FetchError`."""
        return self.request("GET", url, params=params, headers=headers)

    def get_json(self, url: str, *, params: dict | None = None, headers: dict | None = None):
        """GET ``url`` and decode its JSON body (see :func:`json_body`)."""
        headers = {"Accept": "application/json", **(headers or {})}
        return json_body(self.get(url, params=params, headers=headers))

    def request(self, method: str, url: str, **kwargs) -> httpx.Response:
        """Send a request with retries; keyword arguments go to ``httpx.Client.request``."""
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts) | self._wait_passes_deadline,
            wait=_WaitRetryAfterOrBackoff(self.backoff, self.max_wait),
            retry=retry_if_exception(_is_retryable),
            before_sleep=self._say_retry,
            reraise=True,
        )
        try:
            response = retrying(self._send_once, method, url, kwargs)
        except RetryableStatus as error:
            asked = retry_after_seconds(error.response)
            seconds = self._local.seconds if getattr(self._local, "deadline", None) is not None else None
            if asked is not None and seconds is not None and asked >= (self.remaining() or 0):
                retry_at = datetime.now(UTC) + timedelta(seconds=asked)
                raise FetchError(
                    f"{_describe(error.response)} from {url}: the server asks to wait {asked:g} s (Retry-After), "
                    f"longer than the fetch's {seconds:g}s deadline; not asked again before "
                    f"{retry_at:%Y-%m-%dT%H:%M:%SZ}",
                    error.response,
                    retry_at=retry_at,
                ) from None
            raise FetchError(
                f"{_describe(error.response)} from {url} (gave up after {self._attempts_made(retrying)})",
                error.response,
            ) from None
        except BodyTooLarge:
            raise FetchError(
                f"the body from {url} passed the {self.max_bytes / 1e6:g} MB cap; stopped reading"
            ) from None
        except DeadlineExceeded:
            raise FetchError(f"{url} did not answer within the fetch's {self._local.seconds:g}s deadline") from None
        except httpx.TimeoutException:
            remaining = self.remaining()
            if remaining is not None and remaining < self.timeout:  # the deadline cut the last read short
                raise FetchError(f"{url} did not answer within the fetch's {self._local.seconds:g}s deadline") from None
            raise FetchError(
                f"timed out after {self.timeout:g}s fetching {url} ({self._attempts_made(retrying)})"
            ) from None
        except httpx.ConnectError as error:
            why = _cannot_heal(error)
            if why:
                raise FetchError(f"could not connect to {url}: {why}; not retried") from None
            raise FetchError(f"could not connect to {url}: {error} ({self._attempts_made(retrying)})") from None
        except httpx.TransportError as error:
            raise FetchError(
                f"{url} broke off: {error or type(error).__name__} ({self._attempts_made(retrying)})"
            ) from None
        if response.status_code >= 400:
            raise FetchError(f"{_describe(response)} from {url}", response)
        return response

    def _say_retry(self, retry_state) -> None:
        if self.on_retry is None:
            return
        error = retry_state.outcome.exception()
        reason = str(error) if isinstance(error, RetryableStatus) else (str(error) or type(error).__name__)
        label = getattr(self._local, "label", None)
        self.on_retry(
            f"{label + ': ' if label else ''}retrying in {retry_state.upcoming_sleep:.0f} s: {reason}, "
            f"attempt {retry_state.attempt_number + 1}/{self.attempts}"
        )

    def _wait_passes_deadline(self, retry_state) -> bool:
        """tenacity stop: the next wait would end after this thread's deadline."""
        remaining = self.remaining()
        return remaining is not None and retry_state.upcoming_sleep >= remaining

    def _attempts_made(self, retrying) -> str:
        """ "3 attempts", and why no more were made when the deadline stopped them."""
        attempts = retrying.statistics.get("attempt_number", self.attempts)
        if attempts < self.attempts:
            return f"{attempts} attempts; the next would pass the fetch's {self._local.seconds:g}s deadline"
        return f"{attempts} attempts"

    def _send_once(self, method, url, kwargs) -> httpx.Response:
        self._wait_for_host(url)
        response = self._read(method, url, kwargs)
        if response.status_code in RETRY_STATUSES:
            raise RetryableStatus(response)
        return response

    def _read(self, method, url, kwargs) -> httpx.Response:
        """The response, its body streamed so that the size cap and the
        deadline are checked between chunks."""
        remaining = self.remaining()
        if remaining is not None and remaining <= 0:
            raise DeadlineExceeded
        timeout = httpx.Timeout(self.timeout if remaining is None else min(self.timeout, remaining))
        with self._client.stream(method, url, timeout=timeout, **kwargs) as streamed:
            body = self._body(streamed)
            # The body is decoded already: the new response must not decode it again.
            headers = [
                (k, v) for k, v in streamed.headers.multi_items() if k not in ("content-encoding", "content-length")
            ]
            return httpx.Response(
                streamed.status_code,
                headers=headers,
                content=body,
                request=streamed.request,
                extensions={k: v for k, v in streamed.extensions.items() if k in ("reason_phrase", "http_version")},
            )

    def _body(self, streamed: httpx.Response) -> bytes:
        """The decoded body, read chunk by chunk: never more than ``max_bytes``
        of it held, even when a few kilobytes of gzip would inflate to gigabytes."""
        declared = streamed.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:  # said too big: not a byte read
            raise BodyTooLarge
        encoding = streamed.headers.get("content-encoding", "").strip().lower()
        # 47: zlib or gzip, whichever the header says; -15: raw deflate.
        inflater = zlib.decompressobj(47) if encoding in ("gzip", "deflate", "x-gzip") else None
        body = bytearray()
        chunks = streamed.iter_raw() if inflater else streamed.iter_bytes()
        for chunk in chunks:
            while chunk:
                if inflater is None:
                    piece, chunk = chunk, b""
                else:
                    piece = inflater.decompress(chunk, self.max_bytes + 1 - len(body))
                    chunk = inflater.unconsumed_tail
                body += piece
                if len(body) > self.max_bytes:
                    raise BodyTooLarge
                if inflater is not None and not piece:
                    break
            remaining = self.remaining()
            if remaining is not None and remaining <= 0:
                raise DeadlineExceeded
        return bytes(body)

    def _wait_for_host(self, url: str) -> None:
        # Book the host's next slot under the lock and sleep outside it, so a
        # thread waiting for one host never holds up requests to another. A
        # fetch whose deadline comes first books nothing: it must not push
        # back the fetches behind it.
        host = urlsplit(url).netloc
        interval = self._host_intervals.get(host, self.min_interval)
        remaining = self.remaining()
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_slot.get(host, now))
            if remaining is not None and start - now >= remaining:
                raise DeadlineExceeded
            self._next_slot[host] = start + interval
        if start > now:
            time.sleep(start - now)


def json_body(response: httpx.Response):
    """The decoded JSON of ``response``, or a :class:`FetchError` saying what came instead.

    >>> json_body(httpx.Response(200, json={"hits": []}, request=httpx.Request("GET", "http://x/")))
    {'hits': []}
    >>> json_body(httpx.Response(200, text="<html><title>Just a moment...</title>",
    ...                          request=httpx.Request("GET", "http://x/")))
    Traceback (most recent call last):
    ...
    collectors.http.FetchError: got an HTML page ('Just a moment...') instead of JSON from http://x/
    """
    body = response.content
    if body.lstrip()[:1] == b"<":
        title = re.search(rb"<title[^>]*>(.*?)</title>", body, re.I | re.S)
        what = f"an HTML page ({title.group(1).decode(errors='replace').strip()!r})" if title else "an HTML/XML page"
        raise FetchError(f"got {what} instead of JSON from {response.request.url}")
    try:
        return json.loads(body)
    except ValueError as error:
        raise FetchError(f"broken JSON from {response.request.url} ({error}); {len(body)} bytes received") from None


def _describe(response: httpx.Response) -> str:
    return f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
