"""Streaming and abort benchmarks (standard library only), all on loopback.

    python benchmarks/streaming.py [--aborts 200] [--megabytes 200]

1. Abort latency (fire -> exception in the calling thread), p50 / p99, at
   each stage: waiting for headers, uploading, reading a body, between stream
   events, retry back-off, name resolution (in a network namespace, as root);
   fired by a threading.Event, a Future, client.close(), ImageStream.abort()
   and the total deadline. Each fires when the server reaches the stage.
4. CPU of 100 idle calls, each with an Event trigger and a total deadline.
5. The async client: event-loop latency while 100 awaited generations run
   (each answered after 0.2-0.5 s), against the same loop running 100
   asyncio.sleep tasks; and task.cancel() -> CancelledError at each stage.
2. SSE throughput: ~N MB of partial-image events, ImageStream vs. the floor
   (a minimal loop over the same response: read1, split on blank lines,
   json.loads); reported as a ratio measured in the same run.
3. First-event latency: server flush -> event in the caller's hands.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import http.client
import json
import os
import socket
import statistics
import sys
import threading
import time
from functools import partial
from typing import Any, Callable, Dict, List, Optional, Tuple

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import openai_images as oi

KEY = "sk-bench"


class RawServer:
    """A loopback HTTP/1.1 server with one behaviour per instance. ``ready`` is
    set when a connection reaches the point the benchmark aborts at."""

    def __init__(self, mode: str, events: Optional[List[bytes]] = None) -> None:
        self.mode = mode
        self.events = events or []
        self.flushed_at: List[float] = []
        self.ready = threading.Event()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def read_request(self, conn: socket.socket, body: bool = True) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        while body and len(rest) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return
            rest += chunk

    def wait_closed(self, conn: socket.socket) -> None:
        try:
            while conn.recv(65536):
                pass
        except OSError:
            pass

    def serve(self, conn: socket.socket) -> None:
        try:
            if self.mode == "upload":  # read the headers, then nothing: the upload stalls
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                self.read_request(conn, body=False)
                self.ready.set()
                time.sleep(30)
                return
            self.read_request(conn)
            if self.mode == "hang":
                self.ready.set()
                self.wait_closed(conn)
            elif self.mode == "body":  # a JSON body that stops half-way
                conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"da')
                self.ready.set()
                self.wait_closed(conn)
            elif self.mode == "slow":  # a small images reply after 0.2-0.5 s
                time.sleep(0.2 + 0.3 * (hash(threading.get_ident()) % 1000) / 1000)
                body = b'{"created": 1, "data": [{"b64_json": "iVBORw0KGgo="}]}'
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                    % (len(body), body)
                )
            elif self.mode == "retry":
                conn.sendall(b"HTTP/1.1 500 Oops\r\nContent-Length: 2\r\nretry-after: 60\r\n\r\n{}")
                self.ready.set()
                self.wait_closed(conn)
            elif self.mode in ("stream", "stream-hang"):
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                    b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                )
                for event in self.events:
                    conn.sendall(b"%x\r\n%s\r\n" % (len(event), event))
                    self.flushed_at.append(time.perf_counter())
                    if self.mode == "stream-hang":
                        break
                if self.mode == "stream-hang":
                    self.ready.set()
                    self.wait_closed(conn)
                else:
                    conn.sendall(b"0\r\n\r\n")
        except OSError:
            pass
        finally:
            conn.close()


def event_bytes(kind: str, b64: str, index: Optional[int]) -> bytes:
    data = {
        "type": kind,
        "b64_json": b64,
        "created_at": 1,
        "size": "1024x1024",
        "quality": "high",
        "background": "opaque",
        "output_format": "png",
    }
    if index is not None:
        data["partial_image_index"] = index
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode()


def percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def row(name: str, how: str, latencies: List[float]) -> str:
    ms = [v * 1000 for v in latencies]
    verdict = "ok" if ms and percentile(ms, 0.99) < 50 else "MISSED"
    return (
        f"  {name:34s} {how:14s} n={len(ms):4d}  p50 {statistics.median(ms):6.2f} ms  "
        f"p99 {percentile(ms, 0.99):6.2f} ms  {verdict}"
    )


def abort_latency(
    call: Callable[[Any], Any],
    ready: threading.Event,
    count: int,
    trigger: str = "event",
    fire: Any = None,
    reached: bool = False,
) -> List[float]:
    """Run ``call(trigger)`` ``count`` times; once the server is ``ready`` (the
    stage is reached), fire (set the Event, resolve the Future, or call
    ``fire()``) and measure until the call raises in its own thread.
    ``reached``: the stage is reached already (``ready`` is not cleared)."""
    latencies: List[float] = []
    for _ in range(count):
        if not reached:
            ready.clear()
        made: Any = {"event": threading.Event, "future": concurrent.futures.Future}.get(trigger, lambda: None)()
        action = fire or (made.set if trigger == "event" else lambda made=made: made.set_result(None))
        fired: List[float] = []

        def run(action: Callable[[], None] = action, fired: List[float] = fired) -> None:
            if ready.wait(30):
                fired.append(time.perf_counter())
                action()

        helper = threading.Thread(target=run, daemon=True)
        helper.start()
        try:
            call(made)
        except (oi.APIUserAbortError, oi.APITimeoutError):
            latencies.append(time.perf_counter() - fired[0])
        helper.join()
    return latencies


def bench_aborts(count: int) -> None:
    print(f"Abort latency (fire -> error in the calling thread), {count} per row; target p99 < 50 ms")
    servers = {mode: RawServer(mode) for mode in ("hang", "upload", "body", "retry")}
    first = event_bytes("image_generation.partial_image", "A" * 1000, 0)
    servers["stream"] = RawServer("stream-hang", [first])
    blob = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8_000_000

    def stream_to_end(client: oi.OpenAIClient, trigger: Any) -> None:
        for _ in client.images.generate_stream(prompt="p", abort_trigger=trigger):
            pass

    stages: List[Tuple[str, str, Callable[[oi.OpenAIClient, Any], Any]]] = [
        ("waiting for headers", "hang", lambda c, t: c.images.generate(prompt="p", abort_trigger=t)),
        ("uploading (edit, 8 MB)", "upload", lambda c, t: c.images.edit(image=blob, prompt="p", abort_trigger=t)),
        ("reading a body", "body", lambda c, t: c.images.generate(prompt="p", abort_trigger=t)),
        ("between stream events", "stream", stream_to_end),
        ("retry back-off (60 s hint)", "retry", lambda c, t: c.images.generate(prompt="p", abort_trigger=t)),
    ]
    for name, mode, call in stages:
        server = servers[mode]
        retries = 2 if mode == "retry" else 0
        client = oi.OpenAIClient(api_key=KEY, base_url=server.url, proxies={}, max_retries=retries)
        for kind in ("event", "future"):
            print(row(name, f"{kind.title()} trigger", abort_latency(partial(call, client), server.ready, count, kind)))
        closes: List[float] = []
        for _ in range(max(1, count // 4)):  # a fresh client each time: close() is for good
            closing = oi.OpenAIClient(api_key=KEY, base_url=server.url, proxies={}, max_retries=retries)
            closes += abort_latency(partial(call, closing), server.ready, 1, "none", closing.close)
        print(row(name, "client.close()", closes))
    client = oi.OpenAIClient(api_key=KEY, base_url=servers["stream"].url, proxies={}, max_retries=0)
    direct: List[float] = []
    for _ in range(count):
        stream = client.images.generate_stream(prompt="p")
        next(stream)
        direct += abort_latency(lambda _t, s=stream: next(s), servers["stream"].ready, 1, "none", stream.abort, True)
    print(row("between stream events", "stream.abort()", direct))
    deadline: List[float] = []
    total = oi.Timeout(connect=5, read=60, total=0.05)
    client = oi.OpenAIClient(api_key=KEY, base_url=servers["hang"].url, proxies={}, max_retries=0, timeout=total)
    for _ in range(max(1, count // 4)):
        started = time.perf_counter()
        try:
            client.images.generate(prompt="p")
        except oi.APITimeoutError:
            deadline.append(time.perf_counter() - started - 0.05)
    print(row("waiting for headers", "total=50 ms", deadline))


def bench_idle_cpu(calls: int = 100, seconds: float = 3.0) -> None:
    """CPU the process uses while ``calls`` calls wait on a silent server, each
    with an Event trigger and a total deadline: the watcher must not tick."""
    server = RawServer("hang")
    client = oi.OpenAIClient(api_key=KEY, base_url=server.url, proxies={}, max_retries=0)
    trigger = threading.Event()
    limits = oi.Timeout(connect=5, read=600, total=600)
    workers = [
        threading.Thread(
            target=lambda: _swallow(lambda: client.images.generate(prompt="p", abort_trigger=trigger, timeout=limits))
        )
        for _ in range(calls)
    ]
    for worker in workers:
        worker.start()
    time.sleep(1.0)  # let every call reach the wait for headers
    cpu, wall = time.process_time(), time.perf_counter()
    time.sleep(seconds)
    used = (time.process_time() - cpu) / (time.perf_counter() - wall)
    trigger.set()
    for worker in workers:
        worker.join()
    verdict = "ok" if used < 0.01 else "MISSED"
    print(
        f"CPU of {calls} idle calls (Event trigger + total deadline each), over {seconds:.0f} s: {used * 100:.2f} % of a core; target < 1 %  {verdict}"
    )


def _swallow(call: Callable[[], Any]) -> None:
    try:
        call()
    except oi.OpenAIError:
        pass


DNS_CHILD = "--dns-child"


def bench_dns(count: int) -> None:
    """Abort during name resolution. Needs root on Linux: re-runs this file in
    new network and mount namespaces whose resolver is a silent DNS server on
    127.0.0.1 (a lookup never completes), as the tests do."""
    import shutil
    import subprocess
    import tempfile

    if not shutil.which("unshare") or subprocess.run(["unshare", "-m", "-n", "true"], capture_output=True).returncode:
        print("  during name resolution            (skipped: needs unshare and root)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        resolv = os.path.join(tmp, "resolv.conf")
        with open(resolv, "w") as handle:
            handle.write("nameserver 127.0.0.1\noptions timeout:5 attempts:1\n")
        shell = 'ip link set lo up && mount --bind "$1" /etc/resolv.conf && shift && exec "$@"'
        done = subprocess.run(
            ["unshare", "-m", "-n", "sh", "-c", shell, "sh", resolv, sys.executable, __file__, DNS_CHILD, str(count)],
            capture_output=True,
            text=True,
        )
    print(done.stdout.rstrip() or done.stderr[-500:])


def dns_child(count: int) -> None:
    asked: Dict[str, threading.Event] = {}  # host label -> set when a query for it arrives
    dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dns.bind(("127.0.0.1", 53))

    def silent_dns() -> None:
        while True:
            packet = dns.recv(512)
            for label, event in list(asked.items()):
                if bytes([len(label)]) + label.encode() in packet:
                    event.set()

    threading.Thread(target=silent_dns, daemon=True).start()

    def one(index: int, kind: str) -> List[float]:  # a new host name per call: lookups of one name are shared
        label = f"api{index}"
        asked[label] = queried = threading.Event()
        client = oi.OpenAIClient(api_key=KEY, base_url=f"http://{label}.slow-dns.test/v1", proxies={}, max_retries=0)
        if kind == "event":
            return abort_latency(
                lambda t: client.images.generate(prompt="p", abort_trigger=t), queried, 1, "event", None, True
            )
        return abort_latency(lambda _t: client.images.generate(prompt="p"), queried, 1, "none", client.close, True)

    print(row("during name resolution", "Event trigger", [v for i in range(count) for v in one(i, "event")]))
    closes = [v for i in range(max(1, count // 4)) for v in one(count + i, "close")]
    print(row("during name resolution", "client.close()", closes))


def floor_read(url: str, body: bytes) -> int:
    """The floor: read1, split on blank lines, json.loads each event."""
    host_port = url.split("//")[1].split("/")[0]
    conn = http.client.HTTPConnection(host_port)
    conn.request("POST", "/v1/images/generations", body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    buffer = bytearray()
    events = 0
    while True:
        chunk = response.read1(1 << 18)
        if not chunk:
            break
        start = max(len(buffer) - 1, 0)
        buffer += chunk
        end = buffer.find(b"\n\n", start)
        while end != -1:
            block = bytes(buffer[:end])
            del buffer[: end + 2]
            json.loads(block[block.index(b"data: ") + 6 :])
            events += 1
            end = buffer.find(b"\n\n")
    conn.close()
    return events


def bench_throughput(megabytes: int, rounds: int = 5) -> None:
    b64 = base64.b64encode(os.urandom(750_000)).decode()  # ~1 MB per event, like a real partial image
    per_event = len(event_bytes("image_generation.partial_image", b64, 0))
    count = max(2, megabytes * 1_000_000 // per_event)
    events = [event_bytes("image_generation.partial_image", b64, i % 3) for i in range(count - 1)]
    events.append(event_bytes("image_generation.completed", b64, None))
    total_mb = sum(map(len, events)) / 1e6
    server = RawServer("stream", events)
    client = oi.OpenAIClient(api_key=KEY, base_url=server.url, proxies={}, max_retries=0)
    body = json.dumps({"prompt": "p", "stream": True}).encode()
    ours_times, floor_times = [], []
    for _ in range(rounds):  # interleaved, so that machine noise hits both alike
        started = time.perf_counter()
        assert floor_read(server.url, body) == count
        floor_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        got = sum(1 for _ in client.images.generate_stream(prompt="p"))
        ours_times.append(time.perf_counter() - started)
        assert got == count
    floor_s, ours_s = statistics.median(floor_times), statistics.median(ours_times)
    print(
        f"SSE throughput, {total_mb:.0f} MB in {count} events, median of {rounds} interleaved rounds; target <= 1.3x floor"
    )
    print(f"  floor (read1 + split + json.loads) {floor_s:6.3f} s  {total_mb / floor_s:7.0f} MB/s")
    print(
        f"  ImageStream                        {ours_s:6.3f} s  {total_mb / ours_s:7.0f} MB/s   ratio {ours_s / floor_s:.2f}x"
    )


def bench_first_event(samples: int = 50) -> None:
    event = event_bytes("image_generation.partial_image", "A" * 1_000_000, 0)
    server = RawServer("stream-hang", [event])
    client = oi.OpenAIClient(api_key=KEY, base_url=server.url, proxies={}, max_retries=0)
    latencies = []
    for _ in range(samples):
        stream = client.images.generate_stream(prompt="p")
        next(stream)
        received = time.perf_counter()
        latencies.append((received - server.flushed_at[-1]) * 1000)
        stream.close()
    print(f"First-event latency (server flush of a 1 MB event -> event in hand), n={samples}; target < 5 ms")
    print(f"  p50 {statistics.median(latencies):.2f} ms  p99 {percentile(latencies, 0.99):.2f} ms")


def bench_parser_scaling() -> None:
    """Time grows with input size, however small the chunks (no quadratic buffering)."""
    print("SSEParser scaling: one data line of 1 MB vs 10 MB; expect ~10x, not ~100x")
    for chunk in (1, 64, 1460):
        times = []
        for megabytes in (1, 10):
            if chunk == 1 and megabytes == 10:
                megabytes = 4  # 10 million feed() calls take too long to wait for; 4 MB shows the shape
            line = b"data: " + b"A" * (megabytes * 1_000_000) + b"\n\n"
            parser = oi.SSEParser()
            started = time.perf_counter()
            events = [e for i in range(0, len(line), chunk) for e in parser.feed(line[i : i + chunk])]
            times.append((megabytes, time.perf_counter() - started))
            assert len(events) == 1
        (small_mb, small), (big_mb, big) = times
        print(
            f"  {chunk:5d}-byte chunks: {small_mb} MB {small:.3f} s, {big_mb} MB {big:.3f} s, "
            f"ratio {big / small:.1f}x for {big_mb / small_mb:.0f}x the bytes"
        )


def bench_async(count: int, calls: int = 100) -> None:
    """The async client: loop latency under load, and cancellation latency."""
    import asyncio

    async def ticker(lags: List[float], stop: asyncio.Event, tick: float = 0.005) -> None:
        while not stop.is_set():
            started = time.perf_counter()
            await asyncio.sleep(tick)
            lags.append(time.perf_counter() - started - tick)

    async def under_load(work: Callable[[], Any]) -> List[float]:
        lags: List[float] = []
        stop = asyncio.Event()
        tick = asyncio.ensure_future(ticker(lags, stop))
        await asyncio.gather(*(work() for _ in range(calls)))
        stop.set()
        await tick
        return lags

    server = RawServer("slow")
    client = oi.AsyncOpenAIClient(api_key=KEY, base_url=server.url, proxies={}, max_retries=0)
    baseline = asyncio.run(under_load(lambda: asyncio.sleep(0.35)))
    loaded = asyncio.run(under_load(lambda: client.images.generate(prompt="p")))
    print(f"Async client: event-loop lag of a 5 ms ticker while {calls} calls run; target p99 < 10 ms")
    for name, lags in (("100 x asyncio.sleep (baseline)", baseline), (f"{calls} x await images.generate", loaded)):
        ms = [v * 1000 for v in lags]
        print(f"  {name:34s} n={len(ms):4d}  p50 {statistics.median(ms):6.2f} ms  p99 {percentile(ms, 0.99):6.2f} ms")

    print(f"Async cancellation (task.cancel() -> CancelledError, thread ended), {count} per row; target p99 < 50 ms")
    servers = {mode: RawServer(mode) for mode in ("hang", "upload", "retry")}
    servers["stream"] = RawServer("stream-hang", [event_bytes("image_generation.partial_image", "A" * 1000, 0)])
    blob = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8_000_000

    async def stream_to_end(c: oi.AsyncOpenAIClient) -> None:
        async for _ in await c.images.generate(prompt="p", stream=True):
            pass

    stages: List[Tuple[str, str, Callable[[oi.AsyncOpenAIClient], Any]]] = [
        ("waiting for headers", "hang", lambda c: c.images.generate(prompt="p")),
        ("uploading (edit, 8 MB)", "upload", lambda c: c.images.edit(image=blob, prompt="p")),
        ("between stream events", "stream", stream_to_end),
        ("retry back-off (60 s hint)", "retry", lambda c: c.images.generate(prompt="p")),
    ]

    async def cancel_at(call: Callable[[], Any], ready: threading.Event) -> float:
        loop = asyncio.get_running_loop()
        reached = loop.create_future()
        ready.clear()
        threading.Thread(
            target=lambda: ready.wait(30) and loop.call_soon_threadsafe(reached.set_result, None), daemon=True
        ).start()
        task = asyncio.ensure_future(call())
        await reached
        started = time.perf_counter()
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        return time.perf_counter() - started

    for name, mode, call in stages:
        server = servers[mode]
        retrying = oi.AsyncOpenAIClient(api_key=KEY, base_url=server.url, proxies={}, max_retries=2)
        latencies = [asyncio.run(cancel_at(partial(call, retrying), server.ready)) for _ in range(count)]
        print(row(name, "task.cancel()", latencies))
        left = [t.name for t in threading.enumerate() if t.name == "openai-images-async"]
        assert not left, f"threads left behind: {left}"


def main() -> None:
    if sys.argv[1:2] == [DNS_CHILD]:
        dns_child(int(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--aborts", type=int, default=200)
    parser.add_argument("--megabytes", type=int, default=200)
    parser.add_argument("--only", default="", help="comma-separated: parser,first,throughput,aborts,idle,async")
    args = parser.parse_args()
    only = set(filter(None, args.only.split(",")))
    print(f"Python {sys.version.split()[0]} on {sys.platform}, {os.cpu_count()} CPUs")
    if not only or "parser" in only:
        bench_parser_scaling()
    if not only or "first" in only:
        bench_first_event()
    if not only or "throughput" in only:
        bench_throughput(args.megabytes)
    if not only or "aborts" in only:
        bench_aborts(args.aborts)
        bench_dns(args.aborts)
    if not only or "idle" in only:
        bench_idle_cpu()
    if not only or "async" in only:
        bench_async(args.aborts)


if __name__ == "__main__":
    main()
