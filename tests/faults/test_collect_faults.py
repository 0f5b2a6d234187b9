"""One collect pass over every way a source can break, beside a healthy feed."""

import subprocess
import sys
import time
import tracemalloc

import pytest
import tomlkit

from collectors.collect import collect_all
from collectors.http import HttpClient
from earshot.complaints import RuleComplaintFilter
from earshot.config import parse_config
from earshot.store import get_state, load_posts, open_db
from tests.conftest import SCIKIT_LEARN, imported_modules
from tests.faults.server import FaultServer, refused_url

DEADLINE = 3.0
# Source name (and the server's path): what its line says.
FEEDS = {
    "healthy": "4 new posts, 0 duplicates skipped",
    "http-500": "error: HTTP 500 Internal Server Error from {url} (gave up after 3 attempts)",
    "http-404": "error: HTTP 404 Not Found from {url}",
    "http-403": "error: HTTP 403 Forbidden from {url}",
    "retry-after-a-day": "error: HTTP 429 Too Many Requests from {url}: the server asks to wait 86400 s (Retry-After), "
    "longer than the fetch's 3s deadline; not asked again before ",
    "html-block-page": "error: got an HTML page ('Attention Required! | Cloudflare') instead of a feed",
    "truncated": "error: {url} broke off: peer closed connection without sending complete message body",
    "stall": "error: {url} did not answer within the fetch's 3s deadline",
    "drip": "error: {url} did not answer within the fetch's 3s deadline",
    "huge": "error: the body from {url} passed the 20 MB cap; stopped reading",
    "gzip-bomb": "error: the body from {url} passed the 20 MB cap; stopped reading",
    "reset": "error: {url} broke off: [Errno 104] Connection reset by peer (3 attempts)",
    "bad-charset": "3 new posts, 0 duplicates skipped (warning: feed is malformed (document declared as "
    "no-such-charset, but parsed as utf-8); kept 3 entries before the fault)",
    # Their DTD is dropped before parsing: the entities are undefined, nothing is expanded or fetched.
    "entity-bomb": "0 new posts, 0 duplicates skipped (warning: feed is malformed (<unknown>:1:73: undefined entity)",
    "external-entity": "0 new posts, 0 duplicates skipped (warning: feed is malformed (<unknown>:1:95: undefined entity)",
    "bad-dates": "2 new posts, 0 duplicates skipped (warning: 2 of 2 entries had no readable date; "
    "stored as posted when read)",
    "not-a-feed": "error: not a feed: ",
}


@pytest.fixture(scope="module")
def faults():
    server = FaultServer()
    yield server
    server.close()


def faulty_config(server: FaultServer):
    return parse_config(faulty_raw(server))


def faulty_raw(server: FaultServer) -> dict:
    """The config as TOML gives it. Every source is on one local host, its own
    limit off, so they do not queue behind each other."""
    feeds = [
        {"name": name, "kind": "rss", "url": server.url(f"/{name}"), "service": "chatgpt", "min_interval": 0}
        for name in FEEDS
    ]
    others = [
        {"name": "refused", "kind": "rss", "url": refused_url()},
        {"name": "no-such-host", "kind": "rss", "url": "http://earshot-fault.invalid/feed"},
        {"name": "renamed-fields", "kind": "hackernews", "base_url": server.url("/renamed-fields"), "query": "x"},
        {"name": "json-html", "kind": "hackernews", "base_url": server.url("/json-html"), "query": "x"},
    ]
    others = [{**s, "service": "chatgpt", "min_interval": 0} for s in others]
    return {
        "services": [{"name": "chatgpt", "terms": ["chatgpt"]}],
        "sources": feeds + others,
        "watch": {"deadline": DEADLINE},
    }


@pytest.mark.slow
def test_a_pass_over_every_broken_source_is_bounded_names_each_and_stores_the_healthy(faults, tmp_path):
    config = faulty_config(faults)
    db = open_db(tmp_path / "faults.db")
    retries = []
    client = HttpClient(timeout=2, attempts=3, backoff=0.05, max_wait=2, min_interval=0, on_retry=retries.append)
    tracemalloc.start()
    started = time.monotonic()
    reports = collect_all(db, config, client, RuleComplaintFilter())
    seconds = time.monotonic() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    lines = {r.source: r.line() for r in reports}
    assert list(lines) == [s.name for s in config.sources]
    for name, says in FEEDS.items():
        assert lines[name].startswith(f"{name}: {says.format(url=faults.url('/' + name))}"), lines[name]
    assert lines["refused"].endswith("the connection was refused (nothing listens there); not retried")
    assert lines["no-such-host"].endswith("the name does not resolve (offline, or a typo in the address?); not retried")
    assert "unexpected JSON from" in lines["renamed-fields"] and "no 'hits' list" in lines["renamed-fields"]
    assert "got an HTML page ('Attention Required! | Cloudflare') instead of JSON" in lines["json-html"]

    # Bounded: one deadline, a little more for the last stores; the big bodies never held whole.
    assert seconds < DEADLINE + 3, f"the pass took {seconds:.1f} s"
    assert peak < 200e6, f"peak {peak / 1e6:.0f} MB traced"
    # What cannot heal was asked once; what may heal was retried, and each retry said so.
    assert faults.hits["/http-404"] == faults.hits["/http-403"] == faults.hits["/huge"] == 1
    assert faults.hits["/http-500"] == 3
    assert any(line.startswith("http-500: retrying in 0 s: HTTP 500, attempt 2/3") for line in retries)
    # Nothing outside the feed was fetched for it.
    assert faults.hits["/secret"] == 0
    posts = load_posts(db)
    assert "the secret" not in " ".join(posts["title"].fillna("").tolist() + posts["text"].fillna("").tolist())
    assert (posts["source"] == "healthy").sum() == 4


@pytest.mark.slow
def test_a_long_retry_after_is_honoured_on_the_next_pass_without_asking(faults, tmp_path):
    config = faulty_config(faults)
    db = open_db(tmp_path / "faults.db")
    client = HttpClient(timeout=2, attempts=3, backoff=0.05, max_wait=2, min_interval=0)
    only = {"healthy", "retry-after-a-day"}
    collect_all(db, config, client, RuleComplaintFilter(), sources=only)
    asked = faults.hits["/retry-after-a-day"]
    retry_at = get_state(db, "retry-after-a-day")["retry_at"]
    assert retry_at > time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86000))

    again = {r.source: r.line() for r in collect_all(db, config, client, RuleComplaintFilter(), sources=only)}
    assert faults.hits["/retry-after-a-day"] == asked
    assert again["retry-after-a-day"] == (
        f"retry-after-a-day: not asked: its server asked to wait until {retry_at} (Retry-After)"
    )
    assert again["healthy"] == "healthy: 0 new posts, 4 duplicates skipped"


@pytest.mark.slow
def test_the_collect_command_names_every_broken_source_and_never_loads_scikit_learn(faults, tmp_path, classifier):
    # `classifier` has cached the session's scorer, as any earlier run would have.
    config = tmp_path / "faults.toml"
    config.write_text(tomlkit.dumps(faulty_raw(faults)))
    command = [sys.executable, "-X", "importtime", "-m", "earshot", "collect", "--db", str(tmp_path / "f.db")]
    ran = subprocess.run([*command, "--config", str(config)], capture_output=True, text=True, timeout=120)
    assert ran.returncode == 1, ran.stderr[-2000:]
    lines = {line.partition(":")[0]: line for line in ran.stdout.splitlines()}
    assert set(lines) >= set(FEEDS) | {"refused", "no-such-host", "renamed-fields", "json-html"}, ran.stdout
    assert lines["healthy"] == "healthy: 4 new posts, 0 duplicates skipped"
    assert lines["huge"].endswith("passed the 20 MB cap; stopped reading")
    # Judging posts takes numpy and the cached scorer; scikit-learn and SciPy would add about 90 MB.
    imported = imported_modules(ran.stderr)
    assert {"httpx", "feedparser", "earshot.complaints.scorer"} <= imported
    assert not {m for m in imported if m.split(".")[0] in SCIKIT_LEARN}
