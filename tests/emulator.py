"""A local stand-in for every public API earshot reads, for tests and benchmarks.

It serves a generated corpus in the real payload shapes (each item starts as a
copy of a recorded real item from ``tests/fixtures``) with each API's own
paging and limits:

- Hacker News Algolia ``search_by_date``: ``numericFilters``, ``page``,
  ``hitsPerPage``, and only the first 1,000 hits of a query reachable;
- Discourse ``/posts.json`` and ``/search.json`` (``after:``/``before:`` days,
  ``order:latest``, 50 per page, ``more_full_page_results``);
- Mastodon tag timelines on several instances (local ids, shared ``uri``),
  ``max_id``/``since_id``/``min_id`` and ``Link`` headers;
- Bluesky ``createSession``/``refreshSession``/``searchPosts`` with tokens that
  expire, ``since``/``until``/``cursor``;
- Reddit app-only OAuth and listings, and the Arctic Shift archive;
- Atlassian ``incidents.json?page=N`` and incident.io's proxy incidents.

Faults are injected per path prefix (:meth:`Emulator.fail`, or over HTTP with
``POST /_emulator/fail?prefix=/hn&status=503&count=3&retry_after=1``): a run of
429s with ``Retry-After``, 5xx, or anything else; ``delay`` slows every answer.

>>> emulator = Emulator(make_corpus(days=1, per_day=10))
>>> with serve(emulator) as url:
...     import httpx
...     httpx.get(url + "/hn/api/v1/search_by_date", params={"hitsPerPage": 5}).json()["nbHits"]
10
"""

from __future__ import annotations

import base64
import bisect
import contextlib
import copy
import json
import math
import random
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

FIXTURES = Path(__file__).parent / "fixtures"
START = datetime(2023, 11, 1, tzinfo=UTC)
HN_HIT_CAP = 1000
DISCOURSE_PAGE = 50

COMPLAINTS = [
    "Is ChatGPT down? I keep getting 'network error'",
    "chatgpt at capacity again, can't get in",
    "OpenAI API returning 502s for all our requests",
    "can't log in to chatgpt, stuck on the login page",
    "ChatGPT is so slow today, responses take minutes",
]
CHATTER = [
    "ChatGPT wrote my error handler and it works",
    "GPT-5 launch is down to the wire",
    "How do I stream responses from the OpenAI API?",
    "OpenAI's outage last week cost us a day",
    "Trying the new voice mode in ChatGPT",
]


def _template(name: str):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@dataclass
class Item:
    """One generated post: the same facts, shaped per API on the way out."""

    index: int
    created: datetime
    author: str
    text: str
    is_story: bool
    platform: str | None = None  # None: on every platform; else "hn", "discourse", "mastodon", "bluesky" or "reddit"

    def on(self, platform: str) -> bool:
        return self.platform in (None, platform)

    @property
    def epoch(self) -> int:
        return int(self.created.timestamp())

    @property
    def iso_ms(self) -> str:
        return self.created.strftime("%Y-%m-%dT%H:%M:%S.") + f"{self.created.microsecond // 1000:03d}Z"


def make_corpus(days: float = 3, per_day: int = 200, start: datetime = START, seed: int = 7, burst=None) -> list[Item]:
    """``per_day`` items a day for ``days`` days from ``start``, at random
    millisecond times; ``burst=(moment, count, minutes)`` adds an outage's
    flurry of complaints."""
    rng = random.Random(seed)
    span = days * 86400
    moments = [start + timedelta(milliseconds=rng.randrange(int(span * 1000))) for _ in range(int(days * per_day))]
    if burst:
        moment, count, minutes = burst
        moments += [moment + timedelta(milliseconds=rng.randrange(minutes * 60000)) for _ in range(count)]
    items = []
    for index, created in enumerate(sorted(moments)):
        texts = COMPLAINTS if rng.random() < 0.3 else CHATTER
        items.append(
            Item(index, created, f"user{rng.randrange(400)}", f"{rng.choice(texts)} #{index}", rng.random() < 0.3)
        )
    return items


class Emulator:
    """A WSGI app serving ``corpus`` through every API's shape."""

    def __init__(self, corpus: list[Item], delay: float = 0.0, incidents: int = 30, token_lifetime: int = 50):
        self.corpus = corpus
        self.delay = delay
        self.token_lifetime = token_lifetime
        self.requests: list[str] = []
        self._faults: list[tuple[str, list[int], dict]] = []
        self._lock = threading.Lock()
        self._tokens: dict[str, int] = {}
        self._refresh_tokens: set[str] = set()
        self.sessions_created = 0
        self.incidents = self._make_incidents(incidents)
        self.hn = self._shape_hn()
        self.discourse = self._shape_discourse()
        self.mastodon = self._shape_mastodon()
        self.bluesky = self._shape_bluesky()
        self.reddit = self._shape_reddit()

    def publish(self, count: int, at: datetime) -> list[Item]:
        """``count`` new posts a second apart from ``at``, on every platform (live polling tests)."""
        first = len(self.corpus)
        new = [
            Item(first + n, at + timedelta(seconds=n), f"user{n}", f"{COMPLAINTS[0]} #{first + n}", False)
            for n in range(count)
        ]
        self.extend(new)
        return new

    def extend(self, items: list[Item]) -> None:
        """Add ``items`` (newer than any served yet) to what every platform serves."""
        self.corpus = self.corpus + list(items)
        self.hn, self.discourse = self._shape_hn(), self._shape_discourse()
        self.mastodon, self.bluesky, self.reddit = self._shape_mastodon(), self._shape_bluesky(), self._shape_reddit()

    # -- what a backfill should end up with ------------------------------------

    def ids(self, platform: str, since: datetime | None = None, until: datetime | None = None) -> set[str]:
        """The post ids earshot stores for ``platform`` items in ``[since, until)``."""
        key = {
            "hn": lambda i: str(1000000 + i.index),
            "discourse": lambda i: str(5000 + i.index),
            "mastodon": lambda i: self.mastodon_uri(i),
            "bluesky": lambda i: self.bluesky_uri(i),
            "reddit": lambda i: f"t3_{self.reddit_id(i)}",
            "reddit-comments": lambda i: f"t1_c{i.index:06x}" if i.index % 4 == 0 else None,
        }[platform]
        ids = {
            key(item)
            for item in self.corpus
            if (since is None or item.created >= since) and (until is None or item.created < until)
        }
        return ids - {None}

    # -- faults ----------------------------------------------------------------

    def fail(self, prefix: str, statuses: list[int], headers: dict | None = None) -> None:
        """Answer the next requests under ``prefix`` with ``statuses``, one each."""
        with self._lock:
            self._faults.append((prefix, list(statuses), headers or {}))

    def _fault_for(self, path: str) -> Response | None:
        with self._lock:
            for prefix, statuses, headers in self._faults:
                if path.startswith(prefix) and statuses:
                    status = statuses.pop(0)
                    return Response(
                        json.dumps({"error": f"emulated {status}"}), status, headers, content_type="application/json"
                    )
        return None

    # -- the WSGI app ----------------------------------------------------------

    def __call__(self, environ, start_response):
        request = Request(environ)
        if request.path.startswith("/_emulator/"):
            return self.route(request)(environ, start_response)
        with self._lock:
            self.requests.append(request.full_path)
        if self.delay:
            time.sleep(self.delay)
        response = self._fault_for(request.path) or self.route(request)
        return response(environ, start_response)

    def route(self, request: Request) -> Response:
        path = request.path
        routes = [
            (r"^/_emulator/fail$", self.control_fail),
            (r"^/hn/api/v1/search_by_date$", self.hn_search),
            (r"^/forum/posts\.json$", self.discourse_latest),
            (r"^/forum/search\.json$", self.discourse_search),
            (r"^/(mastodon-[a-z])/api/v1/timelines/tag/(\w+)$", self.mastodon_tag),
            (r"^/bsky/xrpc/com\.atproto\.server\.createSession$", self.bsky_create_session),
            (r"^/bsky/xrpc/com\.atproto\.server\.refreshSession$", self.bsky_refresh_session),
            (r"^/bsky/xrpc/app\.bsky\.feed\.searchPosts$", self.bsky_search),
            (r"^/reddit/api/v1/access_token$", self.reddit_token),
            (r"^/reddit/r/(\w+)/new/\.rss$", self.reddit_feed),
            (r"^/reddit-oauth/r/(\w+)/new$", self.reddit_new),
            (r"^/arctic/api/(posts|comments)/search$", self.arctic_search),
            (r"^/status/api/v2/incidents\.json$", self.statuspage_incidents),
            (r"^/status/proxy/[^/]+/incidents$", self.incidentio_incidents),
        ]
        for pattern, handler in routes:
            match = re.match(pattern, path)
            if match:
                return handler(request, *match.groups())
        return Response("not found", 404)

    def control_fail(self, request: Request) -> Response:
        args = request.args
        headers = {"Retry-After": args["retry_after"]} if "retry_after" in args else {}
        self.fail(args.get("prefix", "/"), [int(args.get("status", 503))] * int(args.get("count", 1)), headers)
        return _json({"ok": True})

    def _on(self, platform: str) -> list[Item]:
        return [item for item in self.corpus if item.on(platform)]

    # -- Hacker News (Algolia) ---------------------------------------------------

    def _shape_hn(self) -> list[dict]:
        template = _template("hn_algolia_search.json")["hits"][0]
        hits = []
        for item in self._on("hn"):
            hit = copy.deepcopy(template)
            hit.pop("_highlightResult", None)
            hit.update(
                objectID=str(1000000 + item.index),
                author=item.author,
                created_at=item.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                created_at_i=item.epoch,
                updated_at=item.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            )
            if item.is_story:
                hit.update(
                    title=item.text,
                    story_text=None,
                    _tags=["story", f"author_{item.author}", f"story_{hit['objectID']}"],
                )
            else:
                hit.update(
                    title=None,
                    story_text=None,
                    comment_text=f"<p>{item.text}</p>",
                    story_title="Ask HN: anything",
                    _tags=["comment", f"author_{item.author}"],
                )
            hits.append(hit)
        return hits

    def hn_search(self, request: Request) -> Response:
        low, high = _numeric_bounds(request.args.get("numericFilters", ""))
        # self.hn is oldest first; Algolia's search_by_date answers newest first.
        first = bisect.bisect_left(self.hn, low, key=lambda h: h["created_at_i"])
        last = bisect.bisect_left(self.hn, high, key=lambda h: h["created_at_i"])
        hits = self.hn[first:last][::-1]
        per_page = min(int(request.args.get("hitsPerPage", 20)), 1000)
        page = int(request.args.get("page", 0))
        reachable = hits[:HN_HIT_CAP]
        body = {
            "hits": reachable[page * per_page : (page + 1) * per_page],
            "nbHits": len(hits),
            "page": page,
            "nbPages": math.ceil(len(reachable) / per_page),
            "hitsPerPage": per_page,
            "exhaustiveNbHits": True,
            "query": request.args.get("query", ""),
            "params": urlencode(request.args),
            "processingTimeMS": 1,
        }
        return _json(body)

    # -- Discourse -------------------------------------------------------------

    def _shape_discourse(self) -> list[dict]:
        template = _template("discourse_posts_latest.json")["latest_posts"][0]
        posts = []
        for item in self._on("discourse"):
            post = copy.deepcopy(template)
            post.update(
                id=5000 + item.index,
                username=item.author,
                created_at=item.iso_ms,
                updated_at=item.iso_ms,
                raw=item.text,
                cooked=f"<p>{item.text}</p>",
                topic_id=900 + item.index // 3,
                topic_slug=f"topic-{900 + item.index // 3}",
                topic_title=f"Topic {900 + item.index // 3}",
                post_number=item.index % 3 + 1,
            )
            posts.append(post)
        return posts

    def discourse_latest(self, request: Request) -> Response:
        before = int(request.args.get("before", 2**62))
        newest = [p for p in self.discourse[::-1] if p["id"] < before][:50]
        return _json({"latest_posts": newest})

    def discourse_search(self, request: Request) -> Response:
        query = request.args.get("q", "")
        after = re.search(r"after:(\d{4}-\d{2}-\d{2})", query)
        before = re.search(r"before:(\d{4}-\d{2}-\d{2})", query)
        # Discourse reads the dates as midnight UTC: created_at > after, < before.
        low = _midnight(after.group(1)) if after else None
        high = _midnight(before.group(1)) if before else None
        # self.discourse is oldest first; search answers newest first.
        first = bisect.bisect_right(self.discourse, low, key=lambda p: p["created_at"]) if low else 0
        last = bisect.bisect_left(self.discourse, high, key=lambda p: p["created_at"]) if high else len(self.discourse)
        found = self.discourse[first:last][::-1]
        page = int(request.args.get("page", 1))
        chunk = found[(page - 1) * DISCOURSE_PAGE : page * DISCOURSE_PAGE]
        template = _template("discourse_search_query_response.docs.json")
        topic_template = template["topics"][0]
        topics = {}
        for post in chunk:
            topic = copy.deepcopy(topic_template)
            topic.update(
                id=post["topic_id"], title=post["topic_title"], fancy_title=post["topic_title"], slug=post["topic_slug"]
            )
            topics[post["topic_id"]] = topic
        posts = [
            {
                "id": p["id"],
                "name": None,
                "username": p["username"],
                "avatar_template": p["avatar_template"],
                "created_at": p["created_at"],
                "like_count": 0,
                "blurb": p["raw"],
                "post_number": p["post_number"],
                "topic_id": p["topic_id"],
            }
            for p in chunk
        ]
        grouped = {
            **template["grouped_search_result"],
            "post_ids": [p["id"] for p in posts],
            "more_full_page_results": True if page * DISCOURSE_PAGE < len(found) else None,
        }
        return _json(
            {
                "posts": posts,
                "topics": list(topics.values()),
                "users": [],
                "categories": [],
                "grouped_search_result": grouped,
            }
        )

    # -- Mastodon --------------------------------------------------------------

    def mastodon_uri(self, item: Item) -> str:
        return f"https://mastodon.example/users/{item.author}/statuses/{item.index}"

    def _shape_mastodon(self) -> dict[str, list[dict]]:
        template = _template("mastodon_tag_timeline_body.json")[0]
        instances = {"mastodon-a": [], "mastodon-b": []}
        for item in self._on("mastodon"):
            # Each instance holds what federated to it: overlapping, not equal.
            holders = {0: ["mastodon-a", "mastodon-b"], 1: ["mastodon-a"], 2: ["mastodon-b"]}[item.index % 3]
            for seq, instance in enumerate(holders):
                status = copy.deepcopy(template)
                local_id = (int(item.created.timestamp() * 1000) << 16) + (item.index % 4096) * 2 + seq
                status.update(
                    id=str(local_id),
                    created_at=item.iso_ms,
                    uri=self.mastodon_uri(item),
                    url=f"https://mastodon.example/@{item.author}/{item.index}",
                    content=f'<p>{item.text} <a href="https://mastodon.example/tags/chatgpt" class="mention hashtag">#<span>chatgpt</span></a></p>',
                )
                status["account"] = {
                    **template["account"],
                    "acct": item.author,
                    "username": item.author,
                    "url": f"https://mastodon.example/@{item.author}",
                }
                instances[instance].append(status)
        for statuses in instances.values():
            statuses.sort(key=lambda s: int(s["id"]), reverse=True)
        self._mastodon_ids = {name: [int(s["id"]) for s in reversed(statuses)] for name, statuses in instances.items()}
        return instances

    def mastodon_tag(self, request: Request, instance: str, tag: str) -> Response:
        statuses, ids = self.mastodon[instance], self._mastodon_ids[instance]  # newest first; ids ascending
        limit = min(int(request.args.get("limit", 20)), 40)
        max_id, since_id, min_id = (request.args.get(k) for k in ("max_id", "since_id", "min_id"))
        count = len(ids)
        # Positions in the newest-first list: below max_id starts at `top`.
        top = count - bisect.bisect_left(ids, int(max_id)) if max_id else 0
        if min_id is not None:
            # The statuses just above min_id, still newest first.
            bottom = count - bisect.bisect_right(ids, int(min_id))
            chosen = statuses[max(top, bottom - limit) : bottom]
        else:
            bottom = count - bisect.bisect_right(ids, int(since_id)) if since_id else count
            chosen = statuses[top : min(bottom, top + limit)]
        headers = {"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "299"}
        if chosen:
            base = request.base_url
            headers["Link"] = (
                f'<{base}?max_id={chosen[-1]["id"]}>; rel="next", <{base}?min_id={chosen[0]["id"]}>; rel="prev"'
            )
        return _json(chosen, headers)

    # -- Bluesky ---------------------------------------------------------------

    def bluesky_uri(self, item: Item) -> str:
        return f"at://did:plc:{item.author}/app.bsky.feed.post/3k{item.index:08d}"

    def _shape_bluesky(self) -> list[dict]:
        template = _template("bluesky_postviews_searchPosts.first5.json")[0]
        views = []
        for item in self._on("bluesky"):
            view = copy.deepcopy(template)
            view["uri"] = self.bluesky_uri(item)
            view["author"] = {
                **template["author"],
                "did": f"did:plc:{item.author}",
                "handle": f"{item.author}.bsky.social",
            }
            view["record"] = {
                "$type": "app.bsky.feed.post",
                "createdAt": item.iso_ms,
                "text": item.text,
                "langs": ["en"],
            }
            view["indexedAt"] = item.iso_ms
            views.append(view)
        views.sort(key=lambda v: v["indexedAt"], reverse=True)
        self._bluesky_keys = [v["indexedAt"] for v in reversed(views)]
        return views

    def bsky_create_session(self, request: Request) -> Response:
        body = request.get_json(silent=True) or {}
        if body.get("password") != "app-password-1234":
            return _json({"error": "AuthenticationRequired", "message": "Invalid identifier or password"}, status=401)
        with self._lock:
            self.sessions_created += 1
        return _json(self._new_tokens(body.get("identifier")))

    def bsky_refresh_session(self, request: Request) -> Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self._refresh_tokens:
            return _json({"error": "ExpiredToken", "message": "Token has expired"}, status=400)
        self._refresh_tokens.discard(token)
        return _json(self._new_tokens("refreshed"))

    def issued_tokens(self) -> list[str]:
        """Every Bluesky access token handed out so far."""
        with self._lock:
            return list(self._tokens)

    def _new_tokens(self, handle) -> dict:
        access = base64.b64encode(f"access-{random.random()}".encode()).decode()
        refresh = base64.b64encode(f"refresh-{random.random()}".encode()).decode()
        with self._lock:
            self._tokens[access] = self.token_lifetime
            self._refresh_tokens.add(refresh)
        return {"accessJwt": access, "refreshJwt": refresh, "handle": handle, "did": "did:plc:earshot"}

    def bsky_search(self, request: Request) -> Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        with self._lock:
            if token not in self._tokens:
                return _json({"error": "AuthMissing", "message": "Authentication Required"}, status=401)
            if self._tokens[token] <= 0:
                return _json({"error": "ExpiredToken", "message": "Token has expired"}, status=400)
            self._tokens[token] -= 1
        since, until = request.args.get("since"), request.args.get("until")
        # self.bluesky is newest first: search the reversed keys.
        keys = self._bluesky_keys
        low = bisect.bisect_left(keys, _iso_ms(since)) if since else 0
        high = bisect.bisect_left(keys, _iso_ms(until)) if until else len(keys)
        count = len(keys)
        found = self.bluesky[count - high : count - low]
        offset = int(request.args.get("cursor") or 0)
        limit = min(int(request.args.get("limit", 25)), 100)
        chunk = found[offset : offset + limit]
        body = {"posts": chunk, "hitsTotal": len(found)}
        if offset + limit < len(found):
            body["cursor"] = str(offset + limit)
        return _json(body)

    # -- Reddit and Arctic Shift -------------------------------------------------

    def reddit_id(self, item: Item) -> str:
        return f"1{item.index:06x}"

    def _shape_reddit(self) -> list[dict]:
        template = _template("reddit_listing_subreddit.json")["data"]["children"][0]["data"]
        things = []
        for item in self._on("reddit"):
            thing = copy.deepcopy(template)
            thing.update(
                id=self.reddit_id(item),
                name=f"t3_{self.reddit_id(item)}",
                author=item.author,
                created_utc=item.created.timestamp(),
                created=item.created.timestamp(),
                title=item.text,
                selftext="",
                selftext_html=None,
                subreddit="ChatGPT",
                permalink=f"/r/ChatGPT/comments/{self.reddit_id(item)}/post/",
            )
            things.append(thing)
        # Every fourth post also has a comment, a few seconds later (Arctic Shift's t1 fields).
        self.reddit_comments = [
            {
                "id": f"c{item.index:06x}",
                "author": item.author,
                "body": f"same here: {item.text}",
                "created_utc": item.epoch,
                "link_id": f"t3_{self.reddit_id(item)}",
                "parent_id": f"t3_{self.reddit_id(item)}",
                "subreddit": "ChatGPT",
                "permalink": f"/r/ChatGPT/comments/{self.reddit_id(item)}/post/c{item.index:06x}/",
                "score": 1,
            }
            for item in self._on("reddit")
            if item.index % 4 == 0
        ]
        return things

    def reddit_token(self, request: Request) -> Response:
        if request.authorization is None or request.authorization.password != "reddit-secret":
            return _json({"error": 401, "message": "Unauthorized"}, status=401)
        return _json({"access_token": "reddit-token", "token_type": "bearer", "expires_in": 86400, "scope": "*"})

    def reddit_feed(self, request: Request, subreddit: str) -> Response:
        body = (FIXTURES / "reddit_subreddit_rss.atom.xml").read_bytes()
        return Response(body, 200, content_type="application/atom+xml; charset=UTF-8")

    def reddit_new(self, request: Request, subreddit: str) -> Response:
        if request.headers.get("Authorization") != "Bearer reddit-token":
            return _json({"message": "Forbidden", "error": 403}, status=403)
        newest = sorted(self.reddit, key=lambda t: t["created_utc"], reverse=True)[: int(request.args.get("limit", 25))]
        return _json(
            {
                "kind": "Listing",
                "data": {"after": None, "before": None, "children": [{"kind": "t3", "data": t} for t in newest]},
            }
        )

    def arctic_search(self, request: Request, stream: str) -> Response:
        after, before = int(request.args.get("after", 0)), int(request.args.get("before", 2**40))
        # Both bounds exclusive, on whole seconds; self.reddit is oldest first.
        things = self.reddit if stream == "posts" else self.reddit_comments
        first = bisect.bisect_right(things, after, key=lambda t: int(t["created_utc"]))
        last = bisect.bisect_left(things, before, key=lambda t: int(t["created_utc"]))
        found = things[first:last]
        if request.args.get("sort") == "desc":
            found = found[::-1]
        return _json({"data": found[: min(int(request.args.get("limit", 25)), 100)]})

    # -- status pages ------------------------------------------------------------

    def _make_incidents(self, count: int) -> list[dict]:
        template = _template("openai_status_api_v2_incidents.excerpt.json")["incidents"][0]
        incidents = []
        for n in range(count):
            opened = START + timedelta(days=n * 2, hours=13)
            incident = copy.deepcopy(template)
            stamps = [opened + timedelta(minutes=m) for m in (0, 40, 90)]
            incident.update(
                id=f"inc{n:04d}",
                name=f"Elevated errors #{n}",
                created_at=_iso(stamps[0]),
                updated_at=_iso(stamps[-1]),
                resolved_at=_iso(stamps[-1]),
            )
            incident["incident_updates"] = [
                {
                    **template["incident_updates"][0],
                    "id": f"upd{n:04d}{k}",
                    "incident_id": incident["id"],
                    "status": stage,
                    "body": f"{stage} #{n}",
                    "created_at": _iso(stamp),
                    "display_at": _iso(stamp),
                    "updated_at": _iso(stamp),
                }
                for k, (stage, stamp) in enumerate(
                    zip(("investigating", "identified", "resolved"), stamps, strict=True)
                )
            ][::-1]
            incidents.append(incident)
        return incidents[::-1]  # newest first, as the API lists them

    def post_update(self, incident_id: str, name: str, stage: str, at: datetime) -> None:
        """Post one official update (``investigating``, ``resolved``...) to an
        incident, opening it if new: what a provider's status page does live."""
        template = _template("openai_status_api_v2_incidents.excerpt.json")["incidents"][0]
        with self._lock:
            incident = next((i for i in self.incidents if i["id"] == incident_id), None)
            if incident is None:
                incident = {
                    **copy.deepcopy(template),
                    "id": incident_id,
                    "name": name,
                    "created_at": _iso(at),
                    "incident_updates": [],
                }
                self.incidents.insert(0, incident)
            update = {
                **template["incident_updates"][0],
                "id": f"{incident_id}-{len(incident['incident_updates'])}",
                "incident_id": incident_id,
                "status": stage,
                "body": f"{name}: {stage}",
                "created_at": _iso(at),
                "display_at": _iso(at),
                "updated_at": _iso(at),
            }
            incident["incident_updates"].insert(0, update)
            incident.update(status=stage, updated_at=_iso(at), resolved_at=_iso(at) if stage == "resolved" else None)

    def statuspage_incidents(self, request: Request) -> Response:
        page = int(request.args.get("page", 1))
        return _json({"page": {"id": "emulated"}, "incidents": self.incidents[(page - 1) * 10 : page * 10]})

    def incidentio_incidents(self, request: Request) -> Response:
        start, end = request.args.get("start_at"), request.args.get("end_at")
        chosen = [i for i in self.incidents if start <= i["created_at"] < end] if start and end else self.incidents
        return _json(
            {
                "incidents": [
                    {
                        "id": i["id"],
                        "name": i["name"],
                        "status": "resolved",
                        "published_at": i["created_at"],
                        "updates": [
                            {
                                "id": u["id"],
                                "to_status": u["status"],
                                "message_string": u["body"],
                                "published_at": u["created_at"],
                            }
                            for u in i["incident_updates"]
                        ],
                    }
                    for i in chosen
                ]
            }
        )

    def official_update_ids(self, since: datetime, until: datetime) -> set[str]:
        return {
            u["id"]
            for i in self.incidents
            if _iso(since) <= i["created_at"] < _iso(until)
            for u in i["incident_updates"]
        }


# -- serving ---------------------------------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        pass  # the emulator keeps its own request log (Emulator.requests)


@contextlib.contextmanager
def serve(app, host: str = "127.0.0.1"):
    """Serve ``app`` on a free port in a background thread; yield its base URL."""
    server = make_server(host, 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def config_toml(base: str, **extra_source_options) -> str:
    """An earshot config whose every source is this emulator at ``base``."""
    return f"""
[[services]]
name = "chatgpt"
terms = ["chatgpt", "openai"]
provider = "openai"

[[sources]]
name = "hackernews"
kind = "hackernews"
base_url = "{base}/hn"
query = "chatgpt"
service = "chatgpt"

[[sources]]
name = "forum"
kind = "discourse"
base_url = "{base}/forum"
service = "chatgpt"

[[sources]]
name = "mastodon"
kind = "mastodon"
instances = ["{base}/mastodon-a", "{base}/mastodon-b"]
tag = "chatgpt"
service = "chatgpt"

[[sources]]
name = "bluesky"
kind = "bluesky"
base_url = "{base}/bsky"
public_url = "{base}/bsky"
query = "chatgpt"
service = "chatgpt"

[[sources]]
name = "reddit"
kind = "reddit"
base_url = "{base}/reddit"
oauth_url = "{base}/reddit-oauth"
archive_url = "{base}/arctic"
subreddit = "ChatGPT"
service = "chatgpt"

[[sources]]
name = "status"
kind = "statuspage"
base_url = "{base}/status"
service = "chatgpt"

[[sources]]
name = "status-incidentio"
kind = "statuspage"
base_url = "{base}/status"
platform = "incident.io"
service = "chatgpt"
"""


def source_blocks(toml: str, names: set[str], **options) -> str:
    """The ``[[sources]]`` of config ``toml`` named in ``names``, each given ``options`` too."""
    _, *sources = toml.split("[[sources]]")
    extra = "".join(f"{key} = {json.dumps(value)}\n" for key, value in options.items())
    return "".join(
        "[[sources]]" + s.rstrip("\n") + "\n" + extra + "\n"
        for s in sources
        if next(line for line in s.splitlines() if line.startswith("name")).split('"')[1] in names
    )


def only_sources(toml: str, names: set[str]) -> str:
    """Config ``toml`` with only the ``[[sources]]`` named."""
    return toml.split("[[sources]]")[0] + source_blocks(toml, names)


def _numeric_bounds(filters: str) -> tuple[int, int]:
    """``created_at_i`` filters as a half-open range ``[low, high)``."""
    low, high = 0, 2**62
    for clause in filter(None, filters.split(",")):
        match = re.match(r"created_at_i(>=|<=|>|<)(\d+)$", clause.strip())
        if match:
            op, bound = match.group(1), int(match.group(2))
            low = max(low, bound + (op == ">")) if op in (">", ">=") else low
            high = min(high, bound + (op == "<=")) if op in ("<", "<=") else high
    return low, high


def _midnight(day: str) -> str:
    return date.fromisoformat(day).strftime("%Y-%m-%dT00:00:00.000Z")


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_ms(text: str) -> str:
    """Any ISO time as the emulator's own millisecond form, to compare as text."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _json(body, headers: dict | None = None, status: int = 200) -> Response:
    return Response(json.dumps(body), status, headers or {}, content_type="application/json; charset=utf-8")


def main() -> None:
    """Serve the emulator until Ctrl-C, for trying earshot by hand:

    python -m tests.emulator --port 8765 --config emulator.toml
    """
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--config", type=Path, default=Path("emulator.toml"), help="write an earshot config for it here"
    )
    parser.add_argument("--days", type=float, default=14, help="days of history from 2023-11-01 (default 14)")
    parser.add_argument("--per-day", type=int, default=300)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait before each answer")
    args = parser.parse_args()
    emulator = Emulator(make_corpus(days=args.days, per_day=args.per_day), delay=args.delay)
    base = f"http://127.0.0.1:{args.port}"
    args.config.write_text(config_toml(base), encoding="utf-8")
    print(f"serving {len(emulator.corpus)} posts per platform on {base}; config written to {args.config}")
    make_server("127.0.0.1", args.port, emulator, threaded=True, request_handler=_QuietHandler).serve_forever()


if __name__ == "__main__":
    main()
