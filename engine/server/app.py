"""The ingestion side of `engine serve`: Segment's HTTP Tracking API as a plain ASGI 3 application.

    POST /v1/identify /v1/track /v1/page /v1/screen /v1/group /v1/alias   one event; `type` from the path
    POST /v1/i /v1/t /v1/p /v1/s /v1/g /v1/a                              the same, short forms
    POST /v1/batch (/v1/import, /v1/b)                                    {"batch": [events], ...}
    POST /v1/m                                                            analytics.js's own metrics: accepted, dropped
    OPTIONS on each of these                                              CORS preflight (engine/server/cors.py)
    GET  /health  /ready  /metrics  /sandbox
    /console ...                                                          the operator console (engine/server/console/)

The write key is the Basic-auth user name (what the libraries send) or `writeKey` in the body.
Browsers (analytics.js: `text/plain` bodies, the write key in the body) may send from the origins their source
lists in `allowed_origins` (engine/server/cors.py). Limits: 32 KB per event, 500 KB per request (413). `Content-Encoding: gzip` bodies are accepted.
A 200 `{"success": true}` is answered only after `queue.enqueue` returned, that is after the jobs
are durable; concurrent requests are grouped into one `enqueue` (one fsync for all of them).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import sys
import uuid
import zlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TextIO

import orjson

from engine.events import MAX_EVENT_DEPTH, may_be_too_deep, too_deep
from engine.server.cors import CorsPolicy
from engine.server.metrics import Metrics
from engine.server.sandbox import SandboxLog
from engine.server.worker import Worker, WorkerOptions, call_nowait, nowait_handle

if TYPE_CHECKING:
    from engine.config import Config, Source
    from engine.queue import Job, JobQueue
    from engine.server.console import Console

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

MAX_EVENT_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
TYPES = ("identify", "track", "page", "screen", "group", "alias")
SINGLE_PATHS: dict[str, str] = {f"/v1/{t}": t for t in TYPES} | {f"/v1/{t[0]}": t for t in TYPES}
BATCH_PATHS = ("/v1/batch", "/v1/import", "/v1/b")
METRICS_PATH = "/v1/m"  # analytics.js reports its own metrics here: accepted and dropped
OBJECT_KEYS = ("context", "integrations", "properties", "traits")


class Rejected(Exception):
    """The request is refused: `status`, a short `code` and a sentence."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_last_now: tuple[dt.datetime | None, str] = (None, "")


def _iso_now(now: dt.datetime) -> str:
    """`_iso(now)` for a request's `now`, the same object for every event of the request: formatted once (the
    corrected timestamps, one per event, go through `_iso` and do not displace it)."""
    global _last_now
    last, text = _last_now
    if now is not last:
        text = _iso(now)
        _last_now = (now, text)
    return text


def _parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _present(value: Any) -> bool:
    return value is not None and value != "" and not isinstance(value, (dict, list, bool))


def normalise(event: Any, *, where: str, path_type: str | None, batch_sent_at: Any, now: dt.datetime) -> dict[str, Any]:
    """Check one event's shape and fill what Segment fills: type (single calls), messageId, receivedAt,
    timestamp (corrected for the client's clock with sentAt, the client's value kept as originalTimestamp)."""
    if not isinstance(event, dict):
        raise Rejected(400, "invalid_event", f"{where}: an event must be a JSON object")
    event.pop("writeKey", None)
    if path_type is not None:
        event["type"] = path_type
    kind = event.get("type")
    if kind not in TYPES:
        raise Rejected(400, "invalid_event", f"{where}: type must be one of {', '.join(TYPES)}, got {kind!r}")
    for key in OBJECT_KEYS:
        if key in event and event[key] is not None and not isinstance(event[key], dict):
            raise Rejected(400, "invalid_event", f"{where}: {key} must be an object")
    if kind == "alias":
        if not _present(event.get("userId")) or not _present(event.get("previousId")):
            raise Rejected(400, "invalid_event", f"{where}: alias needs userId and previousId")
    elif not _present(event.get("userId")) and not _present(event.get("anonymousId")):
        raise Rejected(400, "invalid_event", f"{where}: {kind} needs userId or anonymousId")
    if kind == "track" and (not isinstance(event.get("event"), str) or not event["event"]):
        raise Rejected(400, "invalid_event", f"{where}: track needs an event name (string)")
    if kind == "group" and not _present(event.get("groupId")):
        raise Rejected(400, "invalid_event", f"{where}: group needs groupId")
    message_id = event.get("messageId")
    if message_id is None or message_id == "":
        event["messageId"] = f"engine-{uuid.uuid4()}"
    elif isinstance(message_id, (int, float)) and not isinstance(message_id, bool):
        event["messageId"] = str(message_id)
    elif not isinstance(message_id, str):
        raise Rejected(400, "invalid_event", f"{where}: messageId must be a string")
    event["receivedAt"] = _iso_now(now)
    if event.get("sentAt") is None and batch_sent_at is not None:
        event["sentAt"] = batch_sent_at
    timestamp = event.get("timestamp")
    if timestamp is None or timestamp == "":
        event["timestamp"] = _iso_now(now)
        return event
    original, sent = _parse_time(timestamp), _parse_time(event.get("sentAt"))
    if original is not None and sent is not None:
        try:
            corrected = _iso(now - (sent - original))
        except OverflowError:
            raise Rejected(400, "invalid_event", f"{where}: timestamp {timestamp!r} and sentAt "
                                                 f"{event.get('sentAt')!r} are too far apart to correct the "
                                                 "clock skew (the result is outside years 1-9999)") from None
        event.setdefault("originalTimestamp", timestamp)
        event["timestamp"] = corrected
    return event


def _encode(event: dict[str, Any], where: str) -> bytes:
    """The event as stored (one encode, also its size and its `{`/`[` count): 413 past `MAX_EVENT_BYTES`, 400
    when it nests deeper than `MAX_EVENT_DEPTH` (walked only when its own text holds enough `{`/`[` to; one too
    deep for orjson to encode is walked too). The request's body is not counted as well: a batch's always holds
    enough, and a single event's text is the event's."""
    try:
        blob: bytes | None = orjson.dumps(event)
    except orjson.JSONEncodeError as exc:
        blob, error = None, exc
    if (blob is None or may_be_too_deep(blob)) and too_deep(event):
        raise Rejected(400, "invalid_event", f"{where or 'event: '}the event nests objects/arrays more than "
                                             f"{MAX_EVENT_DEPTH} levels deep")
    if blob is None:
        raise error
    if len(blob) > MAX_EVENT_BYTES:
        raise Rejected(413, "too_large", f"{where}an event may be at most {MAX_EVENT_BYTES // 1024} KB")
    return blob


class Enqueuer:
    """Groups concurrent requests into one `queue.enqueue_taking` call (its transaction on the loop's thread when
    the queue has a `nowait()` handle, see `_enqueue`) and hands the new jobs the worker's instances have room for
    straight to them (`Worker.reserve` / `Worker.take`): created leased, they are delivered without a lease query
    and without reading the events back from the queue."""

    def __init__(self, queue: JobQueue, instances: list[str], metrics: Metrics | None = None,
                 worker: Worker | None = None) -> None:
        self.queue = queue
        self.instances = instances
        self.metrics = metrics
        self.worker = worker
        self.last_error: str | None = None  # of the last enqueue, None once one succeeds
        self._pending: list[tuple[list[dict[str, Any]], list[bytes] | None, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.calls = 0  # enqueue calls made (for tests and metrics)
        self.taken = 0  # jobs handed to the worker at enqueue (for tests)
        self.fast = nowait_handle(queue)  # the queue's handle for calls on the loop's thread, if it has one
        self._handover: list[tuple[dict[str, list[Job]], dict[str, int], int]] = []  # enqueued, not yet handed

    def hand_over(self) -> None:
        """Give the worker the jobs taken by the enqueues so far. A request calls it once it has been answered, so
        a 200 goes out before its events' deliveries start (an event that kills the process mid-delivery has
        been acknowledged to its sender first, who would otherwise send it again)."""
        pending, self._handover = self._handover, []
        if self.worker is not None:
            for taken, reserved, created in pending:
                self.worker.take(taken, reserved, created)

    async def submit(self, events: list[dict[str, Any]], encoded: list[bytes] | None = None) -> None:
        """Returns once `events` are durable; raises what `enqueue` raised. `encoded`: each event as JSON."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((events, encoded, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await asyncio.shield(future)

    async def _enqueue(self, events: list[dict[str, Any]], take: dict[str, int],
                       encoded: list[bytes] | None) -> tuple[int, dict[str, list[Job]]]:
        """The enqueue's transaction on the loop's thread through the queue's `nowait()` handle (`call_nowait`: a
        thread only while another connection keeps the queue busy), then its fsync in a thread (`make_durable`),
        so no thread holds SQLite's write lock while it waits for the GIL, and none holds it while it waits for the
        disk. Without a handle, all of it in a thread."""
        lease = self.worker.lease_seconds if self.worker is not None else 0.0
        result = await call_nowait(self.fast, self.queue, "enqueue_taking", events, self.instances, take, lease,
                                   encoded=encoded)
        if self.fast is not None:  # the handle's commit is not on disk yet (after the thread path: nothing left)
            await asyncio.to_thread(self.queue.make_durable)
        return result

    async def _flush(self) -> None:
        worker = self.worker
        while self._pending:
            group, self._pending = self._pending, []
            events = [e for evs, _, _ in group for e in evs]
            encoded = (None if any(enc is None for _, enc, _ in group)
                       else [b for _, enc, _ in group for b in enc])  # type: ignore[union-attr]
            take = worker.reserve(len(events)) if worker is not None else {}
            try:
                self.calls += 1
                created, taken = await self._enqueue(events, take, encoded)
            except Exception as exc:
                if worker is not None:
                    worker.take({}, take, 0)
                self.last_error = str(exc)
                for _, _, future in group:
                    if not future.done():
                        future.set_exception(exc)
            else:
                self.last_error = None
                per_instance = created // len(self.instances) if self.instances else 0
                if worker is not None:  # handed over once a request of the group has been answered
                    self.taken += sum(len(jobs) for jobs in taken.values())
                    self._handover.append((taken, take, per_instance))
                if self.metrics is not None and self.instances:  # jobs created: a deduplicated resend is none
                    for instance in self.instances:
                        self.metrics.inc("jobs_enqueued_total", instance, per_instance)
                for _, _, future in group:
                    if not future.done():
                        future.set_result(None)


class EngineApp:
    """The ASGI app: ingestion, health, metrics, sandbox; its lifespan starts and stops the worker."""

    def __init__(self, config: Config, queue: JobQueue, options: WorkerOptions | None = None, *,
                 log: TextIO | None = sys.stderr, sandbox_keep: int = 200) -> None:
        self.config = config
        self.queue = queue
        self.log = log
        self.instances = [d.id for d in config.enabled_destinations]
        self.write_keys: dict[str, Source] = config.write_keys
        self.metrics = Metrics(self.instances)
        self.masker = config.masker()
        self.sandbox = SandboxLog(self.masker, keep=sandbox_keep, stream=log)
        self.worker = Worker(config, queue, self.metrics, self.sandbox, options, log=log)
        self.enqueuer = Enqueuer(queue, self.instances, self.metrics, self.worker)
        self.cors = CorsPolicy(config.sources)
        self.console: Console | None = None  # on with console.token in the config
        if config.console.token:
            from engine.server.console import Console

            self.console = Console(self, config.console.token)
            self.worker.recorder = self.console.recorder
        self.started = False

    # -- lifespan -------------------------------------------------------------------------------

    async def startup(self) -> None:
        if not self.started:
            self.started = True
            await self.worker.start()

    async def shutdown(self) -> None:
        if self.console is not None:
            self.console.close()
        if self.started:
            self.started = False
            await self.worker.stop()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- HTTP -----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"].rstrip("/") or "/", scope["method"].upper()
        cors: list[tuple[bytes, bytes]] = []
        try:
            if path in SINGLE_PATHS or path in BATCH_PATHS or path == METRICS_PATH:
                origin = self._header(scope, b"origin")
                if method == "OPTIONS":
                    status, headers = self.cors.preflight(origin)
                    await self._raw(send, status, b"", b"text/plain", headers)
                    return
                if origin is not None and self.cors.known(origin):
                    cors = self.cors.headers(origin)
                if method != "POST":
                    raise Rejected(405, "method_not_allowed", f"{path} takes POST")
                if path == METRICS_PATH:
                    await self._read(scope, receive, MAX_EVENT_BYTES)
                    await self._json(send, 200, {"success": True}, cors)
                    return
                await self._ingest(scope, receive, send, path, origin, cors)
            elif path == "/console" or path.startswith("/console/"):
                if self.console is None:
                    raise Rejected(404, "not_found", "the console is off: set console.token in the config")
                await self.console(scope, receive, send)
            elif path in ("/health", "/ready", "/metrics", "/sandbox"):
                if method not in ("GET", "HEAD"):
                    raise Rejected(405, "method_not_allowed", f"{path} takes GET")
                await getattr(self, "_" + path[1:])(send)
            else:
                raise Rejected(404, "not_found", f"no endpoint {method} {path}; events go to POST /v1/batch, "
                                                 "/v1/track, /v1/identify, ...")
        except Rejected as exc:
            if exc.status in (400, 401, 413, 503):
                self.metrics.inc("requests_rejected_total", str(exc.status))
            await self._json(send, exc.status, {"success": False, "code": exc.code, "message": exc.message}, cors)

    async def _json(self, send: Send, status: int, body: Any, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        await self._raw(send, status, orjson.dumps(body), b"application/json", headers)

    @staticmethod
    async def _raw(send: Send, status: int, payload: bytes, content_type: bytes,
                   headers: list[tuple[bytes, bytes]] | None = None) -> None:
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", content_type), (b"content-length", str(len(payload)).encode()),
                                *(headers or [])]})
        await send({"type": "http.response.body", "body": payload})

    @staticmethod
    async def _read(scope: Scope, receive: Receive, limit: int) -> bytes:
        for name, value in scope.get("headers", []):
            if name.lower() == b"content-length" and value.isdigit() and int(value) > limit:
                raise Rejected(413, "too_large", f"the request body is larger than {limit // 1024} KB")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise Rejected(400, "disconnected", "the client went away")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise Rejected(413, "too_large", f"the request body is larger than {limit // 1024} KB")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    @staticmethod
    def _header(scope: Scope, wanted: bytes) -> str | None:
        for name, value in scope.get("headers", []):
            if name.lower() == wanted:
                return value.decode("latin-1")
        return None

    def _header_key(self, scope: Scope) -> str | None:
        """The Basic-auth user name, if the request has a readable one."""
        auth = self._header(scope, b"authorization")
        if auth and auth[:6].lower() == "basic ":
            try:
                return base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8").split(":", 1)[0] or None
            except (binascii.Error, UnicodeDecodeError):
                return None
        return None

    def _source(self, scope: Scope, body: dict[str, Any], key: str | None) -> Source:
        if key is None and isinstance(body.get("writeKey"), str) and body["writeKey"]:
            key = body["writeKey"]
        if key is None:
            raise Rejected(401, "unauthorized", "no write key: send it as the Basic-auth user name or as writeKey")
        source = self.write_keys.get(key)
        if source is None:
            raise Rejected(401, "unauthorized", "unknown write key")
        return source

    async def _ingest(self, scope: Scope, receive: Receive, send: Send, path: str, origin: str | None = None,
                      cors: list[tuple[bytes, bytes]] | None = None) -> None:
        batch = path in BATCH_PATHS
        limit = MAX_BATCH_BYTES if batch else MAX_EVENT_BYTES
        raw = await self._read(scope, receive, limit)
        header_key = self._header_key(scope)
        if header_key is not None and header_key not in self.write_keys:
            raise Rejected(401, "unauthorized", "unknown write key")  # before the body is unzipped or parsed
        encoding = (self._header(scope, b"content-encoding") or "").strip().lower()
        if encoding == "gzip":
            raw = _gunzip(raw, limit)
        elif encoding not in ("", "identity"):
            raise Rejected(415, "unsupported_encoding", f"Content-Encoding {encoding!r} is not supported (gzip is)")
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise Rejected(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise Rejected(400, "invalid_json", "the body must be a JSON object")
        source = self._source(scope, body, header_key)
        if origin is not None and not source.allows_origin(origin):
            if cors is not None:
                cors.clear()  # the page may not read the answer either
            raise Rejected(403, "origin_not_allowed", f"the source {source.name!r} does not allow the origin {origin} "
                                                      "(sources[].allowed_origins)")
        now = dt.datetime.now(dt.UTC)
        if batch:
            items = body.get("batch")
            if not isinstance(items, list):
                raise Rejected(400, "invalid_batch", "a batch body needs \"batch\": a list of events")
            events, encoded = [], []
            for i, item in enumerate(items):
                event = normalise(item, where=f"batch[{i}]", path_type=None, batch_sent_at=body.get("sentAt"), now=now)
                encoded.append(_encode(event, f"batch[{i}]: "))
                events.append(event)
        else:
            event = normalise(body, where="event", path_type=SINGLE_PATHS[path], batch_sent_at=None, now=now)
            encoded = [_encode(event, "")]
            events = [event]
        if events and self.instances:
            try:
                await self.enqueuer.submit(events, encoded)
            except Exception as exc:
                if self.log is not None:
                    print(f"engine serve: cannot queue events: {exc}", file=self.log)
                raise Rejected(503, "queue_unavailable", "the events could not be stored; retry later") from None
        try:  # the jobs taken at enqueue go to the worker once this request is answered, whatever happens
            if events and self.instances and self.console is not None:
                self.console.recorder.arrived(events, source.name)
            self.metrics.inc("events_received_total", source.name, len(events))
            await self._json(send, 200, {"success": True}, cors)
        finally:
            self.enqueuer.hand_over()

    # -- read-only endpoints --------------------------------------------------------------------

    async def _queue_read(self, read: Callable[[], Any]) -> Any:
        """`read()` in a thread; a queue that cannot be reached (a database gone away) is a 503, not a 500."""
        from engine.queue import QueueError

        try:
            return await asyncio.to_thread(read)
        except QueueError as exc:
            raise Rejected(503, "queue_unavailable", str(exc)) from None

    async def _health(self, send: Send) -> None:
        depth = await self._queue_read(self.queue.depth)
        await self._json(send, 200, {"status": "ok", "queue_depth": sum(depth.values()),
                                     "depth": {i: depth.get(i, 0) for i in self.instances},
                                     "in_flight": self.worker.in_flight,
                                     "instances": {i: self.worker.outcomes.state(i) for i in self.instances}})

    async def _ready(self, send: Send) -> None:
        """200 when the queue takes writes (events would be accepted), else 503 with the reason."""
        try:
            await asyncio.to_thread(self.queue.check_writable)
        except Exception as exc:
            reason: str | None = str(exc)
        else:
            reason = self.enqueuer.last_error and f"the last enqueue failed: {self.enqueuer.last_error}"
        body = {"ready": reason is None, **({"reason": reason} if reason else {})}
        await self._json(send, 200 if reason is None else 503, body)

    async def _metrics(self, send: Send) -> None:
        def read() -> tuple[dict[str, int], dict[str, int]]:
            depth = self.queue.depth()
            dead = {i: self.queue.dlq.count(instance=i) for i in self.instances}
            return depth, dead

        depth, dead = await self._queue_read(read)
        text = self.metrics.render({
            "queue_depth": ("Jobs waiting or leased, per destination instance.",
                            {i: depth.get(i, 0) for i in {*self.instances, *depth}}),
            "dead_letters": ("Dead letters kept, per destination instance.", dead),
        })
        await self._raw(send, 200, text.encode(), b"text/plain; version=0.0.4; charset=utf-8")

    async def _sandbox(self, send: Send) -> None:
        await self._json(send, 200, {"total": self.sandbox.total, "requests": self.sandbox.recent()})


def _gunzip(raw: bytes, limit: int) -> bytes:
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = decoder.decompress(raw, limit + 1)
    except zlib.error:
        raise Rejected(400, "invalid_gzip", "the body is not valid gzip") from None
    if len(out) > limit or decoder.unconsumed_tail:
        raise Rejected(413, "too_large", f"the request body is larger than {limit // 1024} KB once unzipped")
    return out


def build_app(config: Config, queue: JobQueue | None = None, options: WorkerOptions | None = None,
              **kwargs: Any) -> EngineApp:
    """The app for `config`; the queue defaults to the one the config names."""
    return EngineApp(config, queue if queue is not None else config.queue.open(), options, **kwargs)
