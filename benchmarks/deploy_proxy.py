"""A TCP proxy on 127.0.0.1 that delays what the client sends by a fixed time: a remote API.

Every chunk from the client reaches the server ``delay`` seconds after it arrived, in order, and
the chunks of one connection are not serialised behind each other's delay (a delay line, not a
queue), so each HTTP request (one or a few chunks sent together) costs one extra ``delay`` and
concurrent requests overlap as they would over a long link. Responses pass at once.

    python benchmarks/deploy_proxy.py --upstream 127.0.0.1:4200 --port 4300 --delay-ms 50
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

METHODS = (b"GET ", b"POST ", b"PUT ", b"PATCH ", b"DELETE ", b"HEAD ", b"OPTIONS ")


@dataclass
class Proxy:
    """A running proxy: its URL and how many HTTP requests went through (approximately: one
    per chunk that starts with a method, which is how HTTP clients write requests)."""

    url: str
    requests: int = 0


async def _pipe_delayed(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    delay: float,
    proxy: Proxy | None = None,
) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def release() -> None:
        while True:
            due, chunk = await queue.get()
            if not chunk:
                break
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(chunk)
            await writer.drain()
        with contextlib.suppress(OSError):
            writer.write_eof()

    sender = asyncio.create_task(release())
    try:
        while chunk := await reader.read(65536):
            if proxy is not None and chunk.startswith(METHODS):
                proxy.requests += 1
            queue.put_nowait((loop.time() + delay, chunk))
    except OSError:
        pass
    finally:
        queue.put_nowait((loop.time(), b""))
        with contextlib.suppress(OSError):
            await sender


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            writer.write_eof()


async def serve(
    upstream: tuple[str, int],
    port: int,
    delay: float,
    ready: threading.Event | None = None,
    stop: asyncio.Event | None = None,
    proxy: Proxy | None = None,
) -> None:
    """Accept on 127.0.0.1:port and forward to ``upstream`` with the delay."""

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(*upstream)
        except OSError:
            client_w.close()
            return
        try:
            await asyncio.gather(
                _pipe_delayed(client_r, server_w, delay, proxy), _pipe(server_r, client_w)
            )
        finally:
            for w in (server_w, client_w):
                w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    if ready is not None:
        ready.set()
    async with server:
        if stop is None:
            await server.serve_forever()
        else:
            await stop.wait()


@contextlib.contextmanager
def latency_proxy(upstream_url: str, delay_ms: float) -> Iterator[Proxy]:
    """Run the proxy in a thread; yields it (its URL has the same path as ``upstream_url``)."""
    from urllib.parse import urlsplit, urlunsplit

    from devtools.services import free_port

    parts = urlsplit(upstream_url)
    port = free_port()
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    proxy = Proxy(urlunsplit(parts._replace(netloc=f"127.0.0.1:{port}")))

    def run() -> None:
        asyncio.set_event_loop(loop)
        upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        try:
            loop.run_until_complete(serve(upstream, port, delay_ms / 1000, ready, stop, proxy))
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="latency-proxy", daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("the latency proxy did not start")
    try:
        yield proxy
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)


def measure(url: str, calls: int = 20) -> float:
    """Median seconds of ``GET {url}/health`` on one connection."""
    import httpx

    times = []
    with httpx.Client() as client:
        for _ in range(calls):
            start = time.perf_counter()
            client.get(f"{url}/health").raise_for_status()
            times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="HOST:PORT of the real server")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=50.0)
    args = parser.parse_args()
    host, _, port = args.upstream.rpartition(":")
    asyncio.run(serve((host, int(port)), args.port, args.delay_ms / 1000))


if __name__ == "__main__":
    main()
