"""Tests for openai_images: a fake Images API on 127.0.0.1, real sockets, real files.

Run with ``python -m unittest -v test_openai_images`` (nothing to install), or pytest.
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import dataclasses
import email.parser
import email.policy
import functools
import gc
import importlib.util
import io
import json
import logging
import os
import random
import re
import select
import shutil
import signal
import socket
import socketserver
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import warnings
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, ClassVar, Dict, Iterable, Iterator, List, Optional, Set, Tuple
from urllib.parse import parse_qsl, unquote, urlsplit

import openai_images as oi

TEST_KEY = "sk-test-SECRET-4f9a2b7c1d"
CLI_MODEL = "gpt-image-2.5-flare"  # the command line's default model
TEST_KEY_TAIL = TEST_KEY[-12:]  # a key shown in part is shown too
HERE = os.path.dirname(os.path.abspath(__file__))


def make_png(width: int = 1, height: int = 1, seed: int = 0, text: str = "") -> bytes:
    """A real PNG (RGBA) of the given size, with ``text`` in a tEXt chunk if given."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + bytes((seed + i) % 256 for i in range(width * 4))
    raw = row * height
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    comment = chunk(b"tEXt", b"Comment\x00" + text.encode()) if text else b""
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + comment
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


PNG = make_png(2, 2)
PNG_B64 = base64.b64encode(PNG).decode()
JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF\x00" + b"jpegdata" * 4
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 24
USAGE = {
    "input_tokens": 50,
    "input_tokens_details": {"image_tokens": 40, "text_tokens": 10},
    "output_tokens": 100,
    "total_tokens": 150,
}


# =============================================================================
# The fake Images API
# =============================================================================


MULTIPART_PARAM = re.compile(r';\s*([^=;\s]+)=(?:"([^"]*)"|([^;\s]*))')


def parse_multipart(content_type: str, body: bytes) -> List[Tuple[str, Optional[str], str, bytes]]:
    """(name, filename, content type, payload) per part, parsed the way a strict
    WHATWG form-data server does: CRLF framing, quoted parameters without
    backslash escapes. Linear in the body size (the email package is not, on PyPy)."""
    boundary = content_type.split("boundary=", 1)[1].split(";", 1)[0].strip().strip('"').encode()
    end = b"--" + boundary + b"--\r\n"
    if not body.endswith(end):
        raise ValueError("malformed multipart framing: no closing delimiter")
    preamble, *chunks = body[: -len(end)].split(b"--" + boundary + b"\r\n")
    if preamble:
        raise ValueError("malformed multipart framing: bytes before the first delimiter")
    parts = []
    for chunk in chunks:
        if not chunk.endswith(b"\r\n"):
            raise ValueError("multipart part not followed by CRLF and a delimiter")
        chunk = chunk[:-2]
        head, separator, payload = chunk.partition(b"\r\n\r\n")
        if not separator:
            raise ValueError("multipart part without a blank line after its headers")
        headers = {}
        for line in head.decode("utf-8").split("\r\n"):
            key, colon, value = line.partition(":")
            if not colon:
                raise ValueError(f"malformed part header {line!r}")
            headers[key.strip().lower()] = value.strip()
        disposition = headers["content-disposition"]
        if not disposition.startswith("form-data"):
            raise ValueError(f"not form-data: {disposition!r}")
        params = {
            m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
            for m in MULTIPART_PARAM.finditer(disposition, len("form-data"))
        }
        parts.append((params["name"], params.get("filename"), headers.get("content-type", "text/plain"), payload))
    return parts


def email_parse_multipart(content_type: str, body: bytes) -> List[Tuple[str, Optional[str], str, bytes]]:
    """The same, by the standard library's email package: an independent oracle for the fuzzers."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    return [
        (
            part.get_param("name", header="content-disposition"),
            part.get_param("filename", header="content-disposition"),
            part.get_content_type(),
            part.get_payload(decode=True) or b"",
        )
        for part in message.iter_parts()
    ]


def go_duration(seconds: float) -> str:
    """A duration as OpenAI's rate-limit headers write it (Go's style, to the
    millisecond): ``850ms``, ``4.153s``, ``1m30.172s``, ``6m0s``."""
    millis = round(seconds * 1000)
    if millis < 1000:
        return f"{millis}ms"
    minutes, rest = divmod(millis, 60_000)
    text = f"{rest / 1000:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{minutes}m{text}" if minutes else text


class RateShape:
    """A server's rate limits, as the fake enforces them: ``limit`` requests
    per ``window`` seconds (a bucket of ``limit``, refilled continuously, full
    at the start), optionally a token bucket (``tokens`` per ``window``, each
    image costing ``cost`` tokens, reported in its usage), and the headers
    the server sends: ``full`` (limit, remaining, reset for each bucket),
    ``remaining`` (remaining only, as Azure sends) or ``none`` (only 429s
    with retry-after)."""

    def __init__(self, limit: float, window: float, tokens: float = 0, cost: int = 150, headers: str = "full") -> None:
        self.limits = {"requests": float(limit), "tokens": float(tokens)}
        self.window, self.cost, self.headers = window, cost, headers
        self.levels = dict(self.limits)
        self.at = 0.0

    def usage(self) -> Dict[str, Any]:
        return {**USAGE, "total_tokens": self.cost, "output_tokens": self.cost - USAGE["input_tokens"]}

    def take(self, now: float) -> Tuple[bool, float, Dict[str, str]]:
        """(allowed, seconds until it would be, the headers)."""
        elapsed, self.at = (now - self.at if self.at else 0.0), now
        needs = {"requests": 1.0, "tokens": float(self.cost)}
        waits = []
        for name, limit in self.limits.items():
            if limit:
                self.levels[name] = min(limit, self.levels[name] + elapsed * limit / self.window)
                waits.append(max(0.0, needs[name] - self.levels[name]) * self.window / limit)
        allowed = max(waits) == 0
        for name, limit in self.limits.items():
            if allowed and limit:
                self.levels[name] -= needs[name]
        return allowed, max(waits), self.header_values()

    def header_values(self) -> Dict[str, str]:
        headers: Dict[str, str] = {}
        for name, limit in self.limits.items():
            if not limit or self.headers == "none":
                continue
            level = self.levels[name]
            headers[f"x-ratelimit-remaining-{name}"] = str(int(level))
            if self.headers == "full":
                headers[f"x-ratelimit-limit-{name}"] = str(int(limit))
                headers[f"x-ratelimit-reset-{name}"] = go_duration((limit - level) * self.window / limit)
        return headers


class Recorded:
    """What the server received for one request."""

    def __init__(
        self, method: str, path: str, query: Dict[str, str], headers: Any, body: bytes, parse: bool = True
    ) -> None:
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.rate_headers: Dict[str, str] = {}  # the rate-limited mode's headers for the answer
        self.usage: Dict[str, Any] = USAGE  # what the answer reports (a token bucket charges images)
        self.json: Any = None
        self.fields: List[Tuple[str, str]] = []
        self.files: List[Tuple[str, Optional[str], str, bytes]] = []  # name, filename, type, payload
        ctype = headers.get("Content-Type", "") if parse else ""
        if ctype.startswith("application/json") and body:
            self.json = json.loads(body)
        elif ctype.startswith("multipart/form-data"):
            for name, filename, part_type, payload in parse_multipart(ctype, body):
                if filename is None:
                    self.fields.append((name, payload.decode("utf-8")))
                else:
                    self.files.append((name, filename, part_type, payload))

    @property
    def form(self) -> Dict[str, str]:
        return dict(self.fields)


class Action:
    """How the server answers one request (fault knobs)."""

    def __init__(
        self,
        status: int = 200,
        body: Any = None,
        headers: Optional[Dict[str, str]] = None,
        *,
        delay: float = 0.0,
        drop: bool = False,
        hang: bool = False,
        sse: Optional[Iterable[Any]] = None,
        chunked: Optional[bool] = None,
        truncate_after: Optional[int] = None,
        stall_after: Optional[int] = None,
        raw: Optional[Iterable[Any]] = None,
        early: Optional[str] = None,
        interim: Iterable[int] = (),
        before_reply: Optional[Callable[[], None]] = None,
    ) -> None:
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.delay = delay
        self.drop = drop  # reset the connection before answering
        self.hang = hang  # never answer (until the test releases the server)
        self.sse = sse  # an event stream: bytes pieces, floats (pauses), "HANG" or "CUT"; may be endless
        self.chunked = chunked  # transfer encoding; default: chunked for sse, Content-Length for a body
        self.truncate_after = truncate_after  # send this many body bytes, then reset
        self.stall_after = stall_after  # send this many body bytes, then stall
        self.raw = raw  # bytes written as they are, status line included (and pauses, "HANG", "CUT"); may be endless
        self.early = early  # answer before reading the body, then "close" the connection or keep it "open"
        self.interim = list(interim)  # 1xx interim responses sent before the final one (103 Early Hints)
        self.before_reply = before_reply  # run after the request is read, before answering


def sse_event(data: Any, event: Optional[str] = None, eol: str = "\n") -> bytes:
    text = data if isinstance(data, str) else json.dumps(data)
    lines = ([f"event: {event}"] if event else []) + [f"data: {text}"]
    return (eol.join(lines) + eol + eol).encode()


def image_events(
    kind: str = "image_generation", partials: int = 2, eol: str = "\n", named: bool = True, final: str = PNG_B64
) -> List[bytes]:
    events = []
    for index in range(partials):
        data = {
            "type": f"{kind}.partial_image",
            "b64_json": base64.b64encode(make_png(2, 2, seed=index + 1)).decode(),
            "created_at": 1,
            "size": "1254x1254",
            "quality": "high",
            "background": "opaque",
            "output_format": "png",
            "partial_image_index": index,
        }
        events.append(sse_event(data, f"{kind}.partial_image" if named else None, eol))
    completed = {
        "type": f"{kind}.completed",
        "b64_json": final,
        "created_at": 2,
        "size": "1024x1024",
        "quality": "high",
        "background": "opaque",
        "output_format": "png",
        "usage": USAGE,
    }
    events.append(sse_event(completed, f"{kind}.completed" if named else None, eol))
    return events


class FakeImagesAPI:
    """A faithful fake of the Images API on 127.0.0.1 that records every request
    and answers from a script of ``Action``s (then like the real API)."""

    def __init__(self, tls: Optional[ssl.SSLContext] = None) -> None:
        self.requests: List[Recorded] = []
        self.script: List[Action] = []
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.arrived = threading.Event()  # a request's headers were read
        self.replied = threading.Event()  # an answer's status line and headers were sent
        self.hanging = threading.Event()  # the server holds a connection without answering further
        self.counter = 0
        self.connections = 0
        self.echo = False  # answer with images that carry the request's prompt (load tests)
        # The Files and Batches APIs: uploaded files, and batches that move one status per GET.
        self.files: Dict[str, bytes] = {}
        self.file_info: Dict[str, Dict[str, Any]] = {}
        self.batches: Dict[str, Dict[str, Any]] = {}
        self.batch_plan = "completed"  # or "failed", "expired"; a cancel makes "cancelled"
        self.batch_image_bytes = 0  # the size of each image in batch outputs (0: a tiny PNG)
        self.batch_files_dir: Optional[str] = None  # write finished batches' files here, then serve them from disk
        self.batch_at_once = False  # a batch ends at its first poll (tests that only need the outcome)
        self.id_prefix = ""  # before the number of every file and batch id (hostile ids: "../", NUL, 300 chars)
        self.tear_downloads: List[str] = []  # how the next downloads of batch files end early: "torn" or "short"
        # A rate-limited mode: the limits of a RateShape, enforced and announced as its shape says.
        self.rate_limit: Optional[RateShape] = None
        self.latency: Optional[Tuple[float, float]] = None  # each images call takes a random time in this range
        self.limited = 0  # 429s sent
        self.in_flight = self.most_in_flight = 0  # images calls being answered (with latency), and the most at once
        api = self

        class HandlerClass(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                api.handle(self)

            do_GET = do_POST

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 128  # many clients connect at once in the load test

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # clients that abort or time out reset connections on purpose

            def finish_request(self, request: Any, client_address: Any) -> None:
                if tls is None:
                    return super().finish_request(request, client_address)
                with tls.wrap_socket(request, server_side=True) as secure:  # the handshake, in this thread
                    super().finish_request(secure, client_address)

        self.server = Server(("127.0.0.1", 0), HandlerClass)
        self.thread = threading.Thread(
            target=self.server.serve_forever, args=(0.02,), daemon=True
        )  # shutdown() waits a poll
        self.thread.start()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.script.clear()
            self.counter = 0
            self.echo = False
            self.files.clear()
            self.file_info.clear()
            self.batches.clear()
            self.batch_plan, self.batch_image_bytes, self.batch_at_once = "completed", 0, False
            self.id_prefix, self.tear_downloads = "", []
            self.rate_limit, self.latency, self.limited = None, None, 0
            self.in_flight = self.most_in_flight = 0
        for event in (self.release, self.arrived, self.replied, self.hanging):
            event.clear()

    def queue(self, *actions: Action) -> None:
        with self.lock:
            self.script.extend(actions)

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        self.arrived.set()
        with self.lock:
            action = self.script.pop(0) if self.script else None
        early = action is not None and action.early
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length and not early else b""
        parts = urlsplit(h.path)
        record = Recorded(h.command, parts.path, dict(parse_qsl(parts.query)), h.headers, body, parse=not early)
        with self.lock:
            self.requests.append(record)
            self.counter += 1
            request_id = f"req_{self.counter}"
        if action is None and "/images/" in record.path and self.rate_limit:
            action = self.rate_limited(record)
        if action is None and "/images/" in record.path and self.latency:
            with self.lock:
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
            time.sleep(random.uniform(*self.latency))
            with self.lock:
                self.in_flight -= 1
        if action is None:
            action = self.default_action(record)
        if action.before_reply is not None:
            action.before_reply()
        if action.delay:
            time.sleep(action.delay)
        if action.hang:
            self.hanging.set()
            self.release.wait(30)
            h.close_connection = True
            return
        if action.drop:
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)
            return
        headers = {"x-request-id": request_id, "Connection": "close", **action.headers}  # no keep-alive here
        h.close_connection = True
        try:
            if action.raw is not None:
                self.replied.set()
                self.write_pieces(h, action.raw, chunked=False)
                return
            if action.sse is not None:
                headers = {"Content-Type": "text/event-stream", **headers, "Connection": "close"}
                self.send_pieces(h, action.status, headers, action.sse, action.chunked is not False)
                return
            payload = action.body
            if isinstance(payload, (dict, list)):
                payload = json.dumps(payload).encode()
                headers.setdefault("Content-Type", "application/json")
            elif isinstance(payload, str):
                payload = payload.encode()
            payload = payload or b""
            cut = action.truncate_after if action.truncate_after is not None else action.stall_after
            pieces: List[Any] = (
                [payload] if cut is None else [payload[:cut], "CUT" if action.stall_after is None else "HANG"]
            )
            if action.early:
                headers["Connection"] = "close"
            self.send_pieces(h, action.status, headers, pieces, bool(action.chunked), len(payload), action.interim)
            if action.early == "open":  # the socket stays open and unread
                self.hanging.set()
                self.release.wait(30)
        except OSError:
            pass  # the client went away: expected in fault tests

    def send_pieces(
        self,
        h: BaseHTTPRequestHandler,
        status: int,
        headers: Dict[str, str],
        pieces: Iterable[Any],
        chunked: bool,
        length: Optional[int] = None,
        interim: Iterable[int] = (),
    ) -> None:
        """Send a status, headers and a body piece by piece: bytes, pauses
        (floats), "HANG" (wait for release) or "CUT" (reset the connection)."""
        for code in interim:
            h.wfile.write(b"HTTP/1.1 %d Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n" % code)
        h.send_response(status)
        for name, value in headers.items():
            h.send_header(name, value)
        if chunked:
            h.send_header("Transfer-Encoding", "chunked")
        elif length is not None:
            h.send_header("Content-Length", str(length))
        h.end_headers()
        h.wfile.flush()
        self.replied.set()
        if self.write_pieces(h, pieces, chunked) and chunked:
            h.wfile.write(b"0\r\n\r\n")

    def write_pieces(self, h: BaseHTTPRequestHandler, pieces: Iterable[Any], chunked: bool) -> bool:
        """Write body pieces: bytes, pauses (floats), "HANG" (wait for release)
        or "CUT" (reset the connection, then False)."""
        for piece in pieces:
            if isinstance(piece, (int, float)):
                time.sleep(piece)
            elif piece == "HANG":
                self.hanging.set()
                self.release.wait(30)
            elif piece == "CUT":
                h.wfile.flush()
                h.connection.shutdown(socket.SHUT_RDWR)
                return False
            elif chunked and piece:  # (an empty chunk would end the body)
                h.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            else:
                h.wfile.write(piece)
            h.wfile.flush()
        return True

    def rate_limited(self, record: Recorded) -> Optional[Action]:
        """Take a request (and its tokens) from the buckets of ``rate_limit``,
        or answer 429, with the headers its shape sends; None: go on."""
        shape = self.rate_limit
        assert shape is not None
        with self.lock:
            allowed, wait, headers = shape.take(time.monotonic())
            self.limited += not allowed
        record.rate_headers = headers
        record.usage = shape.usage()
        if allowed:
            return None
        if shape.headers != "remaining":  # Azure-like servers send remaining counts only
            headers = {**headers, "retry-after-ms": str(int(wait * 1000) + 1), "retry-after": str(int(wait) + 1)}
        error = {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}
        return Action(429, error, headers=headers)

    def default_action(self, record: Recorded) -> Action:
        """Answer like the real API: images as base64, usage, metadata."""
        if record.path.startswith(("/v1/files", "/v1/batches")):
            return self.batch_action(record)
        if record.path == "/v1/oi-stats":  # for benchmarks that run this server in another process
            images = sum(1 for record in self.requests if "/images/" in record.path)
            stats = {"requests": len(self.requests), "images": images, "limited": self.limited}
            return Action(body={**stats, "most_in_flight": self.most_in_flight})
        params: Dict[str, Any] = record.json if record.json is not None else record.form
        image = base64.b64encode(make_png(2, 2, text=str(params.get("prompt")))).decode() if self.echo else PNG_B64
        if str(params.get("stream")).lower() == "true":
            kind = "image_edit" if record.path.endswith("/edits") else "image_generation"
            return Action(sse=image_events(kind, int(params.get("partial_images") or 2), final=image))
        n = int(params.get("n") or 1)
        body: Dict[str, Any] = {"created": 1700000000, "data": [{"b64_json": image} for _ in range(n)]}
        if not record.path.endswith("/variations"):
            body.update(
                background="opaque",
                output_format=params.get("output_format") or "png",
                quality="high",
                size=params.get("size") or "1024x1024",
                usage=record.usage,
            )
        return Action(body=body, headers=record.rate_headers)

    def batch_action(self, record: Recorded) -> Action:
        """The Files and Batches endpoints, as the reference describes them."""
        parts = [unquote(part) for part in record.path.split("/")[2:]]  # files, {id}, content | batches, {id}, cancel
        with self.lock:
            number = f"{self.id_prefix}{len(self.files) + len(self.batches) + 1}"
        if parts == ["files"] and record.method == "POST":
            _field, filename, _type, content = record.files[0]
            file_id = f"file-{number}"
            self.files[file_id] = content
            self.file_info[file_id] = info = {
                "id": file_id,
                "object": "file",
                "bytes": len(content),
                "created_at": 1,
                "filename": filename,
                "purpose": record.form.get("purpose"),
                "expires_at": None,
            }
            return Action(body=info)
        if parts == ["files"]:  # the list, newest first, paginated as the API does
            return Action(body=self.listing(list(reversed(self.file_info.values())), record.query))
        if parts[0] == "files" and parts[2:] == ["content"]:
            if parts[1] not in self.files and not parts[1].startswith("file-out-"):
                return Action(404, {"error": {"message": "No such file", "code": None}})
            with self.lock:
                tear = self.tear_downloads.pop(0) if self.tear_downloads else None
            if tear is not None:  # a download that ends early: "torn" mid-line, or "short" of its Content-Length
                content = b"".join(self.batch_output(parts[1]))
                cut = content.rindex(b"\n", 0, len(content) - 1) + 20
                if tear == "torn":
                    return Action(sse=[content[:cut]], headers={"Content-Type": "application/octet-stream"})
                return Action(body=content, truncate_after=cut, headers={"Content-Type": "application/octet-stream"})
            return Action(sse=self.batch_output(parts[1]), headers={"Content-Type": "application/octet-stream"})
        if parts == ["batches"] and record.method == "POST":
            batch_id = f"batch_{number}"
            lines = [json.loads(line) for line in self.files[record.json["input_file_id"]].splitlines() if line]
            self.batches[batch_id] = batch = {
                "id": batch_id,
                "object": "batch",
                "endpoint": record.json["endpoint"],
                "errors": None,
                "input_file_id": record.json["input_file_id"],
                "completion_window": "24h",
                "status": "validating",
                "output_file_id": None,
                "error_file_id": None,
                "created_at": 1,
                "metadata": record.json.get("metadata"),
                "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
                "oi_lines": lines,
                "oi_plan": self.batch_plan,
                "oi_key": record.headers.get("Authorization", "").split(" ")[-1],
            }
            return Action(body=self.public(batch))
        if parts == ["batches"]:  # the list, newest first
            return Action(body=self.listing([self.public(b) for b in reversed(self.batches.values())], record.query))
        batch = self.batches.get(parts[1])
        if batch is None:
            return Action(404, {"error": {"message": "No such batch", "code": None}})
        if parts[2:] == ["cancel"] and (record.body or record.headers.get("Content-Type")):
            # The published spec gives cancel no request body: a validating server refuses one
            return Action(415, {"error": {"message": "the cancel operation takes no request body", "code": None}})
        if parts[2:] == ["cancel"]:
            batch["status"] = "cancelling"
        elif batch["status"] not in ("completed", "failed", "expired", "cancelled"):
            self.advance(batch)
        return Action(body=self.public(batch))

    @staticmethod
    def listing(items: List[Dict[str, Any]], query: Dict[str, str]) -> Dict[str, Any]:
        """A page of a list: ``limit`` items (default 20) after the id ``after``."""
        ids = [item["id"] for item in items]
        start = ids.index(query["after"]) + 1 if query.get("after") in ids else 0
        page = items[start : start + int(query.get("limit", 20))]
        first, last = (page[0]["id"], page[-1]["id"]) if page else (None, None)
        has_more = start + len(page) < len(items)
        return {"object": "list", "data": page, "has_more": has_more, "first_id": first, "last_id": last}

    @staticmethod
    def public(batch: Dict[str, Any]) -> Dict[str, Any]:
        return {key: value for key, value in batch.items() if not key.startswith("oi_")}

    def advance(self, batch: Dict[str, Any]) -> None:
        """One step of a batch's life per poll, as its plan says."""
        plan = {
            "completed": ["validating", "in_progress", "finalizing", "completed"],
            "expired": ["validating", "in_progress", "expired"],
            "failed": ["validating", "failed"],
        }
        steps = ["cancelling", "cancelled"] if batch["status"] == "cancelling" else plan[batch["oi_plan"]]
        batch["status"] = status = steps[-1 if self.batch_at_once else steps.index(batch["status"]) + 1]
        if status == "failed":
            batch["errors"] = {
                "object": "list",
                "data": [
                    {"code": "invalid_url", "line": 1, "param": "url", "message": "the url does not match the endpoint"}
                ],
            }
        if status in ("completed", "expired", "cancelled"):
            outcomes = [self.batch_line(batch, index, line) for index, line in enumerate(batch["oi_lines"])]
            batch["oi_outcomes"] = outcomes
            batch["output_file_id"] = f"file-out-{batch['id']}"
            if any(kind == "error" for kind, _ in outcomes):
                batch["error_file_id"] = f"file-out-{batch['id']}-errors"
            ok = sum(1 for kind, line in outcomes if kind == "output" and line["response"]["status_code"] == 200)
            batch["request_counts"].update(completed=ok, failed=len(outcomes) - ok)
            if self.batch_files_dir:
                self.save_outputs(batch, self.batch_files_dir)

    def batch_line(self, batch: Dict[str, Any], index: int, line: Dict[str, Any]) -> Tuple[str, Dict[str, Any]]:
        """Where a request of a batch ends ("output" or "error"), and its line."""
        body, custom_id = line["body"], line["custom_id"]
        late = index >= len(batch["oi_lines"]) // 2
        if batch["status"] in ("expired", "cancelled") and late:
            code = f"batch_{batch['status']}"
            error = {"code": code, "message": "This request could not be executed before the window closed."}
            return "error", {"id": f"batch_req_{index}", "custom_id": custom_id, "response": None, "error": error}
        response: Dict[str, Any] = {"status_code": 200, "request_id": f"req_b{index}"}
        if "ECHOKEY" in str(body.get("prompt")):  # an error that quotes the key the batch was created with
            error = {"message": f"Incorrect API key provided: {batch['oi_key']}", "code": "invalid_api_key"}
            response.update(status_code=401, body={"error": error})
        elif "BADB64" in str(body.get("prompt")):
            response["body"] = {"created": 1, "data": [{"b64_json": "not base64!"}]}
        elif "HOSTILE" in str(body.get("prompt")):  # an error whose text would attack a terminal or a file
            message = f"\x1b[2J\x1b]0;pwned\x07line1\r\nline2 {batch['oi_key']} " + "x" * 5000
            error = {"message": message, "code": "\x1b[31mcode\x00" + "c" * 500}
            response.update(status_code=400, request_id="req\x1b[1m\n" + "r" * 500, body={"error": error})
        elif "BIGLINE" in str(body.get("prompt")):
            response["body"] = {"created": 1, "data": [{"b64_json": "BIGIMAGE"}]}
        elif "REJECT" in str(body.get("prompt")):
            error = {
                "message": "Your request was rejected",
                "type": "invalid_request_error",
                "code": "moderation_blocked",
            }
            response.update(status_code=400, body={"error": error})
        else:
            data = [{"b64_json": "IMAGE", "revised_prompt": f"revised {body.get('prompt')}"}] * int(body.get("n") or 1)
            response["body"] = {"created": 1, "data": data, "usage": USAGE}
        return "output", {"id": f"batch_req_{index}", "custom_id": custom_id, "response": response, "error": None}

    def batch_output(self, file_id: str) -> Iterator[bytes]:
        """An output or error file, line by line (most recent first: not in
        input order), its images generated as it is sent: it may be gigabytes."""
        if not file_id.startswith("file-out-"):
            yield self.files[file_id]
            return
        batch_id, _, errors = file_id[len("file-out-") :].partition("-")
        saved = self.batches[batch_id].get("oi_saved", {}).get(file_id)
        if saved is not None:  # written when the batch finished: served at disk speed
            with open(saved, "rb") as handle:
                yield from iter(lambda: handle.read(1 << 20), b"")
            return
        image = make_png(2, 2) if not self.batch_image_bytes else PNG[:8] + b"\0" * self.batch_image_bytes
        b64 = json.dumps(base64.b64encode(image).decode())
        for kind, line in reversed(self.batches[batch_id]["oi_outcomes"]):
            if kind == ("error" if errors else "output"):
                text = json.dumps(line)
                if '"BIGIMAGE"' in text:  # (made only for the line that asks: the fake's memory is measured too)
                    text = text.replace('"BIGIMAGE"', json.dumps(base64.b64encode(PNG[:8] + b"\0" * 300_000).decode()))
                yield text.replace('"IMAGE"', b64).encode() + b"\n"

    def save_outputs(self, batch: Dict[str, Any], directory: str) -> None:
        """Write a finished batch's files to ``directory`` (benchmarks: the files are gigabytes)."""
        saved = {}
        for key in ("output_file_id", "error_file_id"):
            if batch[key]:
                path = saved[batch[key]] = os.path.join(directory, batch[key])
                with open(path, "wb") as handle:
                    handle.writelines(self.batch_output(batch[key]))
        batch["oi_saved"] = saved


SERVER: Optional[FakeImagesAPI] = None


def server() -> FakeImagesAPI:
    global SERVER
    if SERVER is None:
        SERVER = FakeImagesAPI()
    return SERVER


# -- the secrets sweep: every test runs with DEBUG logs captured and every
# expected exception inspected; the test key must show up in none of them.

CAPTURED_LOGS: List[str] = []


class CaptureLogs(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        CAPTURED_LOGS.append(self.format(record))


LOG_CAPTURE = CaptureLogs()


def setUpModule() -> None:
    oi.logger.addHandler(LOG_CAPTURE)
    oi.logger.setLevel(logging.DEBUG)


def tearDownModule() -> None:
    oi.logger.removeHandler(LOG_CAPTURE)
    oi.logger.setLevel(logging.NOTSET)
    for fake in (SERVER, TLS_SERVER):
        if fake is not None:
            fake.close()
    leaked = [line for line in CAPTURED_LOGS if TEST_KEY in line or TEST_KEY_TAIL in line]
    if leaked:
        raise AssertionError(f"the API key appeared in {len(leaked)} log lines, e.g. {leaked[0][:300]!r}")


def assert_key_hidden(exc: BaseException) -> None:
    """The key is in no part of an exception a user could print: message,
    repr, args, body, request/response reprs, the chain, the traceback."""
    import traceback

    seen: List[str] = ["".join(traceback.format_exception(type(exc), exc, exc.__traceback__))]
    current: Optional[BaseException] = exc
    while current is not None:
        seen += [str(current), repr(current), repr(current.args)]
        for name in ("body", "message", "request", "response", "events"):
            seen.append(repr(getattr(current, name, None)))
        current = current.__cause__ or current.__context__
    for text in seen:
        if TEST_KEY in text or TEST_KEY_TAIL in text:
            raise AssertionError(f"the API key appears in an exception: {text[:300]!r}")


class KeyCheckingContext:
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __enter__(self) -> Any:
        return self.inner.__enter__()

    def __exit__(self, *exc_info: Any) -> bool:
        handled = bool(self.inner.__exit__(*exc_info))
        if handled:
            assert_key_hidden(self.inner.exception)
        return handled


# With OPENAI_IMAGES_TEST_TIMES=PATH, each test's wall time is appended to PATH
# (CI prints the slowest once, so that a regression shows).
TEST_TIMES = os.environ.get("OPENAI_IMAGES_TEST_TIMES")


class TestCase(unittest.TestCase):
    """unittest.TestCase whose ``with self.assertRaises(...)`` also checks the
    caught exception for the API key."""

    def run(self, result: Any = None) -> Any:
        started = time.monotonic()
        try:
            return super().run(result)
        finally:
            if TEST_TIMES:
                with open(TEST_TIMES, "a", encoding="utf-8") as times:
                    times.write(f"{time.monotonic() - started:.2f} {self.id()}\n")

    def assertRaises(self, expected: Any, *args: Any, **kwargs: Any) -> Any:
        if args:
            return super().assertRaises(expected, *args, **kwargs)
        return KeyCheckingContext(super().assertRaises(expected, **kwargs))


def fire_when(event: threading.Event, action: Callable[[], Any]) -> None:
    """Run ``action`` in another thread once ``event`` is set (an event from the
    fake server or the client's log), never after a fixed delay."""

    def run() -> None:
        if event.wait(30):
            action()

    threading.Thread(target=run, daemon=True).start()


class LogWatch(logging.Handler):
    """``event`` is set when the library logs a message containing ``text``."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.event = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.event.set()


def log_event(test: unittest.TestCase, text: str) -> threading.Event:
    watch = LogWatch(text)
    oi.logger.addHandler(watch)
    test.addCleanup(oi.logger.removeHandler, watch)
    return watch.event


FAST_RETRIES = oi.RetryPolicy(max_retries=2, initial_delay=0.01, max_delay=0.05)


def field_names(cls: Any) -> List[str]:
    return [spec.name for spec in dataclasses.fields(cls)]


def open_fds() -> Optional[int]:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


# Where the tests' subprocesses keep their bytecode, outside the work tree: the
# 8,000-line module is compiled once per test run, not once per subprocess,
# even when the runner inherited PYTHONDONTWRITEBYTECODE=1.
SUBPROCESS_PYCACHE = os.path.join(tempfile.gettempdir(), f"openai-images-test-pycache-{getattr(os, 'getuid', int)()}")


def cli_environment(base_url: str, env: Optional[Dict[str, Optional[str]]] = None) -> Dict[str, str]:
    """The environment of a CLI subprocess: this process's without OPENAI_* and
    SSL_CERT_*, with the test key, ``base_url`` and this directory on
    PYTHONPATH, bytecode in ``SUBPROCESS_PYCACHE``, then ``env`` (a ``None``
    value removes a variable)."""
    environment: Dict[str, Optional[str]] = {
        k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SSL_CERT", "PYTHONDONTWRITEBYTECODE"))
    }
    environment.update(OPENAI_API_KEY=TEST_KEY, OPENAI_BASE_URL=base_url, PYTHONPATH=HERE)
    environment.update(PYTHONPYCACHEPREFIX=SUBPROCESS_PYCACHE)
    environment.update(env or {})
    return {k: v for k, v in environment.items() if v is not None}


# ``python -m openai_images`` with Ctrl-C's default behaviour, whatever the test
# runner inherited: a parent that ignores SIGINT (``cmd &`` in a script, nohup,
# some CI agents) passes that on, and Python then installs no KeyboardInterrupt.
CLI_WITH_DEFAULT_SIGNALS = [
    sys.executable,
    "-c",
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_module('openai_images', run_name='__main__', alter_sys=True)",
]


def run_cli(
    *args: str, base_url: str, env: Optional[Dict[str, Optional[str]]] = None, **options: Any
) -> subprocess.CompletedProcess[Any]:
    """``python -m openai_images ARGS`` against ``base_url``: the one way the
    tests run the command line (``options`` go to ``subprocess.run``)."""
    options.setdefault("timeout", 60)
    if "stdout" not in options and "stderr" not in options:
        options.setdefault("capture_output", True)
    return subprocess.run([sys.executable, "-m", "openai_images", *args], env=cli_environment(base_url, env), **options)


class CLIResult:
    """What ``main(argv)`` did in this process: its exit status and what it wrote."""

    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr

    def __repr__(self) -> str:
        return f"<CLIResult {self.returncode} stdout={self.stdout[-300:]!r} stderr={self.stderr[-600:]!r}>"


CLI_LOCK = threading.Lock()  # main() owns the process's standard streams and environment while it runs


def main_in_process(
    *args: str,
    base_url: str,
    env: Optional[Dict[str, Optional[str]]] = None,
    cwd: Optional[str] = None,
    stdin: str = "",
) -> CLIResult:
    """The command line's logic, run by ``main(argv)`` in this process with
    redirected streams and the environment ``run_cli`` gives a subprocess:
    exit codes, messages, output naming and ``--json`` shapes, without the
    cost of a process. (What only a process shows stays with ``run_cli``.)"""
    environment = cli_environment(base_url, env)
    out, err = io.StringIO(), io.StringIO()
    with CLI_LOCK:
        saved_env, saved_dir = dict(os.environ), os.getcwd()
        saved_term, saved_stdin = signal.getsignal(signal.SIGTERM), sys.stdin
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin.encode()), encoding="utf-8")
        os.environ.clear()
        os.environ.update(environment)
        try:
            if cwd:
                os.chdir(cwd)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = oi.main(list(args))
                except SystemExit as exit:  # argparse's usage errors and --help
                    code = exit.code if isinstance(exit.code, int) else 2
        finally:
            os.chdir(saved_dir)
            os.environ.clear()
            os.environ.update(saved_env)
            signal.signal(signal.SIGTERM, saved_term)
            sys.stdin = saved_stdin
    return CLIResult(code, out.getvalue(), err.getvalue())


class ServerTestCase(TestCase):
    """Each test gets a reset fake server and a client pointed at it."""

    def setUp(self) -> None:
        self.api = server()
        self.api.reset()
        self.threads_before = threading.active_count()
        self.fds_before = open_fds()
        self.addCleanup(self.assert_no_leaks)  # the first cleanup added runs last, after the others
        self.client = self.make_client()

    def tearDown(self) -> None:
        self.api.release.set()
        self.client.close()

    def make_client(self, **kwargs: Any) -> oi.OpenAIClient:
        config = oi.OpenAIConfig(
            api_key=kwargs.pop("api_key", TEST_KEY),
            base_url=kwargs.pop("base_url", self.api.url),
            retry_policy=kwargs.pop("retry_policy", FAST_RETRIES),
            timeout=kwargs.pop("timeout", oi.Timeout(connect=5, read=10)),
            proxies={},
            **kwargs,
        )
        return oi.OpenAIClient(config=config)

    def assert_no_leaks(self) -> None:
        """No thread started by the library is alive and no socket is left open."""
        self.api.release.set()  # let hanging server handlers close their side
        deadline = time.monotonic() + 5
        while True:
            names = [t.name for t in threading.enumerate() if t.name in ("openai-images-watch", "openai-images-async")]
            fds = open_fds()
            if not names and (fds is None or self.fds_before is None or fds <= self.fds_before):
                return
            if time.monotonic() > deadline:
                break
            gc.collect()  # only when something is left: PyPy closes dropped objects when it collects them
            time.sleep(0.02)
        self.assertEqual(names, [], "watcher threads left behind")
        if fds is not None and self.fds_before is not None:
            self.assertLessEqual(fds, self.fds_before, "file descriptors left open")

    @property
    def last(self) -> Recorded:
        return self.api.requests[-1]


# =============================================================================
# Configuration
# =============================================================================


class ConfigTests(TestCase):
    ENV = (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "OPENAI_ORG_ID",
        "OPENAI_PROJECT_ID",
        "OPENAI_API_VERSION",
        "AZURE_OPENAI_API_KEY",
        "AZURE_OPENAI_ENDPOINT",
        "AZURE_OPENAI_AD_TOKEN",
    )

    def setUp(self) -> None:
        self.saved = {name: os.environ.pop(name, None) for name in self.ENV}

    def tearDown(self) -> None:
        for name, value in self.saved.items():
            os.environ.pop(name, None)
            if value is not None:
                os.environ[name] = value

    def test_settings_are_frozen_as_frozen_dataclasses_are(self) -> None:
        """The settings and ImageReference refuse changes as frozen dataclasses
        do, dataclasses sees them as frozen (a frozen subclass works, a
        non-frozen one is refused), and copies, pickles, replace() and hash work."""
        import copy
        import pickle

        values = [oi.Timeout(1), oi.RetryPolicy(), oi.OpenAIConfig(api_key=TEST_KEY), oi.ImageReference(file_id="f-1")]
        for value in values:
            with self.subTest(type(value).__name__):
                name = dataclasses.fields(value)[0].name
                with self.assertRaises(dataclasses.FrozenInstanceError):
                    setattr(value, name, None)
                with self.assertRaises(dataclasses.FrozenInstanceError):
                    delattr(value, name)
                with self.assertRaises(dataclasses.FrozenInstanceError):
                    value.unknown = 1  # type: ignore[attr-defined]
                self.assertTrue(type(value).__dataclass_params__.frozen)  # type: ignore[attr-defined]
                for same in (copy.deepcopy(value), pickle.loads(pickle.dumps(value)), dataclasses.replace(value)):
                    self.assertEqual(same, value)
                    if not isinstance(value, oi.OpenAIConfig):  # (its mappings make it unhashable)
                        self.assertEqual(hash(same), hash(value))

        @dataclasses.dataclass(frozen=True)
        class Tagged(oi.Timeout):
            tag: str = ""

        with self.assertRaises(dataclasses.FrozenInstanceError):
            Tagged(1, tag="t").tag = "u"  # type: ignore[misc]
        with self.assertRaises(TypeError):
            dataclasses.dataclass(type("Loose", (oi.Timeout,), {"__annotations__": {"x": "int"}, "x": 0}))

        class Plain(oi.Timeout):
            pass

        plain = Plain(1)
        plain.note = 1  # type: ignore[attr-defined]  # a plain subclass may add attributes, not change fields
        with self.assertRaises(dataclasses.FrozenInstanceError):
            plain.read = 2  # type: ignore[misc]

    def test_environment_is_read_and_empty_means_unset(self) -> None:
        os.environ.update(OPENAI_API_KEY=TEST_KEY, OPENAI_BASE_URL="", OPENAI_ORG_ID="org-1", OPENAI_PROJECT_ID="")
        config = oi.OpenAIConfig.from_env()
        self.assertEqual(config.api_key, TEST_KEY)
        self.assertEqual(config.base_url, oi.DEFAULT_BASE_URL)
        self.assertEqual(config.organization, "org-1")
        self.assertIsNone(config.project)

    def test_keyword_arguments_win_over_environment(self) -> None:
        os.environ.update(OPENAI_API_KEY="sk-env", OPENAI_BASE_URL="https://env.example/v1")
        client = oi.OpenAIClient(api_key=TEST_KEY, base_url="https://kw.example/v1", max_retries=5, timeout=7)
        self.assertEqual(client.config.api_key, TEST_KEY)
        self.assertEqual(client.config.base_url, "https://kw.example/v1")
        self.assertEqual(client.config.retry_policy.max_retries, 5)
        self.assertEqual(client.config.timeout, oi.Timeout(7, 7))

    def test_missing_key_is_a_clear_error_before_any_traffic(self) -> None:
        api = server()
        api.reset()
        with self.assertRaises(oi.OpenAIError) as caught:
            oi.OpenAIClient(base_url=api.url)
        self.assertIn("OPENAI_API_KEY", str(caught.exception))
        self.assertEqual(api.requests, [])

    def test_empty_key_counts_as_missing(self) -> None:
        os.environ["OPENAI_API_KEY"] = ""
        with self.assertRaises(oi.OpenAIError):
            oi.OpenAIClient()

    def test_key_with_newline_is_stripped_and_bad_characters_rejected_without_echo(self) -> None:
        self.assertEqual(oi.OpenAIConfig(api_key=TEST_KEY + "\n").api_key, TEST_KEY)
        with self.assertRaises(oi.OpenAIError) as caught:
            oi.OpenAIConfig(api_key="sk-a\nb-" + TEST_KEY)
        self.assertNotIn(TEST_KEY, str(caught.exception))

    def test_repr_never_shows_the_key(self) -> None:
        client = oi.OpenAIClient(api_key=TEST_KEY)
        for text in (repr(client.config), str(client.config), repr(client)):
            self.assertNotIn(TEST_KEY, text)

    def test_invalid_settings(self) -> None:
        with self.assertRaises(ValueError):
            oi.OpenAIConfig(api_key=TEST_KEY, base_url="file:///etc/passwd")
        with self.assertRaises(ValueError):
            oi.OpenAIConfig(api_key=TEST_KEY, proxies={"https": "socks5://127.0.0.1:1080"})
        with self.assertRaises(ValueError):
            oi.RetryPolicy(max_retries=-1)
        with self.assertRaises(TypeError):
            oi.Timeout.coerce("10")
        self.assertEqual(oi.Timeout.coerce(None), oi.Timeout(None, None, None))

    def test_azure_environment(self) -> None:
        os.environ.update(
            AZURE_OPENAI_API_KEY=TEST_KEY,
            AZURE_OPENAI_ENDPOINT="https://res.openai.azure.com/",
            OPENAI_API_VERSION="2026-10-01",
        )
        config = oi.OpenAIConfig.azure()
        self.assertEqual(config.base_url, "https://res.openai.azure.com/openai")
        self.assertEqual(config.auth_header, "api-key")
        self.assertEqual(dict(config.default_query), {"api-version": "2026-10-01"})
        del os.environ["OPENAI_API_VERSION"]
        with self.assertRaises(oi.OpenAIError) as caught:
            oi.OpenAIConfig.azure()
        self.assertIn("OPENAI_API_VERSION", str(caught.exception))


# =============================================================================
# Request building
# =============================================================================


class RequestBuilderTests(TestCase):
    def builder(self, **kwargs: Any) -> oi.RequestBuilder:
        return oi.RequestBuilder(oi.OpenAIConfig(api_key=TEST_KEY, **kwargs))

    def test_url_keeps_base_path_and_query_and_per_call_query_wins(self) -> None:
        builder = self.builder(
            base_url="https://h.example/custom/v1/?api-version=1&keep=yes", default_query={"d": "1", "api-version": "2"}
        )
        url = builder.url("/images/generations", {"api-version": "3", "x": True})
        self.assertEqual(url, "https://h.example/custom/v1/images/generations?api-version=3&keep=yes&d=1&x=true")

    def test_header_precedence(self) -> None:
        builder = self.builder(
            default_headers={"X-A": "default", "OpenAI-Organization": "from-defaults"}, organization="org-config"
        )
        headers = builder.headers(
            content_type="application/json", stream=False, extra_headers={"x-a": "call", "Accept": None}
        )
        self.assertEqual(headers["X-A"], "call")
        self.assertEqual(headers["OpenAI-Organization"], "org-config")
        self.assertNotIn("Accept", headers)
        self.assertRegex(headers["User-Agent"], r"^openai-images/[\d.]+ Python/3\.\d+$")

    def test_json_body_is_compact_utf8_in_sdk_key_order(self) -> None:
        request = oi.ImageGenerationRequest(
            prompt="un chat blanc é", model="gpt-image-2", size="1536x864", n=0, stream=False, background="transparent"
        )
        body = (
            oi.RequestBuilder(oi.OpenAIConfig(api_key=TEST_KEY))
            .build("POST", "/images/generations", body=request.to_dict())
            .body
        )
        self.assertEqual(
            body,
            '{"model":"gpt-image-2","stream":false,"prompt":"un chat blanc é","background":"transparent",'
            '"n":0,"size":"1536x864"}'.encode(),
        )

    def test_azure_deployment_routing(self) -> None:
        config = oi.OpenAIConfig.azure(endpoint="https://res.example", api_version="V", api_key=TEST_KEY)
        builder = oi.RequestBuilder(config)
        self.assertEqual(
            builder.url("/images/generations", model="my deploy/x"),
            "https://res.example/openai/deployments/my%20deploy%2Fx/images/generations?api-version=V",
        )
        self.assertEqual(
            builder.url("/images/variations", model="dep"), "https://res.example/openai/images/variations?api-version=V"
        )
        pinned = oi.RequestBuilder(
            oi.OpenAIConfig.azure(endpoint="https://res.example", deployment="d1", api_version="V", api_key=TEST_KEY)
        )
        self.assertEqual(
            pinned.url("/images/edits", model="x"),
            "https://res.example/openai/deployments/d1/images/edits?api-version=V",
        )

    def test_request_validation(self) -> None:
        with self.assertRaises(TypeError):
            oi.ImageGenerationRequest(prompt="p", n="2")  # type: ignore[arg-type]
        with self.assertRaises(TypeError):
            oi.ImageGenerationRequest(prompt="p", n=True)  # type: ignore[arg-type]
        with self.assertRaises(ValueError):
            oi.ImageReference(image_url="u", file_id="f")
        with self.assertRaises(ValueError):
            oi.ImageReference()

    def test_request_repr_is_redacted(self) -> None:
        text = repr(oi.ImageEditRequest(image=PNG, prompt="secret plan", user="alice@example.com"))
        self.assertNotIn("secret plan", text)
        self.assertNotIn("alice", text)
        self.assertIn("<11 chars>", text)
        self.assertIn(f"<{len(PNG)} bytes>", text)


# =============================================================================
# Multipart encoding
# =============================================================================


class TempFilesMixin(TestCase):
    """A temporary directory per test and a helper that writes files into it."""

    def setUp(self) -> None:
        super().setUp()
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def write(self, name: str, data: bytes) -> str:
        path = os.path.join(self.tmp.name, name)
        with open(path, "wb") as handle:
            handle.write(data)
        return path


class MultipartTests(TempFilesMixin):
    def test_byte_exact_layout(self) -> None:
        body = oi.ImageEditRequest(
            image=[("a.png", PNG), ("b.jpg", JPEG)],
            mask=("m.png", PNG),
            prompt="p",
            n=2,
            stream=True,
        ).to_multipart(boundary="BOUNDARY")
        expected = (
            b'--BOUNDARY\r\nContent-Disposition: form-data; name="prompt"\r\n\r\np\r\n'
            b'--BOUNDARY\r\nContent-Disposition: form-data; name="n"\r\n\r\n2\r\n'
            b'--BOUNDARY\r\nContent-Disposition: form-data; name="stream"\r\n\r\ntrue\r\n'
            b'--BOUNDARY\r\nContent-Disposition: form-data; name="image[]"; filename="a.png"\r\n'
            b"Content-Type: image/png\r\n\r\n" + PNG + b"\r\n"
            b'--BOUNDARY\r\nContent-Disposition: form-data; name="image[]"; filename="b.jpg"\r\n'
            b"Content-Type: image/jpeg\r\n\r\n" + JPEG + b"\r\n"
            b'--BOUNDARY\r\nContent-Disposition: form-data; name="mask"; filename="m.png"\r\n'
            b"Content-Type: image/png\r\n\r\n" + PNG + b"\r\n"
            b"--BOUNDARY--\r\n"
        )
        self.assertEqual(body.to_bytes(), expected)
        self.assertEqual(body.content_length, len(expected))
        self.assertEqual(body.content_type, "multipart/form-data; boundary=BOUNDARY")

    def test_field_serialisation(self) -> None:
        fields = oi.form_fields("svg", {"model": "m", "reasoning": {"effort": "low"}})
        self.assertEqual(fields, [("svg[model]", "m"), ("svg[reasoning][effort]", "low")])
        self.assertEqual(oi.form_fields("flag", False), [("flag", "false")])
        self.assertEqual(oi.form_fields("tags", ["a", 1]), [("tags[]", "a"), ("tags[]", "1")])
        self.assertEqual(oi.form_fields("gone", None), [])
        self.assertEqual(oi.form_fields("empty", ""), [("empty", "")])

    def test_content_length_matches_for_every_source(self) -> None:
        big = PNG + os.urandom(300_000)
        path = self.write("big.png", big)
        handle = open(path, "rb")  # noqa: SIM115  (closed by addCleanup)
        self.addCleanup(handle.close)
        handle.read(0)
        mid = io.BytesIO(b"junk" + PNG)
        mid.seek(4)
        body = oi.MultipartEncoder(
            [("prompt", "é")],
            [
                oi.FilePart.from_input("image[]", path),
                oi.FilePart.from_input("image[]", handle),
                oi.FilePart.from_input("image[]", mid),
                oi.FilePart.from_input("image[]", bytearray(PNG)),
            ],
        )
        first = body.to_bytes()
        self.assertEqual(len(first), body.content_length)
        self.assertEqual(body.to_bytes(), first, "a second pass (a retry) must send identical bytes")
        self.assertEqual(first.count(big), 2)
        self.assertIn(b"\r\n\r\n" + PNG + b"\r\n--", first)

    def test_escaping_of_names_and_filenames(self) -> None:
        part = oi.FilePart.from_input("image", ('we"ird\r\nna\\me%0A\x00é.png', PNG))
        self.assertEqual(part.filename, os.path.basename('we"ird\r\nna\\me%0A\x00é.png'))  # the platform's rule
        body = oi.MultipartEncoder(
            [('a"b\nc', "v\r\nv")], [oi.FilePart.from_input("image", ('x"y\r.png', PNG))], boundary="B"
        ).to_bytes()
        self.assertIn(b'name="a%22b%0Ac"\r\n\r\nv\r\nv\r\n', body)
        self.assertIn(b'filename="x%22y%0D.png"', body)
        raw = oi.MultipartEncoder(
            [], [oi.FilePart.from_input("image", ("a%0A\x01é.png", PNG))], boundary="B"
        ).to_bytes()
        self.assertIn('filename="a%0A\x01é.png"'.encode(), raw)

    def test_base_names_only(self) -> None:
        # By the platform's rules: on POSIX a backslash is a character of a name, as the SDK sends it
        windows_path = oi.FilePart.from_input("image", ("C:\\Users\\me\\a.png", PNG)).filename
        self.assertEqual(windows_path, "a.png" if os.name == "nt" else "C:\\Users\\me\\a.png")
        self.assertEqual(
            oi.FilePart.from_input("image", ("a\\b.png", PNG)).filename, "b.png" if os.name == "nt" else "a\\b.png"
        )
        self.assertEqual(oi.FilePart.from_input("image", ("/home/me/b.png", PNG)).filename, "b.png")
        self.assertEqual(oi.FilePart.from_input("image", self.write("c.png", PNG)).filename, "c.png")

    def test_content_type_precedence(self) -> None:
        def kind(value: Any) -> Tuple[str, str]:
            part = oi.FilePart.from_input("image", value)
            return part.content_type, part.filename

        self.assertEqual(kind(("x.png", PNG, "image/x-custom")), ("image/x-custom", "x.png"))
        self.assertEqual(kind(("x.png", JPEG, "application/octet-stream")), ("image/jpeg", "x.png"))
        self.assertEqual(kind(("photo.png", JPEG)), ("image/jpeg", "photo.png"))  # bytes win over the name
        self.assertEqual(kind(("photo.png.gz", JPEG)), ("image/jpeg", "photo.png.gz"))
        self.assertEqual(kind(("a.WEBP", b"????")), ("image/webp", "a.WEBP"))
        self.assertEqual(kind(WEBP), ("image/webp", "image.webp"))
        self.assertEqual(kind(JPEG), ("image/jpeg", "image.jpg"))
        self.assertEqual(kind(b"GIF89a...."), ("image/gif", "image.gif"))
        self.assertEqual(oi.FilePart.from_input("mask", PNG, stem="mask").filename, "mask.png")
        with self.assertRaises(ValueError) as caught:
            oi.FilePart.from_input("image[]", ("notes.txt", b"hello"), label="image[2]")
        self.assertIn("image[2]", str(caught.exception))
        self.assertIn("notes.txt", str(caught.exception))

    def test_bad_inputs(self) -> None:
        with self.assertRaises(FileNotFoundError) as caught:
            oi.FilePart.from_input("image", os.path.join(self.tmp.name, "missing.png"))
        self.assertIn("missing.png", str(caught.exception))
        with self.assertRaises(TypeError):
            oi.FilePart.from_input("image", 42)
        for bad in [
            ("a.png",),
            (b"a.png", PNG),
            ("a.png", PNG, 7),
            ("a.png", PNG, "image/png", ["X-A: 1"]),
            ("a.png", PNG, "image/png", {}, "extra"),
        ]:
            with self.subTest(bad=bad[:1] + bad[2:]), self.assertRaises(TypeError) as caught:
                oi.FilePart.from_input("mask", bad)
            self.assertIn("mask: a file tuple is (filename, content", str(caught.exception))
        with open(self.write("t.png", PNG), encoding="latin-1") as text_file, self.assertRaises(TypeError):
            oi.FilePart.from_input("image", text_file)
        with self.assertRaises(ValueError):
            oi.ImageEditRequest(image=[], prompt="p").to_multipart()

    def test_file_that_changes_size_fails_clearly(self) -> None:
        path = self.write("grow.png", PNG)
        body = oi.MultipartEncoder([], [oi.FilePart.from_input("image", path)])
        with open(path, "ab") as handle:
            handle.write(b"more")
        with self.assertRaises(oi.OpenAIError) as caught:
            body.to_bytes()
        self.assertIn("grew", str(caught.exception))
        with open(path, "wb") as handle:
            handle.write(PNG[:10])
        with self.assertRaises(oi.OpenAIError) as caught:
            body.to_bytes()
        self.assertIn("shrank", str(caught.exception))

    def test_non_seekable_stream_is_kept_for_retries(self) -> None:
        read_end, write_end = os.pipe()
        os.write(write_end, PNG)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            part = oi.FilePart.from_input("image", pipe)
        for _ in range(2):  # once per attempt
            self.assertEqual(b"".join(bytes(c) for c in part.iter_content()), PNG)

    def test_boundary_is_random_hex(self) -> None:
        a, b = oi.MultipartEncoder([]), oi.MultipartEncoder([])
        self.assertRegex(a.boundary, r"^[0-9a-f]{32}$")
        self.assertNotEqual(a.boundary, b.boundary)


# =============================================================================
# Retry-after parsing
# =============================================================================


class RetryAfterTests(TestCase):
    def hint(self, **headers: str) -> Optional[float]:
        return oi.retry_after_seconds(oi.Headers({k.replace("_", "-"): v for k, v in headers.items()}), now=1000.0)

    def test_forms(self) -> None:
        self.assertEqual(self.hint(retry_after_ms="1500", retry_after="9"), 1.5)
        self.assertEqual(self.hint(retry_after="2.5"), 2.5)
        self.assertEqual(self.hint(retry_after=" 3 "), 3.0)
        self.assertEqual(self.hint(retry_after_ms="junk", retry_after="4"), 4.0)
        self.assertEqual(self.hint(retry_after="Thu, 01 Jan 1970 00:16:50 GMT"), 10.0)
        self.assertLess(self.hint(retry_after="Thu, 01 Jan 1970 00:00:00 GMT") or 0, 0)
        self.assertEqual(self.hint(retry_after="1e400"), float("inf"))

    def test_garbage_is_no_hint(self) -> None:
        for value in ("garbage", "", "inf", "nan", "-1", "1_0", "\u0661", "Thu, 99 Foo 99999 99:99:99 XYZ"):
            self.assertIsNone(self.hint(retry_after=value), value)
        self.assertIsNone(self.hint())


# =============================================================================
# SSE parser (pure; every case also checked under re-chunking)
# =============================================================================


def parse_all(data: bytes, splits: Optional[List[int]] = None) -> List[oi.ServerSentEvent]:
    parser = oi.SSEParser()
    events: List[oi.ServerSentEvent] = []
    points = [0, *(splits or []), len(data)]
    for start, end in zip(points, points[1:]):
        events.extend(parser.feed(data[start:end]))
    parser.close()
    return events


def E(data: str, event: str = "message", id: Optional[str] = None, retry: Optional[int] = None) -> oi.ServerSentEvent:
    return oi.ServerSentEvent(event, data, id, retry)


class SSEParserTests(TestCase):
    CASES: ClassVar[List[Tuple[bytes, List[oi.ServerSentEvent]]]] = [
        (b"data: a\n\n", [E("a")]),
        (b"data: a\r\n\r\n", [E("a")]),
        (b"data: a\r\rdata: b\r\r", [E("a"), E("b")]),
        (b"data: a\n\r\ndata: b\r\n\n", [E("a"), E("b")]),
        (b"data:a\n\n", [E("a")]),
        (b"data:  a \t\n\n", [E(" a \t")]),
        (b"data: 1\ndata: 2\ndata\ndata:\n\n", [E("1\n2\n\n")]),
        (b"data\n\n", [E("")]),
        (b"event: ping\n\n", []),
        (b"id: 7\n\n:comment\n\ndata: x\n\n", [E("x", id="7")]),
        (b"id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\n", [E("a", id="1"), E("b", id="1"), E("c", id="")]),
        (b"id: a\x00b\ndata: x\n\n", [E("x")]),
        (b"retry: 1000\ndata: x\n\ndata: y\n\n", [E("x", retry=1000), E("y")]),
        (b"retry:  1000\ndata: x\n\nretry: +5\ndata: y\n\nretry: 1_0\ndata: z\n\n", [E("x"), E("y"), E("z")]),
        (b"event: e1\ndata: x\n\ndata: y\n\n", [E("x", "e1"), E("y")]),
        (b"Data: x\n\ndata : y\n\n   \n\n", []),
        (b"\xef\xbb\xbfdata: bom\n\n", [E("bom")]),
        (b"\xef\xbb\xbf\xef\xbb\xbfdata: two\n\ndata: ok\n\n", [E("ok")]),
        (b"\ndata: \xef\xbb\xbfx\n\n", [E("\ufeffx")]),
        (b"data: \xe2\x80\xa8\xc2\x85\x0b\x0c\x1c\x00\n\n", [E("\u2028\u0085\x0b\x0c\x1c\x00")]),
        (b"data: \xff\xe2\x82\n\n", [E("\ufffd\ufffd")]),
        (b"data: \xc3\xa9\xe2\x82\xac\n\n", [E("é€")]),
        (b"data: a\n\ndata: cut off\n", [E("a")]),
        (b"data: a\n\ndata: no terminator", [E("a")]),
        (b"", []),
    ]

    def test_cases_under_every_chunking(self) -> None:
        rng = random.Random(7)
        for data, expected in self.CASES:
            with self.subTest(data=data):
                self.assertEqual(parse_all(data), expected)
                self.assertEqual(parse_all(data, list(range(1, len(data)))), expected, "byte by byte")
                for point in range(1, len(data)):
                    self.assertEqual(parse_all(data, [point]), expected, f"split at {point}")
                for _ in range(20):
                    points = (
                        sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(0, 5))))
                        if len(data) > 1
                        else []
                    )
                    self.assertEqual(parse_all(data, points), expected)

    def test_cr_at_chunk_end_is_dispatched_at_once(self) -> None:
        parser = oi.SSEParser()
        self.assertEqual(parser.feed(b"data: a\r"), [])
        self.assertEqual(parser.feed(b"\r"), [E("a")])  # no need to wait for a possible LF
        self.assertEqual(parser.feed(b""), [])
        self.assertEqual(parser.feed(b"\ndata: b\r\r"), [E("b")])

    def test_event_is_returned_by_the_feed_that_completes_it(self) -> None:
        parser = oi.SSEParser()
        self.assertEqual(parser.feed(b"data: x\n"), [])
        self.assertEqual(parser.feed(b"\n"), [E("x")])

    def test_close_reports_pending(self) -> None:
        parser = oi.SSEParser()
        parser.feed(b"data: x\n")
        self.assertTrue(parser.close())
        self.assertFalse(oi.SSEParser().close())
        self.assertEqual(parser.retry, None)

    def test_size_limit(self) -> None:
        parser = oi.SSEParser(max_event_bytes=100)
        with self.assertRaises(ValueError):
            for _ in range(20):
                parser.feed(b"data: " + b"x" * 10)
        parser = oi.SSEParser(max_event_bytes=100)
        with self.assertRaises(ValueError):
            parser.feed(b"data: " + b"x" * 60 + b"\ndata: " + b"y" * 60 + b"\n")

    def test_large_line_in_tiny_chunks(self) -> None:
        line = b"data: " + b"A" * 200_000 + b"\n\n"
        parser = oi.SSEParser()
        events = []
        for i in range(0, len(line), 7):
            events.extend(parser.feed(line[i : i + 7]))
        self.assertEqual(len(events), 1)
        self.assertEqual(len(events[0].data), 200_000)


# =============================================================================
# End to end against the fake server
# =============================================================================


class GenerateTests(ServerTestCase):
    def test_generate_keyword_form(self) -> None:
        result = self.client.images.generate(
            model="gpt-image-2",
            prompt="a white cat",
            size="1536x864",
            n=2,
            quality="high",
            background="transparent",
            output_format="webp",
            output_compression=0,
            moderation="low",
            safety_identifier="h1",
            svg={"model": "s", "reasoning": {"effort": "low"}},
        )
        self.assertEqual(self.last.path, "/v1/images/generations")
        self.assertEqual(
            self.last.body,
            (
                b'{"model":"gpt-image-2","prompt":"a white cat","background":"transparent","moderation":"low",'
                b'"n":2,"output_compression":0,"output_format":"webp","quality":"high","safety_identifier":"h1",'
                b'"size":"1536x864","svg":{"model":"s","reasoning":{"effort":"low"}}}'
            ),
        )
        self.assertEqual(self.last.headers["Content-Type"], "application/json")
        self.assertEqual(self.last.headers["Authorization"], f"Bearer {TEST_KEY}")
        self.assertEqual(self.last.headers["Accept"], "application/json")
        self.assertTrue(self.last.headers["User-Agent"].startswith("openai-images/"))
        self.assertEqual(len(result.data), 2)
        self.assertEqual(result.data[0].to_bytes(), PNG)
        self.assertEqual(result.request_id, "req_1")
        self.assertEqual(result.size, "1536x864")
        assert result.usage is not None and result.usage.input_tokens_details is not None
        self.assertEqual(result.usage.total_tokens, 150)
        self.assertEqual(result.usage.input_tokens_details.text_tokens, 10)
        self.assert_no_leaks()

    def test_generate_request_object_form_and_extras(self) -> None:
        request = oi.ImageGenerationRequest(prompt="p", model="future-model-9", size="4096x4096")
        self.client.images.generate(
            request,
            extra_body={"new_field": [1], "size": "auto"},
            extra_query={"trace": "1"},
            extra_headers={"X-Custom": "y", "User-Agent": None},
        )
        self.assertEqual(self.last.json, {"model": "future-model-9", "prompt": "p", "size": "auto", "new_field": [1]})
        self.assertEqual(self.last.query, {"trace": "1"})
        self.assertEqual(self.last.headers["X-Custom"], "y")
        self.assertNotIn("openai-images", self.last.headers.get("User-Agent", ""))

    def test_unknown_fields_round_trip_and_sizes_pass_through(self) -> None:
        body = {
            "created": 1,
            "data": [{"b64_json": PNG_B64, "novel": {"a": 1}}],
            "size": "1254x1254",
            "quality": "ultra",
            "future": True,
            "usage": {**USAGE, "output_tokens_details": {"image_tokens": 3}, "x": 1},
        }
        self.api.queue(oi_action(body))
        result = self.client.images.generate(prompt="p")
        self.assertEqual(result.to_dict(), body)
        self.assertEqual(json.loads(result.to_json()), body)
        self.assertNotIn("\n", result.to_json(indent=None))
        self.assertEqual(result.size, "1254x1254")
        self.assertEqual(result.quality, "ultra")
        self.assertEqual(result.data[0].extra, {"novel": {"a": 1}})

    def test_argument_errors(self) -> None:
        with self.assertRaises(TypeError) as caught:
            self.client.images.generate(prompt="p", sizee="1024x1024")
        self.assertIn("did you mean 'size'", str(caught.exception))
        with self.assertRaises(TypeError) as caught:
            self.client.images.generate(model="m")
        self.assertIn("prompt", str(caught.exception))
        with self.assertRaises(TypeError):
            self.client.images.generate(oi.ImageGenerationRequest(prompt="p"), prompt="q")
        self.assertEqual(self.api.requests, [])

    def test_organization_project_and_callable_key(self) -> None:
        keys = iter(["sk-one", "sk-two"])
        client = self.make_client(api_key=lambda: next(keys), organization="org-9", project="proj-9")
        client.images.generate(prompt="p")
        client.images.generate(prompt="p")
        self.assertEqual([r.headers["Authorization"] for r in self.api.requests], ["Bearer sk-one", "Bearer sk-two"])
        self.assertEqual(self.last.headers["OpenAI-Organization"], "org-9")
        self.assertEqual(self.last.headers["OpenAI-Project"], "proj-9")

    def test_gzip_response_is_decoded(self) -> None:
        body = json.dumps({"created": 1, "data": [{"b64_json": PNG_B64}]}).encode()
        self.api.queue(
            oi.__dict__
            and Action(body=gzip_bytes(body), headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
        )
        result = self.client.images.generate(prompt="p")
        self.assertEqual(result.data[0].to_bytes(), PNG)
        self.assertIn("gzip", self.last.headers["Accept-Encoding"])

    def test_closed_client(self) -> None:
        self.client.close()
        self.client.close()
        with self.assertRaises(oi.OpenAIError):
            self.client.images.generate(prompt="p")

    def test_drop_in_names(self) -> None:
        self.assertIs(oi.OpenAI, oi.OpenAIClient)
        with oi.OpenAI(api_key=TEST_KEY, base_url=self.api.url) as client:
            client.images.generate(prompt="p", model="gpt-image-2")
        self.assertEqual(self.last.json["model"], "gpt-image-2")


def oi_action(body: Any, status: int = 200, **kwargs: Any) -> Action:
    return Action(status=status, body=body, **kwargs)


def gzip_bytes(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


class EditTests(TempFilesMixin, ServerTestCase):
    def test_single_image_path_and_fields_match_the_sdk(self) -> None:
        image = self.write("cat.png", PNG)
        mask = self.write("mask.png", PNG)
        result = self.client.images.edit(
            image=image, mask=mask, prompt="add a hat", model="gpt-image-2", input_fidelity="high", n=1, stream=False
        )
        record = self.last
        self.assertEqual(record.path, "/v1/images/edits")
        self.assertEqual(
            record.fields,
            [
                ("prompt", "add a hat"),
                ("input_fidelity", "high"),
                ("model", "gpt-image-2"),
                ("n", "1"),
                ("stream", "false"),
            ],
        )
        self.assertEqual(
            [(f[0], f[1], f[2]) for f in record.files],
            [("image", "cat.png", "image/png"), ("mask", "mask.png", "image/png")],
        )
        self.assertEqual(record.files[0][3], PNG)
        self.assertEqual(int(record.headers["Content-Length"]), len(record.body))
        self.assertEqual(result.data[0].to_bytes(), PNG)
        self.assert_no_leaks()

    def test_every_file_input_form(self) -> None:
        path = self.write("a.png", PNG)
        handle = open(self.write("b.jpg", JPEG), "rb")  # noqa: SIM115  (closed by addCleanup)
        self.addCleanup(handle.close)
        import pathlib

        inputs = [
            path,
            pathlib.Path(path),
            PNG,
            io.BytesIO(WEBP),
            handle,
            ("named.webp", WEBP),
            ("typed", PNG, "image/png"),
            (None, JPEG),
        ]
        self.client.images.edit(image=inputs, prompt="p", markup=("markup.png", PNG))
        files = self.last.files
        self.assertEqual([f[0] for f in files], ["image[]"] * len(inputs) + ["markup"])
        self.assertEqual(
            [f[1] for f in files],
            ["a.png", "a.png", "image.png", "image.webp", "b.jpg", "named.webp", "typed", "image.jpg", "markup.png"],
        )
        self.assertEqual(
            [f[2] for f in files],
            [
                "image/png",
                "image/png",
                "image/png",
                "image/webp",
                "image/jpeg",
                "image/webp",
                "image/png",
                "image/jpeg",
                "image/png",
            ],
        )
        self.assertEqual([f[3] for f in files], [PNG, PNG, PNG, WEBP, JPEG, WEBP, PNG, JPEG, PNG])
        self.assertFalse(handle.closed, "caller-owned files stay open")

    def test_list_of_one_is_image_brackets(self) -> None:
        self.client.images.edit(image=[PNG], prompt="p")
        self.assertEqual(self.last.files[0][0], "image[]")
        self.client.images.edit(image=("one.png", PNG), prompt="p")
        self.assertEqual(self.last.files[0][0], "image")

    def test_missing_file_is_a_clear_error_and_nothing_is_sent(self) -> None:
        with self.assertRaises(FileNotFoundError) as caught:
            self.client.images.edit(image=os.path.join(self.tmp.name, "nope.png"), prompt="p")
        self.assertIn("nope.png", str(caught.exception))
        self.assertEqual(self.api.requests, [])

    def test_edit_json(self) -> None:
        result = self.client.images.edit_json(
            images=[oi.ImageReference(image_url="https://example.com/a.png"), {"file_id": "file-abc"}],
            mask=oi.ImageReference(file_id="file-mask"),
            prompt="add a hat",
            model="gpt-image-2",
            n=1,
        )
        self.assertEqual(self.last.headers["Content-Type"], "application/json")
        self.assertEqual(
            self.last.json,
            {
                "model": "gpt-image-2",
                "prompt": "add a hat",
                "images": [{"image_url": "https://example.com/a.png"}, {"file_id": "file-abc"}],
                "mask": {"file_id": "file-mask"},
                "n": 1,
            },
        )
        self.assertEqual(len(result.data), 1)

    def test_variation(self) -> None:
        with self.assertWarns(DeprecationWarning):
            result = self.client.images.create_variation(
                image=self.write("v.png", PNG), n=2, size="256x256", model="dall-e-2", response_format="b64_json"
            )
        self.assertEqual(self.last.path, "/v1/images/variations")
        self.assertEqual(
            self.last.fields, [("model", "dall-e-2"), ("n", "2"), ("response_format", "b64_json"), ("size", "256x256")]
        )
        self.assertEqual(self.last.files[0][:3], ("image", "v.png", "image/png"))
        self.assertEqual(len(result.data), 2)

    def test_large_file_upload_round_trips(self) -> None:
        blob = PNG + os.urandom(3_000_000)
        self.client.images.edit(image=self.write("big.png", blob), prompt="p")
        self.assertEqual(self.last.files[0][3], blob)
        with open(self.write("offset.png", b"skip" + blob), "rb") as handle:
            handle.seek(4)  # a file object is sent from where it stands
            self.client.images.edit(image=handle, prompt="p")
        self.assertEqual(self.last.files[0][3], blob)

    def test_file_that_changes_during_the_upload_fails_clearly(self) -> None:
        path = self.write("live.png", PNG + os.urandom(100_000))
        for change, word in ((b"more", "grew"), (None, "shrank")):

            def meddle(request: oi.Request, next_handler: Any, change: Optional[bytes] = change) -> oi.Response:
                with open(path, "ab" if change else "r+b") as handle:  # after the size was taken
                    handle.write(change) if change else handle.truncate(1000)
                return next_handler(request)

            client = self.client.with_options(interceptors=[meddle])
            with self.assertRaises(oi.OpenAIError) as caught:
                client.images.edit(image=path, prompt="p")
            self.assertIn(word, str(caught.exception))
            self.write("live.png", PNG + os.urandom(100_000))
        self.assert_no_leaks()


# =============================================================================
# Retries and errors
# =============================================================================


class RetryTests(ServerTestCase):
    def test_gives_up_after_max_retries_with_the_last_error(self) -> None:
        self.api.queue(*[Action(500, {"error": {"message": f"boom {i}"}}) for i in range(3)])
        with self.assertRaises(oi.InternalServerError) as caught:
            self.client.images.generate(prompt="p")
        self.assertEqual(len(self.api.requests), 3)
        self.assertIn("boom 2", str(caught.exception))

    def test_max_retries_zero(self) -> None:
        client = self.make_client(retry_policy=oi.RetryPolicy(max_retries=0))
        self.api.queue(Action(500, {}))
        with self.assertRaises(oi.InternalServerError):
            client.images.generate(prompt="p")
        self.assertEqual(len(self.api.requests), 1)

    def test_permanent_quota_is_not_retried(self) -> None:
        self.api.queue(
            Action(
                429,
                {
                    "error": {
                        "message": "You exceeded your quota",
                        "type": "insufficient_quota",
                        "code": "insufficient_quota",
                    }
                },
            )
        )
        with self.assertRaises(oi.RateLimitError) as caught:
            self.client.images.generate(prompt="p")
        self.assertEqual(caught.exception.code, "insufficient_quota")
        self.assertEqual(len(self.api.requests), 1)

    def test_retried_multipart_upload_is_byte_identical(self) -> None:
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        path = os.path.join(tmp.name, "a.png")
        with open(path, "wb") as handle:
            handle.write(PNG + os.urandom(100_000))
        stream = io.BytesIO(b"skip" + JPEG)
        stream.seek(4)
        self.api.queue(Action(500, {}), Action(502, {}))
        self.client.images.edit(image=[path, stream], prompt="p")
        bodies = [r.body for r in self.api.requests]
        self.assertEqual(len(bodies), 3)
        boundaries = [r.headers["Content-Type"].split("boundary=")[1] for r in self.api.requests]
        normalised = {body.replace(b.encode(), b"B") for body, b in zip(bodies, boundaries)}
        self.assertEqual(len(normalised), 1)
        self.assertEqual(self.last.files[1][3], JPEG)

    def test_backoff_is_exponential_with_jitter(self) -> None:
        policy = oi.RetryPolicy()
        self.assertEqual([policy.backoff(n, 0.0) for n in range(6)], [0.5, 1.0, 2.0, 4.0, 8.0, 8.0])
        self.assertEqual(policy.backoff(0, 1.0), 0.375)


class ErrorTests(ServerTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.client = self.make_client(retry_policy=oi.RetryPolicy(max_retries=0))

    def test_status_classes_and_fields(self) -> None:
        table = {
            400: oi.BadRequestError,
            401: oi.AuthenticationError,
            403: oi.PermissionDeniedError,
            404: oi.NotFoundError,
            409: oi.ConflictError,
            422: oi.UnprocessableEntityError,
            429: oi.RateLimitError,
            500: oi.InternalServerError,
            503: oi.InternalServerError,
            402: oi.APIStatusError,
            418: oi.APIStatusError,
        }
        for status, cls in table.items():
            self.api.queue(
                Action(
                    status,
                    {"error": {"message": "Bad size", "type": "invalid_request_error", "param": "size", "code": 1234}},
                    {"retry-after": "7"},
                )
            )
            with self.assertRaises(cls) as caught:
                self.client.images.generate(prompt="p")
            exc = caught.exception
            self.assertIs(type(exc), cls)
            self.assertEqual(exc.status_code, status)
            self.assertEqual(exc.request_id, f"req_{self.api.counter}")
            self.assertEqual(exc.code, "1234")
            self.assertEqual(exc.param, "size")
            self.assertEqual(exc.type, "invalid_request_error")
            self.assertEqual(
                exc.body, {"message": "Bad size", "type": "invalid_request_error", "param": "size", "code": 1234}
            )
            self.assertEqual(exc.retry_after, 7.0)
            self.assertEqual(str(exc), f"Error code: {status} - Bad size (request_id: req_{self.api.counter})")
            self.assertIsInstance(exc, oi.APIError)

    def test_total_deadline(self) -> None:
        self.api.queue(Action(hang=True))
        started = time.monotonic()
        with self.assertRaises(oi.APITimeoutError) as caught:
            self.client.images.generate(prompt="p", timeout=oi.Timeout(total=0.3))
        self.assertLess(time.monotonic() - started, 2)
        self.assertEqual(caught.exception.limit, "total")
        self.assert_no_leaks()

    def test_huge_error_body_is_bounded(self) -> None:
        client = self.make_client(retry_policy=oi.RetryPolicy(max_retries=0), max_error_body_bytes=1000)
        self.api.queue(Action(500, b"x" * 2_000_000))
        with self.assertRaises(oi.InternalServerError) as caught:
            client.images.generate(prompt="p")
        self.assertLessEqual(len(caught.exception.body), 1000)  # type: ignore[arg-type]

    def test_huge_success_body_is_bounded(self) -> None:
        client = self.make_client(retry_policy=oi.RetryPolicy(max_retries=0), max_response_bytes=10_000)
        self.api.queue(Action(200, {"created": 1, "data": [{"b64_json": "A" * 50_000}]}))
        with self.assertRaises(oi.APIResponseValidationError) as caught:
            client.images.generate(prompt="p")
        self.assertIn("limit", str(caught.exception))


class RedirectTests(ServerTestCase):
    def test_cross_origin_redirect_is_refused_and_leaks_nothing(self) -> None:
        other = FakeImagesAPI()
        self.addCleanup(other.close)
        for status in (301, 302, 303, 307, 308):
            self.api.queue(Action(status, b"", {"Location": other.url + "/images/generations"}))
            with self.assertRaises(oi.APIStatusError) as caught:
                self.client.images.generate(prompt="p")
            self.assertEqual(caught.exception.status_code, status)
            self.assertIn("redirect", str(caught.exception))
        self.assertEqual(other.requests, [], "nothing may reach the other origin")


class SecretsTests(ServerTestCase):
    def test_debug_logs_show_requests_with_credentials_redacted(self) -> None:
        start = len(CAPTURED_LOGS)
        self.api.queue(Action(500, {"error": {"message": "x"}}), Action(401, {"error": {"message": "bad key"}}))
        with self.assertRaises(oi.AuthenticationError):
            self.client.images.generate(prompt="p")
        self.client.images.edit(image=PNG, prompt="p")
        text = "\n".join(CAPTURED_LOGS[start:])
        self.assertIn("'Authorization': '<redacted>'", text)
        self.assertIn("HTTP Request: POST", text)
        self.assertIn("Retrying POST", text)
        self.assertNotIn(TEST_KEY, text)

    def test_a_server_that_echoes_the_key_back(self) -> None:
        """Some proxies and misconfigured servers quote the credentials they received."""
        echo = f"Incorrect API key provided: {TEST_KEY}"
        client = self.make_client(retry_policy=oi.RetryPolicy(max_retries=0))
        cases: List[Tuple[Action, type, Callable[[], Any]]] = [
            (
                Action(401, {"error": {"message": echo, "param": TEST_KEY, "code": "invalid_api_key"}}),
                oi.AuthenticationError,
                lambda: client.images.generate(prompt="p"),
            ),
            (
                Action(502, f"<html>Bearer {TEST_KEY}</html>", {"Content-Type": "text/html"}),
                oi.InternalServerError,
                lambda: client.images.generate(prompt="p"),
            ),
            (
                Action(200, f"not json {TEST_KEY}", {"Content-Type": "application/json"}),
                oi.APIResponseValidationError,
                lambda: client.images.generate(prompt="p"),
            ),
            (
                Action(sse=[sse_event({"type": "error", "error": {"message": echo}}, "error")]),
                oi.ImageStreamError,
                lambda: list(client.images.generate_stream(prompt="p")),
            ),
            (
                Action(sse=[sse_event(f"{{broken {TEST_KEY}")]),
                oi.APIResponseValidationError,
                lambda: list(client.images.generate_stream(prompt="p")),
            ),
        ]
        for action, error, call in cases:
            with self.subTest(error.__name__):
                self.api.queue(action)
                with self.assertRaises(error) as caught:  # assert_key_hidden runs here
                    call()
                self.assertIn("<redacted>", str(caught.exception) + repr(caught.exception.body))

    def test_reprs_and_cli_verbose_output(self) -> None:
        config = self.client.config
        for shown in (
            repr(self.client),
            repr(config),
            str(config),
            repr(self.client.request_builder.build("POST", "/x", body=None)),
        ):
            self.assertNotIn(TEST_KEY, shown)
        self.api.queue(Action(401, {"error": {"message": f"Incorrect API key provided: {TEST_KEY}"}}))
        result = run_cli("generate", "p", "--verbose", "--json", base_url=self.api.url, text=True)
        self.assertEqual(result.returncode, 1)
        self.assertIn("Authorization': '<redacted>'", result.stderr)
        self.assertIn("Incorrect API key provided: <redacted>", result.stderr)
        self.assertNotIn(TEST_KEY_TAIL, result.stdout + result.stderr)


# =============================================================================
# Streaming
# =============================================================================


def split_bytes(data: bytes, size: int) -> List[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


class StreamTests(ServerTestCase):
    def test_generate_stream(self) -> None:
        with self.client.images.generate_stream(model="gpt-image-2", prompt="p", partial_images=2) as stream:
            events = list(stream)
        self.assertEqual(self.last.json, {"model": "gpt-image-2", "stream": True, "prompt": "p", "partial_images": 2})
        self.assertEqual(self.last.headers["Accept"], "text/event-stream")
        self.assertEqual(
            [type(e) for e in events],
            [oi.ImageGenPartialImageEvent, oi.ImageGenPartialImageEvent, oi.ImageGenCompletedEvent],
        )
        partial, completed = events[0], events[-1]
        assert isinstance(partial, oi.ImageGenPartialImageEvent) and isinstance(completed, oi.ImageGenCompletedEvent)
        self.assertEqual(partial.partial_image_index, 0)
        self.assertEqual(partial.size, "1254x1254")
        self.assertEqual(partial.to_bytes(), make_png(2, 2, seed=1))
        self.assertEqual(completed.to_bytes(), PNG)
        assert completed.usage is not None
        self.assertEqual(completed.usage.total_tokens, 150)
        self.assertEqual(stream.request_id, "req_1")
        self.assertNotIn(PNG_B64, repr(completed))
        self.assert_no_leaks()

    def test_stream_true_on_each_method(self) -> None:
        stream = self.client.images.generate(prompt="p", stream=True)
        self.assertIsInstance(stream, oi.ImageStream)
        self.assertIsInstance(stream.final_image(), oi.ImageGenCompletedEvent)
        edit = self.client.images.edit(image=PNG, prompt="p", stream=True)
        self.assertEqual(self.last.form["stream"], "true")
        self.assertIsInstance(edit.final_image(), oi.ImageEditCompletedEvent)
        json_edit = self.client.images.edit_json_stream(images=["https://example.com/a.png"], prompt="p")
        self.assertEqual(self.last.json["stream"], True)
        events = list(json_edit)
        self.assertIsInstance(events[0], oi.ImageEditPartialImageEvent)
        request = oi.ImageEditRequest(image=[PNG], prompt="p", stream=False)
        self.client.images.edit_stream(request).close()
        self.assertEqual(self.last.form["stream"], "true")
        self.client.images.edit(request, stream=True).close()  # the argument overrides the request's field
        self.assertEqual(self.last.form["stream"], "true")
        self.assertIsInstance(
            self.client.images.generate(oi.ImageGenerationRequest(prompt="p", stream=True), stream=False),
            oi.ImagesResponse,
        )
        self.assertEqual(self.last.json["stream"], False)
        self.assert_no_leaks()

    def test_chunking_and_line_endings(self) -> None:
        for eol in ("\n", "\r\n", "\r"):
            for size in (1, 7, 4096):
                raw = b": keep-alive\n\n" + b"".join(image_events(eol=eol, named=False))
                self.api.queue(Action(sse=split_bytes(raw.replace(b"\n", eol.encode()) if eol != "\n" else raw, size)))
                events = list(self.client.images.generate_stream(prompt="p"))
                self.assertEqual(len(events), 3, (eol, size))
                self.assertEqual(events[-1].to_bytes(), PNG)  # type: ignore[union-attr]

    def test_each_event_arrives_before_the_next_is_sent(self) -> None:
        first, *_ = image_events()
        self.api.queue(Action(sse=[first, "HANG"]))
        stream = self.client.images.generate_stream(prompt="p")
        started = time.monotonic()
        event = next(stream)
        self.assertLess(time.monotonic() - started, 2)
        self.assertIsInstance(event, oi.ImageGenPartialImageEvent)
        stream.close()
        self.assert_no_leaks()

    def test_inline_error_event(self) -> None:
        first, *_ = image_events()
        error = {
            "error": {
                "message": "Your request was rejected",
                "code": "moderation_blocked",
                "type": "image_generation_user_error",
            }
        }
        self.api.queue(Action(sse=[first, sse_event(error, "error")]))
        with self.assertRaises(oi.ImageStreamError) as caught:
            list(self.client.images.generate_stream(prompt="p"))
        exc = caught.exception
        self.assertEqual(exc.code, "moderation_blocked")
        self.assertEqual(exc.request_id, "req_1")
        self.assertIn("Your request was rejected", str(exc))
        self.assertEqual(len(exc.partial_images), 1)
        self.assertIsInstance(exc, oi.APIError)
        self.api.queue(Action(sse=[sse_event({"type": "error", "message": "boom"}, None)]))
        with self.assertRaises(oi.ImageStreamError):
            list(self.client.images.generate_stream(prompt="p"))
        self.assert_no_leaks()

    def test_truncated_stream(self) -> None:
        first, second, _ = image_events()
        for tail in ([], ["CUT"], [b'data: {"type": "image_generation.completed", "b64'], [sse_event("[DONE]")]):
            self.api.queue(Action(sse=[first, second, *tail]))
            with self.assertRaises(oi.IncompleteStreamError) as caught:
                list(self.client.images.generate_stream(prompt="p"))
            self.assertEqual(len(caught.exception.partial_images), 2)
        self.api.queue(Action(sse=[]))
        with self.assertRaises(oi.IncompleteStreamError):
            list(self.client.images.generate_stream(prompt="p"))
        self.assert_no_leaks()

    def test_done_unknown_events_and_json_fallback(self) -> None:
        novel = sse_event({"type": "image_generation.thinking", "step": 1}, "image_generation.thinking")
        self.api.queue(Action(sse=[novel, *image_events(partials=0), sse_event("[DONE]")]))
        events = list(self.client.images.generate_stream(prompt="p"))
        self.assertIsInstance(events[0], oi.UnknownImageStreamEvent)
        self.assertEqual(events[0].to_dict(), {"type": "image_generation.thinking", "step": 1})
        self.assertIsInstance(events[1], oi.ImageGenCompletedEvent)
        self.api.queue(Action(body={"created": 1, "data": [{"b64_json": PNG_B64}], "size": "1024x1024"}))
        events = list(self.client.images.generate_stream(prompt="p"))
        self.assertEqual([type(e) for e in events], [oi.ImageGenCompletedEvent])

    def test_status_error_before_the_stream_is_retried_and_mapped(self) -> None:
        self.api.queue(Action(503, {"error": {"message": "overloaded"}}))
        events = list(self.client.images.generate_stream(prompt="p"))
        self.assertEqual(len(self.api.requests), 2)
        self.assertEqual(len(events), 3)
        self.api.queue(Action(400, {"error": {"message": "bad", "code": "invalid_size"}}))
        with self.assertRaises(oi.BadRequestError) as caught:
            self.client.images.generate_stream(prompt="p")
        self.assertEqual(caught.exception.code, "invalid_size")


# =============================================================================
# Abort, at every stage
# =============================================================================


class SilentServer:
    """Accepts connections and never reads or answers (uploads stall)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self.accepted: List[socket.socket] = []
        self.connected = threading.Event()  # a client has connected
        self.uploading = threading.Event()  # a client has sent its headers and the start of a body
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            self.accepted.append(conn)
            self.connected.set()
            threading.Thread(target=self.read_head, args=(conn,), daemon=True).start()

    def read_head(self, conn: socket.socket) -> None:
        """Read until the request's body has started, then read nothing more."""
        seen = b""
        try:
            while b"\r\n\r\n" not in seen or seen.endswith(b"\r\n\r\n"):
                piece = conn.recv(4096)
                if not piece:
                    return
                seen += piece
        except OSError:
            return
        self.uploading.set()

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


def syn_sent(port: int) -> threading.Event:
    """Set once a new TCP connect to ``port`` on loopback is pending (SYN sent,
    no answer), as /proc/net/tcp shows it: the moment a client blocks in connect()."""
    seen = threading.Event()

    def pending() -> set:  # the local addresses of connects to the port still waiting for an answer
        with open("/proc/net/tcp") as table:
            rows = [line.split() for line in table.readlines()[1:]]
        return {row[1] for row in rows if row[2].endswith(f":{port:04X}") and row[3] == "02"}

    before = pending()  # the backlog's fillers

    def watch() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if pending() - before:
                seen.set()
                return
            time.sleep(0.005)

    threading.Thread(target=watch, daemon=True).start()
    return seen


class AbortTests(ServerTestCase):
    def abort_when(self, event: threading.Event, trigger: Any) -> None:
        """Fire ``trigger`` (an Event or a Future) once ``event`` is set."""
        fire_when(event, trigger.set if isinstance(trigger, threading.Event) else lambda: trigger.set_result(None))

    def assert_prompt_abort(self, call: Callable[[], Any], stage: str, limit: float = 3.0) -> None:
        """The call ends with APIUserAbortError well before the 30 s the servers hang
        (the latency itself is measured by benchmarks/streaming.py)."""
        started = time.monotonic()
        with self.assertRaises(oi.APIUserAbortError) as caught:
            call()
        self.assertLess(time.monotonic() - started, limit)
        self.assertEqual(caught.exception.stage, stage)

    def test_abort_before_the_request(self) -> None:
        event = threading.Event()
        event.set()
        self.assert_prompt_abort(lambda: self.client.images.generate(prompt="p", abort_trigger=event), "before_request")
        self.assertEqual(self.api.requests, [])
        self.assert_no_leaks()

    def test_abort_while_waiting_for_headers(self) -> None:
        for trigger in (threading.Event(), concurrent.futures.Future()):
            self.api.queue(Action(hang=True))
            self.abort_when(self.api.arrived, trigger)
            self.assert_prompt_abort(
                lambda t=trigger: self.client.images.generate(prompt="p", abort_trigger=t), "during_request"
            )
            self.assert_no_leaks()
            self.api.reset()

    def test_abort_during_upload(self) -> None:
        silent = SilentServer()
        self.addCleanup(silent.close)
        client = self.make_client(base_url=silent.url)
        trigger = threading.Event()

        fire_when(silent.uploading, trigger.set)
        blob = PNG + b"\x00" * 64_000_000
        self.assert_prompt_abort(
            lambda: client.images.edit(image=blob, prompt="p", abort_trigger=trigger), "during_request"
        )
        silent.close()
        self.assert_no_leaks()

    def stalled_listener(self) -> Tuple[str, Callable[[], None]]:
        """A loopback URL whose TCP connect hangs: a listener with a full backlog
        (Linux drops the SYN). Skips the test where connects do not stall."""
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = [listener]
        self.addCleanup(lambda: [s.close() for s in fillers])
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            try:
                filler.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            fillers.append(filler)
        probe = socket.socket()
        probe.settimeout(0.2)
        try:
            probe.connect(("127.0.0.1", port))
            self.skipTest("connects to a full backlog do not stall on this platform")
        except socket.timeout:
            pass
        finally:
            probe.close()
        return f"http://127.0.0.1:{port}/v1", lambda: [s.close() for s in fillers] and None

    def test_connect_timeout_and_abort_while_connecting(self) -> None:
        if not os.path.exists("/proc/net/tcp"):
            self.skipTest("needs /proc/net/tcp to see the pending connect")
        url, close_listener = self.stalled_listener()
        client = self.make_client(
            base_url=url, timeout=oi.Timeout(connect=0.3, read=5), retry_policy=oi.RetryPolicy(max_retries=0)
        )
        with self.assertRaises(oi.APITimeoutError) as caught:
            client.images.generate(prompt="p")
        self.assertEqual(caught.exception.limit, "connect")
        client = self.make_client(base_url=url, timeout=oi.Timeout(connect=30, read=30))
        trigger = threading.Event()
        self.abort_when(syn_sent(int(url.split(":")[2].split("/")[0])), trigger)
        self.assert_prompt_abort(lambda: client.images.generate(prompt="p", abort_trigger=trigger), "during_request")
        close_listener()
        self.assert_no_leaks()

    def test_abort_during_retry_backoff(self) -> None:
        client = self.make_client(retry_policy=oi.RetryPolicy(max_retries=3, initial_delay=30, max_delay=30))
        self.api.queue(Action(500, {}))
        trigger = threading.Event()
        self.abort_when(log_event(self, "Retrying"), trigger)
        self.assert_prompt_abort(
            lambda: client.images.generate(prompt="p", abort_trigger=trigger), "during_retry_delay"
        )
        self.assertEqual(len(self.api.requests), 1)
        self.assert_no_leaks()

    def test_abort_mid_stream_from_another_thread(self) -> None:
        first, *_ = image_events()
        self.api.queue(Action(sse=[first, "HANG"]))
        stream = self.client.images.generate_stream(prompt="p")
        self.assertIsInstance(next(stream), oi.ImageGenPartialImageEvent)
        fire_when(self.api.hanging, stream.abort)
        self.assert_prompt_abort(lambda: next(stream), "during_stream")
        with self.assertRaises(oi.APIUserAbortError):
            next(stream)
        stream.abort()
        stream.close()
        self.assert_no_leaks()

    def test_abort_trigger_mid_stream(self) -> None:
        first, *_ = image_events()
        self.api.queue(Action(sse=[first, "HANG"]))
        trigger: concurrent.futures.Future[None] = concurrent.futures.Future()
        stream = self.client.images.generate_stream(prompt="p", abort_trigger=trigger)
        next(stream)
        self.abort_when(self.api.hanging, trigger)
        self.assert_prompt_abort(lambda: list(stream), "during_stream")
        self.assert_no_leaks()

    def test_no_event_is_delivered_after_abort_even_if_buffered(self) -> None:
        self.api.queue(Action(sse=[b"".join(image_events()), "HANG"]))
        stream = self.client.images.generate_stream(prompt="p")
        next(stream)
        stream.abort()
        with self.assertRaises(oi.APIUserAbortError):
            next(stream)
        self.assert_no_leaks()

    def test_close_in_the_consuming_thread_before_the_end_never_looks_complete(self) -> None:
        stream = self.client.images.generate_stream(prompt="p")
        next(stream)
        stream.close()
        with self.assertRaises(oi.APIUserAbortError):
            next(stream)
        self.assert_no_leaks()

    def test_client_close_aborts_open_streams(self) -> None:
        first, *_ = image_events()
        self.api.queue(Action(sse=[first, "HANG"]))
        stream = self.client.images.generate_stream(prompt="p")
        next(stream)
        self.client.close()
        with self.assertRaises(oi.APIUserAbortError):
            next(stream)
        self.assert_no_leaks()

    def test_abort_is_idempotent_and_threads_end_after_success(self) -> None:
        trigger = threading.Event()
        self.client.images.generate(prompt="p", abort_trigger=trigger, timeout=oi.Timeout(total=30))
        trigger.set()  # after the call: nothing happens
        stream = self.client.images.generate_stream(prompt="p", abort_trigger=threading.Event())
        for _ in range(3):
            stream.abort()
        self.assert_no_leaks()


class WindowsAbortPathTests(AbortTests):
    """Every abort test again, with the Windows abort path (after shutdown(),
    detach the socket and close its handle). On Linux shutdown() already wakes
    the reader, so this proves the extra step is harmless at every stage (no
    error of the wrong kind, no leak); that closing the handle wakes a blocked
    recv() on Windows itself is not verified here."""

    def setUp(self) -> None:
        super().setUp()
        saved = oi._ABORT_CLOSES_HANDLE
        oi._ABORT_CLOSES_HANDLE = True
        self.addCleanup(setattr, oi, "_ABORT_CLOSES_HANDLE", saved)


class CountingFuture(concurrent.futures.Future):  # type: ignore[type-arg]
    """A Future that counts the callbacks added to it."""

    def __init__(self) -> None:
        super().__init__()
        self.callbacks = 0

    def add_done_callback(self, fn: Any) -> None:
        self.callbacks += 1
        super().add_done_callback(fn)


def wait_for(condition: Callable[[], bool], timeout: float = 10) -> None:
    """Wait until ``condition()`` holds (a state the test observes, not a delay)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.002)


def raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


class Outcome:
    """What a call run in another thread ended with, and when."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self.error: Optional[BaseException] = None
        self.ended = 0.0
        self.thread = threading.Thread(target=self.run, args=(call,), daemon=True)
        self.thread.start()

    def run(self, call: Callable[[], Any]) -> None:
        try:
            call()
        except BaseException as exc:  # handed to the test
            self.error = exc
        self.ended = time.monotonic()

    def wait(self) -> Optional[BaseException]:
        self.thread.join(30)
        return self.error


def stalled_body(framing: str) -> Action:
    """A 200 whose body stops after 40 bytes, in the given framing."""
    body = json.dumps({"created": 1, "data": [{"b64_json": PNG_B64}]}).encode()
    if framing == "close-delimited":
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
        return Action(raw=[head + body[:40], "HANG"])
    return Action(body=body, chunked=framing == "chunked", stall_after=40)


class CallTests(TempFilesMixin, ServerTestCase):
    """One owner per call: a local mistake raises at once and is never retried;
    abort, the total deadline and client.close() end every stage; a stream has
    one state; the server's early answer wins over a broken upload."""

    # -- local mistakes: raised before any traffic, never retried -------------

    def test_bad_headers_from_every_source_raise_before_any_traffic(self) -> None:
        for bad in ("a\r\nInjected: 1", "a\nb", "a\rb", "a\x00b", "folded\r\n continued"):
            with self.subTest(value=bad):
                started = time.monotonic()
                with self.assertRaises(ValueError) as caught:
                    self.client.images.generate(prompt="p", extra_headers={"X-Custom": bad})
                self.assertIn("'X-Custom'", str(caught.exception))
                self.assertNotIn(bad, str(caught.exception))
                self.assertLess(time.monotonic() - started, 0.5)
        for headers in ({"Bad Name": "v"}, {"X-Euro": "€"}, {"": "v"}):
            with self.subTest(headers=headers), self.assertRaises(ValueError):
                self.client.images.generate(prompt="p", extra_headers=headers)
        for where, options in (
            ("default_headers", {"default_headers": {"api-key": "k\r\nX: 1"}}),
            ("organization", {"organization": "org-1\n"}),
            ("project", {"project": "proj\x00"}),
        ):
            with self.subTest(where), self.assertRaises(ValueError) as caught:
                self.make_client(**options)
            self.assertIn(where, str(caught.exception))
        for image, where in (
            (("a.png", PNG, "image/png\r\nX-Injected: 1"), "content type"),
            (("a.png", PNG, "image/png", {"X-Part": "v\nw"}), "part headers"),
        ):
            with self.subTest(where), self.assertRaises(ValueError) as caught:
                self.client.images.edit(image=image, prompt="p")
            self.assertIn(where, str(caught.exception))
        self.assertEqual(self.api.requests, [])

    def test_framing_headers_cannot_be_given(self) -> None:
        for name in ("Content-Length", "transfer-encoding", "Host", "Connection"):
            with self.subTest(name):
                with self.assertRaises(ValueError) as caught:
                    self.client.images.generate(prompt="p", extra_headers={name: "1"})
                self.assertIn(name, str(caught.exception))
                with self.assertRaises(ValueError):
                    self.make_client(default_headers={name: "1"})
        self.assertEqual(self.api.requests, [])

    def test_bad_timeouts_raise_before_any_traffic(self) -> None:
        for value in (-1, 0, float("nan"), float("inf")):
            with self.subTest(value=value):
                with self.assertRaises(ValueError):
                    self.client.images.generate(prompt="p", timeout=value)
                with self.assertRaises(ValueError):
                    oi.Timeout(total=value)
        with self.assertRaises(TypeError):
            oi.Timeout(connect="5")  # type: ignore[arg-type]
        self.assertEqual(self.api.requests, [])

    def test_a_file_removed_between_attempts_is_not_retried(self) -> None:
        path = self.write("cat.png", PNG)
        self.api.queue(Action(500, {"error": {"message": "again"}}, before_reply=lambda: os.remove(path)))
        with self.assertRaises(FileNotFoundError) as caught:
            self.client.images.edit(image=path, prompt="p")
        self.assertIn("image: no such file", str(caught.exception))
        self.assertEqual(len(self.api.requests), 1)

    def test_file_objects_with_read_only_and_failing_reads(self) -> None:
        class ReadOnly:
            """read(), seek() and tell(): no readinto()."""

            def __init__(self, data: bytes) -> None:
                self.data = io.BytesIO(data)
                self.reads = 0

            def read(self, size: int = -1) -> bytes:
                self.reads += 1
                return self.data.read(size)

            def seek(self, offset: int, whence: int = 0) -> int:
                return self.data.seek(offset, whence)

            def tell(self) -> int:
                return self.data.tell()

            def seekable(self) -> bool:
                return True

        self.client.images.edit(image=ReadOnly(PNG), prompt="p")
        self.assertEqual(self.last.files[0][3], PNG)

        class Failing(ReadOnly):
            def read(self, size: int = -1) -> bytes:
                if self.reads >= 1:  # the first read sniffs the type; the upload's read fails
                    self.reads += 1
                    raise OSError(5, "Input/output error")
                return super().read(size)

        failing = Failing(PNG)
        started = time.monotonic()
        with self.assertRaises(OSError) as caught:
            self.client.images.edit(image=failing, prompt="p")
        self.assertIs(type(caught.exception), OSError)
        self.assertEqual(caught.exception.errno, 5)
        self.assertEqual(failing.reads, 2, "read once for the upload, not retried")
        self.assertLess(time.monotonic() - started, 2)

    def test_a_fifo_is_refused_at_once(self) -> None:
        if not hasattr(os, "mkfifo"):
            self.skipTest("no FIFOs here")
        path = os.path.join(self.tmp.name, "pipe.png")
        os.mkfifo(path)
        started = time.monotonic()
        with self.assertRaises(ValueError) as caught:
            self.client.images.edit(image=path, prompt="p")
        self.assertIn("not a regular file", str(caught.exception))
        self.assertLess(time.monotonic() - started, 1)
        self.assertEqual(self.api.requests, [])

    # -- abort, deadline and close() at every stage ----------------------------

    def test_abort_and_deadline_during_a_body_read_in_every_framing(self) -> None:
        for framing in ("content-length", "chunked", "close-delimited"):
            with self.subTest(framing):
                self.api.reset()
                self.api.queue(stalled_body(framing))
                trigger = threading.Event()
                fire_when(self.api.hanging, trigger.set)
                started = time.monotonic()
                with self.assertRaises(oi.APIUserAbortError) as caught:
                    self.client.images.generate(prompt="p", abort_trigger=trigger)
                self.assertLess(time.monotonic() - started, 3)
                self.assertIn(caught.exception.stage, ("during_request", "during_response"))
                self.api.reset()
                self.api.queue(stalled_body(framing))
                with self.assertRaises(oi.APITimeoutError) as timed:
                    self.client.images.generate(prompt="p", timeout=oi.Timeout(read=10, total=0.25))
                self.assertEqual(timed.exception.limit, "total")
                self.assertEqual(len(self.api.requests), 1)

    def test_client_close_ends_every_call_at_every_stage(self) -> None:
        silent = SilentServer()
        self.addCleanup(silent.close)
        first, *_ = image_events()
        slow_retries = oi.RetryPolicy(max_retries=3, initial_delay=30, max_delay=30)
        blob = PNG + b"\x00" * 32_000_000
        stages: List[Tuple[str, Callable[[oi.OpenAIClient], Any], Optional[Action], Any, Dict[str, Any]]] = [
            ("waiting for headers", lambda c: c.images.generate(prompt="p"), Action(hang=True), "arrived", {}),
            ("reading the body", lambda c: c.images.generate(prompt="p"), stalled_body("chunked"), "hanging", {}),
            ("stream headers", lambda c: c.images.generate(prompt="p", stream=True), Action(hang=True), "arrived", {}),
            ("between events", lambda c: list(c.images.generate_stream(prompt="p")), Action(sse=[first, "HANG"]), "hanging", {}),
            ("retry back-off", lambda c: c.images.generate(prompt="p"), Action(500, {}), "Retrying", {"retry_policy": slow_retries}),
            ("upload", lambda c: c.images.edit(image=blob, prompt="p"), None, silent.uploading, {"base_url": silent.url}),
        ]  # fmt: skip
        for name, run, action, ready, options in stages:
            with self.subTest(name):
                self.api.reset()
                if action is not None:
                    self.api.queue(action)
                if isinstance(ready, str):
                    ready = getattr(self.api, ready, None) or log_event(self, ready)
                client = self.make_client(**options)
                outcome = Outcome(functools.partial(run, client))
                self.assertTrue(ready.wait(30), f"never reached: {name}")
                closed_at = time.monotonic()
                client.close()
                error = outcome.wait()
                self.assertIsInstance(error, oi.APIUserAbortError, repr(error))
                assert isinstance(error, oi.APIUserAbortError)
                self.assertEqual(error.reason, oi.AbortReason.CLIENT_CLOSED)
                self.assertIn("client was closed", str(error))
                self.assertLess(outcome.ended - closed_at, 1.0)
                with self.assertRaises(oi.OpenAIError):
                    client.images.generate(prompt="p")

    def test_a_dropped_stream_is_released_by_garbage_collection(self) -> None:
        import weakref

        first, *_ = image_events()
        self.api.queue(Action(sse=[first, "HANG"]))
        stream = self.client.images.generate_stream(prompt="p")
        next(stream)
        dropped = weakref.ref(stream)
        del stream
        gc.collect()
        self.assertIsNone(dropped(), "the client must not keep the stream alive")
        self.assert_no_leaks()  # its socket is closed

    def test_close_from_another_thread_while_reading_acts_like_abort(self) -> None:
        first, *_ = image_events()
        self.api.queue(Action(sse=[first, "HANG"]))
        stream = self.client.images.generate_stream(prompt="p")
        next(stream)

        def close_while_reading() -> None:
            wait_for(lambda: stream.state == oi.ImageStream.READING)
            stream.close()

        fire_when(self.api.hanging, close_while_reading)
        with self.assertRaises(oi.APIUserAbortError) as caught:
            next(stream)
        self.assertEqual(caught.exception.stage, "during_stream")
        self.assertEqual(stream.state, oi.ImageStream.ABORTED)
        with self.assertRaises(oi.APIUserAbortError):
            next(stream)
        stream.close()  # idempotent
        self.assertEqual(stream.state, oi.ImageStream.ABORTED)

    def test_a_stream_cut_short_never_looks_complete_from_any_thread(self) -> None:
        for closer in ("this thread", "another thread"):
            with self.subTest(closer):
                stream = self.client.images.generate_stream(prompt="p")
                next(stream)  # between events: nobody is reading
                closing = threading.Thread(target=stream.close)
                closing.start() if closer == "another thread" else stream.close()
                closing.join() if closer == "another thread" else None
                self.assertEqual(stream.state, oi.ImageStream.ABORTED)
                with self.assertRaises(oi.APIUserAbortError):
                    for _ in stream:  # code that loops never carries on as if the stream had completed
                        pass
        stream = self.client.images.generate_stream(prompt="p")
        events = [next(stream) for _ in range(3)]  # the last is the completed event
        self.assertIsInstance(events[-1], oi.ImageGenCompletedEvent)
        stream.close()
        self.assertEqual((stream.state, list(stream)), (oi.ImageStream.CLOSED, []))  # after the end: quietly
        stream.abort()  # a no-op once closed
        self.assertEqual(stream.state, oi.ImageStream.CLOSED)

    def test_an_error_event_after_a_partial_in_one_chunk_keeps_the_partial(self) -> None:
        first, *_ = image_events()
        error = sse_event({"type": "error", "error": {"message": "moderation blocked", "code": "blocked"}}, "error")
        self.api.queue(Action(sse=[first + error]))
        stream = self.client.images.generate_stream(prompt="p")
        self.assertIsInstance(next(stream), oi.ImageGenPartialImageEvent)
        with self.assertRaises(oi.ImageStreamError) as caught:
            next(stream)
        self.assertIn("moderation blocked", str(caught.exception))
        self.assertEqual(len(caught.exception.partial_images), 1)
        self.assertEqual(stream.state, oi.ImageStream.CLOSED)

    # -- the server's answer wins ----------------------------------------------

    def test_an_early_answer_during_an_upload_wins(self) -> None:
        blob = PNG + b"\x00" * 32_000_000
        for early, status, error in (("close", 401, oi.AuthenticationError), ("open", 413, oi.APIStatusError)):
            with self.subTest(early=early):
                self.api.reset()
                self.api.queue(Action(status, {"error": {"message": "refused early"}}, early=early))
                client = self.make_client(timeout=oi.Timeout(connect=5, read=20))
                started = time.monotonic()
                with self.assertRaises(error) as caught:
                    client.images.edit(image=blob, prompt="p")
                self.assertIs(type(caught.exception), error)
                self.assertEqual(caught.exception.status_code, status)
                self.assertIn("refused early", str(caught.exception))
                self.assertLess(time.monotonic() - started, 5)
                self.assertEqual(len(self.api.requests), 1, "the upload is not sent again")
                client.close()
                self.api.release.set()

    def test_protocol_interop(self) -> None:
        body = json.dumps({"created": 1, "data": [{"b64_json": PNG_B64}]}).encode()
        json_type = {"Content-Type": "application/json"}
        cases = [
            ("1xx interim responses are skipped", Action(body=body, headers=json_type, interim=[103, 102])),
            (
                "chunked wins over Content-Length",
                Action(body=body, chunked=True, headers={**json_type, "Content-Length": str(3 * len(body))}),
            ),
            ("zlib deflate", Action(body=zlib.compress(body), headers={**json_type, "Content-Encoding": "deflate"})),
            ("raw deflate", Action(body=raw_deflate(body), headers={**json_type, "Content-Encoding": "deflate"})),
        ]
        for name, action in cases:
            with self.subTest(name):
                self.api.reset()
                self.api.queue(action)
                self.assertEqual(self.client.images.generate(prompt="p").data[0].to_bytes(), PNG)
                self.assertEqual(len(self.api.requests), 1)
        self.api.reset()
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \xc2\xb2\r\nConnection: close\r\n\r\n"
        self.api.queue(Action(raw=[head + body]))  # a length that is not a plain number: ignored, the answer kept
        self.assertEqual(self.client.images.generate(prompt="p").data[0].to_bytes(), PNG)

    # -- one watcher: no thread, poll or callback per call ---------------------

    def test_one_watcher_for_every_trigger_and_deadline(self) -> None:
        future = CountingFuture()
        event = threading.Event()
        for _ in range(100):
            self.client.images.generate(prompt="p", abort_trigger=future)
            self.client.images.generate(prompt="p", abort_trigger=event, timeout=oi.Timeout(total=60))
        self.assertEqual(future.callbacks, 1, "one callback per Future, however many calls use it")
        self.api.reset()
        self.api.queue(*[Action(hang=True) for _ in range(20)])
        outcomes = [
            Outcome(lambda: self.client.images.generate(prompt="p", abort_trigger=event, timeout=oi.Timeout(total=60)))
            for _ in range(20)
        ]
        wait_for(lambda: len(self.api.requests) == 20)
        library = [t.name for t in threading.enumerate() if t.name.startswith("openai-images")]
        self.assertEqual(library, ["openai-images-watch"], "one thread for all deadlines, none per call")
        fired = time.monotonic()
        event.set()
        for outcome in outcomes:
            self.assertIsInstance(outcome.wait(), oi.APIUserAbortError)
            self.assertLess(outcome.ended - fired, 1.0)


RESOLVER_SCRIPT = r"""
import json, socket, sys, threading, time
sys.path.insert(0, sys.argv[1])
import openai_images as oi

asked = {}  # host label -> Event set when a query for that host arrives
dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
dns.bind(("127.0.0.1", 53))

def silent_dns():  # reads queries, never answers: every lookup stalls
    while True:
        packet = dns.recv(512)
        for label, event in list(asked.items()):
            if bytes([len(label)]) + label.encode() in packet:
                event.set()

threading.Thread(target=silent_dns, daemon=True).start()
results = {}

def measure(name, fire=None, **timeouts):  # a host name per case: lookups of one name are shared
    asked[name] = queried = threading.Event()
    config = oi.OpenAIConfig(api_key="sk-test", base_url=f"http://{name}.slow-dns.test:8080/v1", proxies={},
                             retry_policy=oi.RetryPolicy(max_retries=0), timeout=oi.Timeout(**timeouts))
    client = oi.OpenAIClient(config=config)
    trigger = threading.Event()
    action = {"abort": trigger.set, "close": client.close}.get(fire)
    if action is not None:
        threading.Thread(target=lambda: queried.wait(30) and action(), daemon=True).start()
    started = time.monotonic()
    try:
        client.images.generate(prompt="p", abort_trigger=trigger)
        results[name] = {"error": None}
    except oi.OpenAIError as exc:
        results[name] = {"error": type(exc).__name__, "limit": getattr(exc, "limit", None),
                         "reason": getattr(exc, "reason", None), "seconds": time.monotonic() - started,
                         "after_query": queried.is_set()}

measure("abort", "abort", connect=30, read=30)
measure("close", "close", connect=30, read=30)
measure("connect", connect=0.3, read=30)
measure("total", connect=30, read=30, total=0.3)
print(json.dumps(results))
"""


def run_in_network_namespace(test: unittest.TestCase, script: str, *args: str) -> str:
    """Run ``script`` in its own network and mount namespaces (root on Linux),
    with /etc/resolv.conf pointing at 127.0.0.1, where the script can serve
    DNS. Skips the test where namespaces are not available."""
    if not sys.platform.startswith("linux") or not shutil.which("unshare") or not shutil.which("ip"):
        test.skipTest("needs Linux with unshare and ip")
    if subprocess.run(["unshare", "-m", "-n", "true"], capture_output=True).returncode != 0:
        test.skipTest("cannot create namespaces here (needs root)")
    with tempfile.TemporaryDirectory() as tmp:
        resolv = os.path.join(tmp, "resolv.conf")
        with open(resolv, "w") as handle:
            handle.write("nameserver 127.0.0.1\noptions timeout:2 attempts:1\n")
        path = os.path.join(tmp, "script.py")
        with open(path, "w") as handle:
            handle.write(script)
        shell = 'ip link set lo up && mount --bind "$1" /etc/resolv.conf && shift && exec "$@"'
        done = subprocess.run(
            ["unshare", "-m", "-n", "sh", "-c", shell, "sh", resolv, sys.executable, path, *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
    test.assertEqual(done.returncode, 0, done.stderr[-2000:])
    return done.stdout


class NameResolutionTests(TestCase):
    def test_abort_deadline_close_and_connect_timeout_cover_name_resolution(self) -> None:
        results = json.loads(run_in_network_namespace(self, RESOLVER_SCRIPT, HERE).strip().splitlines()[-1])
        for name in ("abort", "close"):
            self.assertEqual(results[name]["error"], "APIUserAbortError", results)
            self.assertTrue(results[name]["after_query"], results)
            self.assertLess(results[name]["seconds"], 1.5, results)  # the lookup itself would take 2 s
        self.assertEqual(results["close"]["reason"], "client_closed")
        self.assertEqual((results["connect"]["error"], results["connect"]["limit"]), ("APITimeoutError", "connect"))
        self.assertEqual((results["total"]["error"], results["total"]["limit"]), ("APITimeoutError", "total"))
        for name in ("connect", "total"):
            self.assertLess(results[name]["seconds"], 1.5, results)


# =============================================================================
# Faults, hostile servers and load: one table of server faults, servers that never
# stop, every promise under attack, many threads
# =============================================================================

ERROR_BODY = {"error": {"message": "try again", "type": "server_error"}}
OK_BODY = {"created": 1, "data": [{"b64_json": PNG_B64}], "usage": USAGE}
BAD_GATEWAY = "<html><body>\n<h1>502 Bad Gateway</h1>\n</body></html>"


class Fault:
    """One row of the fault matrix: what the server does, and how the call ends."""

    def __init__(
        self,
        name: str,
        actions: Callable[[], List[Action]],
        error: Optional[type],
        attempts: int,
        *,
        modes: Tuple[str, ...] = ("plain", "stream"),
        request_id: bool = True,
        message: str = "",
        min_seconds: float = 0.0,
        max_seconds: float = 3.0,
        refused: bool = False,
    ) -> None:
        self.name, self.actions, self.error, self.attempts = name, actions, error, attempts
        self.modes, self.request_id, self.message = modes, request_id, message
        self.min_seconds, self.max_seconds, self.refused = min_seconds, max_seconds, refused


def http_date(offset: float) -> str:
    from email.utils import formatdate

    return formatdate(time.time() + offset, usegmt=True)


def fault_matrix() -> List[Fault]:
    first, second, _ = image_events()
    error_event = sse_event({"type": "error", "error": {"message": "rejected", "code": "moderation_blocked"}}, "error")
    statuses = {
        408: oi.APIStatusError,
        409: oi.ConflictError,
        429: oi.RateLimitError,
        500: oi.InternalServerError,
        502: oi.InternalServerError,
        503: oi.InternalServerError,
        504: oi.InternalServerError,
    }

    def every(action: Action) -> Callable[[], List[Action]]:
        return lambda: [action] * 3

    def once(*actions: Action) -> Callable[[], List[Action]]:
        return lambda: list(actions)

    plain, stream = ("plain",), ("stream",)
    return [
        Fault(
            "connection refused", once(), oi.APIConnectionError, 0, refused=True, request_id=False, message="refused"
        ),
        Fault(
            "reset before headers, every attempt", every(Action(drop=True)), oi.APIConnectionError, 3, request_id=False
        ),
        Fault("reset before headers once", once(Action(drop=True)), None, 2),
        Fault(
            "stalled before headers: idle timeout",
            every(Action(hang=True)),
            oi.APITimeoutError,
            3,
            request_id=False,
            message="read timeout",
        ),
        *[
            Fault(f"{status} every attempt", every(Action(status, ERROR_BODY)), cls, 3, message="try again")
            for status, cls in statuses.items()
        ],
        *[Fault(f"{status} once", once(Action(status, ERROR_BODY)), None, 2) for status in statuses],
        Fault(
            "Retry-After in seconds", once(Action(429, ERROR_BODY, {"retry-after": "0.25"})), None, 2, min_seconds=0.25
        ),
        Fault("retry-after-ms", once(Action(503, ERROR_BODY, {"retry-after-ms": "200"})), None, 2, min_seconds=0.2),
        Fault("Retry-After as an HTTP date", lambda: [Action(503, ERROR_BODY, {"retry-after": http_date(1)})], None, 2),
        Fault(
            "Retry-After as a past date", lambda: [Action(503, ERROR_BODY, {"retry-after": http_date(-60)})], None, 2
        ),
        Fault("Retry-After garbage", once(Action(503, ERROR_BODY, {"retry-after": "soon-ish"})), None, 2),
        Fault(
            "Retry-After above the cap",
            once(Action(429, ERROR_BODY, {"retry-after": "3600"})),
            oi.RateLimitError,
            1,
            max_seconds=1.0,
        ),
        Fault(
            "retry-after-ms overflowing",
            once(Action(503, ERROR_BODY, {"retry-after-ms": "1e400"})),
            oi.InternalServerError,
            1,
            max_seconds=1.0,
        ),
        Fault("x-should-retry: true on a 400", once(Action(400, ERROR_BODY, {"x-should-retry": "true"})), None, 2),
        Fault(
            "x-should-retry: false on a 503",
            once(Action(503, ERROR_BODY, {"x-should-retry": "false"})),
            oi.InternalServerError,
            1,
        ),
        Fault(
            "HTML error body",
            every(Action(502, BAD_GATEWAY, {"Content-Type": "text/html"})),
            oi.InternalServerError,
            3,
            message="502 Bad Gateway",
        ),
        Fault("empty error body", every(Action(500, b"")), oi.InternalServerError, 3, message="Error code: 500"),
        Fault(
            "gzip error body",
            every(
                Action(
                    400,
                    gzip_bytes(json.dumps(ERROR_BODY).encode()),
                    {"Content-Encoding": "gzip", "Content-Type": "application/json"},
                )
            ),
            oi.BadRequestError,
            1,
            message="try again",
        ),
        # after the headers of a plain call: the body is read inside the retry loop
        Fault(
            "reset mid-body",
            every(Action(200, OK_BODY, truncate_after=20)),
            oi.APIConnectionError,
            3,
            modes=plain,
            message="Connection closed after 20",
        ),
        Fault("reset mid-body once", once(Action(200, OK_BODY, truncate_after=20)), None, 2, modes=plain),
        Fault(
            "truncated chunked body",
            every(Action(200, OK_BODY, chunked=True, truncate_after=30)),
            oi.APIConnectionError,
            3,
            modes=plain,
        ),
        Fault(
            "truncated gzip body",
            every(Action(200, gzip_bytes(json.dumps(OK_BODY).encode())[:-12], {"Content-Encoding": "gzip"})),
            oi.APIConnectionError,
            3,
            modes=plain,
        ),
        Fault(
            "stalled mid-body: idle timeout",
            every(Action(200, OK_BODY, stall_after=20)),
            oi.APITimeoutError,
            3,
            modes=plain,
        ),
        Fault(
            "200 with invalid JSON",
            once(Action(200, b"{not json", {"Content-Type": "application/json"})),
            oi.APIResponseValidationError,
            1,
            modes=plain,
            message="not valid JSON",
        ),
        Fault(
            "200 with a JSON error envelope",
            once(Action(200, {"error": {"message": "late failure"}})),
            oi.APIError,
            1,
            modes=plain,
            message="late failure",
        ),
        Fault(
            "200 that is not an images response",
            once(Action(200, [1, 2])),
            oi.APIResponseValidationError,
            1,
            modes=plain,
        ),
        Fault(
            "200 whose data is not a list",
            once(Action(200, {"created": 1, "data": "nope"})),
            oi.APIResponseValidationError,
            1,
            modes=plain,
        ),
        # after the headers of a stream: events may have been delivered, so nothing is retried
        Fault(
            "stream reset between events", once(Action(sse=[first, "CUT"])), oi.IncompleteStreamError, 1, modes=stream
        ),
        Fault(
            "stream cut mid-event",
            once(Action(sse=[first, second[:40], "CUT"])),
            oi.IncompleteStreamError,
            1,
            modes=stream,
        ),
        Fault(
            "stream ends without the final image",
            once(Action(sse=[first, second])),
            oi.IncompleteStreamError,
            1,
            modes=stream,
        ),
        Fault(
            "stream chunk cut short",
            once(
                Action(
                    raw=[
                        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nx-request-id: req_1\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n",
                        b"%x\r\n" % (len(first) + 100),
                        first,
                    ]
                )
            ),
            oi.IncompleteStreamError,
            1,
            modes=stream,
        ),
        Fault(
            "stream stalled: idle timeout",
            once(Action(sse=[first, "HANG"])),
            oi.APITimeoutError,
            1,
            modes=stream,
            message="read timeout",
        ),
        Fault(
            "stream event with invalid JSON",
            once(Action(sse=[b"data: {oops\n\n"])),
            oi.APIResponseValidationError,
            1,
            modes=stream,
        ),
        Fault(
            "stream error event",
            once(Action(sse=[first, error_event])),
            oi.ImageStreamError,
            1,
            modes=stream,
            message="rejected",
        ),
    ]


class FaultMatrixTests(ServerTestCase):
    def test_fault_matrix(self) -> None:
        """Every fault, plain and streamed: rows run at once, each against a
        fake API of its own, since most of a row is waiting (timeouts, retry
        hints); each row's outcome is then checked here."""
        instant = oi.RetryPolicy(max_retries=2, initial_delay=0.001, max_delay=0.002)  # the rows test which, not when
        refused_url = f"http://127.0.0.1:{free_port()}/v1"

        def run(fault: Fault, mode: str) -> Tuple[Optional[BaseException], float, int]:
            api = FakeImagesAPI()
            url = refused_url if fault.refused else api.url
            client = self.make_client(base_url=url, timeout=oi.Timeout(connect=2, read=0.3), retry_policy=instant)
            api.queue(*fault.actions())
            started = time.monotonic()
            outcome: Optional[BaseException] = None
            try:
                if mode == "plain":
                    result = client.images.generate(prompt="p")
                    self.assertEqual(result.data[0].to_bytes(), PNG)
                else:
                    with client.images.generate_stream(prompt="p") as stream:
                        self.assertEqual(stream.final_image().to_bytes(), PNG)
            except (oi.OpenAIError, AssertionError) as exc:
                outcome = exc
            finally:
                elapsed = time.monotonic() - started
                client.close()
                api.close()
            return outcome, elapsed, len(api.requests)

        rows = [(fault, mode) for fault in fault_matrix() for mode in fault.modes]
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            results = list(pool.map(lambda row: run(*row), rows))
        for (fault, mode), (outcome, elapsed, requests) in zip(rows, results):
            with self.subTest(fault.name, mode=mode):
                if fault.error is None:
                    self.assertIsNone(outcome)
                else:
                    self.assertIs(type(outcome), fault.error, repr(outcome))
                    self.assertIn(fault.message, str(outcome))
                    expected_id = f"req_{fault.attempts}" if fault.request_id else None
                    self.assertEqual(getattr(outcome, "request_id", None), expected_id)
                self.assertEqual(requests, fault.attempts)
                self.assertGreaterEqual(elapsed, fault.min_seconds)
                self.assertLess(elapsed, fault.max_seconds)
        self.assertGreaterEqual(len(rows), 60)
        self.assert_no_leaks()


class PeakMemory:
    traced = True  # measured with tracemalloc (Python allocations), else the process's peak RSS
    value = 0  # bytes


@contextlib.contextmanager
def peak_memory_growth() -> Iterator[PeakMemory]:
    """The peak memory growth during the block: tracemalloc where it exists,
    else (PyPy) the most the process's resident size grew, sampled after collections."""
    peak = PeakMemory()
    try:
        import tracemalloc
    except ImportError:
        tracemalloc = None  # type: ignore[assignment]
    if tracemalloc is not None:
        tracemalloc.start()
        try:
            yield peak
            peak.value = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        return
    if not os.path.exists("/proc/self/status"):
        raise unittest.SkipTest("no tracemalloc and no /proc/self/status to measure memory with")

    def resident() -> int:
        with open("/proc/self/status") as handle:
            return 1024 * int(re.search(r"VmRSS:\s+(\d+)", handle.read()).group(1))  # type: ignore[union-attr]

    # PyPy's collector lets garbage pile up to several times what is alive, when
    # it pleases: what the code holds is the resident size read right after a
    # collection, sampled every 10 ms while the block runs.
    stop, samples = threading.Event(), [0]

    def sample() -> None:
        while not stop.wait(0.01):
            gc.collect()
            samples.append(resident() - before)

    gc.collect()
    peak.traced, before = False, resident()
    sampler = threading.Thread(target=sample, name="memory-sampler", daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        stop.set()
        sampler.join()
    gc.collect()
    peak.value = max(*samples, resident() - before)


def endless(head: bytes, piece: bytes) -> Iterator[bytes]:
    """A response that never ends: ``head``, then ``piece`` for ever."""
    yield head
    while True:
        yield piece


# Load and size tests run at LOAD_SCALE of their full size (OPENAI_IMAGES_LOAD_SCALE,
# default 0.2); CI's deep stage runs them at 1.
LOAD_SCALE = float(os.environ.get("OPENAI_IMAGES_LOAD_SCALE", "0.2"))


class HostileServerTests(ServerTestCase):
    """Servers that never stop talking: memory stays bounded by the configured
    limits and the call ends with a clear error."""

    LIMIT = max(1 << 18, int((1 << 20) * LOAD_SCALE))  # the limits every endless body runs into (1 MiB at full scale)
    SAFETY_NET = oi.Timeout(connect=5, read=5, total=8)  # a missing limit fails the test instead of hanging it

    def bounded(
        self, call: Callable[[], Any], error: type, message: str, *actions: Action, limit: int = 0
    ) -> BaseException:
        """``call`` fails with ``error`` saying ``message``, its memory bounded by
        ``limit`` (by default the limits the client was given)."""
        self.api.reset()
        self.api.queue(*actions)
        started = time.monotonic()
        with peak_memory_growth() as peak, self.assertRaises(error) as caught:
            call()
        self.assertLess(time.monotonic() - started, 10)
        self.assertIn(message, str(caught.exception))
        # Python objects (tracemalloc) on CPython, the resident size on PyPy (an
        # unbounded read is GBs): what does not grow with the limit (the fake
        # server's chunks in flight, the sockets' buffers), and a few copies of
        # what the limit lets in.
        limit = limit or self.LIMIT
        allowed = (1 << 20) + 5 * limit if peak.traced else (4 << 20) + 28 * limit
        self.assertLess(peak.value, allowed, "memory bounded by the limit, not by what the server sends")
        self.assert_no_leaks()
        return caught.exception

    def test_endless_streams(self) -> None:
        client = self.make_client(
            max_event_bytes=self.LIMIT, retry_policy=oi.RetryPolicy(max_retries=0), timeout=self.SAFETY_NET
        )

        def consume() -> None:
            list(client.images.generate_stream(prompt="p"))

        cases = {
            "one endless line": (b"data: ", b"x" * 65536),
            "one endless event of many lines": (b"", b"data: xxxxxxxxxxxxxxxx\n" * 4096),
            "endless comments": (b"", b": keep-alive\n" * 8192),
            "endless blank lines": (b"", b"\n" * 65536),
        }
        for name, (head, piece) in cases.items():
            with self.subTest(name):
                self.bounded(
                    consume, oi.APIResponseValidationError, "max_event_bytes", Action(sse=endless(head, piece))
                )

    def test_endless_and_explosive_bodies(self) -> None:
        client = self.make_client(
            max_response_bytes=self.LIMIT,
            max_error_body_bytes=self.LIMIT,
            retry_policy=oi.RetryPolicy(max_retries=0),
            timeout=self.SAFETY_NET,
        )

        def generate() -> None:
            client.images.generate(prompt="p")

        error = self.bounded(
            generate,
            oi.InternalServerError,
            "Error code: 500",
            Action(500, sse=endless(b"<html>", b"x" * 65536), headers={"Content-Type": "text/html"}),
        )
        self.assertLessEqual(len(str(error)), 2000, "the message shows the start of the page only")
        self.bounded(
            generate,
            oi.APIResponseValidationError,
            "larger than the configured limit",
            Action(
                200,
                sse=endless(b'{"data": [{"b64_json": "', b"A" * 65536),
                headers={"Content-Type": "application/json"},
            ),
        )
        self.bounded(
            generate,
            oi.APIResponseValidationError,
            "larger than the configured limit",
            Action(
                200,
                gzip_bytes(b"[" + b" " * 200_000_000 + b"]"),
                {"Content-Type": "application/json", "Content-Encoding": "gzip"},
            ),
        )
        self.bounded(
            generate,
            oi.APIResponseValidationError,
            "larger than the configured limit",
            Action(200, b"A" * (self.LIMIT + 1), {"Content-Type": "application/json"}),
        )

    def test_endless_headers(self) -> None:
        client = self.make_client(retry_policy=oi.RetryPolicy(max_retries=0), timeout=self.SAFETY_NET)

        def generate() -> None:
            client.images.generate(prompt="p")

        # http.client's own limits, whatever the load scale: 100 lines of at most 64 KiB, read one at a time
        limit = 1 << 20

        self.bounded(
            generate,
            oi.APIConnectionError,
            "more than 100 headers",
            Action(raw=endless(b"HTTP/1.1 200 OK\r\n", b"X-Pad: aaaaaaaaaaaaaaaa\r\n")),
            limit=limit,
        )
        self.bounded(
            generate,
            oi.APIConnectionError,
            "header line",
            Action(raw=endless(b"HTTP/1.1 200 OK\r\nX-Pad: ", b"a" * 65536)),
            limit=limit,
        )
        self.bounded(
            generate,
            oi.APIConnectionError,
            "status line",
            Action(raw=endless(b"HTTP/1.1 200 ", b"O" * 65536)),
            limit=limit,
        )


ODD_KEY = "sk-odd/SECRET+key=4f9a2b7c1d"  # a key whose URL-encoded and JSON-escaped forms differ from it
OTHER_SECRETS = ("azure-subscription-4f9a2b7c1d", "goog-api-key-4f9a2b7c1d")


def all_forms(secret: str) -> List[str]:
    """How a server could echo a secret (and what must never show): the
    secret, its tail, its URL-encoded, JSON-escaped and base64 forms."""
    from urllib.parse import quote

    return [
        secret,
        secret[-12:],
        quote(secret, safe=""),
        json.dumps(secret)[1:-1],
        base64.b64encode(secret.encode()).decode()[4:-4],
    ]


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


class HostileInputTests(TempFilesMixin, ServerTestCase):
    """Every promise the README makes, under attack: one row per attack, over
    real sockets. Secrets never show (messages, reprs, logs at every level);
    memory stays bounded; a malformed reply is a clear OpenAIError."""

    LIMIT = 1 << 20

    def shown(self, exc: BaseException) -> str:
        """Everything a user could print of an exception, and the logs so far."""
        import traceback

        parts = ["".join(traceback.format_exception(type(exc), exc, exc.__traceback__)), repr(exc.args)]
        parts += [repr(getattr(exc, name, None)) for name in ("body", "request_id", "response", "request")]
        return "\n".join(parts + CAPTURED_LOGS)

    def assert_hidden(self, text: str, *secrets: str) -> None:
        for secret in secrets:
            for form in all_forms(secret):
                self.assertNotIn(form, text, f"a form of a secret shows: {form!r}")

    def test_secrets_never_show(self) -> None:
        self.client = self.make_client(retry_policy=oi.RetryPolicy(max_retries=0))
        key = TEST_KEY
        b64 = base64.b64encode(key.encode()).decode()
        rows: List[Tuple[str, Action, type]] = [
            ("the key in the reason phrase", Action(raw=[f"HTTP/1.1 401 Bearer {key}\r\nContent-Length: 2\r\n\r\n{{}}".encode()]), oi.AuthenticationError),
            ("the key in another header and a redirect", Action(302, {}, {"Location": f"https://evil.example/?k={key}", "X-Echo": key}), oi.APIStatusError),
            ("the key as the request id", Action(400, {"error": {"message": "bad"}}, {"x-request-id": key}), oi.BadRequestError),
            ("the key cut at 200 characters", Action(500, "x" * 190 + key, {"Content-Type": "text/html"}), oi.InternalServerError),
            ("the key wrapped across lines", Action(500, f"<pre>{key[:9]}\n   {key[9:]}</pre>", {"Content-Type": "text/html"}), oi.InternalServerError),
            ("the key in base64", Action(400, {"error": {"message": f"token {b64} rejected"}}), oi.BadRequestError),
            ("the key in a stream error", Action(sse=[sse_event({"error": {"message": f"bad key {key}"}}, "error")]), oi.ImageStreamError),
        ]  # fmt: skip
        for name, action, error in rows:
            with self.subTest(name):
                self.api.reset()
                self.api.queue(action)
                stream = "stream" in name
                with self.assertRaises(error) as caught:
                    if stream:
                        list(self.client.images.generate_stream(prompt="p"))
                    else:
                        self.client.images.generate(prompt="p")
                self.assert_hidden(self.shown(caught.exception), key)
                if "request id" in name:
                    self.assertIsNone(caught.exception.request_id)
        odd = self.make_client(api_key=ODD_KEY)
        from urllib.parse import quote

        for name, text in (
            ("URL-encoded", quote(ODD_KEY, safe="")),
            ("JSON-escaped", json.dumps(ODD_KEY)[1:-1].replace("/", "\\/")),
        ):
            with self.subTest(name):
                self.api.reset()
                self.api.queue(
                    Action(
                        400, f'{{"error": {{"message": "key {text} refused"}}}}', {"Content-Type": "application/json"}
                    )
                )
                with self.assertRaises(oi.BadRequestError) as caught:
                    odd.images.generate(prompt="p")
                self.assert_hidden(self.shown(caught.exception), ODD_KEY)
                self.assertIn("<redacted>", str(caught.exception))
        with self.subTest("credentials in default headers"):
            headers = {"Ocp-Apim-Subscription-Key": OTHER_SECRETS[0], "X-Goog-Api-Key": OTHER_SECRETS[1]}
            client = self.make_client(default_headers=headers)
            self.api.reset()
            self.api.queue(Action(400, {"error": {"message": f"{OTHER_SECRETS[0]} and {OTHER_SECRETS[1]}"}}))
            with self.assertRaises(oi.BadRequestError) as caught:
                client.images.generate(prompt="p")
            self.assert_hidden(self.shown(caught.exception), *OTHER_SECRETS)
            self.assertEqual(self.last.headers["X-Goog-Api-Key"], OTHER_SECRETS[1])  # still sent
        with self.subTest("a password in base_url"), self.assertRaises(ValueError) as caught:
            self.make_client(base_url="http://user:hunter2-password@127.0.0.1:9/v1")
        self.assertNotIn("hunter2", str(caught.exception))
        with self.subTest("an https:// proxy with credentials from the environment"):
            with proxy_environment(HTTPS_PROXY="https://user:hunter2-password@127.0.0.1:9", NO_PROXY=""):
                client = oi.OpenAIClient(config=oi.OpenAIConfig(api_key=key, base_url="https://127.0.0.1:9/v1"))
                with self.assertRaises(ValueError) as caught:
                    client.images.generate(prompt="p")
            self.assertIn("HTTPS_PROXY", str(caught.exception))
            self.assertNotIn("hunter2", str(caught.exception))

    def test_memory_stays_bounded(self) -> None:
        client = self.make_client(
            max_response_bytes=self.LIMIT,
            max_event_bytes=self.LIMIT,
            retry_policy=oi.RetryPolicy(max_retries=0),
            timeout=oi.Timeout(connect=5, read=5, total=8),
        )
        json_type = {"Content-Type": "application/json"}
        many = b'{"data": [' + b"{}," * 5_000_000 + b"{}]}"
        rows: List[Tuple[str, Action, Callable[[], Any], str]] = [
            ("a stream answered with endless JSON", Action(sse=endless(b'{"data": [{"b64_json": "', b"A" * 65536), headers=json_type), lambda: list(client.images.generate_stream(prompt="p")), "larger than the configured limit"),
            ("a stream answered with a JSON gzip bomb", Action(200, gzip_bytes(b"[" + b" " * int(200_000_000 * LOAD_SCALE) + b"]"), {**json_type, "Content-Encoding": "gzip"}), lambda: list(client.images.generate_stream(prompt="p")), "larger than the configured limit"),
            ("millions of empty images in a small gzip", Action(200, gzip_bytes(many), {**json_type, "Content-Encoding": "gzip"}), lambda: self.make_client(max_response_bytes=32 << 20).images.generate(prompt="p"), "more than 100000 arrays and objects"),
        ]  # fmt: skip
        for name, action, call, message in rows:
            with self.subTest(name):
                self.api.reset()
                self.api.queue(action)
                with peak_memory_growth() as peak, self.assertRaises(oi.APIResponseValidationError) as caught:
                    call()
                self.assertIn(message, str(caught.exception))
                bound = 6 * self.LIMIT if "millions" not in name else 4 * len(many)  # the decoded bytes, not 87x them
                self.assertLess(peak.value, bound if peak.traced else 32 * bound)

    def test_a_pipe_upload_is_spooled_to_disk(self) -> None:
        read_end, write_end = os.pipe()
        size = 48 << 20

        def feed() -> None:
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(PNG)
                for _ in range(size // (1 << 20)):
                    pipe.write(b"\x00" * (1 << 20))

        threading.Thread(target=feed, daemon=True).start()
        with os.fdopen(read_end, "rb") as pipe, peak_memory_growth() as peak:
            part = oi.FilePart.from_input("image", pipe)
        self.assertEqual(part.size, len(PNG) + size)
        self.assertLess(peak.value, (8 << 20) if peak.traced else (64 << 20), "a pipe is not read into memory")
        self.api.queue(Action(500, {}))  # the retry re-reads the copy
        self.client.images.edit(image=part, prompt="p")
        self.assertEqual([len(r.files[0][3]) for r in self.api.requests], [len(PNG) + size] * 2)

    def test_hostile_replies_are_clear_errors(self) -> None:
        image = {"b64_json": PNG_B64}
        rows: List[Tuple[str, Action, str]] = [
            ("deep nesting in a success body", Action(200, f'{{"data": [], "x": {nested(5000)}}}', {"Content-Type": "application/json"}), "levels deep"),
            ("moderate nesting in a success body", Action(200, f'{{"data": [], "x": {nested(200)}}}', {"Content-Type": "application/json"}), "levels deep"),
            ("data: [1]", Action(200, {"data": [1]}), "data[0] should be an object, not int"),
            ("data: [null]", Action(200, {"data": [None, image]}), "data[0] should be an object, not NoneType"),
            ('usage: "x"', Action(200, {"data": [image], "usage": "x"}), "usage should be an object, not str"),
            ("output_format: 5", Action(200, {"data": [image], "output_format": 5}), "output_format should be str, not int"),
            ('created: "x"', Action(200, {"created": "x", "data": [image]}), "created should be int, not str"),
            ("created: true", Action(200, {"created": True, "data": [image]}), "created should be int, not bool"),
            ("NaN", Action(200, '{"created": NaN, "data": []}', {"Content-Type": "application/json"}), "NaN is not JSON"),
            ("Infinity", Action(200, '{"created": 1, "data": [], "x": -Infinity}', {"Content-Type": "application/json"}), "Infinity is not JSON"),
            ("too many images", Action(200, {"data": [image] * 1001}), "more than the 1000 accepted"),
        ]  # fmt: skip
        for name, action, message in rows:
            with self.subTest(name):
                self.api.reset()
                self.api.queue(action)
                with self.assertRaises(oi.APIResponseValidationError) as caught:
                    self.client.images.generate(prompt="p")
                self.assertIn(message, str(caught.exception))
        events = [
            ("deep nesting in a stream event", sse_event(f'{{"type": "x", "y": {nested(5000)}}}'), "levels deep"),
            (
                "a stream event of the wrong shape",
                sse_event({"type": "image_generation.completed", "b64_json": 5}),
                "b64_json should be str",
            ),
        ]
        for name, event, message in events:
            with self.subTest(name):
                self.api.reset()
                self.api.queue(Action(sse=[event]))
                with self.assertRaises(oi.APIResponseValidationError) as caught:
                    list(self.client.images.generate_stream(prompt="p"))
                self.assertIn(message, str(caught.exception))
        with self.subTest("deep nesting in an error body"):
            self.api.reset()
            self.api.queue(Action(400, f'{{"error": {nested(5000)}}}', {"Content-Type": "application/json"}))
            with self.assertRaises(oi.BadRequestError):
                self.client.images.generate(prompt="p")
        with self.subTest("terminal escapes and line breaks in an error"):
            self.api.reset()
            evil = "bad\x1b[31m red\x1b]52;c;aGk=\x07 clipboard\r\nX-Fake: header\x9b2J"
            self.api.queue(Action(400, {"error": {"message": evil}}))
            with self.assertRaises(oi.BadRequestError) as caught:
                self.client.images.generate(prompt="p")
            text = str(caught.exception)
            self.assertFalse(any(ch in text for ch in "\x1b\x07\r\n\x9b"), repr(text))
            self.assertIn("bad [31m red ]52;c;aGk= clipboard X-Fake: header 2J", text)
        with self.subTest("an SSE retry field of 5,000 digits"):
            self.api.reset()
            self.api.queue(Action(sse=[b"retry: " + b"9" * 5000 + b"\n\n", *image_events()]))
            self.assertEqual(self.client.images.generate_stream(prompt="p").final_image().to_bytes(), PNG)

    def test_awkward_inputs(self) -> None:
        with self.subTest("a file name that is not UTF-8"):
            path = os.path.join(os.fsencode(self.tmp.name), b"cat-\xff.png")
            with open(path, "wb") as handle:
                handle.write(PNG)
            self.client.images.edit(image=os.fsdecode(path), prompt="p")
            self.assertEqual(self.last.files[0][1], "cat-\ufffd.png")
        with self.subTest("an Azure deployment named '..'"):
            self.api.reset()
            config = oi.OpenAIConfig.azure(endpoint=self.api.url, api_version="V", api_key=TEST_KEY)
            with self.assertRaises(ValueError):
                oi.OpenAIClient(config=config).images.generate(model="..", prompt="p")
            self.assertEqual(self.api.requests, [])


class LoadTests(ServerTestCase):
    THREADS, CALLS = 32, 5 * max(1, round(10 * LOAD_SCALE))  # calls of each of the 5 kinds, in turn

    def test_one_client_shared_by_many_threads(self) -> None:
        """Plain, multipart and streaming calls, some aborted mid-stream: every
        answer belongs to its own request, nothing unexpected, nothing leaked."""
        self.api.echo = True
        client = self.make_client(retry_policy=oi.RetryPolicy(max_retries=0))
        outcomes: Dict[str, int] = {}
        lock = threading.Lock()

        def image_prompt(png: bytes) -> bytes:
            at = 8
            while at < len(png):
                length, kind = struct.unpack(">I4s", png[at : at + 8])
                if kind == b"tEXt":
                    return png[at + 8 : at + 8 + length].split(b"\x00", 1)[1]
                at += 12 + length
            return b""

        def call(worker: int, number: int) -> str:
            prompt = f"w{worker}-c{number}"
            kind = number % 5
            if kind == 0:
                result = client.images.generate(prompt=prompt)
                data = result.data[0].to_bytes()
            elif kind == 1:
                upload = make_png(2, 2, seed=worker, text=prompt)
                data = client.images.edit(image=("in.png", upload), prompt=prompt).data[0].to_bytes()
            elif kind == 2:
                with client.images.generate_stream(prompt=prompt, partial_images=1) as stream:
                    data = stream.final_image().to_bytes()
            else:
                trigger = threading.Event()
                stream = client.images.edit_stream(image=PNG, prompt=prompt, abort_trigger=trigger)
                self.assertIsInstance(next(stream), oi.ImageEditPartialImageEvent)
                (trigger.set if kind == 3 else stream.abort)()
                with self.assertRaises(oi.APIUserAbortError):
                    next(stream)
                return "aborted"
            self.assertEqual(image_prompt(data), prompt.encode(), "the answer belongs to this request")
            return "ok"

        def worker(index: int) -> None:
            for number in range(self.CALLS):
                outcome = call(index, number)
                with lock:
                    outcomes[outcome] = outcomes.get(outcome, 0) + 1

        with concurrent.futures.ThreadPoolExecutor(self.THREADS) as pool:
            for future in [pool.submit(worker, i) for i in range(self.THREADS)]:
                future.result()
        total = self.THREADS * self.CALLS
        self.assertEqual(outcomes, {"ok": total * 3 // 5, "aborted": total * 2 // 5})
        self.assertEqual(len(self.api.requests), total)
        for record in self.api.requests:
            if record.files and record.form.get("stream") != "true":
                self.assertIn(record.form["prompt"].encode(), record.files[0][3], "each upload arrived whole")
        client.close()
        self.assert_no_leaks()


# =============================================================================
# Fuzzing: seeded standard-library generators. The normal suite runs a tenth of
# the base counts (OPENAI_IMAGES_FUZZ_SCALE=0.1); CI's dedicated stage runs
# OPENAI_IMAGES_FUZZ_SCALE=10, a hundred times more.
# =============================================================================

FUZZ_SCALE = float(os.environ.get("OPENAI_IMAGES_FUZZ_SCALE", "0.1"))
BOM = b"\xef\xbb\xbf"
VALUE_ATOMS = [
    b"a",
    b"Z",
    b"1",
    b"0",
    b" ",
    b"  ",
    b"\t",
    b":",
    b": ",
    b"\x00",
    b"\xff",
    b"\xe2\x82",
    b"\xc3\xa9",
    "€".encode(),
    "\u2028".encode(),
    "😀".encode(),
    b"\x0b",
    b"\x0c",
    b"[DONE]",
    b'{"type": "x"}',
    BOM,
]
FIELD_NAMES = [
    b"data",
    b"data",
    b"data",
    b"event",
    b"id",
    b"retry",
    b"Data",
    b"data ",
    b"",
    b"x",
    BOM + b"data",
    b"i\x00d",
    b"\xff",
]
LINE_ENDS = [b"\n", b"\r", b"\r\n"]


def random_sse_stream(rng: random.Random) -> bytes:
    """Structured enough to make events, arbitrary enough to hit the corners."""
    pieces = [BOM] if rng.random() < 0.1 else []
    for _ in range(rng.randint(0, 12)):
        roll = rng.random()
        value = b"".join(rng.choice(VALUE_ATOMS) for _ in range(rng.randint(0, 6)))
        if roll < 0.25:
            line = b""
        elif roll < 0.35:
            line = b":" + value
        elif roll < 0.4:
            line = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 8)))  # anything, line ends included
        else:
            digits = str(rng.choice([0, 7, 1000, 10**20])).encode() if rng.random() < 0.3 else value
            line = rng.choice(FIELD_NAMES) + rng.choice([b":", b": ", b":  ", b""]) + digits
        pieces.append(line + rng.choice(LINE_ENDS))
    if rng.random() < 0.3:
        pieces.append(rng.choice([b"data: tail", b"\xef", b"id: 9", b":c"]))
    return b"".join(pieces)


def reference_sse(stream: bytes) -> Tuple[List[oi.ServerSentEvent], bool]:
    """The WHATWG algorithm transcribed plainly over a whole stream: the
    oracle for SSEParser. Returns the events and whether anything was pending."""
    import re

    lines = re.split(rb"\r\n|\r|\n", stream)
    tail = lines.pop()  # bytes after the last line end are not a line
    if lines and lines[0].startswith(BOM):
        lines[0] = lines[0][3:]
    events: List[oi.ServerSentEvent] = []
    data: List[str] = []
    event_type, id_buffer, last_id, retry, fields_seen = "", None, None, None, False
    for raw in lines:
        line = raw.decode("utf-8", "replace")
        if not line:
            last_id = id_buffer
            if data:
                events.append(oi.ServerSentEvent(event_type or "message", "\n".join(data), last_id, retry))
            data, event_type, retry, fields_seen = [], "", None, False
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            event_type = value
        elif name == "id":
            if "\x00" not in value:
                id_buffer = value
        elif name == "retry":
            if value.isascii() and value.isdigit():
                retry = int(value)
        else:
            continue
        fields_seen = True
    return events, bool(tail) or bool(data) or fields_seen


def feed_in_pieces(stream: bytes, points: List[int], limit: Optional[int] = None) -> Tuple[Any, bool]:
    parser = oi.SSEParser(max_event_bytes=limit)
    events: List[oi.ServerSentEvent] = []
    start = 0
    try:
        for point in [*points, len(stream)]:
            events.extend(parser.feed(stream[start:point]))
            start = point
    except ValueError:
        return "too large", False
    return events, parser.close()


def random_json(rng: random.Random, keys: List[str], depth: int = 0) -> Any:
    roll = rng.random()
    if depth < 4 and roll < 0.3:
        return {rng.choice(keys): random_json(rng, keys, depth + 1) for _ in range(rng.randint(0, 6))}
    if depth < 4 and roll < 0.4:
        return [random_json(rng, keys, depth + 1) for _ in range(rng.randint(0, 4))]
    return rng.choice(
        [
            None,
            True,
            False,
            0,
            -1,
            2**70,
            1.5,
            float("1e308"),
            "",
            "x",
            "é😀",
            "\x00",
            PNG_B64,
            "not base64!",
            "AAAA",
            "1024x1024",
            "image_generation.completed",
            "image_edit.partial_image",
            "error",
        ]
    )


def without_known_nulls(value: Any, cls: Any) -> Any:
    """What to_dict() promises to give back: the input minus ``null`` known fields."""
    if not isinstance(value, dict):
        return value
    names = set(field_names(cls)) - {"extra", "request_id"}
    out = {}
    for key, item in value.items():
        if key in names and item is None:
            continue
        if key in cls._nested and isinstance(item, dict):
            item = without_known_nulls(item, cls._nested[key])
        elif key in cls._lists and isinstance(item, list):
            item = [without_known_nulls(i, cls._lists[key]) for i in item]
        out[key] = item
    return out


class FuzzTests(TestCase):
    """Seeded, so a failure names an input that can be replayed."""

    def count(self, base: int) -> int:
        return max(1, int(base * FUZZ_SCALE))

    def test_sse_parser_matches_the_reference_under_any_chunking(self) -> None:
        rng = random.Random(20261124)
        inputs = 0
        for case in range(self.count(20_000)):
            stream = random_sse_stream(rng)
            expected = reference_sse(stream)
            limit = rng.choice([None, None, None, 8, 40, 200])
            whole = feed_in_pieces(stream, [], limit)
            if limit is None:
                self.assertEqual(whole, expected, f"case {case}: {stream!r}")
            for _ in range(8):
                if len(stream) < 2:
                    break
                if rng.random() < 0.1:
                    points = list(range(1, len(stream)))
                else:
                    points = sorted(rng.sample(range(1, len(stream)), rng.randint(1, min(6, len(stream) - 1))))
                self.assertEqual(feed_in_pieces(stream, points, limit), whole, f"case {case}: {stream!r} at {points}")
                inputs += 1
            inputs += 1
        self.assertGreater(inputs, self.count(150_000))

    def test_event_decoder_gives_the_same_outcome_under_any_chunking(self) -> None:
        """The events and the final outcome of a stream do not depend on how
        its bytes are cut, and nothing but an OpenAIError comes out."""
        rng = random.Random(20261129)
        request = oi.Request("POST", "http://127.0.0.1/v1/images/generations", oi.Headers())
        response = oi.Response(200, oi.Headers({"x-request-id": "req_e"}), request)
        partial, completed = image_events(partials=1)
        pieces = [
            partial,
            completed,
            b"data: [DONE]\n\n",
            sse_event({"type": "error", "error": {"message": "bad"}}, "error"),
            sse_event({"type": "future.event", "x": 1}),
            b": keep-alive\n\n",
            b"data: {not json\n\n",
            b"event: error\ndata: plain text\n\n",
            b"\r\n",
            b'data: {"type": "image_generation.partial_image", "b64_json": ""}\n\n',
        ]

        def outcome(stream: bytes, points: List[int], limit: Optional[int]) -> Tuple[List[Any], str]:
            decoder = oi.ImageEventDecoder(response, "image_generation", limit)
            delivered: List[Any] = []
            try:
                for start, end in zip([0, *points], [*points, len(stream)]):
                    delivered += [e.to_dict() for e in decoder.feed(stream[start:end])]
                decoder.finish()
                return delivered, "completed"
            except oi.OpenAIError as exc:
                return delivered, f"{type(exc).__name__}: {exc}"

        for case in range(self.count(3_000)):
            stream = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 6)))
            limit = rng.choice([None, None, 64, 2000])
            whole = outcome(stream, [], limit)
            for _ in range(4):
                points = (
                    sorted(rng.sample(range(1, len(stream)), min(len(stream) - 1, rng.randint(1, 8))))
                    if len(stream) > 1
                    else []
                )
                self.assertEqual(outcome(stream, points, limit), whole, f"case {case}: {stream!r} at {points}")

    def test_body_decoder_gives_the_body_or_a_body_error_under_any_chunking(self) -> None:
        rng = random.Random(11)
        for case in range(self.count(3_000)):
            body = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300))) * rng.choice([1, 1, 50])
            encoding = rng.choice(["identity", "gzip", "deflate", "raw-deflate"])
            data = {
                "identity": lambda b: b,
                "gzip": gzip_bytes,
                "deflate": zlib.compress,
                "raw-deflate": raw_deflate,
            }[encoding](body)
            if rng.random() < 0.2:
                data = data[: rng.randint(0, len(data))]  # cut short
            headers = {} if encoding == "identity" else {"Content-Encoding": encoding.replace("raw-", "")}
            if rng.random() < 0.5:
                headers["Content-Length"] = str(len(data) + rng.choice([0, 0, 0, 5]))
            if rng.random() < 0.1:
                headers["Transfer-Encoding"] = "chunked"
            limit = rng.choice([None, None, 100, 5000])
            truncate = rng.random() < 0.2

            def decode(points: List[int], data: bytes = data, headers: Dict[str, str] = headers) -> Any:
                try:
                    decoder = oi.BodyDecoder(oi.Headers(headers), limit=limit, truncate=truncate)  # noqa: B023
                    for start, end in zip([0, *points], [*points, len(data)]):
                        if decoder.full:
                            break
                        decoder.feed(data[start:end])
                    return decoder.finish()
                except oi.BodyError as exc:
                    return ("error", exc.truncated, "limit" in str(exc))

            whole = decode([])
            if isinstance(whole, bytes) and not truncate and (limit is None or len(body) <= limit):
                self.assertIn(whole, (body, body[: len(whole)]), f"case {case}")
            if truncate and limit is not None and isinstance(whole, bytes):
                self.assertLessEqual(len(whole), limit)
            for _ in range(3):
                points = (
                    sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(1, 5))))
                    if len(data) > 1
                    else []
                )
                got = decode(points)
                if truncate and isinstance(got, bytes) and isinstance(whole, bytes):
                    self.assertTrue(
                        whole.startswith(got) or got.startswith(whole), f"case {case}"
                    )  # cut where the limit falls
                else:
                    self.assertEqual(got, whole, f"case {case} {headers} at {points}")

    def test_response_and_event_parsing_of_arbitrary_json(self) -> None:
        keys = sorted(
            {
                *field_names(oi.ImagesResponse),
                *field_names(oi.ImageGenCompletedEvent),
                *field_names(oi.ImageEditPartialImageEvent),
                *field_names(oi.ImageUsage),
                "type",
                "extra",
                "request_id",
                "unknown",
                "error",
                "message",
            }
        )
        rng = random.Random(4)
        request = oi.Request("POST", "http://127.0.0.1/v1/images/generations", oi.Headers())
        for case in range(self.count(6_000)):
            payload = random_json(rng, keys)
            if rng.random() < 0.5:
                payload = {
                    "data": [random_json(rng, keys) for _ in range(rng.randint(0, 3))],
                    **(payload if isinstance(payload, dict) else {}),
                }
            body = json.dumps(payload).encode()
            response = oi.Response(200, oi.Headers({"x-request-id": "req_f"}), request, content=body)
            try:
                parsed = oi.ImagesResponse.parse(response)
            except (oi.APIResponseValidationError, oi.APIError) as exc:
                self.assertFalse(
                    isinstance(payload, dict)
                    and isinstance(payload.get("data", []), list)
                    and not payload.get("error")
                    and "should be" not in str(exc),  # a known field of the wrong type, named by its path
                    f"case {case}: {payload!r}",
                )
                continue
            self.assertEqual(parsed.request_id, "req_f")
            expected = {"data": [], **without_known_nulls(payload, oi.ImagesResponse)}  # data defaults to []
            self.assertEqual(parsed.to_dict(), expected, f"case {case}")
            repr(parsed)
            for image in parsed.data:
                if isinstance(image, oi.Image):
                    self.assert_bytes_or_value_error(image)
            try:
                event = oi.parse_stream_event(payload, rng.choice(["message", "image_edit.completed", "error"]))
            except ValueError as exc:
                self.assertIn("should be", str(exc))
                continue
            repr(event)
            if not isinstance(event, oi.UnknownImageStreamEvent):
                expected = without_known_nulls(payload, type(event))
                if payload.get("type") is None:
                    expected["type"] = event.type  # typed by the SSE event name
                self.assertEqual(event.to_dict(), expected, f"case {case}")
                self.assert_bytes_or_value_error(event)

    def assert_bytes_or_value_error(self, image: Any) -> None:
        try:
            self.assertIsInstance(image.to_bytes(), bytes)
        except ValueError:
            pass

    def test_retry_after_parsing(self) -> None:
        import re

        rng = random.Random(5)
        atoms = [
            "0",
            "1",
            "9",
            ".",
            "e",
            "E",
            "+",
            "-",
            " ",
            "inf",
            "nan",
            "\u0663",
            "\uff15",
            "_",
            "x",
            "Wed, 21 Oct 2026 07:28:00 GMT",
            "Mon, 99 Foo 2026",
            ",",
            ":",
            "\t",
        ]
        decimal = re.compile(r"[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?")
        for _ in range(self.count(40_000)):
            text = "".join(rng.choice(atoms) for _ in range(rng.randint(0, 5)))
            name = rng.choice(["retry-after", "retry-after-ms"])
            hint = oi.retry_after_seconds(oi.Headers({name: text}), now=1_700_000_000.0)
            self.assertTrue(hint is None or isinstance(hint, float), text)
            if decimal.fullmatch(text.strip()):
                self.assertEqual(hint, float(text) * (0.001 if name == "retry-after-ms" else 1.0), text)
            elif name == "retry-after-ms":
                self.assertIsNone(hint, text)

    def test_multipart_names_and_values_survive_a_server_side_parser(self) -> None:
        rng = random.Random(6)
        atoms = [
            "a",
            "Z",
            "0",
            " ",
            '"',
            "\r",
            "\n",
            "\r\n",
            "%",
            "%22",
            "é",
            "日本",
            "😀",
            ";",
            "=",
            "\t",
            "/",
            "--",
            "name=",
            'filename="x"',
        ]  # no backslash: servers disagree on quoted-pair escapes

        def text(low: int = 0) -> str:
            return "".join(rng.choice(atoms) for _ in range(rng.randint(low, 6)))

        for case in range(self.count(1_500)):
            fields = [(text(1), text()) for _ in range(rng.randint(0, 4))]
            names = [(text(1), text(1) + ".png", os.urandom(rng.randint(0, 300))) for _ in range(rng.randint(0, 3))]
            parts = [
                oi.FilePart.from_input(field, (filename, content, "image/png")) for field, filename, content in names
            ]
            encoder = oi.MultipartEncoder(fields, parts)
            body = encoder.to_bytes()
            self.assertEqual(len(body), encoder.content_length)
            recorded = Recorded("POST", "/", {}, {"Content-Type": encoder.content_type}, body)
            self.assertEqual(
                parse_multipart(encoder.content_type, body), email_parse_multipart(encoder.content_type, body)
            )
            self.assertEqual(recorded.fields, [(escaped_part_name(n), v) for n, v in fields], f"case {case}")
            self.assertEqual(
                recorded.files,
                [(escaped_part_name(f), escaped_part_name(n.rsplit("/", 1)[-1]), "image/png", c) for f, n, c in names],
                f"case {case}",
            )


os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", os.path.join(tempfile.gettempdir(), "openai-images-hypothesis"))
try:  # optional: a deeper, shrinking fuzzer (CI installs it for one interpreter)
    import hypothesis
    from hypothesis import strategies as st
except ImportError:
    hypothesis = None


def escaped_part_name(value: str) -> str:
    return value.replace("\n", "%0A").replace("\r", "%0D").replace('"', "%22")


@unittest.skipUnless(hypothesis, "hypothesis is not installed (optional deeper fuzzing)")
class HypothesisTests(TestCase):
    if hypothesis is not None:
        deep = hypothesis.settings(
            max_examples=int(300 * FUZZ_SCALE),
            deadline=None,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
        sse_piece = st.one_of(
            st.sampled_from([*VALUE_ATOMS, *FIELD_NAMES, *LINE_ENDS, b"\n\n", b"data: ", b":"]), st.binary(max_size=6)
        )
        json_value = st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(
                    st.sampled_from(["data", "b64_json", "usage", "type", "extra", "size", "error"])
                    | st.text(max_size=5),
                    inner,
                    max_size=5,
                )
            ),
            max_leaves=20,
        )
        part_text = st.text(st.characters(blacklist_characters="\\", blacklist_categories=("Cs",)), max_size=12)

        @deep
        @hypothesis.given(st.lists(sse_piece, max_size=40).map(b"".join), st.lists(st.integers(1, 10**6), max_size=8))
        def test_sse_parser(self, stream: bytes, cuts: List[int]) -> None:
            points = sorted({c % len(stream) for c in cuts} - {0}) if stream else []
            self.assertEqual(feed_in_pieces(stream, points), reference_sse(stream))

        @deep
        @hypothesis.given(json_value)
        def test_response_parsing(self, payload: Any) -> None:
            request = oi.Request("POST", "http://127.0.0.1/v1/images/generations", oi.Headers())
            response = oi.Response(200, oi.Headers(), request, content=json.dumps(payload).encode())
            try:
                parsed = oi.ImagesResponse.parse(response)
            except (oi.APIResponseValidationError, oi.APIError):
                return
            self.assertEqual(parsed.to_dict(), {"data": [], **without_known_nulls(payload, oi.ImagesResponse)})
            repr(parsed)
            repr(oi.parse_stream_event(payload))

        @deep
        @hypothesis.given(st.text(max_size=40), st.sampled_from(["retry-after", "retry-after-ms"]))
        def test_retry_after(self, text: str, name: str) -> None:
            hint = oi.retry_after_seconds(oi.Headers({name: text}), now=1_700_000_000.0)
            self.assertTrue(hint is None or isinstance(hint, float))

        @deep
        @hypothesis.given(
            st.lists(st.tuples(part_text.filter(bool), part_text), max_size=4),
            st.lists(st.tuples(part_text.filter(bool), part_text, st.binary(max_size=64)), max_size=3),
        )
        def test_multipart(self, fields: List[Tuple[str, str]], files: List[Tuple[str, str, bytes]]) -> None:
            parts = [oi.FilePart.from_input(f, (n + ".png", c, "image/png")) for f, n, c in files]
            encoder = oi.MultipartEncoder(fields, parts)
            body = encoder.to_bytes()
            self.assertEqual(len(body), encoder.content_length)
            recorded = Recorded("POST", "/", {}, {"Content-Type": encoder.content_type}, body)
            self.assertEqual(
                parse_multipart(encoder.content_type, body), email_parse_multipart(encoder.content_type, body)
            )
            self.assertEqual(recorded.fields, [(escaped_part_name(n), v) for n, v in fields])
            self.assertEqual(
                [(f[0], f[1], f[3]) for f in recorded.files],
                [(escaped_part_name(f), escaped_part_name((n + ".png").rsplit("/", 1)[-1]), c) for f, n, c in files],
            )


# =============================================================================
# TLS and proxies
# =============================================================================

# A fixed test CA and a certificate for 127.0.0.1 / localhost signed by it
# (EC P-256, valid 2026-2126), made with: openssl req -x509 -newkey ec ...
TEST_CA = """\
-----BEGIN CERTIFICATE-----
MIIBpjCCAU2gAwIBAgIUaWuQ3LF9hEUNH7Or9SP1u/xWcx4wCgYIKoZIzj0EAwIw
IDEeMBwGA1UEAwwVb3BlbmFpLWltYWdlcyB0ZXN0IENBMCAXDTI2MTEyNDIwMDIz
MloYDzIxMjYxMDMxMjAwMjMyWjAgMR4wHAYDVQQDDBVvcGVuYWktaW1hZ2VzIHRl
c3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARS55stcRjiKNDoqC+myleC
2Y1yJp31WExxKlRnEkK+5nWfMKOcNVN06MtqK1mIdqLxAaGgSWw7lEPdTQEMaxxw
o2MwYTAdBgNVHQ4EFgQUvZK4S2nEU+mAla2Sk+iM5cn6grMwHwYDVR0jBBgwFoAU
vZK4S2nEU+mAla2Sk+iM5cn6grMwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8E
BAMCAQYwCgYIKoZIzj0EAwIDRwAwRAIgU5Rc8Q98Z32Da8jB0IDg8an2TEmFAG07
DCDCCVBsueQCIDxv/kx/0tCzpOLBh9ZPFIaYT2aeIneljwy9PLVZ/9/o
-----END CERTIFICATE-----
"""
TEST_CERT = """\
-----BEGIN CERTIFICATE-----
MIIBxzCCAW6gAwIBAgIUa8JnnToX6Qk+KBzC6VVA/wE9U0UwCgYIKoZIzj0EAwIw
IDEeMBwGA1UEAwwVb3BlbmFpLWltYWdlcyB0ZXN0IENBMCAXDTI2MTEyNDIwMDIz
MloYDzIxMjYxMDMxMjAwMjMyWjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcq
hkjOPQIBBggqhkjOPQMBBwNCAAQg7tC2l2rMJd0ynVSGoF17QY3+/mGA59RlrXAs
uX679SlEZXOeNcq1bJe1rYLpL2dUXEf5UyHWpv3QntVbVYUVo4GPMIGMMBoGA1Ud
EQQTMBGHBH8AAAGCCWxvY2FsaG9zdDAJBgNVHRMEAjAAMA4GA1UdDwEB/wQEAwIH
gDATBgNVHSUEDDAKBggrBgEFBQcDATAdBgNVHQ4EFgQUf90VdYQniw4Kywp2L3nc
6QViKZwwHwYDVR0jBBgwFoAUvZK4S2nEU+mAla2Sk+iM5cn6grMwCgYIKoZIzj0E
AwIDRwAwRAIgCn8fMhOomiEtYKrBS7kZsxGuifM7wz+gV33D1nQNtrsCIHK2zvHH
kHWoJ3YdO4JW3Ft/Z6ITnVTSxmxX35P1hgo4
-----END CERTIFICATE-----
"""
TEST_CERT_KEY = """\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgGuVYVGERvp+18z01
CLT6titCHaPpuhkiXHBGWXOfP5yhRANCAAQg7tC2l2rMJd0ynVSGoF17QY3+/mGA
59RlrXAsuX679SlEZXOeNcq1bJe1rYLpL2dUXEf5UyHWpv3QntVbVYUV
-----END PRIVATE KEY-----
"""


def write_temp(test: unittest.TestCase, name: str, text: str) -> str:
    directory = tempfile.mkdtemp()
    test.addCleanup(shutil.rmtree, directory, ignore_errors=True)
    path = os.path.join(directory, name)
    with open(path, "w") as handle:
        handle.write(text)
    return path


TLS_SERVER: Optional[FakeImagesAPI] = None


class LoopbackProxy:
    """An HTTP proxy on 127.0.0.1 that records what it is asked: absolute-form
    requests are forwarded (Proxy-* headers stripped), CONNECT opens a tunnel.
    ``stall`` makes it accept and never answer."""

    def __init__(self, stall: bool = False) -> None:
        self.seen: List[Tuple[str, str, Dict[str, str]]] = []  # method, target, headers
        self.received = threading.Event()  # a request line and headers were read
        self.closing = threading.Event()
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                head = self.rfile.readline(65537).decode("latin-1")
                headers: Dict[str, str] = {}
                lines = [head]
                while True:
                    line = self.rfile.readline(65537).decode("latin-1")
                    if line in ("\r\n", "\n", ""):
                        break
                    lines.append(line)
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                method, target, _ = head.split()
                proxy.seen.append((method, target, headers))
                proxy.received.set()
                if stall:
                    proxy.closing.wait(30)
                    return
                if method == "CONNECT":
                    host, _, port = target.rpartition(":")
                    upstream = socket.create_connection((host, int(port)))
                    self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    self.wfile.flush()
                else:
                    parts = urlsplit(target)
                    upstream = socket.create_connection((parts.hostname, parts.port))
                    path = parts.path + (f"?{parts.query}" if parts.query else "")
                    kept = [line for line in lines[1:] if not line.lower().startswith("proxy-")]
                    upstream.sendall(f"{method} {path} HTTP/1.1\r\n{''.join(kept)}\r\n".encode("latin-1"))
                pump(self.rfile, upstream)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()


def pump(client: Any, upstream: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""
    connection = client.raw._sock if hasattr(client, "raw") else client

    def down() -> None:
        try:
            while True:
                data = upstream.recv(65536)
                if not data:
                    break
                connection.sendall(data)
        except OSError:
            pass
        finally:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    thread = threading.Thread(target=down, daemon=True)
    thread.start()
    try:
        while True:
            data = client.read1(65536)  # what the header reader buffered comes first
            if not data:
                break
            upstream.sendall(data)
    except OSError:
        pass
    finally:
        try:
            upstream.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    thread.join(30)
    upstream.close()


PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@contextlib.contextmanager
def proxy_environment(**values: str) -> Iterator[None]:
    """Every proxy variable removed from os.environ (an empty lowercase one
    would hide its uppercase twin), then ``values`` set; restored after."""
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.lower() in PROXY_VARIABLES:
            del os.environ[name]
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


class TLSAndProxyTests(ServerTestCase):
    def setUp(self) -> None:
        global TLS_SERVER
        if TLS_SERVER is None:  # before the leak baseline is taken
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(write_temp(self, "cert.pem", TEST_CERT + TEST_CERT_KEY))
            TLS_SERVER = FakeImagesAPI(tls=context)
        super().setUp()
        self.tls = TLS_SERVER
        self.tls.reset()
        self.addCleanup(self.tls.release.set)
        self.trusting = ssl.create_default_context(cadata=TEST_CA)

    def tls_client(self, **kwargs: Any) -> oi.OpenAIClient:
        kwargs.setdefault("base_url", self.tls.url)
        kwargs.setdefault("ssl_context", self.trusting)
        return self.make_client(**kwargs)

    def test_default_verification_rejects_an_unknown_ca(self) -> None:
        client = self.tls_client(ssl_context=None, retry_policy=oi.RetryPolicy(max_retries=0))
        with self.assertRaises(oi.APIConnectionError) as caught:
            client.images.generate(prompt="p")
        message = str(caught.exception)
        self.assertIn("TLS certificate verification failed for 127.0.0.1", message)
        self.assertIn("SSL_CERT_FILE", message)
        self.assertEqual(self.tls.requests, [])
        self.assert_no_leaks()

    def test_a_context_with_the_ca_is_trusted(self) -> None:
        client = self.tls_client()
        self.assertEqual(client.images.generate(prompt="p").data[0].to_bytes(), PNG)
        blob = PNG + os.urandom(2_500_000)
        path = write_temp(self, "big.png", "")
        with open(path, "wb") as handle:
            handle.write(blob)
        with client.images.edit_stream(image=path, prompt="p") as stream:  # a file, streamed over TLS
            self.assertEqual(stream.final_image().to_bytes(), PNG)
        self.assertEqual(self.tls.requests[-1].files[0][3], blob)
        self.assertEqual([r.path for r in self.tls.requests], ["/v1/images/generations", "/v1/images/edits"])
        self.assertEqual(self.tls.requests[0].headers["Authorization"], f"Bearer {TEST_KEY}")
        self.assert_no_leaks()

    def test_ssl_cert_file_is_honoured(self) -> None:
        command = ["generate", "p", "--no-save", "--json", "--max-retries", "0"]
        refused = run_cli(*command, base_url=self.tls.url, text=True)
        self.assertEqual(refused.returncode, 1)
        self.assertIn("certificate verification failed", refused.stderr)
        ca = write_temp(self, "ca.pem", TEST_CA)
        trusted = run_cli(*command, base_url=self.tls.url, env={"SSL_CERT_FILE": ca}, text=True)
        self.assertEqual(trusted.returncode, 0, trusted.stderr)
        self.assertEqual(json.loads(trusted.stdout)["data"][0]["b64_json"], f"<{len(PNG_B64)} base64 chars>")

    def test_stalled_tls_handshake_times_out_and_aborts(self) -> None:
        silent = SilentServer()
        self.addCleanup(silent.close)
        url = silent.url.replace("http://", "https://")
        client = self.tls_client(
            base_url=url, timeout=oi.Timeout(connect=0.3, read=10), retry_policy=oi.RetryPolicy(max_retries=0)
        )
        started = time.monotonic()
        with self.assertRaises(oi.APITimeoutError) as caught:
            client.images.generate(prompt="p")
        self.assertEqual(caught.exception.limit, "connect")
        self.assertLess(time.monotonic() - started, 2)
        client = self.tls_client(base_url=url, retry_policy=oi.RetryPolicy(max_retries=0))
        trigger = threading.Event()
        silent.connected.clear()
        fire_when(silent.connected, trigger.set)  # the handshake now waits on a server that never answers
        started = time.monotonic()
        with self.assertRaises(oi.APIUserAbortError):
            client.images.generate(prompt="p", abort_trigger=trigger)
        self.assertLess(time.monotonic() - started, 3)
        silent.close()

    def proxy(self, stall: bool = False) -> LoopbackProxy:
        proxy = LoopbackProxy(stall)
        self.addCleanup(proxy.close)
        return proxy

    def env_client(self, **kwargs: Any) -> oi.OpenAIClient:
        """A client that reads proxies from the environment, as users' clients do."""
        config = oi.OpenAIConfig(api_key=TEST_KEY, retry_policy=FAST_RETRIES, **kwargs)
        return oi.OpenAIClient(config=config)

    def test_http_proxy_from_the_environment(self) -> None:
        proxy = self.proxy()
        credentials = proxy.url.replace("http://", "http://user:pass@")
        with proxy_environment(HTTP_PROXY=credentials):
            self.env_client(base_url=self.api.url).images.generate(prompt="p")
        self.assertEqual([(m, t) for m, t, _ in proxy.seen], [("POST", f"{self.api.url}/images/generations")])
        self.assertEqual(proxy.seen[0][2]["proxy-authorization"], "Basic dXNlcjpwYXNz")
        self.assertNotIn("Proxy-Authorization", self.last.headers)
        self.assertEqual(self.last.json, {"prompt": "p"})

    def test_https_proxy_tunnels_with_connect(self) -> None:
        proxy = self.proxy()
        credentials = proxy.url.replace("http://", "http://user:pass@")
        host = self.tls.url.split("/")[2]
        with proxy_environment(HTTPS_PROXY=credentials):
            client = self.env_client(base_url=self.tls.url, ssl_context=self.trusting)
            self.assertEqual(client.images.generate(prompt="p").data[0].to_bytes(), PNG)
            with client.images.generate_stream(prompt="p") as stream:
                stream.final_image()
        self.assertEqual([(m, t) for m, t, _ in proxy.seen], [("CONNECT", host)] * 2)
        connect_headers = proxy.seen[0][2]
        self.assertEqual(connect_headers["proxy-authorization"], "Basic dXNlcjpwYXNz")
        self.assertNotIn(TEST_KEY, json.dumps(proxy.seen), "the API key travels inside TLS only")
        self.assertEqual(len(self.tls.requests), 2)
        self.assertNotIn("Proxy-Authorization", self.tls.requests[0].headers, "proxy credentials stay with the proxy")
        self.assertEqual(self.tls.requests[0].headers["Authorization"], f"Bearer {TEST_KEY}")

    def test_explicit_proxies_and_no_proxy(self) -> None:
        proxy = self.proxy()
        with proxy_environment():
            client = self.env_client(base_url=self.tls.url, ssl_context=self.trusting, proxies={"https": proxy.url})
            client.images.generate(prompt="p")
        self.assertEqual([m for m, _, _ in proxy.seen], ["CONNECT"])
        with proxy_environment(HTTP_PROXY=proxy.url, HTTPS_PROXY=proxy.url, NO_PROXY="localhost,127.0.0.1"):
            self.env_client(base_url=self.api.url).images.generate(prompt="p")
            self.env_client(base_url=self.tls.url, ssl_context=self.trusting).images.generate(prompt="p")
        self.assertEqual(len(proxy.seen), 1, "NO_PROXY hosts are reached directly")
        self.assertEqual(len(self.tls.requests), 2)

    def test_abort_while_the_proxy_stalls(self) -> None:
        proxy = self.proxy(stall=True)
        with proxy_environment():
            client = self.env_client(base_url=self.tls.url, ssl_context=self.trusting, proxies={"https": proxy.url})
            trigger = threading.Event()
            fire_when(proxy.received, trigger.set)
            started = time.monotonic()
            with self.assertRaises(oi.APIUserAbortError):
                client.images.generate(prompt="p", abort_trigger=trigger)
        self.assertLess(time.monotonic() - started, 3)
        self.assertEqual([m for m, _, _ in proxy.seen], ["CONNECT"])


# =============================================================================
# Command line (as a subprocess, against the fake server)
# =============================================================================


def gif_header(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00" * 8


def jpeg_header(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0\x00\x11\x08" + struct.pack(">HH", height, width) + b"\x03" + b"\x00" * 9
    return b"\xff\xd8" + app0 + b"\xff\xff" + sof0 + b"\xff\xda"


class AtomicWriteTests(TempFilesMixin):
    def test_replace_refuse_and_clean_up(self) -> None:
        target = os.path.join(self.tmp.name, "a.png")
        self.assertEqual(oi.write_file_atomic(target, b"one"), target)
        oi.write_file_atomic(target, b"two")
        with self.assertRaises(FileExistsError):
            oi.write_file_atomic(target, b"three", overwrite=False)
        os.mkdir(os.path.join(self.tmp.name, "dir"))
        with self.assertRaises(OSError):
            oi.write_file_atomic(os.path.join(self.tmp.name, "dir"), b"four")  # cannot replace a directory
        with open(target, "rb") as handle:
            self.assertEqual(handle.read(), b"two")
        self.assertEqual(sorted(os.listdir(self.tmp.name)), ["a.png", "dir"], "no temporary file left behind")

    def test_without_hard_links(self) -> None:
        """FAT and some network file systems refuse os.link; the no-replace write still works."""
        from unittest import mock

        target = os.path.join(self.tmp.name, "b.png")
        with mock.patch.object(oi.os, "link", side_effect=PermissionError(1, "Operation not permitted")):
            oi.write_file_atomic(target, b"one", overwrite=False)
            with self.assertRaises(FileExistsError):
                oi.write_file_atomic(target, b"two", overwrite=False)
        with open(target, "rb") as handle:
            self.assertEqual(handle.read(), b"one")
        self.assertEqual(os.listdir(self.tmp.name), ["b.png"])


class ImageDimensionsTests(TestCase):
    def test_each_format(self) -> None:
        vp8l_bits = (300 - 1) | ((200 - 1) << 14)
        cases = {
            "png": (make_png(3, 5), (3, 5)),
            "gif": (gif_header(640, 480), (640, 480)),
            "jpeg (fill byte before SOF)": (jpeg_header(1536, 1024), (1536, 1024)),
            "webp VP8": (
                b"RIFF\x00\x00\x00\x00WEBPVP8 \x00\x00\x00\x00\x00\x00\x00\x9d\x01\x2a" + struct.pack("<HH", 1024, 768),
                (1024, 768),
            ),
            "webp VP8L": (
                b"RIFF\x00\x00\x00\x00WEBPVP8L\x00\x00\x00\x00\x2f" + struct.pack("<I", vp8l_bits),
                (300, 200),
            ),
            "webp VP8X": (
                b"RIFF\x00\x00\x00\x00WEBPVP8X"
                + b"\x00" * 8
                + (1023).to_bytes(3, "little")
                + (1535).to_bytes(3, "little"),
                (1024, 1536),
            ),
            "truncated png": (make_png(3, 5)[:20], None),
            "garbage": (b"not an image at all", None),
            "broken jpeg": (b"\xff\xd8\x00\x00" + b"\x00" * 20, None),
        }
        for name, (data, expected) in cases.items():
            with self.subTest(name):
                self.assertEqual(oi._image_dimensions(data), expected)


# Words of the library, not of the command line: a CLI message never names a
# function, a keyword argument, extra_body or a tuple.
LIBRARY_WORDS = (
    r'(?<!")extra_body|keyword argument|tuple|\b[a-z_]+\(\)|TypeError|ValueError|kwargs'  # "extra_body": a JSONL key
)


class CLITests(TempFilesMixin, ServerTestCase):
    """The command line as a user meets it, against the fake server: its
    logic through ``main(argv)`` in this process, and in a subprocess what
    only a process shows (encodings, file descriptors, signals, a terminal)."""

    def cli(
        self, *args: str, stdin: str = "", env: Optional[Dict[str, Optional[str]]] = None, process: bool = False
    ) -> Any:
        """The command line: in this process (``main(argv)``), or with
        ``process`` in a subprocess, for what only a process shows (its
        standard streams' encoding and file descriptors)."""
        if process:
            result: Any = run_cli(*args, base_url=self.api.url, env=env, input=stdin, text=True, cwd=self.tmp.name)
        else:
            result = main_in_process(*args, base_url=self.api.url, env=env, cwd=self.tmp.name, stdin=stdin)
        self.assertNotIn("Traceback", result.stderr)
        self.assertNotRegex(result.stderr, LIBRARY_WORDS, "the command line speaks in options, not library words")
        self.assertNotIn(TEST_KEY, result.stdout + result.stderr)
        return result

    def ok(self, *args: str, stdin: str = "", process: bool = False) -> Any:
        result = self.cli(*args, stdin=stdin, process=process)
        self.assertEqual(result.returncode, 0, result.stderr)
        return result

    def files(self) -> List[str]:
        return sorted(os.listdir(self.tmp.name))

    def read(self, name: str) -> bytes:
        with open(os.path.join(self.tmp.name, name), "rb") as handle:
            return handle.read()

    def test_generate_saves_without_overwriting(self) -> None:
        first = self.ok("generate", "a white cat", "-m", "gpt-image-2")
        second = self.ok("generate", "a white cat")
        names = [first.stdout.strip(), second.stdout.strip()]
        self.assertRegex(names[0], r"^image-\d{8}-\d{6}(-\d+)?\.png$")
        self.assertNotEqual(names[0], names[1])
        self.assertEqual(self.files(), sorted([*names, "in.png"]), "no temporary files are left")
        for name in names:
            self.assertEqual(self.read(name), PNG)
        self.assertEqual(self.api.requests[0].json, {"model": "gpt-image-2", "prompt": "a white cat"})
        self.assertEqual(first.stderr, "", "no progress output when stderr is not a terminal")

    def test_output_forms(self) -> None:
        result = self.ok("generate", "-", "-n", "2", "-o", "out.png", stdin="a prompt from stdin\n")
        self.assertEqual(result.stdout.split(), ["out-1.png", "out-2.png"])
        self.assertEqual(self.last.json, {"model": CLI_MODEL, "prompt": "a prompt from stdin", "n": 2})
        self.api.queue(Action(body={"data": [{"b64_json": base64.b64encode(JPEG).decode()}], "output_format": "jpeg"}))
        self.assertEqual(
            self.ok("generate", "p", "-o", "noext").stdout.strip(), "noext.jpg", "extension from the bytes"
        )
        self.api.queue(Action(body={"data": [{"b64_json": base64.b64encode(JPEG).decode()}], "output_format": "jpeg"}))
        mismatch = self.ok("generate", "p", "-o", "named.png")
        self.assertEqual(mismatch.stdout.strip(), "named.png")
        self.assertIn("named.png holds jpeg data", mismatch.stderr)
        into = self.ok("generate", "p", "-n", "2", "-o", "sub/dir/")
        paths = into.stdout.split()
        self.assertEqual(len(paths), 2)
        self.assertTrue(all(p.startswith("sub/dir/image-") for p in paths), paths)
        self.assertEqual(len(os.listdir(os.path.join(self.tmp.name, "sub", "dir"))), 2)
        raw = run_cli("generate", "p", "-o", "-", base_url=self.api.url, cwd=self.tmp.name)
        self.assertEqual((raw.returncode, raw.stdout), (0, PNG), raw.stderr)
        raw = run_cli("generate", "p", "-n", "2", "-o", "-", base_url=self.api.url, cwd=self.tmp.name)
        self.assertEqual((raw.returncode, raw.stdout), (0, PNG), "only image data on stdout")
        self.assertIn(b"only one image goes to standard output; saved another as image-", raw.stderr)
        self.assertEqual(self.cli("generate", "p", "-o", "existing.png").returncode, 0)
        self.assertEqual(self.cli("generate", "p", "-o", "existing.png").returncode, 0, "an explicit -o replaces")

    def test_json_output(self) -> None:
        payload = json.loads(self.ok("generate", "p", "--json", "--param", "complexity=high", "--param", "n=1").stdout)
        self.assertEqual(payload["data"][0]["b64_json"], f"<{len(PNG_B64)} base64 chars>")
        self.assertEqual(payload["usage"]["total_tokens"], 150)
        self.assertEqual(len(payload["saved"]), 1)
        self.assertEqual(self.read(payload["saved"][0]), PNG)
        self.assertEqual(self.last.json, {"model": CLI_MODEL, "prompt": "p", "complexity": "high", "n": 1})
        before = self.files()
        payload = json.loads(self.ok("generate", "p", "--json", "--include-b64", "--no-save").stdout)
        self.assertEqual(payload["data"][0]["b64_json"], PNG_B64)
        self.assertEqual(payload["saved"], [])
        self.assertEqual(self.files(), before)
        streamed = json.loads(self.ok("generate", "p", "--stream", "--json", "--save-partials").stdout)
        self.assertEqual(  # the shape of a non-streaming reply, plus the files
            set(streamed),
            {"created", "data", "usage", "background", "output_format", "quality", "size", "saved", "partials"},
        )
        self.assertEqual(streamed["data"], [{"b64_json": f"<{len(PNG_B64)} base64 chars>"}])
        self.assertEqual(streamed["usage"]["total_tokens"], 150)
        self.assertEqual(len(streamed["partials"]), 2)
        self.assertEqual(len(streamed["saved"]), 1)

    def test_every_subcommand_and_form(self) -> None:
        self.write("in.png", PNG)
        self.write("in2.jpg", JPEG)
        self.write("mask.png", make_png(2, 2, seed=9))
        self.ok(
            "edit",
            "add a hat",
            "in.png",
            "in2.jpg",
            "--mask",
            "mask.png",
            "--markup",
            "in.png",
            "--input-fidelity",
            "high",
            "-q",
            "low",
            "--compression",
            "50",
            "-o",
            "hat.png",
        )
        self.assertEqual(
            [(f[0], f[1], f[2]) for f in self.last.files],
            [
                ("image[]", "in.png", "image/png"),
                ("image[]", "in2.jpg", "image/jpeg"),
                ("markup", "in.png", "image/png"),
                ("mask", "mask.png", "image/png"),
            ],
        )
        self.assertEqual(
            self.last.form,
            {
                "prompt": "add a hat",
                "input_fidelity": "high",
                "model": CLI_MODEL,
                "quality": "low",
                "output_compression": "50",
            },
        )
        self.ok(
            "edit",
            "add a hat",
            "--image-url",
            "https://example.com/a.png",
            "--file-id",
            "file-1",
            "--mask",
            "https://example.com/m.png",
        )
        self.assertEqual(self.last.path, "/v1/images/edits")
        self.assertEqual(
            self.last.json,
            {
                "model": CLI_MODEL,
                "prompt": "add a hat",
                "images": [{"image_url": "https://example.com/a.png"}, {"file_id": "file-1"}],
                "mask": {"image_url": "https://example.com/m.png"},
            },
        )
        variation = self.ok("variation", "in.png", "-n", "2", "--response-format", "b64_json", "-s", "256x256")
        self.assertEqual(self.last.path, "/v1/images/variations")
        self.assertEqual(self.last.form, {"n": "2", "response_format": "b64_json", "size": "256x256"})
        self.assertEqual(len(variation.stdout.split()), 2)
        self.assertNotIn("Warning", variation.stderr)
        self.api.queue(
            Action(body={"created": 1, "data": [{"url": f"{self.api.url}/files/v.png"}]}),
            Action(body=PNG, headers={"Content-Type": "image/png"}),
        )
        downloaded = self.ok("variation", "in.png", "--response-format", "url", "-o", "v.png")
        self.assertEqual(downloaded.stdout.strip(), "v.png")
        self.assertEqual(self.read("v.png"), PNG)
        self.ok(
            "generate",
            "p",
            "--style",
            "vivid",
            "--background",
            "transparent",
            "-f",
            "webp",
            "--moderation",
            "low",
            "--safety-identifier",
            "u-1",
            "--user",
            "u",
            "-s",
            "1536x1024",
        )
        self.assertEqual(
            self.last.json,
            {
                "prompt": "p",
                "model": CLI_MODEL,
                "background": "transparent",
                "moderation": "low",
                "output_format": "webp",
                "safety_identifier": "u-1",
                "size": "1536x1024",
                "style": "vivid",
                "user": "u",
            },
        )

    def test_stream_saves_partials_in_order(self) -> None:
        result = self.ok("edit", "p", "in.png", "--partial-images", "2", "--save-partials", "-o", "s.png")
        self.assertEqual(result.stdout.split(), ["s-partial-1.png", "s-partial-2.png", "s.png"])
        self.assertEqual(self.last.form["stream"], "true")
        self.assertEqual(self.last.form["partial_images"], "2")
        self.assertEqual(self.read("s.png"), PNG)
        self.assertEqual(self.read("s-partial-2.png"), make_png(2, 2, seed=2))

    def setUp(self) -> None:
        super().setUp()
        self.write("in.png", PNG)

    def test_dry_run_touches_no_network_and_hides_the_key(self) -> None:
        self.write("big.png", PNG + b"\x00" * 5000)
        text = self.ok("edit", "add a hat", "big.png", "--mask", "in.png", "-m", "gpt-image-2", "--dry-run")
        self.assertEqual(self.api.requests, [])
        lines = text.stdout.splitlines()
        self.assertEqual(lines[0], f"POST {self.api.url}/images/edits")
        self.assertIn("Authorization: <redacted>", lines)
        self.assertIn('prompt: "add a hat"', lines)
        self.assertIn(f"image: <file big.png, image/png, {len(PNG) + 5000} bytes>", lines)
        self.assertIn(f"mask: <file in.png, image/png, {len(PNG)} bytes>", lines)
        self.assertNotIn("\x00", text.stdout)
        as_json = json.loads(self.ok("generate", "p", "--stream", "--dry-run", "--json").stdout)
        self.assertEqual(as_json["body"], {"model": CLI_MODEL, "stream": True, "prompt": "p"})
        self.assertEqual(as_json["headers"]["Accept"], "text/event-stream")
        no_key = self.cli("generate", "p", "--dry-run", env={"OPENAI_API_KEY": None})  # type: ignore[dict-item]
        self.assertEqual(no_key.returncode, 0)
        self.assertIn("OPENAI_API_KEY is not set", no_key.stderr)
        self.assertEqual(self.api.requests, [])
        missing = self.cli("edit", "p", "nope.png", "--dry-run")
        self.assertEqual(missing.returncode, 2)

    def test_exit_codes_and_messages(self) -> None:
        cases: List[Tuple[str, List[str], Dict[str, Optional[str]], int, str]] = [
            ("option typo", ["generate", "p", "--sise", "1"], {}, 2, "(did you mean --size for --sise?)"),
            ("unknown option", ["edit", "p", "in.png", "--bogus"], {}, 2, "unrecognized arguments: --bogus"),
            ("missing file", ["edit", "p", "nope.png"], {}, 2, "nope.png"),
            ("not an image", ["edit", "p", "notes.txt"], {}, 2, "IMAGE notes.txt: not an image"),
            ("a mask that is no image", ["edit", "p", "in.png", "--mask", "notes.txt"], {}, 2, "--mask notes.txt: not"),
            (
                "an option the JSON edit does not take",
                ["edit", "p", "--image-url", "https://x/a.png", "--response-format", "b64_json"],
                {},
                2,
                "--response-format: edit with --image-url/--file-id does not take it",
            ),
            (
                "markup with URLs",
                ["edit", "p", "--image-url", "https://x/a.png", "--markup", "in.png"],
                {},
                2,
                "--markup goes with IMAGE files",
            ),
            ("a missing output directory", ["generate", "p", "-o", "nowhere/deep/x.png"], {}, 2, "does not exist"),
            ("a field of the wrong type", ["generate", "p", "--param", "user=1"], {}, 2, "--user must be str"),
            (
                "a stream cut short",
                ["generate", "p", "--stream", "--max-retries", "0"],
                {},
                1,
                "the server closed the stream after 1 event(s) before its completed event (1 partial image(s) received)",
            ),
            ("no image at all", ["edit", "p"], {}, 2, "at least one IMAGE"),
            ("files and URLs", ["edit", "p", "in.png", "--image-url", "https://x/a.png"], {}, 2, "not both"),
            ("bad --param", ["generate", "p", "--param", "novalue"], {}, 2, "KEY=VALUE"),
            ("unknown field via --param typo", ["generate", "p", "--param", "sise=1"], {}, 2, "did you mean 'size'"),
            ("empty stdin prompt", ["generate", "-"], {}, 2, "empty"),
            ("--no-save without --json", ["generate", "p", "--no-save"], {}, 2, "--json"),
            ("no key", ["generate", "p"], {"OPENAI_API_KEY": ""}, 2, "OPENAI_API_KEY"),
            ("API error", ["generate", "p", "--max-retries", "0"], {}, 1, "Invalid size"),
            (
                "refused",
                ["generate", "p", "--base-url", f"http://127.0.0.1:{free_port()}/v1", "--max-retries", "0"],
                {},
                1,
                "Connection refused",
            ),
            ("timeout", ["generate", "p", "--timeout", "0.3", "--max-retries", "0"], {}, 1, "--timeout"),
            *[
                (f"--timeout {bad}", ["generate", "p", "--timeout", bad], {}, 2, "not a number of seconds above 0")
                for bad in ("0", "-1", "nan", "inf")
            ],
            ("no images", ["generate", "p"], {}, 1, "the server returned no images (request_id: req_1)"),
            ("an empty image", ["generate", "p"], {}, 1, "the server sent an empty image"),
            ("--timeout 1e7", ["generate", "p", "--timeout", "1e7"], {}, 2, "at most 1e6"),
            ("an empty IMAGE file", ["edit", "p", "empty.png"], {}, 2, "empty.png: the file is empty"),
            (
                "a file as mask of a URL edit",
                ["edit", "p", "--image-url", "https://x/a.png", "--mask", "in.png"],
                {},
                2,
                "a URL or a file id",
            ),
            ("the key echoed in a reply", ["generate", "p", "--json", "--no-save"], {}, 0, ""),
            ("a URL as IMAGE", ["edit", "p", "https://example.com/cat.png"], {}, 2, "give a URL with --image-url"),
            (
                "a body that is not OpenAI-shaped",
                ["generate", "p", "--max-retries", "0"],
                {},
                1,
                '{"detail": "bad size"}',
            ),
            (
                "an empty 502, retried",
                ["generate", "p", "--max-retries", "1"],
                {},
                1,
                "Bad Gateway (request_id: req_2) (after 2 attempts)",
            ),
            ("ASCII-only output", ["generate", "p", "-o", "caf\u00e9.png"], {"PYTHONIOENCODING": "ascii"}, 0, ""),
            ("undecodable image data", ["generate", "p"], {}, 1, "image data that cannot be decoded"),
            ("success", ["generate", "p", "--quiet"], {}, 0, ""),
        ]
        self.write("notes.txt", b"just text")
        self.write("empty.png", b"")
        for name, argv, env, code, message in cases:
            with self.subTest(name):
                self.api.reset()
                if name == "API error":
                    self.api.queue(Action(400, {"error": {"message": "Invalid size", "code": "invalid_size"}}))
                if name == "timeout":
                    self.api.queue(Action(hang=True))
                if name == "a body that is not OpenAI-shaped":
                    self.api.queue(Action(422, {"detail": "bad size"}))
                if name == "an empty 502, retried":
                    self.api.queue(Action(502, ""), Action(502, ""))
                if name == "an empty image":
                    self.api.queue(Action(200, {"created": 1, "data": [{"b64_json": ""}]}))
                if name == "the key echoed in a reply":  # cli() checks that the key shows nowhere
                    self.api.queue(
                        Action(200, {"created": 1, "data": [{"b64_json": PNG_B64, "revised_prompt": TEST_KEY}]})
                    )
                if name == "no images":
                    self.api.queue(Action(200, {"created": 1, "data": []}))
                if name == "a stream cut short":
                    self.api.queue(Action(sse=[image_events()[0], "CUT"]))
                if name == "undecodable image data":
                    self.api.queue(Action(200, {"created": 1, "data": [{"b64_json": "not base64!"}]}))
                encoding = "PYTHONIOENCODING" in env  # standard streams' encoding: only a process has one
                result = self.cli(*argv, env=env, process=encoding)  # type: ignore[arg-type]
                self.assertEqual(result.returncode, code, result.stderr)
                self.assertIn(message, result.stderr)
                if code == 1:
                    self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
                if name == "API error":
                    self.assertIn("req_1", result.stderr)
                if name == "bad --param":  # the subcommand's usage, not the top level's
                    self.assertIn("usage: openai-images generate", result.stderr)
                if name in ("a missing output directory", "no key", "empty stdin prompt"):  # runtime: one line
                    self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
                self.api.release.set()
        self.assertEqual([n for n in self.files() if n.endswith(".part")], [])

    def test_json_failures_are_json_on_stdout(self) -> None:
        self.api.queue(
            Action(400, {"error": {"message": "Invalid size", "type": "invalid_request_error", "code": "bad"}})
        )
        result = self.cli("generate", "p", "--json", "--max-retries", "0")
        self.assertEqual(result.returncode, 1)
        self.assertIn("Invalid size", result.stderr)
        error = json.loads(result.stdout)["error"]
        self.assertEqual(
            {k: error[k] for k in ("type", "code", "status", "request_id", "attempts", "exit_status")},
            {
                "type": "invalid_request_error",
                "code": "bad",
                "status": 400,
                "request_id": "req_1",
                "attempts": 1,
                "exit_status": 1,
            },
        )
        self.assertIn("Invalid size", error["message"])
        usage = self.cli("generate", "p", "--json", "--timeout", "0")
        self.assertEqual(usage.returncode, 2)  # argparse's own errors stay on stderr only
        missing = self.cli("edit", "p", "missing.png", "--json")
        self.assertEqual(json.loads(missing.stdout)["error"]["exit_status"], 2)

    def test_no_save_writes_no_preview_and_a_download_must_be_an_image(self) -> None:
        before = self.files()
        self.ok("generate", "p", "--json", "--no-save", "--stream", "--save-partials")
        self.assertEqual(self.files(), before)
        reply = {"created": 1, "data": [{"url": f"{self.api.url}/files/page"}]}
        self.api.queue(Action(body=reply), Action(body="<html>no</html>", headers={"Content-Type": "text/html"}))
        result = self.cli("generate", "p", "--response-format", "url", "-o", "page.png")
        self.assertEqual(result.returncode, 1)
        self.assertIn("text/html, not an image", result.stderr)
        self.assertNotIn("page.png", self.files())

    def test_a_server_that_sends_too_many_previews_gets_no_more_files(self) -> None:
        *partials, done = image_events(partials=9)
        self.api.queue(Action(sse=[*partials, done]))
        result = self.ok("generate", "p", "--partial-images", "1", "--save-partials", "-o", "x.png")
        self.assertEqual(result.stdout.split(), ["x-partial-1.png", "x-partial-2.png", "x.png"])

    def test_url_images_are_downloaded_without_credentials(self) -> None:
        reply = {"created": 1, "data": [{"url": f"{self.api.url}/files/cat.png?sig=abc"}]}
        for argv in (["-o", "cat.png"], ["-o", "-"]):
            with self.subTest(argv=argv):
                self.api.reset()
                self.api.queue(Action(body=reply), Action(body=PNG, headers={"Content-Type": "image/png"}))
                result = run_cli(
                    "generate", "p", "--response-format", "url", *argv, base_url=self.api.url, cwd=self.tmp.name
                )
                self.assertEqual(result.returncode, 0, result.stderr)
                self.assertEqual(result.stdout if argv[1] == "-" else self.read("cat.png"), PNG)
                download = self.api.requests[1]
                self.assertEqual((download.method, download.path), ("GET", "/v1/files/cat.png"))
                self.assertNotIn("Authorization", download.headers)
        self.api.reset()
        self.api.queue(Action(body=reply), Action(404, "gone"))
        failed = self.cli("generate", "p", "--response-format", "url", "-o", "lost.png")
        self.assertEqual(failed.returncode, 1)
        self.assertIn("downloading the image failed: 404", failed.stderr)

    def test_the_spinner_says_when_it_waits_to_retry(self) -> None:
        self.api.queue(Action(429, {"error": {"message": "slow down"}}, {"retry-after-ms": "400"}))
        code, _, shown = self.run_on_terminal("generate", "p", "-o", "r.png")
        self.assertEqual(code, 0, shown)
        self.assertIn("rate limited; retrying in 0.4 s (attempt 2 of 3)", shown)

    def test_help_lists_the_values_from_the_constants(self) -> None:
        generate = self.ok("generate", "--help").stdout
        for value in ("xhigh", "max", "gif", "svg", "transparent", "gpt-image-2.5-flare"):
            self.assertIn(value, " ".join(generate.split()).replace("gpt- image", "gpt-image"))
        self.assertIn("--response-format", self.ok("edit", "--help").stdout)
        variation = " ".join(self.ok("variation", "--help").stdout.split())
        self.assertIn("retired", variation)
        self.assertRegex(variation, r"-s SIZE 256x256, 512x512, 1024x1024 -n")  # what the endpoint takes
        edit = " ".join(self.ok("edit", "--help").stdout.split())
        for other in ("1792x1024", "1024x1792", " hd"):  # generation's (DALL-E 3) values only
            self.assertNotIn(other, edit)
        for command in ("generate", "edit", "variation", "batch"):
            shown = self.ok(command, "--help").stdout
            self.assertNotRegex(shown, LIBRARY_WORDS)
            if command == "variation":  # no advice names an option the subcommand lacks
                self.assertNotIn("--safety-identifier", shown)

    def test_a_default_model_is_sent(self) -> None:
        for argv, env, model in (
            (["generate", "p"], {}, CLI_MODEL),
            (["generate", "p"], {"OPENAI_IMAGES_MODEL": "gpt-image-2"}, "gpt-image-2"),
            (["generate", "p", "-m", "future-model"], {"OPENAI_IMAGES_MODEL": "gpt-image-2"}, "future-model"),
            (["edit", "p", "--image-url", "https://example.com/a.png"], {}, CLI_MODEL),
        ):
            with self.subTest(argv=argv, env=env):
                self.api.reset()
                self.assertEqual(self.cli(*argv, "--quiet", env=env).returncode, 0)  # type: ignore[arg-type]
                self.assertEqual(self.last.json["model"], model)
        self.api.reset()
        self.cli("edit", "p", self.write("in.png", PNG), "--quiet")
        self.assertEqual(self.last.form["model"], CLI_MODEL)

    def run_on_terminal(self, *args: str) -> Tuple[int, str, str]:
        """Run the CLI with stderr on a pseudo-terminal (stdout a pipe); returns
        the exit status, stdout and what the terminal showed."""
        try:
            import pty
        except ImportError:
            self.skipTest("no pseudo-terminals here")
        controller, terminal = pty.openpty()
        shown = bytearray()

        def drain() -> None:
            while True:
                try:
                    chunk = os.read(controller, 4096)
                except OSError:
                    return
                if not chunk:
                    return
                shown.extend(chunk)

        reader = threading.Thread(target=drain)
        reader.start()
        try:
            process = run_cli(*args, base_url=self.api.url, stdout=subprocess.PIPE, stderr=terminal, cwd=self.tmp.name)
        finally:
            os.close(terminal)
            reader.join(10)
            os.close(controller)
        return process.returncode, process.stdout.decode(), shown.decode("utf-8", "replace")

    def test_progress_on_a_terminal(self) -> None:
        first, second, done = image_events()
        self.api.queue(Action(sse=[0.35, first, 0.35, second, done]))
        code, out, shown = self.run_on_terminal("generate", "p", "--stream", "--save-partials", "-o", "t.png")
        self.assertEqual(code, 0, shown)
        self.assertEqual(out.split(), ["t-partial-1.png", "t-partial-2.png", "t.png"])
        self.assertRegex(shown, r"\| generating 0\.\d s", "a spinner with the elapsed time while waiting")
        self.assertRegex(shown, r"t-partial-1\.png: 2x2 png, \d+ bytes \(partial image 1 after 0\.\d s\)")
        self.assertIn(f"t.png: 2x2 png, {len(PNG)} bytes", shown)
        self.assertIn("tokens: 150 (50 in, 100 out)", shown)
        self.assertNotIn("Traceback", shown)
        code, out, shown = self.run_on_terminal("generate", "p", "--quiet")
        self.assertEqual((code, shown), (0, ""))

    def test_ctrl_c_and_sigterm_mid_stream_leave_no_partial_file(self) -> None:
        import signal

        os.unlink(os.path.join(self.tmp.name, "in.png"))
        for sent, code, said in ((signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")):
            with self.subTest(signal=sent):
                for name in self.files():
                    os.unlink(os.path.join(self.tmp.name, name))
                self.api.reset()
                first, *_ = image_events()
                self.api.queue(Action(sse=[first, "HANG"]))
                process = subprocess.Popen(
                    [
                        *CLI_WITH_DEFAULT_SIGNALS,
                        "generate",
                        "p",
                        "--stream",
                        "--save-partials",
                        "-o",
                        "x.png",
                    ],
                    cwd=self.tmp.name,
                    env=cli_environment(self.api.url),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
                assert process.stdout is not None
                ready, _, _ = select.select([process.stdout], [], [], 30)  # the preview is saved and named
                named = process.stdout.readline() if ready else b""
                process.send_signal(sent)
                started = time.monotonic()
                out, err = process.communicate(timeout=10)
                self.assertLess(time.monotonic() - started, 3)
                self.assertEqual(process.returncode, code, err)
                self.assertEqual(err.decode().strip(), f"openai-images: {said}")
                self.assertEqual((named + out).split(), [b"x-partial-1.png"])
                self.assertEqual(self.files(), ["x-partial-1.png"], "the preview saved before the signal, nothing else")
                self.assertEqual(self.read("x-partial-1.png"), make_png(2, 2, seed=1))
                self.api.release.set()

    def test_outputs_are_checked_before_the_billed_call(self) -> None:
        self.write("cat.png", PNG)
        cases = [
            (["-o", "missing/dir/cat.png"], "does not exist"),
            (["-o", "x" * 300 + ".png"], "too long"),
            (["-o", "cat.png/"], "exists and is not a directory"),
        ]
        if hasattr(os, "geteuid") and os.geteuid() != 0:  # root writes anywhere
            locked = os.path.join(self.tmp.name, "locked")
            os.mkdir(locked, 0o555)
            cases.append((["-o", "locked/cat.png"], "cannot write images to"))
        for argv, message in cases:
            with self.subTest(argv=argv[1][:40]):
                self.api.reset()
                result = self.cli("generate", "p", *argv)
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertIn(message, result.stderr)
                self.assertEqual(self.api.requests, [], "no request, no bill")

    def test_a_closed_standard_output_is_refused_before_the_call(self) -> None:
        command = [sys.executable, "-m", "openai_images", "generate", "p", "-o", "-"]
        result = subprocess.run(
            ["bash", "-c", 'exec "$@" >&-', "bash", *command],
            env=cli_environment(self.api.url),
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("standard output is closed", result.stderr)
        self.assertEqual(self.api.requests, [])

    def test_a_paid_image_that_cannot_be_saved_is_rescued(self) -> None:
        os.mkdir(os.path.join(self.tmp.name, "out"))
        gone = Action(body={"created": 1, "data": [{"b64_json": PNG_B64}]})
        gone.before_reply = lambda: shutil.rmtree(os.path.join(self.tmp.name, "out"))
        self.api.queue(gone)
        result = self.cli("generate", "p", "-o", "out/cat.png")
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn("could not save an image", result.stderr)
        rescued = [n for n in self.files() if n.startswith("openai-images-rescued-")]
        self.assertEqual(len(rescued), 1, result.stderr)
        self.assertIn(rescued[0], result.stderr)
        self.assertEqual(self.read(rescued[0]), PNG)

    def test_standard_output_that_takes_less_than_the_image(self) -> None:
        big = PNG + b"\x00" * (4 << 20)
        for name, shell in (
            ("a file size limit", 'ulimit -f 1024; exec "$@" > piped.png'),
            ("a pipe closed early", 'set -o pipefail; "$@" | head -c1 > /dev/null'),
        ):
            with self.subTest(name):
                for old in self.files():
                    os.unlink(os.path.join(self.tmp.name, old))
                self.api.reset()
                self.api.queue(Action(body={"created": 1, "data": [{"b64_json": base64.b64encode(big).decode()}]}))
                command = [sys.executable, "-m", "openai_images", "generate", "p", "-o", "-"]
                result = subprocess.run(
                    ["bash", "-c", shell, "bash", *command],
                    cwd=self.tmp.name,
                    env=cli_environment(self.api.url),
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                self.assertNotIn("Traceback", result.stderr)
                self.assertEqual(result.returncode, 1, result.stderr)
                rescued = [n for n in self.files() if n.startswith("openai-images-rescued-")]
                if "ulimit" in shell:  # the limit holds for every file: the failure is said, never success
                    self.assertIn("could not save an image (File too large)", result.stderr)
                    continue
                self.assertEqual(len(rescued), 1, result.stderr)
                self.assertEqual(self.read(rescued[0]), big, "the whole image, somewhere")
                self.assertIn(f"saved to {os.path.join(self.tmp.name, rescued[0])}", result.stderr)


# =============================================================================
# The README's code blocks, and the file alone (vendoring)
# =============================================================================


def readme_blocks() -> List[Tuple[int, str, str]]:
    """(line, language, code) of every fenced code block in README.md."""
    with open(os.path.join(HERE, "README.md"), encoding="utf-8") as handle:
        text = handle.read()
    return [
        (text.count("\n", 0, match.start()) + 1, match.group(1), match.group(2))
        for match in re.finditer(r"^```(\w*)\n(.*?)^```$", text, re.S | re.M)
    ]


class ReadmeTests(TempFilesMixin, ServerTestCase):
    """Every code block of README.md runs, in order, in a directory holding
    what a reader would have (the module and some images), against the fake
    server: Python blocks as scripts, shell blocks with bash."""

    def test_the_readme_names_every_subcommand_and_option_and_no_other(self) -> None:
        """The README names every subcommand and every long option of every
        subcommand, and no subcommand or long option that the parser lacks."""
        with open(os.path.join(HERE, "README.md"), encoding="utf-8") as handle:
            text = handle.read()
        parser = oi._build_parser()
        subparsers = parser.get_default("oi_subparsers")
        self.assertTrue(subparsers, "main() finds the subcommands through the parser's oi_subparsers default")
        longs = {
            name: {o for action in sub._actions for o in action.option_strings if o.startswith("--")}
            for name, sub in subparsers.items()
        }
        top = {o for action in parser._actions for o in action.option_strings if o.startswith("--")}
        # Long options in the README that belong to other commands, not to the CLI:
        # `python test_openai_images.py --try/--serve`, `mypy --strict`, `ruff format --check`.
        other_tools = {"--try", "--serve", "--strict", "--check"}
        named = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9]*(?:-[a-z0-9]+)*", text))
        unknown = named - top - set().union(*longs.values()) - other_tools
        self.assertFalse(unknown, f"README.md names options the command line does not have: {sorted(unknown)}")
        for name, options in longs.items():
            missing = options - named
            self.assertFalse(missing, f"README.md never names these options of `{name}`: {sorted(missing)}")
        missing_top = top - named
        self.assertFalse(missing_top, f"README.md never names these options of the command: {sorted(missing_top)}")
        # Subcommands: every one run in a README command, and no other word after the program's name.
        invoked = set(re.findall(r"(?:python -m openai_images|openai-images|--try)\s+([a-z][a-z-]*)\b", text))
        self.assertFalse(
            invoked - set(subparsers),
            f"README.md runs subcommands that do not exist: {sorted(invoked - set(subparsers))}",
        )
        self.assertFalse(
            set(subparsers) - invoked, f"README.md never runs these subcommands: {sorted(set(subparsers) - invoked)}"
        )
        # A count of subcommands in words ("has four subcommands") must be right.
        numbers = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8}
        for word in re.findall(r"\b(\w+)\s+subcommands\b", text):
            if word.lower() in numbers:
                self.assertEqual(numbers[word.lower()], len(subparsers), f'README.md says "{word} subcommands"')

    def test_every_code_block_runs(self) -> None:
        blocks = readme_blocks()
        self.assertGreaterEqual(len(blocks), 10)
        for name in ("openai_images.py", "test_openai_images.py"):  # the test file: `--try` starts its fake API
            shutil.copy(os.path.join(HERE, name), self.tmp.name)
        for name, data in [
            ("room.png", PNG),
            ("lamp.jpg", JPEG),
            ("mask.png", PNG),
            ("cat.png", PNG),
            ("dog.jpg", JPEG),
            ("prompt.txt", b"a white cat\n"),
            ("corp-ca.pem", TEST_CA.encode()),
        ]:
            self.write(name, data)
        bindir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, bindir)
        os.symlink(sys.executable, os.path.join(bindir, "python"))
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_", "PYTHON"))}
        environment.update(
            PATH=bindir + os.pathsep + os.environ.get("PATH", ""),
            OPENAI_API_KEY=TEST_KEY,
            OPENAI_BASE_URL=self.api.url,
            AZURE_OPENAI_API_KEY=TEST_KEY,
            PYTHONPYCACHEPREFIX=SUBPROCESS_PYCACHE,  # compiled once for every block, outside the reader's folder
        )
        with open(os.path.join(HERE, ".ci", "run"), encoding="utf-8") as handle:
            ci_test_command = re.search(r'^TEST_CMD="(.*)"$', handle.read(), re.M).group(1)  # type: ignore[union-attr]
        # Addresses in README that stand for servers a reader has, mapped to the fake one.
        self.api.batch_at_once = True  # the README's --batch-api example waits for no polls here
        stand_ins = {
            "https://my-resource.openai.azure.com": self.api.url[: -len("/v1")],
            "http://localhost:8000/v1": self.api.url,
        }
        ran_test_command = False
        commands: Dict[int, List[str]] = {}
        for line, language, code in blocks:
            for placeholder, address in stand_ins.items():
                code = code.replace(placeholder, address)
            self.assertIn(language, ("python", "sh"), f"line {line}: a block that is neither Python nor shell")
            if language == "python":
                commands[line] = [sys.executable, self.write(f"readme_{line}.py", code.encode())]
            elif code.strip() == ci_test_command:  # what .ci/run runs on every interpreter (here: for ever)
                ran_test_command = True
            else:
                commands[line] = ["bash", "-e", "-o", "pipefail", "-c", code]
        # The blocks are independent, but for the vendoring ones (a copy, then its cut): those run in
        # order, in one lane; every other block in a lane of its own, four at a time.
        lanes: List[List[int]] = [[line for line, command in commands.items() if "myapp/vendor" in command[-1]]]
        lanes += [[line] for line in commands if line not in lanes[0]]

        def run(lane: List[int]) -> List[Tuple[int, subprocess.CompletedProcess[str]]]:
            return [
                (
                    line,
                    subprocess.run(
                        commands[line], cwd=self.tmp.name, env=environment, capture_output=True, text=True, timeout=120
                    ),
                )
                for line in lane
            ]

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            results = dict(pair for lane in pool.map(run, lanes) for pair in lane)
        for line, result in sorted(results.items()):
            with self.subTest(f"README.md line {line}"):
                shown = f"{commands[line][-1]}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
                self.assertEqual(result.returncode, 0, shown)
                self.assertNotIn("Traceback", result.stderr)
                self.assertNotIn(TEST_KEY, result.stdout + result.stderr)
        self.assertTrue(ran_test_command, "README shows the test command that .ci/run runs")
        for made in [
            "cat.png",
            "cat-3.png",
            "lighthouse.png",
            "azure-cat.png",
            "logged.png",
            "piped.png",
            "myapp/vendor/openai_images.py",
        ]:
            self.assertTrue(os.path.isfile(os.path.join(self.tmp.name, made)), made)
        azure = [r for r in self.api.requests if r.path.startswith("/openai/")]
        self.assertEqual([r.path for r in azure], ["/openai/deployments/my-image-deployment/images/generations"])
        self.assertEqual(
            (azure[0].query, azure[0].headers["api-key"]), ({"api-version": "2025-04-01-preview"}, "your-azure-key")
        )
        local = [r for r in self.api.requests if r.json and r.json.get("model") == "my-local-model"]
        self.assertEqual((local[0].json["steps"], local[0].headers["Authorization"]), (30, "Bearer unused"))


class VendoringTests(TempFilesMixin, ServerTestCase):
    """The promise: copy the one file anywhere and it works, with nothing beside it."""

    def run_alone(self, *args: str) -> subprocess.CompletedProcess[str]:
        alone = os.path.join(self.tmp.name, "vendored")
        if not os.path.isdir(alone):
            os.mkdir(alone)
            shutil.copy(os.path.join(HERE, "openai_images.py"), alone)
        self.assertEqual(os.listdir(alone).count("openai_images.py"), 1)
        environment = {"PATH": os.environ.get("PATH", ""), "OPENAI_API_KEY": TEST_KEY, "OPENAI_BASE_URL": self.api.url}
        result = subprocess.run(
            [sys.executable, *args], cwd=alone, env=environment, capture_output=True, text=True, timeout=60
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertNotIn(TEST_KEY, result.stdout + result.stderr)
        return result

    def test_the_file_alone_in_isolated_mode(self) -> None:
        self.assertIn("generate", self.run_alone("-I", "openai_images.py", "--help").stdout)
        saved = self.run_alone("-I", "openai_images.py", "generate", "a vendored cat", "-o", "cat.png").stdout
        self.assertEqual(saved.strip(), "cat.png")
        self.assertEqual(self.last.json, {"model": CLI_MODEL, "prompt": "a vendored cat"})
        self.assertIn("usage", self.run_alone("-E", "-s", "-m", "openai_images", "--help").stdout)
        library = self.run_alone(
            "-I",
            "-c",
            "import sys; sys.path.insert(0, ''); import openai_images as oi; "
            "print(oi.OpenAI().images.generate(prompt='lib').data[0].to_bytes()[:4])",
        )
        self.assertEqual(library.stdout.strip(), repr(PNG[:4]))


# =============================================================================
# Drop-in parity with the official SDK: typed surface, raw and streamed
# responses, errors, the constructor, the module client, the async client
# =============================================================================


def snippet(code: str) -> str:
    """An official-SDK snippet with only its import changed."""
    code = code.replace("from openai import", "from openai_images import")
    return code.replace("import openai\n", "import openai_images as openai\n")


# Written the official SDK's way (its README, examples and image-generation
# guide); each runs with only the import changed, against the fake server.
SDK_SNIPPETS = {
    "generate and save": """
import base64
from openai import OpenAI
client = OpenAI()
result = client.images.generate(model="gpt-image-1", prompt="A cute baby sea otter", size="1024x1024")
image_bytes = base64.b64decode(result.data[0].b64_json)
with open("otter.png", "wb") as f:
    f.write(image_bytes)
assert result.usage.total_tokens > 0 and result._request_id.startswith("req_")
""",
    "edit several images": """
import base64
from openai import OpenAI
client = OpenAI()
result = client.images.edit(
    model="gpt-image-1",
    image=[open("body-lotion.png", "rb"), open("soap.png", "rb")],
    prompt="Generate a photorealistic image of a gift basket",
)
open("basket.png", "wb").write(base64.b64decode(result.data[0].b64_json))
""",
    "edit with a mask": """
from openai import OpenAI
client = OpenAI()
result = client.images.edit(
    model="gpt-image-1", image=open("sunlit_lounge.png", "rb"), mask=open("mask.png", "rb"),
    prompt="A sunlit indoor lounge area with a pool containing a flamingo",
)
print(result.data[0].b64_json[:10])
""",
    "stream partial images": """
import base64
from openai import OpenAI
client = OpenAI()
stream = client.images.generate(prompt="Draw a river", model="gpt-image-1", stream=True, partial_images=2)
seen = []
for event in stream:
    if event.type == "image_generation.partial_image":
        idx = event.partial_image_index
        image_bytes = base64.b64decode(event.b64_json)
        seen.append(idx)
    elif event.type == "image_generation.completed":
        seen.append("done")
assert seen == [0, 1, "done"], seen
""",
    "raw response": """
from openai import OpenAI
client = OpenAI()
response = client.images.with_raw_response.generate(prompt="a cat", model="gpt-image-1")
print(response.headers.get("X-Request-ID"), response.status_code, response.http_request.url)
image = response.parse()
assert image.data[0].b64_json and response.request_id == image._request_id
assert response.is_closed and response.http_version == "HTTP/1.1" and response.retries_taken == 0
""",
    "streaming response": """
from openai import OpenAI
client = OpenAI()
with client.images.with_streaming_response.generate(prompt="a cat", model="gpt-image-1") as response:
    print(response.headers.get("x-request-id"))
    assert not response.is_closed
    lines = list(response.iter_lines())
assert lines and '"data"' in "".join(lines) and response.is_closed
stream = client.images.generate(prompt="a cat", stream=True)
stream.response.close()
""",
    "client-level raw response": """
from openai import OpenAI
client = OpenAI()
response = client.with_raw_response.images.generate(prompt="a cat")
assert response.parse().created
""",
    "module client": """
import openai
result = openai.images.generate(prompt="a cat", model="gpt-image-1")
assert result.data
""",
    "error handling": """
import openai
from openai import OpenAI
client = OpenAI(max_retries=0)
try:
    client.images.generate(prompt="a cat", model="does-not-exist")
except openai.APIConnectionError as e:
    raise AssertionError(e.__cause__)
except openai.RateLimitError as e:
    raise AssertionError("429")
except openai.APIStatusError as e:
    assert e.status_code == 400 and e.response.status_code == 400
    assert e.response.json()["error"]["code"] == "bad_model" and "bad_model" in e.response.text
    assert isinstance(e.response.headers.get("x-request-id"), str)
""",
    "options": """
from openai import OpenAI, NOT_GIVEN
client = OpenAI(timeout=20.0, max_retries=0)
result = client.with_options(max_retries=5, timeout=60.0).images.generate(prompt="a cat", size=NOT_GIVEN)
assert result.model_dump()["data"][0]["b64_json"] and '"created"' in result.model_dump_json(indent=2)
""",
    "the SDK's test key and constructor keywords": """
from openai import OpenAI
client = OpenAI(api_key="My API Key", _strict_response_validation=True, webhook_secret="whsec", max_retries=2)
assert client.images.generate(prompt="a cat").data and client.api_key == "My API Key"
""",
    "async": """
import asyncio
from openai import AsyncOpenAI
client = AsyncOpenAI()
async def main() -> None:
    result = await client.images.generate(model="gpt-image-1", prompt="a cat")
    assert result.data[0].b64_json
asyncio.run(main())
""",
    "async stream and context manager": """
import asyncio
from openai import AsyncOpenAI
async def main() -> None:
    async with AsyncOpenAI() as client:
        stream = await client.images.generate(prompt="a river", stream=True, partial_images=1)
        types = [event.type async for event in stream]
        assert types == ["image_generation.partial_image", "image_generation.completed"], types
asyncio.run(main())
""",
    "async raw and streaming responses": """
import asyncio
from openai import AsyncOpenAI
async def main() -> None:
    client = AsyncOpenAI()
    response = await client.images.with_raw_response.generate(prompt="a cat")
    assert response.parse().data and response.headers.get("x-request-id")
    async with client.images.with_streaming_response.generate(prompt="a cat") as streamed:
        assert not streamed.is_closed
        chunks = [chunk async for chunk in streamed.iter_bytes()]
    assert b"".join(chunks).startswith(b"{") and streamed.is_closed
    stream = await client.images.generate(prompt="a cat", stream=True)
    await stream.response.aclose()
    await client.close()
asyncio.run(main())
""",
    "variation": """
import warnings
from openai import OpenAI
client = OpenAI()
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    result = client.images.create_variation(image=open("body-lotion.png", "rb"), n=2, size="1024x1024")
assert len(result.data) == 2
""",
}


class SDKCompatibilityTests(TempFilesMixin, ServerTestCase):
    def setUp(self) -> None:
        super().setUp()
        for name in ("body-lotion.png", "soap.png", "sunlit_lounge.png", "mask.png"):
            self.write(name, PNG)

    def test_the_snippets_are_the_official_sdks_way(self) -> None:
        """Unchanged, they run under the official SDK against the same fake
        server (where ``openai`` is installed: .ci/run installs it)."""
        try:
            import openai  # noqa: F401
        except ImportError:
            self.skipTest("the official SDK (openai) is not installed")
        self.fds_before = None  # the SDK keeps its connections open in a pool: not ours to check
        self.test_sdk_snippets_run_with_only_the_import_changed(change=lambda code: code)

    def test_the_fake_files_and_batches_speak_to_the_official_sdk(self) -> None:
        """The official SDK's own types parse what the fake Batch API sends."""
        try:
            import openai
        except ImportError:
            self.skipTest("the official SDK (openai) is not installed")
        self.fds_before = None  # the SDK keeps its connections open in a pool
        sdk = openai.OpenAI(api_key=TEST_KEY, base_url=self.api.url, max_retries=0)
        line = {"custom_id": "a", "method": "POST", "url": "/v1/images/generations", "body": {"prompt": "x"}}
        path = self.write("in.jsonl", (json.dumps(line) + "\n").encode())
        with open(path, "rb") as handle:
            uploaded = sdk.files.create(file=handle, purpose="batch")
        batch = sdk.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/images/generations", completion_window="24h"
        )
        while batch.status != "completed":
            batch = sdk.batches.retrieve(batch.id)
        self.assertEqual((batch.request_counts.completed, [b.id for b in sdk.batches.list()]), (1, [batch.id]))
        output = json.loads(sdk.files.content(batch.output_file_id).text)
        self.assertEqual((output["custom_id"], output["response"]["status_code"]), ("a", 200))
        sdk.close()

    def run_snippet(self, code: str) -> None:
        saved = os.getcwd(), {n: os.environ.get(n) for n in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
        os.environ.update(OPENAI_API_KEY=TEST_KEY, OPENAI_BASE_URL=self.api.url)
        os.chdir(self.tmp.name)
        try:
            with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore", ResourceWarning)  # the SDK's examples leave files to the collector
                exec(compile(code, "<snippet>", "exec"), {"__name__": "snippet"})
                gc.collect()
        finally:
            os.chdir(saved[0])
            for name, value in saved[1].items():
                os.environ.pop(name, None) if value is None else os.environ.__setitem__(name, value)

    def test_sdk_snippets_run_with_only_the_import_changed(self, change: Callable[[str], str] = snippet) -> None:
        bad_model = {"error": {"message": "bad model", "type": "invalid_request_error", "code": "bad_model"}}
        for name, code in SDK_SNIPPETS.items():
            with self.subTest(name):
                self.api.reset()
                if name == "error handling":
                    self.api.queue(Action(400, bad_model))
                self.run_snippet(change(code))
                self.assertTrue(self.api.requests, name)
        self.assert_no_leaks()


class TypedSurfaceTests(TestCase):
    METHODS: ClassVar[Dict[str, Any]] = {
        "generate": oi.ImageGenerationRequest,
        "edit": oi.ImageEditRequest,
        "edit_json": oi.ImageEditJsonRequest,
        "create_variation": oi.ImageVariationRequest,
    }
    PARAMS: ClassVar[Dict[str, str]] = {
        "generate": "_GenerateParams",
        "edit": "_EditParams",
        "edit_json": "_EditJsonParams",
        "create_variation": "_VariationParams",
    }
    OPTIONS: ClassVar[List[str]] = ["timeout", "extra_headers", "extra_query", "extra_body", "abort_trigger"]

    def test_keyword_parameters_are_the_request_models_fields(self) -> None:
        import ast
        import inspect

        with open(oi.__file__, encoding="utf-8") as source:
            tree = ast.parse(source.read())
        typed = {
            node.name: [item.target.id for item in node.body if isinstance(item, ast.AnnAssign)]
            for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef)
        }
        self.assertEqual(typed["_CallOptions"], self.OPTIONS)
        for method, model in self.METHODS.items():
            with self.subTest(method):
                fields = field_names(model)
                parameters = list(inspect.signature(getattr(oi.ImagesResource, method)).parameters)
                self.assertEqual(parameters, ["self", "request", *fields, *self.OPTIONS, "unexpected"])
                # the TypedDict that type checkers see: the same fields; stream is a parameter of its own
                self.assertEqual(sorted(typed[self.PARAMS[method]]), sorted(set(fields) - {"stream"}))

    def test_the_package_version_is_the_module_version(self) -> None:
        with open(os.path.join(HERE, "pyproject.toml"), encoding="utf-8") as project:
            version = re.search(r'^version = "([^"]+)"', project.read(), re.M)
        self.assertEqual(version and version.group(1), oi.__version__)

    def test_help_shows_the_fields_and_the_images_resource(self) -> None:
        import pydoc

        text = pydoc.render_doc(oi.OpenAIClient, renderer=pydoc.plaintext)
        self.assertIn("client.images", text)
        self.assertIn("size: 'Optional[str]' = None", pydoc.render_doc(oi.ImagesResource.generate))
        self.assertIn("prompt: 'str' = NOT_GIVEN", pydoc.render_doc(oi.ImagesResource.generate))
        self.assertEqual(repr(oi.NOT_GIVEN), "NOT_GIVEN")
        self.assertFalse(oi.NOT_GIVEN)

    def test_every_public_name_is_exported_and_documented(self) -> None:
        import types

        own = [
            name
            for name, value in vars(oi).items()
            if not name.startswith("_")
            and getattr(value, "__module__", None) == "openai_images"
            and isinstance(value, (type, types.FunctionType))
        ]
        self.assertLessEqual(len(oi.__all__), 75)
        with open(os.path.join(os.path.dirname(oi.__file__), "README.md"), encoding="utf-8") as readme:
            text = readme.read()
        undocumented = [name for name in oi.__all__ if name not in text]
        self.assertEqual(undocumented, [])
        advanced = sorted(set(own) - set(oi.__all__))  # importable, not exported: the README names them as advanced
        self.assertEqual([name for name in advanced if name not in text], [])


class RawResponseTests(TempFilesMixin, ServerTestCase):
    def test_raw_response_of_every_method(self) -> None:
        image = self.write("in.png", PNG)
        calls = {
            "generate": {"prompt": "p"},
            "edit": {"image": image, "prompt": "p"},
            "edit_json": {"images": ["https://example.com/a.png"], "prompt": "p"},
            "create_variation": {"image": image},
        }
        raw_images = self.client.images.with_raw_response
        for method, arguments in calls.items():
            with self.subTest(method), warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                self.api.reset()
                self.api.queue(Action(500, {"error": {"message": "busy"}}))  # one retry first
                raw = getattr(raw_images, method)(**arguments, extra_headers={"X-Trace": "1"})
                self.assertIsInstance(raw, oi.RawResponse)
                self.assertEqual((raw.status_code, raw.request_id, raw.retries_taken), (200, "req_2", 1))
                self.assertEqual(raw.headers["X-REQUEST-ID"], "req_2")
                self.assertEqual((raw.http_request.method, raw.http_request.url), ("POST", self.last_url()))
                self.assertNotIn("Authorization", raw.http_request.headers)  # added per attempt, never kept
                self.assertEqual(json.loads(raw.text), raw.json())
                parsed = raw.parse()
                self.assertIsInstance(parsed, oi.ImagesResponse)
                self.assertEqual((parsed.request_id, parsed._request_id), ("req_2", "req_2"))
                self.assertEqual(raw.content, raw.http_response.read())

    def last_url(self) -> str:
        return self.api.url.rsplit("/v1", 1)[0] + self.last.path

    def test_raw_response_of_a_stream_parses_to_the_stream(self) -> None:
        raw = self.client.images.with_raw_response.generate(prompt="p", stream=True)
        stream = raw.parse()
        self.assertIsInstance(stream, oi.ImageStream)
        self.assertIs(raw.parse(), stream)
        self.assertEqual(stream.final_image().type, "image_generation.completed")
        raw = self.client.images.with_raw_response.edit_json_stream(images=["https://x/a.png"], prompt="p")
        self.assertEqual([e.type for e in raw.parse()][-1], "image_edit.completed")
        self.assert_no_leaks()

    def test_streamed_response_reads_the_body_only_when_asked(self) -> None:
        body = json.dumps({"created": 1, "data": [{"b64_json": PNG_B64}]}).encode()
        self.api.queue(Action(body=body, headers={"Content-Type": "application/json"}, stall_after=10))
        with self.client.images.with_streaming_response.generate(prompt="p") as response:
            self.assertEqual((response.status_code, response.request_id), (200, f"req_{self.api.counter}"))
            pieces = response.iter_bytes()
            self.assertEqual(next(pieces), body[:10])  # the stalled body: what arrived, and no more
        self.assert_no_leaks()
        with self.client.images.with_streaming_response.generate(prompt="p") as response:
            self.assertEqual(response.json()["created"], 1700000000)
            self.assertIsInstance(response.parse(), oi.ImagesResponse)
            self.assertIs(response.parse(), response.parse())
            self.assertIn('"created"', response.text())
        with self.client.images.with_streaming_response.generate(prompt="p", stream=True) as response:
            events = [event.type for event in response.parse()]
        self.assertEqual(events[-1], "image_generation.completed")
        with self.client.images.with_streaming_response.generate(prompt="p", stream=True) as response:
            self.assertTrue(b"".join(response.iter_bytes()).startswith(b"event: image_generation.partial_image"))
            with self.assertRaises(oi.OpenAIError):
                response.parse()  # the body was read another way
        self.assert_no_leaks()

    def test_a_streamed_response_is_abortable_and_closed_by_the_client(self) -> None:
        self.api.queue(Action(sse=[image_events()[0], "HANG"]))
        with self.client.images.with_streaming_response.generate(prompt="p", stream=True) as response:
            chunks = response.iter_bytes()
            next(chunks)
            fire_when(self.api.hanging, self.client.close)
            with self.assertRaises(oi.APIUserAbortError) as caught:
                list(chunks)
        self.assertEqual(caught.exception.reason, "client_closed")
        self.assert_no_leaks()


class ErrorObjectTests(ServerTestCase):
    def test_status_errors_carry_the_response_and_scrub_the_key(self) -> None:
        echo = {"error": {"message": f"bad key {TEST_KEY}", "code": "invalid_api_key"}}
        self.api.queue(Action(401, echo, headers={"Content-Type": "application/json; charset=utf-8"}))
        with self.assertRaises(oi.AuthenticationError) as caught:
            self.client.images.generate(prompt="p")
        response = caught.exception.response
        self.assertEqual((response.status_code, response.headers["x-request-id"]), (401, "req_1"))
        self.assertNotIn(TEST_KEY_TAIL, response.text)
        self.assertIn("bad key", response.text)
        self.assertEqual(response.json()["error"]["code"], "invalid_api_key")
        self.assertNotIn(TEST_KEY_TAIL, json.dumps(response.json()))

    def test_connection_errors_keep_their_cause(self) -> None:
        client = self.make_client(base_url=f"http://127.0.0.1:{free_port()}/v1", retry_policy=oi.RetryPolicy(0))
        with self.assertRaises(oi.APIConnectionError) as caught:
            client.images.generate(prompt="p")
        self.assertIsInstance(caught.exception.__cause__, ConnectionRefusedError)
        self.api.queue(Action(sse=[b"event: x\ndata: {}\n\n", "HANG"]))
        client = self.make_client(timeout=oi.Timeout(connect=5, read=0.2), retry_policy=oi.RetryPolicy(0))
        with self.assertRaises(oi.APITimeoutError) as caught:
            client.images.generate(prompt="p", stream=True).final_image()
        self.assertEqual(caught.exception.limit, oi.TimeoutLimit.READ)
        self.assertIsInstance(caught.exception.__cause__, socket.timeout)

    def test_models_have_the_sdk_spellings(self) -> None:
        result = self.client.images.generate(prompt="p")
        self.assertEqual(result._request_id, result.request_id)
        dumped = result.model_dump()
        self.assertIsNone(dumped["svg_usage"])  # every field, as pydantic's model_dump
        self.assertEqual(result.model_dump(exclude_none=True), result.to_dict())
        self.assertEqual(json.loads(result.model_dump_json()), dumped)
        self.assertIsInstance(oi.ImageGenerationRequest(prompt="p").to_json(), str)
        self.assertEqual(oi.ImageReference(file_id="f").to_json(indent=None), '{"file_id": "f"}')


class ConstructorParityTests(ServerTestCase):
    def test_any_key_a_header_can_carry_is_accepted(self) -> None:
        for key in ("My API Key", "sk-proj-abc_DEF-123", "k\xe9y", "  padded\t"):
            client = self.make_client(api_key=key)
            client.images.generate(prompt="p")
            self.assertEqual(
                self.last.headers["Authorization"].encode("latin-1"), b"Bearer " + key.strip().encode("latin-1")
            )
        for key in (f"{TEST_KEY}\nX", f"{TEST_KEY}\r\nX: y", f"{TEST_KEY}\0x", f"{TEST_KEY}\u2028x", f"{TEST_KEY}€"):
            with self.assertRaises(oi.OpenAIError) as caught:
                oi.OpenAI(api_key=key, base_url=self.api.url)
            self.assertIn("header", str(caught.exception))

    def test_every_sdk_constructor_keyword(self) -> None:
        client = oi.OpenAI(
            api_key=TEST_KEY,
            admin_api_key="sk-admin-ignored",
            organization="org-1",
            project="proj-1",
            webhook_secret="whsec_1",
            base_url=self.api.url,
            websocket_base_url="wss://ignored.example",
            timeout=30.0,
            max_retries=1,
            default_headers={"X-App": "1"},
            default_query={"q": "1"},
            _strict_response_validation=True,
        )
        client.images.generate(prompt="p")
        self.assertEqual(self.last.headers["OpenAI-Organization"], "org-1")
        self.assertEqual((self.last.headers["X-App"], self.last.query), ("1", {"q": "1"}))
        self.assertNotIn("sk-admin-ignored", repr(client) + repr(client.config))
        self.assertEqual((client.max_retries, client.timeout.read, client.webhook_secret), (1, 30.0, "whsec_1"))
        self.assertEqual(oi.OpenAI(api_key="k", data_residency="eu").base_url, "https://eu.api.openai.com/v1")
        with self.assertRaises(ValueError):
            oi.OpenAI(api_key="k", data_residency="mars")
        with self.assertRaises(ValueError):
            oi.OpenAI(api_key="k", data_residency="eu", base_url=self.api.url)
        for name in ("http_client", "workload_identity", "provider"):
            with self.assertRaises(TypeError) as caught:
                oi.OpenAI(api_key="k", **{name: object()})
            self.assertIn("cannot work here", str(caught.exception))

    def test_no_credentials_when_not_enforced(self) -> None:
        saved = os.environ.pop("OPENAI_API_KEY", None)
        self.addCleanup(lambda: saved is None or os.environ.__setitem__("OPENAI_API_KEY", saved))
        with self.assertRaises(oi.OpenAIError):
            oi.OpenAI(base_url=self.api.url)
        oi.OpenAI(base_url=self.api.url, _enforce_credentials=False, max_retries=0).images.generate(prompt="p")
        self.assertNotIn("Authorization", self.last.headers)

    def test_sdk_attributes_that_are_not_here_say_what_to_use(self) -> None:
        for name, hint in [("chat", "official openai package"), ("files", "Images API only"), ("post", "client.chain")]:
            with self.assertRaises(AttributeError) as caught:
                getattr(self.client, name)
            self.assertIn(hint, str(caught.exception))
        self.assertFalse(hasattr(self.client, "embeddings"))
        with self.assertRaises(AttributeError):
            self.client.no_such_thing  # noqa: B018
        self.assertTrue(self.client.images.with_raw_response.generate)
        with self.assertRaises(AttributeError):
            self.client.images.with_raw_response.genrate  # noqa: B018


class ModuleClientTests(ServerTestCase):
    def setUp(self) -> None:
        super().setUp()
        saved = {name: getattr(oi, name) for name in ("api_key", "base_url", "max_retries", "organization")}
        self.addCleanup(lambda: [setattr(oi, name, value) for name, value in saved.items()])

    def test_the_module_client_follows_the_module_settings(self) -> None:
        oi.api_key, oi.base_url, oi.max_retries = "sk-module-1", self.api.url, 0
        self.assertTrue(oi.images.generate(prompt="p").data)
        self.assertEqual(self.last.headers["Authorization"], "Bearer sk-module-1")
        oi.api_key, oi.organization = "sk-module-2", "org-m"  # a new setting: a new module client
        oi.images.edit_json(images=["https://x/a.png"], prompt="p")
        self.assertEqual(self.last.headers["Authorization"], "Bearer sk-module-2")
        self.assertEqual(self.last.headers["OpenAI-Organization"], "org-m")
        self.assertEqual(oi.images.with_raw_response.generate(prompt="p").status_code, 200)
        self.assertIn("generate", dir(oi.images))


class AsyncClientTests(ServerTestCase):
    def async_client(self, **kwargs: Any) -> oi.AsyncOpenAIClient:
        config = self.make_client(**kwargs).config
        return oi.AsyncOpenAIClient(config=config)

    def run_async(self, coroutine: Any) -> Any:
        import asyncio

        return asyncio.run(coroutine)

    def assert_cancel_aborts(
        self,
        start: Callable[[oi.AsyncOpenAIClient], Any],
        stage_event: threading.Event,
        how: str = "cancel",
        client: Optional[oi.AsyncOpenAIClient] = None,
        server: Optional[SilentServer] = None,
    ) -> None:
        """Cancelling the task when ``stage_event`` fires ends it promptly, and
        no thread or socket of the call is left once the task is done."""
        import asyncio

        async def scenario() -> float:
            async_client = client or self.async_client()
            loop = asyncio.get_running_loop()
            reached = loop.create_future()
            fire_when(
                stage_event, lambda: loop.call_soon_threadsafe(lambda: reached.done() or reached.set_result(None))
            )
            task = asyncio.ensure_future(start(async_client))
            await reached
            started = time.monotonic()
            if how == "cancel":
                task.cancel()
                with self.assertRaises(asyncio.CancelledError):
                    await task
            else:  # wait_for with a limit that has already passed at this stage
                with self.assertRaises(asyncio.TimeoutError):
                    await asyncio.wait_for(task, 0)
            return time.monotonic() - started

        self.assertLess(self.run_async(scenario()), 1.0)  # the latency itself: benchmarks/streaming.py --only async
        if server is not None:
            server.close()  # its own sockets are not the client's
        self.assertEqual([t.name for t in threading.enumerate() if t.name == "openai-images-async"], [])
        self.assert_no_leaks()

    def test_every_method_awaitable_with_the_same_arguments(self) -> None:
        async def scenario() -> None:
            async with self.async_client() as client:
                self.assertIsInstance(await client.images.generate(prompt="p", size="256x256"), oi.ImagesResponse)
                self.assertEqual(self.last.json["size"], "256x256")
                await client.images.edit(image=PNG, prompt="p")
                self.assertEqual(self.last.files[0][0], "image")
                await client.images.edit_json(oi.ImageEditJsonRequest(images=["https://x/a.png"], prompt="p"))
                stream = await client.images.edit_stream(image=PNG, prompt="p", partial_images=1)
                self.assertIsInstance(stream, oi.AsyncImageStream)
                async with stream:
                    self.assertEqual((await stream.final_image()).type, "image_edit.completed")
                with self.assertRaises(TypeError):
                    await client.images.generate(prompt="p", sise="1")
                with self.assertRaises(oi.BadRequestError):
                    self.api.queue(Action(400, {"error": {"message": "no"}}))
                    await client.images.generate(prompt="p")
            with self.assertRaises(oi.OpenAIError):  # closed by the async with
                await client.images.generate(prompt="p")

        self.run_async(scenario())
        self.assert_no_leaks()

    def test_cancelling_the_task_aborts_the_call_at_every_stage(self) -> None:
        self.api.queue(Action(hang=True))
        self.assert_cancel_aborts(lambda c: c.images.generate(prompt="p"), self.api.arrived)
        self.api.reset()
        self.api.queue(Action(sse=[image_events()[0], "HANG"]))

        async def read_stream(client: oi.AsyncOpenAIClient) -> None:
            async for _ in await client.images.generate(prompt="p", stream=True):
                pass

        self.assert_cancel_aborts(read_stream, self.api.hanging)
        self.api.reset()
        self.api.queue(Action(503, {"error": {"message": "busy"}}, headers={"retry-after": "20"}))
        retrying = log_event(self, "Retrying")
        slow_retry = oi.RetryPolicy(max_retries=1, max_delay=30)
        self.assert_cancel_aborts(
            lambda c: c.images.generate(prompt="p"), retrying, "wait_for", self.async_client(retry_policy=slow_retry)
        )
        silent = SilentServer()
        self.addCleanup(silent.close)
        upload = PNG + b"\x00" * 16_000_000
        self.assert_cancel_aborts(
            lambda c: c.images.edit(image=upload, prompt="p"),
            silent.uploading,
            client=self.async_client(base_url=silent.url),
            server=silent,
        )

    def test_timeouts_and_task_groups_cancel_too(self) -> None:
        import asyncio

        if not hasattr(asyncio, "TaskGroup"):
            self.skipTest("asyncio.timeout and TaskGroup are Python 3.11+")

        async def scenario() -> None:
            client = self.async_client()
            self.api.queue(Action(hang=True), Action(hang=True))
            with self.assertRaises(TimeoutError):
                async with asyncio.timeout(0.3):  # novermin
                    await client.images.generate(prompt="p")
            with self.assertRaises(BaseExceptionGroup) as caught:  # noqa: F821 (3.11+)
                async with asyncio.TaskGroup() as group:  # novermin
                    group.create_task(client.images.generate(prompt="p"))
                    group.create_task(client.images.generate(prompt="p", model=5))  # fails: cancels its sibling
            self.assertIsInstance(caught.exception.exceptions[0], TypeError)

        self.run_async(scenario())
        self.assert_no_leaks()

    def test_abort_trigger_and_client_close_work_in_async_calls(self) -> None:
        async def scenario() -> None:
            client = self.async_client()
            trigger = threading.Event()
            self.api.queue(Action(hang=True))
            fire_when(self.api.arrived, trigger.set)
            with self.assertRaises(oi.APIUserAbortError):
                await client.images.generate(prompt="p", abort_trigger=trigger)
            self.api.reset()
            self.api.queue(Action(hang=True))
            fire_when(self.api.arrived, lambda: self.run_async(client.close()))
            with self.assertRaises(oi.APIUserAbortError) as caught:
                await client.images.generate(prompt="p")
            self.assertEqual(caught.exception.reason, "client_closed")

        self.run_async(scenario())
        self.assert_no_leaks()

    def test_many_concurrent_calls(self) -> None:
        import asyncio

        async def scenario() -> List[Any]:
            client = self.async_client()
            return await asyncio.gather(*(client.images.generate(prompt=f"p{i}") for i in range(50)))

        self.assertEqual(len(self.run_async(scenario())), 50)
        self.assertEqual(len(self.api.requests), 50)
        self.assert_no_leaks()


# =============================================================================
# Many images: the batch runner, live and through the Batch API
# =============================================================================


def manifest_rows(directory: str) -> List[Dict[str, Any]]:
    path = os.path.join(directory, "manifest.jsonl")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip().endswith("}")]


def done_ids(directory: str) -> List[str]:
    return [row["id"] for row in manifest_rows(directory) if row.get("status") == "done"]


def prompts_sent(api: FakeImagesAPI, since: int = 0) -> List[str]:
    return [r.json["prompt"] for r in api.requests[since:] if r.json and "/images/" in r.path]


class BatchTests(TempFilesMixin, ServerTestCase):
    def jobs_file(self, name: str, lines: Iterable[Any]) -> str:
        text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
        return self.write(name, text.encode())

    def out(self, name: str = "out") -> str:
        return os.path.join(self.tmp.name, name)

    def test_every_job_is_checked_before_anything_is_sent(self) -> None:
        bad_lines = [
            ('{"prompt": "b", "sise": "1"}', "line 2: unknown field 'sise' (did you mean 'size'?)"),
            ('{"prompt": "b"', "line 2: not valid JSON"),
            ('{"id": "a", "prompt": "b"}', "line 2: id 'a' is taken by jobs.jsonl line 1"),
            ('{"prompt": "b", "stream": true}', "line 2: batch jobs do not stream"),
            ('{"prompt": "b", "n": "2"}', "line 2: ImageGenerationRequest.n must be int"),
            ('{"id": "../x", "prompt": "b"}', "line 2: id must be 1-100 letters"),
            ('{"output": "A-2", "prompt": "b"}', "line 2: file name 'a-2' is taken by jobs.jsonl line 1"),
            ('{"output": "a-1", "prompt": "b", "n": 1}', "line 2: file name 'a-1' is taken by jobs.jsonl line 1"),
            ('{"prompt": "b", "extra_body": {"stream": true}}', "line 2: batch jobs do not stream"),
            ('"\\ud800"', "line 2: 'utf-8' codec can't encode"),
            ('{"prompt": "\\ud800"}', "line 2: 'utf-8' codec can't encode"),
            ('{"images": [], "prompt": "b"}', "line 2: images: at least one image reference"),
            ('["a list"]', "line 2: a job is a JSON object or a prompt"),
            ('{"size": "1024x1024"}', "line 2: generate(): missing required argument(s): 'prompt'"),
        ]
        for line, message in bad_lines:
            with self.subTest(line):
                path = self.jobs_file("jobs.jsonl", ['{"id": "a", "output": "a", "prompt": "ok", "n": 2}', line])
                with self.assertRaises(ValueError) as caught:
                    oi.run_batch(path, self.out(), client=self.client)
                self.assertIn(message, str(caught.exception))
        self.assertEqual(self.api.requests, [])
        self.assertFalse(os.path.exists(self.out()))
        result = main_in_process("batch", path, "-o", self.out(), base_url=self.api.url)
        self.assertEqual(result.returncode, 2)
        self.assertIn("jobs.jsonl line 2: generate(): missing required argument(s): 'prompt'", result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        self.assertEqual(self.api.requests, [])

    def test_a_live_run_saves_every_job_once_and_a_second_run_sends_nothing(self) -> None:
        jobs = self.jobs_file(
            "jobs.jsonl",
            [
                {"id": "fox", "prompt": "a fox", "size": "1024x1024"},
                {"prompt": "two cats", "n": 2, "output": "cats"},
                {"images": ["https://example.com/a.png"], "prompt": "add a hat", "extra_body": {"new_field": 1}},
            ],
        )
        seen: List[oi.BatchProgress] = []
        result = oi.run_batch(jobs, self.out(), client=self.client, defaults={"model": "m1"}, on_progress=seen.append)
        self.assertTrue(result.ok and not result.interrupted)
        self.assertEqual((result.done, result.total, result.failed_ids, result.tokens), (3, 3, [], 450))
        self.assertEqual(
            sorted(os.listdir(self.out())), ["cats-1.png", "cats-2.png", "fox.png", "line-3.png", "manifest.jsonl"]
        )
        with open(os.path.join(self.out(), "fox.png"), "rb") as image:
            self.assertEqual(image.read(), PNG)
        edits = [r for r in self.api.requests if r.path.endswith("/edits")]
        self.assertEqual(edits[0].json["images"], [{"image_url": "https://example.com/a.png"}])
        self.assertEqual((edits[0].json["new_field"], edits[0].json["model"]), (1, "m1"))
        rows = {row["id"]: row for row in manifest_rows(self.out()) if row.get("status") == "done"}
        self.assertEqual(rows["line-2"]["files"], ["cats-1.png", "cats-2.png"])
        self.assertEqual(set(rows["fox"]) >= {"request_id", "revised_prompt", "usage", "error", "files"}, True)
        self.assertEqual(rows["fox"]["usage"]["total_tokens"], 150)
        self.assertEqual(seen[-1].done, 3)
        sent = len(self.api.requests)
        again = oi.run_batch(jobs, self.out(), client=self.client, defaults={"model": "m1"})
        self.assertEqual((again.done, again.skipped, len(self.api.requests)), (3, 3, sent))
        with self.assertRaises(ValueError) as caught:  # the same id, another request: not silently "done"
            oi.run_batch(jobs, self.out(), client=self.client, defaults={"model": "m2"})
        self.assertIn("changed since it was done", str(caught.exception))
        self.assert_no_leaks()

    def test_failed_jobs_are_listed_and_the_next_run_retries_only_them(self) -> None:
        prompts = self.write("prompts.txt", b"one\n\ntwo\nthree\n")
        self.api.queue(Action(400, {"error": {"message": "rejected", "code": "moderation_blocked"}}))
        result = oi.run_batch(prompts, self.out(), client=self.client, concurrency=1, defaults={"model": CLI_MODEL})
        self.assertEqual((result.done, result.failed_ids, result.ok), (2, ["line-1"], False))
        failed = next(row for row in manifest_rows(self.out()) if row.get("status") == "failed")
        self.assertEqual((failed["error"]["status"], failed["error"]["code"]), (400, "moderation_blocked"))
        sent = len(self.api.requests)
        cli = main_in_process("batch", prompts, "-o", self.out(), base_url=self.api.url)
        self.assertEqual((cli.returncode, cli.stdout.strip()), (0, os.path.join(self.out(), "line-1.png")))
        self.assertEqual(prompts_sent(self.api, sent), ["one"])

    def test_one_429_slows_every_worker(self) -> None:
        jobs = [f"prompt {i}" for i in range(12)]
        hint = {"retry-after-ms": "400", "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "400ms"}
        self.api.queue(Action(429, {"error": {"message": "slow down", "code": "rate_limit_exceeded"}}, headers=hint))
        limited_at: List[float] = []
        self.api.script[0].before_reply = lambda: limited_at.append(time.monotonic())
        arrivals: List[float] = []
        original = self.api.handle

        def timed(handler: Any) -> None:
            arrivals.append(time.monotonic())
            original(handler)

        self.api.handle = timed  # type: ignore[method-assign]
        self.addCleanup(lambda: setattr(self.api, "handle", original))
        result = oi.run_batch(jobs, self.out(), client=self.client, concurrency=4)
        self.assertTrue(result.ok)
        # after the 429 (and its answer), no worker started a request within its retry-after
        answered = limited_at[0]
        self.assertEqual([t for t in arrivals if answered + 0.05 < t < answered + 0.35], [])

    def test_stopping_aborts_the_calls_in_flight_and_the_next_run_finishes(self) -> None:
        stop = threading.Event()
        self.api.queue(*[Action(hang=True)] * 3)
        fire_when(self.api.hanging, stop.set)
        started = time.monotonic()
        result = oi.run_batch(
            [f"p{i}" for i in range(6)], self.out(), client=self.client, concurrency=3, abort_trigger=stop
        )
        self.assertLess(time.monotonic() - started, 5)
        self.assertTrue(result.interrupted)
        self.assertLess(result.done, 6)
        done_before = set(done_ids(self.out()))
        self.assert_no_leaks()
        self.api.reset()
        result = oi.run_batch([f"p{i}" for i in range(6)], self.out(), client=self.client)
        self.assertTrue(result.ok)
        self.assertFalse({f"p{int(i.split('-')[1]) - 1}" for i in done_before} & set(prompts_sent(self.api)))

    def test_kill_9_at_any_moment_loses_nothing_and_pays_once_for_finished_jobs(self) -> None:
        count = 30
        prompts = self.write("prompts.txt", "".join(f"prompt {i}\n" for i in range(count)).encode())
        self.api.latency = (0.02, 0.08)
        rng = random.Random(7)
        kills: List[Tuple[Set[str], int]] = []
        for _ in range(3):
            target = len(done_ids(self.out())) + rng.randint(1, 6)
            process = subprocess.Popen(
                [sys.executable, "-m", "openai_images", "batch", prompts, "-o", self.out(), "-j", "4", "--quiet"],
                env=cli_environment(self.api.url),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            wait_for(lambda p=process, n=target: len(done_ids(self.out())) >= n or p.poll() is not None, 30)
            process.kill()
            process.wait()
            kills.append((set(done_ids(self.out())), len(self.api.requests)))
        final = main_in_process("batch", prompts, "-o", self.out(), "-j", "4", base_url=self.api.url)
        self.assertEqual(final.returncode, 0, final.stderr)
        for done_at_kill, sent in kills:  # a job finished at a kill is never requested again
            again = {f"line-{int(prompt.split()[1]) + 1}" for prompt in prompts_sent(self.api, sent)}
            self.assertEqual(again & done_at_kill, set())
        images = sorted(name for name in os.listdir(self.out()) if name.endswith(".png"))
        self.assertEqual(images, sorted(f"line-{i + 1}.png" for i in range(count)))
        self.assertEqual([name for name in os.listdir(self.out()) if name.endswith(".part")], [])

    def test_ctrl_c_stops_at_once_and_says_how_to_resume(self) -> None:
        prompts = self.write("prompts.txt", b"".join(b"prompt %d\n" % i for i in range(8)))
        self.api.queue(Action(body={"created": 1, "data": [{"b64_json": PNG_B64}]}), *[Action(hang=True)] * 8)
        process = subprocess.Popen(
            [*CLI_WITH_DEFAULT_SIGNALS, "batch", prompts, "-o", self.out(), "-j", "2"],
            env=cli_environment(self.api.url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for(lambda: self.api.hanging.is_set() and bool(done_ids(self.out())), 30)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
        self.assertEqual(process.returncode, 130, stderr)
        self.assertIn(f"every job saved so far is kept in {self.out()}", stderr)
        self.assertIn(f"sent again when you resume: python -m openai_images batch --resume {self.out()}", stderr)
        self.assertNotIn("Traceback", stderr)
        saved = stdout.strip()  # the one job the server answered
        self.assertRegex(saved, r"/line-\d\.png$")
        self.api.reset()
        resumed = main_in_process("batch", "--resume", self.out(), base_url=self.api.url)
        self.assertEqual(resumed.returncode, 0, resumed.stderr)
        self.assertNotIn(f"prompt {int(saved[-5]) - 1}", prompts_sent(self.api))
        self.assertEqual(len([n for n in os.listdir(self.out()) if n.endswith(".png")]), 8)

    # -- the Batch API --------------------------------------------------------

    def test_the_batch_api_end_to_end(self) -> None:
        lines = [{"id": f"j{i}", "prompt": f"p{i}"} for i in range(5)]
        lines += [{"id": "no", "prompt": "REJECT this"}, {"id": "two", "prompt": "pair", "n": 2}]
        jobs = self.jobs_file("jobs.jsonl", lines)
        states: List[str] = []
        result = oi.run_batch(
            jobs,
            self.out(),
            client=self.client,
            batch_api=True,
            poll_interval=0.001,
            defaults={"model": "gpt-image-2"},
            on_progress=lambda p: states.append(p.status.split()[0]),
        )
        self.assertEqual((result.done, result.failed_ids, result.batch_id), (6, ["no"], "batch_2"))
        self.assertLess(states.index("in_progress"), states.index("finalizing"))
        paths = [(r.method, r.path) for r in self.api.requests]
        self.assertEqual(paths[:2], [("POST", "/v1/files"), ("POST", "/v1/batches")])
        self.assertEqual(paths[-1], ("GET", "/v1/files/file-out-batch_2/content"))
        upload, created = self.api.requests[0], self.api.requests[1]
        self.assertEqual(upload.form, {"purpose": "batch"})
        name, filename, kind, content = upload.files[0]
        self.assertEqual((name, kind), ("file", "application/jsonl"))
        self.assertRegex(filename, r"^batch-input-[0-9a-f]{16}\.jsonl$")  # the run's token: found again by it
        first = json.loads(content.splitlines()[0])
        self.assertEqual(
            first,
            {
                "custom_id": "j0",
                "method": "POST",
                "url": "/v1/images/generations",
                "body": {"model": "gpt-image-2", "prompt": "p0"},
            },
        )
        self.assertEqual(
            (created.json["endpoint"], created.json["completion_window"]), ("/v1/images/generations", "24h")
        )
        self.assertIn("openai_images_run", created.json["metadata"])
        rows = {row["id"]: row for row in manifest_rows(self.out()) if "id" in row}
        self.assertEqual((rows["j0"]["request_id"], rows["j0"]["revised_prompt"]), ("req_b0", "revised p0"))
        self.assertEqual(rows["two"]["files"], ["two-1.png", "two-2.png"])
        self.assertEqual((rows["no"]["error"]["status"], rows["no"]["error"]["code"]), (400, "moderation_blocked"))
        self.assertEqual([n for n in os.listdir(self.out()) if n.startswith(".")], [])  # downloads removed
        self.api.reset()
        again = oi.run_batch(
            jobs, self.out(), client=self.client, batch_api=True, poll_interval=0.001, defaults={"model": "gpt-image-2"}
        )
        retried = json.loads(self.api.requests[0].files[0][3])
        self.assertEqual((retried["custom_id"], again.failed_ids), ("no", ["no"]))  # only the failed job again

    def test_expired_batches_keep_what_finished_and_rerun_the_rest_live(self) -> None:
        self.api.batch_plan = "expired"
        result = oi.run_batch(
            [f"p{i}" for i in range(6)], self.out(), client=self.client, batch_api=True, poll_interval=0.001
        )
        self.assertEqual((result.done, result.failed_ids), (3, ["job-4", "job-5", "job-6"]))
        codes = {row["error"]["code"] for row in manifest_rows(self.out()) if row.get("status") == "failed"}
        self.assertEqual(codes, {"batch_expired"})
        self.api.reset()
        result = oi.run_batch(
            [f"p{i}" for i in range(6)],
            self.out(),
            client=self.client,
            rerun_failed_live=True,
            batch_api=True,
            poll_interval=0.001,
        )
        self.assertTrue(result.ok)

    def test_a_failed_batch_says_why_and_a_new_run_starts_again(self) -> None:
        self.api.batch_plan = "failed"
        jobs = self.jobs_file("jobs.jsonl", [{"prompt": "a"}, {"prompt": "b"}])
        cli = main_in_process(
            "batch", jobs, "-o", self.out(), "--batch-api", "--poll-interval", "0.001", base_url=self.api.url
        )
        self.assertEqual(cli.returncode, 1)
        self.assertIn(
            "the batch batch_2 failed: 0 of 2 jobs done, 2 not (the batch failed: line 1: the url", cli.stderr
        )
        failure = next(row for row in manifest_rows(self.out()) if row.get("status") == "failed")["error"]["message"]
        self.assertIn("failed: line 1: the url does not match the endpoint", failure)
        self.api.reset()
        cli = main_in_process("batch", "--resume", self.out(), "--poll-interval", "0.001", base_url=self.api.url)
        self.assertEqual(cli.returncode, 0, cli.stderr)

    def test_cancel_saves_what_the_batch_finished(self) -> None:
        stop = threading.Event()
        jobs = [f"p{i}" for i in range(4)]
        first = oi.run_batch(
            jobs,
            self.out(),
            client=self.client,
            batch_api=True,
            poll_interval=0.001,
            abort_trigger=stop,
            on_progress=lambda p: p.status.startswith("in_progress") and stop.set(),
        )
        self.assertTrue(first.interrupted)
        self.assertEqual(first.done, 0)
        result = oi.run_batch(jobs, self.out(), client=self.client, cancel=True, poll_interval=0.001)
        self.assertEqual((result.done, result.failed_ids), (2, ["job-3", "job-4"]))
        posts = [r.path for r in self.api.requests if r.method == "POST"]
        self.assertEqual(posts, ["/v1/files", "/v1/batches", "/v1/batches/batch_2/cancel"])

    def test_a_batch_is_never_created_twice(self) -> None:
        class Crash(BaseException):
            pass

        def crash_after_creating(request: oi.Request, next_handler: oi.Handler) -> oi.Response:
            response = next_handler(request)
            if request.method == "POST" and request.url.endswith("/batches"):
                raise Crash  # killed after the batch exists, before the manifest says so
            return response

        crashing = oi.OpenAIClient(config=self.client.config, interceptors=[crash_after_creating])
        with self.assertRaises(Crash):
            oi.run_batch(["a", "b"], self.out(), client=crashing, batch_api=True, poll_interval=0.001)
        result = oi.run_batch(["a", "b"], self.out(), client=self.client, batch_api=True, poll_interval=0.001)
        self.assertTrue(result.ok)
        self.assertEqual([r.path for r in self.api.requests if r.method == "POST"], ["/v1/files", "/v1/batches"])

    def test_a_bad_line_fails_its_job_alone_and_an_echoed_key_is_scrubbed(self) -> None:
        jobs = ["a", "BADB64 b", "c", "ECHOKEY d"]
        result = oi.run_batch(jobs, self.out(), client=self.client, batch_api=True, poll_interval=0.001)
        self.assertEqual((result.done, result.failed_ids), (2, ["job-2", "job-4"]))
        with open(os.path.join(self.out(), "manifest.jsonl"), encoding="utf-8") as manifest:
            text = manifest.read()
        self.assertIn("not valid base64", text)
        self.assertIn("Incorrect API key provided: <redacted>", text)
        self.assertNotIn(TEST_KEY_TAIL, text)

    def test_a_failing_callback_stops_the_run_and_pays_nothing_twice(self) -> None:
        def fail(job: oi.BatchJob, files: List[str]) -> None:
            raise BrokenPipeError("stdout is gone")

        with self.assertRaises(BrokenPipeError):
            oi.run_batch([f"p{i}" for i in range(4)], self.out(), client=self.client, concurrency=1, on_saved=fail)
        done = done_ids(self.out())
        self.assertEqual([row["status"] for row in manifest_rows(self.out()) if row.get("id") == done[0]][-1], "done")
        sent = len(self.api.requests)
        oi.run_batch([f"p{i}" for i in range(4)], self.out(), client=self.client)
        self.assertEqual(len(self.api.requests) - sent, 4 - len(done))

    def test_one_run_per_directory(self) -> None:
        self.api.queue(Action(hang=True))
        stop = threading.Event()
        first = threading.Thread(
            target=lambda: oi.run_batch(["a"], self.out(), client=self.client, abort_trigger=stop), daemon=True
        )
        first.start()
        self.api.hanging.wait(10)
        with self.assertRaises(ValueError) as caught:
            oi.run_batch(["a"], self.out(), client=self.client)
        self.assertIn("another run is using", str(caught.exception))
        stop.set()
        first.join(10)
        self.assertEqual(len(self.api.requests), 1)

    def test_a_batch_in_progress_is_saved_even_if_its_jobs_file_moved(self) -> None:
        jobs = self.jobs_file("jobs.jsonl", [{"id": "fox", "prompt": "a fox"}, {"id": "cat", "prompt": "a cat"}])
        stop = threading.Event()
        oi.run_batch(
            jobs,
            self.out(),
            client=self.client,
            batch_api=True,
            poll_interval=0.001,
            abort_trigger=stop,
            on_progress=lambda p: p.status.startswith("in_progress") and stop.set(),
        )
        os.rename(jobs, jobs + ".moved")
        cli = main_in_process("batch", "--resume", self.out(), "--poll-interval", "0.001", base_url=self.api.url)
        self.assertEqual(cli.returncode, 0, cli.stderr)
        self.assertEqual(sorted(n for n in os.listdir(self.out()) if n.endswith(".png")), ["cat.png", "fox.png"])
        self.assertEqual(len([r for r in self.api.requests if r.path == "/v1/batches" and r.method == "POST"]), 1)

    def test_huge_batch_outputs_are_processed_in_flat_memory(self) -> None:
        # 40 lines of 1.33 MB: 53 MB of output (PyPy, measured by its peak RSS, which also counts garbage not
        # yet collected and its JIT's code: 120 lines, 160 MB, so that flat and a copy stay far apart)
        lines = 120 if sys.implementation.name == "pypy" else 40
        self.api.batch_image_bytes = 1_000_000
        with peak_memory_growth() as peak:
            result = oi.run_batch(
                [f"p{i}" for i in range(lines)], self.out(), client=self.client, batch_api=True, poll_interval=0.001
            )
        self.assertTrue(result.ok)
        self.assertLess(peak.value, 24_000_000 if peak.traced else 80_000_000)  # a copy: 53 MB, or 160 MB on PyPy
        self.assertEqual(os.path.getsize(os.path.join(self.out(), "job-1.png")), 1_000_008)


class BatchHostileTests(TempFilesMixin, ServerTestCase):
    """The batch runner against a server that sends whatever it likes: one
    test per class of hostile value, and the promises about what a run
    keeps, pays and writes."""

    def out(self, name: str = "out") -> str:
        return os.path.join(self.tmp.name, name)

    def run_api(self, jobs: Any, **options: Any) -> oi.BatchResult:
        options.setdefault("client", self.client)
        return oi.run_batch(jobs, self.out(), batch_api=True, poll_interval=0.001, **options)

    def manifest_text(self) -> str:
        with open(os.path.join(self.out(), "manifest.jsonl"), encoding="utf-8") as manifest:
            return manifest.read()

    def test_hostile_numbers_in_headers_are_ignored_and_a_paid_answer_is_saved(self) -> None:
        hostile = [
            {"x-ratelimit-limit-requests": "²", "x-ratelimit-remaining-requests": "1" * 5000},
            {
                "x-ratelimit-reset-requests": "nan",
                "x-ratelimit-limit-tokens": "-5",
                "x-ratelimit-remaining-tokens": "0",
            },
            {"x-ratelimit-limit-requests": "1e308", "x-ratelimit-remaining-requests": "0"},
            {"x-ratelimit-reset-requests": "99999999999h", "x-ratelimit-remaining-requests": "0"},
            {"x-ratelimit-limit-requests": "\u0661\u0662", "x-ratelimit-reset-tokens": "-3s"},
        ]
        self.api.queue(*(Action(body=OK_BODY, headers=headers) for headers in hostile))
        self.api.queue(Action(429, ERROR_BODY, headers={"retry-after-ms": "1" * 5000, "retry-after": "0"}))
        started = time.monotonic()
        result = oi.run_batch([f"p{i}" for i in range(6)], self.out(), client=self.client, concurrency=2)
        self.assertTrue(result.ok, result.failed_ids)
        self.assertEqual(len(done_ids(self.out())), 6)
        self.assertLess(time.monotonic() - started, 10)  # no absurd wait was believed
        with oi.OpenAIClient(api_key=TEST_KEY, base_url=self.api.url, max_retries=0) as client:
            self.api.queue(Action(body=OK_BODY, headers={"Content-Length": "9" * 5000}))
            self.assertEqual(client.images.generate(prompt="p").data[0].to_bytes(), PNG)  # an absurd length: ignored

    def test_server_ids_never_become_paths_and_the_batch_stays_resumable_and_cancellable(self) -> None:
        self.api.id_prefix = "../../" + "x" * 290 + "\x00/.."
        self.api.batch_at_once = False
        stop = threading.Event()
        first = self.run_api(
            ["a", "b"], abort_trigger=stop, on_progress=lambda p: "upstream" in p.status and stop.set()
        )
        self.assertTrue(first.interrupted)
        self.assertNotIn("\x00", first.batch_id or "")
        result = self.run_api(["a", "b"], cancel=True)
        self.assertEqual(result.status, "finished")
        self.assertIn("cancelled", result.outcome or "")
        self.assertEqual(sorted(os.listdir(self.tmp.name)), ["out"])  # nothing outside DIR
        names = os.listdir(self.out())
        self.assertTrue(all(name in ("manifest.jsonl", "job-1.png", "job-2.png") for name in names), names)
        cancel = [r for r in self.api.requests if r.path.endswith("/cancel")]
        self.assertEqual((len(cancel), cancel[0].body), (1, b""))  # no body, as the spec gives it
        self.assertTrue(self.run_api(["a", "b"]).ok)  # the rest in a new batch

    def test_a_line_past_max_response_bytes_fails_its_job_alone(self) -> None:
        client = self.make_client(max_response_bytes=100_000)
        self.addCleanup(client.close)
        result = self.run_api(["a", "BIGLINE b", "c"], client=client)
        self.assertEqual((result.done, result.failed_ids), (2, ["job-2"]))
        self.assertIn("longer than max_response_bytes (100000)", self.manifest_text())

    def test_an_output_line_costs_about_its_size_in_memory(self) -> None:
        files = os.path.join(self.tmp.name, "server-files")
        os.makedirs(files)
        self.api.batch_files_dir, self.api.batch_image_bytes, self.api.batch_at_once = files, 12_000_000, True
        stop = threading.Event()  # the batch runs upstream, and the run stops before its download
        self.run_api(["a"], abort_trigger=stop, on_progress=lambda p: p.status.startswith("completed") and stop.set())
        line = max(os.path.getsize(os.path.join(files, name)) for name in os.listdir(files))
        with peak_memory_growth() as peak:
            result = self.run_api(["a"])
        self.assertTrue(result.ok)
        self.assertEqual(os.path.getsize(os.path.join(self.out(), "job-1.png")), 12_000_008)
        # the line is about 16 MB: held once, its image decoded to disk a megabyte at a time
        # traced (CPython): Python's allocations, 4x before; else PyPy's peak RSS, which also holds its JIT's code
        # and garbage it has not collected yet: a bound that still tells one copy of the line from several
        self.assertLess(peak.value, 1.5 * line if peak.traced else 5 * line)

    def test_server_text_in_rows_is_printable_bounded_and_holds_no_key(self) -> None:
        seen: List[str] = []
        result = self.run_api(["HOSTILE a", "b"], on_progress=lambda p: seen.append(p.status))
        self.assertEqual(result.failed_ids, ["job-1"])
        text = self.manifest_text()
        self.assertNotIn(TEST_KEY_TAIL, text)
        row = [r for r in manifest_rows(self.out()) if r.get("id") == "job-1"][-1]
        for value in (row["error"]["message"], row["error"]["code"], row["request_id"]):
            self.assertTrue(value.isprintable() and len(value) <= 1001, value[:80])
        self.assertTrue(all(status.isprintable() for status in seen))

    def test_no_secret_in_any_row_with_a_callable_key(self) -> None:
        client = self.make_client(api_key=lambda: TEST_KEY)
        self.addCleanup(client.close)
        result = self.run_api(["ECHOKEY a", "b"], client=client)
        self.assertEqual(result.failed_ids, ["job-1"])
        self.assertIn("<redacted>", self.manifest_text())
        self.assertNotIn(TEST_KEY_TAIL, self.manifest_text())

    def test_a_rescue_never_replaces_anything_and_the_run_exits_1(self) -> None:
        work = os.path.join(self.tmp.name, "cwd")
        os.makedirs(os.path.join(self.out(), "fox.png"))  # DIR cannot take fox.png: a directory is in the way
        os.makedirs(work)
        jobs = os.path.join(self.tmp.name, "jobs.jsonl")
        with open(jobs, "w") as handle:
            handle.write('{"id": "fox", "prompt": "a fox"}\n')
        rescued: List[str] = []
        for _ in range(2):
            result = main_in_process("batch", jobs, "-o", self.out(), base_url=self.api.url, cwd=work)
            self.assertEqual(result.returncode, 1, result)
            self.assertIn("saved as", result.stderr)
            rescued.append([r for r in manifest_rows(self.out()) if r.get("status") == "done"][-1]["files"][0])
            os.unlink(os.path.join(self.out(), "manifest.jsonl"))  # run it again as new: a second rescue
        self.assertNotEqual(rescued[0], rescued[1])
        self.assertTrue(all(os.path.isfile(path) and path.startswith(work) for path in rescued), rescued)

    def test_a_strict_manifest(self) -> None:
        self.assertTrue(oi.run_batch(["a"], self.out(), client=self.client).ok)
        path = os.path.join(self.out(), "manifest.jsonl")
        with open(path, "ab") as manifest:
            manifest.write(b'{"id": "job-2", "status": "do')  # killed in the middle of a write
        sent = len(self.api.requests)
        self.assertTrue(oi.run_batch(["a", "b"], self.out(), client=self.client).ok)
        self.assertEqual(len(self.api.requests) - sent, 1)
        rows = manifest_rows(self.out())
        self.assertTrue(all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", row["at"]) for row in rows))
        with open(path, "rb") as manifest:
            lines = manifest.read().split(b"\n")
        for bad, message in ((b"not json", "line 2: not valid JSON"), (b'{"id": 7}', "line 2: neither an event")):
            with self.subTest(bad), open(path, "wb") as manifest:
                manifest.write(b"\n".join([lines[0], bad, *lines[1:]]))
            with self.assertRaises(ValueError) as caught:
                oi.run_batch(["a", "b"], self.out(), client=self.client)
            self.assertIn(message, str(caught.exception))
            cli = main_in_process("batch", "--resume", self.out(), base_url=self.api.url)
            self.assertEqual(cli.returncode, 2, cli)
        os.unlink(path)
        os.symlink(os.path.join(self.tmp.name, "elsewhere.jsonl"), path)
        with self.assertRaises(ValueError) as caught:
            oi.run_batch(["a"], self.out(), client=self.client)
        self.assertIn("is a symbolic link", str(caught.exception))
        self.assertFalse(os.path.exists(os.path.join(self.tmp.name, "elsewhere.jsonl")))
        self.assertEqual(len(self.api.requests) - sent, 1)  # nothing sent for a bad manifest

    def test_creating_is_never_blind_and_finds_its_batch_beyond_the_first_page(self) -> None:
        def crowd() -> None:  # the batch is created, then 150 others, then the reply is lost
            for number in range(150):
                self.api.batches[f"other_{number}"] = {"id": f"other_{number}", "metadata": None, "status": "completed"}

        self.api.queue(Action(body=None))  # the upload, as the server answers it
        self.api.script.clear()
        creates: List[int] = []

        def lose_the_reply(request: oi.Request, next_handler: oi.Handler) -> oi.Response:
            response = next_handler(request)
            if request.method == "POST" and request.url.endswith("/batches"):
                creates.append(1)
                if len(creates) == 1:
                    crowd()
                    raise oi.APIConnectionError("the reply was lost", request)
            return response

        client = oi.OpenAIClient(config=self.client.config, interceptors=[lose_the_reply])
        self.addCleanup(client.close)
        self.api.batch_at_once = True
        result = self.run_api(["a", "b"], client=client)
        self.assertTrue(result.ok)
        self.assertEqual(len(creates), 1)  # looked up by its token, two pages down: not created again
        listings = [r for r in self.api.requests if r.method == "GET" and r.path == "/v1/batches"]
        self.assertEqual([r.query.get("after") is not None for r in listings], [False, True])

    def test_an_upload_whose_reply_was_lost_is_found_not_sent_again(self) -> None:
        def lose_the_reply(request: oi.Request, next_handler: oi.Handler) -> oi.Response:
            response = next_handler(request)
            if request.method == "POST" and request.url.endswith("/files") and len(self.api.files) == 1:
                raise oi.APIConnectionError("the reply was lost", request)
            return response

        client = oi.OpenAIClient(config=self.client.config, interceptors=[lose_the_reply])
        self.addCleanup(client.close)
        self.api.batch_at_once = True
        self.assertTrue(self.run_api(["a"], client=client).ok)
        self.assertEqual(len([r for r in self.api.requests if r.method == "POST" and r.path == "/v1/files"]), 1)

    def test_a_download_that_ends_early_is_downloaded_again_and_fails_no_job(self) -> None:
        for tear in ("torn", "short"):
            with self.subTest(tear):
                self.api.reset()
                shutil.rmtree(self.out(), ignore_errors=True)
                self.api.batch_at_once = True
                self.api.tear_downloads = [tear]
                result = self.run_api([f"p{i}" for i in range(4)])
                self.assertTrue(result.ok, result.failed_ids)
                downloads = [r for r in self.api.requests if r.path.endswith("/content")]
                self.assertEqual(len(downloads), 2)

    def test_an_ended_batch_says_what_happened_in_one_line(self) -> None:
        jobs = os.path.join(self.tmp.name, "jobs.txt")
        with open(jobs, "w") as handle:
            handle.write("a\nb\nc\nd\n")
        for plan, words in (("expired", "expired: 2 of 4 jobs done, 2 not (its window passed)"), ("failed", "failed")):
            with self.subTest(plan):
                self.api.reset()
                self.api.batch_plan, self.api.batch_at_once = plan, True
                shutil.rmtree(self.out(), ignore_errors=True)
                cli = main_in_process("batch", jobs, "-o", self.out(), "--batch-api", base_url=self.api.url)
                self.assertEqual(cli.returncode, 1)
                last = cli.stderr.strip().splitlines()[-1]
                self.assertIn(f"the batch batch_2 {words}", last)
                self.assertIn("--resume", last)
                self.assertNotIn("line None", cli.stderr)

    def test_a_paid_answer_is_kept_whatever_its_content_length_says(self) -> None:
        body = json.dumps(OK_BODY).encode()
        hostile = ["-1", "nan", "+285", "1_000", "\u0662\u0668\u0665", f"{len(body)}, {len(body) + 9}", "9" * 30]
        hostile.append("0" * 5000 + str(len(body)))
        for value in hostile:
            with self.subTest(value[:20]):
                self.api.reset()
                self.api.queue(
                    Action(
                        raw=[
                            b"HTTP/1.1 200 OK\r\nContent-Length: %s\r\n" % value.encode()
                            + b"Content-Type: application/json\r\nConnection: close\r\n\r\n"
                            + body
                        ]
                    )
                )
                self.assertEqual(self.client.images.generate(prompt="p").data[0].to_bytes(), PNG)
                self.assertEqual(len(self.api.requests), 1)

    def test_a_full_disk_keeps_every_paid_image_and_stops_with_one_line(self) -> None:
        """DIR on a small tmpfs (root only): images that no longer fit are
        rescued elsewhere under fresh names; a manifest that cannot be written
        stops the run with one line, before anything more is paid."""
        if not (hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("mount")):
            self.skipTest("needs root to mount a small tmpfs")
        os.makedirs(self.out())
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", self.out()]).returncode:
            self.skipTest("this machine cannot mount a tmpfs")
        self.addCleanup(subprocess.run, ["umount", "-l", self.out()])
        work = os.path.join(self.tmp.name, "work")
        os.makedirs(work)
        big = base64.b64encode(PNG[:8] + b"\0" * 40_000).decode()
        self.api.queue(*[Action(body={"created": 1, "data": [{"b64_json": big}]})] * 3)
        jobs = os.path.join(work, "jobs.txt")
        with open(jobs, "w") as handle:
            handle.write("a\nb\nc\n")
        result = main_in_process("batch", jobs, "-o", self.out(), "-j", "1", base_url=self.api.url, cwd=work)
        self.assertEqual(result.returncode, 1, result)
        rescued = [name for name in os.listdir(work) if name.startswith("openai-images-rescued-")]
        in_dir = [name for name in os.listdir(self.out()) if name.endswith(".png")]
        self.assertEqual((len(in_dir), len(rescued)), (1, 2))  # every paid image kept, none replaced
        self.assertEqual(result.stderr.count("saved as"), 2)
        self.assertEqual(len(done_ids(self.out())), 3)
        manifest = os.path.join(self.out(), "manifest.jsonl")
        with open(manifest, "ab") as padding:  # blank lines to the end of its last page: a new row needs a page
            padding.write(b"\n" * (-os.path.getsize(manifest) % 4096))
        with contextlib.suppress(OSError), open(os.path.join(self.out(), "filler"), "wb") as filler:
            while True:  # until the disk is full: now the manifest cannot grow
                filler.write(b"\0" * 4096)
                filler.flush()
        sent = len(self.api.requests)
        with open(jobs, "a") as handle:
            handle.write("d\n")
        result = main_in_process("batch", jobs, "-o", self.out(), base_url=self.api.url, cwd=work)
        self.assertEqual(result.returncode, 1, result)
        self.assertIn("could not write", result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        self.assertEqual(len(self.api.requests), sent)  # nothing sent: its row could not be written first

    def test_kill_9_between_creating_and_recording_never_pays_twice(self) -> None:
        """The Batch API engine killed (SIGKILL) as the server creates the
        input file, then as it creates the batch: the runs after find each by
        the run's token, and nothing is uploaded or created twice."""
        jobs = os.path.join(self.tmp.name, "jobs.txt")
        with open(jobs, "w") as handle:
            handle.write("a\nb\nc\n")
        self.api.batch_at_once = True
        original = self.api.batch_action
        victims: List[subprocess.Popen[bytes]] = []
        kill_at = ["/v1/files", "/v1/batches"]

        def killing(record: Recorded) -> Action:
            action = original(record)  # the file or batch exists upstream now
            if record.method == "POST" and kill_at and record.path == kill_at[0]:
                kill_at.pop(0)
                victims[-1].kill()  # before the reply: the run never learns of it
                victims[-1].wait()
            return action

        self.api.batch_action = killing  # type: ignore[method-assign]
        self.addCleanup(setattr, self.api, "batch_action", original)
        command = [sys.executable, "-m", "openai_images", "batch", jobs, "-o", self.out(), "--batch-api"]
        for _ in range(2):
            victims.append(
                subprocess.Popen(
                    [*command, "--poll-interval", "0.01"],
                    env=cli_environment(self.api.url),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            victims[-1].wait(60)
            self.assertEqual(victims[-1].returncode, -signal.SIGKILL)
        final = run_cli("batch", "--resume", self.out(), "--poll-interval", "0.01", base_url=self.api.url, text=True)
        self.assertEqual(final.returncode, 0, final.stderr)
        posts = [r.path for r in self.api.requests if r.method == "POST"]
        self.assertEqual((posts.count("/v1/files"), posts.count("/v1/batches")), (1, 1))
        self.assertEqual(
            sorted(n for n in os.listdir(self.out()) if n.endswith(".png")), [f"line-{i}.png" for i in (1, 2, 3)]
        )

    def test_a_manifest_row_without_its_newline_is_never_joined(self) -> None:
        self.assertTrue(oi.run_batch(["a"], self.out(), client=self.client).ok)
        path = os.path.join(self.out(), "manifest.jsonl")
        with open(path, "rb") as manifest:
            data = manifest.read()
        with open(path, "wb") as manifest:
            manifest.write(data.rstrip(b"\n"))
        self.assertTrue(oi.run_batch(["a", "b"], self.out(), client=self.client).ok)
        self.assertTrue(oi.run_batch(["a", "b", "c"], self.out(), client=self.client).ok)

    def test_a_key_echoed_cut_short_is_scrubbed_too(self) -> None:
        client = self.make_client(api_key=lambda: TEST_KEY)
        self.addCleanup(client.close)
        echo = {"error": {"message": f"bad key {TEST_KEY[:-1]} / {TEST_KEY[3:]}", "code": "invalid_api_key"}}
        self.api.queue(Action(401, echo))
        result = oi.run_batch(["a"], self.out(), client=client)
        self.assertEqual(result.failed_ids, ["job-1"])
        self.assertNotIn(TEST_KEY[3:15], self.manifest_text())
        self.assertIn("bad key <redacted> / <redacted>", self.manifest_text())

    def test_closed_standard_output_is_one_line_for_every_subcommand(self) -> None:
        work = os.path.join(self.tmp.name, "work")
        os.makedirs(work)
        with open(os.path.join(work, "in.png"), "wb") as image, open(os.path.join(work, "p.txt"), "w") as jobs:
            image.write(PNG)
            jobs.write("a\nb\n")
        commands = [
            ["generate", "x", "-o", "g.png"],
            ["generate", "x", "--dry-run"],
            ["edit", "x", "in.png", "-o", "e.png", "--json"],
            ["variation", "in.png", "-o", "v.png"],
            ["batch", "p.txt", "-o", "out", "-j", "1"],
        ]
        for argv in commands:
            with self.subTest(argv[0]):
                result = run_cli(
                    *argv,
                    base_url=self.api.url,
                    cwd=work,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                    pass_fds=(),
                    close_fds=True,
                    preexec_fn=lambda: os.close(1),
                )
                self.assertEqual(result.returncode, 0, result.stderr)
                self.assertNotIn("Traceback", result.stderr)
                self.assertIn("standard output is closed", result.stderr)
        self.assertEqual(sorted(os.listdir(os.path.join(work, "out"))), ["line-1.png", "line-2.png", "manifest.jsonl"])
        read, write = os.pipe()
        os.close(read)  # `| head -1` that has read its line: every write gets EPIPE
        try:
            gone = run_cli("generate", "x", "--dry-run", base_url=self.api.url, stdout=write, stderr=subprocess.PIPE)
        finally:
            os.close(write)
        self.assertEqual((gone.returncode, gone.stderr), (0, b""))  # ends quietly
        if os.path.exists("/dev/full"):  # a full disk is not a closed pipe: the paths are lost, and that is an error
            with open("/dev/full", "w") as full:
                lost = run_cli(
                    "generate",
                    "x",
                    "-o",
                    "full.png",
                    base_url=self.api.url,
                    cwd=work,
                    stdout=full,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            self.assertEqual(lost.returncode, 1, lost.stderr)
            self.assertIn("No space left on device", lost.stderr)

    def test_input_mistakes_are_caught_before_anything_is_sent(self) -> None:
        jobs = os.path.join(self.tmp.name, "jobs.json")
        with open(jobs, "w") as handle:
            handle.write('{"prompt": "a fox", "size": "1024x1024"}\n{"prompt": "a cat", "sise": "1"}\n')
        cli = main_in_process("batch", jobs, "-o", self.out(), base_url=self.api.url)
        self.assertEqual(cli.returncode, 2)
        self.assertIn("jobs.json line 2: unknown field 'sise' (did you mean 'size'?)", cli.stderr)
        with open(jobs, "w") as handle:
            handle.write('{"prompt": "a fox"}\n')
        cli = main_in_process("batch", jobs, "-o", self.out(), "--param", "sise=1", base_url=self.api.url)
        self.assertEqual(cli.returncode, 2)
        self.assertIn("--param sise: unknown field 'sise' (did you mean 'size'?)", cli.stderr)
        self.assertEqual(self.api.requests, [])
        cli = main_in_process("batch", jobs, "-o", self.out(), "--extra", "new_field=7", base_url=self.api.url)
        self.assertEqual(cli.returncode, 0, cli)
        self.assertEqual((prompts_sent(self.api), self.api.requests[0].json["new_field"]), (["a fox"], 7))
        for option in (["-m", "other"], ["--param", "quality=high"], ["--size", "512x512"], ["--extra", "x=1"]):
            cli = main_in_process("batch", "--resume", self.out(), *option, base_url=self.api.url)
            self.assertEqual(cli.returncode, 2)
            self.assertIn(f"--resume DIR runs the jobs of the run in DIR as they were; {option[0]}", cli.stderr)
        self.assertEqual(len(self.api.requests), 1)


HOSTILE_HEADER_VALUES = [
    "\u00b2",
    "1" * 5000,
    "-5",
    "nan",
    "inf",
    "1e400",
    "",
    "  ",
    "0x10",
    "\u0661\u0662",
    "1,000",
    "12 ms",
    "+3",
    "1.5.5",
    "ms",
]


def rate_headers(remaining: int, limit: int, reset: str, kind: str = "requests") -> Dict[str, str]:
    return {
        "x-ratelimit-limit-" + kind: str(limit),
        "x-ratelimit-remaining-" + kind: str(remaining),
        "x-ratelimit-reset-" + kind: reset,
    }


class PacerParsingTests(TestCase):
    """The pacer's header parsing: strict, bounded, never raising."""

    def test_numbers(self) -> None:
        self.assertEqual(oi._header_number("12", 1e9), 12.0)
        self.assertEqual(oi._header_number(" 0.5 ", 1e9), 0.5)
        self.assertIsNone(oi._header_number("2e9", 1e9))
        self.assertIsNone(oi._header_number("2000000000", 1e9))
        self.assertIsNone(oi._header_number(None, 1e9))

    def test_durations(self) -> None:
        cases = {
            "1s": 1.0,
            "850ms": 0.85,
            "6m0s": 360.0,
            "1h2m3.5s": 3723.5,
            "0.5": 0.5,
            "2m": 120.0,
            "1m30s": 90.0,
            "7": 7.0,
        }
        for text, seconds in cases.items():
            got = oi._duration_seconds(text)
            assert got is not None, text
            self.assertAlmostEqual(got, seconds, msg=text)
        self.assertIsNone(oi._duration_seconds("2h" * 3))
        self.assertIsNone(oi._duration_seconds("25h"))
        self.assertIsNone(oi._duration_seconds("1.2.3s"))

    def test_hostile_never_raises(self) -> None:
        for text in HOSTILE_HEADER_VALUES:
            self.assertIsNone(oi._header_number(text, 1e10), repr(text[:20]))
            self.assertIsNone(oi._duration_seconds(text), repr(text[:20]))
        pacer = oi._Pacer(4)
        for text in HOSTILE_HEADER_VALUES:
            ticket = pacer.start(0.0)
            headers = {
                k: text
                for k in (
                    "x-ratelimit-limit-requests",
                    "x-ratelimit-remaining-requests",
                    "x-ratelimit-reset-requests",
                    "x-ratelimit-remaining-tokens",
                    "retry-after",
                    "retry-after-ms",
                )
            }
            pacer.answered(ticket, 0.1, 429, headers, None)
            wait = pacer.delay(0.1)  # hostile: plain backoff
            self.assertTrue(wait is not None and wait >= 1.0)
        ticket = pacer.start(100.0)
        pacer.answered(ticket, 100.1, 200, {}, "x")  # type: ignore[arg-type]
        self.assertEqual(pacer.delay(1e6), 0.0)


class PacerShapeTests(TestCase):
    """The pacer with a fake clock, no sockets: one test per shape of limits a server has."""

    def test_probe_then_concurrency_cap(self) -> None:
        pacer = oi._Pacer(2)
        first = pacer.start(0.0)
        self.assertIsNone(pacer.delay(0.0))  # probing
        pacer.answered(first, 0.3, 200, {}, None)
        pacer.start(0.3)
        pacer.start(0.3)
        self.assertIsNone(pacer.delay(0.3))  # 2 in flight
        pacer.abandoned(first, 0.4)  # double end: ignored
        self.assertIsNone(pacer.delay(0.4))

    def test_full_headers(self) -> None:
        pacer = oi._Pacer(8)
        ticket = pacer.start(0.0)
        pacer.answered(ticket, 0.3, 200, rate_headers(11, 12, "500ms"), None)
        tickets = pacer_start_all(pacer, 0.3)
        self.assertEqual(len(tickets), 8)  # level 11: capped by 8
        for ticket in tickets:  # server: 4 left
            pacer.answered(ticket, 0.6, 200, rate_headers(4, 12, "4s"), None)
        waited = pacer_drain(pacer, 0.6, 8)  # 4 now, 4 more at 2/s
        self.assertAlmostEqual(waited, 4 / (2 * 0.97) - 0.1, delta=0.15)

    def test_tokens_bind(self) -> None:
        pacer = oi._Pacer(8)
        ticket = pacer.start(0.0)
        self.assertIsNone(pacer.delay(0.0))  # probing
        headers = rate_headers(3000, 15000, "4.8s", "tokens")  # 2500 tokens/s
        pacer.answered(ticket, 0.3, 200, headers, 1050)
        self.assertEqual(len(pacer_start_all(pacer, 0.3)), 3)  # ~3485 tokens
        wait = pacer.delay(0.3)
        assert wait is not None
        self.assertAlmostEqual(wait, (1050 - 335) / 2425, delta=0.01)

    def test_tokens_headers_without_usage_probe(self) -> None:
        pacer = oi._Pacer(8)
        ticket = pacer.start(0.0)
        pacer.answered(ticket, 0.3, 200, rate_headers(13950, 15000, "420ms", "tokens"), None)
        pacer.start(0.3)
        self.assertIsNone(pacer.delay(0.3))  # cost unknown: one at a time

    def test_remaining_only(self) -> None:
        pacer = oi._Pacer(8)
        rem = "x-ratelimit-remaining-requests"
        ticket = pacer.start(0.0)
        pacer.answered(ticket, 0.3, 200, {rem: "2"}, None)
        a = pacer.start(0.3)
        b = pacer.start(0.3)
        self.assertIsNone(pacer.delay(0.3))  # empty, rate unknown
        pacer.answered(a, 0.6, 200, {rem: "1"}, None)
        pacer.answered(b, 0.6, 200, {rem: "0"}, None)
        self.assertEqual(pacer.delay(0.6), 0.0)  # one probe allowed
        c = pacer.start(2.3)
        pacer.answered(c, 2.6, 200, {rem: "2"}, None)  # refilled ~4 in 2.3 s
        wait = pacer.delay(2.6)
        self.assertEqual(wait, 0.0)

    def test_no_headers_429(self) -> None:
        pacer = oi._Pacer(8)
        first = pacer.start(0.0)
        pacer.answered(first, 0.3, 200, {}, None)
        self.assertEqual(pacer.delay(0.3), 0.0)  # nothing known: go
        ticket = pacer.start(0.3)
        pacer.answered(ticket, 0.31, 429, {"retry-after-ms": "500"}, None)
        self.assertAlmostEqual(pacer.delay(0.31) or 0.0, 0.5)
        probe = pacer.start(0.81)
        self.assertIsNone(pacer.delay(0.81))  # unknown rate: one at a time
        pacer.answered(probe, 1.1, 200, {}, None)
        again = pacer.start(1.1)
        pacer.answered(again, 1.11, 429, {"retry-after-ms": "200"}, None)
        next_ok = pacer.delay(1.31)
        self.assertEqual(next_ok, 0.0)  # rate 1/(1.31-0.81) = 2/s
        pacer.start(1.31)
        wait = pacer.delay(1.31)
        assert wait is not None
        self.assertAlmostEqual(wait, 1 / (2.0 * 0.97), delta=0.05)

    def test_429_without_retry_after_backs_off(self) -> None:
        pacer = oi._Pacer(8)
        for strike, now in ((1.0, 0.0), (2.0, 10.0), (4.0, 20.0)):
            ticket = pacer.start(now)
            pacer.answered(ticket, now, 429, {}, None)
            self.assertEqual(pacer.delay(now), strike)

    def test_never_binds(self) -> None:
        pacer = oi._Pacer(8)
        ticket = pacer.start(0.0)
        pacer.answered(ticket, 0.3, 200, rate_headers(99999, 100000, "1ms"), 1000)
        for _ in range(8):
            self.assertEqual(pacer.delay(0.3), 0.0)
            pacer.start(0.3)
        self.assertIsNone(pacer.delay(0.3))


def pacer_start_all(pacer: oi._Pacer, now: float) -> List[oi._PacerTicket]:
    """Start requests at `now` while the pacer allows."""
    tickets = []
    while pacer.delay(now) == 0.0:
        tickets.append(pacer.start(now))
    return tickets


def pacer_drain(pacer: oi._Pacer, now: float, count: int) -> float:
    """Start `count` requests as soon as allowed; return the time spent."""
    start = now
    for _ in range(count):
        wait: Optional[float] = pacer.delay(now)
        assert wait is not None
        now += wait
        ticket: oi._PacerTicket = pacer.start(now)
        pacer.answered(ticket, now + 0.01, 200, {}, None)
    return now - start


class PacedBatchTests(TempFilesMixin, ServerTestCase):
    """The live engine against servers of every shape of limits: every job
    saved once, never more than -j in flight, few 429s, none a failure."""

    def out(self) -> str:
        return os.path.join(self.tmp.name, "out")

    def test_every_shape_of_limits_is_paced_and_every_job_saved_once(self) -> None:
        shapes = {
            "a window that is not a minute": RateShape(6, 0.25),
            "tokens bind before requests": RateShape(100, 0.25, tokens=1200, cost=300),
            "remaining-only headers": RateShape(6, 0.25, headers="remaining"),
            "no headers at all": RateShape(6, 0.25, headers="none"),
        }

        def run(name: str, shape: RateShape) -> Tuple[oi.BatchResult, List[str], int, int]:
            api = FakeImagesAPI()  # each shape its own server: they run at once (most of a run is waiting)
            api.rate_limit, api.latency = shape, (0.02, 0.05)
            client = self.make_client(base_url=api.url)
            out = os.path.join(self.tmp.name, name)
            try:
                result = oi.run_batch([f"p{i}" for i in range(14)], out, client=client, concurrency=4)
            finally:
                client.close()
                api.close()
            return result, done_ids(out), api.most_in_flight, api.limited

        with concurrent.futures.ThreadPoolExecutor(len(shapes)) as pool:
            outcomes = dict(zip(shapes, pool.map(run, shapes, shapes.values())))
        for name, (result, done, most, limited) in outcomes.items():
            with self.subTest(name):
                self.assertTrue(result.ok, result.failed_ids)
                self.assertEqual(sorted(done), sorted(f"job-{i}" for i in range(1, 15)))
                self.assertLessEqual(most, 4)
                # with no headers, the rate is found from the first 429s (the benchmark's 90 jobs: 2 %)
                self.assertLessEqual(limited, 8 if shapes[name].headers == "none" else 2, name)

    def test_a_429_is_never_a_job_failure_while_the_run_goes_on(self) -> None:
        client = self.make_client(retry_policy=oi.RetryPolicy(max_retries=0))  # the call's retries cannot save it
        self.addCleanup(client.close)
        limited = Action(429, ERROR_BODY, headers={"retry-after-ms": "10"})
        self.api.queue(Action(body=OK_BODY), *[limited] * 6)
        result = oi.run_batch([f"p{i}" for i in range(4)], self.out(), client=client, concurrency=2)
        self.assertTrue(result.ok, result.failed_ids)
        self.assertEqual(len(done_ids(self.out())), 4)

    def test_a_spent_quota_stops_the_run_with_its_message(self) -> None:
        quota = {"error": {"message": "You exceeded your current quota", "code": "insufficient_quota"}}
        self.api.queue(Action(body=OK_BODY), Action(429, quota))
        with self.assertRaises(oi.RateLimitError) as caught:
            oi.run_batch([f"p{i}" for i in range(6)], self.out(), client=self.client, concurrency=1)
        self.assertIn("exceeded your current quota", str(caught.exception))
        self.assertEqual(len(self.api.requests), 2)  # no job after it was sent
        self.assertEqual([r["status"] for r in manifest_rows(self.out()) if r.get("status") != "started"], ["done"])
        jobs = os.path.join(self.tmp.name, "jobs.txt")
        with open(jobs, "w") as handle:
            handle.write("a\nb\n")
        self.api.queue(Action(429, quota))
        cli = main_in_process("batch", jobs, "-o", self.out() + "-cli", base_url=self.api.url)
        self.assertEqual(cli.returncode, 1)
        self.assertIn("exceeded your current quota", cli.stderr)

    def test_a_long_wait_costs_no_cpu_and_stop_ends_it_at_once(self) -> None:
        self.api.queue(Action(body=OK_BODY), Action(429, ERROR_BODY, headers={"retry-after": "60"}))
        stop = threading.Event()
        outcome: List[oi.BatchResult] = []
        runner = threading.Thread(
            target=lambda: outcome.append(
                oi.run_batch(["a", "b", "c"], self.out(), client=self.client, concurrency=1, abort_trigger=stop)
            )
        )
        runner.start()
        wait_for(lambda: self.api.limited == 0 and len(self.api.requests) == 2, 10)
        time.sleep(0.1)
        cpu = time.process_time()
        time.sleep(0.5)
        self.assertLess(time.process_time() - cpu, 0.1)  # the whole process, the test's own threads included
        stopped = time.monotonic()
        stop.set()
        runner.join(5)
        self.assertLess(time.monotonic() - stopped, 0.5)
        self.assertTrue(outcome[0].interrupted)
        self.assertEqual(len(done_ids(self.out())), 1)


# =============================================================================
# Restricted Pythons: the client on a Python without ssl, zlib, fcntl, termios,
# _hashlib or asyncio, and started with -OO, -I -S, a read-only directory beside
# the file, an unwritable temporary directory, LANG=C and ASCII-only streams.
#
# Paste after ServerTestCase in test_openai_images.py. It uses that file's
# imports (json, os, shutil, subprocess, sys, tempfile, time) and helpers
# (FakeImagesAPI, Action, Recorded, ServerTestCase, cli_environment, gzip_bytes,
# PNG, HERE), plus importlib.util (imported here).
# =============================================================================


# One subprocess per row runs this driver: it blocks the row's modules exactly
# as a Python built without them (sys.modules[name] = None, before anything
# else is imported), runs every check of the row in-process and writes a JSON
# report: {"checks": {name: {"ok": bool, "error": ..., "at": ...}}, ...}.
# argv: [json config, comma-separated modules to block]. No assert statements:
# a row runs with -OO.
_RESTRICTED_DRIVER = r"""
import sys
for _name in sys.argv[2].split(","):
    if _name:
        sys.modules[_name] = None
import json, os, threading, time, traceback

CFG = json.loads(sys.argv[1])
ROW, WORK, URL, GZIP_URL = CFG["row"], CFG["work"], CFG["url"], CFG["gzip_url"]
HAS = CFG["has"]
PROMPT = "[" + ROW + "] a white cat, caf\u00e9 \u2615"
PNG = bytes.fromhex(CFG["png"])
KEY = os.environ["OPENAI_API_KEY"]
sys.path.insert(0, CFG["module_dir"])
import tempfile
tempfile.tempdir = CFG["tempdir"]  # the one the row gives (unwritable in its row; never the shared /tmp)
REPORT = {"row": ROW, "checks": {}}
oi = None


def need(condition, what):
    if not condition:
        raise AssertionError(what)


def check(function):
    started = time.monotonic()
    try:
        value = function()
        entry = {"ok": True} if value is None else {"ok": True, "value": value}
    except BaseException as exc:  # SystemExit and KeyboardInterrupt too: nothing may escape a check
        frames = traceback.extract_tb(exc.__traceback__)
        ours = [f for f in frames if f.filename.endswith("openai_images.py")]
        frame = (ours or frames or [None])[-1]
        entry = {"ok": False, "error": (type(exc).__name__ + ": " + str(exc))[:600]}
        if frame is not None:
            entry["at"] = "%s:%d in %s: %s" % (os.path.basename(frame.filename), frame.lineno, frame.name, frame.line)
    entry["seconds"] = round(time.monotonic() - started, 3)
    REPORT["checks"][function.__name__] = entry
    return function


def client(**options):
    options.setdefault("api_key", KEY)
    options.setdefault("base_url", URL)
    options.setdefault("max_retries", 0)
    options.setdefault("timeout", oi.Timeout(connect=5, read=10))
    return oi.OpenAIClient(**options)


def listener():
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    return sock


def one_error_line(err):
    lines = [line for line in err.splitlines() if line.startswith("openai-images:")]
    need("Traceback" not in err and len(lines) == 1, "not one error line on stderr: %r" % err[-800:])
    return lines[0]


_CLI_RUNS = [0]


def cli(*argv, stdin=None, stdout_readonly=False):
    # main(argv) with the real sys.stdout/sys.stderr objects (their encoding,
    # isatty) but file descriptors 1 and 2 (and 0 with stdin=) pointed at files;
    # in a "tty" row, stderr is a pseudo-terminal read by a thread.
    _CLI_RUNS[0] += 1
    stem = os.path.join(WORK, "cli%d" % _CLI_RUNS[0])
    with open(stem + ".in", "wb") as handle:
        handle.write((stdin or "").encode("utf-8"))
    if stdout_readonly:  # every write to standard output fails (EBADF)
        open(stem + ".out", "wb").close()
        out_fd = os.open(stem + ".out", os.O_RDONLY)
    else:
        out_fd = os.open(stem + ".out", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    tty = CFG["tty"]
    if tty:
        err_fd, slave = os.openpty()
        pieces = []

        def drain():
            while True:
                try:
                    data = os.read(err_fd, 4096)
                except OSError:
                    return
                if not data:
                    return
                pieces.append(data)

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
    else:
        slave = os.open(stem + ".err", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    in_fd = os.open(stem + ".in", os.O_RDONLY)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (0, 1, 2)}
    for fd, target in ((0, in_fd), (1, out_fd), (2, slave)):
        os.dup2(target, fd)
        os.close(target)
    try:
        try:
            code = oi.main(list(argv))
        except SystemExit as exc:
            code = 0 if exc.code is None else exc.code
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
    if tty:
        deadline = time.monotonic() + 2
        while reader.is_alive() and time.monotonic() < deadline:  # the slave is closed: EIO ends the reader
            reader.join(0.05)
        os.close(err_fd)
        err = b"".join(pieces).decode("utf-8", "replace").replace("\r\n", "\n")
    else:
        with open(stem + ".err", "rb") as handle:
            err = handle.read().decode("utf-8", "replace")
    with open(stem + ".out", "rb") as handle:
        RAW_OUT[0] = handle.read()
    return code, RAW_OUT[0].decode("utf-8", "replace"), err


RAW_OUT = [b""]


def write(name, data):
    path = os.path.join(WORK, name)
    with open(path, "wb") as handle:
        handle.write(data)
    return path


def _documented():
    "A docstring, gone under -OO."


def unwritable(directory):
    try:
        fd, probe = tempfile.mkstemp(dir=directory)
    except OSError:
        return True
    os.close(fd)
    os.unlink(probe)
    return False


@check
def restriction_in_force():
    # The row really runs as it claims: else it would prove nothing.
    import importlib

    for name in sys.argv[2].split(","):
        if name:
            try:
                importlib.import_module(name)
            except ImportError:
                continue
            raise AssertionError(name + " imports")
    if CFG["optimize"]:
        need(sys.flags.optimize == 2 and _documented.__doc__ is None, "not -OO")
    if CFG["isolated"]:
        need(sys.flags.isolated and sys.flags.no_site and "site" not in sys.modules, "not -I -S")
    if CFG["readonly_module_dir"]:
        need(unwritable(CFG["module_dir"]) and os.getcwd() == CFG["module_dir"], "the module's directory is writable")
    if CFG["readonly_tmp"]:
        need(unwritable(tempfile.gettempdir()) and unwritable(os.getcwd()), "the temporary directory is writable")
    if CFG["ascii"]:
        need(sys.stdout.encoding == sys.stdin.encoding == "ascii", "stdio is " + sys.stdout.encoding)
    if CFG["tty"]:  # what cli() does: stderr on a pseudo-terminal
        master, slave = os.openpty()
        saved = os.dup(2)
        os.dup2(slave, 2)
        is_tty = sys.stderr.isatty()
        os.dup2(saved, 2)
        for fd in (master, slave, saved):
            os.close(fd)
        need(is_tty, "stderr is not a terminal")


@check
def import_module():
    global oi
    started = time.monotonic()
    import openai_images as oi

    need(os.path.dirname(os.path.abspath(oi.__file__)) == os.path.abspath(CFG["module_dir"]), oi.__file__)
    return round(time.monotonic() - started, 3)


if oi is None:  # nothing else can run
    with open(CFG["report"], "w") as handle:
        json.dump(REPORT, handle)
    sys.exit(0)


@check
def manifest_lock():
    # "One run per directory" for batches, with or without fcntl.
    directory = os.path.join(WORK, "lock")
    os.makedirs(directory)
    first = oi._Manifest(directory)
    try:
        try:
            oi._Manifest(directory).close()
        except ValueError as exc:
            need("another run" in str(exc), str(exc))
        else:
            raise AssertionError("a second run got the directory while the first held it")
    finally:
        first.close()
    oi._Manifest(directory).close()  # free again once closed
    if hasattr(os, "fork"):  # a run killed without closing (kill -9) does not lock the directory forever
        pid = os.fork()
        if pid == 0:
            try:
                oi._Manifest(directory)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        oi._Manifest(directory).close()


@check
def accept_encoding():
    headers = oi.RequestBuilder(oi.OpenAIConfig(api_key=KEY)).headers(content_type=None, stream=False, extra_headers={})
    offered = headers.get("Accept-Encoding")
    need(("gzip" in (offered or "")) == HAS["zlib"], "Accept-Encoding: %r" % offered)
    return offered


@check
def generate():
    with client() as c:
        result = c.images.generate(model="gpt-image-2", prompt=PROMPT)
    need(result.data[0].to_bytes()[:8] == PNG[:8], "not a PNG")


@check
def edit_upload():
    with client() as c, open(write("mask.png", PNG), "rb") as mask:
        result = c.images.edit(
            model="gpt-image-2", prompt=PROMPT, image=[write("a.png", PNG), ("b.png", PNG)], mask=mask
        )
    need(result.data[0].to_bytes()[:8] == PNG[:8], "not a PNG")


@check
def edit_pipe():
    # a pipe cannot be read twice: it is copied to a temporary file first
    read_end, write_end = os.pipe()
    os.write(write_end, PNG)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe, client() as c:
        try:
            result = c.images.edit(model="gpt-image-2", prompt=PROMPT, image=pipe)
        except OSError as exc:
            if not CFG["readonly_tmp"]:
                raise
            text = str(exc)
            need(tempfile.gettempdir() in text and "temporary" in text.lower(), "unclear: " + text)
            return text
    need(not CFG["readonly_tmp"], "spooled without a writable temporary directory?")
    need(result.data[0].to_bytes()[:8] == PNG[:8], "not a PNG")


@check
def stream():
    with client() as c:
        events = list(c.images.generate(model="gpt-image-2", prompt=PROMPT, stream=True, partial_images=2))
    kinds = [event.type for event in events]
    need(kinds == ["image_generation.partial_image"] * 2 + ["image_generation.completed"], kinds)


@check
def abort():
    silent = listener()  # accepts, never answers
    trigger = threading.Event()
    accepted = []

    def abort_once_connected():  # the abort fires on an event of the server, not after a delay
        accepted.append(silent.accept()[0])
        trigger.set()

    threading.Thread(target=abort_once_connected, daemon=True).start()
    started = time.monotonic()
    try:
        with client(base_url="http://127.0.0.1:%d/v1" % silent.getsockname()[1]) as c:
            c.images.generate(model="gpt-image-2", prompt=PROMPT, abort_trigger=trigger)
    except oi.APIUserAbortError:
        need(time.monotonic() - started < 2, "slow abort")
    else:
        raise AssertionError("not aborted")
    finally:
        for sock in accepted + [silent]:
            sock.close()


@check
def connection_refused():
    closed = listener()
    port = closed.getsockname()[1]
    closed.close()
    try:
        with client(base_url="http://127.0.0.1:%d/v1" % port) as c:
            c.images.generate(model="gpt-image-2", prompt=PROMPT)
    except oi.APIConnectionError as exc:
        need("refused" in str(exc).lower(), str(exc))
    else:
        raise AssertionError("no error")


@check
def https_without_ssl():
    if HAS["ssl"]:
        return "skipped: this Python has ssl"
    target = listener()
    url = "https://127.0.0.1:%d/v1" % target.getsockname()[1]
    retries = oi.RetryPolicy(max_retries=2, initial_delay=3, jitter=0)  # a retry would take 3 s
    started = time.monotonic()
    try:
        with oi.OpenAIClient(config=oi.OpenAIConfig(api_key=KEY, base_url=url, retry_policy=retries)) as c:
            c.images.generate(model="gpt-image-2", prompt=PROMPT)
    except oi.OpenAIError as exc:
        text = str(exc)
        need("ssl" in text.lower(), "unclear: " + text)
        need(not isinstance(exc, oi.APIConnectionError), "a network error (retried): %r" % exc)
        need(time.monotonic() - started < 2, "not at once (retried?)")
        target.setblocking(False)
        try:
            target.accept()[0].close()
            raise AssertionError("it connected before failing")
        except BlockingIOError:
            pass
        return text
    finally:
        target.close()
    raise AssertionError("no error")


@check
def gzip_answer():
    # the gzip server compresses every answer, asked or not
    try:
        with client(base_url=GZIP_URL, max_retries=2) as c:
            result = c.images.generate(model="gpt-image-2", prompt=PROMPT)
    except oi.APIError as exc:
        need(not HAS["zlib"], "%r" % exc)
        text = str(exc)
        need("zlib" in text and "gzip" in text and exc.attempts == 1, "unclear or retried: " + text)
        return text
    need(HAS["zlib"], "decoded gzip without zlib?")
    need(result.data[0].to_bytes()[:8] == PNG[:8], "not a PNG")


@check
def async_client():
    c = oi.AsyncOpenAI(api_key=KEY, base_url=URL, max_retries=0)
    if not HAS["asyncio"]:
        return "constructed; calls need asyncio"
    if not CFG["async_call"]:
        return "constructed (calls are tried in one row only)"
    import asyncio

    async def run():
        async with c:
            return await c.images.generate(model="gpt-image-2", prompt=PROMPT)

    need(asyncio.run(run()).data[0].to_bytes()[:8] == PNG[:8], "not a PNG")


@check
def help_signatures():
    # what help() shows first: the signatures, docstrings or not (-OO)
    import inspect

    need("partial_images" in str(inspect.signature(oi.ImagesResource.generate)), "no signature")
    need("api_key" in str(inspect.signature(oi.OpenAIClient)), "no constructor signature")
    if not CFG["optimize"]:
        return "docstrings kept"
    import pydoc  # help() renders with pydoc; slow under -OO (it looks for comments instead): one row only

    for function in (oi.ImagesResource.generate, oi.OpenAIClient.__init__, oi.main):
        text = pydoc.render_doc(function, renderer=pydoc.plaintext)
        flat = lambda shown: "".join(shown.split()).replace(",)", ")")  # 3.13 puts long signatures one per line
        need(flat(str(inspect.signature(function))) in flat(text), text[:300])
    need(oi.OpenAIClient.__doc__ is None, "docstrings kept under -OO?")
    return "docstrings stripped"


@check
def cli_help():
    code, out, err = cli("--help")
    need(code == 0 and "generate" in out, (code, out[-300:], err[-300:]))
    code, out, err = cli("generate", "--help")
    need(code == 0 and "--dry-run" in out and "--output" in out, (code, out[-300:], err[-300:]))


@check
def cli_usage_error():
    code, out, err = cli("generate", PROMPT, "--siz\u00e9", "1024x1024")
    need(code == 2 and "unrecognized" in err and "Traceback" not in err, (code, err[-600:]))


@check
def cli_dry_run():
    code, out, err = cli("generate", PROMPT, "--dry-run", "--base-url", "https://api.openai.com/v1")
    need(code == 0 and "/images/generations" in out and "white cat" in out, (code, out[-300:], err[-300:]))
    need(KEY not in out + err, "the key is shown")


@check
def cli_generate():
    target = os.path.join(WORK, "out", "gen.png")
    code, out, err = cli("generate", PROMPT, "-o", target)
    need(code == 0 and target in out, (code, out[-300:], err[-600:]))
    with open(target, "rb") as handle:
        need(handle.read(8) == PNG[:8], "not a PNG")


@check
def cli_edit_and_stream():
    target = os.path.join(WORK, "out", "edit.png")
    code, out, err = cli("edit", PROMPT, write("edit-in.png", PNG), "--save-partials", "-o", target)
    partial = os.path.join(WORK, "out", "edit-partial-1.png")
    need(code == 0 and target in out and os.path.exists(partial), (code, out[-300:], err[-600:]))


@check
def cli_prompt_on_stdin():
    # a UTF-8 prompt piped in arrives intact (the server side checks every prompt), whatever stdin's encoding
    target = os.path.join(WORK, "out", "stdin.png")
    code, out, err = cli("generate", "-", "-o", target, stdin=PROMPT + "\n")
    need(code == 0 and os.path.exists(target), (code, err[-600:]))


@check
def cli_https_without_ssl():
    if HAS["ssl"]:
        return "skipped: this Python has ssl"
    target = listener()
    try:
        url = "https://127.0.0.1:%d/v1" % target.getsockname()[1]
        code, out, err = cli("generate", PROMPT, "--base-url", url, "-o", os.path.join(WORK, "out", "https.png"))
    finally:
        target.close()
    line = one_error_line(err)
    need(code in (1, 2) and "ssl" in line.lower(), (code, line))
    return line


@check
def cli_here_unwritable():
    # no -o: images go here; a directory that cannot take them is said at once, before the paid call
    code, out, err = cli("generate", PROMPT)
    if not (CFG["readonly_module_dir"] or CFG["readonly_tmp"]):
        need(code == 0, (code, err[-600:]))
        return
    line = one_error_line(err)
    need(code == 2 and os.getcwd() in line, (code, line))
    return line


@check
def cli_stdout_from_here():
    # -o - needs an open standard output, nothing else: not a writable current directory
    code, out, err = cli("generate", PROMPT, "-o", "-")
    need(code == 0 and RAW_OUT[0][:8] == PNG[:8], (code, err[-600:]))


@check
def cli_rescue():
    # the image cannot go where asked (standard output fails): it is saved elsewhere, or the line says where it tried
    code, out, err = cli("generate", PROMPT, "-o", "-", stdout_readonly=True)
    line = one_error_line(err)
    need(code == 1, (code, line))
    if CFG["readonly_tmp"]:
        need(os.getcwd() in line and tempfile.gettempdir() in line, "where did it try? " + line)
    else:
        need("saved to" in line, line)
    return line


@check
def cli_batch():
    jobs = write("jobs.txt", (PROMPT + " one\n" + PROMPT + " two\n").encode("utf-8"))
    directory = os.path.join(WORK, "out", "batch")
    code, out, err = cli("batch", jobs, "-o", directory, "--quiet")
    need(code == 0 and len([n for n in os.listdir(directory) if n.endswith(".png")]) == 2, (code, err[-600:]))
    holder = oi._Manifest(directory)  # another run holds the directory
    try:
        code, out, err = cli("batch", jobs, "-o", directory, "--quiet")
    finally:
        holder.close()
    line = one_error_line(err)
    need(code != 0 and "another run" in line, (code, line))


REPORT["cpu_seconds"] = round(time.process_time(), 3)
with open(CFG["report"], "w") as handle:
    json.dump(REPORT, handle)
"""


# Root ignores file permissions: a row that needs read-only directories then
# runs in a mount namespace of its own, where they are read-only bind mounts.
# argv: the directories, "--", the command. Exit 97: mounting is not allowed.
_READ_ONLY_MOUNTS = (
    'for d; do [ "$d" = -- ] && break; mount --bind "$d" "$d" && mount -o remount,bind,ro "$d" || exit 97; '
    'shift; done; shift; exec "$@"'
)


class _GzipImagesAPI(FakeImagesAPI):
    """The fake API, every answer gzip-compressed whether the client offered gzip or not."""

    def default_action(self, record: Recorded) -> Action:
        action = super().default_action(record)
        body = json.dumps(action.body).encode()
        headers = {**action.headers, "Content-Type": "application/json", "Content-Encoding": "gzip"}
        return Action(action.status, gzip_bytes(body), headers)


class RestrictedPythonTests(ServerTestCase):
    """Every row is a Python (or a start) lacking something, in its own
    subprocess: import, generate, edit uploads, stream, abort, and the command
    line's --help, --dry-run, generate, edit and batch, over http against the
    fake server. What it lacks either does not matter or fails at once with
    one clear line. All rows run at once: about 2 s on two cores."""

    ROWS: ClassVar[Dict[str, Dict[str, Any]]] = {
        "no ssl, no _hashlib (built without OpenSSL)": {"block": ["ssl", "_ssl", "_hashlib"], "async_call": True},
        "no zlib": {"block": ["zlib"]},
        "no fcntl": {"block": ["fcntl"]},
        "no termios, stderr a terminal": {"block": ["termios"], "tty": True},
        "no asyncio": {"block": ["asyncio"]},
        "-OO": {"flags": ["-OO"]},
        "-I -S": {"flags": ["-I", "-S"]},
        "read-only directory beside the file": {"readonly_module_dir": True},
        "unwritable temporary directory": {"readonly_tmp": True},
        "LANG=C, ASCII streams": {"env": {"LANG": "C", "LC_ALL": "C", "PYTHONIOENCODING": "ascii"}, "ascii": True},
    }

    gzip_api: ClassVar[_GzipImagesAPI]

    @classmethod
    def setUpClass(cls) -> None:
        cls.gzip_api = _GzipImagesAPI()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.gzip_api.close()

    def start_row(self, row: str, spec: Dict[str, Any], work: str) -> Dict[str, Any]:
        """Start the row's driver in ``work``; returns what ``test_…`` collects."""
        for sub in ("out", "tmp"):
            os.makedirs(os.path.join(work, sub))
        blocked, flags = spec.get("block", []), spec.get("flags", [])
        config = {
            "row": row,
            "work": work,
            "url": self.api.url,
            "gzip_url": self.gzip_api.url,
            "png": PNG.hex(),
            "report": os.path.join(work, "report.json"),
            "module_dir": HERE,
            "tempdir": os.path.join(work, "tmp"),
            "has": {name: name not in blocked for name in ("ssl", "zlib", "asyncio")},
            "tty": bool(spec.get("tty")) and hasattr(os, "openpty"),
            "ascii": bool(spec.get("ascii")),
            "optimize": "-OO" in flags,
            "isolated": "-I" in flags,
            "async_call": bool(spec.get("async_call")),
            "readonly_module_dir": bool(spec.get("readonly_module_dir")),
            "readonly_tmp": bool(spec.get("readonly_tmp")),
        }
        cwd, read_only = work, []
        if config["readonly_module_dir"]:  # a copy of the file in a directory nobody may write (no __pycache__)
            cwd = config["module_dir"] = os.path.join(work, "module")
            os.makedirs(cwd)
            shutil.copy2(os.path.join(HERE, "openai_images.py"), cwd)
            compiled = importlib.util.cache_from_source(os.path.join(HERE, "openai_images.py"))
            if os.path.exists(compiled):  # not compiling 8000 lines in the row (the cache checks the source's mtime)
                os.makedirs(os.path.join(cwd, "__pycache__"))
                shutil.copy2(compiled, os.path.join(cwd, "__pycache__"))
            read_only = [cwd]
        if config["readonly_tmp"]:  # neither the temporary directory nor the current one can take a file
            cwd = os.path.join(work, "here")
            os.makedirs(cwd)
            read_only = [config["tempdir"], cwd]
        env = cli_environment(self.api.url, {"TMPDIR": config["tempdir"], "PYTHONDONTWRITEBYTECODE": None})
        env.update(spec.get("env", {}))
        command = [sys.executable, *flags, "-c", _RESTRICTED_DRIVER, json.dumps(config), ",".join(blocked)]
        for directory in read_only:
            os.chmod(directory, 0o555)
        if read_only and not self.writes_blocked(read_only[0]):  # root
            if shutil.which("unshare") is None:
                return {"skip": "running as root, and no unshare(1) for a read-only mount", "read_only": read_only}
            command = ["unshare", "-m", "--propagation", "private", "sh", "-c", _READ_ONLY_MOUNTS, "sh"]
            command += [*read_only, "--", sys.executable, *flags, "-c", _RESTRICTED_DRIVER]
            command += [json.dumps(config), ",".join(blocked)]
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        return {"process": process, "report": config["report"], "read_only": read_only}

    @staticmethod
    def writes_blocked(directory: str) -> bool:
        try:
            with open(os.path.join(directory, ".probe"), "x"):
                pass
        except OSError:
            return True
        os.unlink(os.path.join(directory, ".probe"))
        return False

    def check_row(self, row: str, run: Dict[str, Any]) -> None:
        if "skip" in run:
            self.skipTest(run["skip"])
        try:
            _, err = run["process"].communicate(timeout=60)
        except subprocess.TimeoutExpired:
            run["process"].kill()
            _, err = run["process"].communicate()
        if run["process"].returncode == 97 or (run["read_only"] and b"unshare" in err):
            self.skipTest("running as root, and a read-only mount is not allowed here")
        details = f"exit status {run['process'].returncode}; stderr: {err.decode(errors='replace')[-2000:]}"
        self.assertTrue(os.path.exists(run["report"]), f"no report from the row; {details}")
        with open(run["report"]) as handle:
            report = json.load(handle)
        failed = [
            f"  {name}: {entry['error']}" + (f"\n      at {entry['at']}" if entry.get("at") else "")
            for name, entry in report["checks"].items()
            if not entry["ok"]
        ]
        if failed:
            self.fail(f"row {row!r}: {len(failed)} checks failed:\n" + "\n".join(failed) + f"\n{details}")
        self.assertEqual(run["process"].returncode, 0, details)

    def test_every_row_works_or_fails_with_one_clear_line(self) -> None:
        base = tempfile.mkdtemp(prefix="oi-restricted-")
        runs: Dict[str, Dict[str, Any]] = {}
        try:
            for number, (row, spec) in enumerate(self.ROWS.items()):  # all at once, then collected
                runs[row] = self.start_row(row, spec, os.path.join(base, f"row{number}"))
            for row, run in runs.items():
                with self.subTest(row=row):
                    self.check_row(row, run)
            # What the server saw: every prompt intact (no ASCII row mangled one); gzip offered only by a
            # Python that can decode it.
            sent = [(str((r.json or r.form).get("prompt")), r.headers) for r in self.api.requests if r.json or r.fields]
            self.assertEqual([p for p, _ in sent if p.startswith("[") and "white cat, caf\u00e9 \u2615" not in p], [])
            gzip = {row: {"gzip" in h.get("Accept-Encoding", "") for p, h in sent if f"[{row}]" in p} for row in runs}
            self.assertEqual(gzip["no zlib"], {False})
            self.assertIn(True, gzip["no fcntl"])
        finally:
            for run in runs.values():
                if "process" in run and run["process"].poll() is None:
                    run["process"].kill()
                    run["process"].communicate()
                for directory in run["read_only"]:
                    os.chmod(directory, 0o755)
            shutil.rmtree(base, ignore_errors=True)


class ResponseSurfaceTests(ServerTestCase):
    """The official SDK's response surface, a stream cut short that never
    looks complete, reads bounded and linear, and no key in any repr."""

    def test_raw_and_streamed_responses_have_the_sdk_surface(self) -> None:
        raw = self.client.images.with_raw_response.generate(prompt="p")
        self.assertTrue(raw.is_closed)  # its body was read
        self.assertEqual((raw.status_code, raw.retries_taken, raw.http_version), (200, 0, "HTTP/1.1"))
        self.assertEqual((raw.http_request.method, raw.headers["x-request-id"]), ("POST", raw.request_id))
        self.assertEqual(raw.json()["data"][0]["b64_json"], raw.parse().data[0].b64_json)
        self.assertIn('"b64_json"', raw.text)
        with self.client.images.with_streaming_response.generate(prompt="p") as response:
            self.assertFalse(response.is_closed)
            self.assertEqual(response.json()["data"][0]["b64_json"], PNG_B64)
            self.assertEqual((response.read()[:1], response.text()[:1]), (b"{", "{"))
        self.assertTrue(response.is_closed)

        async def streamed() -> Tuple[bool, bool, bool]:
            async with oi.AsyncOpenAIClient(api_key=TEST_KEY, base_url=self.api.url) as client:
                async with client.images.with_streaming_response.generate(prompt="p") as response:
                    before = response.is_closed
                    lines = [line async for line in response.iter_lines()]
                stream = await client.images.generate(prompt="p", stream=True)
                await stream.response.aclose()
                return before, response.is_closed, bool(lines) and stream.response.is_closed

        import asyncio

        self.assertEqual(asyncio.run(streamed()), (False, True, True))

    def test_every_read_is_bounded_by_max_response_bytes_and_linear(self) -> None:
        client = self.make_client(max_response_bytes=1 << 20)
        self.addCleanup(client.close)
        endless_line = [b"x" * (1 << 20)] * 4  # 4 MiB that never ends a line
        reads: Dict[str, Callable[[Any], object]] = {
            "iter_lines": lambda r: list(r.iter_lines()),
            "iter_text": lambda r: list(r.iter_text()),
            "iter_bytes": lambda r: list(r.iter_bytes()),
            "read": lambda r: r.read(),
            "text": lambda r: r.text(),
            "json": lambda r: r.json(),
        }
        for name, read in reads.items():
            with self.subTest(name):
                self.api.queue(Action(sse=endless_line, headers={"Content-Type": "application/json"}))
                started = time.monotonic()
                with client.images.with_streaming_response.generate(prompt="p") as response, self.assertRaises(
                    oi.APIResponseValidationError
                ):
                    read(response)
                self.assertLess(time.monotonic() - started, 2)
        self.api.queue(Action(sse=endless_line))
        raw = client.images.with_raw_response.generate(prompt="p", stream=True)
        with self.assertRaises(oi.APIResponseValidationError):
            raw.text  # noqa: B018 - a read, through a property
        raw.parse().close()
        started = time.monotonic()
        lines = list(oi._lines(["y" * 65536] * 512))  # 32 MiB with no newline, as one line: linear
        self.assertEqual((len(lines), len(lines[0])), (1, 32 * 1024 * 1024))
        self.assertLess(time.monotonic() - started, 5)

    def test_the_iterators_of_a_streamed_response_closed_early_raise(self) -> None:
        self.api.queue(Action(sse=[b'{"a": "', 0.05, b"b" * 100, "HANG"], headers={"Content-Type": "application/json"}))
        with self.client.images.with_streaming_response.generate(prompt="p") as response:
            pieces = response.iter_bytes()
            next(pieces)
            closing = threading.Thread(target=response.close)
            closing.start()
            closing.join()
            with self.assertRaises(oi.APIUserAbortError):
                for _ in pieces:
                    pass

    def test_no_key_in_any_representation(self) -> None:
        echoed = {
            "created": 1,
            "data": [{"b64_json": PNG_B64, "revised_prompt": f"the key is {TEST_KEY}"}],
            "usage": USAGE,
            "note": {f"k-{TEST_KEY}": TEST_KEY},
        }
        self.api.queue(Action(body=echoed))
        response = self.client.images.generate(prompt="p")
        for shown in (repr(response), response.to_json(), json.dumps(response.model_dump()), str(response.to_dict())):
            self.assertNotIn(TEST_KEY_TAIL, shown)
        self.assertEqual(response.data[0].to_bytes(), PNG)
        config = oi.OpenAIConfig(
            api_key=TEST_KEY, default_headers={"X-Api-Key": TEST_KEY}, default_query={"api-key": TEST_KEY}
        )
        self.assertNotIn(TEST_KEY_TAIL, repr(config))
        self.assertNotIn(TEST_KEY_TAIL, repr(oi.OpenAIClient(config=config)))
        for settings in (
            {"default_query": {"sig": TEST_KEY}},
            {"base_url": f"https://example.com/v1?api-key={TEST_KEY}"},
            {"proxies": {"https": f"http://user:{TEST_KEY}@proxy.example:3128"}},
        ):
            config = oi.OpenAIConfig(api_key="sk-other-key-123456", **settings)  # type: ignore[arg-type]
            self.assertNotIn(TEST_KEY_TAIL, repr(config), settings)

    def test_the_methods_made_from_the_models_refuse_every_unknown_keyword(self) -> None:
        for keywords in ({"unexpected": {"model": "x"}}, {"unexpected": 5}, {"self": 1}, {"sise": "1"}):
            with self.subTest(keywords), self.assertRaises(TypeError):
                self.client.images.generate(prompt="p", **keywords)
        self.assertEqual(self.api.requests, [])

    def test_an_abort_once_the_completed_event_was_delivered_changes_nothing(self) -> None:
        stream = self.client.images.generate_stream(prompt="p")
        for event in stream:
            if isinstance(event, oi.ImageGenCompletedEvent):
                stream.abort()  # the stream is complete: a no-op, as after close()
        self.assertEqual(stream.state, oi.ImageStream.CLOSED)

    def test_closing_before_the_completed_event_is_delivered_never_looks_complete(self) -> None:
        self.api.queue(Action(body=OK_BODY))  # a server that ignored stream=true: the events are all received
        stream = self.client.images.generate_stream(prompt="p")
        stream.close()  # the completed event was received, never delivered
        with self.assertRaises(oi.APIUserAbortError):
            list(stream)


class LayerTests(TestCase):
    """The file reads top to bottom: a section uses, at run time, only names
    defined in itself or above it (annotations and TYPE_CHECKING blocks aside)."""

    def test_no_section_uses_a_name_defined_in_a_later_one(self) -> None:
        import ast

        with open(os.path.join(HERE, "openai_images.py"), encoding="utf-8") as handle:
            source = handle.read()
        lines = source.splitlines()
        starts = [
            n + 1 for n, line in enumerate(lines[:-1]) if line.startswith("# ====") and lines[n + 1][2:3].isalpha()
        ]
        self.assertGreaterEqual(len(starts), 12)

        def section(line: int) -> int:
            return max((start for start in starts if start <= line), default=0)

        tree = ast.parse(source)
        defined: Dict[str, int] = {}
        for node in tree.body:
            targets = [getattr(node, "name", None)] + [getattr(t, "id", None) for t in getattr(node, "targets", [])]
            targets.append(getattr(getattr(node, "target", None), "id", None))
            for name in filter(None, targets):
                defined.setdefault(name, node.lineno)
        upward = sorted(
            f"line {line}: {name} (defined at line {defined[name]})"
            for name, line in runtime_uses(tree)
            if name in defined and section(defined[name]) > section(line)
        )
        self.assertEqual(upward, [])


def runtime_uses(tree: Any) -> List[Tuple[str, int]]:
    """(name, line) of every module-level name read when the code runs: not
    in annotations, ``cast()`` types or ``if TYPE_CHECKING:`` blocks, and not
    a function's own parameter or local."""
    import ast

    uses: List[Tuple[str, int]] = []

    def local_names(function: Any) -> Set[str]:
        names = {arg.arg for arg in ast.walk(function.args) if isinstance(arg, ast.arg)}
        for node in ast.walk(function):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node is not function:
                names.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
        return names

    def visit(node: Any, local: Set[str]) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for child in [*node.decorator_list, *node.args.defaults, *filter(None, node.args.kw_defaults)]:
                visit(child, local)
            inner = local | local_names(node)
            for child in node.body:
                visit(child, inner)
            return
        if isinstance(node, ast.AnnAssign):
            if node.value is not None:
                visit(node.value, local)
            return
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for child in node.orelse:
                visit(child, local)
            return
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "cast":
            for child in node.args[1:]:
                visit(child, local)
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in local:
            uses.append((node.id, node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child, local)

    visit(tree, set())
    return uses


class SmallerFileTests(TempFilesMixin, ServerTestCase):
    def test_the_file_cut_at_its_marks_keeps_the_client_and_its_command_line(self) -> None:
        """The README's one command cuts the async client and the batch runner;
        what remains imports, passes the core tests, and generates and edits."""
        with open(os.path.join(HERE, "README.md"), encoding="utf-8") as handle:
            command = next(line for line in handle if "[cut:(async|batch)" in line).strip()
        cut = os.path.join(self.tmp.name, "vendor")
        os.makedirs(os.path.join(cut, "myapp", "vendor"))
        shutil.copy(os.path.join(HERE, "openai_images.py"), os.path.join(cut, "myapp", "vendor"))
        shutil.copy(os.path.join(HERE, "test_openai_images.py"), os.path.join(cut, "myapp", "vendor"))
        bindir = os.path.join(self.tmp.name, "bin")  # `python`, as the README writes it, is this Python
        os.makedirs(bindir)
        os.symlink(sys.executable, os.path.join(bindir, "python"))
        path = bindir + os.pathsep + os.environ.get("PATH", "")
        subprocess.run(["bash", "-c", command], cwd=cut, check=True, timeout=60, env={**os.environ, "PATH": path})
        where = os.path.join(cut, "myapp", "vendor")
        with open(os.path.join(where, "openai_images.py"), encoding="utf-8") as handle:
            left = handle.read()
        for gone in ("class AsyncOpenAIClient", "def run_batch", "[cut:", "[end:"):
            self.assertNotIn(gone, left)
        with open(os.path.join(HERE, "openai_images.py"), encoding="utf-8") as handle:
            self.assertLess(left.count("\n"), 0.8 * handle.read().count("\n"))
        env = {**cli_environment(self.api.url), "PYTHONPATH": where}
        core = ["test_openai_images.ConfigTests", "test_openai_images.MultipartTests", "test_openai_images.LayerTests"]
        image = self.write("in.png", PNG)
        runs = [  # at once: each is mostly a Python starting
            ([sys.executable, "-m", "unittest", *core], where),
            ([sys.executable, "-m", "openai_images", "generate", "a cat", "-o", "cat.png"], self.tmp.name),
            ([sys.executable, "-m", "openai_images", "edit", "a hat", image, "-o", "hat.png"], self.tmp.name),
        ]

        def run(command: List[str], cwd: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)

        with concurrent.futures.ThreadPoolExecutor(len(runs)) as pool:
            for result in list(pool.map(run, *zip(*runs))):
                self.assertEqual(result.returncode, 0, result.stderr[-2000:])
        self.assertEqual(
            sorted(n for n in os.listdir(self.tmp.name) if n.endswith(".png")), ["cat.png", "hat.png", "in.png"]
        )
        gone = subprocess.run(
            [sys.executable, "-m", "openai_images", "batch", "x"], cwd=where, env=env, capture_output=True, text=True
        )
        self.assertEqual(gone.returncode, 2)  # argparse: no such subcommand any more


class BatchPlanTests(TestCase):
    """The planning step alone: jobs, the manifest's rows and DIR's files
    (name -> modification time) in; what to run, adopt or skip out. No I/O."""

    def test_run_skip_adopt_and_refuse(self) -> None:
        a, b, c, d = (oi.BatchJob(name, "generate", {"prompt": name}, name) for name in "abcd")
        rows = {
            "a": {"id": "a", "status": "done", "files": ["a.png"], "fingerprint": a.fingerprint()},
            "b": {"id": "b", "status": "started", "fingerprint": b.fingerprint(), "at": "2026-12-02T10:00:00.000Z"},
            "c": {"id": "c", "status": "started", "fingerprint": c.fingerprint(), "at": "2026-12-02T10:00:00.000Z"},
            "d": {"id": "d", "status": "failed", "files": []},
        }
        sent = oi._time_of("2026-12-02T10:00:00.000Z") or 0.0
        files = {"a.png": sent - 100, "b.png": sent + 5, "c.png": sent - 100}  # c.png: older than c was sent
        plan = oi._plan([a, b, c, d], rows, files)
        self.assertEqual([job.id for job in plan.done], ["a"])
        self.assertEqual([(job.id, names) for job, names in plan.adopt], [("b", ["b.png"])])
        self.assertEqual([job.id for job in plan.run], ["c", "d"])
        changed = oi.BatchJob("a", "generate", {"prompt": "another"}, "a")
        with self.assertRaises(ValueError) as caught:
            oi._plan([changed], rows, files)
        self.assertIn("changed since it was done", str(caught.exception))
        thief = oi.BatchJob("e", "generate", {"prompt": "e"}, "a")  # its output would replace a's images
        with self.assertRaises(ValueError) as caught:
            oi._plan([a, thief], rows, files)
        self.assertIn("would replace the images of job 'a'", str(caught.exception))

    def test_the_life_of_a_job_is_one_table(self) -> None:
        life = oi._JOB_LIFE
        for state, (moves, _status) in life.items():
            self.assertTrue(set(moves) <= set(life), state)
        self.assertEqual({status for _, status in life.values() if status}, {"started", "done", "failed"})
        self.assertEqual(life["done"][0], ())  # done is final: a job is paid once


def free_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def try_without_a_key(argv: List[str]) -> int:
    """``python test_openai_images.py --try generate "a white cat"``: the
    command line against the fake API, started here for the one command (no
    key, no network; the images are tiny PNGs). ``--serve`` instead keeps the
    fake API running and prints how to point the command line at it."""
    api = server()
    env = {"OPENAI_BASE_URL": api.url, "OPENAI_API_KEY": "sk-fake-key-for-trying"}
    if argv[0] == "--serve":
        print(f"a fake Images API is serving at {api.url} (Ctrl-C stops it); in another terminal:")
        print(f"  export OPENAI_BASE_URL={api.url} OPENAI_API_KEY=sk-fake-key-for-trying")
        print('  python -m openai_images generate "a white cat"')
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            return 0
    os.environ.update(env)
    return oi.main(argv[1:])


# =============================================================================
# The suite in worker processes
# =============================================================================
# Loaded whole (``python -m unittest test_openai_images``, ``python
# test_openai_images.py``, discovery), the suite runs in worker processes: much
# of it waits on sockets, subprocesses and clocks, so two cores keep three
# workers busy. The parent hands out one test at a time (a class with class
# fixtures goes whole) and runs no test itself. It reports what a run in one
# process would: each test's events together as it ends, tracebacks as they
# were written, subtests, a module fixture's error once, -b, --locals, -c, -f
# and warnings as unittest gives them. A worker that dies costs the test it ran
# (or the unit it had not started), and is said; Ctrl-C stops the workers as it
# stops a test. Each worker runs the module's fixtures, so the secrets sweep of
# ``tearDownModule`` covers every test. OPENAI_IMAGES_TEST_WORKERS=1 runs the
# suite in one process, as naming a class or a test always does.

WORKER_FDS = "OPENAI_IMAGES_TEST_WORKER_FDS"  # in a worker: "COMMANDS_FD,EVENTS_FD"

# Handed out first, so that no long test is left to run alone at the end (CI
# prints the 10 slowest; a stale list costs only balance).
SLOW_FIRST = (
    "ReadmeTests.",
    "RestrictedPythonTests.",
    "SDKCompatibilityTests.",
    "HostileServerTests.",
    "SmallerFileTests.",
    "FaultMatrixTests.",
)


def worker_count() -> int:
    """OPENAI_IMAGES_TEST_WORKERS (default 3); 1 inside a worker, where
    ``os.pipe`` cannot be passed on (not POSIX), or for a value that is not a number."""
    if os.environ.get(WORKER_FDS) or os.name != "posix":
        return 1
    try:
        return max(1, int(os.environ.get("OPENAI_IMAGES_TEST_WORKERS", "3")))
    except ValueError:
        return 1


def load_tests(loader: unittest.TestLoader, tests: unittest.TestSuite, pattern: Optional[str]) -> unittest.TestSuite:
    workers = worker_count()
    return WorkerSuite(tests, sys.modules[__name__], workers) if workers > 1 else tests


def key_of(test: Any) -> str:
    """A test's id without its module's name: the same in every process, however
    the module was imported (``__main__`` when run as a script)."""
    if not isinstance(test, unittest.TestCase):
        return str(test)  # a fixture's error: "setUpClass (module.Class)"
    return f"{type(test).__qualname__}.{test._testMethodName}"


class WorkerFailure(AssertionError):
    """A worker's failed assertion (its traceback is shown as the worker wrote it)."""


class WorkerError(Exception):
    """A worker's error (its traceback is shown as the worker wrote it)."""


class Described:
    """Something a worker reported on that is none of the parent's tests: a
    class or module fixture, or the worker process itself."""

    failureException = AssertionError

    def __init__(self, description: str) -> None:
        self.description = description

    def id(self) -> str:
        return self.description

    def __str__(self) -> str:
        return self.description

    def shortDescription(self) -> None:
        return None


def remote_subtest(test_case: unittest.TestCase, description: str) -> Any:
    """A worker's subtest (``(i=1)``, ``[message]``), shown as unittest shows
    its own: it is one of unittest's subtests, which is what a subtest line
    needs (made here, not subclassed: the loader would take a subclass for a
    test case)."""
    subtest: Any = unittest.case._SubTest(test_case, None, {})
    subtest._subDescription = lambda: description
    return subtest


@contextlib.contextmanager
def shown_as(result: Any, text: str) -> Iterator[None]:
    """While ``result`` records an error, its traceback is ``text``, as the worker formatted it."""
    result._exc_info_to_string = lambda err, test: text
    try:
        yield
    finally:
        del result._exc_info_to_string


def replay(result: Any, name: str, test: Any, rest: List[Any]) -> None:
    """Call ``result``'s method ``name`` as a worker's result was called."""
    if name in ("addFailure", "addError", "addExpectedFailure"):
        kind = WorkerFailure if name == "addFailure" else WorkerError
        with shown_as(result, rest[0]):
            getattr(result, name)(test, (kind, kind(), None))
    elif name == "addSubTest":
        description, failed, text = rest
        kind = WorkerFailure if failed else WorkerError
        with shown_as(result, text or ""):
            result.addSubTest(test, remote_subtest(test, description), None if text is None else (kind, kind(), None))
    elif name in ("addSkip", "addDuration"):
        if hasattr(result, name):  # addDuration: Python 3.12+
            getattr(result, name)(test, rest[0])
    else:  # startTest, stopTest, addSuccess, addUnexpectedSuccess
        getattr(result, name)(test)


class WorkerSuite(unittest.TestSuite):
    """``tests`` (from ``module``) run by ``workers`` worker processes (see above)."""

    def __init__(self, tests: unittest.TestSuite, module: Any, workers: int) -> None:
        super().__init__([tests])
        self.workers = workers
        self.path, file = os.path.split(os.path.abspath(module.__file__))
        self.importable = os.path.splitext(file)[0]  # not "__main__" when run as a script
        self.local: List[unittest.TestCase] = []  # not the module's (the loader's errors): run here
        self.by_key: Dict[str, unittest.TestCase] = {}
        self.units: List[List[str]] = []
        self.fixture_errors: Set[str] = set()  # shown once, however many workers saw them
        grouped: Dict[type, List[str]] = {}
        for test in self.flat(tests):
            if type(test).__module__ != module.__name__:
                self.local.append(test)
                continue
            self.by_key[key_of(test)] = test
            if not self.has_class_fixtures(type(test)):
                self.units.append([key_of(test)])
            elif type(test) in grouped:
                grouped[type(test)].append(key_of(test))
            else:
                grouped[type(test)] = [key_of(test)]
                self.units.append(grouped[type(test)])

    @classmethod
    def flat(cls, suite: Iterable[Any]) -> Iterator[unittest.TestCase]:
        for test in suite:
            if isinstance(test, unittest.TestSuite):
                yield from cls.flat(test)
            else:
                yield test

    @staticmethod
    def has_class_fixtures(test_class: type) -> bool:
        return any(
            getattr(test_class, name).__func__ is not getattr(unittest.TestCase, name).__func__
            for name in ("setUpClass", "tearDownClass")
        )

    def run(self, result: Any, debug: bool = False) -> Any:
        for test in self.local:
            test(result)
        pending = sorted(self.units, key=lambda unit: not unit[0].startswith(SLOW_FIRST))
        options = json.dumps(
            {
                "buffer": bool(getattr(result, "buffer", False)),
                "locals": bool(getattr(result, "tb_locals", False)),
                "catchbreak": type(signal.getsignal(signal.SIGINT)).__name__ == "_InterruptHandler",  # -c
            }
        )
        workers: List[Worker] = []
        try:
            workers += [Worker(self, options) for _ in range(min(self.workers, len(pending)))]
            self.drive(workers, pending, result, options)
        except KeyboardInterrupt:
            for worker in workers:
                worker.interrupt()
            raise
        finally:
            for worker in workers:
                worker.close()
        return result

    def drive(self, workers: List[Worker], pending: List[List[str]], result: Any, options: str) -> None:
        """Serve the workers until none is left; one is started again while
        work is left, unless a worker died before it could ask for any."""
        while True:
            alive = {worker.events: worker for worker in workers if worker.alive}
            if not alive:
                if not (pending and not result.shouldStop and all(worker.asked for worker in workers)):
                    break
                workers.append(Worker(self, options))
                continue
            for events in select.select(list(alive), [], [])[0]:
                alive[events].step(pending, result)
        if pending and not result.shouldStop:  # no worker could start: every test left is an error
            status = next((worker.status for worker in workers if not worker.asked), None)
            for unit in pending:
                for key in unit:
                    self.report_error(result, key, f"not run: a worker process could not start (exit status {status})")

    def report_error(self, result: Any, key: str, text: str) -> None:
        """An error for the test ``key`` (or the worker, or a fixture) that no traceback tells."""
        test: Any = self.by_key.get(key) or Described(key)
        for name, rest in (("startTest", []), ("addError", [text + "\n"]), ("stopTest", [])):
            if name == "addError" or isinstance(test, unittest.TestCase):
                replay(result, name, test, rest)


class Worker:
    """One worker process, with a pipe for its orders and one for its events."""

    CODE = "import importlib, sys; sys.path.insert(0, sys.argv[1]); importlib.import_module(sys.argv[2]).work(*sys.argv[3:])"

    def __init__(self, suite: WorkerSuite, options: str) -> None:
        self.suite = suite
        commands_read, self.commands = os.pipe()
        self.events, events_write = os.pipe()
        runner = os.path.splitext(os.path.basename(__file__))[0]  # this file, under whatever name it has
        flags = subprocess._args_from_interpreter_flags()  # type: ignore[attr-defined]  # -W, -X, -O as given
        self.process = subprocess.Popen(
            [sys.executable, *flags, "-c", self.CODE, HERE, runner, suite.path, suite.importable, options],
            pass_fds=(commands_read, events_write),
            env={**os.environ, WORKER_FDS: f"{commands_read},{events_write}"},
        )
        os.close(commands_read)
        os.close(events_write)
        self.unread = b""
        self.alive = True
        self.asked = False  # it asked for work: it started
        self.finished = False  # it said it was done
        self.status: Optional[int] = None
        self.assigned: List[str] = []  # handed out, not started yet
        self.unit_started = False  # a test of its unit started
        self.current: Optional[Any] = None  # the test it runs
        self.held: List[Tuple[str, Any, List[Any]]] = []  # that test's events so far

    def step(self, pending: List[List[str]], result: Any) -> None:
        """Read what the worker wrote (its event pipe is readable); act on each whole line."""
        data = os.read(self.events, 1 << 16)
        if not data:
            self.died(pending, result)
            return
        *lines, self.unread = (self.unread + data).split(b"\n")
        for line in lines:
            self.act(json.loads(line), pending, result)

    def act(self, event: List[Any], pending: List[List[str]], result: Any) -> None:
        name, key, *rest = event
        if name in ("ask", "done", "interrupted"):
            self.control(name, pending, result)
            return
        test: Any = self.suite.by_key.get(key) or Described(key)
        if name == "startTest":
            self.current, self.held, self.unit_started = test, [], True
            if key in self.assigned:
                self.assigned.remove(key)
        if self.current is None:  # a class or module fixture's error, shown once
            if key not in self.suite.fixture_errors:
                self.suite.fixture_errors.add(key)
                replay(result, name, test, rest)
            return
        self.held.append((name, test, rest))  # a test's events are shown together, whatever runs beside it
        if name == "stopTest":
            if not result.shouldStop:  # after -f's failure or -c's stop, what was running is not shown
                for held in self.held:
                    replay(result, *held)
            self.current = None

    def control(self, name: str, pending: List[List[str]], result: Any) -> None:
        if name == "ask":
            self.asked = True
            unit = pending.pop(0) if pending and not result.shouldStop else []
            self.assigned, self.unit_started = list(unit), False
            os.write(self.commands, (" ".join(unit) + "\n").encode())
        elif name == "done":
            self.finished = True
        else:  # Ctrl-C reached a test: the run stops, as it would in one process
            raise KeyboardInterrupt

    def died(self, pending: List[List[str]], result: Any) -> None:
        """The worker is gone: the test it ran is an error; the unit it had
        not started goes back if a test of it ran, else its tests are errors;
        a death outside any test is an error of its own."""
        self.alive = False
        self.status = self.process.wait()
        said = f"the worker process ended (exit status {self.status})"
        if self.current is not None:
            for held in [
                *self.held,
                ("addError", self.current, [said + " during this test\n"]),
                ("stopTest", self.current, []),
            ]:
                replay(result, *held)
            self.current = None
        elif self.assigned and not self.unit_started:
            for key in self.assigned:
                self.suite.report_error(result, key, said + " before this test started: its fixture, or the worker")
            self.assigned = []
        elif self.asked and (not self.finished or self.status != 0):
            self.suite.report_error(result, "a worker process", said + " outside any test")
        if self.assigned:
            pending.insert(0, self.assigned)

    def interrupt(self) -> None:
        """Ctrl-C reached the parent: a worker that the same Ctrl-C did not
        stop gets one of its own (its test unwinds), then, after 5 s, is killed."""
        for signal_to_send, grace in ((None, 0.5), (signal.SIGINT, 5.0)):
            if self.process.poll() is not None:
                return
            if signal_to_send is not None:
                self.process.send_signal(signal_to_send)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(grace)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for fd in (self.events, self.commands):
            with contextlib.suppress(OSError):
                os.close(fd)


class WorkerResult(unittest.TestResult):
    """A worker's result: each event goes to the parent as one JSON line. If
    the parent is gone, the worker ends its test and asks for no more."""

    def __init__(self, events: Any) -> None:
        super().__init__()
        self.events = events
        self.orphaned = False

    def send(self, name: str, test: Any, *rest: Any) -> None:
        if self.orphaned:
            return
        try:
            self.events.write(json.dumps([name, key_of(test), *rest]) + "\n")
            self.events.flush()
        except OSError:  # the parent is gone (killed by SIGTERM, say)
            self.orphaned = True

    def startTest(self, test: Any) -> None:
        super().startTest(test)
        self.send("startTest", test)

    def stopTest(self, test: Any) -> None:
        super().stopTest(test)
        self.send("stopTest", test)

    def addSuccess(self, test: Any) -> None:
        self.send("addSuccess", test)

    def addUnexpectedSuccess(self, test: Any) -> None:
        self.send("addUnexpectedSuccess", test)

    def addFailure(self, test: Any, err: Any) -> None:
        self.send("addFailure", test, self._exc_info_to_string(err, test))

    def addError(self, test: Any, err: Any) -> None:
        self.send("addError", test, self._exc_info_to_string(err, test))

    def addExpectedFailure(self, test: Any, err: Any) -> None:
        self.send("addExpectedFailure", test, self._exc_info_to_string(err, test))

    def addSkip(self, test: Any, reason: str) -> None:
        self.send("addSkip", test, reason)

    def addDuration(self, test: Any, elapsed: float) -> None:
        self.send("addDuration", test, elapsed)

    def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:
        text = None if err is None else self._exc_info_to_string(err, test)
        failed = err is not None and issubclass(err[0], test.failureException)
        self.send("addSubTest", test, subtest._subDescription(), failed, text)


class AskingSuite(unittest.TestSuite):
    """The tests of ``module`` the parent hands out, asked for one unit at a time."""

    _cleanup = False  # nothing to drop: the tests are made as they are asked for

    def __init__(self, module: Any, commands: Any, result: WorkerResult) -> None:
        super().__init__()
        self.module, self.commands, self.result = module, commands, result

    def __iter__(self) -> Iterator[Any]:
        while not self.result.orphaned:
            self.result.send("ask", "")
            keys = self.commands.readline().split()
            if not keys:
                return
            for key in keys:
                yield unittest.defaultTestLoader.loadTestsFromName(key, self.module)


def work(path: str, name: str, options: str) -> None:
    """A worker's life: run the tests of module ``name`` (in ``path``) the
    parent hands out, with the parent's options, and report every event."""
    commands_fd, events_fd = (int(fd) for fd in os.environ[WORKER_FDS].split(","))
    os.environ[WORKER_FDS] = "in a worker"  # a test that runs a whole suite runs it in one process
    settings = json.loads(options)
    sys.path.insert(0, path)
    module = importlib.import_module(name)
    if not sys.warnoptions:  # as unittest.main does
        warnings.simplefilter("default")
    events = os.fdopen(events_fd, "w", encoding="utf-8")
    try:
        with os.fdopen(commands_fd, encoding="utf-8") as commands:
            result = WorkerResult(events)
            result.buffer, result.tb_locals = settings["buffer"], settings["locals"]
            if settings["catchbreak"]:
                unittest.installHandler()
                unittest.registerResult(result)
            try:
                AskingSuite(module, commands, result).run(result)
            except KeyboardInterrupt:
                result.send("interrupted", "")
                sys.exit(130)
            result.send("done", "")
    finally:
        with contextlib.suppress(OSError):  # a parent gone: the last flush fails, quietly
            events.close()


SAMPLE_TESTS = """
import os, signal, unittest

class Sample(unittest.TestCase):
    def test_passes(self): pass
    def test_fails(self): self.assertEqual(1, 2)
    def test_errs(self): raise KeyError("boom")
    def test_skips(self): self.skipTest("no reason")
    @unittest.expectedFailure
    def test_fails_as_expected(self): self.fail("expected")
    def test_subtests(self):
        for i in range(3):
            with self.subTest(i=i):
                self.assertLess(i, 2)
    def test_kills_its_worker(self): os._exit(3)
    def test_passes_after(self): pass

class WithFixture(unittest.TestCase):
    @classmethod
    def setUpClass(cls): raise RuntimeError("no fixture")
    def test_first(self): pass

class WithFixtureThatKills(unittest.TestCase):
    @classmethod
    def setUpClass(cls): os._exit(4)
    def test_never_started(self): pass
"""

SAMPLE_ENDINGS = {
    # a module fixture fails in every worker: said once, as in one process
    "sweep": "def tearDownModule(): raise RuntimeError('the sweep found a key')",
    # a worker dies outside any test: said, not lost
    "dies": "import os\ndef tearDownModule(): os._exit(5)",
    # Ctrl-C reaches a test: the run stops, as it would in one process
    "interrupted": "import os, signal\nclass Stop(unittest.TestCase):\n    def test_interrupted(self):\n"
    "        signal.signal(signal.SIGINT, signal.default_int_handler)  # whatever the runner inherited\n"
    "        os.kill(os.getpid(), signal.SIGINT)",
}


class WorkerSuiteTests(TempFilesMixin, TestCase):
    def run_sample(self, name: str, source: str, workers: int) -> unittest.TestResult:
        """``source`` as module ``name``, run by ``workers`` worker processes."""
        path = self.write(f"{name}.py", source.encode())
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        result = unittest.TestResult()
        WorkerSuite(unittest.defaultTestLoader.loadTestsFromModule(module), module, workers).run(result)
        return result

    @staticmethod
    def names(outcomes: Iterable[Any]) -> List[str]:
        return sorted(str(test).split(" ")[0] for test, *_ in outcomes)

    def test_every_outcome_comes_back_once_even_from_a_worker_that_dies(self) -> None:
        """The parallel runner reports what a serial run reports; a worker that
        dies costs the test it ran (or the class whose fixture it died in),
        not the tests after it, and is never started again and again."""
        result = self.run_sample("sample_outcomes", SAMPLE_TESTS, 2)
        self.assertEqual(result.testsRun, 9)  # the fixtures' classes run none of their tests but the one killed
        self.assertEqual(self.names(result.failures), ["test_fails", "test_subtests"])
        errors = ["setUpClass", "test_errs", "test_kills_its_worker", "test_never_started"]
        self.assertEqual(self.names(result.errors), errors)
        self.assertEqual(self.names(result.skipped), ["test_skips"])
        self.assertEqual(self.names(result.expectedFailures), ["test_fails_as_expected"])
        texts = dict((str(test).split(" ")[0], text) for test, text in result.failures + result.errors)
        self.assertTrue(texts["test_fails"].startswith("Traceback (most recent call last):"), texts["test_fails"])
        self.assertIn("AssertionError: 1 != 2", texts["test_fails"])
        self.assertIn("(i=2)", str(next(test for test, _ in result.failures if "test_subtests" in str(test))))
        self.assertIn("2 not less than 2", texts["test_subtests"])
        self.assertIn("KeyError: 'boom'", texts["test_errs"])
        self.assertIn("RuntimeError: no fixture", texts["setUpClass"])
        self.assertIn("(exit status 3) during this test", texts["test_kills_its_worker"])
        self.assertIn("(exit status 4) before this test started", texts["test_never_started"])

    def test_a_module_fixture_a_death_outside_a_test_and_ctrl_c(self) -> None:
        """A module fixture's error is said once however many workers saw it;
        a worker that dies outside any test is an error; Ctrl-C in a test
        stops the run with KeyboardInterrupt."""
        head = "import unittest\nclass Fine(unittest.TestCase):\n" + "".join(
            f"    def test_{n}(self): pass\n" for n in range(4)
        )
        sweep = self.run_sample("sample_sweep", head + SAMPLE_ENDINGS["sweep"], 2)
        self.assertEqual((sweep.testsRun, self.names(sweep.errors)), (4, ["tearDownModule"]))
        dies = self.run_sample("sample_dies", head + SAMPLE_ENDINGS["dies"], 1)
        self.assertEqual((dies.testsRun, self.names(dies.errors)), (4, ["a"]))  # "a worker process"
        self.assertIn("(exit status 5) outside any test", dies.errors[0][1])
        with self.assertRaises(KeyboardInterrupt):
            self.run_sample("sample_interrupted", head + SAMPLE_ENDINGS["interrupted"], 1)


if __name__ == "__main__":
    if sys.argv[1:2] in (["--try"], ["--serve"]):
        sys.exit(try_without_a_key(sys.argv[1:]))
    unittest.main()
