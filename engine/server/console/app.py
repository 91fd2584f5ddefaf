"""The operator console at /console of `engine serve` (docs/console.md): server-rendered pages with a little
JavaScript (static/console.js), no build step.

    GET  /console                     instances (counts over the last minutes, queue depth, dead letters, state)
                                      and the live tail of arriving events
    GET  /console/events/ID           one event: the requests every instance sent for it, answers, verdicts (a
                                      fragment the tail opens in place)
    GET  /console/dead                dead letters, filtered by instance, reason, time
    POST /console/dead/replay|purge   one (ids) or the filtered set
    GET|POST /console/playground      an event and an instance -> the requests it becomes (engine plan), unsent
    GET  /console/api/instances       the instances' numbers as JSON (the page refreshes with it)
    GET  /console/api/tail            server-sent events: one message per event arriving or delivered
    GET  /console/api/session         {"csrf": ...} for Bearer callers
    POST /console/login | logout      the sign-in form's session cookie

Access: console/auth.py. Everything shown went through the config's masker when recorded or is masked here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import urllib.parse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import orjson

from engine.server.console.auth import BEARER, COOKIE, ConsoleAuth
from engine.server.console.recorder import OUTCOMES, WINDOW_MINUTES, Recorder

if TYPE_CHECKING:
    from engine.server.app import EngineApp

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

HERE = Path(__file__).resolve().parent
STATIC = {"console.js": b"text/javascript; charset=utf-8", "console.css": b"text/css; charset=utf-8"}
MAX_FORM_BYTES = 256 * 1024
DEAD_PAGE = 200  # dead letters listed at most per page
HEARTBEAT_SECONDS = 15.0
PRETTY = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS


def _clock(ts: float | None) -> str:
    if not ts:
        return ""
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%H:%M:%S")


def _stamp(ts: float | None) -> str:
    if not ts:
        return ""
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _pretty(value: Any) -> str:
    try:
        return orjson.dumps(value, option=PRETTY).decode()
    except TypeError:
        return str(value)


class Denied(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Console:
    """The console's ASGI handler for paths under /console; `engine` is the EngineApp it belongs to."""

    def __init__(self, engine: EngineApp, token: str) -> None:
        self.engine = engine
        self.auth = ConsoleAuth(token)
        self.masker = engine.masker
        self.recorder = Recorder(engine.instances, self.masker)
        self.closing = asyncio.Event()
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
        self.env.filters.update(clock=_clock, stamp=_stamp, pretty=_pretty)

    # -- plumbing -------------------------------------------------------------------------------

    @staticmethod
    def _header(scope: Scope, wanted: bytes) -> str | None:
        for name, value in scope.get("headers", []):
            if name.lower() == wanted:
                return value.decode("latin-1")
        return None

    @staticmethod
    async def _send(send: Send, status: int, body: bytes, content_type: bytes,
                    headers: list[tuple[bytes, bytes]] | None = None) -> None:
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", content_type), (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"), (b"x-frame-options", b"DENY"), (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
            (b"content-security-policy", b"default-src 'self'; style-src 'self'; script-src 'self'; "
                                         b"frame-ancestors 'none'; form-action 'self'"),
            *(headers or [])]})
        await send({"type": "http.response.body", "body": body})

    async def _page(self, send: Send, template: str, status: int = 200,
                    headers: list[tuple[bytes, bytes]] | None = None, **context: Any) -> None:
        html = self.env.get_template(template).render(**context)
        await self._send(send, status, html.encode(), b"text/html; charset=utf-8", headers)

    async def _json(self, send: Send, status: int, body: Any) -> None:
        await self._send(send, status, orjson.dumps(body), b"application/json")

    @staticmethod
    async def _redirect(send: Send, location: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        await send({"type": "http.response.start", "status": 303,
                    "headers": [(b"location", location.encode()), (b"content-length", b"0"), *(headers or [])]})
        await send({"type": "http.response.body", "body": b""})

    @staticmethod
    async def _form(receive: Receive) -> dict[str, list[str]]:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise Denied(400, "the client went away")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_FORM_BYTES:
                raise Denied(413, f"the form is larger than {MAX_FORM_BYTES // 1024} KB")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return urllib.parse.parse_qs(b"".join(chunks).decode("utf-8", "replace"), keep_blank_values=True)

    # -- dispatch -------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"].rstrip("/") or "/"
        method = scope["method"].upper()
        sub = path[len("/console"):] or "/"
        query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
        try:
            if sub.startswith("/static/") and method in ("GET", "HEAD"):
                await self._static(send, sub[len("/static/"):])
                return
            if sub == "/login" and method == "POST":
                await self._login(receive, send)
                return
            session = self.auth.who(self._header(scope, b"authorization"), self._header(scope, b"cookie"))
            if session is None:
                if sub.startswith("/api/"):
                    raise Denied(401, "sign in: send Authorization: Bearer TOKEN (console.token)")
                await self._page(send, "login.html", 401, message=None)
                return
            if method == "POST":
                form = await self._form(receive)
                given = (form.get("csrf") or [None])[0] or self._header(scope, b"x-csrf-token")
                if not self.auth.csrf_ok(session, given):
                    raise Denied(403, "the CSRF value is missing or wrong: reload the page and try again")
                await self._post(send, sub, form, session)
                return
            if method not in ("GET", "HEAD"):
                raise Denied(405, f"{path} takes GET or POST")
            await self._get(scope, receive, send, sub, query, session)
        except Denied as exc:
            if sub.startswith("/api/") or self._header(scope, b"accept") == "application/json":
                await self._json(send, exc.status, {"success": False, "message": exc.message})
            else:
                await self._page(send, "error.html", exc.status, code=exc.status, message=exc.message, page="",
                                 csrf="", signed_in_with_cookie=False)

    async def _get(self, scope: Scope, receive: Receive, send: Send, sub: str, query: dict[str, list[str]],
                   session: str) -> None:
        csrf = self.auth.csrf(session)
        common = {"csrf": csrf, "signed_in_with_cookie": session != BEARER}
        if sub == "/":
            await self._page(send, "overview.html", instances=await self.instances(), tail=self.recorder.recent(),
                             window=WINDOW_MINUTES, outcomes=OUTCOMES, page="overview", **common)
        elif sub == "/api/instances":
            await self._json(send, 200, {"window_minutes": WINDOW_MINUTES, "instances": await self.instances()})
        elif sub == "/api/session":
            await self._json(send, 200, {"csrf": csrf})
        elif sub == "/api/tail":
            await self._tail(receive, send)
        elif sub.startswith("/events/"):
            entry = self.recorder.get(urllib.parse.unquote(sub[len("/events/"):]))
            if entry is None:
                raise Denied(404, "no such event among the recent ones (the console keeps the last "
                                  f"{len(self.recorder.events)})")
            await self._page(send, "event.html", entry=entry, **common)
        elif sub == "/dead":
            await self._dead(send, query, common)
        elif sub == "/playground":
            source = (query.get("from") or [""])[0]
            entry = self.recorder.get(source) if source else None
            text = _pretty(entry["event"]) if entry else ""
            await self._page(send, "playground.html", instances=self.engine.instances, chosen=None, text=text,
                             results=None, error=None, page="playground", **common)
        else:
            raise Denied(404, f"no console page {sub}")

    async def _post(self, send: Send, sub: str, form: dict[str, list[str]], session: str) -> None:
        if sub == "/logout":
            self.auth.close_session(session)
            await self._redirect(send, "/console", [(b"set-cookie", f"{COOKIE}=; Path=/console; Max-Age=0; HttpOnly; "
                                                                    "SameSite=Strict".encode())])
        elif sub in ("/dead/replay", "/dead/purge"):
            await self._dead_action(send, sub.rsplit("/", 1)[1], form)
        elif sub == "/playground":
            await self._playground(send, form, session)
        else:
            raise Denied(404, f"no console action {sub}")

    # -- pages ----------------------------------------------------------------------------------

    async def _static(self, send: Send, name: str) -> None:
        if name not in STATIC:
            raise Denied(404, f"no static file {name}")
        await self._send(send, 200, (HERE / "static" / name).read_bytes(), STATIC[name])

    async def _login(self, receive: Receive, send: Send) -> None:
        form = await self._form(receive)
        if not self.auth.token_ok((form.get("token") or [None])[0]):
            await self._page(send, "login.html", 401, message="That is not the console token.")
            return
        session = self.auth.open_session()
        cookie = f"{COOKIE}={session}; Path=/console; HttpOnly; SameSite=Strict"
        await self._redirect(send, "/console", [(b"set-cookie", cookie.encode())])

    async def instances(self) -> list[dict[str, Any]]:
        """Per enabled instance: the counts over the window, queue depth, dead letters, in flight, state."""
        queue = self.engine.queue

        def read() -> tuple[dict[str, int], dict[str, int]]:
            return queue.depth(), {i: queue.dlq.count(instance=i) for i in self.engine.instances}

        depth, dead = await asyncio.to_thread(read)
        flight = {w.dest.id: len(w.inflight) for w in self.engine.worker.instances}
        return [{"id": i, "counts": self.recorder.counts(i), "queue_depth": depth.get(i, 0), "dead_letters": dead[i],
                 "in_flight": flight.get(i, 0), "state": self.recorder.state(i)} for i in self.engine.instances]

    async def _tail(self, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/event-stream"), (b"cache-control", b"no-store"), (b"x-accel-buffering", b"no")]})
        listener = self.recorder.listen()
        disconnected = asyncio.ensure_future(self._disconnected(receive))
        closing = asyncio.ensure_future(self.closing.wait())
        try:
            await send({"type": "http.response.body", "body": b": tail\n\n", "more_body": True})
            while True:
                getting = asyncio.ensure_future(listener.get())
                done, _ = await asyncio.wait([getting, disconnected, closing], timeout=HEARTBEAT_SECONDS,
                                             return_when=asyncio.FIRST_COMPLETED)
                if getting not in done:
                    getting.cancel()
                if disconnected in done or closing in done:
                    break
                body = (b"data: " + orjson.dumps(getting.result()) + b"\n\n") if getting in done else b": beat\n\n"
                await send({"type": "http.response.body", "body": body, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        except OSError:  # the connection went away while writing
            pass
        finally:
            self.recorder.unlisten(listener)
            disconnected.cancel()
            closing.cancel()

    @staticmethod
    async def _disconnected(receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    # -- dead letters ---------------------------------------------------------------------------

    def _filters(self, values: dict[str, list[str]]) -> dict[str, Any]:
        """instance, reason (substring), since (minutes ago) from a query or form; unknown instances refused."""
        instance = (values.get("instance") or [""])[0].strip() or None
        reason = (values.get("reason") or [""])[0].strip() or None
        since_text = (values.get("since") or [""])[0].strip()
        if instance is not None and instance not in {d.id for d in self.engine.config.destinations}:
            raise Denied(400, f"instance: no destination instance '{instance}' in the config")
        since = None
        if since_text:
            try:
                minutes = float(since_text)
            except ValueError:
                raise Denied(400, f"since: expected a number of minutes, got '{since_text}'") from None
            since = self.recorder.clock() - minutes * 60
        return {"instance": instance, "reason": reason, "since": since, "since_text": since_text}

    async def _dead(self, send: Send, query: dict[str, list[str]], common: dict[str, Any]) -> None:
        filters = self._filters(query)
        args = {k: filters[k] for k in ("instance", "reason", "since")}
        dlq = self.engine.queue.dlq
        letters, total = await asyncio.to_thread(lambda: (dlq.list(**args, limit=DEAD_PAGE), dlq.count(**args)))
        shown = [self.masker.mask(d.to_json()) | {"failed": d.failed_at} for d in letters]
        done = (query.get("done") or [""])[0]
        await self._page(send, "dead.html", letters=shown, total=total, filters=filters, done=done,
                         instances=[d.id for d in self.engine.config.destinations], page="dead", **common)

    async def _dead_action(self, send: Send, action: str, form: dict[str, list[str]]) -> None:
        filters = self._filters(form)
        args = {k: filters[k] for k in ("instance", "reason", "since")}
        ids = None
        if form.get("id"):
            try:
                ids = [int(i) for i in form["id"]]
            except ValueError:
                raise Denied(400, "id: expected dead letter ids (numbers)") from None
        elif (form.get("scope") or [""])[0] != "filtered":
            raise Denied(400, "say which dead letters: id=N, or scope=filtered with the filters")
        dlq = self.engine.queue.dlq
        run = dlq.replay if action == "replay" else dlq.purge
        count = await asyncio.to_thread(lambda: run(ids, **args))
        if action == "replay":
            self.engine.worker.notify()
        back = {k: v for k, v in (("instance", filters["instance"]), ("reason", filters["reason"]),
                                  ("since", filters["since_text"])) if v}
        back["done"] = f"{'replayed' if action == 'replay' else 'purged'} {count}"
        await self._redirect(send, "/console/dead?" + urllib.parse.urlencode(back))

    # -- playground -----------------------------------------------------------------------------

    async def _playground(self, send: Send, form: dict[str, list[str]], session: str) -> None:
        text = (form.get("event") or [""])[0]
        chosen = (form.get("instance") or [""])[0]
        common = {"csrf": self.auth.csrf(session), "signed_in_with_cookie": session != BEARER}
        error, results = None, None
        dests = {d.id: d for d in self.engine.config.destinations}
        try:
            event = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            error = f"event: not valid JSON ({exc})"
        else:
            if not isinstance(event, dict):
                error = "event: expected a JSON object (one event)"
            elif chosen not in dests:
                error = f"instance: no destination instance '{chosen}' in the config"
            else:
                dest = dests[chosen]
                masker = self.masker.with_secrets(dest.secrets)
                try:
                    planned = dest.destination.plan_event(event, dest.settings, dest.subscriptions)
                except Exception as exc:  # an engine bug must not show a traceback: one masked sentence
                    error = masker.mask_text(f"the event could not be planned: {type(exc).__name__}: {exc}")
                else:
                    results = [masker.mask(r.to_json(masker)) for r in planned]
        await self._page(send, "playground.html", 200 if error is None else 400, instances=self.engine.instances,
                         chosen=chosen, text=self.masker.mask_text(text), results=results, error=error,
                         page="playground", **common)

    def close(self) -> None:
        """The server stops: end the live tails."""
        self.closing.set()

