"""Read earshot's TOML configuration: services, sources, counting and detector settings.

>>> config = load_config()            # the bundled ChatGPT configuration
>>> config.services[0].name
'chatgpt'
>>> sorted({s.kind for s in config.sources})
['bluesky', 'discourse', 'hackernews', 'mastodon', 'reddit', 'statuspage']
>>> config.counts
Counts(bucket='5min', unique_reporters=True, reporter_window='1h')

A setting the detector does not have is an error that names it:

>>> parse_config({"detector": {"treshold": 4}}, "bad.toml")
Traceback (most recent call last):
...
earshot.config.ConfigError: bad.toml: [detector] has no setting 'treshold' (did you mean 'threshold'?); valid: close_after, close_threshold, confirm_after, confirm_threshold, cooldown, dispersion, min_history, min_rate, scales, season, single_source_penalty, threshold, window
"""

from __future__ import annotations

import difflib
import os
import tomllib
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path

import tomlkit

SOURCE_KINDS = ("rss", "reddit", "hackernews", "discourse", "mastodon", "bluesky", "statuspage")
# Kinds whose items are the provider's own word (official updates), not posts.
OFFICIAL_KINDS = ("statuspage",)
# Kinds with a well-known home; the others need a url or base_url.
KINDS_WITH_DEFAULT_ADDRESS = ("reddit", "hackernews", "mastodon", "bluesky")
DEFAULT_DB = Path("data") / "earshot.db"
# What the repository bundles: official timelines, labelled posts, the demo's incidents.
DATA_DIR = Path(__file__).resolve().parent.parent / "data"
TIMELINES_CSV = DATA_DIR / "official-incidents" / "incident_stages.csv"
LABELS_DIR = DATA_DIR / "labels"
DEMO_INCIDENTS = DATA_DIR / "demo" / "incidents.toml"


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

    @property
    def display_name(self) -> str:
        return self.label or self.name

    def mentioned_in(self, text: str) -> bool:
        """True when any of the service's terms occurs in ``text`` (case-insensitive).

        >>> Service("chatgpt", ("chatgpt", "openai")).mentioned_in("Is ChatGPT down?")
        True
        """
        lowered = text.lower()
        return any(term.lower() in lowered for term in self.terms)


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
    """How posts become counts (``[counts]``): the bucket width, and whether an
    author counts once per ``reporter_window``."""

    bucket: str = "5min"
    unique_reporters: bool = True
    reporter_window: str = "1h"

    @property
    def window(self) -> str | None:
        """The reporter window in force (None: every complaint counts)."""
        return self.reporter_window if self.unique_reporters else None


COUNTS_KEYS = tuple(f.name for f in fields(Counts))


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
        if source.service:
            return source.service
        for service in self.services:
            if service.mentioned_in(text):
                return service.name
        return None

    def provider_of(self, service: str) -> str | None:
        return self.service(service).provider


def default_config_path() -> Path:
    """The bundled ChatGPT configuration."""
    return Path(str(resources.files("earshot") / "chatgpt.toml"))


def default_db_path() -> Path:
    """``$EARSHOT_DB`` if set, else ``data/earshot.db`` under the working directory."""
    return Path(os.environ.get("EARSHOT_DB") or DEFAULT_DB)


def load_config(path: str | os.PathLike | None = None) -> Config:
    """Load and check a configuration file (the bundled one when ``path`` is None)."""
    path = Path(path) if path else default_config_path()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    return parse_config(raw, str(path))


def parse_config(raw: dict, path: str = "<config>") -> Config:
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
            )
        )
    service_names = {s.name for s in services}

    sources = []
    seen = set()
    for i, entry in enumerate(raw.get("sources", [])):
        where = f"{path}: [[sources]] #{i + 1}"
        name = _required(entry, "name", where)
        kind = _required(entry, "kind", f"{path}: source {name!r}")
        if kind not in SOURCE_KINDS:
            raise ConfigError(f"{path}: source {name!r}: unknown kind {kind!r} (known: {', '.join(SOURCE_KINDS)})")
        if name in seen:
            raise ConfigError(f"{path}: two sources are named {name!r}")
        seen.add(name)
        if not (entry.get("url") or entry.get("base_url")) and kind not in KINDS_WITH_DEFAULT_ADDRESS:
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
    _check_detector_settings(detector, path)
    counts = _table(raw, "counts", path)
    _check_keys(counts, COUNTS_KEYS, "[counts]", path)
    return Config(
        path=path,
        services=tuple(services),
        sources=tuple(sources),
        detector=detector,
        counts=Counts(**counts),
        dashboard=_table(raw, "dashboard", path),
    )


def _table(raw: dict, name: str, path: str) -> dict:
    table = raw.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [{name}] must be a table")
    return table


def _check_detector_settings(settings: dict, path: str) -> None:
    """Every ``[detector]`` key must be a parameter of the detector, and take its value."""
    from detector import RollingBaselineDetector  # pandas and scikit-learn: only when a config is read

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
