"""Read earshot's TOML configuration: services, sources, counting and detector settings.

>>> config = load_config()            # the bundled ChatGPT configuration
>>> config.services[0].name
'chatgpt'
>>> sorted({s.kind for s in config.sources})
['bluesky', 'discourse', 'hackernews', 'mastodon', 'reddit', 'statuspage']
>>> config.counts
Counts(bucket='5min', unique_reporters=True, reporter_window='1h', by_problem=True)

A setting the detector does not have is an error that names it:

>>> parse_config({"detector": {"treshold": 4}}, "bad.toml")
Traceback (most recent call last):
...
earshot.config.ConfigError: bad.toml: [detector] has no setting 'treshold' (did you mean 'threshold'?); valid: close_after, close_threshold, clustering, confirm_after, confirm_threshold, cooldown, dispersion, min_history, min_rate, scales, season, single_source_penalty, tail_window, threshold, window
"""

from __future__ import annotations

import difflib
import functools
import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from pathlib import Path

import tomlkit

from earshot.complaints.services import ServiceView
from earshot.kinds import KINDS

DEFAULT_DB = Path("data") / "earshot.db"
# What earshot ships inside the package (official timelines, labelled posts, the demo's
# incidents, real tweet counts), found wherever it is installed: a clone, a wheel, pipx.
DATA_DIR = Path(str(resources.files("earshot") / "data"))
TIMELINES_CSV = DATA_DIR / "official-incidents" / "incident_stages.csv"
LABELS_DIR = DATA_DIR / "labels"
DEMO_INCIDENTS = DATA_DIR / "demo" / "incidents.toml"
REALTWEETS_DIR = DATA_DIR / "nab-realtweets"


class ConfigError(ValueError):
    """The configuration file cannot be used; the message says why and where."""


@dataclass(frozen=True)
class Service:
    name: str
    terms: tuple[str, ...] = ()
    provider: str | None = None
    # Status-page components that count as this service (empty: all of them).
    components: tuple[str, ...] = ()
    # How people write the name ("ChatGPT"); defaults to ``name``.
    label: str | None = None
    # More names the classifier reads as this service (product names), and
    # the error strings it shows (Anthropic's "overloaded_error"): see earshot.complaints.services.
    phrases: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def display_name(self) -> str:
        return self.label or self.name


@dataclass(frozen=True)
class Source:
    name: str
    kind: str
    url: str | None = None
    base_url: str | None = None
    service: str | None = None
    query: str | None = None
    provider: str | None = None
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Counts:
    """How posts become counts (``[counts]``): the bucket width, whether an
    author counts once per ``reporter_window``, and whether complaints are
    also counted per problem type (``by_problem``), each type scored against
    its own baseline."""

    bucket: str = "5min"
    unique_reporters: bool = True
    reporter_window: str = "1h"
    by_problem: bool = True

    @property
    def window(self) -> str | None:
        """The reporter window in force (None: every complaint counts)."""
        return self.reporter_window if self.unique_reporters else None


COUNTS_KEYS = tuple(f.name for f in fields(Counts))


# What a watch reports, in the order an episode goes through them.
EVENTS = ("opened", "confirmed", "acknowledged", "reminder", "resolved", "silence_ended")
NOTIFY_LEVELS = ("possible", "confirmed")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Watch:
    """``[watch]``: how ``earshot watch`` polls, and what it says.

    ``interval`` and ``deadline`` are seconds (a source's own ``interval`` /
    ``deadline`` come first); ``remind_every`` is minutes (0: no reminders);
    ``settle`` is how long after a bucket ends it is taken as complete (None:
    the slowest of the service's sources' interval plus deadline); ``stale_after``
    is how old the last pass may be before ``earshot status`` says watch is down;
    ``listen`` is ``HOST:PORT`` where watch serves /metrics, /feed.atom, the
    JSON API and /healthz (None: it serves nothing).
    """

    interval: float | None = None
    deadline: float | None = None
    remind_every: float = 0.0
    settle: float | None = None
    stale_after: float = 300.0
    dashboard_url: str = "http://localhost:8501"
    listen: str | None = None

    def interval_for(self, source: Source) -> float:
        """Seconds between two polls of ``source``.

        >>> Watch().interval_for(Source("status", "statuspage", url="x")), Watch(interval=30).interval_for(
        ...     Source("hn", "hackernews", options={"interval": 10}))
        (60, 10.0)
        """
        if "interval" in source.options:
            return float(source.options["interval"])
        if self.interval is not None:
            return float(self.interval)
        return KINDS[source.kind].poll_seconds

    def deadline_for(self, source: Source) -> float:
        """Seconds one whole fetch of ``source`` may take: its own ``deadline``,
        else ``[watch] deadline``, else its interval, at most a minute."""
        if "deadline" in source.options:
            return float(source.options["deadline"])
        if self.deadline is not None:
            return float(self.deadline)
        return min(self.interval_for(source), 60.0)


WATCH_KEYS = tuple(f.name for f in fields(Watch))


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (or a bare ``PORT``, on 127.0.0.1) as ``(host, port)``.

    >>> parse_listen("127.0.0.1:9464"), parse_listen("9464"), parse_listen("[::1]:9464")
    (('127.0.0.1', 9464), ('127.0.0.1', 9464), ('::1', 9464))
    >>> parse_listen("localhost:http")
    Traceback (most recent call last):
    ...
    ValueError: listen address 'localhost:http': expected HOST:PORT with a port number, e.g. 127.0.0.1:9464
    """
    host, _, port = str(value).rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"listen address {value!r}: expected HOST:PORT with a port number, e.g. 127.0.0.1:9464")
    return host, int(port)


@dataclass(frozen=True)
class Notifier:
    """A ``[[notify]]`` entry: where events go, and which ones.

    ``url`` is an Apprise URL (``kind = "apprise"``, the default) or, for
    ``kind = "webhook"``, an http(s) address that receives each event as JSON.
    ``${NAME}`` in it is replaced by the environment variable at send time,
    so secrets stay out of the file. Empty ``services`` / ``events``: all.
    """

    name: str
    url: str
    kind: str = "apprise"
    services: tuple[str, ...] = ()
    min_level: str = "possible"
    events: tuple[str, ...] = ()
    # Seconds between two messages on this channel (chat services rate-limit).
    min_interval: float = 2.0

    def wants(self, event: str, service: str, level: str) -> bool:
        """Whether an ``event`` of an episode of ``service``, at ``level``, goes to this channel.

        >>> pager = Notifier("pager", "json://x", min_level="confirmed", events=("confirmed", "resolved"))
        >>> pager.wants("confirmed", "chatgpt", "confirmed"), pager.wants("opened", "chatgpt", "possible")
        (True, False)
        """
        if self.services and service not in self.services:
            return False
        if self.events and event not in self.events:
            return False
        return event == "silence_ended" or NOTIFY_LEVELS.index(level) >= NOTIFY_LEVELS.index(self.min_level)

    def address(self) -> str:
        """``url`` with every ``${NAME}`` replaced from the environment.

        >>> os.environ["EARSHOT_DOCTEST_TOKEN"] = "s3cret"
        >>> Notifier("chat", "json://example.com/${EARSHOT_DOCTEST_TOKEN}").address()
        'json://example.com/s3cret'
        >>> Notifier("chat", "json://example.com/${EARSHOT_NOT_SET}").address()
        Traceback (most recent call last):
        ...
        earshot.config.ConfigError: notify 'chat': environment variable EARSHOT_NOT_SET is not set
        """

        def value(match):
            name = match.group(1)
            if not os.environ.get(name):
                raise ConfigError(f"notify {self.name!r}: environment variable {name} is not set")
            return os.environ[name]

        return ENV_REFERENCE.sub(value, self.url)

    def secrets(self) -> list[str]:
        """The values of the environment variables ``url`` refers to (to blank them out of any text)."""
        return [os.environ[name] for name in ENV_REFERENCE.findall(self.url) if os.environ.get(name)]


NOTIFY_KEYS = tuple(f.name for f in fields(Notifier))
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Silence:
    """A ``[[silence]]`` quiet window: events inside it are held, and one
    message says what was held when it ends.

    Either ``start`` / ``end`` (ISO 8601, or TOML datetimes), or a weekly
    schedule: ``days`` (default every day) with ``from`` and ``to`` times of
    day in UTC (``to`` before ``from`` runs past midnight).

    >>> night = Silence("maintenance", days=("sat",), from_=time(22), to=time(6))
    >>> night.end_of(datetime(2024, 1, 6, 23, 0, tzinfo=UTC))      # a Saturday, 23:00
    datetime.datetime(2024, 1, 7, 6, 0, tzinfo=datetime.timezone.utc)
    >>> night.end_of(datetime(2024, 1, 7, 7, 0, tzinfo=UTC)) is None
    True
    """

    name: str
    services: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    days: tuple[str, ...] = WEEKDAYS
    from_: time | None = None
    to: time | None = None

    def end_of(self, moment: datetime, service: str | None = None) -> datetime | None:
        """When the window holding ``moment`` ends, or None when ``moment`` (for ``service``) is outside it."""
        if service is not None and self.services and service not in self.services:
            return None
        if self.start is not None:
            return self.end if self.start <= moment < self.end else None
        # The window that began yesterday may still be running today.
        for day in (moment.date() - timedelta(days=1), moment.date()):
            if WEEKDAYS[day.weekday()] not in self.days:
                continue
            begins = datetime.combine(day, self.from_, tzinfo=UTC)
            ends = datetime.combine(day, self.to, tzinfo=UTC)
            if ends <= begins:
                ends += timedelta(days=1)
            if begins <= moment < ends:
                return ends
        return None


@dataclass(frozen=True)
class Config:
    path: str
    services: tuple[Service, ...]
    sources: tuple[Source, ...]
    # [detector]: RollingBaselineDetector's parameters, checked against it.
    detector: dict
    counts: Counts = Counts()
    # [dashboard] settings, e.g. refresh_seconds.
    dashboard: dict = field(default_factory=dict)
    watch: Watch = Watch()
    notify: tuple[Notifier, ...] = ()
    silences: tuple[Silence, ...] = ()

    def service(self, name: str) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        raise ConfigError(f"{self.path}: no service named {name!r}")

    def source(self, name: str) -> Source:
        for source in self.sources:
            if source.name == name:
                return source
        known = ", ".join(s.name for s in self.sources)
        raise ConfigError(f"{self.path}: no source named {name!r} (known: {known})")

    def service_for(self, source: Source, text: str) -> str | None:
        """The service a post belongs to: the source's own, else the first one it mentions."""
        return source.service or self.mentioned_service(text)

    def mentioned_service(self, text: str) -> str | None:
        """The first configured service (in config order) whose terms occur in
        ``text``, case-insensitive; None when it names none. One pass over the
        text whatever the number of services and terms (an Aho-Corasick
        automaton of every term), since a stream source asks this of every post
        anyone makes.

        >>> config = load_config(default_config_path().parent / "llms.toml")
        >>> config.mentioned_service("Claude and ChatGPT both down?"), config.mentioned_service("lunch")
        ('chatgpt', None)
        """
        if self._term_finder is None:
            return None
        lowered = text.lower()
        found = [rank for _, rank in self._term_finder.iter(lowered)]
        return self.services[min(found)].name if found else None

    @functools.cached_property
    def _term_finder(self):
        import ahocorasick

        finder = ahocorasick.Automaton()
        for rank, service in reversed(list(enumerate(self.services))):  # the first service's rank wins a shared term
            for term in service.terms:
                if term:
                    finder.add_word(term.lower(), rank)
        if not len(finder):
            return None
        finder.make_automaton()
        return finder

    def provider_of(self, service: str) -> str | None:
        return self.service(service).provider

    def view(self, service: str | None = None) -> ServiceView:
        """How the classifier reads posts as reports about ``service`` (default:
        the first): its terms, label and phrases as its names, every other
        configured or known service as someone else.

        >>> load_config().view().mask(["Is ChatGPT down? Claude works"])
        ['is svcname down? othersvc works']
        """
        spec = self.service(service) if service else self.services[0]
        if spec.name not in self._views:  # a view is built once: it compiles its name finder
            others = [term for s in self.services if s.name != spec.name for term in (*s.terms, *s.phrases)]
            names = [*spec.terms, *spec.phrases, *([spec.label] if spec.label else [])]
            self._views[spec.name] = ServiceView.for_service(spec.name, names=names, errors=spec.errors, others=others)
        return self._views[spec.name]

    @functools.cached_property
    def _views(self) -> dict[str, ServiceView]:
        return {}


def default_config_path() -> Path:
    """The bundled ChatGPT configuration."""
    return Path(str(resources.files("earshot") / "chatgpt.toml"))


def default_db_path() -> Path:
    """``$EARSHOT_DB`` if set, else ``data/earshot.db`` under the working directory."""
    return Path(os.environ.get("EARSHOT_DB") or DEFAULT_DB)


def load_config(path: str | os.PathLike | None = None, check_detector: bool = True) -> Config:
    """Load and check a configuration file (the bundled one when ``path`` is None).

    ``check_detector=False`` leaves ``[detector]`` unchecked, for commands
    that never detect: checking it loads the detector, and with it
    scikit-learn (about 90 MB).
    """
    path = Path(path) if path else default_config_path()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    return parse_config(raw, str(path), check_detector)


def parse_config(raw: dict, path: str = "<config>", check_detector: bool = True) -> Config:
    """Build a :class:`Config` from already-parsed TOML, checking every entry."""
    services = []
    for i, entry in enumerate(raw.get("services", [])):
        name = _required(entry, "name", f"{path}: [[services]] #{i + 1}")
        terms = entry.get("terms", [])
        if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
            raise ConfigError(f"{path}: service {name!r}: terms must be a list of strings")
        services.append(
            Service(
                name=name,
                terms=tuple(terms),
                provider=entry.get("provider"),
                components=tuple(entry.get("components", ())),
                label=entry.get("label"),
                phrases=_strings(entry, "phrases", f"{path}: service {name!r}"),
                errors=_strings(entry, "errors", f"{path}: service {name!r}"),
            )
        )
    service_names = {s.name for s in services}

    sources = []
    seen = set()
    for i, entry in enumerate(raw.get("sources", [])):
        where = f"{path}: [[sources]] #{i + 1}"
        name = _required(entry, "name", where)
        kind = _required(entry, "kind", f"{path}: source {name!r}")
        if kind not in KINDS:
            raise ConfigError(f"{path}: source {name!r}: unknown kind {kind!r} (known: {', '.join(KINDS)})")
        if name in seen:
            raise ConfigError(f"{path}: two sources are named {name!r}")
        seen.add(name)
        if not (entry.get("url") or entry.get("base_url")) and KINDS[kind].default_base_url is None:
            raise ConfigError(f"{path}: source {name!r} needs a url or base_url")
        service = entry.get("service")
        if service is not None and service not in service_names:
            raise ConfigError(f"{path}: source {name!r} names unknown service {service!r}")
        known = {"name", "kind", "url", "base_url", "service", "query", "provider"}
        sources.append(
            Source(
                name=name,
                kind=kind,
                url=entry.get("url"),
                base_url=entry.get("base_url"),
                service=service,
                query=entry.get("query"),
                provider=entry.get("provider"),
                options={k: v for k, v in entry.items() if k not in known},
            )
        )
    detector = _table(raw, "detector", path)
    if check_detector:
        _check_detector_settings(detector, path)
    counts = _table(raw, "counts", path)
    _check_keys(counts, COUNTS_KEYS, "[counts]", path)
    watch = _table(raw, "watch", path)
    _check_keys(watch, WATCH_KEYS, "[watch]", path)
    if watch.get("listen") is not None:
        try:
            parse_listen(watch["listen"])
        except ValueError as error:
            raise ConfigError(f"{path}: [watch] {error}") from None
    return Config(
        path=path,
        services=tuple(services),
        sources=tuple(sources),
        detector=detector,
        counts=Counts(**counts),
        dashboard=_table(raw, "dashboard", path),
        watch=Watch(**watch),
        notify=tuple(_notifier(entry, i, service_names, path) for i, entry in enumerate(raw.get("notify", []))),
        silences=tuple(_silence(entry, i, service_names, path) for i, entry in enumerate(raw.get("silence", []))),
    )


def _notifier(entry: dict, i: int, service_names: set[str], path: str) -> Notifier:
    where = f"{path}: [[notify]] #{i + 1}"
    _check_keys(entry, NOTIFY_KEYS, "[[notify]]", path)
    url = _required(entry, "url", where)
    kind = entry.get("kind", "apprise")
    if kind not in ("apprise", "webhook"):
        raise ConfigError(f"{where}: kind must be 'apprise' or 'webhook', got {kind!r}")
    if kind == "webhook" and not url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}: a webhook url must start with http:// or https://")
    name = entry.get("name") or f"notify #{i + 1} ({url.split(':', 1)[0]})"
    services = _names(entry.get("services", []), service_names, "service", where)
    events = _names(entry.get("events", []), set(EVENTS), "event", where)
    level = entry.get("min_level", "possible")
    if level not in NOTIFY_LEVELS:
        raise ConfigError(f"{where}: min_level must be one of {', '.join(NOTIFY_LEVELS)}, got {level!r}")
    return Notifier(name, url, kind, services, level, events, float(entry.get("min_interval", 2.0)))


def _silence(entry: dict, i: int, service_names: set[str], path: str) -> Silence:
    where = f"{path}: [[silence]] #{i + 1}"
    _check_keys(entry, ("name", "services", "start", "end", "days", "from", "to"), "[[silence]]", path)
    name = entry.get("name") or f"silence #{i + 1}"
    services = _names(entry.get("services", []), service_names, "service", where)
    if "start" in entry or "end" in entry:
        start, end = (_moment(entry.get(key), key, where) for key in ("start", "end"))
        if start >= end:
            raise ConfigError(f"{where}: start must be before end")
        return Silence(name, services, start=start, end=end)
    if "from" not in entry or "to" not in entry:
        raise ConfigError(f"{where}: needs start and end, or from and to (times of day, UTC)")
    days = tuple(str(d).lower()[:3] for d in entry.get("days", WEEKDAYS))
    _names(list(days), set(WEEKDAYS), "day", where)
    return Silence(
        name, services, days=days, from_=_time_of_day(entry["from"], where), to=_time_of_day(entry["to"], where)
    )


def _names(values, known: set[str], what: str, where: str) -> tuple[str, ...]:
    if isinstance(values, str):
        values = [values]
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown {what} {unknown[0]!r} (known: {', '.join(sorted(known))})")
    return tuple(values)


def _moment(value, key: str, where: str) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=value.tzinfo or UTC).astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=UTC)
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{where}: {key} must be an ISO 8601 time, got {value!r}") from None
    return moment.replace(tzinfo=moment.tzinfo or UTC).astimezone(UTC)


def _time_of_day(value, where: str) -> time:
    if isinstance(value, time):
        return value
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f'{where}: from and to must be times of day like "22:00", got {value!r}') from None


def _table(raw: dict, name: str, path: str) -> dict:
    table = raw.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [{name}] must be a table")
    return table


def _check_detector_settings(settings: dict, path: str) -> None:
    """Every ``[detector]`` key must be a parameter of the detector, and take its value."""
    from detector import RollingBaselineDetector  # scikit-learn: only when [detector] is checked

    moved = sorted(set(settings) & set(COUNTS_KEYS))
    if moved:
        raise ConfigError(f"{path}: {', '.join(moved)} belong(s) in the [counts] table, not [detector]")
    _check_keys(settings, sorted(RollingBaselineDetector._get_param_names()), "[detector]", path)
    try:
        RollingBaselineDetector(**detector_params(settings)).check_params()
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{path}: [detector]: {error}") from None


def _check_keys(table: dict, valid, where: str, path: str) -> None:
    for key in table:
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{path}: {where} has no setting {key!r}{hint}; valid: {', '.join(valid)}")


def _strings(entry: dict, key: str, where: str) -> tuple[str, ...]:
    values = entry.get(key, [])
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ConfigError(f"{where}: {key} must be a list of strings")
    return tuple(values)


def detector_params(settings: dict) -> dict:
    """``[detector]`` settings as the detector's parameters (TOML arrays become tuples).

    >>> detector_params({"scales": [3, 6], "threshold": 5.0})
    {'scales': (3, 6), 'threshold': 5.0}
    """
    return {key: tuple(value) if isinstance(value, list) else value for key, value in settings.items()}


def with_detector_settings(text: str, settings: dict) -> str:
    r"""The TOML ``text`` of a configuration with ``settings`` written into its
    ``[detector]`` table (keys replaced where present, added where not);
    everything else, comments and layout included, is kept as it was.

    >>> print(with_detector_settings('[detector]\nthreshold = 4.0 # opens\n', {"threshold": 6.0, "season": "day"}))
    [detector]
    threshold = 6.0 # opens
    season = "day"
    <BLANKLINE>
    """
    document = tomlkit.parse(text)
    table = document.setdefault("detector", tomlkit.table())
    for key, value in settings.items():
        table[key] = list(value) if isinstance(value, tuple) else value
    return tomlkit.dumps(document)


def _required(entry: dict, key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: missing {key!r}")
    return value
