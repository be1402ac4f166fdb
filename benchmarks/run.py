"""openai-images benchmarks: every figure is a ratio to a baseline measured in
the same run, side by side (the machines are shared and noisy).

    python benchmarks/run.py [--quick] [--sdk-python PATH] [--only import,upload,...]

Standard library only. The official SDK (``openai``) is compared where it is
installed: in this interpreter, or in the one named by ``--sdk-python`` /
``OPENAI_SDK_PYTHON``; otherwise the report says it was not measured.

Sections: import, upload, streaming, per-call, saving, wire. Abort latency and
SSEParser scaling are in ``benchmarks/streaming.py``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from typing import Any, Callable, Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, HERE]
import streaming  # noqa: E402  (the SSE server and the floor loop)

import openai_images as oi  # noqa: E402

KEY = "sk-bench"
ROWS: List[Tuple[str, str, str, str, str]] = []  # what, measured, ratio, target, verdict


def row(what: str, measured: str, ratio: Optional[float], target: Optional[float], note: str = "") -> None:
    verdict = "" if ratio is None or target is None else ("ok" if ratio <= target else "MISSED")
    shown = "" if ratio is None else f"{ratio:.2f}x"
    ROWS.append((what, measured, shown, "" if target is None else f"<= {target:g}x", verdict or note))
    print(f"  {what:52s} {measured:34s} {shown:>7s} {ROWS[-1][3]:>8s} {ROWS[-1][4]}", flush=True)


def median_of(
    runs: int, *measures: Callable[[], float], pick: Callable[[List[float]], float] = statistics.median
) -> List[float]:
    """Run the measures interleaved ``runs`` times; the median of each (or what ``pick`` takes)."""
    samples: List[List[float]] = [[] for _ in measures]
    for _ in range(runs):
        for bucket, measure in zip(samples, measures):
            bucket.append(measure())
    return [pick(bucket) for bucket in samples]


def reset_peak_rss() -> float:
    """Start a new peak-RSS window (Linux: clear_refs); returns the current RSS in MB."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return _status_mb("VmRSS")
    except OSError:  # elsewhere: the process-lifetime peak, a coarser baseline
        return peak_rss_mb()


def peak_rss_mb() -> float:
    """The peak RSS in MB since the last ``reset_peak_rss()`` (Linux), else of the process."""
    try:
        return _status_mb("VmHWM")
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise OSError(f"no {field} in /proc/self/status")


def child(python: str, *args: str, timeout: float = 600) -> Dict[str, Any]:
    """Run a measurement in a fresh process (clean RSS); it prints one JSON line."""
    out = subprocess.run(
        [python, os.path.abspath(__file__), "--child", *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )
    if out.returncode != 0:
        raise RuntimeError(f"child {args[0]} failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- a sink server in its own process (no GIL shared with the client) ----------


def serve_sink() -> None:
    """Reads each request to its end, answers a tiny images response; keep-alive."""
    answer = json.dumps(
        {
            "created": 1,
            "data": [{"b64_json": base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()}],
            "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2},
        }
    ).encode()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    print(listener.getsockname()[1], flush=True)

    def serve(conn: socket.socket) -> None:
        buffer = bytearray(1 << 20)
        pending = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in pending:
                    data = conn.recv(65536)
                    if not data:
                        return
                    pending += data
                head, _, pending = pending.partition(b"\r\n\r\n")
                fields = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (line.decode("latin-1").partition(":") for line in head.split(b"\r\n")[1:])
                }
                remaining = int(fields.get("content-length", "0")) - len(pending)
                pending = b""
                while remaining > 0:
                    got = conn.recv_into(buffer, min(remaining, len(buffer)))
                    if not got:
                        return
                    remaining -= got
                close = fields.get("connection", "").lower() == "close"
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nx-request-id: req_b\r\n"
                    b"Content-Length: %d\r\n%s\r\n%s"
                    % (len(answer), b"Connection: close\r\n" if close else b"", answer)
                )
                if close:
                    return

    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


class Sink:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--child", "sink"], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.url = f"http://127.0.0.1:{int(self.process.stdout.readline())}/v1"

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


# -- 1. import -----------------------------------------------------------------


def bench_import(runs: int, sdk: Optional[str]) -> None:
    print(f"Import, the minimum of {runs} interleaved runs in a clean virtual environment")
    work = tempfile.mkdtemp(prefix="oi-import-")
    try:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", os.path.join(work, "venv")], check=True)
        python = os.path.join(work, "venv", "bin", "python")
        shutil.copy(os.path.join(ROOT, "openai_images.py"), work)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        check = (
            "import sys, openai_images; print(sorted(m for m in ('urllib.request', 'http.client', 'ssl', "
            "'email', 'json', 'logging', 'socket', 'threading') if m in sys.modules))"
        )
        loaded = subprocess.run([python, "-c", check], cwd=work, env=env, capture_output=True, text=True).stdout.strip()

        def timed(*args: str, python: str = python) -> Callable[[], float]:
            def measure() -> float:
                started = time.perf_counter()
                subprocess.run([python, *args], cwd=work, env=env, check=True, stdout=subprocess.DEVNULL)
                return time.perf_counter() - started

            return measure

        nopyc = os.path.join(work, "read-only")  # a vendored copy with no bytecode cache: compiled at every start
        os.makedirs(nopyc)
        shutil.copy(os.path.join(ROOT, "openai_images.py"), nopyc)
        compiled = ["-B", "-c", f"import sys; sys.path.insert(0, {nopyc!r}); import openai_images"]
        bare, ours, helps, uncached = median_of(
            runs,
            timed("-c", "pass"),
            timed("-c", "import openai_images"),
            timed("-m", "openai_images", "--help"),
            timed(*compiled),
            pick=min,
        )
        row("python -c pass", f"{bare * 1000:.1f} ms", None, None, "baseline")
        row("python -c 'import openai_images'", f"{ours * 1000:.1f} ms", ours / bare, 4.0)
        row("the same without a .pyc (compiled at start)", f"{uncached * 1000:.1f} ms", uncached / bare, None)
        row("python -m openai_images --help", f"{helps * 1000:.1f} ms", helps / bare, None, "argparse included")
        row(
            "modules loaded by the import (of the network stack, and threading)",
            loaded,
            None,
            None,
            "ok" if loaded == "[]" else "MISSED",
        )
        if sdk:
            sdk_bare, sdk_import = median_of(
                runs, timed("-c", "pass", python=sdk), timed("-c", "import openai", python=sdk)
            )
            row(
                "python -c 'import openai' (official SDK)",
                f"{sdk_import * 1000:.1f} ms",
                sdk_import / sdk_bare,
                None,
                f"ours is {sdk_import / sdk_bare / (ours / bare):.0f}x less",
            )
        else:
            row("python -c 'import openai' (official SDK)", "not installed", None, None, "not measured")
    finally:
        shutil.rmtree(work, ignore_errors=True)


# -- 2. upload -------------------------------------------------------------------


def child_upload(kind: str, url: str, directory: str, total: str) -> Dict[str, Any]:
    """Three uploads of the same bytes in one process: the median time, and the
    peak RSS growth over all three."""
    paths = sorted(os.path.join(directory, name) for name in os.listdir(directory))
    if kind == "raw":  # the floor: one socket, the same byte count from a buffer in memory
        host, port = url.split("//")[1].split("/")[0].split(":")
        block = memoryview(bytearray(1 << 20))

        def upload() -> None:
            with socket.create_connection((host, int(port))) as sock:
                sock.sendall(
                    b"POST /v1/images/edits HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                    b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: %d\r\n\r\n" % int(total)
                )
                left = int(total)
                while left:
                    left -= sock.send(block[: min(left, len(block))])
                while sock.recv(65536):
                    pass
    elif kind == "ours":
        client = oi.OpenAIClient(api_key=KEY, base_url=url, proxies={}, max_retries=0)
        client.images.generate(prompt="warm up")  # the network stack is loaded before the baseline

        def upload() -> None:
            client.images.edit(image=paths, prompt="p", model="gpt-image-2")
    else:
        from openai import OpenAI

        sdk = OpenAI(api_key=KEY, base_url=url, max_retries=0)
        sdk.images.generate(prompt="warm up", model="gpt-image-2")

        def upload() -> None:
            files = [open(path, "rb") for path in paths]  # noqa: SIM115
            try:
                sdk.images.edit(image=files, prompt="p", model="gpt-image-2")
            finally:
                for handle in files:
                    handle.close()

    before = reset_peak_rss()
    seconds = statistics.median(timed_call(upload) for _ in range(3))
    return {"seconds": seconds, "rss_growth_mb": peak_rss_mb() - before}


def bench_upload(files: int, megabytes: int, rounds: int, sdk: Optional[str]) -> None:
    print(
        f"Upload: a multipart edit of {files} images x {megabytes} MB to a loopback sink (another process), "
        f"median of {rounds} interleaved rounds of 3"
    )
    directory = tempfile.mkdtemp(prefix="oi-upload-")
    sink = Sink()
    try:
        block = b"\x89PNG\r\n\x1a\n" + os.urandom((1 << 20) - 8)
        for index in range(files):
            with open(os.path.join(directory, f"image-{index:02d}.png"), "wb") as handle:
                for _ in range(megabytes):
                    handle.write(block)
        paths = sorted(os.path.join(directory, name) for name in os.listdir(directory))
        total = oi.ImageEditRequest(image=paths, prompt="p", model="gpt-image-2").to_multipart().content_length
        raws, ours = [], []
        for _ in range(rounds):
            raws.append(child_upload_in(sys.executable, "raw", sink.url, directory, total))
            ours.append(child_upload_in(sys.executable, "ours", sink.url, directory, total))
        raw_s = statistics.median(r["seconds"] for r in raws)
        ours_s = statistics.median(r["seconds"] for r in ours)
        growth = max(r["rss_growth_mb"] for r in ours)
        row(
            "raw socket send of the same bytes",
            f"{raw_s:.2f} s  {total / raw_s / 1e6:.0f} MB/s",
            None,
            None,
            "baseline",
        )
        row("OpenAIClient.images.edit, time", f"{ours_s:.2f} s  {total / ours_s / 1e6:.0f} MB/s", ours_s / raw_s, 1.2)
        row(
            "OpenAIClient.images.edit, peak RSS growth",
            f"{growth:.1f} MB for {total / 1e6:.0f} MB",
            None,
            None,
            "ok" if growth < 32 else "MISSED (target < 32 MB)",
        )
        if sdk:
            result = child_upload_in(sdk, "sdk", sink.url, directory, total)
            row("official SDK images.edit, time", f"{result['seconds']:.2f} s", result["seconds"] / raw_s, None, "")
            row("official SDK images.edit, peak RSS growth", f"{result['rss_growth_mb']:.0f} MB", None, None, "")
        else:
            row("official SDK images.edit", "not installed", None, None, "not measured")
    finally:
        sink.close()
        shutil.rmtree(directory, ignore_errors=True)


def child_upload_in(python: str, kind: str, url: str, directory: str, total: int) -> Dict[str, Any]:
    return child(python, "upload", kind, url, directory, str(total))


# -- 3. streaming --------------------------------------------------------------------


def child_stream(kind: str, megabytes: str) -> Dict[str, Any]:
    """Serve ~N MB of ~1 MB events in this process, then consume them: seconds,
    and peak RSS growth while consuming (the events already sit in memory)."""
    b64 = base64.b64encode(os.urandom(750_000)).decode()
    count = max(2, int(megabytes) * 1_000_000 // len(streaming.event_bytes("image_generation.partial_image", b64, 0)))
    events = [streaming.event_bytes("image_generation.partial_image", b64, i % 3) for i in range(count - 1)]
    events.append(streaming.event_bytes("image_generation.completed", b64, None))
    server = streaming.RawServer("stream", events)
    body = json.dumps({"prompt": "p", "stream": True}).encode()
    streaming.floor_read(server.url, body)  # warm up
    if kind == "sdk":
        from openai import OpenAI

        sdk = OpenAI(api_key=KEY, base_url=server.url, max_retries=0)

        def consume() -> int:
            return sum(1 for _ in sdk.images.generate(prompt="p", model="gpt-image-2", stream=True))
    else:
        client = oi.OpenAIClient(api_key=KEY, base_url=server.url, proxies={}, max_retries=0)

        def consume() -> int:
            return sum(1 for _ in client.images.generate_stream(prompt="p"))

    consume()
    before = reset_peak_rss()
    floor_s, ours_s = median_of(
        7, lambda: timed_call(lambda: streaming.floor_read(server.url, body)), lambda: timed_call(consume)
    )
    return {
        "floor": floor_s,
        "seconds": ours_s,
        "rss_growth_mb": peak_rss_mb() - before,
        "event_mb": max(map(len, events)) / 1e6,
        "total_mb": sum(map(len, events)) / 1e6,
    }


def timed_call(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def bench_streaming(megabytes: int, sdk: Optional[str]) -> None:
    print(
        f"Streaming: ~{megabytes} MB of ~1 MB partial-image events, median of 7 interleaved rounds against the floor "
        "loop (read1, split on blank lines, json.loads) in the same process"
    )
    ours = child(sys.executable, "stream", "ours", str(megabytes))
    row("floor loop", f"{ours['floor']:.2f} s  {ours['total_mb'] / ours['floor']:.0f} MB/s", None, None, "baseline")
    row(
        "ImageStream",
        f"{ours['seconds']:.2f} s  {ours['total_mb'] / ours['seconds']:.0f} MB/s",
        ours["seconds"] / ours["floor"],
        1.3,
    )
    row(
        "ImageStream, peak RSS growth",
        f"{ours['rss_growth_mb']:.1f} MB (largest event {ours['event_mb']:.1f} MB)",
        None,
        None,
        "ok" if ours["rss_growth_mb"] < 4 * ours["event_mb"] + 8 else "MISSED",
    )
    if sdk:
        theirs = child(sdk, "stream", "sdk", str(megabytes))
        row("official SDK stream", f"{theirs['seconds']:.2f} s", theirs["seconds"] / theirs["floor"], None, "")
    else:
        row("official SDK stream", "not installed", None, None, "not measured")
    latencies = first_event_latencies(50)
    row(
        "first event after the server's flush (1 MB event)",
        f"p50 {statistics.median(latencies):.2f} ms, p99 {streaming.percentile(latencies, 0.99):.2f} ms",
        None,
        None,
        "ok" if statistics.median(latencies) < 5 else "MISSED (target < 5 ms)",
    )


def first_event_latencies(samples: int) -> List[float]:
    server = streaming.RawServer(
        "stream-hang", [streaming.event_bytes("image_generation.partial_image", "A" * 1_000_000, 0)]
    )
    client = oi.OpenAIClient(api_key=KEY, base_url=server.url, proxies={}, max_retries=0)
    latencies = []
    for _ in range(samples):
        stream = client.images.generate_stream(prompt="p")
        next(stream)
        latencies.append((time.perf_counter() - server.flushed_at[-1]) * 1000)
        stream.close()
    return latencies


# -- 4. per call -------------------------------------------------------------------------


def child_calls(kind: str, url: str, count: str) -> Dict[str, Any]:
    if kind == "sdk":
        from openai import OpenAI

        sdk = OpenAI(api_key=KEY, base_url=url, max_retries=0)

        def call() -> Any:
            return sdk.images.generate(prompt="a small cat", model="gpt-image-2")
    else:
        client = oi.OpenAIClient(api_key=KEY, base_url=url, proxies={}, max_retries=0)

        def call() -> Any:
            return client.images.generate(prompt="a small cat", model="gpt-image-2")

    for _ in range(20):
        call()
    started = time.perf_counter()
    for _ in range(int(count)):
        call()
    return {"per_second": int(count) / (time.perf_counter() - started)}


def bench_calls(count: int, rounds: int, sdk: Optional[str]) -> None:
    print(f"Per call: small non-streaming generate calls on loopback, {count} calls x {rounds} interleaved rounds")
    sink = Sink()
    try:
        ours, theirs = [], []
        for _ in range(rounds):
            ours.append(child(sys.executable, "calls", "ours", sink.url, str(count))["per_second"])
            if sdk:
                theirs.append(child(sdk, "calls", "sdk", sink.url, str(count))["per_second"])
        rate = statistics.median(ours)
        if theirs:
            sdk_rate = statistics.median(theirs)
            row("official SDK (keep-alive connection pool)", f"{sdk_rate:.0f} calls/s", None, None, "baseline")
            row(
                "OpenAIClient (a connection per call)",
                f"{rate:.0f} calls/s",
                sdk_rate / rate,
                None,
                "time per call vs the SDK",
            )
        else:
            row("OpenAIClient (a connection per call)", f"{rate:.0f} calls/s", None, None, "SDK not installed")
    finally:
        sink.close()


# -- 5. saving ------------------------------------------------------------------------------


def bench_saving(megabytes: int, runs: int) -> None:
    print(f"Saving: decode and write a {megabytes} MB base64 image, median of {runs} interleaved runs")
    directory = tempfile.mkdtemp(prefix="oi-save-")
    try:
        b64 = base64.b64encode(b"\x89PNG\r\n\x1a\n" + os.urandom(megabytes * 1_000_000)).decode()
        image = oi.Image(b64_json=b64)
        plain_path, ours_path = os.path.join(directory, "plain.png"), os.path.join(directory, "ours.png")

        def plain() -> float:
            started = time.perf_counter()
            with open(plain_path, "wb") as handle:
                handle.write(base64.b64decode(b64))
            return time.perf_counter() - started

        def ours() -> float:
            started = time.perf_counter()
            image.save(ours_path)
            return time.perf_counter() - started

        plain_s, ours_s = median_of(runs, plain, ours)
        row("base64.b64decode + open().write()", f"{plain_s * 1000:.1f} ms", None, None, "baseline")
        row("Image.save() (validating, atomic)", f"{ours_s * 1000:.1f} ms", ours_s / plain_s, 1.2)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# -- 6. bytes on the wire ------------------------------------------------------------------


def bench_wire() -> None:
    print("Bytes on the wire: a typical non-streaming response (one 1024x1024 PNG, ~1.6 MB), gzip as servers send it")
    png = b"\x89PNG\r\n\x1a\n" + zlib.compress(os.urandom(1_600_000), 9)  # PNG data is already compressed
    body = json.dumps(
        {
            "created": 1,
            "data": [{"b64_json": base64.b64encode(png).decode()}],
            "background": "opaque",
            "output_format": "png",
            "quality": "high",
            "size": "1024x1024",
            "usage": {"input_tokens": 50, "output_tokens": 4160, "total_tokens": 4210},
        }
    ).encode()
    packed = zlib.compress(body, 6)
    sent = oi.RequestBuilder(oi.OpenAIConfig(api_key=KEY)).build("POST", "/images/generations", body={"prompt": "p"})
    row("identity (no Accept-Encoding)", f"{len(body) / 1e6:.2f} MB", None, None, "baseline")
    row(
        f"gzip (the client sends Accept-Encoding: {sent.headers.get('Accept-Encoding')})",
        f"{len(packed) / 1e6:.2f} MB, {100 * (1 - len(packed) / len(body)):.0f}% saved",
        len(packed) / len(body),
        None,
        "",
    )


# -- main ----------------------------------------------------------------------------------


def find_sdk(given: Optional[str]) -> Optional[str]:
    for python in (given, os.environ.get("OPENAI_SDK_PYTHON"), sys.executable):
        if python and subprocess.run([python, "-c", "import openai"], capture_output=True).returncode == 0:
            return python
    return None


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        name, args = sys.argv[2], sys.argv[3:]
        if name == "sink":
            serve_sink()
            return
        runner = {"upload": child_upload, "stream": child_stream, "calls": child_calls}[name]
        print(json.dumps(runner(*args)))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer runs (a smoke test)")
    parser.add_argument("--sdk-python", help="a python with the official SDK installed, to compare with")
    parser.add_argument("--only", default="import,upload,streaming,calls,saving,wire")
    args = parser.parse_args()
    quick = args.quick
    sdk = find_sdk(args.sdk_python)
    only = set(args.only.split(","))
    print(
        f"openai-images {oi.__version__}; Python {sys.version.split()[0]} ({sys.implementation.name}) on "
        f"{sys.platform}, {os.cpu_count()} CPUs; official SDK: {sdk or 'not installed'}\n"
    )
    if "import" in only:
        bench_import(8 if quick else 30, sdk)
    if "upload" in only:
        bench_upload(4 if quick else 16, 5 if quick else 50, 1 if quick else 5, sdk)
    if "streaming" in only:
        bench_streaming(20 if quick else 200, sdk)
    if "calls" in only:
        bench_calls(50 if quick else 300, 1 if quick else 3, sdk)
    if "saving" in only:
        bench_saving(2 if quick else 20, 5 if quick else 15)
    if "wire" in only:
        bench_wire()
    print("\n| What | Measured | Ratio | Target | |\n|---|---|---|---|---|")
    for what, measured, ratio, target, verdict in ROWS:
        print(f"| {what} | {measured} | {ratio} | {target} | {verdict} |")


if __name__ == "__main__":
    main()
