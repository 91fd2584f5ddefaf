"""analytics.js (@segment/analytics-next, vendored) in headless Chromium against `engine serve`: a page on its own
origin loads it with inline settings (no CDN) pointed at the server; page(), identify(), track() and group() each
arrive once, with analytics.js's context, in the sandbox. From an origin the source does not list, nothing arrives."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from browser_support import ANALYTICS_JS, PageServer, chromium
from serve_helpers import WRITE_KEY, AppServer, wait_until, write_config

# One subscription for the four calls, to the track action (whose body carries the event's context), with the
# call's type as the event name and its messageId in the properties.
DESTS = """\
  - id: um
    spec: usermotion
    settings: {apiKey: um-secret-key-42}
    mappings:
      - name: All calls
        subscribe: type = "page" or type = "identify" or type = "track" or type = "group"
        action: track
        mapping:
          eventName: {"@path": "$.type"}
          userId: {"@path": "$.userId"}
          properties: {messageId: {"@path": "$.messageId"}, name: {"@path": "$.name"}}
"""

PAGE = """<!doctype html>
<html><head><title>shop</title><script src="/analytics.js"></script></head>
<body><h1>shop</h1><script>
window.calls = (async () => {
  const host = "%(host)s/v1";
  const [analytics] = await AnalyticsNext.AnalyticsBrowser.load(
    {writeKey: "%(key)s",
     cdnSettings: {integrations: {"Segment.io": {apiKey: "%(key)s", apiHost: host, protocol: "http"}},
                   metrics: {host: host, flushTimer: 1000}}},
    {integrations: {"Segment.io": {apiHost: host, protocol: "http"}}});
  const ids = [];
  ids.push((await analytics.page("Home")).event.messageId);
  ids.push((await analytics.identify("u-browser", {email: "b@example.com"})).event.messageId);
  ids.push((await analytics.track("Clicked Buy", {sku: "k-1"})).event.messageId);
  ids.push((await analytics.group("g-1", {name: "Acme"})).event.messageId);
  return ids;
})();
</script></body></html>
"""


def config(tmp_path: Path, page_origin: str) -> Path:
    path = write_config(tmp_path, DESTS, {"api.usermotion.com": "sandbox"})
    path.write_text(path.read_text().replace(
        f"{{name: web, write_key: {WRITE_KEY}}}", f"{{name: web, write_key: {WRITE_KEY}, allowed_origins: ['{page_origin}']}}"))
    return path


def pages(server: AppServer) -> dict[str, tuple[str, bytes]]:
    html = PAGE % {"host": server.base_url.removeprefix("http://"), "key": WRITE_KEY}
    return {"/": ("text/html", html.encode()), "/analytics.js": ("text/javascript", ANALYTICS_JS.read_bytes())}


def tracked(server: AppServer) -> list[dict]:
    return [r["body"] for r in server.app.sandbox.recent() if r["url"].endswith("/v1/track")]


def run_page(tmp_path: Path, app_server: Callable[..., AppServer], *, allowed: str) -> tuple[AppServer, str, dict]:
    """Serve the page on 127.0.0.1 and open it as http://127.0.0.1:PORT/ in Chromium, the config allowing the
    origin http://ALLOWED:PORT; the server, the page's origin and what happened in the browser: the messageIds
    of the calls (when they all got an answer), the requests that failed, the console messages."""
    served: dict[str, tuple[str, bytes]] = {}  # filled once the engine's port is known
    with PageServer(served) as site:
        server = app_server(config(tmp_path, f"http://{allowed}:{site.port}"))
        served.update(pages(server))
        origin = f"http://127.0.0.1:{site.port}"
        result: dict = {"failed": [], "console": []}
        with chromium() as browser:
            page = browser.new_page()
            page.on("requestfailed", lambda r: result["failed"].append(r.url))
            page.on("console", lambda m: result["console"].append(m.text))
            page.goto(origin + "/")
            if allowed == "127.0.0.1":
                result["ids"] = page.evaluate("window.calls")
            else:  # the first call's request is refused; analytics.js keeps it to retry later
                wait_until(lambda: (page.wait_for_timeout(50), any("/v1/p" in u for u in result["failed"]))[1])
            result["userAgent"] = page.evaluate("navigator.userAgent")
            page.close()
    return server, origin, result


def test_analytics_js_calls_arrive_once_with_their_context(tmp_path: Path,
                                                           app_server: Callable[..., AppServer]) -> None:
    server, origin, result = run_page(tmp_path, app_server, allowed="127.0.0.1")
    ids, user_agent = result["ids"], result["userAgent"]
    assert len(ids) == 4 and len(set(ids)) == 4
    wait_until(lambda: len(tracked(server)) >= 4 and not server.queue.depth())
    bodies = tracked(server)
    assert sorted(b["event"] for b in bodies) == ["group", "identify", "page", "track"]
    assert sorted(b["properties"]["messageId"] for b in bodies) == sorted(ids)  # each call once
    for body in bodies:
        context = body["context"]
        assert context["library"]["name"] == "analytics.js" and context["library"]["version"]
        assert context["userAgent"] == user_agent
        assert context["page"]["url"] == origin + "/" and context["page"]["title"] == "shop"
    assert {b["event"]: b["userId"] for b in bodies if b["event"] != "page"} == \
        {"identify": "u-browser", "track": "u-browser", "group": "u-browser"}
    assert json.dumps(bodies).count(WRITE_KEY) == 0


def test_a_page_from_an_origin_the_source_does_not_list_is_refused(tmp_path: Path,
                                                                   app_server: Callable[..., AppServer]) -> None:
    server, origin, result = run_page(tmp_path, app_server, allowed="localhost")
    assert any("/v1/p" in url for url in result["failed"])
    assert any("CORS" in text for text in result["console"]), result["console"]
    assert server.queue.depth() == {} and server.app.sandbox.total == 0
    assert server.app.metrics.get("events_received_total", "web") == 0
