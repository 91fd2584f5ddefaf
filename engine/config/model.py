"""The loaded configuration: plain dataclasses that `engine serve`, `engine send --config` and `engine dlq` read."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.diagnostics import Diagnostic, SpecError

if TYPE_CHECKING:
    from engine.delivery.retry import RetryPolicy
    from engine.queue import JobQueue
    from engine.runtime.destination import Destination, Subscription
    from engine.secrets import Masker

MAX_MAPPINGS = 50
SANDBOX = "sandbox"


class ConfigError(SpecError):
    """The configuration cannot be used; `.diagnostics` holds every problem, located."""


@dataclass(frozen=True)
class Source:
    name: str
    write_key: str = field(repr=False)
    allowed_origins: tuple[str, ...] = ()  # browser origins allowed to send (CORS); ("*",) for any

    def allows_origin(self, origin: str) -> bool:
        """A browser at `origin` (scheme://host[:port], as the Origin header says it) may send this source's events."""
        return "*" in self.allowed_origins or origin.lower() in self.allowed_origins


@dataclass(frozen=True)
class ConsoleConfig:
    """The operator console of `engine serve`; `token` None: the console is off."""

    token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class RetryConfig:
    attempts: int = 5
    base: float = 0.5
    cap: float = 30.0
    deadline: float = 120.0

    def policy(self, **clocks: Any) -> RetryPolicy:
        """A delivery `RetryPolicy` with these numbers (`sleep`, `clock`, ... may be passed for tests)."""
        from engine.delivery.retry import RetryPolicy

        return RetryPolicy(attempts=self.attempts, base=self.base, cap=self.cap, deadline=self.deadline, **clocks)


@dataclass(frozen=True)
class QueueConfig:
    path: Path = Path("engine-data")
    durability: str = "full"
    dedup_window: float = 24 * 3600.0
    lease_seconds: float = 30.0  # short: renewed while a delivery is in flight (see docs/runner.md)
    max_orphaned: int = 3  # a job whose delivery was in flight when the process died this often is dead-lettered
    batch_linger_ms: float = 500.0  # engine serve: how long a batch of a batching instance may wait to fill
    kind: str = "sqlite"  # sqlite (embedded, one machine) | postgres (shared by several nodes)
    dsn: str | None = field(default=None, repr=False)  # postgres: may hold a password, never printed
    schema: str | None = None  # postgres: the schema holding the tables (default: the DSN's search_path)

    def open(self, **options: Any) -> JobQueue:
        """Open (creating if needed) the queue the config names; `options` (e.g. `clock`) go to the queue."""
        from engine.queue import open_queue

        if self.kind == "postgres":
            options.pop("owner", None)
            if self.schema is not None:
                options.setdefault("schema", self.schema)
            return open_queue(kind="postgres", dsn=self.dsn, durability=self.durability,
                              dedup_window=self.dedup_window, **options)
        return open_queue(self.path, durability=self.durability, dedup_window=self.dedup_window, **options)

    def describe(self) -> str:
        """Where the queue is, for messages: the data folder, or the DSN without its password."""
        if self.kind == "postgres":
            from engine.queue.postgres import mask_dsn

            return f"PostgreSQL at {mask_dsn(self.dsn or '')}" + (f" (schema {self.schema})" if self.schema else "")
        return str(self.path)


@dataclass(frozen=True)
class MappingConfig:
    """A subscription of one instance: trigger, action, per-field overrides of the action's defaults."""

    name: str
    subscribe: str
    action: str
    mapping: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True


@dataclass
class DestinationConfig:
    id: str
    spec: str  # as written in the config
    spec_path: Path
    settings: dict[str, Any] = field(repr=False)  # resolved: defaults applied, types coerced
    mappings: list[MappingConfig] | None  # None: the spec's presets
    enabled: bool
    concurrency: int
    retry: RetryConfig
    destination: Destination = field(repr=False, compare=False)
    subscriptions: list[Subscription] = field(default_factory=list, repr=False, compare=False)
    secrets: list[str] = field(default_factory=list, repr=False, compare=False)

    @property
    def name(self) -> str:
        """The spec's display name: the key of this destination in an event's `integrations` object."""
        return self.destination.name

    def masker(self) -> Masker:
        """Masks this instance's secrets (built once; again only if `secrets` changed)."""
        return _cached_masker(self, self.secrets)


@dataclass
class Config:
    file: Path
    sources: list[Source]
    destinations: list[DestinationConfig]
    routes: dict[str, str]  # host -> base URL or "sandbox"
    queue: QueueConfig
    retry: RetryConfig
    concurrency: int
    secrets: list[str] = field(default_factory=list, repr=False)
    console: ConsoleConfig = field(default_factory=ConsoleConfig)
    warnings: list[Diagnostic] = field(default_factory=list, repr=False)

    @property
    def write_keys(self) -> dict[str, Source]:
        """Write key -> source."""
        return {s.write_key: s for s in self.sources}

    @property
    def enabled_destinations(self) -> list[DestinationConfig]:
        return [d for d in self.destinations if d.enabled]

    def destination(self, instance_id: str) -> DestinationConfig:
        for dest in self.destinations:
            if dest.id == instance_id:
                return dest
        raise KeyError(f"no destination instance '{instance_id}' in {self.file}")

    @property
    def url_routes(self) -> dict[str, str]:
        """Routes to a base URL (for `make_transport(routes=...)`)."""
        return {h: t for h, t in self.routes.items() if t != SANDBOX}

    @property
    def sandbox_hosts(self) -> list[str]:
        """Hosts whose requests go to the built-in capture sink."""
        return [h for h, t in self.routes.items() if t == SANDBOX]

    def masker(self) -> Masker:
        """Masks every secret of the config: write keys, password settings, values read from the environment.
        Built once (again only if `secrets` changed) and shared by everything that prints: the app, the worker
        and every instance's Deliverer (whose secrets it holds), so start-up builds one, not one per instance."""
        return _cached_masker(self, self.secrets)


def _cached_masker(owner: Any, secrets: list[str]) -> Masker:
    """The Masker of `secrets` kept on `owner` (a config dataclass), built when missing or when they changed."""
    from engine.secrets import Masker

    key = tuple(secrets)
    cached = owner.__dict__.get("_masker")
    if cached is None or cached[0] != key:
        cached = owner.__dict__["_masker"] = (key, Masker(key))
    return cached[1]
