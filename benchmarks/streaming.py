"""Streaming and abort benchmarks (standard library only), all on loopback.

    python benchmarks/streaming.py [--aborts 200] [--megabytes 200]

1. Abort latency (trigger -> exception in the calling thread), p50 / p99, at
   each stage: waiting for headers, uploading, mid-stream, retry back-off;
   with a threading.Event trigger, a Future trigger and ImageStream.abort().
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
from typing import Any, Callable, List, Optional

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import openai_images as oi

KEY = "sk-bench"


class RawServer:
    """A loopback HTTP/1.1 server with one behaviour per instance."""

    def __init__(self, mode: str, events: Optional[List[bytes]] = None) -> None:
        self.mode = mode
        self.events = events or []
        self.flushed_at: List[float] = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def read_request(self, conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return
            body += chunk

    def wait_closed(self, conn: socket.socket) -> None:
        try:
            while conn.recv(65536):
                pass
        except OSError:
            pass

    def serve(self, conn: socket.socket) -> None:
        try:
            if self.mode == "upload":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                time.sleep(30)
                return
            self.read_request(conn)
            if self.mode == "hang":
                self.wait_closed(conn)
            elif self.mode == "retry":
                conn.sendall(b"HTTP/1.1 500 Oops\r\nContent-Length: 2\r\nretry-after: 60\r\n\r\n{}")
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


def measure_abort(name: str, call: Callable[[Any], Any], trigger_kind: str, count: int, delay: float) -> str:
    latencies = []
    for _ in range(count):
        trigger: Any = threading.Event() if trigger_kind == "event" else concurrent.futures.Future()
        fired: List[float] = []

        def fire(trigger: Any = trigger, fired: List[float] = fired) -> None:
            fired.append(time.perf_counter())
            trigger.set() if isinstance(trigger, threading.Event) else trigger.set_result(None)

        timer = threading.Timer(delay, fire)
        timer.start()
        try:
            call(trigger)
        except oi.APIUserAbortError:
            latencies.append(time.perf_counter() - fired[0])
        timer.join()
    ms = [v * 1000 for v in latencies]
    return f"{name:38s} {trigger_kind:7s} n={len(ms):4d}  p50 {statistics.median(ms):6.2f} ms  p99 {percentile(ms, 0.99):6.2f} ms"


def bench_aborts(count: int) -> None:
    print(f"Abort latency (trigger -> APIUserAbortError), {count} aborts per row; target p99 < 50 ms")
    hang, upload, retry = RawServer("hang"), RawServer("upload"), RawServer("retry")
    first = event_bytes("image_generation.partial_image", "A" * 1000, 0)
    stream_hang = RawServer("stream-hang", [first])
    blob = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8_000_000

    def client(url: str) -> oi.OpenAIClient:
        return oi.OpenAIClient(api_key=KEY, base_url=url, proxies={}, max_retries=0)

    c_hang, c_upload, c_stream = client(hang.url), client(upload.url), client(stream_hang.url)
    c_retry = oi.OpenAIClient(api_key=KEY, base_url=retry.url, proxies={}, max_retries=2)
    for kind in ("event", "future"):
        print(
            measure_abort(
                "waiting for headers (generate)",
                lambda t: c_hang.images.generate(prompt="p", abort_trigger=t),
                kind,
                count,
                0.02,
            )
        )
        print(
            measure_abort(
                "during upload (edit, 8 MB)",
                lambda t: c_upload.images.edit(image=blob, prompt="p", abort_trigger=t),
                kind,
                count,
                0.02,
            )
        )
        print(
            measure_abort(
                "during retry back-off (500, 60 s hint)",
                lambda t: c_retry.images.generate(prompt="p", abort_trigger=t),
                kind,
                count,
                0.02,
            )
        )

        def mid_stream(t: Any) -> None:
            stream = c_stream.images.generate_stream(prompt="p", abort_trigger=t)
            for _ in stream:
                pass

        print(measure_abort("mid-stream (trigger)", mid_stream, kind, count, 0.02))
    latencies = []
    for _ in range(count):
        stream = c_stream.images.generate_stream(prompt="p")
        next(stream)
        fired: List[float] = []
        timer = threading.Timer(0.01, lambda s=stream, fired=fired: (fired.append(time.perf_counter()), s.abort()))
        timer.start()
        try:
            next(stream)
        except oi.APIUserAbortError:
            latencies.append((time.perf_counter() - fired[0]) * 1000)
        timer.join()
    print(
        f"{'mid-stream (ImageStream.abort())':38s} {'direct':7s} n={len(latencies):4d}  p50 {statistics.median(latencies):6.2f} ms  "
        f"p99 {percentile(latencies, 0.99):6.2f} ms"
    )


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--aborts", type=int, default=200)
    parser.add_argument("--megabytes", type=int, default=200)
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]} on {sys.platform}, {os.cpu_count()} CPUs")
    bench_parser_scaling()
    bench_first_event()
    bench_throughput(args.megabytes)
    bench_aborts(args.aborts)


if __name__ == "__main__":
    main()
