"""A destination on loopback that echoes the key it received back in other encodings (as a JavaScript, Go or PHP
service would write it): `engine send`'s output and report hold none of them (issue 18, defect 6)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from emulators import serve_in_thread

from engine.cli import main

SECRETS = ["tok!en (js)*x'y", "a&b<c>d/e+f=g"]


def echoed(secret: str) -> dict[str, str]:
    """The key as the echoing services write it back."""
    raw_json = json.dumps(secret, ensure_ascii=False)[1:-1]
    return {
        "encodeURIComponent": quote(secret, safe="!~*'()"),
        "form": quote_plus(secret),
        "double": quote(quote(secret, safe=""), safe=""),
        "double lower hex": quote(quote(secret, safe="").lower(), safe="").lower(),
        "go json": raw_json.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"),
        "php json": json.dumps(secret)[1:-1].replace("/", "\\/"),
    }


class Echo:
    """ASGI app answering 400 with the `Basic` key it got, in the encoding named by `kind`."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.keys: list[str] = []

    async def __call__(self, scope: dict, receive, send) -> None:
        while (await receive()).get("more_body"):
            pass
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        key = headers.get("authorization", "").removeprefix("Basic ")
        self.keys.append(key)
        body = f'{{"error":"bad key","echo":"{echoed(key)[self.kind]}"}}'.encode()
        await send({"type": "http.response.start", "status": 400,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})


CASES = [(s, kind) for s in SECRETS for kind in echoed(s)]


@pytest.mark.parametrize(("secret", "kind"), CASES, ids=[f"{s!r}-{k}" for s, k in CASES])
def test_send_output_holds_no_echoed_form(tmp_path: Path, capsys: pytest.CaptureFixture[str], secret: str,
                                          kind: str) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps({"type": "track", "userId": "u1", "event": "Viewed"}) + "\n")
    report = tmp_path / "report.jsonl"
    app = Echo(kind)
    with serve_in_thread(app) as server:
        config = tmp_path / "engine.yaml"
        config.write_text("sources: [{name: web, write_key: long-enough-key-1}]\n"
                          f"destinations:\n  - {{id: um, spec: usermotion, settings: {{apiKey: {json.dumps(secret)}}}}}\n"
                          f"routes: {{api.usermotion.com: {server.base_url}}}\nqueue: {{path: ./data}}\n")
        main(["send", "--config", str(config), "--report", str(report), "--no-progress", str(events)])
    assert app.keys == [secret]  # the key went out and came back
    form = echoed(secret)[kind]
    out, err = capsys.readouterr()
    written = out + err + report.read_text()
    assert "bad key" in written  # the answer's excerpt is in the output
    assert form not in written and secret not in written
    assert form not in json.dumps([json.loads(line) for line in report.read_text().splitlines()], ensure_ascii=False)
