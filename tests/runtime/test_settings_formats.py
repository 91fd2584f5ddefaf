"""Settings: choices, formats (email, hostname, ipv4, ipv6, uuid, uri, date-time), display-only keys
(depends_on, hidden) in the docs page, checked by engine validate and located in a config's settings."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from engine.authoring.docs import render_page
from engine.cli import main
from engine.config import check_config
from engine.runtime.settings import SettingsError, resolve_settings

SPEC_SETTINGS = {
    "region": {"label": "Region", "type": "string", "choices": [{"label": "Europe", "value": "eu"}, "us"],
               "default": "us"},
    "level": {"label": "Level", "type": "integer", "choices": [1, 2, 3]},
    "contact": {"label": "Contact", "type": "string", "format": "email"},
    "host": {"label": "Host", "type": "string", "format": "hostname", "depends_on": {"setting": "region", "value": "eu"}},
    "ip4": {"label": "IPv4", "type": "string", "format": "ipv4"},
    "ip6": {"label": "IPv6", "type": "string", "format": "ipv6"},
    "workspace": {"label": "Workspace", "type": "password", "format": "uuid", "hidden": True},
    "endpoint": {"label": "Endpoint", "type": "string", "format": "uri", "depends_on": "host"},
    "since": {"label": "Since", "type": "string", "format": "date-time"},
}

GOOD = {"region": "eu", "level": 2, "contact": "ada@example.com", "host": "api.example.co.uk", "ip4": "10.0.0.1",
        "ip6": "2001:db8::1", "workspace": "123e4567-e89b-12d3-a456-426614174000",
        "endpoint": "https://api.example.com/v1", "since": "2024-03-01T12:00:00Z"}


def test_values_of_the_right_choice_and_format_pass() -> None:
    assert resolve_settings(SPEC_SETTINGS, GOOD) == GOOD
    assert resolve_settings(SPEC_SETTINGS, {})["region"] == "us"  # the default is a choice


@pytest.mark.parametrize("key, value, expected", [
    ("region", "asia", "setting 'region' (Region) must be one of 'eu', 'us'"),
    ("level", 4, "must be one of 1, 2, 3"),
    ("contact", "ada.example.com", "must be an email address"),
    ("contact", "ada@bad_host", "must be an email address"),
    ("host", "-bad-.example.com", "must be a host name"),
    ("host", "a" * 64 + ".com", "must be a host name"),
    ("ip4", "10.0.0.256", "must be an IPv4 address"),
    ("ip4", "2001:db8::1", "must be an IPv4 address"),
    ("ip6", "10.0.0.1", "must be an IPv6 address"),
    ("workspace", "123e4567e89b12d3a456", "must be a UUID"),
    ("endpoint", "api.example.com/v1", "must be a URI with a scheme and a host"),
    ("since", "2024-03-01", "must be an RFC 3339 date-time"),
    ("since", "2024-02-30T00:00:00Z", "must be an RFC 3339 date-time"),
])
def test_a_value_outside_its_choices_or_format_is_refused(key: str, value: object, expected: str) -> None:
    with pytest.raises(SettingsError) as info:
        resolve_settings(SPEC_SETTINGS, {**GOOD, key: value})
    assert expected in str(info.value)


def test_a_secret_that_fails_its_format_is_not_repeated() -> None:
    with pytest.raises(SettingsError) as info:
        resolve_settings(SPEC_SETTINGS, {**GOOD, "workspace": "top-secret-value"})
    assert "must be a UUID" in str(info.value) and "top-secret-value" not in str(info.value)


def test_docs_carry_choices_formats_and_display_keys() -> None:
    page = render_page({"name": "X", "slug": "x", "settings": SPEC_SETTINGS, "actions": {}})
    assert "One of Europe (`eu`), `us`." in page
    assert "Format: email." in page
    assert "Shown when Region is `eu`." in page and "Shown when Host is set." in page
    assert "Hidden in the settings form." in page


BAD_SPEC = """\
spec_version: 1
name: Bad
slug: bad
mode: cloud
settings:
  region: {label: Region, type: string, choices: [eu, 3], default: asia}
  port: {label: Port, type: integer, format: hostname}
  host: {label: Host, type: string, format: hostname, default: "not a host", depends_on: regoin}
actions: {}
"""


def test_validate_locates_setting_mistakes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(BAD_SPEC)
    assert main(["validate", str(spec)]) != 0
    text = capsys.readouterr().out
    assert "bad.yaml:6:" in text and "choice 3 is not a string" in text
    assert "default 'asia' is not one of the choices" in text
    assert "bad.yaml:7:" in text and "format 'hostname' is for string settings" in text
    assert "bad.yaml:8:" in text and "default 'not a host' is not a host name" in text
    assert "depends_on names 'regoin', which is not another setting (did you mean 'region'?)" in text


def test_config_settings_errors_are_located(tmp_path: Path) -> None:
    spec = tmp_path / "specs" / "fmt.yaml"
    spec.parent.mkdir()
    spec.write_text(textwrap.dedent("""\
        spec_version: 1
        name: Fmt
        slug: fmt
        mode: cloud
        settings:
          contact: {label: Contact, type: string, format: email}
        actions:
          ping:
            title: Ping
            fields: {}
            request: {method: POST, url: https://api.fmt.test/ping}
        """))
    config = tmp_path / "engine.yaml"
    config.write_text(textwrap.dedent("""\
        sources: [{name: web, write_key: wk-123456}]
        destinations:
          - id: f
            spec: fmt
            settings:
              contact: nobody
        """))
    _, diags = check_config(config, {})
    diag = "\n".join(str(d) for d in diags)
    assert "engine.yaml:6:" in diag and "setting 'contact' (Contact) must be an email address" in diag
