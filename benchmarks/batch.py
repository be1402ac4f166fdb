"""Batch runner benchmarks (standard library only), on loopback, against the
test suite's fake server running in a process of its own.

    python benchmarks/batch.py [--only live,batch,resume,stop] [--jobs 90] [--shapes window,tokens,...]
                               [--batch-jobs 1000] [--image-bytes 1000000]

1. Live engine, one run per shape of limits (the fake server enforces and
   announces them as RateShape says): --jobs jobs (default 90), -j 8, calls of
   0.2-0.5 s. Each time is against the floor measured for that shape: (jobs -
   bucket) / refill rate with the bucket full at the start; for a limit that
   never binds, jobs x mean latency / concurrency. Also: the share of
   requests answered 429, the most calls in flight (<= 8), peak RSS growth.
2. Batch API engine: --batch-jobs jobs whose output file holds images of
   --image-bytes each: time vs copying the same file plus base64-decoding its
   images (measured in the same run), and peak RSS growth.
3. Resume: the live command killed with SIGKILL at five random points, then
   resumed: every job ends with one image set, and no job that had finished
   is requested again (the fake server's request log).
4. Stop: abort_trigger (what Ctrl-C sets) with 8 calls in flight -> run_batch
   returns, every call aborted.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any, Dict, List, Set, Tuple

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)


def serve(knobs: Dict[str, Any]) -> None:
    """The fake server in this process: print its URL, serve until stdin closes."""
    import test_openai_images as t

    api = t.server()
    api.rate_limit = t.RateShape(**knobs["shape"]) if knobs.get("shape") else None
    api.latency = tuple(knobs["latency"]) if knobs.get("latency") else None
    api.batch_image_bytes = knobs.get("image_bytes", 0)
    api.batch_files_dir = knobs.get("files_dir")
    print(api.url, flush=True)
    sys.stdin.read()


class Server:
    def __init__(self, **knobs: Any) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", json.dumps(knobs)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()

    def stats(self) -> Dict[str, int]:
        with urllib.request.urlopen(self.url + "/oi-stats", data=b"{}") as reply:
            return json.loads(reply.read())

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait()


def peak_rss_growth(work: Any) -> float:
    """Run ``work`` and return the growth of this process's peak RSS, in MB."""

    def status(key: str) -> int:
        with open("/proc/self/status") as handle:
            return int(next(line for line in handle if line.startswith(key)).split()[1])

    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # VmHWM := VmRSS
    before = status("VmRSS")
    work()
    return (status("VmHWM") - before) / 1024


def child(kind: str, url: str, directory: str, count: int, concurrency: int = 8) -> None:
    """One measured run in a fresh process: prints its seconds and peak RSS growth."""
    import openai_images as oi

    client = oi.OpenAIClient(api_key="sk-bench", base_url=url, proxies={}, max_retries=4)
    outcome: Dict[str, Any] = {}

    def work() -> None:
        started = time.perf_counter()
        finished: List[float] = []  # when the batch was seen completed: its files are ready upstream

        def progress(state: oi.BatchProgress) -> None:
            if state.status.startswith("completed") and not finished:
                finished.append(time.perf_counter())

        jobs = [f"image {i}" for i in range(count)]
        result = oi.run_batch(
            jobs,
            directory,
            client=client,
            batch_api=kind == "batch",
            poll_interval=0.05,
            on_progress=progress,
            concurrency=concurrency,
        )
        ended = time.perf_counter()
        outcome.update(seconds=ended - started, done=result.done, failed=len(result.failed_ids))
        outcome["exit"] = 0 if result.ok else 1
        outcome["processing"] = ended - finished[0] if finished else None

    outcome["rss_mb"] = peak_rss_growth(work)
    print(json.dumps(outcome))


def measured(kind: str, url: str, directory: str, count: int, concurrency: int = 8) -> Dict[str, Any]:
    line = subprocess.run(
        [sys.executable, __file__, "--child", kind, url, directory, str(count), str(concurrency)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return json.loads(line.splitlines()[-1])


# The shapes of limits a live batch meets (issue 20), with their targets:
# (RateShape arguments, target time ratio, target share of 429s).
SHAPES: Dict[str, Tuple[Dict[str, Any], float, float]] = {
    "window": ({"limit": 12, "window": 6.0}, 1.15, 0.02),  # full headers, a 6 s window
    "tokens": ({"limit": 1000, "window": 6.0, "tokens": 15000, "cost": 1050}, 1.15, 0.02),  # tokens bind
    "remaining": ({"limit": 12, "window": 6.0, "headers": "remaining"}, 1.3, 0.05),  # as Azure sends
    "none": ({"limit": 10, "window": 10 / 1.5, "headers": "none"}, 1.3, 0.10),  # only 429s and retry-after
    "unbound": ({"limit": 100000, "window": 1.0}, 1.3, 0.0),  # a limit that never binds
}
LATENCY = (0.2, 0.5)


def floor_of(shape: Dict[str, Any], jobs: int, concurrency: int) -> float:
    """The fastest a run can be: (jobs - bucket) / rate for the binding
    bucket; for a limit that never binds, jobs x mean latency / concurrency."""
    floors = [jobs * sum(LATENCY) / 2 / concurrency]
    for limit, cost in ((shape["limit"], 1.0), (shape.get("tokens", 0), shape.get("cost", 150))):
        if limit:
            bucket, rate = limit / cost, limit / cost / shape["window"]
            floors.append((jobs - bucket) / rate)
    return max(floors)


def bench_live(jobs: int, shapes: List[str], concurrency: int = 8) -> None:
    print(f"Live engine: {jobs} jobs, -j {concurrency}, calls of {LATENCY[0]}-{LATENCY[1]} s, per shape of limits")
    print("  shape      time     floor   ratio (target)   429s (target)   most in flight   peak RSS")
    for name in shapes:
        shape, ratio_target, share_target = SHAPES[name]
        server = Server(shape=shape, latency=list(LATENCY))
        with tempfile.TemporaryDirectory() as directory:
            outcome = measured("live", server.url, directory, jobs, concurrency)
        stats = server.stats()
        server.close()
        floor = floor_of(shape, jobs, concurrency)
        ratio = outcome["seconds"] / floor
        share = stats["limited"] / max(1, stats["images"])
        ok = ratio <= ratio_target and share <= share_target and stats["most_in_flight"] <= concurrency
        ok = ok and outcome["done"] == jobs and outcome["exit"] == 0
        print(
            f"  {name:<9} {outcome['seconds']:5.1f} s  {floor:5.1f} s  {ratio:5.2f}x (<= {ratio_target}x)"
            f"   {share:5.1%} (<= {share_target:.0%})   {stats['most_in_flight']:>2} (<= {concurrency})"
            f"      {outcome['rss_mb']:5.1f} MB   {'ok' if ok else 'MISSED'}"
        )


def bench_batch(jobs: int, image_bytes: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        server = Server(image_bytes=image_bytes, files_dir=directory)
        outcome = measured("batch", server.url, os.path.join(directory, "out"), jobs)
        # The baseline: the same output file on disk, copied, and its images base64-decoded.
        import openai_images as oi

        client = oi.OpenAIClient(api_key="sk-bench", base_url=server.url, proxies={})
        batches = oi._api_call(client, "GET", "/batches?limit=1")  # the batch just run
        file_id = batches["data"][0]["output_file_id"]
        source = os.path.join(directory, "output.jsonl")
        with urllib.request.urlopen(f"{server.url}/files/{file_id}/content") as reply, open(source, "wb") as out:
            shutil.copyfileobj(reply, out, 1 << 20)
        size = os.path.getsize(source)
        os.system("sync")
        started = time.perf_counter()
        shutil.copyfile(source, source + ".copy")
        copied = time.perf_counter() - started
        started = time.perf_counter()
        with open(source, "rb") as handle:
            for line in handle:
                for image in json.loads(line)["response"]["body"]["data"]:
                    base64.b64decode(image["b64_json"])
        decoded = time.perf_counter() - started
    server.close()
    floor = copied + decoded
    print(f"Batch API engine: {jobs} jobs, an output file of {size / 1e9:.2f} GB ({outcome['done']} done)")
    print(
        f"  processing the output (download, decode, save, manifest) {outcome['processing']:.1f} s vs cp "
        f"{copied:.1f} s + base64 decoding {decoded:.1f} s = {floor:.1f} s: {outcome['processing'] / floor:.2f}x "
        f"(target <= 1.5x); the whole run {outcome['seconds']:.1f} s"
    )
    print(f"  peak RSS growth: {outcome['rss_mb']:.1f} MB (target < 64 MB)")


def bench_resume(jobs: int = 60, kills: int = 5) -> None:
    import test_openai_images as t

    api = t.server()
    api.latency = (0.02, 0.1)
    rng = random.Random()
    env = t.cli_environment(api.url)
    with tempfile.TemporaryDirectory() as directory:
        prompts = os.path.join(directory, "prompts.txt")
        with open(prompts, "w") as handle:
            handle.writelines(f"prompt {i}\n" for i in range(jobs))
        out = os.path.join(directory, "out")
        command = [sys.executable, "-m", "openai_images", "batch", prompts, "-o", out, "-j", "6", "--quiet"]
        marks: List[Tuple[Set[str], int]] = []  # the jobs finished at each kill, and the requests so far
        for _ in range(kills):
            process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.2, 1.5))  # a random moment
            process.kill()
            process.wait()
            marks.append((set(t.done_ids(out)), len(api.requests)))
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
        repeated = sum(
            len({f"line-{int(p.split()[1]) + 1}" for p in t.prompts_sent(api, sent)} & finished)
            for finished, sent in marks
        )
        images = sorted(name for name in os.listdir(out) if name.endswith(".png"))
        complete = images == sorted(f"line-{i + 1}.png" for i in range(jobs))
        print(f"Resume: {kills} SIGKILLs at random moments, then a resumed run, {jobs} jobs")
        print(
            f"  every job has exactly one image set: {complete}; finished jobs requested again: {repeated} (target 0)"
        )
        print(f"  requests: {len(t.prompts_sent(api))} for {jobs} jobs (a job in flight at a kill is requested again)")


def bench_stop(rounds: int = 20) -> None:
    """Stopping a live run (what Ctrl-C does): abort_trigger set while 8 calls
    wait on a silent server -> run_batch returns, every call aborted."""
    import threading

    import openai_images as oi
    import test_openai_images as t

    api = t.server()
    client = oi.OpenAIClient(api_key="sk-bench", base_url=api.url, proxies={}, max_retries=0)
    latencies: List[float] = []
    with tempfile.TemporaryDirectory() as directory:
        for number in range(rounds):
            api.reset()
            api.queue(*[t.Action(hang=True)] * 8)
            stop = threading.Event()
            fired: List[float] = []

            def fire(stop: threading.Event = stop, fired: List[float] = fired) -> None:
                api.hanging.wait(30)
                while len(api.requests) < 8:
                    time.sleep(0.001)
                fired.append(time.perf_counter())
                stop.set()

            threading.Thread(target=fire, daemon=True).start()
            jobs = [f"p{i}" for i in range(8)]
            oi.run_batch(jobs, os.path.join(directory, str(number)), client=client, concurrency=8, abort_trigger=stop)
            latencies.append(time.perf_counter() - fired[0])
            api.release.set()
    ms = sorted(v * 1000 for v in latencies)
    print(f"Stopping a live run with 8 calls in flight (abort_trigger, as Ctrl-C), {rounds} times")
    print(f"  set -> run_batch returned: p50 {ms[len(ms) // 2]:.1f} ms, max {ms[-1]:.1f} ms (target < 50 ms)")


def main() -> None:
    if sys.argv[1:2] == ["--serve"]:
        serve(json.loads(sys.argv[2]))
        return
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="", help="comma-separated: live,batch,resume,stop")
    parser.add_argument("--jobs", type=int, default=90)
    parser.add_argument("--shapes", default=",".join(SHAPES), help=f"comma-separated: {','.join(SHAPES)}")
    parser.add_argument("--batch-jobs", type=int, default=1000)
    parser.add_argument("--image-bytes", type=int, default=1_000_000)
    args = parser.parse_args()
    only = set(filter(None, args.only.split(",")))
    print(f"Python {sys.version.split()[0]} on {sys.platform}, {os.cpu_count()} CPUs")
    if not only or "live" in only:
        bench_live(args.jobs, [name for name in args.shapes.split(",") if name])
    if not only or "batch" in only:
        bench_batch(args.batch_jobs, args.image_bytes)
    if not only or "resume" in only:
        bench_resume()
    if not only or "stop" in only:
        bench_stop()


if __name__ == "__main__":
    main()
