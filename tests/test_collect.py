"""Collectors over real HTTP against a local server serving recorded payloads."""

import time

import pytest
from werkzeug import Response

from collectors.collect import collect_all
from collectors.feeds import FeedError, parse_feed
from collectors.http import FetchError, HttpClient
from collectors.statuspage import status_feed_updates
from earshot.complaints import RuleComplaintFilter
from earshot.config import parse_config
from earshot.store import get_state, load_incident_updates, load_posts, open_db
from tests.conftest import fixture_bytes

ATOM = "application/atom+xml"
# Collecting is about reading and storing: the rules judge posts here, the classifier has its own tests.
RULES = RuleComplaintFilter()
HTML_BLOCK_PAGE = b"""<!DOCTYPE html><html><head><title>Blocked - whoa there, pardner!</title></head>
<body><p>Your request has been blocked due to a network policy.</p></body></html>"""


def fast_client(**overrides):
    options = {"timeout": 2.0, "attempts": 3, "backoff": 0.0, "max_wait": 2.0, "min_interval": 0.0}
    options.update(overrides)
    return HttpClient(**options)


def make_config(server, sources):
    return parse_config(
        {
            "services": [{"name": "chatgpt", "terms": ["chatgpt", "openai"], "provider": "openai"}],
            "sources": [
                {"name": name, "kind": kind, "url": server.url_for(path), "service": "chatgpt"}
                for name, kind, path in sources
            ],
        }
    )


def collect_once(server, tmp_path, sources, **client_options):
    """Collect ``sources`` (name, kind, path) once from ``server`` into a new database."""
    config = make_config(server, sources)
    db = open_db(tmp_path / "earshot.db")
    with fast_client(**client_options) as client:
        return db, collect_all(db, config, client, RULES)


FEEDS = [
    ("reddit", "rss", "/r/ChatGPT/new/.rss"),
    ("mastodon", "rss", "/tags/chatgpt.rss"),
    ("stackoverflow", "rss", "/feeds/tag"),
    ("openai-status", "statuspage", "/api/v2/incidents.json"),
]


def serve_fixtures(server):
    server.expect_request("/r/ChatGPT/new/.rss").respond_with_data(
        fixture_bytes("reddit_subreddit_rss.atom.xml"), content_type=ATOM
    )
    server.expect_request("/tags/chatgpt.rss").respond_with_data(
        fixture_bytes("mastodon_tag_rss.xml"), content_type="application/rss+xml"
    )
    server.expect_request("/feeds/tag").respond_with_data(
        fixture_bytes("stackoverflow_tag_feed.atom.xml"), content_type=ATOM
    )
    server.expect_request("/api/v2/incidents.json").respond_with_data(
        fixture_bytes("openai_status_api_v2_incidents.excerpt.json"), content_type="application/json"
    )


@pytest.mark.slow
def test_collecting_the_fixture_feeds_twice_stores_each_item_once(server, tmp_path):
    serve_fixtures(server)
    config = make_config(server, FEEDS)
    db = open_db(tmp_path / "earshot.db")
    with fast_client() as client:
        first = collect_all(db, config, client, RULES)
        second = collect_all(db, config, client, RULES)

    assert [r.line() for r in first] == [
        "reddit: 5 new posts, 0 duplicates skipped",
        "mastodon: 4 new posts, 0 duplicates skipped",
        "stackoverflow: 2 new posts, 0 duplicates skipped",
        "openai-status: 22 new official updates, 0 duplicates skipped",
    ]
    assert [(r.new, r.duplicates) for r in second] == [(0, 5), (0, 4), (0, 2), (0, 22)]
    assert db["posts"].count == 11
    assert db["incident_updates"].count == 22


def test_feed_posts_are_stored_as_utc_plain_text_with_hashed_authors(server, tmp_path):
    serve_fixtures(server)
    db, _ = collect_once(server, tmp_path, FEEDS[:1])
    posts = load_posts(db)
    first = posts[posts["post_id"] == "t3_18895rv"].iloc[0]
    assert first["created_at"].isoformat() == "2023-12-01T11:00:17+00:00"
    assert first["title"] == "Monthly: Who is hiring?"
    assert "<" not in first["text"] and "Name of the company" in first["text"]
    assert first["url"] == "https://www.reddit.com/r/kubernetes/comments/18895rv/monthly_who_is_hiring/"
    assert first["author_hash"] and "gctaylor" not in first["author_hash"]
    assert first["service"] == "chatgpt"
    assert set(posts["is_complaint"]) <= {0, 1}


@pytest.mark.parametrize(
    "broken, expected",
    [
        (
            lambda s: s.expect_request("/hn").respond_with_data(HTML_BLOCK_PAGE, content_type="text/html"),
            "hn: error: got an HTML page ('Blocked - whoa there, pardner!') instead of a feed",
        ),
        (
            lambda s: s.expect_request("/hn").respond_with_data("oops", status=500),
            "hn: error: HTTP 500 INTERNAL SERVER ERROR from {url} (gave up after 3 attempts)",
        ),
        (
            lambda s: s.expect_request("/hn").respond_with_handler(lambda r: (time.sleep(3), Response("late"))[1]),
            "hn: error: timed out after 0.5s fetching {url} (1 attempts)",
        ),
        (
            lambda s: s.expect_request("/hn").respond_with_data(b"", status=404),
            "hn: error: HTTP 404 NOT FOUND from {url}",
        ),
    ],
    ids=["html-block-page", "http-500", "timeout", "http-404"],
)
@pytest.mark.slow
def test_a_broken_source_reports_one_line_and_the_others_are_stored(server, tmp_path, broken, expected):
    serve_fixtures(server)
    broken(server)
    attempts = 1 if "timed out" in expected else 3
    db, reports = collect_once(
        server, tmp_path, [FEEDS[0], ("hn", "rss", "/hn"), FEEDS[3]], timeout=0.5, attempts=attempts
    )
    lines = [r.line() for r in reports]
    assert lines[1] == expected.format(url=server.url_for("/hn"))
    assert lines[0] == "reddit: 5 new posts, 0 duplicates skipped"
    assert lines[2] == "openai-status: 22 new official updates, 0 duplicates skipped"
    assert get_state(db, "hn")["last_error"] == lines[1].removeprefix("hn: error: ")


def test_a_failure_later_keeps_what_was_stored(server, tmp_path):
    serve_fixtures(server)
    config = make_config(server, FEEDS[:1])
    db = open_db(tmp_path / "earshot.db")
    with fast_client() as client:
        collect_all(db, config, client, RULES)
        server.clear()
        server.expect_request("/r/ChatGPT/new/.rss").respond_with_data(
            fixture_bytes("reddit_subreddit_rss.atom.xml")[:3000], content_type=ATOM
        )
        (report,) = collect_all(db, config, client, RULES)
    # A truncated body still parses as far as it goes (feedparser is lenient):
    # whatever it yields is a duplicate, and nothing stored is lost.
    assert report.ok and report.new == 0 and "malformed" in report.warning
    assert db["posts"].count == 5


def test_truncated_status_json_is_a_clear_error(server, tmp_path):
    body = fixture_bytes("openai_status_api_v2_incidents.excerpt.json")
    server.expect_request("/api/v2/incidents.json").respond_with_data(body[:5000], content_type="application/json")
    _, (report,) = collect_once(server, tmp_path, FEEDS[3:])
    assert report.line().startswith("openai-status: error: incidents JSON is broken (")
    assert "5000 bytes received" in report.line()


def test_conditional_get_sends_validators_and_respects_304(server, tmp_path):
    body = fixture_bytes("mastodon_tag_rss.xml")
    server.expect_request("/tags/chatgpt.rss", headers={"If-None-Match": '"v1"'}).respond_with_data("", status=304)
    server.expect_request("/tags/chatgpt.rss").respond_with_data(
        body,
        content_type="application/rss+xml",
        headers={"ETag": '"v1"', "Last-Modified": "Fri, 08 Dec 2023 12:52:54 GMT"},
    )
    config = make_config(server, [FEEDS[1]])
    db = open_db(tmp_path / "earshot.db")
    with fast_client() as client:
        first = collect_all(db, config, client, RULES)[0]
        second = collect_all(db, config, client, RULES)[0]
    assert first.new == 4
    assert second.line() == "mastodon: not modified since last fetch"
    assert get_state(db, "mastodon")["last_modified"] == "Fri, 08 Dec 2023 12:52:54 GMT"


def test_user_agent_names_earshot(server):
    seen = {}

    def handler(request):
        seen["ua"] = request.headers.get("User-Agent")
        return Response(fixture_bytes("mastodon_tag_rss.xml"), content_type="application/rss+xml")

    server.expect_request("/ua").respond_with_handler(handler)
    with fast_client() as client:
        client.get(server.url_for("/ua"))
    assert seen["ua"].startswith("earshot/")


def test_429_with_retry_after_is_waited_out_then_succeeds(server):
    server.expect_ordered_request("/busy").respond_with_data("slow down", status=429, headers={"Retry-After": "1"})
    server.expect_ordered_request("/busy").respond_with_data("ok")
    with fast_client() as client:
        started = time.monotonic()
        response = client.get(server.url_for("/busy"))
        waited = time.monotonic() - started
    assert response.text == "ok"
    assert waited >= 0.9  # Retry-After: 1 was honoured although backoff is 0


def test_retries_give_up_with_a_clear_error(server):
    server.expect_request("/down").respond_with_data("no", status=503)
    with fast_client(attempts=2) as client, pytest.raises(FetchError) as error:
        client.get(server.url_for("/down"))
    assert str(error.value) == f"HTTP 503 SERVICE UNAVAILABLE from {server.url_for('/down')} (gave up after 2 attempts)"
    assert len(server.log) == 2


def test_connection_refused_is_a_clear_error(free_port):
    with (
        fast_client(attempts=1) as client,
        pytest.raises(FetchError, match=r"could not connect to http://127\.0\.0\.1"),
    ):
        client.get(f"http://127.0.0.1:{free_port}/feed")


def test_statuspage_updates_keep_stage_posting_time_and_repeats(server, tmp_path):
    serve_fixtures(server)
    db, _ = collect_once(server, tmp_path, FEEDS[3:])
    updates = load_incident_updates(db, "openai")
    agents = updates[updates["incident_id"] == "01M2H3J1D6Y7RHAP49GRWGJAY0"]
    # Two "monitoring" posts in a row, and the first one's display_at (20:30)
    # claims a time earlier than it was posted (23:20): we keep the posting time.
    assert list(agents["stage"]) == ["monitoring", "monitoring", "resolved"]
    assert agents["posted_at"].iloc[0].isoformat() == "2026-09-14T23:20:41+00:00"
    assert agents["url"].iloc[0] == server.url_for("/incidents/01M2H3J1D6Y7RHAP49GRWGJAY0")


@pytest.mark.parametrize("name", ["openai_status_incidentio_feed.atom", "openai_status_incidentio_feed.rss"])
def test_incidentio_history_feeds_give_the_latest_stage(server, tmp_path, name):
    server.expect_request("/feed").respond_with_data(fixture_bytes(name), content_type=ATOM)
    db, (report,) = collect_once(server, tmp_path, [("openai-status", "statuspage", "/feed")])
    assert report.ok, report.line()
    updates = load_incident_updates(db, "openai")
    assert set(updates["stage"]) == {"resolved"}
    assert updates["text"].iloc[0].startswith("All impacted services have now fully recovered.")


def test_atlassian_history_feed_gives_every_update_with_its_year():
    feed = parse_feed(fixture_bytes("statuspage_history_atlassian.atom"))
    updates = status_feed_updates("github", feed)
    assert [(u["stage"], u["posted_at"]) for u in updates] == [
        ("resolved", "2021-02-24T20:01:00+00:00"),
        ("investigating", "2021-02-24T19:25:00+00:00"),
    ]
    assert updates[0]["incident_id"] == "cbphcjkww9r2"


def test_html_page_is_not_a_feed():
    with pytest.raises(FeedError, match="HTML page"):
        parse_feed(HTML_BLOCK_PAGE)


def test_unexpected_json_from_a_status_source_is_a_clear_error(server, tmp_path):
    server.expect_request("/api/v2/incidents.json").respond_with_json({"error": "nope"})
    _, (report,) = collect_once(server, tmp_path, FEEDS[3:])
    assert (
        report.line() == "openai-status: error: JSON has no 'incidents' list; not a Statuspage incidents API response"
    )
