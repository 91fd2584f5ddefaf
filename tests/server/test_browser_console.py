"""The console in headless Chromium: sign in with the token, see an event arrive in the live tail after a POST and
open it to its requests, replay a dead letter and see it delivered, run the playground. A screenshot of each page
goes to the test's tmp folder. Without the token the console answers 401; with a wrong CSRF value, 403."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from browser_support import chromium
from emulators import UserMotionEmulator, serve_in_thread
from serve_helpers import WRITE_KEY, AppServer, wait_until, write_config

TOKEN = "console-token-0123456789"
UM_KEY = "um-secret-key-42"
DESTS = f"  - {{id: um, spec: usermotion, settings: {{apiKey: {UM_KEY}}}}}\n"


@pytest.fixture
def emulator() -> Iterator[tuple[UserMotionEmulator, str]]:
    um = UserMotionEmulator(api_key=UM_KEY)
    with serve_in_thread(um) as handle:
        yield um, handle.base_url


def post(server: AppServer, path: str, body: dict) -> None:
    r = httpx.post(server.base_url + path, auth=(WRITE_KEY, ""), json=body, timeout=10)
    assert r.status_code == 200


def test_console_in_the_browser(tmp_path: Path, emulator: tuple[UserMotionEmulator, str],
                                app_server: Callable[..., AppServer]) -> None:
    um, um_url = emulator
    server = app_server(write_config(tmp_path, DESTS, {"api.usermotion.com": um_url},
                                     extra=f"console: {{token: {TOKEN}}}\n"))
    shots = tmp_path / "screenshots"
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1366, "height": 850})
        console = server.base_url + "/console"

        # without the token: 401 and the sign-in form; a wrong token is refused
        assert page.goto(console).status == 401
        page.fill("input[name=token]", "not-the-token-at-all")
        page.click("button[type=submit]")
        assert page.locator("p.error").inner_text() == "That is not the console token."
        page.screenshot(path=str(shots / "sign-in.png"))
        page.fill("input[name=token]", TOKEN)
        page.click("button[type=submit]")
        page.wait_for_url(console)
        assert page.locator("#instances tr[data-instance=um]").count() == 1
        page.wait_for_selector("#tail-status:text('live')")

        # an event POSTed now shows up in the tail, and opens to the request the instance sent
        post(server, "/v1/track", {"userId": "u1", "event": "Order Completed", "messageId": "m-live",
                                   "properties": {"total": 42}})
        row = page.locator("#tail tr.tail-row[data-id=m-live]")
        row.locator(".outcome-delivered").wait_for()
        assert "Order Completed" in row.inner_text()
        row.locator("button.open").click()
        detail = page.locator("#tail tr.tail-detail .event-detail[data-id=m-live]")
        detail.wait_for()
        assert "POST https://api.usermotion.com/v1/track" in detail.inner_text()
        assert "200" in detail.locator(".request-line").first.inner_text()
        detail.locator("details summary", has_text="request headers").first.click()
        assert "Basic ****" in detail.inner_text() and UM_KEY not in page.content()
        page.locator("#instances tr[data-instance=um] [data-field=delivered]:text('1')").wait_for()
        page.screenshot(path=str(shots / "tail.png"), full_page=True)

        # a permanent failure becomes a dead letter; a wrong CSRF value is refused, then the replay delivers it
        um.faults.add(status=400, times=1, path_prefix="/v1/track", body={"error": "bad payload"})
        post(server, "/v1/track", {"userId": "u2", "event": "Refunded", "messageId": "m-dead"})
        wait_until(lambda: server.queue.dlq.count() == 1)
        page.goto(console + "/dead?instance=um")
        assert "Refunded" in page.locator("#dead").inner_text()
        page.locator("#dead tr.dead-detail summary").first.click()
        assert "bad payload" in page.locator("#dead tr.dead-detail").first.inner_text()
        page.screenshot(path=str(shots / "dead-letters.png"), full_page=True)
        page.eval_on_selector("#dead tr.dead-row form input[name=csrf]", "el => el.value = 'f'.repeat(64)")
        with page.expect_navigation() as refused:
            page.locator("#dead tr.dead-row button.replay").first.click()
        assert refused.value.status == 403 and server.queue.dlq.count() == 1
        page.goto(console + "/dead?instance=um")
        page.locator("#dead tr.dead-row button.replay").first.click()
        page.wait_for_selector("p.done:text('replayed 1')")
        wait_until(lambda: len(um.requests_to("/v1/track")) == 3 and not server.queue.depth())
        assert server.queue.dlq.count() == 0
        page.goto(console)
        replayed = page.locator("#tail tr.tail-row[data-id=m-dead]")
        replayed.locator(".outcome-delivered").wait_for()
        replayed.locator("button.open").click()
        rounds = page.locator(".event-detail[data-id=m-dead] .round")
        rounds.nth(1).wait_for()
        assert "failed" in rounds.nth(0).inner_text() and "dead-lettered" in rounds.nth(0).inner_text()
        assert "delivered" in rounds.nth(1).inner_text()

        # the playground: from the tail's event, the requests for um, nothing sent
        page.goto(console + "/playground?from=m-live")
        assert "Order Completed" in page.locator("textarea[name=event]").input_value()
        page.select_option("select[name=instance]", "um")
        page.click("form.playground button[type=submit]")
        plan = page.locator("#plan")
        plan.wait_for()
        assert "POST https://api.usermotion.com/v1/track" in plan.inner_text() and "Basic ****" in plan.inner_text()
        page.screenshot(path=str(shots / "playground.png"), full_page=True)
        assert len(um.requests_to("/v1/track")) == 3  # the playground sent nothing
        assert TOKEN not in page.content()
        page.close()
    assert {p.name for p in shots.iterdir()} == {"sign-in.png", "tail.png", "dead-letters.png", "playground.png"}
