"""The ``earshot`` command: a thin click layer over the library.

Every subcommand that touches data takes ``--db PATH`` (default ``$EARSHOT_DB``,
else ``data/earshot.db``) and, where sources or the detector matter,
``--config PATH`` (default: the bundled ChatGPT configuration).
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from pathlib import Path

import click

from dashboard.pages import pages_help
from earshot import __version__
from earshot.config import ConfigError, default_db_path, load_config

DEMO_DB = Path("data") / "demo.db"
APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"


def db_option(default=None):
    return click.option(
        "--db",
        "db_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=default,
        help="SQLite database. Default: $EARSHOT_DB, else data/earshot.db."
        if default is None
        else f"SQLite database. Default: {default}.",
    )


def _config_option(default: str):
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help=f"TOML configuration. Default: {default}.",
    )


config_option = _config_option("the bundled ChatGPT configuration")
demo_config_option = _config_option("the bundled ChatGPT and Claude one (earshot/llms.toml)")
port_option = click.option("--port", default=8501, show_default=True, help="Port to serve the dashboard on.")


def timeout_option(default: float):
    return click.option(
        "--timeout", type=float, default=default, show_default=True, help="Seconds before a request gives up."
    )


def attempts_option(default: int, until: str = ""):
    return click.option(
        "--attempts",
        type=click.IntRange(min=1),
        default=default,
        show_default=True,
        help=f"Tries per request on 429, 5xx and timeouts{until}.",
    )


class Parsed(click.ParamType):
    """A command-line value read by :meth:`parse`; a ``ValueError`` becomes click's usage error."""

    def parse(self, text: str):
        raise NotImplementedError

    def convert(self, value, param, ctx):
        if not isinstance(value, str):
            return value
        try:
            return self.parse(value)
        except ValueError as error:
            self.fail(str(error), param, ctx)


class Moment(Parsed):
    """An ISO 8601 date or time, as a UTC datetime (UTC unless it says)."""

    name = "DATE"

    def parse(self, text: str):
        from earshot.timeutil import utc_datetime

        try:
            return utc_datetime(text)
        except ValueError:
            raise ValueError(f"{text!r} is not an ISO 8601 date or time") from None


class Span(Parsed):
    """A positive time span such as ``6h``, ``2d`` or ``30min``, as a timedelta."""

    name = "SPAN"

    def parse(self, text: str):
        import pandas as pd

        try:
            span = pd.Timedelta(text).to_pytimedelta()
        except ValueError:
            raise ValueError(f"{text!r} is not a time span like 6h or 2d") from None
        if span.total_seconds() <= 0:
            raise ValueError("must be longer than zero")
        return span


def _config(path, detects: bool = True):
    """The checked config; a command that never ``detects`` leaves ``[detector]``
    unchecked, so it needs no scikit-learn (see :func:`load_config`)."""
    try:
        return load_config(path, check_detector=detects)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


def _open(db_path):
    from earshot.store import open_db

    return open_db(db_path or default_db_path(), on_upgrade=lambda line: click.echo(line, err=True))


def _existing(db_path) -> Path:
    """``db_path`` (default: ``$EARSHOT_DB``, else data/earshot.db), refusing one
    that does not exist: a typo must not look like an empty database."""
    path = Path(db_path or default_db_path())
    if not path.exists():
        raise click.ClickException(
            f"no database at {path}: check --db (or $EARSHOT_DB), or create one with "
            "`earshot collect`, `earshot watch` or `earshot demo`"
        )
    return path


def _open_existing(db_path):
    """The database at ``db_path``, which must exist (commands that only read)."""
    return _open(_existing(db_path))


def _classifier(rules: bool = False):
    """The complaint filter every command that stores or judges posts hands on."""
    from earshot.complaints import RuleComplaintFilter
    from earshot.complaints.trained import default_classifier

    return RuleComplaintFilter() if rules else default_classifier()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="earshot")
def cli():
    """earshot hears a service go down in public chatter before its status page says so.

    \b
    Quick start, offline:
      earshot demo                                  build data/demo.db and open the dashboard
    On real sources:
      earshot backfill hackernews --since 2024-01-01   a source's history, resumable
      earshot collect --every 60                    poll every configured source each minute
      earshot detect --json                         alert episodes, one JSON object per line
      earshot evaluate                              alerts against the official incident timeline
    Unattended:
      earshot watch                                 poll, detect and notify ([[notify]] in the config)
      earshot status                                is watch running, is every source healthy (exit 0)
    """


@cli.command()
@db_option()
@config_option
@click.option("--source", "sources", multiple=True, help="Collect only this source (repeatable).")
@click.option("--every", type=click.IntRange(min=1), default=None, help="Keep polling every N seconds.")
@click.option(
    "--since",
    type=Moment(),
    default=None,
    help="Stream sources (jetstream): read from DATE instead of the stored cursor, within the server's replay "
    "(about 36 hours). Other sources ignore it.",
)
@timeout_option(15.0)
@attempts_option(3)
def collect(db_path, config_path, sources, every, since, timeout, attempts):
    """Read every configured source once and store what is new.

    Prints one line per source: new items and skipped duplicates, or the error
    that source hit. One failing source never stops the others. Exits 1 when
    any source failed (after all of them ran), so cron can tell.

    Sources are fetched up to sixteen at a time, each within its deadline (a source's
    `deadline`, else [watch] deadline, else its poll interval, at most 60 s),
    so a pass is about as long as its slowest deadline whatever the servers
    do. A body over 20 MB is cut off. A name that does not resolve, a refused
    connection or a 4xx other than 408/429 is not retried; other failures are,
    each retry said on stderr. A Retry-After longer than the deadline ends the
    source's turn; later passes do not ask it again before the time it named.

    \b
    A stream source (kind jetstream) is read from its stored cursor until
    caught up with the present or its deadline; a first run starts at the
    live edge, and --since reads from an earlier moment.

    \b
    Example:
      $ earshot collect --config my.toml
      mastodon: 4 new posts, 0 duplicates skipped
      broken: error: got an HTML page ('Just a moment...') instead of a feed
      status: 22 new official updates, 0 duplicates skipped
    """

    from collectors.collect import collect_all
    from collectors.http import HttpClient
    from earshot.timeutil import now_iso

    config = _config(config_path, detects=False)
    for name in sources:
        _check(config.source, name)
    db, classifier = _open(db_path), _classifier()
    say = functools.partial(click.echo, err=True)
    with HttpClient(timeout=timeout, attempts=attempts, on_retry=say) as client:
        try:
            while True:
                if every is not None:
                    click.echo(f"-- {now_iso()}", err=True)
                reports = collect_all(db, config, client, classifier, sources=set(sources) or None, since=since)
                since = None  # only the first pass: later ones go on from the cursor
                for report in reports:
                    click.echo(report.line())
                if every is None:
                    break
                time.sleep(every)
        except KeyboardInterrupt:
            # Every source's rows are committed as it finishes: nothing to undo.
            click.echo("stopped", err=True)
            return
    if not all(report.ok for report in reports):
        sys.exit(1)


@cli.command()
@click.argument("source")
@db_option()
@config_option
@click.option(
    "--since", required=True, type=Moment(), help="Start of the range (ISO 8601 date or time; UTC unless it says)."
)
@click.option("--until", type=Moment(), help="End of the range, exclusive. Default: today 00:00 UTC.")
@click.option("--window", type=Span(), help="Window size, e.g. 6h or 2d. Default: the source's own (1 day for most).")
@click.option(
    "--min-interval",
    type=click.FloatRange(min=0),
    default=None,
    metavar="SECONDS",
    help="Seconds between requests to the source's host. Default: the source's min_interval, else its service's limit.",
)
@attempts_option(6, until=" before the backfill stops")
@timeout_option(30.0)
@click.option("--restart", is_flag=True, help="Forget this range's checkpoint and read it all again.")
@click.option("--dry-run", is_flag=True, help="Print the windows it would fetch, fetch nothing.")
def backfill(source, db_path, config_path, since, until, window, min_interval, attempts, timeout, restart, dry_run):
    """Fill the database with SOURCE's history from --since to --until.

    Walks the range in windows, oldest first, storing each page as it comes and
    checkpointing the position in the same transaction. Stop it at any moment
    (Ctrl-C, a crash, kill -9) and run the same command again: it resumes where
    it stopped, with no duplicate and no gap. Rerunning a finished range does
    nothing unless --restart.

    Requests are spaced per host (the service's published limit, or the
    source's min_interval in the config); 429 and 5xx are retried with
    exponential backoff and jitter, honouring Retry-After. When a request still
    fails after --attempts tries, the backfill stops with one line naming the
    source, the window and the HTTP status, keeping everything stored before it.

    A progress bar shows on a terminal; otherwise one log line per window.

    \b
    Example:
      $ earshot backfill hackernews --since 2023-11-01 --until 2023-11-15
      $ earshot backfill hackernews --since 2023-11-01 --until 2023-11-15 --dry-run
      hackernews: 14 windows of 1 day, 2023-11-01T00:00:00+00:00..2023-11-15T00:00:00+00:00
      ...

    \b
    History per kind:
      hackernews   Algolia search_by_date; windows over 1,000 hits are split
      reddit       Arctic Shift archive (posts; comments with comments = true)
      discourse    /search.json with after:/before: days, order:latest
      mastodon     tag timeline from each instance, oldest first by min_id
      bluesky      searchPosts with since/until and cursor (needs a session)
      statuspage   incidents.json?page=N, or incident.io windows (platform = "incident.io")
      rss          none: a feed only holds its newest entries
    """

    from collectors.backfill import BackfillError, BarProgress, LogProgress, load_job, plan_lines
    from collectors.backfill import backfill as run_backfill
    from collectors.base import NoHistory
    from collectors.http import HttpClient
    from collectors.readers import reader_for
    from earshot.timeutil import utc_datetime, utc_iso

    config = _config(config_path, detects=False)
    spec = _check(config.source, source)
    until = until or utc_datetime(utc_iso(time.time())[:10])
    if since >= until:
        raise click.BadParameter(f"--since ({utc_iso(since)}) must be before --until ({utc_iso(until)})")
    with HttpClient(timeout=timeout, attempts=attempts, max_wait=300) as client:
        reader = reader_for(spec, client, config)
        try:
            reader.require_history()
        except NoHistory as error:
            raise click.ClickException(str(error)) from None
        if dry_run:
            exists = (db_path or default_db_path()).exists()
            job = load_job(_open(db_path), source, since, until) if exists and not restart else None
            for line in plan_lines(source, since, until, window or reader.window, job):
                click.echo(line)
            return
        db = _open(db_path)
        try:
            report = run_backfill(
                db,
                config,
                reader,
                _classifier(),
                since,
                until,
                window=window,
                restart=restart,
                progress_factory=BarProgress if sys.stderr.isatty() else LogProgress,
                min_interval=min_interval,
            )
        except BackfillError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo(f"{source}: stopped; every stored page is kept; run the same command to resume", err=True)
            sys.exit(130)
    click.echo(report.line())


@cli.command()
@db_option()
@click.option(
    "--before", required=True, type=Moment(), help="Delete what was posted before this (ISO 8601 date or time; UTC)."
)
@click.option("--alerts", is_flag=True, help="Also delete the alert episodes that started before it.")
@click.option("--official", is_flag=True, help="Also delete the official status updates posted before it.")
def prune(db_path, before, alerts, official):
    """Delete stored posts older than --before, to keep a database small for months.

    Only posts go unless asked: the alert episodes and the official timeline
    are small and are what History and evaluate score. The file keeps its size
    (SQLite reuses the space); `earshot backup` writes a compact copy.

    \b
    Example:
      $ earshot prune --db data/demo.db --before 2024-01-01
      deleted 7,413 posts made before 2024-01-01T00:00:00+00:00
    """
    from earshot.store import prune as prune_rows
    from earshot.timeutil import utc_iso
    from earshot.words import counted

    gone = prune_rows(_open_existing(db_path), before, alerts=alerts, official=official)
    names = {"posts": "post", "alerts": "alert episode", "incident_updates": "official update"}
    deleted = ", ".join(counted(n, names[table]) for table, n in gone.items())
    click.echo(f"deleted {deleted} made before {utc_iso(before)}")


@cli.command()
@db_option()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def backup(db_path, path):
    """Write a consistent, compact copy of the database to PATH.

    Uses SQLite's VACUUM INTO: safe while collect, watch or the dashboard use
    the database. Never overwrites a file. Restore by pointing --db (or
    $EARSHOT_DB) at the copy.

    \b
    Example:
      $ earshot backup --db data/demo.db /tmp/bk.db
      backed up data/demo.db to /tmp/bk.db (8.6 MB, integrity ok)
    """
    from earshot.store import backup as backup_db
    from earshot.store import integrity

    source = _existing(db_path)
    try:
        target = backup_db(source, path)
    except FileExistsError as error:
        raise click.ClickException(str(error)) from None
    check = integrity(target)
    size = target.stat().st_size / 1e6
    click.echo(f"backed up {source} to {target} ({size:.1f} MB, integrity {check})")
    if check != "ok":
        sys.exit(1)


@cli.command("import-incidents")
@db_option()
@click.option(
    "--provider", "providers", multiple=True, help="Only this provider (openai, anthropic, character); repeatable."
)
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="An incident_stages.csv file. Default: the bundled 2021-2024 timelines.",
)
def import_incidents(db_path, providers, csv_path):
    """Load official incident timelines (every stage with its posting time).

    The bundled file holds 542 real incidents of OpenAI, Anthropic and
    Character.AI, 2021-2024 (Chu et al., ICPE 2025). Safe to run again.
    """

    from earshot.config import TIMELINES_CSV
    from earshot.store import store_incident_updates
    from earshot.timelines import read_official_timelines

    try:
        updates = read_official_timelines(csv_path or TIMELINES_CSV, providers=providers or None)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--provider") from None
    new, duplicates = store_incident_updates(_open(db_path), updates)
    click.echo(f"{new:,} new official updates, {duplicates:,} already stored")


@cli.command()
@db_option()
@config_option
@click.option("--service", "services", multiple=True, help="Only this service (repeatable). Default: all.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per episode.")
def detect(db_path, config_path, services, as_json):
    """Turn stored complaint posts into alert episodes, store and print them.

    Each source's complaints are counted per bucket and compared with that
    source's own seasonal baseline; the sources' evidence is fused. An
    episode opens as `possible` when the score (-log10 of how likely the
    counts were under the baseline) reaches [detector] threshold, and is
    `confirmed` when it holds for confirm_after buckets or reaches
    confirm_threshold.

    An episode's `start` is when the evidence was in: the post after which
    its first bucket, heard so far, crossed the threshold; `confirmed_at` is
    the end of the bucket that confirmed it; `end` is null while it is still open. Rerunning replaces the stored episodes of each
    service with freshly computed ones.

    Standard error gets one line per service: how many episodes, and how far
    that answer reaches when none of the service's posts is from the last 24
    hours ("no data since"), or "no data" when it has no post at all. With
    --json, standard error gets only the lines that say "no data", and
    standard output stays one episode per line.

    \b
    Example:
      $ earshot detect --json --db data/demo.db
      {"service": "chatgpt", "level": "confirmed", "start": "2023-11-08T13:43:51+00:00", "confirmed_at": ...}
    """

    from earshot.analysis import detect_and_store
    from earshot.report import detect_summary, episode_line, episode_record, heard_nothing_since
    from earshot.store import post_span
    from earshot.timeutil import utc_now

    config = _config(config_path)
    db = _open_existing(db_path)
    for service in services or [s.name for s in config.services]:
        _check(config.service, service)
        found = detect_and_store(db, config, service)
        for episode in found.itertuples():
            record = episode_record(service, episode)
            click.echo(json.dumps(record) if as_json else episode_line(record))
        span, now = post_span(db, service), utc_now()
        newest = span[1] if span else None
        # Standard error: standard output stays one JSON object per episode.
        if not as_json or heard_nothing_since(newest, now):
            click.echo(detect_summary(service, len(found), newest, now), err=True)


@cli.command()
@db_option()
@config_option
@click.option("--service", default=None, help="Service to evaluate. Default: the first configured.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary and each incident as JSON lines.")
def evaluate(db_path, config_path, service, as_json):
    """Score alert episodes against the official incident timeline.

    Only incidents on days the database has posts for are counted. Lead time is
    the first official post minus our alert's start: positive when earshot
    was first. An episode inside no incident's window (2 hours before its
    first post to its resolution) is a false alarm.

    The provider's grade is the average delay from earshot's alert to the
    official post: A under 15 min, B under 30, C under 2 h, D under 4 h, F
    beyond; an alert never acknowledged counts 240 min.
    """

    from earshot.analysis import evaluate as run_evaluate
    from earshot.report import evaluation_lines, match_record

    config = _config(config_path)
    service = service or config.services[0].name
    _check(config.service, service)
    matches, summary = run_evaluate(_open_existing(db_path), config, service)
    if as_json:
        click.echo(json.dumps({"service": service, **summary}))
        for match in matches.itertuples():
            click.echo(json.dumps(match_record(match)))
        return
    for line in evaluation_lines(service, matches, summary):
        click.echo(line)


@cli.command()
@db_option(default=Path("data") / "simulated.db")
@config_option
@click.option(
    "--scenario",
    "scenarios",
    multiple=True,
    metavar="NAME",
    help="Only this scenario (repeatable). Default: all of them.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random draws.")
@click.option("--list", "list_only", is_flag=True, help="List the scenarios and exit.")
def simulate(db_path, config_path, scenarios, seed, list_only):
    """Write labelled scenarios to a database, to tune the detector on.

    Each scenario is days of ordinary chatter and complaints on five sources,
    with a daily and weekly rhythm, and events on top: outages of several
    shapes and sizes (abrupt, ramping, partial, at night, API-only on the
    forum), a launch-day surge of excited posts, one account posting the same
    complaint forty times, a source not read for half a day. Posts go through
    the classifier like collected ones; each outage becomes an official
    incident ("investigating" 15 minutes after its onset), so `earshot
    evaluate` scores the detector on it. Safe to run again.

    \b
    Example:
      $ earshot simulate --db data/simulated.db
      $ earshot evaluate --db data/simulated.db
    """

    from .scenarios import SCENARIOS, describe
    from .simulate import write_scenarios

    if list_only:
        for name in SCENARIOS:
            click.echo(describe(name))
        return
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        raise click.BadParameter(
            f"unknown: {', '.join(sorted(unknown))} (known: {', '.join(SCENARIOS)})", param_hint="--scenario"
        )
    started = time.perf_counter()
    labels = write_scenarios(db_path, list(scenarios) or None, _config(config_path), seed=seed)
    click.echo(
        f"wrote {len(scenarios) or len(SCENARIOS)} scenarios with {len(labels)} outages to {db_path} "
        f"({time.perf_counter() - started:.1f}s)"
    )


@cli.command()
@click.option("--rules", is_flag=True, help="Use the rules alone, not the trained classifier.")
@click.option(
    "--service", default=None, help="Judge posts as reports about this configured service. Default: the first."
)
@click.option("--reclassify", is_flag=True, help="Instead of reading stdin, classify every post stored in --db again.")
@db_option()
@config_option
def classify(rules, service, reclassify, db_path, config_path):
    """Classify posts read from stdin, one per line, as complaints or not.

    Prints one JSON object per line: `complaint`, `probability` (that the
    post reports a problem), `problem` (down, errors, capacity, api, login,
    slow, or null) and the `text`.

    A post is judged as a report about one service: --service (one of the
    config's [[services]]; default: the first). Another service's outage is
    not a complaint about this one.

    The classifier is trained from earshot/data/labels on first use (a few seconds)
    and cached; later runs load it.

    \b
    Example:
      $ echo "anyone else getting 'network error' on chatgpt?" | earshot classify
      {"complaint": true, "probability": 0.9993, "problem": "errors", "text": "anyone else ..."}
      $ echo "claude is down?" | earshot classify --service claude --config earshot/llms.toml
      {"complaint": true, "probability": 0.9999, "problem": "down", "text": "claude is down?"}

    With --reclassify it rewrites `is_complaint` and `problem` of every post
    already stored, each judged for its stored service, e.g. after the
    labelled corpus changed.
    """
    config = _config(config_path, detects=False)
    if service is not None and service not in {s.name for s in config.services}:
        known = ", ".join(s.name for s in config.services)
        raise click.BadParameter(
            f"no service {service!r} in {config.path} (configured: {known})", param_hint="--service"
        )
    classifier = _classifier(rules)
    if reclassify:
        from tqdm import tqdm

        from earshot.ingest import reclassify_posts
        from earshot.store import count_posts

        db = _open_existing(db_path)
        with tqdm(total=count_posts(db), unit=" posts", disable=not sys.stderr.isatty()) as bar:
            changed, total = reclassify_posts(db, config, classifier, progress=bar.update)
        click.echo(f"{total:,} posts classified again, {changed:,} changed")
        return
    view = config.view(service)
    # Batches keep a pipe fast; a terminal gets each answer as soon as it is typed.
    stdin = sys.stdin
    batch_size = 1 if stdin.isatty() else 1000
    batch: list[str] = []
    for line in stdin:
        text = line.rstrip("\n")
        if text.strip():
            batch.append(text)
        if len(batch) >= batch_size:
            _print_verdicts(classifier, batch, view)
            batch = []
    _print_verdicts(classifier, batch, view)


def _print_verdicts(classifier, texts: list[str], view) -> None:
    if not texts:
        return
    from earshot.complaints.rules import verdict_records

    for text, record in zip(texts, verdict_records(classifier.verdicts(texts, view)), strict=True):
        click.echo(json.dumps({**record, "text": text}, ensure_ascii=False))


@cli.command()
@db_option()
@config_option
@click.option(
    "--once",
    is_flag=True,
    help="One pass: fetch every source, detect, send what is due, and exit (1 if a source or channel failed).",
)
@click.option(
    "--listen",
    metavar="HOST:PORT",
    default=None,
    help="Serve /metrics, /feed.atom, /api/v1/status, /api/v1/episodes and /healthz here "
    "(default: [watch] listen; off when neither is set). A bare PORT binds to 127.0.0.1.",
)
@timeout_option(15.0)
def watch(db_path, config_path, once, listen, timeout):
    """Run unattended: poll, detect, and notify people once per event.

    Each source is polled on its own `interval` (seconds: the source's own,
    else [watch] interval, else 60; 120 for Mastodon, 300 for plain feeds),
    concurrently, each fetch bounded by its `deadline`, so a stalled source
    never delays the others. A stream source (kind jetstream, Bluesky's live
    firehose) is followed on one long-lived connection instead, its posts
    stored and detected at most half a second after they arrive, resuming
    from its cursor after any drop. Detection advances incrementally from
    state kept in the database (rebuilt when [detector] settings change).

    \b
    Events, each recorded once in the database with its deliveries (the outbox):
      opened        a possible outage: the score reached [detector] threshold
      confirmed     it held, or reached confirm_threshold
      acknowledged  the provider's first official post for it (earshot's lead, in minutes)
      reminder      every [watch] remind_every minutes while it lasts (0: never)
      resolved      the detector closed the episode
    They go to every [[notify]] entry that wants them: Apprise URLs (Slack,
    Discord, Teams, ntfy, email, json://...) or `kind = "webhook"` (one JSON
    POST per event). [[silence]] windows hold events and sum them up when they end.

    \b
    With --listen HOST:PORT (or [watch] listen), watch also serves, read-only:
      /metrics           Prometheus: source health, posts and complaints,
                         each service's score and alert level, events, backlog
      /feed.atom         an Atom feed of the episodes' events, for feed readers
      /api/v1/status     `earshot status --json`'s record
      /api/v1/episodes   the episodes as JSON (?service=NAME&since=ISO-TIME)
      /healthz           200 ok; 503 and why (stale passes, every source failing)
    It binds to 127.0.0.1 unless the address says otherwise; nothing it serves
    takes input beyond those two query parameters.

    A heartbeat is stored each pass: `earshot status` reads it. SIGTERM or
    Ctrl-C finishes the current write, sends what is due (10 s at most),
    and exits 0. Killed outright, it resumes on restart: nothing recorded is
    lost, nothing delivered is sent again.

    \b
    Example (local test feeds, one of them stalled):
      $ earshot watch --config watch.toml
      2026-12-02 18:16:03 watching 5 sources for chatgpt
      2026-12-02 18:16:06 stalled-feed: error: http://127.0.0.1:45859/feed did not answer within the fetch's 3s deadline
      2026-12-02 18:16:14 hackernews: 40 new posts, 0 duplicates skipped
      2026-12-02 18:16:14 chatgpt-20261202T1815Z: opened (possible, peak score 300.0)
      2026-12-02 18:16:14 notify 'ops-webhook': delivered opened of chatgpt-20261202T1815Z
    """
    import logging
    import signal
    import threading

    from collectors.http import HttpClient
    from earshot.config import parse_listen
    from earshot.notify import Sender

    from .watch import Readings, Server, Watcher

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%Y-%m-%d %H:%M:%S")
    config = _config(config_path)
    listen = listen or config.watch.listen
    try:
        address = parse_listen(listen) if listen and not once else None
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--listen") from None
    readings = Readings(config) if address else None
    with HttpClient(timeout=timeout, attempts=3) as client:
        try:
            watcher = Watcher(db_path or default_db_path(), config, _classifier(), client=client, readings=readings)
        except ConfigError as error:
            raise click.ClickException(str(error)) from None
        sender = Sender(watcher.db_path, config.notify)
        if once:
            reports = watcher.pass_once()
            for report in reports:
                click.echo(report.line())
            deliveries = sender.deliver_due()
            for name, key, error in deliveries:
                click.echo(f"notify {name!r}: {key}: {'delivered' if error is None else 'failed: ' + error}")
            # As collect: 1 when a source (or a channel) failed, so cron and CI hear of it.
            failed = any(not r.ok for r in reports) or any(error is not None for _, _, error in deliveries)
            sys.exit(1 if failed else 0)
        stop = threading.Event()
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, lambda *_: stop.set())
        server = None
        if address:
            try:  # bound before any work: a port in use fails at once
                server = Server(readings, *address)
            except OSError as error:
                raise click.ClickException(f"cannot listen on {listen}: {error.strerror or error}") from None
            watcher.pass_once(wait=False)  # a first snapshot, so the server never answers from nothing
            server.start()
        sender.start()
        watcher.run(stop, wake=sender.wake)
        sender.stop(grace=10.0)
        if server is not None:
            server.stop()


@cli.command()
@db_option()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of lines.")
def status(db_path, config_path, as_json):
    """Say whether watch is running and every source and channel is healthy.

    For cron, systemd and container health checks, the exit status says it:

    \b
      0  watch passed within [watch] stale_after seconds, every source's
         last fetch worked, no notification is waiting after a failure
      1  a source's last fetch failed, or a channel keeps failing
      3  watch is not running: never started, stopped, or stale

    \b
    Example (local test feeds, one of them stalled):
      $ earshot status --config watch.toml
      watch: running (pid 20387 on vm), last pass 4 s ago, 35 passes since 2026-12-02 18:16 UTC
      hackernews    ok       last fetch 1 s ago
      stalled-feed  failing  since 18:16 UTC: http://127.0.0.1:45859/feed did not answer within the fetch's 3s deadline
      chatgpt: alert: chatgpt-20261202T1815Z (confirmed since 18:16 UTC, peak score 300.0)

    Each service's line says `alert` (its open episodes), `normal`, or `no
    data` when no post of it was stored in the last 24 hours: silence is not
    taken for normal. It does not change the exit status.
    """
    import pandas as pd

    from earshot.health import watch_status
    from earshot.timeutil import utc_now
    from earshot.words import ago

    db = _open_existing(db_path)
    config = _config(config_path)
    now = utc_now()
    record = watch_status(db, config, now)
    code, sources, backlog = record["exit"], record["sources"], record["notifications"]
    if as_json:
        click.echo(json.dumps(record))
        sys.exit(code)
    click.echo(record["line"])
    width = max((len(s["source"]) for s in sources), default=6) + 2
    for source in sources:
        if source["failing"]:
            since = pd.Timestamp(source["last_error_at"])
            last_ok = f" (last ok {pd.Timestamp(source['last_ok_at']):%H:%M} UTC)" if source["last_ok_at"] else ""
            detail = f"failing  since {since:%H:%M} UTC: {source['last_error']}{last_ok}"
        elif source["last_ok_at"]:
            detail = f"ok       last fetch {ago((now - pd.Timestamp(source['last_ok_at'])).total_seconds())} ago"
        else:
            detail = "never fetched"
        click.echo(f"{source['source']:<{width}}{detail}")
    for verdict in record["services"]:
        click.echo(verdict["line"])
    for channel in backlog:
        error = f", last error: {channel['last_error']}" if channel["last_error"] else ""
        click.echo(f"notifications: {channel['notifier']!r} {channel['pending']} waiting{error}")
    sys.exit(code)


@cli.command()
@config_option
@click.option("--test", "send_test_message", is_flag=True, help="Send one test message to every channel.")
def notify(config_path, send_test_message):
    """List the configured notification channels, or --test them.

    With --test, each [[notify]] entry gets one test message (a webhook a
    JSON object with "event": "test"); one line per channel says whether it
    went through. Exits 1 when any failed. URLs are never printed: they may
    hold secrets (write them as ${ENV_VAR} in the config).

    \b
    Example:
      $ earshot notify --test --config my.toml
      ops-webhook: ok
      nobody-home: failed: Apprise could not deliver: A Connection error occurred sending JSON notification to 127.0.0.1.
    """
    from earshot.notify import send_test

    config = _config(config_path)
    if not config.notify:
        raise click.ClickException(f"{config.path} has no [[notify]] entries")
    if not send_test_message:
        for notifier in config.notify:
            wants = ", ".join(notifier.events) or "every event"
            services = ", ".join(notifier.services) or "every service"
            click.echo(f"{notifier.name}: {notifier.kind}, {wants} of {services}, from {notifier.min_level}")
        return
    failed = 0
    for notifier in config.notify:
        error = send_test(notifier)
        failed += error is not None
        click.echo(f"{notifier.name}: {'ok' if error is None else 'failed: ' + error}")
    if failed:
        sys.exit(1)


DASHBOARD_HELP = f"""Serve the dashboard (headless) on --port for the database at --db.

\b
{pages_help()}

\b
The address holds the view, so it can be shared:
  http://localhost:8501/?page=history&from=2023-11-01&to=2023-11-30
  http://localhost:8501/?page=now&at=2023-11-08T14:00:00Z   (replay a moment)

While a collector is storing fetches, Now and Sources refresh every
[dashboard] refresh_seconds (30 by default).
"""


@cli.command(help=DASHBOARD_HELP)
@db_option()
@config_option
@port_option
def dashboard(db_path, config_path, port):
    _serve(_existing(db_path), config_path, port)


@cli.command()
@db_option(default=DEMO_DB)
@demo_config_option
@port_option
@click.option("--rebuild", is_flag=True, help="Rebuild the demo database even if it exists.")
@click.option("--no-serve", is_flag=True, help="Build the database, run detection, and exit.")
def demo(db_path, config_path, port, rebuild, no_serve):
    """Build the offline demo database (if missing) and open the dashboard on it.

    The demo watches ChatGPT and Claude (earshot/llms.toml unless --config
    says otherwise). It holds every real OpenAI and Anthropic status-page
    incident of 2021-2024 and simulated posts around eight real incidents,
    bursting from each one's real onset (e.g. 05:42 PT on 2023-11-08). The
    dashboard marks the posts as simulated.
    """
    from .demo import build_demo, demo_config_path

    config_path = config_path or demo_config_path()
    config = _config(config_path)
    db_path = Path(db_path)
    if rebuild and db_path.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    if not db_path.exists():
        click.echo(f"building demo database at {db_path} ...", err=True)
        started = time.perf_counter()
        built = build_demo(db_path, config)
        click.echo(
            f"built {db_path}: {built['posts']:,} simulated posts around {built['incidents']} real incidents, "
            f"{built['official_updates']:,} official updates ({time.perf_counter() - started:.1f}s)",
            err=True,
        )
    if not no_serve:
        _serve(db_path, config_path, port)


def _serve(db_path, config_path, port):
    os.environ["EARSHOT_DB"] = str(Path(db_path).resolve())
    if config_path:
        os.environ["EARSHOT_CONFIG"] = str(Path(config_path).resolve())
    click.echo(f"earshot dashboard for {db_path}: http://localhost:{port}  (Ctrl-C stops it)", err=True)
    # Import the pages (pandas, scikit-learn, altair: about a second) before
    # serving, so the first visitor does not wait for them.
    from streamlit.web import cli as streamlit_cli

    import dashboard.history
    import dashboard.now
    import dashboard.overview
    import dashboard.sources
    import dashboard.tuning  # noqa: F401

    sys.argv = ["streamlit", "run", str(APP), *streamlit_options(port), "--client.toolbarMode", "viewer"]
    streamlit_cli.main()


def streamlit_options(port: int) -> list[str]:
    """``streamlit run`` options that serve headless on ``port`` and phone nothing home."""
    return ["--server.headless", "true", "--server.port", str(port), "--browser.gatherUsageStats", "false"]


def _check(lookup, name):
    try:
        return lookup(name)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
