"""Which reader serves which ``kind`` of source.

>>> sorted(READERS)
['bluesky', 'discourse', 'hackernews', 'jetstream', 'mastodon', 'reddit', 'rss', 'statuspage']
"""

from __future__ import annotations

from earshot.config import Config, Source

from .base import Reader
from .bluesky import Bluesky
from .discourse import Discourse
from .feeds import FeedReader
from .hackernews import HackerNews
from .http import HttpClient
from .jetstream import Jetstream
from .mastodon import Mastodon
from .reddit import Reddit
from .statuspage import StatusPage

READERS: dict[str, type[Reader]] = {
    reader.kind: reader
    for reader in (FeedReader, Reddit, HackerNews, Discourse, Mastodon, Bluesky, Jetstream, StatusPage)
}


def reader_for(source: Source, client: HttpClient, config: Config | None = None) -> Reader:
    """The reader for ``source``, with its host's rate limit set on ``client``."""
    reader = READERS[source.kind]
    if reader is Jetstream:
        return Jetstream(source, client, config)
    if reader is StatusPage:
        provider = config.provider_of(source.service) if config and source.service else None
        return StatusPage(source, client, provider=provider)
    return reader(source, client)
