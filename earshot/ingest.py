"""Ingest: what readers yield becomes stored rows.

Official updates are stored as they are; posts get their service, a hashed
author and the complaint filter's verdict first. The filter is an argument
(anything with ``verdicts(texts)``, see :mod:`earshot.complaints.model`), so the
caller decides which one runs and builds it once.

>>> from earshot.complaints import RuleComplaintFilter
>>> from earshot.config import Source, load_config
>>> from earshot.store import open_db
>>> db = open_db(":memory:")
>>> forum = Source("forum", "discourse", base_url="http://127.0.0.1:9", service="chatgpt")
>>> posts = [{"source": "forum", "post_id": "1", "created_at": "2023-11-08T13:45:00Z", "title": "Is ChatGPT down?"}]
>>> ingest(db, load_config(), forum, posts, RuleComplaintFilter())
(1, 0)
>>> db.execute("SELECT service, is_complaint, problem FROM posts").fetchall()
[('chatgpt', 1, 'down')]
"""

from __future__ import annotations

import sqlite_utils

from .config import Config, Source
from .kinds import KINDS
from .store import author_hash, post_texts_after, set_verdicts, store_incident_updates, store_posts


def ingest(db: sqlite_utils.Database, config: Config, source: Source, items: list[dict], classifier) -> tuple[int, int]:
    """Store what ``source``'s reader returned; return ``(new, duplicates)``."""
    if KINDS[source.kind].official:
        return store_incident_updates(db, items)
    return store_posts(db, classify_posts(config, source, items, classifier))


def classify_posts(config: Config, source: Source, posts: list[dict], classifier) -> list[dict]:
    """Give each post its service, hashed author and ``classifier``'s verdict,
    judged as a report about that service (see :meth:`Config.view`; a post of
    no service is judged for the first)."""
    texts = [post_text(p) for p in posts]
    services = [config.service_for(source, text) for text in texts]
    verdicts = judged(config, classifier, texts, services)
    rows = []
    for post, service, (complaint, problem) in zip(posts, services, verdicts, strict=True):
        row = {k: v for k, v in post.items() if k != "author"}
        row["author_hash"] = author_hash(source.name, post.get("author"))
        row["service"] = service
        row["is_complaint"] = complaint
        row["problem"] = problem
        rows.append(row)
    return rows


def judged(config: Config, classifier, texts: list[str], services: list) -> list[tuple[bool, str | None]]:
    """``(complaint, problem)`` for each text, read as a report about its service."""
    out: list = [None] * len(texts)
    configured = {s.name for s in config.services}
    for service in dict.fromkeys(services):
        at = [i for i, s in enumerate(services) if s == service]
        verdicts = classifier.verdicts([texts[i] for i in at], config.view(service if service in configured else None))
        for i, verdict in zip(at, verdicts.itertuples(), strict=True):
            out[i] = (bool(verdict.complaint), verdict.problem)
    return out


def post_text(post: dict) -> str:
    """What the classifier reads of a post: its title, then its text.

    >>> post_text({"title": "Is ChatGPT down?", "text": "nothing loads"})
    'Is ChatGPT down?\\nnothing loads'
    """
    return f"{post.get('title') or ''}\n{post.get('text') or ''}".strip()


def reclassify_posts(
    db: sqlite_utils.Database, config: Config, classifier, batch: int = 5000, progress=None
) -> tuple[int, int]:
    """Classify every stored post again (after a new corpus or model), each
    as a report about its stored service; return ``(changed, total)``.

    Only ``is_complaint`` and ``problem`` are rewritten, one transaction per
    batch; ``progress(n)`` is called after each batch with its size.
    """
    changed = total = 0
    last = -1
    while rows := post_texts_after(db, last, batch):
        verdicts = judged(config, classifier, [post_text(row) for row in rows], [row["service"] for row in rows])
        updates = [
            (int(complaint), problem, row["rowid"])
            for row, (complaint, problem) in zip(rows, verdicts, strict=True)
            if (row["is_complaint"], row["problem"]) != (int(complaint), problem)
        ]
        set_verdicts(db, updates)
        changed += len(updates)
        total += len(rows)
        last = rows[-1]["rowid"]
        if progress:
            progress(len(rows))
    return changed, total
