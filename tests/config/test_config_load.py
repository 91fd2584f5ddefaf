from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from engine.config import MAX_MAPPINGS, SANDBOX, ConfigError, check_config, load_config, substitute

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "engine.yaml"
    path.write_text(textwrap.dedent(text))
    return path


MINIMAL = """\
sources:
  - name: web
    write_key: wk-123456
destinations:
  - id: um
    spec: usermotion
    settings:
      apiKey: ${UM_KEY}
"""


def messages(path: Path, env: dict[str, str] | None = None) -> list[str]:
    _, diags = check_config(path, env or {})
    return [str(d) for d in diags]


def test_example_config_loads() -> None:
    config = load_config(ROOT / "examples" / "engine.yaml", env={})
    assert [s.name for s in config.sources] == ["web"]
    assert config.write_keys["dev-write-key"].name == "web"
    assert [d.spec for d in config.destinations] == ["usermotion", "usermaven", "userpilot", "usercom"]
    assert set(config.routes.values()) == {SANDBOX}
    assert config.queue.path == ROOT / "examples" / "engine-data"
    assert all(d.subscriptions for d in config.destinations)  # presets
    assert config.destination("usermotion-dev").name == "UserMotion (Actions)"
    assert "fake-usermotion-key" in config.secrets and "dev-write-key" in config.secrets


def test_env_default_form_prefers_the_environment() -> None:
    config = load_config(ROOT / "examples" / "engine.yaml", env={"WEB_WRITE_KEY": "from-env-key"})
    assert list(config.write_keys) == ["from-env-key"]


def test_minimal_config_with_env_and_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), env={"UM_KEY": "k-abcdef"})
    dest = config.destinations[0]
    assert dest.settings == {"apiKey": "k-abcdef"}
    assert dest.mappings is None and dest.enabled and dest.concurrency == 16
    assert config.retry.attempts == 5 and config.queue.durability == "full"
    assert config.queue.path == tmp_path / "engine-data"
    assert dest.masker().mask_text("key k-abcdef") == "key ****"
    assert config.masker().mask_text("wk-123456") == "****"


def test_missing_variable_is_named_with_its_position(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    assert messages(path) == [
        f"{path}:8:15: destinations[0].settings.apiKey: environment variable UM_KEY is not set "
        "(set it, or write ${UM_KEY:-default})"]
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert "UM_KEY" in str(info.value)


def test_variable_column_inside_a_quoted_string(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("${UM_KEY}", '"key-${UM_KEY}"'))
    [line] = messages(path)
    assert line.startswith(f"{path}:8:20: ")  # the value starts at 15, the quote is 1, 'key-' is 4


def test_substitute_forms() -> None:
    env = {"A": "1", "EMPTY": ""}
    assert substitute("x${A}y", env)[0] == "x1y"
    assert substitute("${B:-dflt}", env)[0] == "dflt"
    assert substitute("${EMPTY:-dflt}", env)[0] == "dflt"
    assert substitute("$${A} and $5", env) == ("${A} and $5", [], False)
    _, problems, _ = substitute("${A", env)
    assert "not closed" in problems[0].message
    _, problems, _ = substitute("ok ${1x}", env)
    assert problems[0].offset == 3 and "not an environment variable reference" in problems[0].message


def test_schema_errors_are_located(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        destinations:
          - id: um
            spec: usermotion
            settings: {apiKey: key-k}
            enabled: maybe
        queue: {durability: fast}
        colour: red
    """)
    assert messages(path) == [
        f"{path}:1:1: warning: no sources: engine serve will refuse every event (401)",
        f"{path}:5:14: destinations[0].enabled: expected true or false, found a string",
        f"{path}:6:21: queue.durability: 'fast' is not one of full, normal",
        f"{path}:7:1: colour: unknown key 'colour'; expected one of sources, destinations, routes, queue, retry, concurrency, console",
    ]


def test_missing_destinations_says_config(tmp_path: Path) -> None:
    path = write(tmp_path, "sources: []\n")
    assert f"{path}:1:1: missing required key 'destinations' in the config" in messages(path)


def test_unknown_spec_and_bad_settings(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        sources: [{name: web, write_key: wk-12345}]
        destinations:
          - id: a
            spec: usermotoin
          - id: b
            spec: usermotion
            settings: {apiKey: k, colour: blue}
          - id: c
            spec: usermotion
    """)
    assert messages(path) == [
        f"{path}:4:11: destinations[0].spec: no spec named 'usermotoin' (looked for specs/usermotoin.yaml) "
        "(did you mean 'usermotion'?)",
        f"{path}:7:27: destinations[1].settings.colour: unknown setting 'colour' (this destination's settings: apiKey)",
        f"{path}:8:5: destinations[2]: setting 'apiKey' (API Key) is required",
    ]


def test_spec_given_as_path_relative_to_config(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "um.yaml").write_text((ROOT / "specs" / "usermotion.yaml").read_text())
    path = write(tmp_path, "destinations: [{id: a, spec: mine/um.yaml, settings: {apiKey: key-k}}]\n")
    config = load_config(path, env={})
    assert config.destinations[0].spec_path == (tmp_path / "mine" / "um.yaml").resolve()


def test_invalid_spec_is_reported_at_spec_key(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("spec_version: 1\nname: X\n")
    path = write(tmp_path, "destinations: [{id: a, spec: ./broken.yaml}]\n")
    lines = messages(path)
    assert lines[1].startswith(f"{path}:1:30: destinations[0].spec: the spec ")
    assert "(1 problem; run engine validate" in lines[1] and "missing required key 'slug'" in lines[1]


def mapping_config(mappings: str) -> str:
    return textwrap.dedent("""\
        sources: [{name: web, write_key: wk-12345}]
        destinations:
          - id: um
            spec: usermotion
            settings: {apiKey: key-k}
            mappings:
        """) + textwrap.indent(textwrap.dedent(mappings), "      ")


def test_mappings_replace_presets(tmp_path: Path) -> None:
    path = write(tmp_path, mapping_config("""\
        - name: Orders
          subscribe: type = "track" and event = "Order Completed"
          action: track
          mapping: {eventName: {"@template": "order"}}
        - name: Off
          subscribe: type = "identify"
          action: identify
          enabled: false
    """))
    dest = load_config(path, env={}).destinations[0]
    assert [m.name for m in dest.mappings] == ["Orders", "Off"]
    [sub] = dest.subscriptions
    assert sub.trigger({"type": "track", "event": "Order Completed"}) is True
    assert sub.trigger({"type": "track", "event": "Other"}) is False
    assert sub.mapping({"type": "track", "event": "Order Completed", "userId": "u"})["eventName"] == "order"


def test_mapping_problems_are_located(tmp_path: Path) -> None:
    path = write(tmp_path, mapping_config("""\
        - name: A
          subscribe: type = "track" and event =
          action: trak
        - name: A
          subscribe: type = "track"
          action: track
          mapping: {eventNam: {"@path": "$.event"}, userId: {"@path": 3}}
    """))
    lines = messages(path)
    assert lines[0].startswith(f"{path}:8:46: destinations[0].mappings[0].subscribe: invalid trigger: ")
    assert "column" in lines[0]
    assert lines[1] == (f"{path}:9:17: destinations[0].mappings[0].action: no action 'trak' in spec usermotion "
                        "(did you mean 'track'?); actions: identify, group, track")
    assert lines[2] == f"{path}:10:15: destinations[0].mappings[1].name: mapping name 'A' is already used by mappings[0]"
    assert lines[3].startswith(f"{path}:13:19: destinations[0].mappings[1].mapping.eventNam: 'eventNam' is not a field")
    assert "(did you mean 'eventName'?)" in lines[3]
    assert "destinations[0].mappings[1].mapping.userId" in lines[4] and "invalid mapping" in lines[4]
    assert len(lines) == 5


def many_mappings(n: int) -> str:
    return "".join(f"- {{name: m{i}, subscribe: 'type = \"track\"', action: track}}\n" for i in range(n))


def test_fifty_mappings_allowed(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, mapping_config(many_mappings(MAX_MAPPINGS))), env={})
    assert len(config.destinations[0].subscriptions) == 50


def test_fifty_first_mapping_is_an_error_at_its_position(tmp_path: Path) -> None:
    path = write(tmp_path, mapping_config(many_mappings(MAX_MAPPINGS + 1)))
    assert messages(path) == [
        f"{path}:57:9: destinations[0].mappings[50]: too many mappings: at most 50 per destination instance "
        "(as Segment allows); this is mapping 51 of 51"]


def test_routes_checked(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        destinations: []
        routes:
          api.usermotion.com: Sandbox
          api.b.com: http://127.0.0.1:9000/prefix
          api.c.com: ftp://x
          http://d.com: sandbox
    """)
    lines = messages(path)
    assert lines[2:] == [
        f"{path}:5:14: routes.api.c.com: target 'ftp://x' must be an http(s) URL with a host; or write sandbox",
        f"{path}:6:3: routes.http://d.com: route host 'http://d.com' must be a host or host:port, not a URL",
    ]
    path = write(tmp_path, "destinations: []\nroutes: {API.usermotion.com: sandbox, api.b.com: 'http://127.0.0.1:9000'}\n")
    config = load_config(path, env={})
    assert config.sandbox_hosts == ["api.usermotion.com"]
    assert config.url_routes == {"api.b.com": "http://127.0.0.1:9000"}


def test_duplicate_ids_names_and_write_keys(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        sources:
          - {name: web, write_key: same-key-1}
          - {name: web, write_key: same-key-1}
        destinations:
          - {id: a, spec: usermotion, settings: {apiKey: key-k}}
          - {id: a, spec: usermotion, settings: {apiKey: key-k}}
    """)
    lines = messages(path)
    assert f"{path}:3:12: sources[1].name: name 'web' is already used by sources[0]" in lines
    assert f"{path}:3:28: sources[1].write_key: the same write key as sources[0]; each source needs its own" in lines
    assert f"{path}:6:10: destinations[1].id: id 'a' is already used by destinations[0]" in lines


def test_secrets_are_never_in_messages(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        sources: [{name: web, write_key: "${WK}"}]
        destinations:
          - id: a
            spec: usermotion
            settings: {apiKey: "${UM}"}
            retry: {attempts: 0}
        queue: {durability: "${WK}", path: "${UM}"}
    """)
    text = "\n".join(messages(path, {"WK": "the-write-key-value", "UM": "the-api-key-value"}))
    assert "queue.durability: '****' is not one of full, normal" in text
    assert "the-write-key-value" not in text and "the-api-key-value" not in text


def test_retry_and_concurrency_per_instance(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        destinations:
          - {id: a, spec: usermotion, settings: {apiKey: key-k}, concurrency: 4, retry: {attempts: 2}}
          - {id: b, spec: usermotion, settings: {apiKey: key-k}, enabled: false}
        retry: {attempts: 7, base: 1, cap: 10, deadline: 60}
        concurrency: 8
        queue: {path: /tmp/x-engine-data, dedup_window: 60, durability: normal}
    """)
    config = load_config(path, env={})
    a, b = config.destinations
    assert (a.concurrency, a.retry.attempts, a.retry.cap) == (4, 2, 10.0)
    assert (b.concurrency, b.retry.attempts, b.enabled) == (8, 7, False)
    assert [d.id for d in config.enabled_destinations] == ["a"]
    policy = a.retry.policy()
    assert (policy.attempts, policy.base, policy.deadline) == (2, 1.0, 60.0)
    assert config.queue.path == Path("/tmp/x-engine-data") and config.queue.dedup_window == 60


def test_queue_config_opens_the_queue(tmp_path: Path) -> None:
    path = write(tmp_path, "destinations: []\nqueue: {path: data, dedup_window: 10}\n")
    config = load_config(path, env={})
    with config.queue.open() as queue:
        assert queue.enqueue([{"messageId": "m"}], ["a"]) == 1
    assert (tmp_path / "data" / "queue.db").exists()


def test_yaml_errors_become_config_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "destinations: [\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert info.value.diagnostics[0].file == str(path)


def test_queue_lease_defaults_and_wrong_numbers_are_located_errors(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "destinations: []\n"), env={})
    assert (config.queue.lease_seconds, config.queue.max_orphaned) == (30.0, 3)
    config = load_config(write(tmp_path, "destinations: []\nqueue: {lease_seconds: 12, max_orphaned: 5}\n"), env={})
    assert (config.queue.lease_seconds, config.queue.max_orphaned) == (12.0, 5)
    for bad, field in (("lease_seconds: abc", "queue.lease_seconds"), ("max_orphaned: x", "queue.max_orphaned"),
                       ("dedup_window: []", "queue.dedup_window"), ("max_orphaned: 0", "queue.max_orphaned")):
        with pytest.raises(ConfigError) as info:  # not a ValueError traceback
            load_config(write(tmp_path, f"destinations: []\nqueue: {{{bad}}}\n"), env={})
        assert field in str(info.value.diagnostics[0]), info.value.diagnostics


def test_queue_batch_linger_default_zero_and_wrong_values(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "destinations: []\n"), env={}).queue.batch_linger_ms == 500.0
    for given, expected in (("0", 0.0), ("50", 50.0), ("2.5", 2.5)):
        config = load_config(write(tmp_path, f"destinations: []\nqueue: {{batch_linger_ms: {given}}}\n"), env={})
        assert config.queue.batch_linger_ms == expected
    for bad in ("-1", "abc", "true"):
        with pytest.raises(ConfigError) as info:
            load_config(write(tmp_path, f"destinations: []\nqueue: {{batch_linger_ms: {bad}}}\n"), env={})
        assert "queue.batch_linger_ms" in str(info.value.diagnostics[0]), info.value.diagnostics


def test_nested_defaults_are_substituted() -> None:
    """`${A:-${B}}` became the literal `${B}` (issue 18 defect 12): a default may hold references itself."""
    env = {"B": "b", "A": "a"}
    assert substitute("${NOPE:-${B}}", env) == ("b", [], True)
    assert substitute("${A:-${B}}", env) == ("a", [], True)
    assert substitute("x${NOPE:-${ALSO_NOPE:-deep}}y", env) == ("xdeepy", [], True)
    assert substitute("${NOPE:-pre-${B}-post}", env)[0] == "pre-b-post"
    _, problems, _ = substitute("ab ${NOPE:-${MISSING}}", env)
    assert [(p.offset, p.message) for p in problems] == [
        (11, "environment variable MISSING is not set (set it, or write ${MISSING:-default})")]


def test_config_with_an_integer_of_over_4300_digits_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "big: " + "1" * 4400 + "\n")
    line = len(MINIMAL.splitlines()) + 1
    assert messages(path) == [
        f"{path}:{line}:6: a number of 4400 digits: integers may have at most 4300 digits; quote it to keep it as text"]
