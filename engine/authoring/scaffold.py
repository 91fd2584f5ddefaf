"""`engine new NAME`: a spec and a tests file that validate and pass from the start.

Both files are commented to teach the format; replace example.com and the fields with your API's.
"""

from __future__ import annotations

import re
from pathlib import Path

SLUG = re.compile(r"^[a-z][a-z0-9_-]*$")

SPEC = """\
# yaml-language-server: $schema={schema}
# {title}: written by `engine new {slug}`. The format is described in docs/spec-format.md.
# Check it with `engine validate specs/{slug}.yaml`, run its cases with `engine test {slug}`,
# see its catalog page with `engine docs {slug}`.
spec_version: 1
name: {title}                      # display name; also the key in an event's `integrations` object
slug: {slug}                       # the file name, lower-case
description: Sends events to {title}'s API.
mode: cloud
accepts: [track, identify]         # call types this destination takes; others are filtered

settings:                          # what an operator configures per destination instance
  apiKey:
    label: API Key
    description: The API key from your {title} account settings.
    type: password                 # a secret: masked as **** in every output
    required: true

request_defaults:                  # merged under every request (an action's own headers win)
  headers:
    Authorization: "Bearer {{{{ settings.apiKey }}}}"
  timeout: 10                      # seconds

presets:                           # default subscriptions: which events run which action
  - name: Track Event
    subscribe: type = "track"      # a trigger, in Segment's FQL
    action: trackEvent             # a key of `actions` below

actions:
  trackEvent:
    title: Track Event
    description: Records an event a user performed.
    default_subscription: type = "track"
    fields:                        # the payload: each field is mapped from the event
      userId:
        label: User ID
        description: The id of the user who performed the event.
        type: string
        required: true             # an event without it is `invalid` and nothing is sent
        default: {{"@path": "$.userId"}}   # a mapping value (Segment mapping-kit)
      eventName:
        label: Event Name
        description: The name of the event.
        type: string
        required: true
        default: {{"@path": "$.event"}}
    request:                       # templates see payload, settings, steps and now
      method: POST
      url: https://example.com/api/v1/events
      json:
        user: "{{{{ payload.userId }}}}"       # exactly one {{{{ }}}}: the value keeps its type
        name: "{{{{ payload.eventName }}}}"
        source: "{slug}"

errors:                            # optional hints shown with failed verdicts, per HTTP status
  401: {{message: The API key was refused; check the apiKey setting., retry: false}}
"""

TESTS = """\
# Cases for `engine test {slug}`: each sends one event through the spec with HTTP mocked.
# Unmatched requests answer 200 {{}}. `engine test {slug} --update` rewrites every `expect`
# from the current output (and prints what changed). The format is in docs/authoring.md.
- name: a track event becomes one POST
  event: {{type: track, event: Signed Up, userId: user-1}}
  settings: &settings {{apiKey: test-key}}   # reuse with *settings below
  expect:
    requests:                      # every request sent, in order
      - method: POST
        url: https://example.com/api/v1/events
        headers: {{Authorization: Bearer test-key}}   # only the headers listed are compared
        body: {{user: user-1, name: Signed Up, source: {slug}}}

- name: an event without a user id is invalid
  event: {{type: track, event: Signed Up}}
  settings: *settings
  expect: {{status: invalid, error: userId}}   # a verdict and a substring of its error

- name: a refused key fails with the spec's hint
  event: {{type: track, event: Signed Up, userId: user-1}}
  settings: *settings
  responses:                       # mocked by method and URL
    - {{method: POST, url: "https://example.com/api/v1/events", status: 401, json: {{error: unauthorized}}}}
  expect: {{status: failed, error: HTTP 401}}

- name: identify calls match no preset
  event: {{type: identify, userId: user-1}}
  settings: *settings
  expect: {{status: filtered}}

- name: an action run directly, with a mapping override
  action: trackEvent
  mapping: {{eventName: {{"@template": "Renamed"}}}}
  event: {{type: track, event: Signed Up, userId: user-2}}
  settings: *settings
  expect:
    requests:
      - method: POST
        url: https://example.com/api/v1/events
        body: {{user: user-2, name: Renamed, source: {slug}}}
"""


def title_for(slug: str) -> str:
    return " ".join(part.capitalize() for part in re.split(r"[-_]", slug) if part)


def scaffold(slug: str, folder: str | Path = "specs") -> list[Path]:
    """Write `<folder>/<slug>.yaml` and `<folder>/<slug>.tests.yaml`; return their paths. The spec's schema
    line points at `../schemas/destination.schema.json` when it exists (this repository's layout), else at
    a copy of the installed schema written beside it (its path is returned too).

    Raises ValueError for a bad name and FileExistsError when either file exists (nothing is written).
    """
    if not SLUG.match(slug):
        raise ValueError(f"'{slug}' is not a valid name: lower-case letters, digits, '-' and '_', starting with a letter")
    folder = Path(folder)
    spec, tests = folder / f"{slug}.yaml", folder / f"{slug}.tests.yaml"
    existing = [str(p) for p in (spec, tests) if p.exists()]
    if existing:
        raise FileExistsError(f"{', '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; not overwriting")
    folder.mkdir(parents=True, exist_ok=True)
    title = title_for(slug)
    written = []
    schema = "../schemas/destination.schema.json"
    if not (folder / schema).is_file():
        # outside this repository's layout: the installed schema, written beside the spec (`engine schema`)
        from engine.spec.schema import schema_path

        schema = "destination.schema.json"
        if not (folder / schema).exists():
            (folder / schema).write_text(schema_path().read_text(encoding="utf-8"), encoding="utf-8")
            written.append(folder / schema)
    spec.write_text(SPEC.format(slug=slug, title=title, schema=schema), encoding="utf-8")
    tests.write_text(TESTS.format(slug=slug, title=title), encoding="utf-8")
    return [spec, tests, *written]
