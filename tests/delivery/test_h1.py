"""The lean HTTP/1.1 client (engine.delivery.h1) against scripted loopback servers (raw asyncio sockets)."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from engine.delivery import Deliverer, PreparedRequest
from engine.delivery.h1 import H1Transport

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}"


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes] | None:
    """One request's head and body (Content-Length), or None at the end of the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head, await reader.readexactly(length)


class Scripted:
    """A server whose `answer(n, head)` gives the bytes for the n-th request (None: close at once)."""

    def __init__(self, answer: Callable[[int, bytes], bytes | None], *, tls: ssl.SSLContext | None = None) -> None:
        self.answer = answer
        self.tls = tls
        self.connections = 0
        self.requests: list[bytes] = []
        self.hold = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while (got := await read_request(reader)) is not None:
                self.requests.append(got[0] + got[1])
                data = self.answer(len(self.requests), got[0])
                if data is None:
                    break
                if data == b"hold":
                    await self.hold.wait()
                    break
                cut = data.startswith(b"CUT:")  # write the rest, then close: an answer that ends early
                writer.write(data[4:] if cut else data)
                await writer.drain()
                if cut or b"connection: close" in data.lower():
                    break
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> Scripted:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0, ssl=self.tls)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.hold.set()
        self.server.close()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, timeout=20))


def deliverer(clock, transport: H1Transport | None = None, **kw) -> Deliverer:
    policy = clock.policy(attempts=kw.pop("attempts", 1))
    return Deliverer(transport or H1Transport(max_connections=4), policy, concurrency=4, **kw)


def test_keep_alive_two_requests_over_one_connection(clock):
    async def main():
        async with Scripted(lambda n, head: OK) as srv:
            async with deliverer(clock) as d:
                first = await d.send(PreparedRequest("POST", f"http://127.0.0.1:{srv.port}/a", {}, json={"n": 1}))
                second = await d.send(PreparedRequest("GET", f"http://127.0.0.1:{srv.port}/b?x=1", {}))
            return srv, first, second

    srv, first, second = run(main())
    assert first.verdict == second.verdict == "delivered"
    assert first.response.json == {"ok": True}
    assert srv.connections == 1 and len(srv.requests) == 2
    post, get = srv.requests
    assert post.startswith(b"POST /a HTTP/1.1\r\n") and post.endswith(b'{"n":1}')
    assert b"\r\nHost: 127.0.0.1:%d\r\n" % srv.port in post and b"User-Agent: engine/0.1" in post
    assert get.startswith(b"GET /b?x=1 HTTP/1.1\r\n") and b"content-length" not in get.lower()


def test_connection_close_is_not_reused(clock):
    closing = OK.replace(b"Content-Length", b"Connection: close\r\nContent-Length")

    async def main():
        async with Scripted(lambda n, head: closing) as srv:
            async with deliverer(clock) as d:
                for _ in range(2):
                    assert (await d.send(PreparedRequest("GET", f"http://127.0.0.1:{srv.port}/", {}))).ok
            return srv

    assert run(main()).connections == 2


def test_a_chunked_answer_is_read_whole(clock):
    chunked = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\n{\"a\":\r\n4\r\n[1,2\r\n2\r\n]}\r\n0\r\n\r\n")

    async def main():
        async with Scripted(lambda n, head: chunked) as srv:
            async with deliverer(clock) as d:
                outcomes = [await d.send(PreparedRequest("GET", f"http://127.0.0.1:{srv.port}/", {}))
                            for _ in range(2)]
            return srv, outcomes

    srv, outcomes = run(main())
    assert [o.response.json for o in outcomes] == [{"a": [1, 2]}, {"a": [1, 2]}]
    assert srv.connections == 1


def test_a_body_ending_with_the_connection_is_read(clock):
    async def main():
        async with Scripted(lambda n, head: b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it") as srv:
            async with deliverer(clock) as d:
                return await d.send(PreparedRequest("GET", f"http://127.0.0.1:{srv.port}/", {}))

    assert run(main()).response.text == "all of it"


def test_an_oversized_answer_is_cut_and_its_connection_dropped(clock):
    big = b"x" * 5000
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(big), big)

    async def main():
        async with Scripted(lambda n, head: answer) as srv:
            async with deliverer(clock, max_response_bytes=1000) as d:
                outcomes = [await d.send(PreparedRequest("GET", f"http://127.0.0.1:{srv.port}/", {}))
                            for _ in range(2)]
            return srv, outcomes

    srv, outcomes = run(main())
    assert all(o.response.truncated and o.response.text == "x" * 1000 for o in outcomes)
    assert srv.connections == 2  # the rest of the first answer was never read: its connection was not reused


def test_a_server_closing_mid_answer_is_a_network_failure_then_retried(clock):
    cut = b"CUT:HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part"

    async def main():
        async with Scripted(lambda n, head: cut if n == 1 else OK) as srv:
            async with deliverer(clock, attempts=3) as d:
                retried = await d.send(PreparedRequest("POST", f"http://127.0.0.1:{srv.port}/", {}, json={}))
            async with deliverer(clock, attempts=1) as d:
                srv.answer = lambda n, head: cut
                failed = await d.send(PreparedRequest("POST", f"http://127.0.0.1:{srv.port}/", {}, json={}))
            return retried, failed

    retried, failed = run(main())
    assert retried.verdict == "delivered" and retried.attempts == 2
    assert failed.verdict == "failed" and failed.reason == "network error" and failed.retryable
    assert "closed the connection" in failed.error


def test_a_slow_answer_ends_at_the_total_timeout(clock):
    async def main():
        async with Scripted(lambda n, head: b"hold") as srv:
            async with deliverer(clock, default_timeout=0.3) as d:
                return await d.send(PreparedRequest("GET", f"http://127.0.0.1:{srv.port}/", {}))

    outcome = run(main())
    assert outcome.verdict == "failed" and outcome.reason == "timeout" and outcome.retryable


def test_each_request_ends_at_its_own_timeout_while_others_wait(clock):
    """The exchanges share one timer: a short timeout that starts after a long one still ends on time while the
    long one goes on, and a request answered in time is not cut when its limit passes later."""
    async def main():
        answers = {1: b"hold", 2: b"hold", 3: OK, 4: OK}
        async with Scripted(lambda n, head: answers[n]) as srv:
            async with deliverer(clock) as d:
                url = f"http://127.0.0.1:{srv.port}/"
                long = asyncio.create_task(d.send(PreparedRequest("GET", url, {}, timeout=30)))
                await asyncio.sleep(0.05)
                short = await d.send(PreparedRequest("GET", url, {}, timeout=0.2))
                still_waiting = not long.done()
                quick = await d.send(PreparedRequest("GET", url, {}, timeout=0.3))
                await asyncio.sleep(0.5)  # past the quick one's limit: the idle connection is not touched
                after = await d.send(PreparedRequest("GET", url, {}, timeout=5))
                long.cancel()
                return short, still_waiting, quick, after, srv.connections

    short, still_waiting, quick, after, connections = run(main())
    assert short.verdict == "failed" and short.reason == "timeout" and short.retryable
    assert still_waiting
    assert quick.verdict == "delivered" and after.verdict == "delivered"
    assert connections == 3  # held, timed out, then one reused by the last two


def test_a_refused_connection_says_connection_refused(clock):
    async def main():
        async with Scripted(lambda n, head: OK) as srv:
            port = srv.port
        await asyncio.sleep(0.05)
        async with deliverer(clock) as d:
            return await d.send(PreparedRequest("GET", f"http://127.0.0.1:{port}/", {}))

    outcome = run(main())
    assert outcome.verdict == "failed" and outcome.reason == "connection refused" and outcome.retryable


def test_a_header_with_a_line_break_is_refused_before_sending(clock):
    async def main():
        async with Scripted(lambda n, head: OK) as srv:
            async with deliverer(clock) as d:
                outcome = await d.send(PreparedRequest("GET", f"http://127.0.0.1:{srv.port}/",
                                                       {"X-Evil": "a\r\nInjected: 1"}))
            return srv, outcome

    srv, outcome = run(main())
    assert outcome.verdict == "failed" and outcome.reason == "invalid request" and not srv.requests


def test_header_lines_follow_each_request_s_own_headers(clock):
    """Header lines are encoded once per distinct set of headers: a repeat is sent as it was, a changed value
    or another header is sent as it now is, and a bad value is refused every time it comes."""
    async def main():
        async with Scripted(lambda n, head: OK) as srv:
            async with deliverer(clock) as d:
                url = f"http://127.0.0.1:{srv.port}/"
                sent = [await d.send(PreparedRequest("GET", url, headers)) for headers in (
                    {"X-Key": "one"}, {"X-Key": "one"}, {"X-Key": "two"}, {"X-Key": "two", "X-More": "3"},
                    {"X-Key": "bad\r\nInjected: 1"}, {"X-Key": "bad\r\nInjected: 1"}, {"Host": "elsewhere.test"})]
            return srv, sent

    srv, sent = run(main())
    assert [o.verdict for o in sent] == ["delivered"] * 4 + ["failed"] * 2 + ["delivered"]
    heads = [r.split(b"\r\n\r\n")[0].lower() for r in srv.requests]
    assert len(heads) == 5 and b"injected" not in b"".join(heads)
    assert [h.count(b"x-key: one") for h in heads[:2]] == [1, 1]
    assert b"x-key: two" in heads[2] and b"x-more" not in heads[2]
    assert b"x-key: two" in heads[3] and b"x-more: 3" in heads[3]
    assert heads[4].count(b"host:") == 1 and b"host: elsewhere.test" in heads[4] and b"x-key" not in heads[4]


@pytest.fixture(scope="module")
def cert(tmp_path_factory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    folder = tmp_path_factory.mktemp("tls")
    crt, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(crt),
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return crt, key


def _server_tls(cert: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert[0]), str(cert[1]))
    return context


def test_https_to_a_self_signed_server_is_refused_as_unverified(clock, cert):
    async def main():
        async with Scripted(lambda n, head: OK, tls=_server_tls(cert)) as srv:
            async with deliverer(clock) as d:
                outcome = await d.send(PreparedRequest("GET", f"https://127.0.0.1:{srv.port}/", {}))
            return srv, outcome

    srv, outcome = run(main())
    assert outcome.verdict == "failed" and "certificate verify failed" in outcome.error
    assert not srv.requests


def test_https_with_its_ca_trusted_is_delivered_and_kept_alive(clock, cert):
    async def main():
        trusting = ssl.create_default_context(cafile=str(cert[0]))
        async with Scripted(lambda n, head: OK, tls=_server_tls(cert)) as srv:
            async with deliverer(clock, H1Transport(ssl_context=trusting)) as d:
                outcomes = [await d.send(PreparedRequest("POST", f"https://127.0.0.1:{srv.port}/t", {}, json={}))
                            for _ in range(2)]
            return srv, outcomes

    srv, outcomes = run(main())
    assert [o.verdict for o in outcomes] == ["delivered", "delivered"] and srv.connections == 1


def test_a_context_that_does_not_verify_is_refused():
    loose = ssl.create_default_context()
    loose.check_hostname = False
    loose.verify_mode = ssl.CERT_NONE
    with pytest.raises(ValueError, match="must verify"):
        H1Transport(ssl_context=loose)
    assert H1Transport().ssl_context.verify_mode == ssl.CERT_REQUIRED

