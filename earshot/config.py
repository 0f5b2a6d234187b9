"""Read earshot's TOML configuration: services, sources and detector settings.

>>> config = load_config()            # the bundled ChatGPT configuration
>>> config.services[0].name
'chatgpt'
>>> sorted({s.kind for s in config.sources})
['bluesky', 'discourse', 'hackernews', 'mastodon', 'reddit', 'statuspage']
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

SOURCE_KINDS = ("rss", "reddit", "hackernews", "discourse", "mastodon", "bluesky", "statuspage")
# Kinds with a well-known home; the others need a url or base_url.
KINDS_WITH_DEFAULT_ADDRESS = ("reddit", "hackernews", "mastodon", "bluesky")
DEFAULT_DB = Path("data") / "earshot.db"


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
class Config:
    path: str
    services: tuple[Service, ...]
    sources: tuple[Source, ...]
    detector: dict
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
    detector = raw.get("detector", {})
    if not isinstance(detector, dict):
        raise ConfigError(f"{path}: [detector] must be a table")
    dashboard = raw.get("dashboard", {})
    if not isinstance(dashboard, dict):
        raise ConfigError(f"{path}: [dashboard] must be a table")
    return Config(path=path, services=tuple(services), sources=tuple(sources), detector=detector, dashboard=dashboard)


def with_detector_settings(text: str, settings: dict) -> str:
    r"""The TOML ``text`` of a configuration with ``settings`` written into its
    ``[detector]`` table (keys replaced where present, added where not);
    everything else, comments included, is kept as it was.

    >>> print(with_detector_settings('[detector]\nthreshold = 4.0 # opens\n', {"threshold": 6.0, "season": "day"}))
    [detector]
    threshold = 6.0 # opens
    season = "day"
    <BLANKLINE>
    """
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == "[detector]"), None)
    if start is None:
        lines += ["", "[detector]"]
        start = len(lines) - 1
    end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
    pending = dict(settings)
    for i in range(start + 1, end):
        key = lines[i].split("=", 1)[0].strip()
        if "=" in lines[i] and key in pending:
            comment = lines[i][lines[i].index("#") :] if "#" in lines[i] else ""
            lines[i] = f"{key} = {_toml_value(pending.pop(key))}" + (f" {comment}" if comment else "")
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    lines[end:end] = [f"{key} = {_toml_value(value)}" for key, value in pending.items()]
    updated = "\n".join(lines) + "\n"
    tomllib.loads(updated)  # never hand back a file that cannot be read again
    return updated


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _required(entry: dict, key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: missing {key!r}")
    return value
