"""Load and check `engine.yaml`: located YAML, `${VAR}` substitution, the JSON Schema, then the specs,
settings, triggers and mappings it names. Every problem becomes one located `Diagnostic`."""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from engine.config.env import substitute
from engine.config.model import (
    MAX_MAPPINGS,
    SANDBOX,
    Config,
    ConfigError,
    ConsoleConfig,
    DestinationConfig,
    MappingConfig,
    QueueConfig,
    RetryConfig,
    Source,
)
from engine.diagnostics import Diagnostic, KeyPath, SpecError
from engine.spec.loader import Document, load_file
from engine.spec.schema import check_schema as _check_schema
from engine.spec.schema import suggest

SCHEMA_PATHS = (
    Path(__file__).resolve().parent.parent.parent / "schemas" / "config.schema.json",
    Path(__file__).resolve().parent.parent / "data" / "config.schema.json",
)


@functools.cache
def config_schema() -> dict[str, Any]:
    for path in SCHEMA_PATHS:
        if path.exists():
            return json.loads(path.read_text(encoding="utf-8"))
    raise FileNotFoundError("schemas/config.schema.json is missing from this installation")


@functools.cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(config_schema())


def check_schema(doc: Document) -> list[Diagnostic]:
    """Schema problems of the config, worded and located as the spec's are."""
    return _check_schema(doc, _validator(), subject="the config")


@dataclass
class _Ctx:
    doc: Document
    lines: list[str]
    base: Path
    diags: list[Diagnostic] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)
    from_env: set[KeyPath] = field(default_factory=set)

    def error(self, path: KeyPath, message: str, *, key: bool = False, offset: int | None = None) -> None:
        self.diags.append(self.doc.diagnostic(path, message, key=key, column_offset=offset))

    def warning(self, path: KeyPath, message: str) -> None:
        self.diags.append(self.doc.diagnostic(path, message, severity="warning"))

    def string_offset(self, path: KeyPath, raw: str, index: int) -> int | None:
        """Columns from the value's start to `raw[index]` when the value is written on one line, else None."""
        if path not in self.doc.value_positions or "\n" in raw[:index]:
            return None
        line, col = self.doc.value_positions[path]
        if not 0 < line <= len(self.lines):
            return None
        text = self.lines[line - 1][col - 1:]
        quote = 1 if text[:1] in ("'", '"') else 0
        return index + quote if text[quote:].startswith(raw[:index]) else None


def _substitute_env(ctx: _Ctx, value: Any, path: KeyPath, env: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _substitute_env(ctx, v, path + (k,), env) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute_env(ctx, v, path + (i,), env) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value
    new, problems, used = substitute(value, env)
    for problem in problems:
        ctx.error(path, problem.message, offset=ctx.string_offset(path, value, problem.offset))
    if used:
        ctx.from_env.add(path)
    return new


def _spec_path(ctx: _Ctx, spec: str) -> Path:
    from engine.runtime.destination import resolve_spec_path

    if spec.endswith((".yaml", ".yml")) or "/" in spec:
        path = Path(spec) if Path(spec).is_absolute() else ctx.base / spec
        if not path.exists():
            raise FileNotFoundError(f"no spec file {spec} (looked for {path})")
        return path
    local = ctx.base / "specs" / f"{spec}.yaml"
    return local if local.exists() else resolve_spec_path(spec)


def _known_specs(ctx: _Ctx) -> list[str]:
    from engine.runtime.destination import SPECS_DIR

    names = set()
    for folder in (ctx.base / "specs", Path("specs"), SPECS_DIR):
        if folder.is_dir():
            names |= {p.stem for p in folder.glob("*.yaml")}
    return sorted(names)


_SETTING = re.compile(r"setting '([^']+)'")


def _check_settings(ctx: _Ctx, dest: Any, given: Any, path: KeyPath) -> dict[str, Any]:
    from engine.runtime.settings import SettingsError, resolve_settings, secret_values

    given = given if isinstance(given, dict) else {}
    try:
        settings = resolve_settings(dest.settings_spec, given)
    except SettingsError as exc:
        for problem in str(exc).split("; "):
            match = _SETTING.search(problem)
            name = match.group(1) if match else None
            if name is not None and name in given:
                ctx.error(path + ("settings", name), problem, key=problem.startswith("unknown"))
            else:
                ctx.error(path + ("settings",) if "settings" in given or given else path, problem)
        settings = {}  # the config is rejected; nothing reads these
    ctx.secrets.update(secret_values(dest.settings_spec, settings))
    return settings


def _check_mapping(ctx: _Ctx, dest: Any, raw: dict[str, Any], path: KeyPath) -> Any:
    """Check one subscription; its compiled Subscription, or None when it has a problem."""
    from engine.mapping import MappingError, validate_mapping
    from engine.runtime.destination import Subscription
    from engine.trigger import TriggerError, compile_trigger

    ok = True
    trigger = None
    subscribe = raw.get("subscribe")
    if isinstance(subscribe, str):
        try:
            trigger = compile_trigger(subscribe)
        except TriggerError as exc:
            ok = False
            offset = ctx.string_offset(path + ("subscribe",), subscribe, max(exc.column - 1, 0))
            ctx.error(path + ("subscribe",), f"invalid trigger: {exc.message} (column {exc.column} of the trigger)",
                      offset=offset)
    action_key = raw.get("action")
    action = dest.actions.get(action_key) if isinstance(action_key, str) else None
    if isinstance(action_key, str) and action is None:
        ok = False
        actions = list(dest.actions)
        ctx.error(path + ("action",), f"no action '{action_key}' in spec {dest.slug}{suggest(action_key, actions)}; "
                                      f"actions: {', '.join(actions)}")
    mapping = raw.get("mapping") or {}
    if isinstance(mapping, dict):
        for fkey, value in mapping.items():
            if action is not None and fkey not in action.fields:
                ok = False
                fields = list(action.fields)
                ctx.error(path + ("mapping", fkey), f"'{fkey}' is not a field of action '{action.key}'"
                                                    f"{suggest(fkey, fields)}; fields: {', '.join(fields)}", key=True)
                continue
            try:
                issues = validate_mapping(value)
            except MappingError as exc:
                issues = exc.issues
            for issue in issues:
                ok = False
                ctx.error(path + ("mapping", fkey) + tuple(issue.path), f"invalid mapping: {issue.message}")
    if not ok or trigger is None or action is None or not isinstance(mapping, dict):
        return None
    try:
        return Subscription(raw.get("name"), action, action.mapping_with(mapping), trigger)
    except MappingError as exc:
        for issue in exc.issues:
            ctx.error(path + ("mapping",) + tuple(issue.path), f"invalid mapping: {issue.message}")
        return None


def _retry(raw: Any, base: RetryConfig) -> RetryConfig:
    raw = raw if isinstance(raw, dict) else {}
    return RetryConfig(
        attempts=int(raw.get("attempts", base.attempts)), base=float(raw.get("base", base.base)),
        cap=float(raw.get("cap", base.cap)), deadline=float(raw.get("deadline", base.deadline)))


def _check_destination(ctx: _Ctx, raw: dict[str, Any], path: KeyPath, cache: dict[Path, Any],
                       retry: RetryConfig, concurrency: int) -> DestinationConfig | None:
    from engine.runtime.destination import load_destination

    spec = raw.get("spec")
    if not isinstance(spec, str):
        return None
    try:
        spec_path = _spec_path(ctx, spec).resolve()
    except FileNotFoundError as exc:
        ctx.error(path + ("spec",), f"{exc}{suggest(spec, _known_specs(ctx))}")
        return None
    if spec_path not in cache:
        try:
            cache[spec_path] = load_destination(spec_path)
        except SpecError as exc:
            first = exc.diagnostics[0] if exc.diagnostics else None
            cache[spec_path] = None
            ctx.error(path + ("spec",), f"the spec {spec_path} is invalid ({len(exc.diagnostics)} problem{'s' if len(exc.diagnostics) != 1 else ''}; "
                                        f"run engine validate {spec_path}){f'; first: {first}' if first else ''}")
    dest = cache[spec_path]
    if dest is None:
        return None
    settings = _check_settings(ctx, dest, raw.get("settings"), path)
    secrets = {str(v) for k, v in settings.items() if dest.settings_spec.get(k, {}).get("type") == "password"}
    _short_secrets(ctx, dest, settings, path)
    for p in ctx.from_env:  # anything read from the environment into settings is treated as a secret
        if p[:len(path) + 1] == path + ("settings",):
            value = _get(ctx.doc.data, p)
            if isinstance(value, str):
                secrets.add(value)
    ctx.secrets.update(secrets)
    mappings = raw.get("mappings")
    configs: list[MappingConfig] | None = None
    subs: list[Any] = []
    if isinstance(mappings, list):
        configs = []
        if len(mappings) > MAX_MAPPINGS:
            ctx.error(path + ("mappings", MAX_MAPPINGS),
                      f"too many mappings: at most {MAX_MAPPINGS} per destination instance (as Segment allows); "
                      f"this is mapping {MAX_MAPPINGS + 1} of {len(mappings)}")
        names: dict[str, int] = {}
        for i, m in enumerate(mappings):
            if not isinstance(m, dict):
                continue
            mpath = path + ("mappings", i)
            name = m.get("name")
            if isinstance(name, str):
                if name in names:
                    ctx.error(mpath + ("name",), f"mapping name '{name}' is already used by mappings[{names[name]}]")
                names.setdefault(name, i)
            sub = _check_mapping(ctx, dest, m, mpath)
            if isinstance(name, str) and isinstance(m.get("subscribe"), str) and isinstance(m.get("action"), str):
                cfg = MappingConfig(name, m["subscribe"], m["action"], dict(m.get("mapping") or {}),
                                    bool(m.get("enabled", True)))
                configs.append(cfg)
                if sub is not None and cfg.enabled:
                    subs.append(sub)
    else:
        subs = dest.subscriptions()
    return DestinationConfig(
        id=str(raw.get("id")), spec=spec, spec_path=spec_path, settings=settings, mappings=configs,
        enabled=raw.get("enabled", True) is not False, concurrency=int(raw.get("concurrency") or concurrency),
        retry=_retry(raw.get("retry"), retry), destination=dest, subscriptions=subs, secrets=sorted(secrets))


def _get(data: Any, path: KeyPath) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _check_routes(ctx: _Ctx, routes: Any) -> dict[str, str]:
    from engine.delivery.transports import parse_route

    out: dict[str, str] = {}
    if not isinstance(routes, dict):
        return out
    for host, target in routes.items():
        if not isinstance(target, str):
            continue
        if "://" in host or "/" in host or not host.strip():
            ctx.error(("routes", host), f"route host '{host}' must be a host or host:port, not a URL", key=True)
            continue
        if target.strip().lower() != SANDBOX:
            try:
                parse_route(f"{host}={target}")
            except ValueError as exc:
                ctx.error(("routes", host), f"{str(exc).replace('route target', 'target')}; or write {SANDBOX}")
                continue
        out[host.strip().lower()] = SANDBOX if target.strip().lower() == SANDBOX else target.strip()
    return out


def _duplicates(ctx: _Ctx, items: Any, key: str, what: str) -> None:
    seen: dict[Any, int] = {}
    for i, item in enumerate(items if isinstance(items, list) else []):
        if isinstance(item, dict) and isinstance(item.get(key), str):
            value = item[key]
            if value in seen:
                ctx.error((what, i, key), f"{key} '{value}' is already used by {what}[{seen[value]}]")
            seen.setdefault(value, i)


def _origins(ctx: _Ctx, raw: Any, index: int) -> tuple[str, ...]:
    """A source's allowed origins, lower-cased without a trailing slash; `*` only alone."""
    if not isinstance(raw, list):
        return ()
    origins = [o.strip().rstrip("/").lower() for o in raw if isinstance(o, str)]
    if "*" in origins and len(origins) > 1:
        ctx.error(("sources", index, "allowed_origins"),
                  "\"*\" allows every origin and must be the only entry of allowed_origins")
    return tuple(origins)


def _console(ctx: _Ctx, raw: Any, write_keys: set[str]) -> ConsoleConfig:
    if not isinstance(raw, dict) or not isinstance(raw.get("token"), str):
        return ConsoleConfig()
    token = raw["token"]
    ctx.secrets.add(token)
    if token in write_keys:
        ctx.error(("console", "token"), "the console token must not be a write key (write keys live in web pages); "
                                        "choose a separate secret")
    return ConsoleConfig(token=token)


def check_config(path: str | Path, env: Mapping[str, str] | None = None) -> tuple[Config | None, list[Diagnostic]]:
    """Every problem of the config file (errors and warnings, secrets masked); the Config when there is no error."""
    env = os.environ if env is None else env
    try:
        doc = load_file(path)
    except SpecError as exc:
        return None, list(exc.diagnostics)
    file = Path(path)
    try:
        lines = file.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError):
        lines = []
    ctx = _Ctx(doc, lines, file.resolve().parent)
    doc.data = _substitute_env(ctx, doc.data, (), env)
    for p in ctx.from_env:
        if (len(p) == 3 and p[0] == "sources" and p[2] == "write_key") or "settings" in p:
            value = _get(doc.data, p)
            if isinstance(value, str):
                ctx.secrets.add(value)
    env_diags = list(ctx.diags)
    env_failed = {d.path for d in env_diags}
    ctx.diags.extend(check_schema(doc))
    data = doc.data if isinstance(doc.data, dict) else {}
    config = _build(ctx, data)
    masker = config.masker()  # built once: engine serve's app, worker and instances reuse it
    # a value whose variable is missing is reported once, not again for being empty
    kept = [d for d in ctx.diags if d.path not in env_failed or any(d is e for e in env_diags)]
    diags = sorted(replace(d, message=masker.mask_text(d.message)) for d in kept)
    if any(d.severity == "error" for d in diags):
        return None, diags
    config.warnings = [d for d in diags if d.severity == "warning"]
    return config, diags


MIN_WRITE_KEY_LENGTH = 8  # shorter write keys get a warning at load (`engine config check`, `engine serve`)


def _build(ctx: _Ctx, data: dict[str, Any]) -> Config:
    sources_raw = data.get("sources") if isinstance(data.get("sources"), list) else []
    for s in sources_raw:
        if isinstance(s, dict) and isinstance(s.get("write_key"), str):
            ctx.secrets.add(s["write_key"])
    _duplicates(ctx, sources_raw, "name", "sources")
    keys: dict[str, int] = {}
    for i, s in enumerate(sources_raw):
        if isinstance(s, dict) and isinstance(s.get("write_key"), str):
            if s["write_key"] in keys:
                ctx.error(("sources", i, "write_key"), f"the same write key as sources[{keys[s['write_key']]}]; "
                                                       "each source needs its own")
            keys.setdefault(s["write_key"], i)
            if 0 < len(s["write_key"]) < MIN_WRITE_KEY_LENGTH:
                ctx.warning(("sources", i, "write_key"),
                            f"the write key is {len(s['write_key'])} characters long: anyone can guess it (and it "
                            f"cannot be masked safely in output); use at least {MIN_WRITE_KEY_LENGTH} random "
                            "characters")
    if not sources_raw:
        ctx.warning(("sources",) if "sources" in data else (), "no sources: engine serve will refuse every event (401)")
    sources = [Source(s["name"], s["write_key"], _origins(ctx, s.get("allowed_origins"), i))
               for i, s in enumerate(sources_raw)
               if isinstance(s, dict) and isinstance(s.get("name"), str) and isinstance(s.get("write_key"), str)]
    console = _console(ctx, data.get("console"), {s.write_key for s in sources})
    retry = _retry(data.get("retry"), RetryConfig())
    concurrency = data.get("concurrency") if isinstance(data.get("concurrency"), int) else 16
    queue_raw = data.get("queue") if isinstance(data.get("queue"), dict) else {}
    if isinstance(queue_raw.get("dsn"), str):
        from engine.queue.postgres import dsn_password

        password = dsn_password(queue_raw["dsn"])
        if password:
            ctx.secrets.add(password)
    qpath = Path(queue_raw["path"] if isinstance(queue_raw.get("path"), str) else "engine-data")
    queue = QueueConfig(
        path=qpath if qpath.is_absolute() else ctx.base / qpath,
        durability=queue_raw.get("durability", "full"),
        dedup_window=_number(queue_raw.get("dedup_window"), 24 * 3600.0),
        lease_seconds=_number(queue_raw.get("lease_seconds"), 30.0),
        max_orphaned=int(_number(queue_raw.get("max_orphaned"), 3, integer=True)),
        batch_linger_ms=(0.0 if queue_raw.get("batch_linger_ms") == 0 else _number(queue_raw.get("batch_linger_ms"), 500.0)),
        kind=queue_raw.get("kind", "sqlite"),
        dsn=queue_raw.get("dsn") if isinstance(queue_raw.get("dsn"), str) else None,
        schema=queue_raw.get("schema") if isinstance(queue_raw.get("schema"), str) else None,
    )
    dests_raw = data.get("destinations") if isinstance(data.get("destinations"), list) else []
    _duplicates(ctx, dests_raw, "id", "destinations")
    cache: dict[Path, Any] = {}
    destinations = []
    for i, d in enumerate(dests_raw):
        if isinstance(d, dict):
            built = _check_destination(ctx, d, ("destinations", i), cache, retry, concurrency)
            if built is not None:
                destinations.append(built)
    if isinstance(data.get("destinations"), list) and not dests_raw:
        ctx.warning(("destinations",), "no destinations: accepted events go nowhere")
    routes = _check_routes(ctx, data.get("routes"))
    return Config(file=Path(ctx.doc.file), sources=sources, destinations=destinations, routes=routes, queue=queue,
                  retry=retry, concurrency=concurrency, secrets=sorted(ctx.secrets), console=console)


def _short_secrets(ctx: _Ctx, dest: Any, settings: Mapping[str, Any], path: KeyPath) -> None:
    """A warning for each password setting too short to be masked inside text (only whole values equal to it are)."""
    from engine.secrets import MIN_SUBSTRING_LENGTH

    for key, value in settings.items():
        if dest.settings_spec.get(key, {}).get("type") != "password" or value is None:
            continue
        length = len(str(value))
        if 0 < length < MIN_SUBSTRING_LENGTH:
            ctx.warning(path + ("settings", key),
                        f"the password is {length} character{'s' if length != 1 else ''} long: it cannot be masked "
                        f"inside longer text (only where a whole value equals it), so it may appear in output; use "
                        f"at least {MIN_SUBSTRING_LENGTH} characters")


def _number(value: Any, default: float, *, integer: bool = False) -> float:
    """A positive number of the config, else `default` (the schema check has reported the wrong value)."""
    ok = isinstance(value, int if integer else (int, float)) and not isinstance(value, bool) and value > 0
    return float(value) if ok else float(default)


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """The checked configuration, or ConfigError listing every problem (warnings are in `Config.warnings`)."""
    config, diags = check_config(path, env)
    if config is None:
        raise ConfigError([d for d in diags if d.severity == "error"])
    return config

