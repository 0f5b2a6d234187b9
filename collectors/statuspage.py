"""Official acknowledgments from status pages (Atlassian Statuspage and incident.io).

Three shapes are understood, each turned into incident-update rows
(``provider``, ``incident_id``, ``update_id``, ``title``, ``stage``,
``posted_at``, ``text``, ``url``):

- ``/api/v2/incidents.json``: every update with its stage and ``created_at``
  (the moment it was posted; ``display_at`` may claim an earlier time).
- incident.io's history Atom/RSS: one entry per incident, latest stage only.
- Atlassian Statuspage history Atom/RSS: every update of an incident in one
  entry, as ``<small>Jun 24, 12:30 UTC</small><strong>Resolved</strong> - ...``
  blocks with no year.

Stages are stored as they came: repeated and out-of-order stages included.
"""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from earshot.kinds import KINDS
from earshot.timeutil import utc_datetime, utc_iso

from .base import Batch, Page, Reader
from .feeds import FeedError, html_to_text, parse_feed
from .http import HttpClient


def incidents_url(base_url: str) -> str:
    """The Statuspage-compatible incidents API under a status page's root.

    >>> incidents_url("https://status.openai.com/")
    'https://status.openai.com/api/v2/incidents.json'
    """
    return base_url.rstrip("/") + "/api/v2/incidents.json"


def fetch_status_updates(client: HttpClient, provider: str, url: str) -> list[dict]:
    """Fetch a status page's incidents API or history feed and return its updates."""
    response = client.get(url, headers={"Accept": "application/json, application/atom+xml;q=0.9, */*;q=0.5"})
    body = response.content
    if body.lstrip()[:1] in (b"{", b"["):
        try:
            payload = json.loads(body)
        except ValueError as error:
            raise FeedError(f"incidents JSON is broken ({error}); {len(body)} bytes received") from None
        return incidents_json_updates(provider, payload, page_url=_page_root(url))
    return status_feed_updates(provider, parse_feed(body, {"content-type": response.headers.get("content-type", "")}))


def incidents_json_updates(provider: str, payload: dict, page_url: str = "") -> list[dict]:
    """Updates from a Statuspage ``incidents.json`` / ``summary.json`` payload."""
    if not isinstance(payload, dict) or not isinstance(payload.get("incidents"), list):
        raise FeedError("JSON has no 'incidents' list; not a Statuspage incidents API response")
    updates = []
    for incident in payload["incidents"]:
        incident_id = str(incident["id"])
        url = incident.get("shortlink") or (f"{page_url}/incidents/{incident_id}" if page_url else None)
        for update in incident.get("incident_updates") or []:
            updates.append(
                {
                    "provider": provider,
                    "incident_id": incident_id,
                    "update_id": str(update.get("id") or f"{update.get('status')}@{update['created_at']}"),
                    "title": incident.get("name"),
                    "impact": incident.get("impact"),
                    "stage": (update.get("status") or "").lower() or None,
                    "posted_at": utc_iso(update["created_at"]),
                    "text": update.get("body"),
                    "url": url,
                }
            )
    return updates


_ATLASSIAN_BLOCK = re.compile(
    r"<small>\s*(?P<month>[A-Z][a-z]{2})\s*(?:<var[^>]*>)?\s*(?P<day>\d{1,2})\s*(?:</var>)?\s*,\s*"
    r"(?:<var[^>]*>)?\s*(?P<hm>\d{1,2}:\d{2})\s*(?:</var>)?\s*(?P<tz>[A-Z]{2,5})?\s*</small>\s*(?:<br\s*/?>)?\s*"
    r"<strong>(?P<stage>[^<]+)</strong>\s*-?\s*(?P<body>.*?)(?=<small>|$)",
    re.S,
)
_INCIDENTIO_STATUS = re.compile(r"\s*Status:\s*(\w+)\s*", re.I)


def status_feed_updates(provider: str, feed) -> list[dict]:
    """Updates from a status page's history feed (Atlassian or incident.io form)."""
    updates = []
    for entry in feed.entries:
        link = entry.get("link")
        incident_id = (link or entry.get("id") or "").rstrip("/").rsplit("/", 1)[-1]
        content = entry.content[0].value if entry.get("content") else entry.get("summary", "")
        stamp = _entry_time(entry)
        published = datetime(*stamp[:6], tzinfo=UTC) if stamp else None
        blocks = list(_ATLASSIAN_BLOCK.finditer(content))
        if blocks:
            for block in blocks:
                posted = _atlassian_time(block, published)
                stage = block["stage"].strip().lower()
                updates.append(
                    _feed_update(provider, incident_id, entry, link, stage, posted, html_to_text(block["body"]))
                )
            continue
        text = html_to_text(content)
        status = _INCIDENTIO_STATUS.match(text)
        if stamp is None:
            continue
        stage = status.group(1).lower() if status else None
        text = text[status.end() :] if status else text
        updates.append(_feed_update(provider, incident_id, entry, link, stage, utc_iso(stamp), text))
    return updates


def _entry_time(entry):
    """When an entry was last posted: an incident.io entry's ``updated`` is its
    latest stage; asked for directly so feedparser does not fall back with a warning."""
    for key in ("updated_parsed", "published_parsed"):
        if key in entry:
            return entry[key]
    return None


def _feed_update(provider, incident_id, entry, link, stage, posted_at, text) -> dict:
    return {
        "provider": provider,
        "incident_id": incident_id,
        # Feeds carry no update ids: the stage and its time identify one.
        "update_id": f"{stage}@{posted_at}",
        "title": html.unescape(entry.get("title") or ""),
        "impact": None,
        "stage": stage,
        "posted_at": posted_at,
        "text": text,
        "url": link,
    }


def _atlassian_time(block, published: datetime | None) -> str:
    """Give a year to an Atlassian ``Jun 24, 12:30 UTC`` stamp from the entry's date."""
    reference = published or datetime.now(UTC)
    stamp = datetime.strptime(f"{reference.year} {block['month']} {block['day']} {block['hm']}", "%Y %b %d %H:%M")
    stamp = stamp.replace(tzinfo=UTC)
    # The stamp has no year: take the one that puts it nearest the entry's date,
    # so an incident opened on 31 Dec and resolved on 1 Jan spans the new year.
    if (stamp - reference).days > 180:
        stamp = stamp.replace(year=stamp.year - 1)
    elif (reference - stamp).days > 180:
        stamp = stamp.replace(year=stamp.year + 1)
    return utc_iso(stamp)


def _page_root(url: str) -> str:
    return url.split("/api/v2/", 1)[0].rstrip("/") if "/api/v2/" in url else ""


def proxy_incidents_url(base_url: str) -> str:
    """incident.io's JSON of a status page's incidents (what the page itself reads).

    >>> proxy_incidents_url("https://status.openai.com")
    'https://status.openai.com/proxy/status.openai.com/incidents'
    """
    return f"{base_url.rstrip('/')}/proxy/{urlsplit(base_url).netloc}/incidents"


def proxy_updates(provider: str, payload: dict, page_url: str = "") -> list[dict]:
    """Updates from incident.io's ``/proxy/<host>/incidents`` payload."""
    if not isinstance(payload, dict) or not isinstance(payload.get("incidents"), list):
        raise FeedError("JSON has no 'incidents' list; not an incident.io incidents response")
    updates = []
    for incident in payload["incidents"]:
        for update in incident.get("updates") or []:
            updates.append(
                {
                    "provider": provider,
                    "incident_id": str(incident["id"]),
                    "update_id": str(update["id"]),
                    "title": incident.get("name"),
                    "impact": None,
                    "stage": (update.get("to_status") or "").lower() or None,
                    "posted_at": utc_iso(update["published_at"]),
                    "text": update.get("message_string"),
                    "url": f"{page_url}/incidents/{incident['id']}" if page_url else None,
                }
            )
    return updates


class StatusPage(Reader):
    """An official status page. ``platform = "incident.io"`` reads history through
    incident.io's windowed JSON; otherwise (Atlassian Statuspage) history pages
    back through ``incidents.json?page=N`` from the newest incident."""

    facts = KINDS["statuspage"]

    def __init__(self, source, client, provider: str | None = None):
        super().__init__(source, client)
        self.provider = source.provider or provider or source.name

    @property
    def incident_io(self) -> bool:
        return self.option("platform", "atlassian").lower().replace(".", "") == "incidentio"

    @property
    def window(self):
        # incident.io answers any range; Atlassian's pages span the whole range.
        return timedelta(days=30) if self.incident_io else None

    def latest(self, state: dict) -> Batch:
        url = self.source.url or incidents_url(self.base_url)
        return Batch(fetch_status_updates(self.client, self.provider, url))

    def history(self, window, cursor) -> Page:
        if self.incident_io:
            params = {"start_at": utc_iso(window.start), "end_at": utc_iso(window.end)}
            payload = self.client.get_json(proxy_incidents_url(self.base_url), params=params)
            return Page(proxy_updates(self.provider, payload, self.base_url))
        cursor = cursor or {"page": 1, "first": None}
        payload = self.client.get_json(incidents_url(self.base_url), params={"page": cursor["page"]})
        incidents = payload.get("incidents") if isinstance(payload, dict) else None
        if not incidents:
            return Page([])
        if incidents[0]["id"] == cursor["first"]:
            return Page([])  # the server ignores ?page: this page was the last one
        kept = {**payload, "incidents": [i for i in incidents if window.contains(utc_datetime(i["created_at"]))]}
        updates = incidents_json_updates(self.provider, kept, page_url=self.base_url)
        older = any(utc_datetime(i["created_at"]) < window.start for i in incidents)
        return Page(updates, cursor=None if older else {"page": cursor["page"] + 1, "first": incidents[0]["id"]})
