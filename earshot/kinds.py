"""The kinds of source earshot reads, and what is true of each: one home.

Config checks a source against its kind (known kind, an address where the
kind has no well-known one), watch polls it on the kind's interval, the
readers (``collectors/``) take their name, rate, home and whether they can
backfill from here, and the dashboard tells official updates from posts by
it. Adding a kind is one entry here and one reader class.

>>> KINDS["mastodon"].poll_seconds, KINDS["rss"].backfill, KINDS["statuspage"].official, KINDS["jetstream"].streams
(120, False, True, True)
>>> [kind.name for kind in KINDS.values() if kind.default_base_url is None]
['rss', 'discourse', 'statuspage']
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    name: str
    # One line for people: what this kind reads.
    reads: str
    # Seconds between two polls in watch, when neither the source nor [watch] says.
    poll_seconds: int = 60
    # Seconds between requests to the kind's host: its published limit, with room.
    min_interval: float = 1.0
    # Where the service lives when the config gives no url or base_url (None: one is required).
    default_base_url: str | None = None
    # Whether its items are the provider's own word (official updates), not posts.
    official: bool = False
    # Whether its history can be read back in time (`earshot backfill`).
    backfill: bool = True
    # Whether it is a live stream (one long-lived connection in watch) rather than polled.
    streams: bool = False
    # Per-kind config keys, beside name, kind, url, base_url, service, query, provider.
    options: tuple[str, ...] = ()


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("rss", "any RSS or Atom feed, with conditional GET", poll_seconds=300, backfill=False),
        Kind(
            "reddit",
            "a subreddit or a search: OAuth JSON with app credentials, else the public Atom feed",
            min_interval=2.0,
            default_base_url="https://www.reddit.com",
            options=("subreddit", "oauth_url", "archive_url", "comments"),
        ),
        Kind(
            "hackernews",
            "Hacker News through Algolia's search API",
            min_interval=0.4,  # Algolia allows 10,000 requests an hour from one address
            default_base_url="https://hn.algolia.com",
            options=("tags", "page_size"),
        ),
        Kind("discourse", "a Discourse forum's latest posts and search", min_interval=0.5),
        Kind(
            "mastodon",
            "a tag timeline on one or more Mastodon instances",
            poll_seconds=120,
            min_interval=1.0,  # 300 requests per 5 minutes per address
            default_base_url="https://mastodon.social",
            options=("instances", "tag"),
        ),
        Kind(
            "bluesky",
            "Bluesky's searchPosts (needs an account's app password)",
            min_interval=0.5,  # 3,000 requests per 5 minutes per account
            default_base_url="https://bsky.social",
            options=("public_url",),
        ),
        Kind(
            "jetstream",
            "Bluesky's public firehose of every post (Jetstream, a WebSocket; no account needed)",
            poll_seconds=60,  # `collect` and `watch --once` catch up from the cursor; watch follows it live
            min_interval=0.0,
            default_base_url="wss://jetstream2.us-east.bsky.network/subscribe",
            backfill=False,
            streams=True,
            options=("langs", "stall_seconds"),
        ),
        Kind(
            "statuspage",
            "a provider's official status page (Atlassian Statuspage or incident.io)",
            official=True,
            options=("platform",),
        ),
    )
}


def kind_of(name: str) -> Kind:
    """The facts of kind ``name``; an unknown kind is a ``KeyError`` naming the known ones.

    >>> kind_of("gopher")
    Traceback (most recent call last):
    ...
    KeyError: "unknown kind 'gopher' (known: rss, reddit, hackernews, discourse, mastodon, bluesky, jetstream, statuspage)"
    """
    try:
        return KINDS[name]
    except KeyError:
        raise KeyError(f"unknown kind {name!r} (known: {', '.join(KINDS)})") from None
