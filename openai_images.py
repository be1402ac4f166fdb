# SPDX-License-Identifier: MIT
# Copyright (c) 2026 The openai-images developers
"""A complete client for the OpenAI Images API in one file, standard library only.

Copy this file into a project (Python 3.8+, CPython or PyPy) and use it::

    import openai_images as oi

    client = oi.OpenAIClient()                  # reads OPENAI_API_KEY
    result = client.images.generate(model="gpt-image-2", prompt="a white cat")
    result.data[0].save("cat.png")

or from a shell: ``python -m openai_images generate "a white cat"``.

Generation, edits (multipart uploads and JSON references), variations, SSE
streaming of partial images, retries, timeouts and abort from any thread.
Code written for the official SDK's images API runs unchanged with
``from openai_images import OpenAI``.
"""

from __future__ import annotations

import _thread
import collections
import io
import os
import sys
import time
import warnings
import weakref  # (dataclasses loads it, with warnings and collections: they cost nothing more here)
from dataclasses import MISSING as _NO_DEFAULT
from dataclasses import FrozenInstanceError, field, fields, replace
from dataclasses import dataclass as _dataclass
from types import MappingProxyType
from typing import (
    IO,
    TYPE_CHECKING,
    Any,
    Callable,
    ClassVar,
    Deque,
    Dict,
    Generator,
    Generic,
    Iterable,
    Iterator,
    List,
    Mapping,
    MutableMapping,
    Optional,
    Sequence,
    Set,
    Tuple,
    Type,
    TypeVar,
    Union,
    cast,
    overload,
)

if TYPE_CHECKING:  # pragma: no cover - imported lazily at run time
    import argparse
    import http.client
    import logging
    import socket
    import ssl
    import threading
    import urllib.request
    from dataclasses import dataclass
    from typing import AsyncIterator, Awaitable, Literal

    from typing_extensions import TypeGuard

__version__ = "0.1.0"
_T = TypeVar("_T")

__all__ = [  # the SDK-facing names and the documented extension points; the wire primitives
    # (Headers, RequestBuilder, MultipartEncoder, SSEParser, BodyDecoder, ...) stay importable, as advanced
    # constants
    "ImageModels",
    "ImageSize",
    "ImageQuality",
    "ImageBackground",
    "ImageOutputFormat",
    "ImageModeration",
    "ImageInputFidelity",
    "ImageResponseFormat",
    "ImageStyle",
    "CallStage",
    "AbortReason",
    "TimeoutLimit",
    "NotGiven",
    "NOT_GIVEN",
    "not_given",  # alias of NOT_GIVEN (the SDK's spelling)
    "omit",  # alias of NOT_GIVEN (the SDK's marker)
    # errors
    "OpenAIError",
    "APIError",
    "APIStatusError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "UnprocessableEntityError",
    "RateLimitError",
    "InternalServerError",
    "APIConnectionError",
    "APITimeoutError",
    "APIResponseValidationError",
    "APIUserAbortError",
    "ImageStreamError",
    "IncompleteStreamError",
    # configuration
    "ApiKey",
    "Timeout",
    "RetryPolicy",
    "OpenAIConfig",
    # extension points: interceptors and transports
    "Request",
    "Response",
    "Handler",
    "Interceptor",
    "InterceptorChain",
    "HTTPTransport",
    "FilePart",
    # models
    "ImageGenerationRequest",
    "ImageEditRequest",
    "ImageEditJsonRequest",
    "ImageReference",
    "ImageVariationRequest",
    "ImagesResponse",
    "Image",
    "ImageUsage",
    "ImageGenPartialImageEvent",
    "ImageGenCompletedEvent",
    "ImageEditPartialImageEvent",
    "ImageEditCompletedEvent",
    "ImageStreamEvent",
    "UnknownImageStreamEvent",
    # clients and what they return
    "OpenAIClient",
    "OpenAI",  # alias of OpenAIClient (the SDK's name)
    "AzureOpenAI",
    "ImageStream",
    "RawResponse",
    "StreamedResponse",
    "main",
    # [cut:async]
    "AsyncOpenAIClient",
    "AsyncOpenAI",  # alias of AsyncOpenAIClient (the SDK's name)
    "AsyncAzureOpenAI",
    "AsyncImageStream",
    "AsyncStreamedResponse",
    # [end:async]
    # [cut:batch]
    "run_batch",
    "load_jobs",
    "BatchJob",
    "BatchProgress",
    "BatchResult",
    # [end:batch]
]

# =============================================================================
# Helpers: JSON, numbers and text from servers, redaction. Used everywhere.
# =============================================================================


class _LazyModule:
    """A module imported on its first use: ``threading`` costs a millisecond
    of import that nothing needs before the first call. Its first attribute
    read puts the module itself in its place."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._module(), attribute)

    def __setattr__(
        self, attribute: str, value: object
    ) -> None:  # mock.patch.object(oi.threading, ...) patches the module
        if attribute == "_name":
            object.__setattr__(self, attribute, value)
        else:
            setattr(self._module(), attribute, value)

    def __delattr__(self, attribute: str) -> None:
        delattr(self._module(), attribute)

    def _module(self) -> Any:
        import importlib

        module = importlib.import_module(self._name)
        globals()[self._name] = module
        return module


if not TYPE_CHECKING:  # type checkers see the module itself, imported above
    threading = _LazyModule("threading")


def _str_or_none(value: object) -> Optional[str]:
    return value if isinstance(value, str) else None


def _header_number(text: Optional[str], upper: float = 1e12) -> Optional[float]:
    """A number a server wrote in a header, or ``None``: only a plain ASCII
    decimal (``12``, ``0.5``) from 0 to ``upper``. Non-ASCII digits (``²``),
    signs, exponents, ``nan``, thousands of digits and absurd values are
    ignored, never raised: a header cannot break what reads it."""
    if text is None or len(text) > 40:
        return None
    text = text.strip()
    whole, _, fraction = text.partition(".")
    if len(text) > 30 or not text.isascii() or not (whole + fraction).isdigit():  # digits, at most one "."
        return None
    value = float(text)
    return value if value <= upper else None


def _json_object(value: object) -> Dict[str, Any]:
    """``value`` if it is a JSON object (a dict), else an empty one."""
    return cast("Dict[str, Any]", value) if isinstance(value, dict) else {}


_MAX_JSON_DEPTH = 64


_MAX_JSON_CONTAINERS = 100_000


_MAX_JSON_VALUES = 1_000_000


def _parse_json(text: Union[str, bytes]) -> Any:
    """A server's JSON, strictly: no ``NaN`` or ``Infinity``, at most 64 levels
    deep, 100,000 arrays and objects and a million values (so that a reply
    within ``max_response_bytes`` cannot expand into gigabytes of Python
    objects; an image is one long string). Anything else raises ``ValueError``."""
    import json

    _check_json_size(text)

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    try:
        value = json.loads(text, parse_constant=refuse)
    except RecursionError:
        raise ValueError(f"nested more than {_MAX_JSON_DEPTH} levels deep") from None
    _check_json_depth(value)
    return value


def _check_json_size(text: Union[str, bytes]) -> None:
    """At most 100,000 arrays and objects and a million values, counted in
    the text before it is parsed (each value costs dozens of bytes in Python)."""
    opening, comma = (("{", "["), ",") if isinstance(text, str) else ((b"{", b"["), b",")
    containers = _count_upto(text, opening[0], _MAX_JSON_CONTAINERS)
    if containers + _count_upto(text, opening[1], _MAX_JSON_CONTAINERS - containers) > _MAX_JSON_CONTAINERS:
        raise ValueError(f"more than {_MAX_JSON_CONTAINERS} arrays and objects")
    if _count_upto(text, comma, _MAX_JSON_VALUES) > _MAX_JSON_VALUES:
        raise ValueError(f"more than {_MAX_JSON_VALUES} values")


def _check_json_depth(value: object) -> None:
    """At most 64 levels of arrays and objects, walked without recursion."""
    level: List[Tuple[object, int]] = [(value, 1)]
    while level:
        item, depth = level.pop()
        if isinstance(item, dict):
            children: Iterable[object] = cast("Dict[str, object]", item).values()
        elif isinstance(item, list):
            children = cast("List[object]", item)
        else:
            continue
        if depth > _MAX_JSON_DEPTH:
            raise ValueError(f"nested more than {_MAX_JSON_DEPTH} levels deep")
        level.extend((child, depth + 1) for child in children if type(child) in (dict, list))


def _count_upto(text: Any, char: Any, limit: int) -> int:
    """How many times ``char`` is in ``text``, counting no further than
    ``limit + 1``: ``find`` skips at memory speed over the megabytes of an
    image's base64, where ``count`` would compare every byte."""
    found, index = 0, text.find(char)
    while index >= 0 and found <= limit:
        found += 1
        index = text.find(char, index + 1)
    return found


_FIELD_NAME_CACHE: Dict[type, Tuple[str, ...]] = {}


def _field_names(cls: type) -> Tuple[str, ...]:
    names = _FIELD_NAME_CACHE.get(cls)
    if names is None:
        names = _FIELD_NAME_CACHE[cls] = tuple(spec.name for spec in fields(cls))
    return names


_SECRET_WORDS = ("key", "token", "secret", "auth", "cookie", "password")


def _is_secret_header(name: str) -> bool:
    lower = name.lower()
    return any(word in lower for word in _SECRET_WORDS)


def _is_secret_setting(name: str) -> bool:
    """A header or query parameter whose value is a secret (a key, a token, a signature)."""
    return _is_secret_header(name) or "sig" in name.lower()


def _secrets_sent(request: Optional[Request]) -> Tuple[str, ...]:
    """The credentials a request carried: the values of headers whose name
    says key, token, secret, auth, cookie or password, and the token after
    ``Bearer``/``Basic``; longest first. Short values are not worth hiding."""
    if request is None:
        return ()
    found: Set[str] = set()
    for name, value in request.headers.items():
        if _is_secret_header(name):
            found.add(value)
            found.add(value.split(" ", 1)[-1])
    if "?" in request.url:  # a key in the query (default_query={"api-key": ...})
        from urllib.parse import parse_qsl

        query = request.url.partition("?")[2]
        found.update(value for name, value in parse_qsl(query) if _is_secret_setting(name))
    return tuple(sorted((secret for secret in found if len(secret) >= 8), key=len, reverse=True))


_SCRUBBERS: Dict[Tuple[str, ...], Any] = {}


def _scrubber(secrets: Tuple[str, ...]) -> Any:
    """One pattern for every form a secret can take in a server's text:
    verbatim, URL-encoded, JSON-escaped, base64 (at any alignment), each
    also wrapped across lines (white space between any two characters)."""
    pattern = _SCRUBBERS.get(secrets)
    if pattern is None:
        import re

        forms = {form for secret in secrets for form in _secret_forms(secret)}
        alternatives = sorted((form for form in forms if len(form) >= 8), key=len, reverse=True)
        pattern = re.compile("|".join("\\s*".join(map(re.escape, form)) for form in alternatives))
        if len(_SCRUBBERS) > 64:
            _SCRUBBERS.clear()
        _SCRUBBERS[secrets] = pattern
    return pattern


def _secret_forms(secret: str) -> Set[str]:
    """The forms ``secret`` can take in a server's text: verbatim, URL-encoded,
    JSON-escaped (with ``\\/`` too), hex, ``\\uXXXX`` and HTML escapes, and
    base64 inside a longer base64 text (at each of the three alignments)."""
    import base64
    import json
    from urllib.parse import quote, quote_plus

    raw = secret.encode("utf-8", "replace")
    escaped = json.dumps(secret)[1:-1]
    forms = {secret, quote(secret, safe=""), quote_plus(secret), escaped, escaped.replace("/", "\\/")}
    forms.update((raw.hex(), raw.hex().upper(), "".join(f"\\u{ord(c):04x}" for c in secret)))
    forms.add("".join(f"&#{ord(c)};" for c in secret))
    for shift in range(3):
        encoded = base64.b64encode(bytes(shift) + raw).decode()
        forms.add(encoded[4 if shift else 0 : -4])
    return forms


def _scrub_text(text: str, secrets: Tuple[str, ...]) -> str:
    """``text`` with every form of every secret replaced by ``<redacted>``,
    and every run of 12 or more characters of a secret (a key a server
    echoed cut short is shown in part: that is shown too)."""
    if not secrets or not text:
        return text
    return _scrub_runs(_scrubber(secrets).sub("<redacted>", text), secrets)


_RUN = 12  # the shortest part of a secret worth hiding


def _scrub_runs(text: str, secrets: Tuple[str, ...]) -> str:
    """Replace every run of at least ``_RUN`` consecutive characters of a
    secret. The first window of a run is found by one pattern of all the
    secrets' windows; the run is then followed to its end."""
    import re

    parts = {part for secret in secrets for part in secret.split()}  # "Bearer KEY": the key, not the space
    windows = {part[i : i + _RUN]: (part, i) for part in parts for i in range(len(part) - _RUN + 1)}
    if not windows:
        return text
    pattern = re.compile("|".join(map(re.escape, windows)))
    out: List[str] = []
    done = 0
    for found in pattern.finditer(text):
        if found.start() < done:
            continue
        secret, index = windows[found.group()]
        out.append(text[done : found.start()])
        out.append("<redacted>")
        done = found.end() + _common_prefix_length(text, found.end(), secret, index + _RUN)
    out.append(text[done:])
    return "".join(out)


def _common_prefix_length(text: str, start: int, secret: str, index: int) -> int:
    """How many characters of ``text`` from ``start`` go on as ``secret`` does from ``index``."""
    length = 0
    while (
        start + length < len(text) and index + length < len(secret) and text[start + length] == secret[index + length]
    ):
        length += 1
    return length


def _scrub(value: Any, secrets: Tuple[str, ...], keep: Tuple[str, ...] = ()) -> Any:
    """``value`` with every secret replaced by ``<redacted>``, in nested JSON
    too; the values of the keys in ``keep`` (megabytes of base64) are left as they are."""
    if not secrets:
        return value
    if isinstance(value, str):
        return _scrub_text(value, secrets)
    if isinstance(value, dict):
        items = cast("Dict[object, object]", value).items()
        return {_scrub(key, secrets): item if key in keep else _scrub(item, secrets, keep) for key, item in items}
    if isinstance(value, list):
        return [_scrub(item, secrets, keep) for item in cast("List[object]", value)]
    return value


_IMAGE_FIELDS = ("b64_json",)  # left unscrubbed: base64 image data cannot carry a key anyone reads


def _check_field_name(name: str, known: Iterable[str], where: str, extra: str = "extra_body") -> None:
    """A ``ValueError`` for a field no request of this kind has, with the closest known one."""
    known = sorted(known)
    if name in known:
        return
    import difflib

    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(f"{where}: unknown field {name!r}{hint}; a field this version does not know goes in {extra}")


def _printable(text: str) -> str:
    """Server text made safe to show a person: control characters (terminal
    escapes, CR, LF) become spaces, runs of white space one space."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


def _redact_url(url: str) -> str:
    """Hide ``user:password@`` in a URL."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return url
    return f"{scheme}://***@{rest.split('@', 1)[1]}"


def _redact_query(url: str) -> str:
    """Hide query values whose name suggests a secret (``key``, ``token``, ``sig``)."""
    base, sep, query = url.partition("?")
    if not sep:
        return url
    parts: List[str] = []
    for item in query.split("&"):
        name, eq, _ = item.partition("=")
        secret = any(word in name.lower() for word in ("key", "token", "secret", "sig", "password"))
        parts.append(f"{name}=<redacted>" if eq and secret else item)
    return base + "?" + "&".join(parts)


def retry_after_seconds(headers: Mapping[str, str], now: Optional[float] = None) -> Optional[float]:
    """The server's retry hint in seconds, or ``None``: ``retry-after-ms``, then
    ``retry-after`` as seconds, then as an HTTP date (can be negative).
    Only plain ASCII decimals count; a number too large for a float is
    ``inf`` (meaning: longer than any cap), while a literal ``inf`` is ignored."""
    import re

    number = re.compile(r"[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?", re.ASCII)
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        text = (headers.get(name) or "").strip()
        if number.fullmatch(text):
            return float(text) * scale
    date = headers.get("retry-after")
    return _seconds_until(date, time.time() if now is None else now) if date else None


def _seconds_until(date: str, now: float) -> Optional[float]:
    """Seconds from ``now`` to an HTTP date (negative if past), or ``None`` if it is no date."""
    from email.utils import mktime_tz, parsedate_tz

    try:
        parsed = parsedate_tz(date)
        return None if parsed is None else float(mktime_tz(parsed)) - now
    except (TypeError, ValueError, OverflowError):
        return None


# =============================================================================
# Constants: conveniences, never allowlists. Any string goes on the wire as is.
# =============================================================================


class ImageModels:
    """Known image model ids (any other string is sent unchanged)."""

    GPT_IMAGE_2_5_SUNBURST = "gpt-image-2.5-sunburst"
    GPT_IMAGE_2_5_SUNBURST_2026_09_08 = "gpt-image-2.5-sunburst-2026-09-08"
    GPT_IMAGE_2_5_FLARE = "gpt-image-2.5-flare"
    GPT_IMAGE_2_5_FLARE_2026_09_08 = "gpt-image-2.5-flare-2026-09-08"
    GPT_IMAGE_2_6_SUNBURST = "gpt-image-2.6-sunburst"
    GPT_IMAGE_2_6_FLARE = "gpt-image-2.6-flare"
    GPT_IMAGE_2 = "gpt-image-2"
    GPT_IMAGE_2_2026_04_21 = "gpt-image-2-2026-04-21"
    GPT_IMAGE_1_5 = "gpt-image-1.5"
    GPT_IMAGE_1_MINI = "gpt-image-1-mini"
    GPT_IMAGE_1 = "gpt-image-1"
    CHATGPT_IMAGE_LATEST = "chatgpt-image-latest"
    DALL_E_3 = "dall-e-3"
    DALL_E_2 = "dall-e-2"


class ImageSize:
    """Size presets; ``ImageSize.custom(1536, 864)`` gives ``"1536x864"``."""

    AUTO = "auto"
    SIZE_256X256 = "256x256"
    SIZE_512X512 = "512x512"
    SIZE_1024X1024 = "1024x1024"
    SIZE_1536X1024 = "1536x1024"
    SIZE_1024X1536 = "1024x1536"
    SIZE_1792X1024 = "1792x1024"
    SIZE_1024X1792 = "1024x1792"

    @staticmethod
    def custom(width: int, height: int) -> str:
        """Return the ``WIDTHxHEIGHT`` string for a custom size."""
        return f"{int(width)}x{int(height)}"


class ImageQuality:
    """Quality values: ``low``/``medium``/``high``/``auto`` for GPT image models, ``standard``/``hd`` for DALL-E 3."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    XHIGH = "xhigh"
    MAX = "max"
    AUTO = "auto"
    STANDARD = "standard"
    HD = "hd"


class ImageBackground:
    """Background values (``transparent`` needs PNG or WebP output)."""

    TRANSPARENT = "transparent"
    OPAQUE = "opaque"
    AUTO = "auto"


class ImageOutputFormat:
    """Output formats; responses and saved files follow the format actually returned."""

    PNG = "png"
    JPEG = "jpeg"
    WEBP = "webp"
    GIF = "gif"
    SVG = "svg"


class ImageModeration:
    """Moderation strictness of GPT image models."""

    LOW = "low"
    AUTO = "auto"


class ImageInputFidelity:
    """How closely an edit keeps the input images' features (GPT image models)."""

    HIGH = "high"
    LOW = "low"


class ImageResponseFormat:
    """DALL-E response formats: ``url`` (valid for 60 minutes) or ``b64_json``."""

    URL = "url"
    B64_JSON = "b64_json"


class ImageStyle:
    """DALL-E 3 styles."""

    VIVID = "vivid"
    NATURAL = "natural"


class ImageComplexity:
    """Complexity values for models that take one (sent unchanged)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class CallStage:
    """Where a call was when it was aborted (``APIUserAbortError.stage``)."""

    BEFORE_REQUEST = "before_request"
    DURING_REQUEST = "during_request"  # resolving, connecting, uploading, waiting for headers
    DURING_RESPONSE = "during_response"  # reading a non-streaming body
    DURING_STREAM = "during_stream"
    DURING_RETRY_DELAY = "during_retry_delay"


class AbortReason:
    """Why a call ended early (``APIUserAbortError.reason``)."""

    USER = "user"  # abort_trigger, ImageStream.abort() or close()
    CLIENT_CLOSED = "client_closed"  # OpenAIClient.close()
    DEADLINE = "deadline"  # Timeout.total: reported as APITimeoutError(limit="total")


class TimeoutLimit:
    """Which time limit fired (``APITimeoutError.limit``)."""

    CONNECT = "connect"  # Timeout.connect: no connection in time
    READ = "read"  # Timeout.read: no data for that long
    TOTAL = "total"  # Timeout.total: the whole call, retries included


DEFAULT_BASE_URL = "https://api.openai.com/v1"
_USER_AGENT = f"openai-images/{__version__} Python/{sys.version_info[0]}.{sys.version_info[1]}"


class NotGiven:
    """The type of ``NOT_GIVEN``, the official SDK's "not given" marker: a
    keyword argument left at it (or passed it) is treated as omitted, so code
    that passes ``NOT_GIVEN`` or ``omit`` through runs unchanged. ``None``
    means omitted too, except for ``timeout``, where ``None`` is "no limit"."""

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Any = NotGiven()
not_given: Any = NOT_GIVEN  # the SDK's lower-case spelling
omit: Any = NOT_GIVEN  # the SDK's marker for "leave this field out", which is what NOT_GIVEN does here


class _FieldsEqual:
    """Equal when of the same class with equal fields, and shown as a
    dataclass shows itself: one ``__eq__`` and one ``__repr__`` for every
    model, instead of one generated per dataclass (that keeps the import fast)."""

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in _field_names(type(self)))

    __hash__ = None  # type: ignore[assignment]  # mutable, like a dataclass with eq=True

    def __repr__(self) -> str:
        shown = ", ".join(f"{spec.name}={getattr(self, spec.name)!r}" for spec in fields(self) if spec.repr)  # type: ignore[arg-type]
        return f"{type(self).__qualname__}({shown})"


class _FrozenValue(_FieldsEqual):
    """``repr``, ``==`` and ``hash`` for the frozen settings (``Timeout``, …),
    shared instead of generated per dataclass: that keeps the import fast."""

    def __hash__(self) -> int:  # type: ignore[override]  # frozen: hashable, unlike _FieldsEqual
        return hash(tuple(getattr(self, name) for name in _field_names(type(self))))

    def __setattr__(self, name: str, value: object) -> None:
        """A field is set once, by ``__init__``; then it is frozen, as in a
        frozen dataclass, which also refuses other names on its own class
        (not on a subclass)."""
        if name in _field_names(type(self)):
            if name in self.__dict__:
                raise FrozenInstanceError(f"cannot assign to field {name!r}")
        elif "_frozen_class" in type(self).__dict__:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __repr__(self) -> str:
        """The settings, with the value of every header or query parameter
        whose name says key, token, secret, auth, cookie or password hidden."""
        shown: List[str] = []
        for spec in fields(self):  # type: ignore[arg-type]
            if spec.repr:
                shown.append(f"{spec.name}={_redacted_setting(getattr(self, spec.name))!r}")
        return f"{type(self).__qualname__}({', '.join(shown)})"


if not TYPE_CHECKING:  # type checkers see dataclasses.dataclass itself

    def dataclass(**options: Any) -> Callable[[type], type]:
        """``dataclasses.dataclass`` (as type checkers see it), except that
        ``frozen=True`` is kept by ``_FrozenValue``'s ``__setattr__`` and
        ``__delattr__``, shared instead of generated for each class: import time."""
        frozen = options.pop("frozen", False)

        def make(cls: type) -> type:
            if not frozen:
                return _dataclass(**options)(cls)
            if not issubclass(cls, _FrozenValue):
                raise TypeError(f"{cls.__name__}: a frozen model is a _FrozenValue")
            cls = _dataclass(**options)(cls)
            cls.__dataclass_params__.frozen = True  # as dataclasses sees it (for subclasses)
            cls._frozen_class = True  # this class, not its subclasses: see __setattr__
            return cls

        return make


def _redacted_setting(value: object) -> object:
    """A setting as a repr may show it: the values of secret-named headers
    and query parameters hidden, and in a URL its password and secret query values."""
    if isinstance(value, str) and "://" in value:
        return _redacted_url_setting(value)
    if isinstance(value, Mapping):
        items = cast("Mapping[object, object]", value).items()
        return {k: "<redacted>" if _is_secret_setting(str(k)) else _redacted_setting(v) for k, v in items}
    return value


def _redacted_url_setting(url: str) -> str:
    """A URL with its password and the values of its secret query parameters hidden."""
    from urllib.parse import parse_qsl

    shown = _redact_url(url)
    for name, secret in parse_qsl(url.partition("?")[2]):
        if _is_secret_setting(name) and secret:
            shown = shown.replace(secret, "<redacted>")
    return shown


def _empty_dict() -> Dict[str, Any]:
    return {}


def _empty_list() -> List[Any]:
    return []


# =============================================================================
# Errors
# =============================================================================


class OpenAIError(Exception):
    """Base class of every error this module raises on purpose."""


class APIError(OpenAIError):
    """An error about an API call. ``body`` is the error object the server sent."""

    message: str
    request: Optional[Request]
    body: object
    code: Optional[str]
    param: Optional[str]
    type: Optional[str]
    request_id: Optional[str]

    def __init__(
        self,
        message: str,
        request: Optional[Request] = None,
        *,
        body: object = None,
        request_id: Optional[str] = None,
    ) -> None:
        secrets = _secrets_sent(request)
        if secrets:  # a server or proxy that echoes the key back must not make us show it
            message, body = _scrub(message, secrets), _scrub(body, secrets)
        super().__init__(message)
        self.message = message
        self.request = request
        self.body = body
        self.request_id = request_id
        info = _json_object(body)
        code = info.get("code")
        self.code = None if code is None else str(code)
        self.param = _str_or_none(info.get("param"))
        self.type = _str_or_none(info.get("type"))

    def __str__(self) -> str:
        if self.request_id:
            return f"{self.message} (request_id: {self.request_id})"
        return self.message

    @property
    def attempts(self) -> Optional[int]:
        """How many attempts the call made before this error (``None`` if unknown)."""
        if self.request is None:
            return None
        attempt = self.request.extensions.get("attempt")
        return attempt + 1 if isinstance(attempt, int) else None


def _server_text(response: Response, text: str, limit: int = 200) -> str:
    """Text the server wrote, fit for a message or a log line: every secret the
    request carried scrubbed first, then control characters removed, then cut
    to ``limit`` characters."""
    text = _printable(_scrub_text(text, _secrets_sent(response.request))[: 4 * limit + 100])
    return text if len(text) <= limit else text[:limit] + "…"


class APIStatusError(APIError):
    """The server answered with an error status (or a redirect, never followed)."""

    response: Response
    status_code: int
    retry_after: Optional[float]

    def __init__(
        self,
        message: str,
        *,
        response: Response,
        body: object,
        retry_after: Optional[float] = None,
    ) -> None:
        super().__init__(message, response.request, body=body, request_id=response.request_id)
        self.response = response
        self.status_code = response.status_code
        self.retry_after = retry_after


class BadRequestError(APIStatusError):
    """400"""


class AuthenticationError(APIStatusError):
    """401"""


class PermissionDeniedError(APIStatusError):
    """403"""


class NotFoundError(APIStatusError):
    """404"""


class ConflictError(APIStatusError):
    """409"""


class UnprocessableEntityError(APIStatusError):
    """422"""


class RateLimitError(APIStatusError):
    """429"""


class InternalServerError(APIStatusError):
    """500 and above"""


_STATUS_ERRORS = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def _error_object(response: Response, limit: int = 1024 * 1024) -> object:
    """The parsed error body (the inner ``error`` object when there is one),
    else the body text; read (bounded) and parsed once per response."""
    if response._error_body is not NOT_GIVEN:  # pyright: ignore[reportPrivateUsage]
        return response._error_body  # pyright: ignore[reportPrivateUsage]

    try:
        text = response.read_capped(limit).decode("utf-8", "replace")
    except APIError:
        text = ""
    body: object = text.strip()
    try:
        data = _parse_json(text)
    except ValueError:
        pass
    else:
        body = _json_object(data).get("error") or data
    response._error_body = body  # pyright: ignore[reportPrivateUsage]
    return body


def _make_status_error(response: Response, limit: int = 1024 * 1024) -> APIStatusError:
    """Build the exception for an error (or redirect) response."""
    status = response.status_code
    body = _error_object(response, limit)
    if isinstance(body, str):
        message = _server_text(response, body)
    else:  # the error's message, else the body itself (a server that is not OpenAI-shaped)
        import json

        text = _str_or_none(_json_object(body).get("message")) or json.dumps(body, ensure_ascii=False)
        message = _server_text(response, text, 2000)
    message = message or _server_text(response, response.reason)
    if 300 <= status < 400:
        location = _server_text(response, response.headers.get("location", "?"))
        message = (
            f"the server redirected to {location}; API requests are not redirected, so that "
            "credentials never reach another host. Set base_url to the final address"
        )
    text = f"Error code: {status}" + (f" - {message}" if message else "")
    cls = _STATUS_ERRORS.get(status, InternalServerError if status >= 500 else APIStatusError)
    return cls(text, response=response, body=body, retry_after=retry_after_seconds(response.headers))


class APIConnectionError(APIError):
    """No usable HTTP response: DNS, refused, reset, TLS, proxy, truncated body."""

    def __init__(
        self,
        message: str = "Connection error.",
        request: Optional[Request] = None,
        *,
        request_id: Optional[str] = None,
    ) -> None:
        super().__init__(message, request, request_id=request_id)


class APITimeoutError(APIConnectionError):
    """A time limit fired. ``limit`` names it: a ``TimeoutLimit`` value
    (``"connect"``, ``"read"`` or ``"total"``)."""

    limit: str

    def __init__(
        self,
        message: str = "Request timed out.",
        request: Optional[Request] = None,
        *,
        limit: str = TimeoutLimit.READ,
        request_id: Optional[str] = None,
    ) -> None:
        super().__init__(message, request, request_id=request_id)
        self.limit = limit


class APIResponseValidationError(APIError):
    """The server answered 2xx with a body this client cannot read (bad JSON, wrong shape)."""

    response: Response
    status_code: int

    def __init__(self, message: str, *, response: Response, body: object = None) -> None:
        super().__init__(message, response.request, body=body, request_id=response.request_id)
        self.response = response
        self.status_code = response.status_code


class _NotJSONError(APIResponseValidationError, ValueError):
    """A body that is not JSON: also a ``ValueError``, as ``json.loads`` raises."""


class APIUserAbortError(APIError):
    """The call was aborted through ``abort_trigger``, ``ImageStream.abort()`` or
    ``close()``, or ``OpenAIClient.close()``.

    ``stage`` says where (a ``CallStage`` value): ``before_request``,
    ``during_request`` (resolving, connecting, uploading, waiting for headers),
    ``during_response``, ``during_stream`` or ``during_retry_delay``.
    ``reason`` says why (an ``AbortReason`` value): ``user`` or
    ``client_closed``. The server may still finish (and bill) the work.
    """

    stage: str
    reason: str

    def __init__(
        self,
        stage: str,
        request: Optional[Request] = None,
        *,
        request_id: Optional[str] = None,
        reason: str = AbortReason.USER,
    ) -> None:
        why = " because the client was closed" if reason == AbortReason.CLIENT_CLOSED else ""
        super().__init__(f"Request was aborted{why} ({stage}).", request, request_id=request_id)
        self.stage = stage
        self.reason = reason


class ImageStreamError(APIError):
    """The server reported an error inside an image stream (``event: error`` or
    ``{"error": ...}``). ``events`` holds the last events received before it
    (up to 4: every partial image a stream can send)."""

    events: List[ImageStreamEvent]

    def __init__(
        self,
        message: str,
        request: Optional[Request] = None,
        *,
        body: object = None,
        request_id: Optional[str] = None,
        events: Optional[List[ImageStreamEvent]] = None,
    ) -> None:
        super().__init__(message, request, body=body, request_id=request_id)
        self.events = list(events or [])

    @property
    def partial_images(self) -> List[ImageStreamEvent]:
        """The partial-image events received before the failure (saveable)."""
        return [e for e in self.events if getattr(e, "partial_image_index", None) is not None]


class IncompleteStreamError(ImageStreamError):
    """The stream ended before its ``*.completed`` event (truncated or cut off)."""


# =============================================================================
# Configuration
# =============================================================================


@dataclass(frozen=True, eq=False, repr=False)
class Timeout(_FrozenValue):
    """Time limits of one call, in seconds (``None`` = no limit).

    ``connect`` bounds establishing the connection (TCP, proxy, TLS);
    ``read`` is the longest silence allowed while sending or receiving (image
    streams send nothing for minutes, so the default is generous); ``total``
    is an optional deadline for the whole call including retries.
    """

    connect: Optional[float] = 5.0
    read: Optional[float] = 600.0
    total: Optional[float] = None

    def __post_init__(self) -> None:
        for name in ("connect", "read", "total"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _positive(value, f"timeout.{name}"))

    @classmethod
    def coerce(cls, value: object) -> Timeout:
        """Accept a ``Timeout``, a number (connect and read), ``None`` (no limits)
        or any object with ``connect`` / ``read`` attributes (an ``httpx.Timeout``)."""
        if isinstance(value, Timeout):
            return value
        if value is None:
            return cls(None, None, None)
        if _is_number(value):
            return cls(value, value)  # checked by __post_init__
        if hasattr(value, "connect") and hasattr(value, "read"):
            return cls(getattr(value, "connect"), getattr(value, "read"))  # noqa: B009
        raise TypeError(f"timeout must be a number, None or Timeout, not {type(value).__name__}")


def _is_number(value: object) -> TypeGuard[Union[int, float]]:
    """An int or a float, not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _positive(value: object, name: str) -> float:
    """A finite number of seconds above zero (``None`` means no limit, never ``inf``)."""
    if not _is_number(value):
        raise TypeError(f"{name} must be a number of seconds or None, not {type(value).__name__}")
    if not 0 < value <= 1e6:
        raise ValueError(f"{name} must be a positive number of seconds, at most 1e6 (None for no limit), got {value!r}")
    return float(value)


@dataclass(frozen=True, eq=False, repr=False)
class RetryPolicy(_FrozenValue):
    """When and how long to wait before trying a failed call again.

    Retried: connection errors, timeouts (not the ``total`` deadline), 408,
    409, 429 and 5xx, unless the server says ``x-should-retry: false``, asks
    to wait longer than ``max_retry_after``, or the 429 is a permanent quota
    error. The wait is the server's hint when it gives one (``retry-after-ms``,
    ``retry-after`` seconds or HTTP date), else ``initial_delay`` doubling up
    to ``max_delay``, minus up to ``jitter`` of it at random.
    """

    max_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 120.0
    jitter: float = 0.25

    def __post_init__(self) -> None:
        if not isinstance(self.max_retries, int) or isinstance(self.max_retries, bool):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError("max_retries must be an int")
        if self.max_retries < 0:
            raise ValueError("max_retries must be 0 or more")

    def backoff(self, retries_taken: int, rand: float) -> float:
        """The wait before retry number ``retries_taken + 1`` without a server hint."""
        delay = min(self.initial_delay * (2.0**retries_taken), self.max_delay)
        return delay * (1.0 - self.jitter * rand)


_PERMANENT_QUOTA_CODES = frozenset(
    {
        "insufficient_quota",
        "credit_balance_exhausted",
        "organization_spend_limit_exceeded",
        "project_spend_limit_exceeded",
        "organization_usage_limit_exceeded",
    }
)

ApiKey = Union[str, Callable[[], str]]


@dataclass(frozen=True, eq=False, repr=False)
class OpenAIConfig(_FrozenValue):
    """Everything a client needs to talk to the API. Immutable; ``repr`` hides the key.

    ``api_key`` may be a callable, called again for every attempt (rotating
    tokens). ``base_url`` may carry a query (``?api-version=…``), merged into
    every request. ``auth_header`` is ``"authorization"`` (``Bearer`` token) or
    ``"api-key"`` (Azure). ``proxies`` maps a scheme to an ``http://`` proxy
    URL; ``None`` reads ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``NO_PROXY``, ``{}``
    disables proxies. ``ssl_context`` replaces the default verifying context.
    The ``max_*`` limits bound what a broken or hostile server can make the
    client hold in memory.
    """

    api_key: Optional[ApiKey] = field(default=None, repr=False)
    base_url: str = DEFAULT_BASE_URL
    organization: Optional[str] = None
    project: Optional[str] = None
    timeout: Timeout = Timeout()
    retry_policy: RetryPolicy = RetryPolicy()
    default_headers: Mapping[str, str] = field(default_factory=_empty_dict)
    default_query: Mapping[str, str] = field(default_factory=_empty_dict)
    auth_header: str = "authorization"
    azure_deployment_routing: bool = False
    proxies: Optional[Mapping[str, str]] = None
    ssl_context: Optional[ssl.SSLContext] = field(default=None, repr=False)
    max_response_bytes: int = 512 * 1024 * 1024
    max_error_body_bytes: int = 1024 * 1024
    max_event_bytes: int = 64 * 1024 * 1024
    require_api_key: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "api_key", _checked_api_key(self.api_key))
        _check_base_url(self.base_url)
        if self.auth_header not in ("authorization", "api-key"):
            raise ValueError("auth_header must be 'authorization' or 'api-key'")
        _check_headers(self.default_headers, "default_headers")
        for where, value in (("organization", self.organization), ("project", self.project)):
            if value is not None:
                _check_header(f"OpenAI-{where.title()}", value, where)
        for scheme_name, proxy in (self.proxies or {}).items():
            _check_proxy(scheme_name, proxy, "proxies")

    @classmethod
    def from_env(cls, **overrides: Any) -> OpenAIConfig:
        """Read ``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, ``OPENAI_ORG_ID`` and
        ``OPENAI_PROJECT_ID`` (an empty value counts as unset); keyword
        arguments that are not ``None`` win."""
        env: Dict[str, Any] = {
            "api_key": _env("OPENAI_API_KEY"),
            "base_url": _env("OPENAI_BASE_URL"),
            "organization": _env("OPENAI_ORG_ID"),
            "project": _env("OPENAI_PROJECT_ID"),
        }
        env.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**{k: v for k, v in env.items() if v is not None})

    @classmethod
    def azure(
        cls,
        *,
        endpoint: Optional[str] = None,
        deployment: Optional[str] = None,
        api_version: Optional[str] = None,
        api_key: Optional[ApiKey] = None,
        ad_token: Optional[ApiKey] = None,
        base_url: Optional[str] = None,
        **overrides: Any,
    ) -> OpenAIConfig:
        """Configuration for Azure OpenAI.

        URLs become ``{endpoint}/openai/deployments/{deployment}/images/...
        ?api-version=...``; without ``deployment`` the request's ``model`` names
        the deployment. The key goes in an ``api-key`` header (an ``ad_token``
        in ``Authorization: Bearer`` instead). Environment:
        ``AZURE_OPENAI_ENDPOINT``, ``AZURE_OPENAI_API_KEY``,
        ``AZURE_OPENAI_AD_TOKEN``, ``OPENAI_API_VERSION``.
        """
        api_version = api_version or _env("OPENAI_API_VERSION")
        if not api_version:
            raise OpenAIError("Azure needs an API version: pass api_version=... or set OPENAI_API_VERSION")
        if base_url is None:
            base_url = _azure_base_url(endpoint, deployment)
        key, auth_header = _azure_credentials(api_key, ad_token)
        query = dict(overrides.pop("default_query", None) or {})
        query.setdefault("api-version", api_version)
        return cls(
            api_key=key,
            auth_header=auth_header,
            base_url=base_url,
            default_query=query,
            azure_deployment_routing=True,
            **overrides,
        )

    def resolve_api_key(self) -> str:
        """The key to send now (calls a callable key). Raises ``OpenAIError`` if unset."""
        key = self.api_key
        if callable(key):
            key = _clean_api_key(key())
        if not key and not self.require_api_key:
            return ""  # no credentials are sent
        if not key:
            variable = "AZURE_OPENAI_API_KEY" if self.auth_header == "api-key" else "OPENAI_API_KEY"
            raise OpenAIError(f"No API key: pass api_key=... to the client or set the {variable} environment variable")
        return key


def _env(name: str) -> Optional[str]:
    value = os.environ.get(name)
    return value if value else None


def _clean_api_key(key: object) -> str:
    """Strip surrounding white space; refuse only what cannot go in a header
    (CR, LF, NUL, characters outside Latin-1), without showing the key."""
    if not isinstance(key, str):
        raise TypeError(f"api_key must be a string, not {type(key).__name__}")
    key = key.strip()
    if any(ch in "\r\n\0" or ch > "\xff" for ch in key):
        raise OpenAIError(
            "The API key contains a line break, NUL or non-Latin-1 character, which no HTTP header "
            "can carry; check how it was copied (the key is not shown here)"
        )
    return key


# Set by the transport from the body and the URL; a caller's value could only contradict them.
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "host", "connection"})
_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _check_header(name: object, value: object, where: str = "header") -> None:
    """Refuse, before any traffic, a header that cannot go on the wire as
    given: a name that is not an HTTP token, a value with CR, LF or NUL (line
    breaks include obs-fold) or outside Latin-1. The error names the header
    and ``where`` it came from, never its value (it may be a credential)."""
    if not isinstance(name, str) or not isinstance(value, str):
        raise TypeError(f"{where}: header names and values must be strings (header {name!r})")
    if not name or not _TOKEN_CHARS.issuperset(name):
        raise ValueError(f"{where}: {name!r} is not a valid HTTP header name")
    if not _LATIN1_WITHOUT_BREAKS.issuperset(value):
        what = "contains a line break or NUL" if _LINE_BREAKS.intersection(value) else "has characters outside Latin-1"
        raise ValueError(f"{where}: the value of header {name!r} {what} (value not shown)")


_LINE_BREAKS = frozenset("\r\n\0")
_LATIN1_WITHOUT_BREAKS = frozenset(map(chr, range(256))) - _LINE_BREAKS


def _check_headers(headers: Mapping[str, Optional[str]], where: str) -> None:
    """``_check_header`` on each (``None`` values remove a header and pass);
    framing headers are refused: the transport sets them from the body."""
    for name, value in headers.items():
        if value is None:
            continue
        _check_header(name, value, where)
        if name.lower() in _FRAMING_HEADERS:
            raise ValueError(f"{where}: {name!r} is set by the client from the request itself and cannot be given")


def _check_proxy(scheme: str, proxy: str, source: str) -> None:
    """Only ``http://`` proxy URLs work: urllib speaks plain HTTP to a proxy
    (an ``https://`` proxy would get a plaintext CONNECT, its credentials
    included) and has no SOCKS. The message never shows a password."""
    if not proxy.lower().startswith("http://"):
        raise ValueError(
            f"the {scheme} proxy from {source} must be an http:// URL (urllib speaks plain HTTP to "
            f"proxies, so credentials would travel in clear text, and has no SOCKS), got {_redact_url(proxy)!r}"
        )


def _checked_api_key(key: object) -> Optional[ApiKey]:
    """A key (cleaned: see ``_clean_api_key``), a callable that returns one, or ``None``."""
    if isinstance(key, str):
        return _clean_api_key(key)
    if key is not None and not callable(key):
        raise TypeError("api_key must be a string or a callable returning one")
    return cast("Optional[ApiKey]", key)


def _check_base_url(url: str) -> None:
    """An http(s) URL without credentials (they would show in messages and logs)."""
    if url.split(":", 1)[0].lower() not in ("http", "https"):
        raise ValueError(f"base_url must start with https:// or http://, got {_redact_url(url)!r}")
    if "@" in url.partition("://")[2].split("/", 1)[0]:
        raise ValueError(
            "base_url must not carry credentials (user:password@host): they would be shown in "
            "messages and logs; send them in default_headers instead"
        )


def _quote_segment(value: str) -> str:
    """One URL path segment; ``.`` and ``..`` are refused (they would climb the path)."""
    from urllib.parse import quote

    if value in (".", ".."):
        raise ValueError(f"{value!r} cannot be a deployment or model name in a URL path")
    return quote(value, safe="")


def _azure_credentials(api_key: Optional[ApiKey], ad_token: Optional[ApiKey]) -> Tuple[Optional[ApiKey], str]:
    """The credential and its header: an ``ad_token`` goes in ``Authorization``,
    a key in ``api-key``; with neither given, from the environment
    (``AZURE_OPENAI_AD_TOKEN``, else ``AZURE_OPENAI_API_KEY``)."""
    if api_key is None and ad_token is None:
        ad_token = _env("AZURE_OPENAI_AD_TOKEN")
        api_key = None if ad_token else _env("AZURE_OPENAI_API_KEY")
    if api_key is not None and ad_token is not None:
        raise OpenAIError("pass either an Azure api_key or an ad_token, not both")
    return (ad_token, "authorization") if ad_token is not None else (api_key, "api-key")


def _azure_base_url(endpoint: Optional[str], deployment: Optional[str]) -> str:
    """``{endpoint}/openai[/deployments/{deployment}]``; the endpoint defaults to ``AZURE_OPENAI_ENDPOINT``."""
    endpoint = endpoint or _env("AZURE_OPENAI_ENDPOINT")
    if not endpoint:
        raise OpenAIError(
            "Azure needs an endpoint: pass endpoint=... (azure_endpoint=...) or set AZURE_OPENAI_ENDPOINT"
        )
    base_url = endpoint.rstrip("/") + "/openai"
    return base_url + "/deployments/" + _quote_segment(deployment) if deployment else base_url


# =============================================================================
# Calls: one object owns the life of each call
# =============================================================================


class _Call:
    """The life of one API call: its abort flag and reason, its stage, the
    sockets it opened, what must be closed when it ends, and its hand-over to
    a stream. Everything that can end a call early goes through ``abort()``:
    the caller's ``abort_trigger``, ``ImageStream.abort()``/``close()``,
    ``OpenAIClient.close()`` and the ``total`` deadline.

    ``abort()`` sets the flag first, then shuts down every socket of the call,
    so whatever the calling thread is blocked in (name resolution, connect,
    TLS handshake, upload, waiting for headers, reading) wakes at once; every
    layer that wakes checks the flag before it interprets what it got.
    ``_send`` runs the call as a context manager: leaving it finishes the call
    (later aborts do nothing, the watcher forgets it, its response is closed)
    unless ``hand_over()`` gave the call to a stream, which finishes it when it
    ends or is garbage-collected.
    """

    def __init__(self, trigger: object = None, total: Optional[float] = None) -> None:
        # Reentrant: a stream's finalizer (finish) may run in any thread, inside this call's own methods
        self._lock = threading.RLock()
        self._aborted = threading.Event()
        self.reason: Optional[str] = None  # an AbortReason value once aborted
        self.stage = CallStage.BEFORE_REQUEST
        self.connected = False  # the connection is up: a timeout now is a read timeout
        self.answered_early = False  # the server answered before the upload ended
        self.total = total
        self._sockets: List[socket.socket] = []
        self._closers: List[Callable[[], None]] = []
        self._wakers: List[Callable[[], None]] = []
        self._finished = False
        self._handed_over = False
        self._hook: Optional[_Hook] = None  # set by the watcher
        self._deadline: Optional[List[Any]] = None  # the watcher's heap entry
        _watcher().watch(self, trigger, total)

    @property
    def aborted(self) -> bool:
        """True once aborted (and only if aborted before the call finished)."""
        return self._aborted.is_set()

    def abort(self, reason: str = AbortReason.USER) -> None:
        """Idempotent and safe from any thread; a no-op once the call has finished."""
        with self._lock:
            if self._aborted.is_set() or self._finished:
                return
            self.reason = reason
            self._aborted.set()
            sockets, wakers = list(self._sockets), list(self._wakers)
        for sock in sockets:
            _shutdown(sock)
        for wake in wakers:
            wake()

    def attach(self, sock: socket.socket) -> None:
        """Track a socket of this call; shut it down at once if already aborted."""
        with self._lock:
            self._sockets.append(sock)
            aborted = self._aborted.is_set()
        if aborted:
            _shutdown(sock)

    def on_abort(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` on abort (at once if already aborted): for waits that no socket can end."""
        with self._lock:
            self._wakers.append(wake)
            aborted = self._aborted.is_set()
        if aborted:
            wake()

    def on_finish(self, close: Callable[[], None]) -> None:
        """Call ``close`` when the call ends (a response left open by a dropped stream)."""
        with self._lock:
            if not self._finished:
                self._closers.append(close)
                return
        close()

    def error(self, request: Optional[Request] = None, request_id: Optional[str] = None) -> APIError:
        """The exception that reports this abort."""
        if self.reason == AbortReason.DEADLINE:
            return APITimeoutError(
                f"Request exceeded its total timeout of {self.total:g} s ({self.stage}).",
                request,
                limit=TimeoutLimit.TOTAL,
                request_id=request_id,
            )
        return APIUserAbortError(self.stage, request, request_id=request_id, reason=self.reason or AbortReason.USER)

    def check(self, request: Optional[Request] = None, request_id: Optional[str] = None) -> None:
        """Raise the abort's error if the call was aborted."""
        if self._aborted.is_set():
            raise self.error(request, request_id)

    def sleep(self, seconds: float, request: Optional[Request] = None) -> None:
        """Wait ``seconds`` unless aborted first (then raise the abort error)."""
        self.stage = CallStage.DURING_RETRY_DELAY
        if self._aborted.wait(max(seconds, 0.0)):
            raise self.error(request)

    def hand_over(self) -> None:
        """A stream owns the call from now on: leaving the ``with`` block does not finish it."""
        self._handed_over = True

    def finish(self) -> None:
        """The call is over: later aborts do nothing, the watcher forgets it,
        and what it left open is closed. Idempotent, from any thread."""
        with self._lock:
            if self._finished:
                return
            self._finished = True
            closers, self._closers = self._closers, []
            self._sockets, self._wakers = [], []
        _watcher().forget(self)
        for close in closers:
            try:
                close()
            except Exception:  # closing a connection that was shut down can fail; nothing to do
                pass

    def __enter__(self) -> _Call:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if not self._handed_over:
            self.finish()


class _Hook:
    """Aborts the calls registered with one ``abort_trigger``: a Future's
    done-callback, or a waiter among a ``threading.Event``'s (``set()``
    releases every waiter, so it calls ``release()`` in the setting thread).
    One hook per trigger, however many calls use it."""

    def __init__(self) -> None:
        self.lock = threading.RLock()  # reentrant, as _Call._lock: finalizers run anywhere
        self.calls: Set[_Call] = set()
        self.fired = False

    def add(self, call: _Call) -> None:
        with self.lock:
            if not self.fired:
                self.calls.add(call)
                return
        call.abort(AbortReason.USER)

    def discard(self, call: _Call) -> None:
        with self.lock:
            self.calls.discard(call)

    def fire(self, *_future: object) -> None:
        with self.lock:
            self.fired = True
            calls, self.calls = self.calls, set()
        for call in calls:
            try:  # runs inside the trigger's set(): nothing may escape into the caller's code
                call.abort(AbortReason.USER)
            except Exception:
                pass

    __call__ = fire  # Future.add_done_callback(hook)
    release = fire  # threading.Condition.notify() releases its waiters


class _Watcher:
    """The one place that ends calls from outside: trigger hooks (no thread)
    and a single thread for every call's ``total`` deadline, which sleeps
    until the earliest one and exists only while a deadline is pending.
    No thread per call, no polling tick."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: List[List[Any]] = []  # [when, sequence, call or None when forgotten]
        self._sequence = 0
        self._forgotten = 0
        self._thread: Optional[threading.Thread] = None
        self._hooks: weakref.WeakKeyDictionary[Any, _Hook] = weakref.WeakKeyDictionary()  # trigger -> hook
        self._hooks_lock = threading.Lock()

    def watch(self, call: _Call, trigger: object, total: Optional[float]) -> None:
        """Register ``call``; it is aborted at once if its trigger has already fired."""
        if trigger is not None:
            call._hook = self._hook(call, trigger)  # pyright: ignore[reportPrivateUsage]
        if total is not None:
            import heapq

            with self._cond:
                self._sequence += 1
                entry = call._deadline = [time.monotonic() + total, self._sequence, call]  # pyright: ignore[reportPrivateUsage]
                heapq.heappush(self._heap, entry)
                if self._thread is None:
                    thread = threading.Thread(target=self._run, name="openai-images-watch", daemon=True)
                    thread.start()
                    self._thread = thread
                elif self._heap[0] is entry:
                    self._cond.notify()

    def forget(self, call: _Call) -> None:
        """``call`` has finished: drop it from its trigger's hook and its deadline."""
        if call._hook is not None:  # pyright: ignore[reportPrivateUsage]
            call._hook.discard(call)  # pyright: ignore[reportPrivateUsage]
        entry = call._deadline  # pyright: ignore[reportPrivateUsage]
        if entry is not None:
            with self._cond:
                if entry[2] is not None:
                    entry[2] = None
                    self._forgotten += 1
                    self._compact()
                    self._cond.notify()  # the thread ends when no deadline is left

    def _compact(self) -> None:
        """Drop the forgotten deadlines once they are most of the heap (the condition is held)."""
        if self._forgotten > 64 and self._forgotten * 2 > len(self._heap):
            import heapq

            self._heap = [e for e in self._heap if e[2] is not None]
            heapq.heapify(self._heap)
            self._forgotten = 0

    def _hook(self, call: _Call, trigger: object) -> _Hook:
        if isinstance(trigger, threading.Event):
            return self._event_hook(call, trigger)
        add_done_callback = getattr(trigger, "add_done_callback", None)
        if not callable(add_done_callback):
            raise TypeError(
                f"abort_trigger must be a threading.Event or a concurrent.futures.Future, not {type(trigger).__name__}"
            )
        with self._hooks_lock:
            try:
                hook = self._hooks.get(trigger)
                new = hook is None
                if hook is None:
                    hook = self._hooks[trigger] = _Hook()
            except TypeError:  # not weakly referenceable: a hook for this call only
                hook, new = _Hook(), True
        hook.add(call)
        if new:
            add_done_callback(hook)  # runs at once if the future is done already
        return hook

    def _event_hook(self, call: _Call, trigger: threading.Event) -> _Hook:
        """The hook of an Event: a waiter of the Event's condition, shared by
        every call the Event aborts (``set()`` wakes it like any waiter)."""
        condition: Any = cast(Any, trigger)._cond  # stable in CPython 3.8-3.13 and PyPy
        with condition:  # Event.set() holds it while it releases the waiters
            if trigger.is_set():
                call.abort(AbortReason.USER)
                return _Hook()
            waiters: Any = condition._waiters
            with self._hooks_lock:
                hook: Optional[_Hook] = self._hooks.get(trigger)
                if hook is None or hook.fired or hook not in waiters:
                    hook = self._hooks[trigger] = _Hook()
                    waiters.append(hook)
            hook.add(call)
        return hook

    def _run(self) -> None:
        import heapq

        with self._cond:
            try:
                while True:
                    while self._heap and self._heap[0][2] is None:
                        heapq.heappop(self._heap)
                        self._forgotten -= 1
                    if not self._heap:
                        return
                    wait = self._heap[0][0] - time.monotonic()
                    if wait > 0:
                        self._cond.wait(min(wait, threading.TIMEOUT_MAX))
                        continue
                    entry = heapq.heappop(self._heap)
                    call: _Call = entry[2]
                    entry[2] = None  # gone from the heap: forget() has nothing to count
                    call.abort(AbortReason.DEADLINE)
            finally:
                self._thread = None


_watcher_instance: Optional[_Watcher] = None
_WATCHER_LOCK = _thread.allocate_lock()


def _watcher() -> _Watcher:
    """The one watcher, made by the first call (it needs ``threading``)."""
    global _watcher_instance
    if _watcher_instance is not None:  # every call comes here twice: no lock once it exists
        return _watcher_instance
    with _WATCHER_LOCK:
        if _watcher_instance is None:
            _watcher_instance = _Watcher()
        return _watcher_instance


# On Windows, shutdown() does not wake a recv() blocked in another thread; only
# closing the handle does (cpython#91913). Elsewhere shutdown() alone is right:
# on macOS, shutdown() then close() can fail to wake a recv() with a timeout.
_ABORT_CLOSES_HANDLE = sys.platform == "win32"


def _shutdown(sock: socket.socket) -> None:
    """Wake whatever thread is blocked on ``sock`` (abort), from any thread."""
    import socket as socket_module

    try:  # the base method: SSLSocket.shutdown would also drop its SSL object
        socket_module.socket.shutdown(sock, socket_module.SHUT_RDWR)
    except OSError:
        pass  # already closed or never connected; macOS raises ENOTCONN, Windows WinError 10022
    if _ABORT_CLOSES_HANDLE:
        # Detach first: the socket object forgets the handle (its later reads
        # fail with EBADF, its owner's close() is a no-op), so a handle number
        # reused by another connection is never closed by mistake.
        try:
            handle = sock.detach()
        except (OSError, ValueError):
            return
        if handle >= 0:
            try:
                socket_module.close(handle)
            except OSError:
                pass


# =============================================================================
# Wire primitives: plain objects with no network I/O
# =============================================================================


class Headers(MutableMapping[str, str]):
    """HTTP headers: case-insensitive keys, insertion order, last spelling kept.

    ``repr`` redacts credentials (``Authorization``, ``api-key``, …).
    """

    def __init__(self, items: Union[Mapping[str, str], Iterable[Tuple[str, str]], None] = None):
        self._items: Dict[str, Tuple[str, str]] = {}
        if items is not None:
            pairs = cast("Mapping[str, str]", items).items() if isinstance(items, Mapping) else items
            for name, value in pairs:
                self[name] = value

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __setitem__(self, name: str, value: str) -> None:
        self._items[name.lower()] = (name, value)

    def __delitem__(self, name: str) -> None:
        del self._items[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def copy(self) -> Headers:
        """An independent copy (same names, spellings and order)."""
        return Headers(self._items.values())

    def apply(self, overrides: Mapping[str, Optional[str]]) -> None:
        """Set each header; a ``None`` value removes it."""
        for name, value in overrides.items():
            if value is None:
                self.pop(name, None)
            else:
                self[name] = value

    def redacted(self) -> Dict[str, str]:
        """A plain dict with credential values replaced by ``<redacted>``."""
        return {name: "<redacted>" if _is_secret_header(name) else value for name, value in self._items.values()}

    def __repr__(self) -> str:
        return f"Headers({self.redacted()!r})"


@dataclass(repr=False, eq=False)  # __eq__ written out: a generated one costs import time
class Request:
    """One HTTP request as the interceptors see it: a plain value.

    ``body`` is ``bytes`` (JSON), a ``MultipartEncoder`` (re-iterable upload)
    or ``None``. ``extensions`` is a read-only mapping of per-call settings,
    as in httpx: ``timeout`` (``Timeout``), ``retry`` (``RetryPolicy``),
    ``stream`` (bool: the caller reads the body, not the transport), ``attempt`` (0 for the first) and ``call`` (the
    object that owns the call's abort and deadline). Change a request with
    ``dataclasses.replace``.
    """

    method: str
    url: str
    headers: Headers
    body: Union[bytes, MultipartEncoder, None] = None
    extensions: Mapping[str, Any] = field(default_factory=_empty_dict, compare=False)

    def __post_init__(self) -> None:
        self.extensions = MappingProxyType(dict(self.extensions))

    def __eq__(self, other: object) -> bool:
        """Equal method, URL, headers and body (the extensions are not compared)."""
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Request)
        return (self.method, self.url, self.headers, self.body) == (other.method, other.url, other.headers, other.body)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"<Request {self.method} {_redact_query(self.url)}>"


def _timeout_of(request: Request) -> Timeout:
    timeout = request.extensions.get("timeout")
    return timeout if isinstance(timeout, Timeout) else Timeout()


def _call_of(request: Request) -> _Call:
    """The call that owns ``request`` (a request built outside a client gets a call of its own)."""
    call = request.extensions.get("call")
    return call if isinstance(call, _Call) else _Call()


class Response:
    """An HTTP response; the body is read on demand through ``raw``.

    ``raw`` is any object with ``read1(n)`` and ``close()`` (the transport's
    body reader, or ``io.BytesIO`` in tests). ``read()`` reads the whole body
    once, up to ``limit`` bytes, and caches it.
    """

    def __init__(
        self,
        status_code: int,
        headers: Headers,
        request: Request,
        raw: Any = None,
        *,
        reason: str = "",
        content: Optional[bytes] = None,
    ) -> None:
        self.status_code = status_code
        self.reason = reason
        self.headers = headers
        self.request = request
        self.raw = raw
        self._content = content
        self._closed = False
        self._error_body: object = NOT_GIVEN  # parsed once, by _error_object

    @property
    def request_id(self) -> Optional[str]:
        """The ``x-request-id`` header: quote it when contacting support.
        Only printable ASCII of at most 200 characters that carries no
        credential of the request counts; anything else is dropped."""
        value = self.headers.get("x-request-id")
        if value is None or len(value) > 200 or not (value.isascii() and value.isprintable()):
            return None
        return value if _scrub_text(value, _secrets_sent(self.request)) == value else None

    @property
    def content_type(self) -> str:
        """The media type, lower-case, without parameters (``""`` when absent)."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    def read(self, limit: Optional[int] = None) -> bytes:
        """The whole body (decompressed), at most ``limit`` bytes; cached.

        Raises ``APIResponseValidationError`` when the body is larger than the
        limit or malformed, and ``APIConnectionError`` when it ends early.
        """
        if self._content is None:
            self._content = self._read_body(limit, truncate=False)
        return self._content

    def read_capped(self, limit: int) -> bytes:
        """At most ``limit`` bytes of the (decompressed) body; the rest is
        dropped and the connection closed. Cached. For error bodies, which may
        be huge HTML pages, cut short or badly framed."""
        if self._content is None:
            self._content = self._read_body(limit, truncate=True)
        return self._content[:limit]

    @property
    def content_read(self) -> bool:
        """Whether the body has been read (and is kept)."""
        return self._content is not None

    @property
    def content(self) -> bytes:
        """The whole body, read if needed (``read()`` without a limit)."""
        return self.read()

    @property
    def text(self) -> str:
        """The body as text (its charset, else UTF-8), read if needed. The
        request's credentials are scrubbed from it, like from every error."""
        charset = "utf-8"
        for param in self.headers.get("content-type", "").split(";")[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "charset":
                charset = value.strip().strip('"') or charset
        try:
            text = self.read().decode(charset, "replace")
        except LookupError:
            text = self.read().decode("utf-8", "replace")
        return _scrub_text(text, _secrets_sent(self.request))

    def iter_bytes(self, chunk_size: Optional[int] = None, limit: Optional[int] = None) -> Iterator[bytes]:
        """The body as it arrives, decompressed, in pieces of at most about
        ``chunk_size`` bytes received; not kept. Raises as ``read()`` does,
        also once more than ``limit`` bytes came."""
        if self._content is not None:
            yield self._content
            return
        if self.raw is None:
            return
        try:
            decoder = BodyDecoder(self.headers, limit=limit, head=self.request.method == "HEAD")
            for piece in self._decoded(decoder, chunk_size or 1 << 16):
                if piece:
                    yield piece
        except BodyError as exc:
            raise self._body_error(exc) from None
        finally:
            self.close()

    def _decoded(self, decoder: BodyDecoder, chunk_size: int) -> Iterator[bytes]:
        """What ``decoder`` makes of each piece read, then of the end (pieces may be empty)."""
        assert self.raw is not None
        chunk = self.raw.read1(chunk_size)
        while chunk:
            decoder.feed(chunk)
            yield decoder.take()
            chunk = self.raw.read1(chunk_size)
        yield decoder.finish()

    def _read_body(self, limit: Optional[int], *, truncate: bool) -> bytes:
        try:
            if self.raw is None:
                return b""
            decoder = BodyDecoder(self.headers, limit=limit, truncate=truncate, head=self.request.method == "HEAD")
            while not decoder.full:
                chunk = self.raw.read1(1 << 20)
                if not chunk:
                    break
                decoder.feed(chunk)
            return decoder.finish()
        except BodyError as exc:
            raise self._body_error(exc) from None
        finally:
            self.close()

    def _body_error(self, exc: BodyError) -> APIError:
        if exc.truncated:
            return APIConnectionError(str(exc), self.request, request_id=self.request_id)
        return APIResponseValidationError(str(exc), response=self)

    def json(self, limit: Optional[int] = None) -> Any:
        """The body parsed as strict JSON (see ``_parse_json``), with the
        request's credentials scrubbed from it (keys and values). A malformed
        body is an ``APIResponseValidationError`` that is also a ``ValueError``."""
        return _scrub(self._json(limit, _NotJSONError), _secrets_sent(self.request))

    def _json(self, limit: Optional[int] = None, error: Any = None) -> Any:
        """``json()`` unscrubbed, for parsing the API's own replies; a
        malformed body raises ``error`` (``APIResponseValidationError``)."""
        content = self.read(limit)
        try:
            return _parse_json(content)
        except ValueError as exc:  # invalid, non-standard, too deep or too large
            snippet = _server_text(self, content[:2000].decode("utf-8", "replace"))
            raise (error or APIResponseValidationError)(
                f"The server sent a {self.status_code} response that is not valid JSON "
                f"({exc}); it starts with: {snippet}",
                response=self,
                body=snippet,
            ) from None

    def close(self) -> None:
        """Release the connection; reading afterwards is an error. Idempotent."""
        self._closed = True
        if self.raw is not None:
            self.raw.close()

    async def aclose(self) -> None:
        """``close()``, awaitable: the async spelling of the official SDK's stream responses."""
        self.close()

    @property
    def is_closed(self) -> bool:
        """Whether the body was read to its end, or the response (or its connection) closed."""
        return self._closed or self._content is not None or self.raw is None or bool(getattr(self.raw, "closed", 0))

    def __repr__(self) -> str:
        return f"<Response [{self.status_code}] request_id={self.request_id!r}>"


class BodyError(ValueError):
    """A response body ``BodyDecoder`` cannot accept. ``truncated``: it ended
    before its declared end (a network fault, worth a retry), else it is
    malformed or too large."""

    def __init__(self, message: str, *, truncated: bool = False) -> None:
        super().__init__(message)
        self.truncated = truncated


def _zlib() -> Any:
    """The zlib module, or None on a Python built without it."""
    try:
        import zlib
    except ImportError:
        return None
    return zlib


def _scrubbed_arg(arg: object, secrets: Tuple[str, ...]) -> object:
    """An exception's argument with the secrets scrubbed from its text (bytes as Latin-1)."""
    if isinstance(arg, bytes):
        return _scrub_text(arg.decode("latin-1"), secrets).encode("latin-1", "replace")
    return _scrub_text(arg, secrets) if isinstance(arg, str) else arg


def _content_encoding(headers: Mapping[str, str], truncate: bool) -> Optional[str]:
    """The body's compression (``gzip``, ``deflate``) or ``None``; one this
    client cannot undo is a ``BodyError`` (with ``truncate``, an error body,
    it is kept as it came instead, its status still reported)."""
    given = headers.get("content-encoding", "")
    codings = [c.strip().lower() for c in given.split(",") if c.strip().lower() not in ("", "identity")]
    if codings not in ([], ["gzip"], ["x-gzip"], ["deflate"]) and not truncate:
        raise BodyError(f"The response uses a content encoding this client cannot decode ({given[:60]!r})")
    if not codings or _zlib() is not None:
        return codings[0] if codings else None
    if not truncate:
        raise BodyError(f"The response is {codings[0]}-compressed, but this Python has no zlib module to decode it")
    return None


def _declared_length(text: Optional[str]) -> Optional[int]:
    """A ``Content-Length`` believed: a plain decimal that agrees with its
    repeats. Anything else is ignored, not an error: http.client framed the
    body already, and a paid answer is kept whatever its headers say.
    (Leading zeros count for nothing; thousands of digits are absurd, not slow.)"""
    if text is None:
        return None
    values = {value.strip().lstrip("0") or "0" for value in text.split(",")}
    number = values.pop() if len(values) == 1 else ""
    return int(number) if number.isascii() and number.isdigit() and len(number) <= 18 else None


class BodyDecoder:
    """A response body as bytes arrive: ``feed(chunk)`` each piece, then
    ``finish()`` for the whole body. No I/O.

    Undoes ``Content-Encoding`` gzip and deflate (zlib-wrapped or raw, as
    browsers accept) as bytes arrive. Checks ``Content-Length``, which
    ``Transfer-Encoding`` overrides (RFC 9112). ``limit`` bounds both the
    bytes received and the bytes decoded: past it ``feed`` raises
    ``BodyError``, or, with ``truncate``, the first ``limit`` bytes are kept,
    ``full`` turns true and framing is not checked (for error bodies).
    """

    def __init__(
        self, headers: Mapping[str, str], *, limit: Optional[int], truncate: bool = False, head: bool = False
    ) -> None:
        self.limit = limit
        self.truncate = truncate
        self.encoding = _content_encoding(headers, truncate)
        self._decoder: Any = None
        self._head = b""  # the first byte of a deflate body, until the second tells zlib from raw
        framed = "transfer-encoding" not in headers and not head
        self.declared = _declared_length(headers.get("content-length")) if framed else None
        self.received = self.size = 0
        self._parts: List[bytes] = []
        if limit is not None and self.declared is not None and self.declared > limit and not truncate:
            raise self._too_big()

    @property
    def full(self) -> bool:
        """With ``truncate``: the limit is reached, nothing more is needed."""
        return self.truncate and self.limit is not None and max(self.received, self.size) >= self.limit

    def feed(self, chunk: bytes) -> None:
        """Take the next bytes of the body (ignored once ``full``)."""
        if self.full:
            return
        self.received += len(chunk)
        if self.encoding is not None:
            chunk = self._decode(chunk)
        self.size += len(chunk)
        self._parts.append(chunk)
        if self.limit is not None and max(self.size, self.received) > self.limit and not self.truncate:
            raise self._too_big()

    def take(self) -> bytes:
        """The decoded bytes fed since the last ``take()`` (they are not kept):
        for reading a body piece by piece. ``finish()`` then returns the rest."""
        out = b"".join(self._parts)
        self._parts = []
        return out

    def finish(self) -> bytes:
        """The end of the body: the decoded bytes (not taken). Raises ``BodyError``
        (``truncated``) if it ended before its declared length or before the
        end of its compressed stream."""
        if not self.truncate:
            self._check_complete()
        body = b"".join(self._parts)
        self._parts = [body]
        return body if self.limit is None or not self.truncate else body[: self.limit]

    def _check_complete(self) -> None:
        """The body has its declared length, and its compressed stream its end."""
        if self.declared is not None and self.received < self.declared:
            raise BodyError(
                f"Connection closed after {self.received} of {self.declared} response bytes", truncated=True
            )
        if self.encoding is not None and (self._decoder is None or not self._decoder.eof) and self.received:
            raise BodyError(f"Connection closed in the middle of the {self.encoding} response body", truncated=True)

    def _decode(self, chunk: bytes) -> bytes:
        import zlib

        if self._decoder is None:
            chunk = self._head + chunk
            if len(chunk) < 2:
                self._head = chunk
                return b""
            self._decoder = zlib.decompressobj(self._window_bits(chunk))
        try:
            out: bytes = self._decoder.decompress(chunk, self._room(0))
            while self._decoder.eof and self._decoder.unused_data and self.encoding != "deflate":
                # the next member of a multi-member gzip body (RFC 1952)
                rest = self._decoder.unused_data
                self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
                out += self._decoder.decompress(rest, self._room(len(out)))
        except zlib.error as exc:
            raise BodyError(f"The response body is not valid {self.encoding} data ({exc})") from None
        if self._decoder.unconsumed_tail and not self.truncate:
            raise self._too_big()
        return out

    def _room(self, pending: int) -> int:
        """How much more the decompressor may give (0: no limit): one byte past
        the limit, so that going over it shows."""
        return 0 if self.limit is None else max(1, self.limit - self.size - pending + 1)

    def _window_bits(self, head: bytes) -> int:
        """zlib's ``wbits`` for the body that starts with ``head``: gzip, or
        deflate with its zlib wrapper or (as some servers send it) without."""
        import zlib

        if self.encoding != "deflate":
            return 16 + zlib.MAX_WBITS
        zlib_wrapped = head[0] & 0x0F == 8 and (head[0] << 8 | head[1]) % 31 == 0
        return zlib.MAX_WBITS if zlib_wrapped else -zlib.MAX_WBITS

    def _too_big(self) -> BodyError:
        return BodyError(f"The response body is larger than the configured limit of {self.limit} bytes")


# -- request building ---------------------------------------------------------


class RequestBuilder:
    """Turns a path, a body and per-call options into a ``Request``.

    URL: the base URL's path is kept (``/v1`` + ``/images/generations``), its
    query is merged with ``default_query`` and then the per-call query (later
    wins). Headers, later wins: built-ins (``User-Agent``, ``Accept``,
    ``Content-Type``) < ``default_headers`` < organization / project (and the
    credentials, added per attempt by the auth interceptor) < per-call
    ``extra_headers``, where a ``None`` value removes a header.
    """

    _DEPLOYMENT_PATHS = ("/images/generations", "/images/edits")

    def __init__(self, config: OpenAIConfig) -> None:
        self.config = config

    def url(
        self,
        path: str,
        extra_query: Optional[Mapping[str, object]] = None,
        *,
        model: Optional[str] = None,
    ) -> str:
        """The full URL of ``path``: base URL and its query, ``default_query``,
        then ``extra_query`` (a ``None`` value removes a key); with Azure
        routing, ``/deployments/{model}`` is inserted for deployment paths."""
        from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

        base = urlsplit(self.config.base_url)
        base_path = base.path.rstrip("/")
        if (
            self.config.azure_deployment_routing
            and model
            and path in self._DEPLOYMENT_PATHS
            and "/deployments" not in base_path
        ):
            path = f"/deployments/{_quote_segment(model)}{path}"
        query: Dict[str, str] = dict(parse_qsl(base.query, keep_blank_values=True))
        _merge_query(query, self.config.default_query)
        _merge_query(query, extra_query or {})
        return urlunsplit((base.scheme, base.netloc, base_path + "/" + path.lstrip("/"), urlencode(query), ""))

    def headers(
        self, *, content_type: Optional[str], stream: bool, extra_headers: Mapping[str, Optional[str]]
    ) -> Headers:
        """The headers of a call: content type, accept (``text/event-stream``
        for streams, else gzip-capable JSON), user agent, organization and
        project, ``default_headers``, then ``extra_headers`` (``None`` removes).
        Credentials are added later, by the client (its credentials interceptor)."""
        headers = Headers(
            {
                "User-Agent": _USER_AGENT,
                "Accept": "text/event-stream" if stream else "application/json",
            }
        )
        if not stream and _zlib() is not None:
            headers["Accept-Encoding"] = "gzip, deflate"
        if content_type:
            headers["Content-Type"] = content_type
        headers.update(self.config.default_headers)
        if self.config.organization:
            headers["OpenAI-Organization"] = self.config.organization
        if self.config.project:
            headers["OpenAI-Project"] = self.config.project
        _check_headers(extra_headers, "extra_headers")
        headers.apply(extra_headers)
        return headers

    def build(
        self,
        method: str,
        path: str,
        *,
        body: Union[Mapping[str, object], MultipartEncoder, None],
        stream: bool = False,
        model: Optional[str] = None,
        timeout: Optional[Timeout] = None,
        extra_headers: Optional[Mapping[str, Optional[str]]] = None,
        extra_query: Optional[Mapping[str, object]] = None,
        call: Optional[_Call] = None,
        leave_body: bool = False,
    ) -> Request:
        """Build the request; a mapping body is sent as compact UTF-8 JSON.
        The transport reads the response's body, unless the call streams or
        ``leave_body`` leaves it to the caller (extension ``stream``).
        Credentials are added per attempt by the client (its credentials interceptor), unless
        ``extra_headers`` names the credential header (a value or ``None``)."""
        payload, content_type = _payload(body)
        overrides = dict(extra_headers or {})
        extensions: Dict[str, Any] = {
            "timeout": timeout or self.config.timeout,
            "retry": self.config.retry_policy,
            "stream": stream or leave_body,
            "attempt": 0,
            "authenticate": not any(name.lower() == self.config.auth_header for name in overrides),
        }
        if call is not None:
            extensions["call"] = call
        return Request(
            method=method,
            url=self.url(path, extra_query, model=model),
            headers=self.headers(content_type=content_type, stream=stream, extra_headers=overrides),
            body=payload,
            extensions=extensions,
        )


def _merge_query(query: Dict[str, str], extra: Mapping[str, object]) -> None:
    """``extra`` over ``query``: a ``None`` value removes its key."""
    for key, value in extra.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = _form_text(value)


def _payload(
    body: Union[Mapping[str, object], MultipartEncoder, None],
) -> Tuple[Union[bytes, MultipartEncoder, None], Optional[str]]:
    """The body to send and its content type: multipart as it is, a mapping as compact UTF-8 JSON."""
    if isinstance(body, MultipartEncoder):
        return body, body.content_type
    if body is None:
        return None, None
    return _json_bytes(body), "application/json"


def _json_bytes(body: Mapping[str, object]) -> bytes:
    import json

    try:
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"The request body cannot be sent as JSON: {exc}") from None
    return text.encode("utf-8")


def _form_text(value: object) -> str:
    """How a scalar travels in a form field or query: booleans as true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -- multipart/form-data --------------------------------------------------------

FileContent = Union[bytes, bytearray, memoryview, "os.PathLike[str]", str, IO[bytes]]
FileInput = Union[
    FileContent,
    "FilePart",
    Tuple[Optional[str], FileContent],
    Tuple[Optional[str], FileContent, Optional[str]],
    Tuple[Optional[str], FileContent, Optional[str], Mapping[str, str]],
]

# The one table of the image types this client knows: media type, the
# extension a file of it is saved with, other extensions that name it, and
# the bytes it starts with (WebP: RIFF at 0 and WEBP at 8; SVG after any white
# space). Uploads, saved files and the command line all read it.
_IMAGE_TYPES: Tuple[Tuple[str, str, Tuple[str, ...], Tuple[bytes, ...]], ...] = (
    ("image/png", ".png", (), (b"\x89PNG\r\n\x1a\n",)),
    ("image/jpeg", ".jpg", (".jpeg", ".jpe"), (b"\xff\xd8\xff",)),
    ("image/webp", ".webp", (), ()),
    ("image/gif", ".gif", (), (b"GIF87a", b"GIF89a")),
    ("image/svg+xml", ".svg", (), ()),
)
_TYPE_EXTENSIONS = {media: extension for media, extension, _, _ in _IMAGE_TYPES}
_EXTENSION_TYPES = {name: media for media, extension, more, _ in _IMAGE_TYPES for name in (extension, *more)}
_FORMAT_EXTENSIONS = {  # an output_format value ("jpeg", "svg") and its extension
    **{media[6:].split("+")[0]: extension for media, extension, _, _ in _IMAGE_TYPES},
    **{extension[1:]: extension for _, extension, _, _ in _IMAGE_TYPES},
}
_UPLOAD_BLOCK = 1 << 20


def _sniff_image_type(head: bytes) -> Optional[str]:
    """The image media type the first bytes announce (``_IMAGE_TYPES``), or ``None``."""
    for media_type, _, _, magics in _IMAGE_TYPES:
        if head.startswith(magics):
            return media_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.lstrip()[:5] in (b"<svg ", b"<?xml"):
        return "image/svg+xml"
    return None


def _image_suffix(data: bytes) -> str:
    """The file extension an image's bytes call for (``.png`` when unknown)."""
    return _TYPE_EXTENSIONS.get(_sniff_image_type(data[:64]) or "", ".png")


def _basename(name: str) -> str:
    """The last path component by the rules of this platform: on POSIX a
    backslash is a character of a file name (``a\\b.png`` stays whole), on
    Windows it separates, as ``/`` does everywhere."""
    return os.path.basename(name)


def _escape_param(value: str) -> str:
    """WHATWG escaping of a multipart ``name`` / ``filename`` value."""
    return value.replace("\n", "%0A").replace("\r", "%0D").replace('"', "%22")


def _file_tuple(value: object, label: str) -> Tuple[Optional[str], object, Optional[str], Optional[Mapping[str, str]]]:
    """(filename, content, content type, part headers) of a file input: a
    ``(filename, content[, content_type[, headers]])`` tuple, or the content
    alone. ``application/octet-stream`` counts as no type (it is never sent)."""
    if not isinstance(value, tuple):
        return None, value, None, None
    given = cast("Tuple[object, ...]", value)
    shape = f"{label}: a file tuple is (filename, content[, content_type[, headers]])"
    if not 2 <= len(given) <= 4:
        raise TypeError(shape)
    name, content, kind, more = (*given, None, None)[:4]
    if not all(
        value is None or isinstance(value, expected) for value, expected in ((name, str), (kind, str), (more, Mapping))
    ):
        raise TypeError(f"{shape}, where filename and content_type are strings (or None) and headers a mapping")
    name, kind = cast("Optional[str]", name), cast("Optional[str]", kind)
    headers = cast("Optional[Mapping[str, str]]", more)
    _check_part_headers(label, kind, headers or {})
    return name, content, None if kind == "application/octet-stream" else kind, headers


def _check_part_headers(label: str, kind: Optional[str], headers: Mapping[str, str]) -> None:
    """A file part's content type and headers can go on the wire (see ``_check_header``)."""
    if kind is not None:
        _check_header("Content-Type", kind, f"{label}: the content type")
    for header, text in headers.items():
        _check_header(header, text, f"{label}: the part headers")


def _file_source(content: object, label: str) -> Tuple[Union[str, bytes, IO[bytes]], Any, int, int, Optional[str]]:
    """(source, first bytes, size, offset, name) of a file's content: a path
    (reopened for a retry), bytes, or a binary file object (a pipe or socket
    is spooled to a temporary file first, so a retry can read it again)."""
    if isinstance(content, (str, os.PathLike)):
        path = os.fsdecode(cast("Union[str, os.PathLike[str], os.PathLike[bytes]]", content))
        with _open_regular(path, label) as handle:
            head = handle.read(16)
            size = os.fstat(handle.fileno()).st_size
        return path, head, size, 0, path
    if isinstance(content, (bytes, bytearray, memoryview)):
        data = bytes(cast("Union[bytes, bytearray, memoryview]", content))
        return data, data[:16], len(data), 0, None
    if not hasattr(content, "read"):
        raise TypeError(
            f"{label}: expected a path, bytes, a binary file object or a "
            f"(filename, content[, content_type]) tuple, not {type(content).__name__}"
        )
    if isinstance(content, io.TextIOBase):
        raise TypeError(f"{label}: open the file in binary mode ('rb'), not text mode")
    stream = cast("IO[Any]", content)  # checked by the caller: read() must return bytes
    name = getattr(stream, "name", None)
    named = os.fsdecode(name) if isinstance(name, (str, bytes)) else None
    if _seekable(stream):
        offset = stream.tell()
        head = stream.read(16)
        size = stream.seek(0, 2) - offset
        stream.seek(offset)
        return stream, head, size, offset, named
    spooled = _spool(stream, label)  # pipes and sockets cannot be re-read
    size = spooled.seek(0, 2)
    spooled.seek(0)
    return spooled, spooled.read(16), size, 0, named


def _part_name_and_type(
    filename: Optional[str], content_type: Optional[str], head: bytes, label: str, stem: str
) -> Tuple[str, str]:
    """A part's file name (the base name; made from ``stem`` and the type when
    there is none) and its type: the caller's, else the bytes', else the
    name's extension; none of them is an error (``application/octet-stream``
    is never sent: the API refuses it)."""
    # a name that is not valid UTF-8 (surrogate escapes from the file system) is sent with U+FFFD
    base = _basename(filename).encode("utf-8", "surrogateescape").decode("utf-8", "replace") if filename else ""
    found = content_type or _sniff_image_type(head) or _EXTENSION_TYPES.get(os.path.splitext(base)[1].lower())
    if found is None:
        shown = f" ({base})" if base else ""
        raise ValueError(
            f"{label}{shown}: cannot tell the image type; the API accepts PNG, JPEG and "
            "WebP. Pass a real image file, or a (filename, data, 'image/png') tuple"
        )
    if not base:
        subtype = found.split("/")[-1].split(";")[0].strip()
        base = stem + _TYPE_EXTENSIONS.get(found, "." + subtype)
    return base, found


class FilePart:
    """One file of a multipart body: field name, file name, media type and a
    source that can be read again for a retry (a path is reopened, a file
    object is seeked back to where it was, bytes are reused).

    Build it with ``FilePart.from_input(field, value)``, which accepts a path
    (``str`` or ``PathLike``), bytes, a binary file object, or a tuple
    ``(filename, content[, content_type[, headers]])``. The media type is the
    one given, else sniffed from the magic bytes, else taken from the file
    extension; ``application/octet-stream`` is never sent (the API rejects it).
    """

    def __init__(
        self,
        field_name: str,
        filename: str,
        content_type: str,
        size: int,
        source: Union[str, bytes, IO[bytes]],
        offset: int = 0,
        headers: Optional[Mapping[str, str]] = None,
    ) -> None:
        self.field_name = field_name
        self.filename = filename
        self.content_type = content_type
        self.size = size
        self.source = source
        self.offset = offset
        self.headers = dict(headers or {})
        self.origin: Optional[FilePart] = None

    @classmethod
    def from_input(
        cls, field_name: str, value: object, *, label: Optional[str] = None, stem: str = "image"
    ) -> FilePart:
        """Normalise one file input; ``label`` (``image[2]``, ``mask``) names it in errors.
        A ``FilePart`` is taken as it is, under ``field_name``. In the manner of
        httpx's ``FileField``: the tuple is unpacked, the content opened (or
        spooled) where it can be read again, then the type and name decided."""
        if isinstance(value, FilePart):
            if value.field_name == field_name:
                return value
            part = cls(field_name, value.filename, value.content_type, value.size, value.source, value.offset)
            part.headers, part.origin = value.headers, value  # the origin owns a spooled copy: keep it alive
            return part
        label = label or field_name
        filename, content, content_type, headers = _file_tuple(value, label)
        source, head, size, offset, named = _file_source(content, label)
        filename = filename if filename is not None else named
        if isinstance(head, str):
            raise TypeError(f"{label}: open the file in binary mode ('rb'), not text mode")
        base, content_type = _part_name_and_type(filename, content_type, head, label, stem)
        part = cls(field_name, base, content_type, size, source, offset, headers)
        if source is not content and hasattr(source, "close"):  # a spooled copy: closed with the part
            weakref.finalize(part, cast("IO[bytes]", source).close)
        return part

    def header_block(self) -> bytes:
        """The part's header lines (``Content-Disposition``, ``Content-Type``, extra headers) and the blank line."""
        lines = [
            f'Content-Disposition: form-data; name="{_escape_param(self.field_name)}"; '
            f'filename="{_escape_param(self.filename)}"',
            f"Content-Type: {self.content_type}",
        ]
        lines.extend(f"{name}: {value}" for name, value in self.headers.items())
        return ("\r\n".join(lines) + "\r\n").encode("utf-8")

    def iter_content(self) -> Iterator[Union[bytes, memoryview]]:
        """Yield the content in blocks; fail clearly if the file changed size."""
        if isinstance(self.source, bytes):
            yield self.source
            return
        if isinstance(self.source, str):
            with _open_regular(self.source, self.field_name) as handle:
                yield from self._blocks(handle)
        else:
            self.source.seek(self.offset)
            yield from self._blocks(self.source)

    def _blocks(self, handle: IO[bytes]) -> Iterator[Union[bytes, memoryview]]:
        remaining = self.size
        buffer = bytearray(min(_UPLOAD_BLOCK, max(remaining, 1)))
        view = memoryview(buffer)
        readinto = getattr(handle, "readinto", None)
        try:
            while remaining > 0:
                want = min(len(buffer), remaining)
                if readinto is not None:
                    count = readinto(view[:want])
                else:  # a file object with read() only
                    block = cast(object, handle.read(want))  # a file object may return anything
                    if not isinstance(block, bytes):
                        raise TypeError(f"{self.filename}: read() must return bytes, not {type(block).__name__}")
                    count = len(block)
                    view[:count] = block
                if not count:
                    raise OpenAIError(
                        f"{self.filename}: the file shrank while it was being uploaded "
                        f"({self.size - remaining} of {self.size} bytes sent)"
                    )
                remaining -= count
                yield view[:count]
            if handle.read(1):
                raise OpenAIError(
                    f"{self.filename}: the file grew while it was being uploaded (expected {self.size} bytes)"
                )
        finally:
            view.release()

    def __repr__(self) -> str:
        return (
            f"FilePart({self.field_name!r}, filename={self.filename!r}, "
            f"content_type={self.content_type!r}, size={self.size})"
        )


def _spool(stream: IO[Any], label: str) -> IO[bytes]:
    """Copy a stream that cannot be re-read (a pipe, a socket) to an anonymous
    temporary file, 1 MiB at a time: memory stays flat, and every attempt
    re-reads the copy. Reading the stream itself is not covered by the call's
    abort or timeouts: it happens when the request is built."""
    import tempfile

    try:
        spool = tempfile.TemporaryFile()  # noqa: SIM115  # returned open: the FilePart owns it
    except OSError as exc:  # an unwritable TMPDIR, a read-only system
        raise OSError(
            exc.errno,
            f"{label}: a stream that cannot be read twice is copied to a temporary file first, and none could be "
            f"made in {_temp_dir()} ({exc.strerror or exc}); set TMPDIR to a writable directory, or pass bytes or "
            "a file that can seek",
        ) from None
    try:
        while True:
            block = stream.read(_UPLOAD_BLOCK)
            if not block:
                spool.flush()
                # read back through a plain reader: PyPy's read-write buffer loses its place
                # after a read, a seek and readinto()
                return os.fdopen(os.dup(spool.fileno()), "rb")
            if not isinstance(block, bytes):
                raise TypeError(f"{label}: the file object must return bytes from read()")
            spool.write(block)
    finally:
        spool.close()


def _temp_dir() -> str:
    """The temporary directory (``tempfile.gettempdir()`` raises when none is usable: then a description)."""
    import tempfile

    try:
        return tempfile.gettempdir()
    except OSError:
        return "TMPDIR, /tmp, /var/tmp"


def _open_regular(path: str, label: str) -> IO[bytes]:
    """Open ``path`` for reading if it is a regular file. A FIFO, socket or
    device is refused at once (opening a FIFO would block until a writer
    comes); so are directories and missing files, each with its own message."""
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise FileNotFoundError(2, f"{label}: no such file", path) from None
    except IsADirectoryError:
        raise IsADirectoryError(21, f"{label}: is a directory, not a file", path) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(21, f"{label}: is a directory, not a file", path)
        raise ValueError(
            f"{label}: {path} is not a regular file (a pipe, FIFO, socket or device); "
            "pass an open binary file object or bytes instead"
        )
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def _seekable(stream: Any) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def form_fields(name: str, value: object) -> List[Tuple[str, str]]:
    """Flatten one form value the way the official SDK does: ``None`` omitted,
    booleans ``true``/``false``, mappings as ``name[key]``, lists as ``name[]``."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        mapping = cast("Mapping[object, object]", value)
        return [pair for key, item in mapping.items() for pair in form_fields(f"{name}[{key}]", item)]
    if isinstance(value, (list, tuple)):
        return [pair for item in cast("Sequence[object]", value) for pair in form_fields(f"{name}[]", item)]
    return [(name, _form_text(value))]


class MultipartEncoder:
    """A ``multipart/form-data`` body with a known length, re-iterable for retries.

    Text fields come first, then the files in order. Memory stays flat: file
    content is read in 1 MiB blocks while sending. ``content_length`` is
    exact before a byte is read; every ``iter_chunks()`` call starts a fresh
    pass over the same bytes (apart from file changes, which raise).
    """

    def __init__(
        self,
        fields: Sequence[Tuple[str, str]],
        files: Sequence[FilePart] = (),
        boundary: Optional[str] = None,
    ) -> None:
        self.boundary = boundary or os.urandom(16).hex()
        self.fields = list(fields)
        self.files = list(files)
        delimiter = f"--{self.boundary}\r\n".encode("ascii")
        text = bytearray()
        for name, value in self.fields:
            text += delimiter
            text += f'Content-Disposition: form-data; name="{_escape_param(name)}"\r\n\r\n'.encode()
            text += value.encode("utf-8") + b"\r\n"
        self._text = bytes(text)
        self._file_heads = [delimiter + part.header_block() + b"\r\n" for part in self.files]
        self._closing = f"--{self.boundary}--\r\n".encode("ascii")
        self.content_length = (
            len(self._text)
            + sum(len(head) + part.size + 2 for head, part in zip(self._file_heads, self.files))
            + len(self._closing)
        )

    @property
    def content_type(self) -> str:
        """The ``Content-Type`` header value, boundary included."""
        return f"multipart/form-data; boundary={self.boundary}"

    def iter_chunks(self) -> Iterator[Union[bytes, memoryview]]:
        """A fresh iterator over the whole body (memoryviews are valid until the next item)."""
        if self._text:
            yield self._text
        for head, part in zip(self._file_heads, self.files):
            yield head
            yield from part.iter_content()
            yield b"\r\n"
        yield self._closing

    def to_bytes(self) -> bytes:
        """The whole body in memory (for tests and small bodies)."""
        return b"".join(bytes(chunk) for chunk in self.iter_chunks())

    def describe(self) -> str:
        """A short summary without file content, for logs and dry runs."""
        files = ", ".join(f"{p.field_name}={p.filename} ({p.content_type}, {p.size} bytes)" for p in self.files)
        names = ", ".join(name for name, _ in self.fields)
        return f"multipart fields [{names}] files [{files}] ({self.content_length} bytes)"


# -- server-sent events --------------------------------------------------------


class ServerSentEvent:
    """One dispatched event. ``event`` defaults to ``"message"``; ``id`` is the
    last event id seen (``None`` if the stream never sent one); ``retry`` is a
    valid ``retry`` value from this event's block, else ``None``."""

    __slots__ = ("data", "event", "id", "retry")

    def __init__(
        self, event: str = "message", data: str = "", id: Optional[str] = None, retry: Optional[int] = None
    ) -> None:
        self.event = event
        self.data = data
        self.id = id
        self.retry = retry

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ServerSentEvent) and (self.event, self.data, self.id, self.retry) == (
            other.event,
            other.data,
            other.id,
            other.retry,
        )

    def __repr__(self) -> str:
        data = self.data if len(self.data) <= 80 else f"<{len(self.data)} chars>"
        return f"ServerSentEvent(event={self.event!r}, data={data!r}, id={self.id!r}, retry={self.retry!r})"


class EventTooLargeError(ValueError):
    """More than ``SSEParser.max_event_bytes`` since the last event: an event or
    a line too long, or comments and blank lines that never end.
    ``events`` are the events completed before it in the same chunk."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.events: List[ServerSentEvent] = []


class SSEParser:
    """An incremental ``text/event-stream`` parser following the WHATWG rules.

    ``feed(chunk)`` returns the events completed by that chunk, whatever the
    chunking: CR, LF and CRLF (also split across chunks), one leading BOM,
    one leading space stripped, data lines joined with LF, no event for a
    block without data, sticky ``id`` (ignored if it contains NUL),
    digits-only ``retry``. Lines are split as bytes and decoded as UTF-8 one
    by one (invalid bytes become U+FFFD). Linear time; memory bounded by
    ``max_event_bytes`` (a longer line or event raises ``EventTooLargeError``,
    a ``ValueError``).
    ``close()`` ends the stream, discards an unterminated block and returns
    whether anything was pending.
    """

    _blank_lines: Any = None  # a run of line ends, which are blank lines after a line end

    def __init__(self, max_event_bytes: Optional[int] = 64 * 1024 * 1024) -> None:
        if SSEParser._blank_lines is None:
            import re

            SSEParser._blank_lines = re.compile(rb"[\r\n]*")
        self.max_event_bytes = max_event_bytes
        self.last_event_id: Optional[str] = None
        self.retry: Optional[int] = None
        self._fragments: List[bytes] = []
        self._fragment_bytes = 0
        self._skip_lf = False
        self._first_line = True
        self._data: List[str] = []
        self._block_bytes = 0
        self._event = ""
        self._id: Optional[str] = None
        self._block_retry: Optional[int] = None
        self._pending_fields = False

    def feed(self, chunk: bytes) -> List[ServerSentEvent]:
        """Parse the next bytes of the stream and return the events they
        complete (possibly none). Chunks may split lines, CRLF pairs and UTF-8
        characters anywhere; the events do not depend on the chunking. Past
        ``max_event_bytes`` it raises ``EventTooLargeError``, whose ``events``
        are those the chunk completed before the oversized one."""
        events: List[ServerSentEvent] = []
        if chunk:
            try:
                self._feed(chunk, events)
            except EventTooLargeError as exc:
                exc.events = events
                raise
        return events

    def _feed(self, chunk: bytes, events: List[ServerSentEvent]) -> None:
        pos = 0
        if self._skip_lf:
            self._skip_lf = False
            if chunk[0] == 0x0A:
                pos = 1
        size = len(chunk)
        cr = chunk.find(b"\r", pos)
        lf = chunk.find(b"\n", pos)
        while cr != -1 or lf != -1:
            end, after = self._line_end(chunk, cr, lf)
            line = self._take_line(chunk, pos, end)
            if line or self._pending_fields or self._first_line:
                self._check_size(len(line))  # the same verdict however the line was chunked
                event = self._line(line)  # a blank line dispatches, which starts a new count
                if line:
                    self._block_bytes += len(line) + 1  # a line end counts 1, CRLF too
                if event is not None:
                    events.append(event)
            else:  # a blank line that dispatches nothing: skip the blank lines after it at C speed
                after = self._skip_blank_lines(chunk, after)
            pos = after
            if cr != -1 and cr < pos:
                cr = chunk.find(b"\r", pos)
            if lf != -1 and lf < pos:
                lf = chunk.find(b"\n", pos)
        if pos < size:
            rest = chunk[pos:] if pos else chunk
            self._fragments.append(rest)
            self._fragment_bytes += len(rest)
            self._check_size(self._fragment_bytes)

    def _line_end(self, chunk: bytes, cr: int, lf: int) -> Tuple[int, int]:
        """Where the first line ends (at ``cr`` or ``lf``, the next CR and LF)
        and the next begins: after CRLF, CR or LF. A CR that ends the chunk
        may be half of a CRLF: an LF that starts the next chunk is skipped."""
        if lf != -1 and (cr == -1 or lf < cr):
            return lf, lf + 1
        if cr + 1 == len(chunk):
            self._skip_lf = True
            return cr, cr + 1
        return cr, cr + 2 if chunk[cr + 1] == 0x0A else cr + 1

    def _take_line(self, chunk: bytes, pos: int, end: int) -> bytes:
        """The line that ends at ``end``, joined to the pieces of it earlier chunks held."""
        if not self._fragments:
            return chunk[pos:end]
        self._fragments.append(chunk[pos:end])
        line = b"".join(self._fragments)
        self._fragments = []
        self._fragment_bytes = 0
        return line

    def _skip_blank_lines(self, chunk: bytes, after: int) -> int:
        """Past the blank lines from ``after`` (counted against the limit)."""
        run = after
        if after < len(chunk):
            run = self._blank_lines.match(chunk, after).end()
            if run == len(chunk) and chunk[-1] == 0x0D:
                run -= 1  # a CR at the end may be half of a CRLF: the loop handles it
        self._block_bytes += 1 + run - after - chunk.count(b"\r\n", after, run)
        self._check_size(0)
        return run

    def close(self) -> bool:
        """End of stream: drop what is pending; True if a line or block was cut off."""
        pending = bool(self._fragments) or bool(self._data) or self._pending_fields
        self._fragments = []
        self._fragment_bytes = 0
        self._data = []
        self._block_bytes = 0
        self._event = ""
        self._id = self.last_event_id
        self._pending_fields = False
        return pending

    def _check_size(self, size: int) -> None:
        """Refuse more than ``max_event_bytes`` since the last event: one event,
        one line, or comments and blank lines that never make an event."""
        if self.max_event_bytes is not None and size + self._block_bytes > self.max_event_bytes:
            raise EventTooLargeError(
                f"The server sent more than max_event_bytes ({self.max_event_bytes} bytes) without a complete event"
            )

    def _line(self, line: bytes) -> Optional[ServerSentEvent]:
        if self._first_line:
            self._first_line = False
            if line[:3] == b"\xef\xbb\xbf":
                line = line[3:]
        if not line:
            return self._dispatch()
        if line[0] == 0x3A:  # ":" comment
            return None
        colon = line.find(b":")
        if colon == -1:
            name, start = line, len(line)
        else:
            name, start = line[:colon], colon + 1
            if line[start : start + 1] == b" ":
                start += 1
        if name == b"data":  # decoded in place: a 1 MB image line is not copied twice more
            self._data.append(str(memoryview(line)[start:], "utf-8", "replace"))
            self._pending_fields = True
        elif name in (b"event", b"id", b"retry"):
            self._field(name, line[start:])
            self._pending_fields = True
        return None  # any other field is ignored

    def _field(self, name: bytes, value: bytes) -> None:
        """``event``, ``id`` (ignored if it holds NUL) or ``retry`` (ignored unless ASCII digits)."""
        if name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id" and b"\x00" not in value:
            self._id = value.decode("utf-8", "replace")
        elif name == b"retry" and value.isdigit():  # bytes.isdigit() is ASCII-only
            try:
                self._block_retry = self.retry = int(value)
            except ValueError:  # more digits than int() takes: a value that cannot be used is ignored
                pass

    def _dispatch(self) -> Optional[ServerSentEvent]:
        self.last_event_id = self._id
        self._pending_fields = False
        retry, self._block_retry = self._block_retry, None
        event_type, self._event = self._event, ""
        if not self._data:
            return None
        data = self._data[0] if len(self._data) == 1 else "\n".join(self._data)
        self._data = []
        self._block_bytes = 0
        return ServerSentEvent(event_type or "message", data, self.last_event_id, retry)


# =============================================================================
# Transport: urllib with captured sockets, so that abort works at every stage
# =============================================================================


class _Replay(io.RawIOBase):
    """The first byte of a response, read while the upload was still
    going (to see whether the server had answered), then the rest."""

    def __init__(self, head: bytes, rest: Any) -> None:
        super().__init__()
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            count = min(len(buffer), len(self._head))
            buffer[:count] = self._head[:count]
            self._head = self._head[count:]
            return count
        data = self._rest.read1(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._rest.close()
        super().close()


class _CallConnection:
    """Resolves names and connects under the call's control, registers
    every socket with the call before connecting (abort shuts it down),
    and watches for an early answer while uploading."""

    _oi_call: _Call
    _oi_read_timeout: Optional[float]
    _oi_response_class: Any  # set by each connection class: the response class to read with
    sock: Any
    response_class: Any

    def __init__(self, *args: Any, oi_call: _Call, oi_read_timeout: Optional[float], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._oi_call = oi_call
        self._oi_read_timeout = oi_read_timeout
        self._create_connection = self._oi_open_socket
        self.response_class = self._oi_response_class
        self._oi_head = b""  # what the server sent while the request was being sent

    def _oi_open_socket(self, address: Tuple[str, int], timeout: Any, source_address: Any = None) -> socket.socket:
        import socket

        host, port = address
        limit = None if timeout is socket._GLOBAL_DEFAULT_TIMEOUT else timeout  # type: ignore[attr-defined]
        error: Optional[OSError] = None
        for family, kind, proto, _, addr in _resolve(self._oi_call, host, port, limit):
            sock = socket.socket(family, kind, proto)
            self._oi_call.attach(sock)
            try:
                sock.settimeout(limit)
                if source_address:
                    sock.bind(source_address)
                sock.connect(addr)
                return sock
            except OSError as exc:
                sock.close()
                error = exc
                if self._oi_call.aborted:
                    break
        raise error or OSError(f"getaddrinfo returned no address for {host}")

    def _oi_connected(self) -> None:
        self.sock.settimeout(self._oi_read_timeout)
        self._oi_call.connected = True

    def send(self, data: Any) -> None:
        """Send as http.client does, but stop when the server answers
        (or closes) before it has read the whole request: its answer
        (a 401, a 413) is then read as the response, instead of the
        upload failing with a broken pipe or stalling. The socket is
        non-blocking meanwhile, so no send can hide an answer."""
        import contextlib

        if self.sock is None:
            self.connect()  # type: ignore[attr-defined]
        view = memoryview(data)
        if view.format != "B" or view.ndim != 1:
            view = view.cast("B")  # (PyPy sends slices of a cast view very slowly: cast only if needed)
        sock = cast("socket.socket", self.sock)
        limit = sock.gettimeout()
        try:
            sock.settimeout(0.0)
            self._oi_upload(sock, view, limit)
        finally:
            with contextlib.suppress(OSError):  # a socket closed under us has no timeout to restore
                sock.settimeout(limit)

    def _oi_upload(self, sock: socket.socket, view: memoryview, limit: Optional[float]) -> None:
        """``send``'s loop on the non-blocking socket: wait until it can
        write or has something to read (at most ``limit``), and stop at an
        abort or an answer."""
        import socket

        call = self._oi_call
        largest = 1 << 14 if hasattr(sock, "pending") else 1 << 20  # TLS: one record per send
        ssl = sys.modules.get("ssl")
        later = (BlockingIOError,) + ((ssl.SSLWantReadError, ssl.SSLWantWriteError) if ssl else ())
        while view and not call.answered_early:
            if call.aborted:  # the socket is shut down (or, on Windows, closed)
                call.answered_early = True
                return
            readable, writable = _wait_io(sock, limit)
            if readable and self._oi_answered():
                return
            if not (readable or writable):
                raise socket.timeout("timed out")
            view = view[self._oi_send_some(sock, view[:largest], later) :]

    def _oi_send_some(self, sock: socket.socket, block: memoryview, later: Tuple[Type[BaseException], ...]) -> int:
        """Send what the socket takes of ``block``: 0 when its buffer is full
        (``later``: TLS then retries the same bytes), or when the server closed
        it (then ``answered_early``: read what it said)."""
        try:
            return sock.send(block)
        except later:
            return 0
        except OSError:  # reset, broken pipe, TLS EOF
            self._oi_call.answered_early = True
            return 0

    def _oi_answered(self) -> bool:
        """Something arrived during the upload (the socket is
        non-blocking). True when it is the server's final answer (a
        status of 200 or more) or its close; false for interim 1xx
        responses (kept, and skipped when the response is read) and
        TLS records such as session tickets."""
        try:
            data = self.sock.recv(65536)
        except OSError as exc:
            ssl = sys.modules.get("ssl")
            waiting = (BlockingIOError,) + ((ssl.SSLWantReadError, ssl.SSLWantWriteError) if ssl else ())
            if isinstance(exc, waiting):
                return False
            data = b""  # reset or closed: no answer to read
        if data:
            import functools

            self._oi_head += data
            self.response_class = functools.partial(self._oi_response_class, oi_head=self._oi_head)
            if _only_interim(self._oi_head):
                return False
        self._oi_call.answered_early = True
        return True


def _open_handler_class() -> Any:
    """The urllib handler of this module's connections, and the classes it
    needs that subclass http.client's: made on first use (``_Network``), so
    that importing this module loads no network module. A Python built
    without ssl has no ``HTTPSConnection``: then https is refused before any
    traffic (``HTTPTransport``)."""
    import functools
    import http.client
    import urllib.request

    https_base: Any = getattr(http.client, "HTTPSConnection", None)

    class HTTPResponse(http.client.HTTPResponse):
        """Skips every 1xx interim response (``103 Early Hints``), not only
        ``100``, and puts back the byte of an early answer."""

        def __init__(self, sock: Any, *args: Any, oi_head: bytes = b"", **kwargs: Any) -> None:
            super().__init__(sock, *args, **kwargs)
            if oi_head:
                self.fp = io.BufferedReader(_Replay(oi_head, self.fp))

        def _read_status(self) -> Tuple[str, int, str]:
            while True:
                version, status, reason = cast("Tuple[str, int, str]", super()._read_status())  # type: ignore[misc]
                if not 101 < status < 200:  # begin() skips 100 itself; 101 is final
                    return version, status, reason
                http.client.parse_headers(self.fp)  # pyright: ignore[reportArgumentType]

    class HTTPConnection(_CallConnection, http.client.HTTPConnection):
        _oi_response_class = HTTPResponse

        def connect(self) -> None:
            super().connect()
            self._oi_connected()

    class HTTPSConnection(_CallConnection, https_base or http.client.HTTPConnection):  # type: ignore[misc]
        _oi_response_class = HTTPResponse
        _context: ssl.SSLContext
        _tunnel_host: Optional[str]

        def connect(self) -> None:
            # HTTPSConnection.connect, with the handshake after the TLS
            # socket is registered, so that abort can interrupt it.
            http.client.HTTPConnection.connect(self)
            server_hostname = cast(str, self._tunnel_host or self.host)  # pyright: ignore[reportUnknownMemberType]
            sock = self._context.wrap_socket(self.sock, server_hostname=server_hostname, do_handshake_on_connect=False)
            self.sock = sock
            self._oi_call.attach(sock)
            sock.do_handshake()
            self._oi_connected()

    class OpenHandler(urllib.request.AbstractHTTPHandler):
        def __init__(self, context: Callable[[], ssl.SSLContext]) -> None:
            super().__init__()
            self._context = context

        def http_open(self, req: Any) -> http.client.HTTPResponse:
            return self.do_open(
                functools.partial(HTTPConnection, oi_call=req.oi_call, oi_read_timeout=req.oi_read_timeout), req
            )

        def https_open(self, req: Any) -> http.client.HTTPResponse:
            return self.do_open(
                functools.partial(HTTPSConnection, oi_call=req.oi_call, oi_read_timeout=req.oi_read_timeout),
                req,
                context=self._context(),
            )

        http_request = urllib.request.AbstractHTTPHandler.do_request_
        https_request = urllib.request.AbstractHTTPHandler.do_request_

    return OpenHandler


class _Network:
    """The network classes, built on first use so that importing this module
    does not load urllib, http.client, ssl or email."""

    _instance: Optional[_Network] = None
    _lock = _thread.allocate_lock()  # (threading.Lock is this)

    @classmethod
    def get(cls) -> _Network:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def __init__(self) -> None:
        import http.client
        import socket
        import urllib.error
        import urllib.request

        self.http_client = http.client
        self.socket = socket
        # a Python built without OpenSSL has no ssl module, hence no http.client.HTTPSConnection
        self.has_tls = hasattr(http.client, "HTTPSConnection")
        self.urllib_request = urllib.request
        self.URLError = urllib.error.URLError
        self.OpenHandler = _open_handler_class()

    def opener(self, config: OpenAIConfig) -> urllib.request.OpenerDirector:
        """An opener with only what an API client needs: proxies, http(s), no
        redirects (a 3xx is returned, and reported as an error), no file: or
        ftp:. The TLS context is made on the first https request."""
        request = self.urllib_request
        made: List[ssl.SSLContext] = []
        lock = threading.Lock()

        def context() -> ssl.SSLContext:
            with lock:
                if not made:
                    if config.ssl_context is not None:
                        made.append(config.ssl_context)
                    else:
                        import ssl

                        default = ssl.create_default_context()
                        default.set_alpn_protocols(["http/1.1"])
                        made.append(default)
                return made[0]

        opener: urllib.request.OpenerDirector = request.OpenerDirector()
        opener.addheaders = []
        proxies = None if config.proxies is None else dict(config.proxies)
        if proxies is None:  # from the environment: the same rules as for explicit proxies
            for scheme, proxy in request.getproxies().items():
                if scheme in ("http", "https"):
                    _check_proxy(scheme, proxy, f"the {scheme.upper()}_PROXY environment variable")
        for handler in (request.ProxyHandler(proxies), self.OpenHandler(context), request.UnknownHandler()):
            opener.add_handler(handler)
        return opener


class _Lookup:
    """One name lookup in progress, shared by every call that waits for it."""

    def __init__(self) -> None:
        self.waiters: List[threading.Event] = []
        self.found: Dict[str, Any] = {}  # "addresses" or "error", once finished


_LOOKUPS: Dict[Tuple[str, int], _Lookup] = {}
_LOOKUPS_LOCK = _thread.allocate_lock()  # (threading.Lock is this)


def _resolve(call: _Call, host: str, port: int, timeout: Optional[float]) -> List[Any]:
    """``getaddrinfo`` that abort, the ``total`` deadline and the connect
    timeout can cut short. A lookup cannot be interrupted, so a host name is
    resolved in a daemon thread, one per name however many calls wait for
    it; a call that stops waiting leaves it behind, and it ends on its own
    (bounded by the system resolver's timeouts). An IP address needs none."""
    import socket

    try:
        return socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
    except socket.gaierror:
        pass
    wake = threading.Event()
    with _LOOKUPS_LOCK:
        lookup = _LOOKUPS.get((host, port))
        if lookup is None:
            lookup = _LOOKUPS[host, port] = _Lookup()
            name = "openai-images-resolve"
            threading.Thread(target=_look_up, args=(host, port, lookup), name=name, daemon=True).start()
        lookup.waiters.append(wake)
    call.on_abort(wake.set)
    wake.wait(timeout)
    with _LOOKUPS_LOCK:
        found = dict(lookup.found)
        if wake in lookup.waiters:
            lookup.waiters.remove(wake)
    if call.aborted:
        raise ConnectionAbortedError(f"aborted while resolving {host}")
    if "addresses" in found:
        addresses: List[Any] = found["addresses"]
        return addresses
    if "error" in found:
        raise found["error"]
    raise socket.timeout(f"resolving {host} took longer than {timeout:g} s")


def _look_up(host: str, port: int, lookup: _Lookup) -> None:
    import socket

    try:
        found: Dict[str, Any] = {"addresses": socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)}
    except BaseException as exc:  # handed to the callers
        found = {"error": exc}
    with _LOOKUPS_LOCK:
        lookup.found = found
        del _LOOKUPS[host, port]
        waiters = list(lookup.waiters)
    for wake in waiters:
        wake.set()


def _only_interim(head: bytes) -> bool:
    """Whether ``head``, the start of a response, holds only interim 1xx
    responses so far (complete or not), and no final status yet."""
    while head:
        line_end = head.find(b"\n")
        if line_end == -1:
            return len(head) < 65536 and (head.startswith(b"HTTP/") or b"HTTP/".startswith(head))
        if not _is_interim_status_line(head[:line_end]):
            return False  # a final status, or not HTTP: the response parser reads it
        block_end = head.find(b"\r\n\r\n")
        if block_end == -1:
            return True  # the interim response's headers are still coming
        head = head[block_end + 4 :]
    return True


def _is_interim_status_line(line: bytes) -> bool:
    """``HTTP/x 1xx …``, except 101 (a protocol switch is final)."""
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        return False
    return 100 <= int(parts[1]) < 200 and parts[1] != b"101"


def _wait_io(sock: socket.socket, timeout: Optional[float]) -> Tuple[bool, bool]:
    """Wait until ``sock`` can be read (or has an error) or written: ``(readable, writable)``."""
    import select

    if sock.fileno() < 0:  # closed under us (an abort on Windows): as if something arrived
        return True, False
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN | select.POLLOUT)
        mask = 0
        for _, events in poller.poll(None if timeout is None else timeout * 1000):
            mask |= events
        closed = select.POLLIN | select.POLLERR | select.POLLHUP | select.POLLNVAL
        return bool(mask & closed), bool(mask & select.POLLOUT)
    readable, writable, _ = select.select([sock], [sock], [], timeout)
    return bool(readable), bool(writable)


class _LocalFailure(Exception):
    """Carries an error raised while reading the upload's files (removed,
    changed, unreadable) through http.client and urllib, which would take an
    ``OSError`` for a network failure and retry it."""

    def __init__(self, error: Exception) -> None:
        super().__init__("reading the upload failed")
        self.error = error


def _upload(chunks: Iterator[Union[bytes, memoryview]], call: _Call) -> Generator[Union[bytes, memoryview], None, None]:
    """The body's chunks until the end, or until the server answers early."""
    try:
        for chunk in chunks:
            if call.answered_early:
                return
            yield chunk
    except Exception as exc:
        raise _LocalFailure(exc) from None
    finally:
        cast(Any, chunks).close()  # closes the files opened for this attempt


class HTTPTransport:
    """The innermost handler: sends a ``Request`` and returns a ``Response``
    whose body has been read (or, for a stream, not yet). Every status is
    returned as a response. Only network failures (``OSError``,
    ``http.client.HTTPException``, ``URLError``) become ``APIConnectionError``
    / ``APITimeoutError``; anything after an abort becomes the abort's error;
    a local mistake (a bad header, a file removed) is raised as it is."""

    def __init__(self, config: OpenAIConfig) -> None:
        self.config = config
        self._opener: Optional[urllib.request.OpenerDirector] = None
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        call = _call_of(request)
        call.check(request)
        for name, value in request.headers.items():  # interceptors may have added some
            _check_header(name, value, "request")
        net = _Network.get()
        if not net.has_tls and request.url[:8].lower() == "https://":  # before any traffic; never retried
            raise OpenAIError(
                f"{_redact_url(request.url.split('?', 1)[0])} needs TLS, but this Python has no ssl module "
                "(it was built without OpenSSL): use a Python with ssl, or an http:// base URL"
            )
        call.stage = CallStage.DURING_REQUEST
        call.connected = call.answered_early = False
        raw = _open(net, self._opener_of(net), request, call)
        call.stage = CallStage.DURING_RESPONSE
        call.on_finish(raw.close)
        response = Response(raw.status, _joined_headers(raw.headers.items()), request, reason=raw.reason or "")
        response.raw = _BodyReader(raw, call, response)
        if not request.extensions.get("stream"):  # read here, inside the retry loop: a body cut short is retried
            if response.status_code >= 300:
                response.read_capped(self.config.max_error_body_bytes)
            else:
                response.read(self.config.max_response_bytes)
        return response

    def _opener_of(self, net: _Network) -> urllib.request.OpenerDirector:
        """urllib's opener for this configuration, made on first use (one per transport)."""
        with self._lock:
            if self._opener is None:
                self._opener = net.opener(self.config)
            return self._opener


def _joined_headers(items: Iterable[Tuple[str, str]]) -> Headers:
    """Response headers; a repeated header is one comma-separated list (RFC 9110)."""
    headers = Headers()
    for name, value in items:
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def _open(net: _Network, opener: urllib.request.OpenerDirector, request: Request, call: _Call) -> Any:
    """Send ``request`` (uploading its multipart body block by block) and
    return urllib's response once its headers are in; a network failure
    becomes ``APIConnectionError``, anything else is raised as it is."""
    body = request.body
    upload = _upload(body.iter_chunks(), call) if isinstance(body, MultipartEncoder) else None
    try:
        return opener.open(_url_request(net, request, upload), timeout=_timeout_of(request).connect)
    except _LocalFailure as failure:
        raise failure.error from None
    except net.http_client.InvalidURL:
        raise ValueError("The request URL has characters HTTP does not allow; check base_url") from None
    except (OSError, net.http_client.HTTPException) as exc:
        error = _network_error(exc, request, call)
        raise error from error.__cause__
    finally:
        if upload is not None:
            upload.close()


def _url_request(net: _Network, request: Request, upload: Optional[Iterator[Union[bytes, memoryview]]]) -> Any:
    """The urllib request of ``request``: credentials as unredirected headers
    (never carried across a redirect), a multipart body sent block by block
    (``upload``) with its length, and the call and read timeout for the connection."""
    body = request.body
    plain = {k: v for k, v in request.headers.items() if not _is_secret_header(k)}
    if isinstance(body, MultipartEncoder):
        plain["Content-Length"] = str(body.content_length)
    data: Any = body if upload is None else upload  # bytes, or an iterator of blocks sent as they are
    url_request = net.urllib_request.Request(request.url, data=data, headers=plain, method=request.method)
    for name, value in request.headers.items():
        if _is_secret_header(name):
            url_request.add_unredirected_header(name, value)
    url_request.oi_call = _call_of(request)  # pyright: ignore[reportAttributeAccessIssue]
    url_request.oi_read_timeout = _timeout_of(request).read  # pyright: ignore[reportAttributeAccessIssue]
    return url_request


class _BodyReader:
    """Reads an ``http.client.HTTPResponse`` for a ``Response``: failures
    become API errors, and after an abort every read (even one that returned
    bytes, or the ``b""`` a shut-down socket gives) raises the abort's error."""

    def __init__(self, raw: http.client.HTTPResponse, call: _Call, response: Response) -> None:
        self._raw = raw
        self._call = call
        self._response = response

    def read1(self, size: int) -> bytes:
        response = self._response
        try:
            chunk = self._raw.read1(size)
        except Exception as exc:
            network = (OSError, _Network.get().http_client.HTTPException)
            if not isinstance(exc, network) and not self._call.aborted:
                raise  # not a network failure: a bug to see, not to retry
            error = _network_error(exc, response.request, self._call, response.request_id)
            raise error from error.__cause__
        self._call.check(response.request, response.request_id)
        return chunk

    def close(self) -> None:
        try:
            self._raw.close()
        except Exception:  # closing a socket that was shut down can fail; nothing to do
            pass

    @property
    def closed(self) -> bool:
        """Whether the connection under the body is closed (by anyone: an abort, the call's end)."""
        return self._raw.isclosed()


def _network_error(exc: BaseException, request: Request, call: _Call, request_id: Optional[str] = None) -> APIError:
    """Translate a network failure from urllib, http.client, socket or ssl
    (or, after an abort, anything) into the API error to raise; a connection
    error's ``__cause__`` is the failure underneath (unwrapped from ``URLError``)."""
    if call.aborted:
        return call.error(request, request_id)
    error = _connection_error(exc, request, call, request_id)
    reason = exc.reason if isinstance(exc, _Network.get().URLError) else exc
    error.__cause__ = _scrubbed_chain(reason if isinstance(reason, BaseException) else exc, _secrets_sent(request))
    return error


def _scrubbed_chain(exc: BaseException, secrets: Tuple[str, ...]) -> BaseException:
    """``exc`` and the exceptions behind it with the request's credentials
    scrubbed from their arguments (a server can put the key in a status
    line), since a traceback prints them."""
    seen: Set[int] = set()
    current: Optional[BaseException] = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        scrubbed = [_scrubbed_arg(arg, secrets) for arg in current.args]
        if scrubbed != list(current.args):
            try:
                current.args = tuple(scrubbed)
            except (AttributeError, TypeError):  # an exception that forbids it: drop it instead
                return OSError(_scrub_text(str(exc), secrets))
        current = current.__cause__ or current.__context__
    return exc


def _connection_error(exc: BaseException, request: Request, call: _Call, request_id: Optional[str]) -> APIError:
    net = _Network.get()
    reason: BaseException = exc
    if isinstance(exc, net.URLError) and isinstance(exc.reason, BaseException):
        reason = exc.reason
    elif isinstance(exc, net.URLError):
        return APIConnectionError(f"Connection error: {exc.reason}", request, request_id=request_id)
    host = request.url.split("://", 1)[-1].split("/", 1)[0].split("?", 1)[0]
    if isinstance(reason, net.socket.timeout):
        return _timeout_error(request, call, host, request_id)
    return APIConnectionError(_failure_text(net, reason, host), request, request_id=request_id)


def _failure_text(net: _Network, reason: BaseException, host: str) -> str:
    """What went wrong with the connection to ``host``, with a hint for TLS verification."""
    ssl: Any = sys.modules.get("ssl")  # loaded by any TLS connection; absent, no TLS error is possible
    if ssl is not None and isinstance(reason, ssl.SSLCertVerificationError):
        verify: object = getattr(reason, "verify_message", "")
        return (
            f"TLS certificate verification failed for {host}: {verify}. "
            "Pass ssl_context=... with your CA, or set SSL_CERT_FILE."
        )
    if isinstance(reason, net.socket.gaierror):
        return f"Could not resolve host {host}: {reason}"
    if isinstance(reason, ConnectionRefusedError):
        return f"Connection refused by {host}."
    kind = type(reason).__name__
    text = _printable(str(reason)) or kind  # an invalid status line can hold terminal escapes
    return f"Connection error ({kind}): {text}"


def _timeout_error(request: Request, call: _Call, host: str, request_id: Optional[str]) -> APITimeoutError:
    """A connect timeout, or a read timeout once the connection is up."""
    timeout = _timeout_of(request)
    limit = TimeoutLimit.READ if call.connected else TimeoutLimit.CONNECT
    seconds = timeout.read if call.connected else timeout.connect
    what = "no data for" if call.connected else "could not connect within"
    return APITimeoutError(
        f"Request timed out: {what} {seconds:g} s ({limit} timeout, {host}).",
        request,
        limit=limit,
        request_id=request_id,
    )


# =============================================================================
# Interceptors
# =============================================================================

Handler = Callable[[Request], Response]
Interceptor = Callable[[Request, Handler], Response]


class InterceptorChain:
    """Composes interceptors around a handler: the first one is outermost.

    An interceptor is ``(request, next) -> response``; it may change the
    request, call ``next`` zero or more times, and inspect or replace the
    response. The client's chain is: error mapping, your interceptors,
    retry, auth, logging, transport. So your interceptors see each call once,
    with the final response (an error status is still a ``Response``).
    """

    def __init__(self, interceptors: Sequence[Interceptor], handler: Handler) -> None:
        self.interceptors = list(interceptors)
        for interceptor in reversed(self.interceptors):
            handler = _bind(interceptor, handler)
        self._entry = handler

    def __call__(self, request: Request) -> Response:
        """Send ``request`` through every interceptor, outermost first, to the transport."""
        return self._entry(request)


def _bind(interceptor: Interceptor, next_handler: Handler) -> Handler:
    return lambda request: interceptor(request, next_handler)


class _AuthInterceptor:
    """Adds the credentials on every attempt (a callable key is asked again),
    unless the request carries the credential header already or its
    ``extensions["authenticate"]`` is false (``extra_headers`` named it)."""

    def __init__(self, config: OpenAIConfig) -> None:
        self.config = config

    def __call__(self, request: Request, next_handler: Handler) -> Response:
        name = self.config.auth_header
        if name in request.headers or not request.extensions.get("authenticate", True):
            return next_handler(request)
        key = self.config.resolve_api_key()
        if not key:  # require_api_key=False and no key: send none
            return next_handler(request)
        headers = request.headers.copy()
        if name == "api-key":
            headers["api-key"] = key
        else:
            headers["Authorization"] = f"Bearer {key}"
        return next_handler(replace(request, headers=headers))


_DEBUG, _INFO = 10, 20  # logging.DEBUG and logging.INFO: logging is imported on first use
_logger: Optional[logging.Logger] = None


def _log() -> logging.Logger:
    """The ``openai_images`` logger (also ``openai_images.logger``)."""
    global _logger
    if _logger is None:
        import logging

        _logger = logging.getLogger("openai_images")
    return _logger


if TYPE_CHECKING:
    logger: logging.Logger  # type checkers see the attribute; no module __getattr__ (it would accept any name)
else:

    def __getattr__(name: str) -> Any:
        """``openai_images.logger`` without importing ``logging`` at import time."""
        if name == "logger":
            return _log()
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _LoggingInterceptor:
    """Logs each attempt to the ``openai_images`` logger: INFO one line per
    attempt, DEBUG headers (credentials redacted) and a body summary."""

    def __call__(self, request: Request, next_handler: Handler) -> Response:
        logger = _log()
        if not logger.isEnabledFor(_INFO):
            return next_handler(request)
        url = _redact_query(request.url)
        if logger.isEnabledFor(_DEBUG):
            logger.debug(
                "Request %s %s attempt=%d headers=%s body=%s",
                request.method,
                url,
                request.extensions.get("attempt", 0),
                request.headers.redacted(),
                _describe_body(request.body),
            )
        started = time.monotonic()
        try:
            response = next_handler(request)
        except APIError as exc:
            logger.info(
                "HTTP Request: %s %s failed after %.3f s: %s",
                request.method,
                url,
                time.monotonic() - started,
                type(exc).__name__,
            )
            raise
        logger.info(
            'HTTP Request: %s %s "%d %s" (%.3f s, request_id=%s)',
            request.method,
            url,
            response.status_code,
            _server_text(response, response.reason),
            time.monotonic() - started,
            response.request_id,
        )
        if logger.isEnabledFor(_DEBUG):
            shown = {name: _server_text(response, value, 1000) for name, value in response.headers.redacted().items()}
            logger.debug("Response headers: %s", shown)
        return response


def _describe_body(body: Union[bytes, MultipartEncoder, None]) -> str:
    if body is None:
        return "none"
    if isinstance(body, MultipartEncoder):
        return body.describe()
    text = body.decode("utf-8", "replace")
    return text if len(text) <= 1000 else f"{text[:1000]}... ({len(body)} bytes)"


class _RetryInterceptor:
    """Retries per the request's ``extensions["retry"]`` policy (see
    ``RetryPolicy``). Back-off waits end at once on abort; each attempt gets
    ``extensions["attempt"]``."""

    def __init__(self, random_source: Optional[Callable[[], float]] = None) -> None:
        if random_source is None:
            import random

            random_source = random.random
        self.random = random_source

    def __call__(self, request: Request, next_handler: Handler) -> Response:
        policy = request.extensions.get("retry")
        if not isinstance(policy, RetryPolicy):
            policy = RetryPolicy()
        call = _call_of(request)
        retries = 0
        while True:
            attempt = replace(request, extensions={**request.extensions, "attempt": retries, "call": call})
            try:
                response = next_handler(attempt)
            except APIConnectionError as exc:
                if not _may_retry(exc, call, retries, policy):
                    raise
                delay = policy.backoff(retries, self.random())
                _log().info(
                    "Retrying %s %s in %.2f s after %s (attempt %d of %d)",
                    request.method,
                    _redact_query(request.url),
                    delay,
                    type(exc).__name__,
                    retries + 2,
                    policy.max_retries + 1,
                )
            else:
                wait = self._delay_after(response, policy, retries)
                if wait is None:
                    return response
                delay = wait
                response.close()
                _log().info(
                    "Retrying %s %s in %.2f s after status %d (request_id=%s) (attempt %d of %d)",
                    request.method,
                    _redact_query(request.url),
                    delay,
                    response.status_code,
                    response.request_id,
                    retries + 2,
                    policy.max_retries + 1,
                )
            call.sleep(delay, request)
            retries += 1

    def _delay_after(self, response: Response, policy: RetryPolicy, retries: int) -> Optional[float]:
        """How long to wait before trying again after ``response``; ``None``: return it."""
        if response.status_code < 400 or retries >= policy.max_retries:
            return None
        retry, hint = _should_retry(response, policy)
        if not retry:
            return None
        if hint is not None and 0 < hint <= policy.max_retry_after:
            return hint
        return policy.backoff(retries, self.random())


def _may_retry(exc: APIConnectionError, call: _Call, retries: int, policy: RetryPolicy) -> bool:
    """A network failure is tried again unless the call was aborted, its
    ``total`` deadline passed, or its retries are spent."""
    if call.aborted or (isinstance(exc, APITimeoutError) and exc.limit == TimeoutLimit.TOTAL):
        return False
    return retries < policy.max_retries


def _should_retry(response: Response, policy: RetryPolicy) -> Tuple[bool, Optional[float]]:
    """The official SDK's order: a hint above the cap, ``x-should-retry``, then
    the status (408, 409, 429, 5xx), except permanent-quota 429s."""
    hint = retry_after_seconds(response.headers)
    if hint is not None and hint > policy.max_retry_after:
        return False, hint
    should = response.headers.get("x-should-retry")
    if should == "true":
        return True, hint
    if should == "false":
        return False, hint
    status = response.status_code
    if status == 429 and _is_permanent_quota(response):
        return False, hint
    return status in (408, 409, 429) or status >= 500, hint


def _is_permanent_quota(response: Response) -> bool:
    body = _json_object(_error_object(response))
    return body.get("code") in _PERMANENT_QUOTA_CODES or body.get("type") == "insufficient_quota"


class _ErrorInterceptor:
    """Turns an error status (and a redirect, which is never followed) into
    the matching ``APIStatusError`` subclass."""

    def __init__(self, config: OpenAIConfig) -> None:
        self.config = config

    def __call__(self, request: Request, next_handler: Handler) -> Response:
        response = next_handler(request)
        if response.status_code >= 300:
            raise _make_status_error(response, self.config.max_error_body_bytes)
        return response


# =============================================================================
# Models: requests, responses, stream events
# =============================================================================

_FIELD_TYPES = {"Optional[str]": (str,), "Optional[int]": (int,), "Optional[bool]": (bool,), "str": (str,)}


def _check_field_types(obj: Any) -> None:
    """Reject values of the wrong type early (never values: forward compatible)."""
    for spec in fields(obj):
        expected = _FIELD_TYPES.get(str(spec.type))
        value = getattr(obj, spec.name)
        if expected is None or value is None:
            continue
        wrong_bool = isinstance(value, bool) and bool not in expected
        if wrong_bool or not isinstance(value, expected):
            raise TypeError(
                f"{type(obj).__name__}.{spec.name} must be {expected[0].__name__}, "
                f"not {type(value).__name__} ({value!r})"
            )


def _optional_fields(obj: Any, skip: Iterable[str] = ()) -> Dict[str, Any]:
    """The fields the caller set (not ``None``), in alphabetical order."""
    skipped = set(skip)
    return {
        spec.name: getattr(obj, spec.name)
        for spec in sorted(fields(obj), key=lambda s: s.name)
        if spec.name not in skipped and getattr(obj, spec.name) is not None
    }


def _redacted_repr(self: Any) -> str:
    """Field values, with the prompt as its length, identities hidden and
    files summarised: safe for logs (the ``__repr__`` of request models)."""
    parts: List[str] = []
    for spec in fields(self):
        value = getattr(self, spec.name)
        if value is None:
            continue
        if spec.name == "prompt":
            shown = f"<{len(value)} chars>"
        elif spec.name in ("user", "safety_identifier"):
            shown = "<redacted>"
        elif spec.name in ("image", "mask", "markup"):
            shown = _describe_file_input(value)
        else:
            shown = repr(value)
        parts.append(f"{spec.name}={shown}")
    return f"{type(self).__name__}({', '.join(parts)})"


def _describe_file_input(value: object) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_describe_file_input(item) for item in cast("List[object]", value)) + "]"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(cast('Union[bytes, bytearray, memoryview]', value))} bytes>"
    if isinstance(value, tuple):
        given = cast("Tuple[object, ...]", value)
        return f"<file {given[0]!r}>" if given else "<empty tuple>"
    if isinstance(value, (str, os.PathLike)):
        return repr(os.fsdecode(cast("Union[str, os.PathLike[str], os.PathLike[bytes]]", value)))
    return f"<{type(value).__name__}>"


class _JsonBody:
    """``to_json()`` for the models whose ``to_dict()`` is a JSON object."""

    def to_dict(self) -> Dict[str, Any]:
        raise NotImplementedError

    def to_json(self, *, indent: Optional[int] = 2) -> str:
        """``to_dict()`` as JSON text."""
        import json

        return json.dumps(self.to_dict(), indent=indent)


@dataclass(repr=False, eq=False)
class ImageGenerationRequest(_JsonBody, _FieldsEqual):
    """Body of ``POST /images/generations``. ``None`` fields stay off the wire;
    every value is sent as given (new models, sizes and options work)."""

    prompt: str
    model: Optional[str] = None
    background: Optional[str] = None
    complexity: Optional[str] = None
    frame_count: Optional[int] = None
    frame_duration_ms: Optional[int] = None
    moderation: Optional[str] = None
    n: Optional[int] = None
    output_compression: Optional[int] = None
    output_format: Optional[str] = None
    partial_images: Optional[int] = None
    quality: Optional[str] = None
    response_format: Optional[str] = None
    safety_identifier: Optional[str] = None
    size: Optional[str] = None
    stream: Optional[bool] = None
    style: Optional[str] = None
    svg: Optional[Mapping[str, Any]] = None
    user: Optional[str] = None

    def __post_init__(self) -> None:
        _check_field_types(self)

    def to_dict(self) -> Dict[str, Any]:
        """The JSON body in the official SDK's key order: model, stream, prompt,
        then the rest alphabetically."""
        body: Dict[str, Any] = {}
        if self.model is not None:
            body["model"] = self.model
        if self.stream is not None:
            body["stream"] = self.stream
        body["prompt"] = self.prompt
        body.update(_optional_fields(self, ("model", "stream", "prompt")))
        return body

    __repr__ = _redacted_repr


@dataclass(repr=False, eq=False)
class ImageEditRequest(_FieldsEqual):
    """Body of the multipart ``POST /images/edits``.

    ``image`` is one file (sent as part ``image``) or a list of files (sent as
    repeated ``image[]`` parts, even a list of one). A file is a path, bytes,
    a binary file object or ``(filename, content[, content_type])``.
    """

    image: Union[FileInput, Sequence[FileInput]]
    prompt: str
    mask: Optional[FileInput] = None
    markup: Optional[FileInput] = None
    background: Optional[str] = None
    complexity: Optional[str] = None
    frame_count: Optional[int] = None
    frame_duration_ms: Optional[int] = None
    input_fidelity: Optional[str] = None
    model: Optional[str] = None
    moderation: Optional[str] = None
    n: Optional[int] = None
    output_compression: Optional[int] = None
    output_format: Optional[str] = None
    partial_images: Optional[int] = None
    quality: Optional[str] = None
    response_format: Optional[str] = None
    safety_identifier: Optional[str] = None
    size: Optional[str] = None
    stream: Optional[bool] = None
    svg: Optional[Mapping[str, Any]] = None
    user: Optional[str] = None

    def __post_init__(self) -> None:
        _check_field_types(self)

    def to_multipart(
        self, extra_body: Optional[Mapping[str, Any]] = None, boundary: Optional[str] = None
    ) -> MultipartEncoder:
        """Text parts (prompt, then the rest alphabetically, then ``extra_body``),
        then the files: ``image``/``image[]``, ``markup``, ``mask``."""
        text = {"prompt": self.prompt, **_optional_fields(self, ("prompt", "image", "mask", "markup"))}
        text.update(extra_body or {})
        files = _image_parts(self.image)
        for name in ("markup", "mask"):
            value = getattr(self, name)
            if value is not None:
                files.append(FilePart.from_input(name, value, stem=name))
        return MultipartEncoder(_text_parts(text), files, boundary)

    __repr__ = _redacted_repr


def _image_parts(image: object) -> List[FilePart]:
    """A list means several images (``image[]`` parts, even for one); anything
    else, a tuple included, is one file (part ``image``), as in the official SDK."""
    if isinstance(image, list):
        images = cast("List[object]", image)
        if not images:
            raise ValueError("image: the list of images is empty")
        return [FilePart.from_input("image[]", item, label=f"image[{i}]") for i, item in enumerate(images)]
    return [FilePart.from_input("image", image)]


def _text_parts(values: Mapping[str, Any]) -> List[Tuple[str, str]]:
    return [pair for name, value in values.items() for pair in form_fields(name, value)]


@dataclass(frozen=True, eq=False, repr=False)  # _FrozenValue's __eq__ and __hash__
class ImageReference(_JsonBody, _FrozenValue):
    """An input image by reference: exactly one of ``image_url`` (a URL or a
    ``data:`` URL) and ``file_id`` (from the Files API)."""

    image_url: Optional[str] = None
    file_id: Optional[str] = None

    def __post_init__(self) -> None:
        if (self.image_url is None) == (self.file_id is None):
            raise ValueError("ImageReference needs exactly one of image_url and file_id")
        _check_field_types(self)

    @classmethod
    def coerce(cls, value: object) -> ImageReference:
        """Accept an ``ImageReference``, a mapping, or a string (a URL)."""
        if isinstance(value, ImageReference):
            return value
        if isinstance(value, str):
            return cls(image_url=value)
        if isinstance(value, Mapping):
            given = cast("Mapping[str, Any]", value)
            unknown = set(given) - {"image_url", "file_id"}
            if unknown:
                raise ValueError(f"ImageReference: unknown keys {sorted(unknown)}")
            return cls(**given)
        raise TypeError(f"expected an ImageReference, a mapping or a URL string, not {type(value).__name__}")

    def to_dict(self) -> Dict[str, str]:
        """``{"image_url": ...}`` or ``{"file_id": ...}``, as the API expects."""
        return {"image_url": self.image_url} if self.image_url is not None else {"file_id": str(self.file_id)}

    def __repr__(self) -> str:
        if self.image_url is not None:
            url = (
                self.image_url if len(self.image_url) <= 80 else f"{self.image_url[:40]}…<{len(self.image_url)} chars>"
            )
            return f"ImageReference(image_url={url!r})"
        return f"ImageReference(file_id={self.file_id!r})"


@dataclass(repr=False, eq=False)
class ImageEditJsonRequest(_JsonBody, _FieldsEqual):
    """Body of the JSON ``POST /images/edits``: images by URL or file id."""

    images: Sequence[Union[ImageReference, str, Mapping[str, str]]]
    prompt: str
    mask: Optional[Union[ImageReference, str, Mapping[str, str]]] = None
    model: Optional[str] = None
    background: Optional[str] = None
    input_fidelity: Optional[str] = None
    moderation: Optional[str] = None
    n: Optional[int] = None
    output_compression: Optional[int] = None
    output_format: Optional[str] = None
    partial_images: Optional[int] = None
    quality: Optional[str] = None
    size: Optional[str] = None
    stream: Optional[bool] = None
    user: Optional[str] = None

    def __post_init__(self) -> None:
        if isinstance(self.images, (str, ImageReference, Mapping)):
            self.images = [self.images]
        self.images = [ImageReference.coerce(item) for item in self.images]
        if not self.images:
            raise ValueError("images: at least one image reference is needed")
        if self.mask is not None:
            self.mask = ImageReference.coerce(self.mask)
        _check_field_types(self)

    def to_dict(self) -> Dict[str, Any]:
        """The JSON body: ``images`` and ``mask`` as references, ``None`` fields left out."""
        body: Dict[str, Any] = {}
        if self.model is not None:
            body["model"] = self.model
        if self.stream is not None:
            body["stream"] = self.stream
        body["prompt"] = self.prompt
        for name, value in _optional_fields(self, ("model", "stream", "prompt")).items():
            if name == "images":
                value = [ImageReference.coerce(item).to_dict() for item in value]
            elif name == "mask":
                value = ImageReference.coerce(value).to_dict()
            body[name] = value
        return body

    __repr__ = _redacted_repr


@dataclass(repr=False, eq=False)
class ImageVariationRequest(_FieldsEqual):
    """Body of ``POST /images/variations`` (a retired endpoint, kept for compatibility)."""

    image: FileInput
    model: Optional[str] = None
    n: Optional[int] = None
    response_format: Optional[str] = None
    size: Optional[str] = None
    user: Optional[str] = None

    def __post_init__(self) -> None:
        _check_field_types(self)

    def to_multipart(
        self, extra_body: Optional[Mapping[str, Any]] = None, boundary: Optional[str] = None
    ) -> MultipartEncoder:
        """The multipart body: the ``image`` file part, then the other fields
        as text parts (``extra_body`` merged in), ``None`` fields left out."""
        text = _optional_fields(self, ("image",))
        text.update(extra_body or {})
        return MultipartEncoder(_text_parts(text), [FilePart.from_input("image", self.image)], boundary)

    __repr__ = _redacted_repr


# -- responses -------------------------------------------------------------------


_LOCAL_FIELDS = frozenset({"extra", "request_id"})  # attributes of ours, never JSON keys


class _Model(_JsonBody, _FieldsEqual):
    """Lenient parsing of a JSON object into a dataclass: known keys become
    fields (nested models parsed), unknown keys are kept in ``extra`` and come
    back from ``to_dict()``; missing keys are ``None``."""

    _nested: ClassVar[Dict[str, Any]] = {}
    _lists: ClassVar[Dict[str, Any]] = {}
    extra: Dict[str, Any]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str = "") -> Any:
        """Parse ``data``. A known field of the wrong type raises ``ValueError``
        naming its path (``data[0].b64_json``); ``None`` is allowed anywhere."""
        names = set(_field_names(cls)) - _LOCAL_FIELDS  # a JSON key "extra" is just an unknown key
        known: Dict[str, Any] = {}
        extra: Dict[str, Any] = {}
        for key, value in data.items():
            if key not in names:
                extra[key] = value
            else:
                known[key] = None if value is None else cls._parse_field(key, value, f"{path}.{key}" if path else key)
        obj = cls(**known)
        obj.extra = extra
        return obj

    @classmethod
    def _parse_field(cls, key: str, value: object, where: str) -> Any:
        """A known field's value (not ``None``): a nested model, a list of
        them (at most ``_MAX_LIST_ITEMS``), or a scalar of the field's type."""
        if key in cls._nested:
            return cls._nested[key].from_dict(_expect(value, Mapping, where, "an object"), where)
        if key in cls._lists:
            items = cast("List[object]", _expect(value, list, where, "a list"))
            if len(items) > _MAX_LIST_ITEMS:
                raise _ShapeError(f"{where} holds {len(items)} items, more than the {_MAX_LIST_ITEMS} accepted")
            item_cls = cls._lists[key]
            return [
                item_cls.from_dict(_expect(v, Mapping, f"{where}[{i}]", "an object"), f"{where}[{i}]")
                for i, v in enumerate(items)
            ]
        kind = _SCALAR_FIELDS.get(_field_types(cls).get(key, ""))
        if kind is not None and (not isinstance(value, kind) or isinstance(value, bool) is not (kind is bool)):
            raise _ShapeError(f"{where} should be {kind.__name__}, not {type(value).__name__}")
        return value

    def to_dict(self) -> Dict[str, Any]:
        """The JSON object, unknown keys included, ``None`` fields left out."""
        return self._dump(keep_none=False)

    def model_dump(
        self,
        *,
        include: Optional[Iterable[str]] = None,
        exclude: Optional[Iterable[str]] = None,
        exclude_none: bool = False,
        exclude_unset: bool = False,
        exclude_defaults: bool = False,
        **_ignored: Any,
    ) -> Dict[str, Any]:
        """pydantic's spelling, as the official SDK's models have it: every
        known field, ``None`` included, and the unknown keys; ``exclude_none``,
        ``exclude_unset`` or ``exclude_defaults`` leave ``None`` out (as
        ``to_dict()``); ``include`` / ``exclude`` pick top-level keys."""
        dumped = self._dump(keep_none=not (exclude_none or exclude_unset or exclude_defaults))
        if include is not None:
            wanted = set(include)
            dumped = {key: value for key, value in dumped.items() if key in wanted}
        for key in exclude or ():
            dumped.pop(key, None)
        return dumped

    def model_dump_json(self, *, indent: Optional[int] = None, **options: Any) -> str:
        """``model_dump()`` as JSON text (compact unless ``indent``), as in the official SDK."""
        import json

        return json.dumps(self.model_dump(**options), indent=indent)

    @property
    def _request_id(self) -> Optional[str]:
        """The official SDK's spelling of ``request_id``."""
        return getattr(self, "request_id", None)

    def _dump(self, *, keep_none: bool) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for name in _field_names(type(self)):
            value = getattr(self, name)
            if (value is not None or keep_none) and name not in _LOCAL_FIELDS:
                out[name] = _dumped(value, keep_none)
        out.update(self.extra)
        return out


def _dumped(value: object, keep_none: bool) -> Any:
    """A field's value as JSON: nested models (in lists too) as objects."""
    if isinstance(value, _Model):
        return value._dump(keep_none=keep_none)  # pyright: ignore[reportPrivateUsage]
    if isinstance(value, list):
        items = cast("List[object]", value)
        return [v._dump(keep_none=keep_none) if isinstance(v, _Model) else v for v in items]  # pyright: ignore[reportPrivateUsage]
    return value


_SCALAR_FIELDS: Dict[str, type] = {"Optional[str]": str, "Optional[int]": int, "Optional[bool]": bool}
_MAX_LIST_ITEMS = 1000  # images in one reply: the API sends at most 10
_FIELD_TYPE_CACHE: Dict[type, Dict[str, str]] = {}


class _ShapeError(ValueError):
    """A known field of a server's reply holds a value of the wrong type."""


def _expect(value: object, kind: Any, where: str, what: str) -> Any:
    if not isinstance(value, kind):
        raise _ShapeError(f"{where} should be {what}, not {type(value).__name__}")
    return value


def _field_types(cls: type) -> Dict[str, str]:
    types = _FIELD_TYPE_CACHE.get(cls)
    if types is None:
        types = _FIELD_TYPE_CACHE[cls] = {spec.name: str(spec.type) for spec in fields(cls)}
    return types


class _ImageData:
    """``to_bytes()`` and ``save()`` for anything with ``b64_json``."""

    b64_json: Optional[str]
    url: Optional[str] = None

    def to_bytes(self) -> bytes:
        """The decoded image. Strict: anything that is not base64 raises ``ValueError``."""
        if self.b64_json is None:
            hint = " (it has a URL instead: download it from .url)" if self.url else ""
            raise ValueError(f"this image carries no base64 data{hint}")
        if not isinstance(self.b64_json, str):  # pyright: ignore[reportUnnecessaryIsInstance]  # parsing is lenient
            raise ValueError(f"b64_json is not a string but {type(self.b64_json).__name__}")
        import binascii

        try:
            if sys.version_info >= (3, 11):  # strict in C: no separate pass of a regular expression
                return binascii.a2b_base64(self.b64_json.encode("ascii"), strict_mode=True)  # novermin
            import base64

            return base64.b64decode(self.b64_json, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"b64_json is not valid base64 ({exc})") from None

    def save(self, path: Union[str, os.PathLike[str]]) -> str:
        """Write the image to ``path`` atomically (never a partial file under
        that name); returns the path."""
        return write_file_atomic(path, self.to_bytes())


def write_file_atomic(path: Union[str, os.PathLike[str]], data: bytes, *, overwrite: bool = True) -> str:
    """Write ``data`` to a temporary file next to ``path``, then rename it into
    place. Normal permissions (umask applies). With ``overwrite=False`` an
    existing file is never replaced (``FileExistsError``)."""
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    temp = os.path.join(directory, f".{os.path.basename(target)[:100]}.{os.urandom(4).hex()}.part")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        if overwrite:
            os.replace(temp, target)
        else:
            _move_no_replace(temp, target)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
    return target


def _rescue_file(data: bytes, extension: str) -> str:
    """Save paid image bytes that could not go where they were asked: under
    a name no file has (created exclusively, so nothing is ever replaced,
    whatever ran before), in the current directory, else the temporary one.
    Returns the path; ``OSError`` names the folders it tried."""

    stamp = time.strftime("%Y%m%d-%H%M%S")
    tried: List[str] = []
    for folder in (os.path.abspath(os.curdir) if os.path.isdir(os.curdir) else "", _temp_dir()):
        if not folder or folder in tried:
            continue
        tried.append(folder)
        stem = os.path.join(folder, f"openai-images-rescued-{stamp}-")
        try:
            path = _write_first_free(data, (f"{stem}{attempt}{extension}" for attempt in range(1, 1000)))
        except OSError:  # this folder cannot take it: the next may
            continue
        if path is not None:
            return path
    raise OSError(f"could not save it in {' or '.join(tried)} either")


def _write_first_free(data: bytes, names: Iterable[str]) -> Optional[str]:
    """``data`` written (atomically) under the first of ``names`` that no
    file has, which is never replaced; ``None`` if every name is taken."""
    for name in names:
        try:
            return write_file_atomic(name, data, overwrite=False)
        except FileExistsError:
            continue
    return None


def _move_no_replace(temp: str, target: str) -> None:
    """Rename ``temp`` to ``target`` unless ``target`` exists (``FileExistsError``)."""
    try:
        os.link(temp, target)  # fails if the target exists, atomically
    except FileExistsError:
        raise
    except OSError:  # no hard links here (FAT, some network file systems)
        if os.path.lexists(target):  # a narrow race where os.rename replaces; Windows' rename refuses
            raise FileExistsError(17, "File exists", target) from None
        os.rename(temp, target)
        return
    os.unlink(temp)


def _short(value: object) -> str:
    """How a repr shows base64 data: its length, never the content."""
    return f"<{len(value)} chars>" if isinstance(value, str) else repr(value)


@dataclass(repr=False, eq=False)  # _FieldsEqual's __eq__ and __repr__
class ImageUsageDetails(_Model):
    """Token counts by kind (image, text) within ``ImageUsage``."""

    image_tokens: Optional[int] = None
    text_tokens: Optional[int] = None
    extra: Dict[str, Any] = field(default_factory=_empty_dict, repr=False)


@dataclass(repr=False, eq=False)  # _FieldsEqual's __eq__ and __repr__
class ImageUsage(_Model):
    """Token usage of a GPT image model call."""

    input_tokens: Optional[int] = None
    input_tokens_details: Optional[ImageUsageDetails] = None
    output_tokens: Optional[int] = None
    total_tokens: Optional[int] = None
    output_tokens_details: Optional[ImageUsageDetails] = None
    extra: Dict[str, Any] = field(default_factory=_empty_dict, repr=False)
    _nested: ClassVar[Dict[str, Any]] = {
        "input_tokens_details": ImageUsageDetails,
        "output_tokens_details": ImageUsageDetails,
    }


@dataclass(repr=False, eq=False)  # _FieldsEqual's __eq__ and __repr__
class SvgUsage(_Model):
    """Token usage of an SVG-producing model call (``svg_usage`` in a response)."""

    input_tokens: Optional[int] = None
    model: Optional[str] = None
    output_tokens: Optional[int] = None
    reasoning_tokens: Optional[int] = None
    total_tokens: Optional[int] = None
    extra: Dict[str, Any] = field(default_factory=_empty_dict, repr=False)


@dataclass(repr=False, eq=False)  # _FieldsEqual's __eq__
class Image(_ImageData, _Model):
    """One generated image: ``b64_json`` (GPT image models) or ``url``."""

    b64_json: Optional[str] = None
    url: Optional[str] = None
    revised_prompt: Optional[str] = None
    extra: Dict[str, Any] = field(default_factory=_empty_dict, repr=False)

    def __repr__(self) -> str:
        return f"Image(b64_json={_short(self.b64_json)}, url={self.url!r}, revised_prompt={self.revised_prompt!r})"


@dataclass(repr=False, eq=False)  # _FieldsEqual's __eq__ and __repr__
class ImagesResponse(_Model):
    """The answer of generate / edit / edit_json / create_variation."""

    created: Optional[int] = None
    data: List[Image] = field(default_factory=_empty_list)
    background: Optional[str] = None
    output_format: Optional[str] = None
    quality: Optional[str] = None
    size: Optional[str] = None
    safety_identifier: Optional[str] = None
    usage: Optional[ImageUsage] = None
    svg_usage: Optional[SvgUsage] = None
    extra: Dict[str, Any] = field(default_factory=_empty_dict, repr=False)
    request_id: Optional[str] = None
    _nested: ClassVar[Dict[str, Any]] = {"usage": ImageUsage, "svg_usage": SvgUsage}
    _lists: ClassVar[Dict[str, Any]] = {"data": Image}

    @classmethod
    def parse(cls, response: Response, limit: Optional[int] = None) -> ImagesResponse:
        """Parse a 2xx response; a body that is not an images response is
        ``APIResponseValidationError``."""
        payload = response._json(limit)  # pyright: ignore[reportPrivateUsage]
        body = _json_object(payload)
        if body is not payload or not isinstance(body.get("data", []), list):
            shape = type(payload).__name__ if body is not payload else "'data' that is not a list"
            raise APIResponseValidationError(
                f"The server's reply is not an images response (got {shape})",
                response=response,
                body=payload,
            )
        if body.get("error"):  # a 2xx that carries an error envelope
            message = _server_text(response, _error_message(body["error"]), 2000)
            raise APIError(
                f"The server answered {response.status_code} with an error: {message}",
                response.request,
                body=body["error"],
                request_id=response.request_id,
            )
        body = _scrub(body, _secrets_sent(response.request), _IMAGE_FIELDS)  # a server that echoes the key
        try:
            parsed: ImagesResponse = cls.from_dict(body)
        except _ShapeError as exc:
            raise APIResponseValidationError(
                f"The server's reply is not an images response: {exc}", response=response, body=payload
            ) from None
        parsed.request_id = response.request_id
        return parsed

    def __iter__(self) -> Iterator[Image]:
        return iter(self.data)


def _error_message(error: object) -> str:
    message = _str_or_none(_json_object(error).get("message"))
    if message:
        return message
    if isinstance(error, str) and error:
        return error
    return "An error occurred"


# -- stream events ---------------------------------------------------------------


@dataclass(repr=False, eq=False)  # _FieldsEqual's __eq__
class _ImageEvent(_ImageData, _Model):
    """What every image event of a stream has: its type and image, and the image's settings."""

    type: Optional[str] = None
    b64_json: Optional[str] = None
    created_at: Optional[int] = None
    size: Optional[str] = None
    quality: Optional[str] = None
    background: Optional[str] = None
    output_format: Optional[str] = None
    extra: Dict[str, Any] = field(default_factory=_empty_dict, repr=False)

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={_short(value) if name == 'b64_json' else repr(value)}"
            for name, value in ((n, getattr(self, n)) for n in _field_names(type(self)) if n != "extra")
            if value is not None
        )
        return f"{type(self).__name__}({shown})"


@dataclass(repr=False, eq=False)
class _PartialImageEvent(_ImageEvent):
    """A preview of the image (``partial_image_index`` from 0)."""

    partial_image_index: Optional[int] = None


@dataclass(repr=False, eq=False)
class _CompletedEvent(_ImageEvent):
    """The final image, with the call's token usage."""

    usage: Optional[ImageUsage] = None
    safety_identifier: Optional[str] = None
    _nested: ClassVar[Dict[str, Any]] = {"usage": ImageUsage}


class ImageGenPartialImageEvent(_PartialImageEvent):
    """``image_generation.partial_image``: a preview; ``partial_image_index`` from 0."""


class ImageGenCompletedEvent(_CompletedEvent):
    """``image_generation.completed``: the final image and its ``usage``."""


class ImageEditPartialImageEvent(_PartialImageEvent):
    """``image_edit.partial_image``"""


class ImageEditCompletedEvent(_CompletedEvent):
    """``image_edit.completed``"""


@dataclass(repr=False, eq=False)  # _FieldsEqual's __eq__ and __repr__
class UnknownImageStreamEvent(_JsonBody, _FieldsEqual):
    """An event of a type this version does not know; ``raw`` is its JSON."""

    type: Optional[str]
    raw: Any
    event: str = "message"

    def to_dict(self) -> Any:
        """The event's JSON, exactly as received."""
        return self.raw

    def model_dump(self, **_ignored: Any) -> Any:
        """The official SDK's spelling of ``to_dict()``."""
        return self.raw


ImageStreamEvent = Union[
    ImageGenPartialImageEvent,
    ImageGenCompletedEvent,
    ImageEditPartialImageEvent,
    ImageEditCompletedEvent,
    UnknownImageStreamEvent,
]

_EVENT_CLASSES: Dict[str, Any] = {
    "image_generation.partial_image": ImageGenPartialImageEvent,
    "image_generation.completed": ImageGenCompletedEvent,
    "image_edit.partial_image": ImageEditPartialImageEvent,
    "image_edit.completed": ImageEditCompletedEvent,
}


def parse_stream_event(data: Any, sse_event: str = "message") -> ImageStreamEvent:
    """A typed event from one event's JSON: by its ``type``, else by the SSE
    event name (some relays drop one of them); unknown types are kept raw."""
    kind = _json_object(data).get("type")
    if not isinstance(kind, str) or not kind:
        kind = sse_event if sse_event != "message" else None
    cls = _EVENT_CLASSES.get(kind) if kind else None
    if cls is None or not isinstance(data, dict):
        return UnknownImageStreamEvent(kind, data, sse_event)
    event: ImageStreamEvent = cls.from_dict(data)
    if event.type is None:
        event.type = kind
    return event


# =============================================================================
# ImagesResource and ImageStream
# =============================================================================

_KEEP_EVENTS = 4  # events an ImageStreamError keeps: every partial image of a real stream (3 at most)
# and one more, while memory stays bounded however many events a stream sends


class ImageEventDecoder:
    """The bytes of an image stream in, typed events out. No I/O.

    ``feed(chunk)`` returns the events those bytes complete, in order. The
    decoder owns the stream's rules: the SSE framing (``SSEParser``), the
    ``max_event_bytes`` bounds (one event, and the bytes between two events),
    ``data: [DONE]``, error events, the last events received (``events``) and
    the ``completed`` event, after which ``done`` is true and the rest is
    ignored. A failure (an error event, an inline ``{"error": ...}``, a bad
    event) is kept in ``failure``; ``feed`` raises it once the events before
    it have been returned: at once if there are none, else at the next
    ``feed``. ``finish()`` marks the end of the bytes: it raises the failure,
    or ``IncompleteStreamError`` if no completed event came, else returns it.
    """

    def __init__(self, response: Response, kind: str, max_event_bytes: Optional[int] = 64 * 1024 * 1024) -> None:
        import collections

        self.response = response
        self.kind = kind  # "image_generation" or "image_edit"
        self.parser = SSEParser(max_event_bytes)
        self.events: Any = collections.deque(maxlen=_KEEP_EVENTS)
        self.received = 0  # events decoded so far
        self.completed: Optional[ImageStreamEvent] = None
        self.failure: Optional[OpenAIError] = None
        self.done = False

    def feed(self, chunk: bytes) -> List[ImageStreamEvent]:
        """The events completed by ``chunk`` (see the class docstring for failures)."""
        if self.failure is not None:
            raise self.failure
        out: List[ImageStreamEvent] = []
        if self.done or not chunk:
            return out
        try:
            self._feed(chunk, out)
        except OpenAIError as exc:
            self.failure = exc
            if not out:
                raise
        return out

    def _feed(self, chunk: bytes, out: List[ImageStreamEvent]) -> None:
        too_large: Optional[EventTooLargeError] = None
        try:
            parsed = self.parser.feed(chunk)
        except EventTooLargeError as exc:  # the events before it come first
            parsed, too_large = exc.events, exc
        for sse in parsed:
            if sse.data.startswith("[DONE]"):
                self.done = True
                if self.completed is None:
                    raise self.incomplete("the stream sent [DONE]")
                return
            out.append(self._typed(sse))
            if self.completed is not None:
                self.done = True  # nothing after the completed event matters
                return
        if too_large is not None:
            raise APIResponseValidationError(str(too_large), response=self.response)

    def finish(self) -> ImageStreamEvent:
        """The bytes have ended: the completed event, or the stream's failure."""
        self.parser.close()
        self.done = True
        if self.failure is not None:
            raise self.failure
        if self.completed is None:
            self.failure = self.incomplete("the stream ended")
            raise self.failure
        return self.completed

    def from_images_response(self, parsed: ImagesResponse) -> List[ImageStreamEvent]:
        """A JSON images response to a stream request (a server that ignored
        ``stream``), as completed events; ``done`` afterwards."""
        common = {
            k: v
            for k, v in parsed.to_dict().items()
            if k in ("size", "quality", "background", "output_format", "usage")
        }
        events: List[ImageStreamEvent] = []
        for image in parsed.data:
            data = {"type": f"{self.kind}.completed", "b64_json": image.b64_json, "created_at": parsed.created}
            events.append(parse_stream_event({**data, **common}))
        self.done = True
        self.completed = events[-1] if events else None
        self.events.extend(events)
        if self.completed is None:
            raise self.incomplete("the server answered with JSON holding no image")
        return events

    def _typed(self, sse: ServerSentEvent) -> ImageStreamEvent:
        data = self._json_of(sse)
        if isinstance(data, dict):
            self._raise_if_error(sse, cast("Dict[str, object]", data))
        data = _scrub(data, _secrets_sent(self.response.request), _IMAGE_FIELDS)
        try:
            event = parse_stream_event(data, sse.event)
        except _ShapeError as exc:
            raise APIResponseValidationError(f"A stream event is malformed: {exc}", response=self.response) from None
        self.events.append(event)
        self.received += 1
        if isinstance(event, _CompletedEvent):
            self.completed = event
        return event

    def _json_of(self, sse: ServerSentEvent) -> Any:
        """The event's data as JSON; an error event's text is its error."""
        try:
            return _parse_json(sse.data)
        except ValueError as exc:
            if sse.event == "error":
                raise self._stream_error(sse.data or "The server sent an error event", sse.data) from None
            shown = _server_text(self.response, sse.data[:4000])
            raise APIResponseValidationError(
                f"A stream event is not valid JSON ({exc}): {shown}", response=self.response, body=shown
            ) from None

    def _raise_if_error(self, sse: ServerSentEvent, fields: Dict[str, object]) -> None:
        """An error in the stream (an ``error`` event, type or field) raises ``ImageStreamError``."""
        error = fields.get("error")
        if error or sse.event == "error" or fields.get("type") == "error":
            body = error if error else fields
            raise self._stream_error(
                _error_message(body) if error or "message" in fields else "An error occurred during streaming", body
            )

    def _stream_error(self, message: str, body: object) -> ImageStreamError:
        response = self.response
        return ImageStreamError(
            _server_text(response, message, 2000),
            response.request,
            body=body,
            request_id=response.request_id,
            events=list(self.events),
        )

    def incomplete(self, what: str) -> IncompleteStreamError:
        """The error for a stream that ended (``what`` happened) before its completed event."""
        partials = sum(1 for e in self.events if isinstance(e, _PartialImageEvent))
        return IncompleteStreamError(
            f"Incomplete image stream: {what} before its completed event "
            f"({partials} partial image(s) received; see .events)",
            self.response.request,
            request_id=self.response.request_id,
            events=list(self.events),
        )


class ImageStream:
    """The events of a streaming call, in order, each delivered as soon as its
    blank line arrives. Iterable and a context manager; it belongs to the
    thread that iterates it, while ``abort()`` and ``close()`` work from any
    thread.

    One state: ``open`` (between events), ``reading`` (a thread is in
    ``next()``), ``closed`` or ``aborted``. Iteration ends after the
    ``*.completed`` event (or ``data: [DONE]`` after it); the stream is then
    ``closed``. It raises ``ImageStreamError`` for an error event (after the
    events that came before it), ``IncompleteStreamError`` if the stream ends
    without a completed event (both keep the last events in ``.events``), and
    ``APIUserAbortError`` once ``aborted``, at every later ``next()`` too: no
    event is delivered after an abort, not even one already received. A
    stream dropped without ``close()`` releases its connection when it is
    garbage-collected.
    """

    OPEN = "open"
    READING = "reading"
    CLOSED = "closed"
    ABORTED = "aborted"

    def __init__(
        self,
        response: Response,
        call: _Call,
        *,
        kind: str,
        max_event_bytes: Optional[int] = None,
        max_response_bytes: Optional[int] = None,
    ) -> None:
        import collections

        self.response = response
        self._call = call
        self._decoder = ImageEventDecoder(response, kind, max_event_bytes)
        self._pending: Any = collections.deque()
        self._lock = threading.Lock()
        self._state = self.OPEN
        self._release = weakref.finalize(self, call.finish)
        call.stage = CallStage.DURING_STREAM
        if response.content_type == "application/json":  # a server that ignored stream=true
            parsed = ImagesResponse.parse(response, max_response_bytes)
            self._pending.extend(self._decoder.from_images_response(parsed))

    @property
    def state(self) -> str:
        """``open``, ``reading``, ``closed`` or ``aborted`` (also once the
        call's trigger, ``client.close()`` or deadline has ended it)."""
        if self._state == self.OPEN and self._call.aborted:
            return self.ABORTED
        return self._state

    @property
    def request_id(self) -> Optional[str]:
        """The ``x-request-id`` of the response that carries the stream."""
        return self.response.request_id

    @property
    def completed(self) -> Optional[ImageStreamEvent]:
        """The completed event, once it has been received."""
        return self._decoder.completed

    def __iter__(self) -> ImageStream:
        return self

    # Every change of state, in one table: (state, what happens) -> the state after.
    # "next": a thread starts reading; "event": it got one to deliver; "end": the
    # stream ended or failed by itself; "cut": it was aborted while being read;
    # "close"/"abort": by anyone, from any thread; "close done": close() once the
    # completed event was delivered. A change not in the table leaves the state
    # as it is (closed and aborted are final).
    MOVES: ClassVar[Dict[Tuple[str, str], str]] = {
        (OPEN, "next"): READING,
        (READING, "event"): OPEN,
        (READING, "end"): CLOSED,
        (READING, "cut"): ABORTED,
        (OPEN, "close done"): CLOSED,
        (OPEN, "close"): ABORTED,
        (OPEN, "abort"): ABORTED,
        (READING, "close"): ABORTED,
        (READING, "close done"): ABORTED,
        (READING, "abort"): ABORTED,
    }

    def _move(self, happened: str) -> Tuple[str, str]:
        """Apply ``happened`` (under the lock); returns the states before and after.
        An abort of the call (a trigger, ``client.close()``, a deadline) counts
        as an abort of an open stream; a close or abort once the completed
        event was delivered (received, nothing left to hand over) ends it
        quietly: it is complete."""
        with self._lock:
            if self._state == self.OPEN and self._call.aborted:
                self._state = self.ABORTED
            if happened in ("close", "abort") and self._decoder.completed is not None and not self._pending:
                happened = "close done"
            before = self._state
            self._state = self.MOVES.get((before, happened), before)
            return before, self._state

    def __next__(self) -> ImageStreamEvent:
        self._check_readable(self._move("next")[0])
        try:
            event = self._next_event()
        except BaseException as exc:
            self._move("cut" if self._call.aborted or isinstance(exc, APIUserAbortError) else "end")
            self._release()
            raise
        after = self._move("event")[1]
        if after == self.OPEN:
            return event
        self._release()  # aborted while this event was being read: it is not delivered
        raise self._call.error(self.response.request, self.request_id)

    def _check_readable(self, state: str) -> None:
        """``next()`` in ``state``: an aborted stream raises its abort, a closed
        one ends, and one that another thread reads is a ``RuntimeError``."""
        if state == self.ABORTED:
            self._release()
            raise self._call.error(self.response.request, self.request_id)
        if state == self.CLOSED:
            raise StopIteration
        if state == self.READING:
            raise RuntimeError("another thread is reading this ImageStream")

    def _next_event(self) -> ImageStreamEvent:
        decoder = self._decoder
        while not self._pending:
            if decoder.failure is not None:
                raise decoder.failure
            if decoder.done:
                self._release()
                raise StopIteration
            chunk = self._read_chunk()
            if chunk:
                self._pending.extend(decoder.feed(chunk))
            else:
                decoder.finish()
            if decoder.done:
                self._release()  # nothing more is read: the connection goes now
        event: ImageStreamEvent = self._pending.popleft()
        return event

    def _read_chunk(self) -> bytes:
        """The next bytes of the body (``b""`` at its end); a connection
        dropped mid-stream is an ``IncompleteStreamError`` that keeps the
        events that arrived (a read timeout stays a timeout)."""
        decoder = self._decoder
        try:
            chunk: bytes = self.response.raw.read1(1 << 18)
        except APITimeoutError:
            raise
        except APIConnectionError as exc:
            closed = "IncompleteRead" in exc.message or "closed" in exc.message.lower()
            why = "the server closed the stream" if closed else f"the connection failed ({exc.message})"
            raise decoder.incomplete(f"{why} after {decoder.received} event(s)") from None
        return chunk

    def abort(self) -> None:
        """End the stream now, from any thread: the thread in ``next()``, and
        every later ``next()``, gets ``APIUserAbortError``. Idempotent; a
        no-op once the stream is closed."""
        self._stop(self.ABORTED)

    def close(self) -> None:
        """Release the connection. After the completed event, iteration ends
        (``StopIteration``); before it, a stream cut short never looks
        complete: the thread in ``next()``, and every later ``next()``, gets
        ``APIUserAbortError``, exactly as with ``abort()``. Idempotent."""
        self._stop(self.CLOSED)

    def _stop(self, wanted: str) -> None:
        before, after = self._move("abort" if wanted == self.ABORTED else "close")
        if before in (self.CLOSED, self.ABORTED):
            self._release()  # (idempotent) a stream whose call was aborted may hold its connection yet
            return
        if after == self.ABORTED:
            self._call.abort(AbortReason.USER)  # a reading thread wakes, and releases
        if before != self.READING:
            self._release()

    def final_image(self) -> ImageStreamEvent:
        """Consume the rest of the stream and return the completed event
        (``.to_bytes()``, ``.save(path)``)."""
        for _ in self:
            pass
        if self._decoder.completed is None:
            raise self._decoder.incomplete("the stream was closed")
        return self._decoder.completed

    def __enter__(self) -> ImageStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<ImageStream {self._decoder.kind} {self._state} request_id={self.request_id!r}>"


class _Endpoint:
    """One API method: its name, request model, path and event kind."""

    __slots__ = ("kind", "multipart", "name", "path", "request_class")

    def __init__(self, name: str, request_class: Any, path: str, kind: str, *, multipart: bool = False) -> None:
        self.name = name
        self.request_class = request_class
        self.path = path
        self.kind = kind
        self.multipart = multipart


_GENERATE = _Endpoint("generate", ImageGenerationRequest, "/images/generations", "image_generation")
_EDIT = _Endpoint("edit", ImageEditRequest, "/images/edits", "image_edit", multipart=True)
_EDIT_JSON = _Endpoint("edit_json", ImageEditJsonRequest, "/images/edits", "image_edit")
_VARIATION = _Endpoint(
    "create_variation", ImageVariationRequest, "/images/variations", "image_variation", multipart=True
)
# every method of client.images: its endpoint, and whether it always streams
_METHODS: Dict[str, Tuple[_Endpoint, bool]] = {
    "generate": (_GENERATE, False),
    "generate_stream": (_GENERATE, True),
    "edit": (_EDIT, False),
    "edit_stream": (_EDIT, True),
    "edit_json": (_EDIT_JSON, False),
    "edit_json_stream": (_EDIT_JSON, True),
    "create_variation": (_VARIATION, False),
}
_OPTION_NAMES = ("timeout", "extra_headers", "extra_query", "extra_body", "abort_trigger")
_PARSED, _RAW, _STREAMED = "parsed", "raw", "streamed"  # what a call returns: see ImagesResource._call


if TYPE_CHECKING:  # the typed surface of every images resource, for type checkers and editors only
    from typing_extensions import Required, TypedDict, Unpack

    _R = TypeVar("_R")  # what a call returns
    _S = TypeVar("_S")  # what a streaming call returns

    class _CallOptions(TypedDict, total=False):
        timeout: Union[float, Timeout, NotGiven, None]
        extra_headers: Optional[Mapping[str, Optional[str]]]
        extra_query: Optional[Mapping[str, object]]
        extra_body: Optional[Mapping[str, Any]]
        abort_trigger: object

    # One TypedDict per request model, field for field (a test keeps them equal); ``stream`` is separate.
    class _GenerateParams(_CallOptions, total=False):
        prompt: Required[str]
        model: Optional[str]
        background: Optional[str]
        complexity: Optional[str]
        frame_count: Optional[int]
        frame_duration_ms: Optional[int]
        moderation: Optional[str]
        n: Optional[int]
        output_compression: Optional[int]
        output_format: Optional[str]
        partial_images: Optional[int]
        quality: Optional[str]
        response_format: Optional[str]
        safety_identifier: Optional[str]
        size: Optional[str]
        style: Optional[str]
        svg: Optional[Mapping[str, Any]]
        user: Optional[str]

    class _EditParams(_CallOptions, total=False):
        image: Required[Union[FileInput, Sequence[FileInput]]]
        prompt: Required[str]
        mask: Optional[FileInput]
        markup: Optional[FileInput]
        background: Optional[str]
        complexity: Optional[str]
        frame_count: Optional[int]
        frame_duration_ms: Optional[int]
        input_fidelity: Optional[str]
        model: Optional[str]
        moderation: Optional[str]
        n: Optional[int]
        output_compression: Optional[int]
        output_format: Optional[str]
        partial_images: Optional[int]
        quality: Optional[str]
        response_format: Optional[str]
        safety_identifier: Optional[str]
        size: Optional[str]
        svg: Optional[Mapping[str, Any]]
        user: Optional[str]

    class _EditJsonParams(_CallOptions, total=False):
        images: Required[Sequence[Union[ImageReference, str, Mapping[str, str]]]]
        prompt: Required[str]
        mask: Optional[Union[ImageReference, str, Mapping[str, str]]]
        model: Optional[str]
        background: Optional[str]
        input_fidelity: Optional[str]
        moderation: Optional[str]
        n: Optional[int]
        output_compression: Optional[int]
        output_format: Optional[str]
        partial_images: Optional[int]
        quality: Optional[str]
        size: Optional[str]
        user: Optional[str]

    class _VariationParams(_CallOptions, total=False):
        image: Required[FileInput]
        model: Optional[str]
        n: Optional[int]
        response_format: Optional[str]
        size: Optional[str]
        user: Optional[str]

    class _ImagesSurface(Generic[_R, _S]):
        """The methods of ``client.images`` as type checkers see them, with what
        a call returns (``_R``) and what a streaming call returns (``_S``) left
        open: the plain, raw, streamed-response and async resources fill them in."""

        @overload
        def generate(
            self, request: ImageGenerationRequest, /, *, stream: Literal[True], **options: Unpack[_CallOptions]
        ) -> _S: ...
        @overload
        def generate(
            self,
            request: ImageGenerationRequest,
            /,
            *,
            stream: Optional[Literal[False]] = None,
            **options: Unpack[_CallOptions],
        ) -> _R: ...
        @overload
        def generate(self, /, *, stream: Literal[True], **params: Unpack[_GenerateParams]) -> _S: ...
        @overload
        def generate(self, /, *, stream: Optional[Literal[False]] = None, **params: Unpack[_GenerateParams]) -> _R: ...
        @overload
        def generate(self, /, *, stream: bool, **params: Unpack[_GenerateParams]) -> Union[_R, _S]: ...
        def generate(self, *args: Any, **kwargs: Any) -> Any: ...
        @overload
        def generate_stream(self, request: ImageGenerationRequest, /, **options: Unpack[_CallOptions]) -> _S: ...
        @overload
        def generate_stream(self, /, **params: Unpack[_GenerateParams]) -> _S: ...
        def generate_stream(self, *args: Any, **kwargs: Any) -> Any: ...
        @overload
        def edit(
            self, request: ImageEditRequest, /, *, stream: Literal[True], **options: Unpack[_CallOptions]
        ) -> _S: ...
        @overload
        def edit(
            self,
            request: ImageEditRequest,
            /,
            *,
            stream: Optional[Literal[False]] = None,
            **options: Unpack[_CallOptions],
        ) -> _R: ...
        @overload
        def edit(self, /, *, stream: Literal[True], **params: Unpack[_EditParams]) -> _S: ...
        @overload
        def edit(self, /, *, stream: Optional[Literal[False]] = None, **params: Unpack[_EditParams]) -> _R: ...
        @overload
        def edit(self, /, *, stream: bool, **params: Unpack[_EditParams]) -> Union[_R, _S]: ...
        def edit(self, *args: Any, **kwargs: Any) -> Any: ...
        @overload
        def edit_stream(self, request: ImageEditRequest, /, **options: Unpack[_CallOptions]) -> _S: ...
        @overload
        def edit_stream(self, /, **params: Unpack[_EditParams]) -> _S: ...
        def edit_stream(self, *args: Any, **kwargs: Any) -> Any: ...
        @overload
        def edit_json(
            self, request: ImageEditJsonRequest, /, *, stream: Literal[True], **options: Unpack[_CallOptions]
        ) -> _S: ...
        @overload
        def edit_json(
            self,
            request: ImageEditJsonRequest,
            /,
            *,
            stream: Optional[Literal[False]] = None,
            **options: Unpack[_CallOptions],
        ) -> _R: ...
        @overload
        def edit_json(self, /, *, stream: Literal[True], **params: Unpack[_EditJsonParams]) -> _S: ...
        @overload
        def edit_json(self, /, *, stream: Optional[Literal[False]] = None, **params: Unpack[_EditJsonParams]) -> _R: ...
        @overload
        def edit_json(self, /, *, stream: bool, **params: Unpack[_EditJsonParams]) -> Union[_R, _S]: ...
        def edit_json(self, *args: Any, **kwargs: Any) -> Any: ...
        @overload
        def edit_json_stream(self, request: ImageEditJsonRequest, /, **options: Unpack[_CallOptions]) -> _S: ...
        @overload
        def edit_json_stream(self, /, **params: Unpack[_EditJsonParams]) -> _S: ...
        def edit_json_stream(self, *args: Any, **kwargs: Any) -> Any: ...
        @overload
        def create_variation(self, request: ImageVariationRequest, /, **options: Unpack[_CallOptions]) -> _R: ...
        @overload
        def create_variation(self, /, **params: Unpack[_VariationParams]) -> _R: ...
        def create_variation(self, *args: Any, **kwargs: Any) -> Any: ...

    _Images = _ImagesSurface[ImagesResponse, ImageStream]
    _RawImages = _ImagesSurface["RawResponse[ImagesResponse]", "RawResponse[ImageStream]"]
    _StreamedImages = _ImagesSurface[
        "_ResponseContext[StreamedResponse[ImagesResponse]]", "_ResponseContext[StreamedResponse[ImageStream]]"
    ]
else:
    _Images = _RawImages = _StreamedImages = object


def _request_from(endpoint: _Endpoint, request: Any, params: Dict[str, Any], stream: Optional[bool]) -> Any:
    """The request model of a call made either with one or with keyword
    fields; ``stream``, when given, overrides the request's own."""
    cls, method = endpoint.request_class, endpoint.name
    if request is not None:
        if not isinstance(request, cls):
            raise TypeError(f"{method}() takes a {cls.__name__} or keyword arguments, not {type(request).__name__}")
        if params:
            raise TypeError(f"{method}(): pass either a {cls.__name__} or keyword fields, not both")
        return request if stream is None else replace(request, stream=stream)
    if stream is not None:
        params = {**params, "stream": stream}
    _check_fields(method, cls, params)
    return cls(**params)


def _check_fields(method: str, cls: Any, params: Mapping[str, Any]) -> None:
    """Every keyword is a field of ``cls`` (else a ``TypeError`` with the
    closest name), and every required field is given."""
    names = _field_names(cls)
    unknown = [name for name in params if name not in names]
    if unknown:
        raise TypeError(
            f"{method}() got an unexpected keyword argument {unknown[0]!r}{_did_you_mean(unknown, names)}; "
            "use extra_body for new API fields"
        )
    missing = [name for name in _required_fields(cls) if params.get(name) is None]
    if missing:
        raise TypeError(f"{method}(): missing required argument(s): {', '.join(repr(m) for m in missing)}")


def _required_fields(cls: Any) -> List[str]:
    """The fields of a request model that have no default."""
    return [spec.name for spec in fields(cls) if spec.default is spec.default_factory is _NO_DEFAULT]


def _did_you_mean(unknown: List[str], names: Tuple[str, ...]) -> str:
    """`` (did you mean 'size'?)`` for each unknown keyword that is close to a field or an option."""
    import difflib

    hints = [difflib.get_close_matches(name, names + _OPTION_NAMES, 1) for name in unknown]
    return "".join(f" (did you mean {h[0]!r}?)" for h in hints if h)


# The options every method takes besides its request's fields: name, type (as help() shows it), default.
_CALL_OPTIONS: Tuple[Tuple[str, str, object], ...] = (
    ("timeout", "Union[float, Timeout, None]", NOT_GIVEN),
    ("extra_headers", "Optional[Mapping[str, Optional[str]]]", None),
    ("extra_query", "Optional[Mapping[str, object]]", None),
    ("extra_body", "Optional[Mapping[str, Any]]", None),
    ("abort_trigger", "object", None),
)


class _ResourceMethod:
    """A method of ``ImagesResource``, made from its endpoint's request model:
    ``method(request=None, /, **fields_and_options)``. What ``help()`` shows
    is built from the model's fields on first look (one copy of each field:
    the dataclass), so importing the module imports no ``inspect``."""

    def __init__(self, name: str, returns: str, doc: str) -> None:
        def method(self: Any, request: Any = None, /, **arguments: Any) -> Any:
            return self._call(name, {"request": request, **arguments})

        method.__name__ = name
        method.__qualname__ = f"ImagesResource.{name}"
        method.__doc__ = " ".join(doc.split())
        self.function = method
        self.returns = returns

    def __get__(self, instance: object, owner: Optional[type] = None) -> Any:
        function = self.function
        if "__signature__" not in function.__dict__:  # the first look: build what help() shows
            function.__signature__ = _method_signature(function.__name__, self.returns)  # type: ignore[attr-defined]
        return function if instance is None else function.__get__(instance, owner)


def _method_signature(name: str, returns: str) -> Any:
    """The signature of an images method: ``self``, the request (positional
    only), each field of its request model as a keyword (a required one
    defaults to ``NOT_GIVEN``), the call options, then ``**unexpected``."""
    import inspect

    endpoint, always_streams = _METHODS[name]
    kind = inspect.Parameter
    model = endpoint.request_class
    parameters = [
        kind("self", kind.POSITIONAL_ONLY),
        kind("request", kind.POSITIONAL_ONLY, default=None, annotation=f"Optional[{model.__name__}]"),
    ]
    for spec in fields(model):
        if not (always_streams and spec.name == "stream"):
            required = spec.default is _NO_DEFAULT and spec.default_factory is _NO_DEFAULT
            parameters.append(
                kind(
                    spec.name, kind.KEYWORD_ONLY, default=NOT_GIVEN if required else spec.default, annotation=spec.type
                )
            )
    parameters += [kind(option, kind.KEYWORD_ONLY, default=d, annotation=a) for option, a, d in _CALL_OPTIONS]
    parameters.append(kind("unexpected", kind.VAR_KEYWORD, annotation="Any"))
    return inspect.Signature(parameters, return_annotation=returns)


class ImagesResource(_Images):
    """``client.images``: generate, edit (multipart and JSON), variations, and
    their streaming forms (``generate_stream``, …, or ``stream=True``).

    Each method takes a request object (``ImageGenerationRequest``, …) or the
    same fields as keyword arguments (the official SDK's names), plus per-call
    ``timeout`` (seconds, ``Timeout`` or ``None``), ``extra_headers`` (a
    ``None`` value removes a header), ``extra_query``, ``extra_body`` (merged
    over the body; new API fields) and ``abort_trigger`` (a
    ``threading.Event`` or ``concurrent.futures.Future``). A keyword left
    ``None`` or ``NOT_GIVEN`` is not sent.

    ``with_raw_response`` has the same methods, returning a ``RawResponse``
    (headers, status, ``parse()``); ``with_streaming_response`` returns a
    context manager of a ``StreamedResponse``, whose body is read only when asked.
    """

    def __init__(self, client: _BaseClient) -> None:
        self._client = client

    @property
    def with_raw_response(self) -> _RawImages:
        """The same methods, each returning a ``RawResponse``."""
        return cast("_RawImages", _DerivedImages(self, _RAW))

    @property
    def with_streaming_response(self) -> _StreamedImages:
        """The same methods, each returning a context manager of a ``StreamedResponse``."""
        return cast("_StreamedImages", _DerivedImages(self, _STREAMED))

    if not TYPE_CHECKING:  # type checkers see the overloads of _ImagesSurface; help() sees these
        generate = _ResourceMethod(
            "generate",
            "Union[ImagesResponse, ImageStream]",
            """Create images from a prompt (``POST /images/generations``). With
            ``stream=True`` (or a request whose ``stream`` is true) returns an
            ``ImageStream`` of ``ImageGen*Event``s.""",
        )
        edit = _ResourceMethod(
            "edit",
            "Union[ImagesResponse, ImageStream]",
            """Edit or extend images (multipart ``POST /images/edits``). Files are
            streamed from disk; see ``ImageEditRequest`` for the accepted forms.""",
        )
        edit_json = _ResourceMethod(
            "edit_json",
            "Union[ImagesResponse, ImageStream]",
            """Edit images given by URL or file id (JSON ``POST /images/edits``).""",
        )
        create_variation = _ResourceMethod(
            "create_variation",
            "ImagesResponse",
            """Variations of an image (``POST /images/variations``). The endpoint is
            retired; a ``DeprecationWarning`` says so on every call.""",
        )
        generate_stream = _ResourceMethod("generate_stream", "ImageStream", "``generate`` that always streams.")
        edit_stream = _ResourceMethod("edit_stream", "ImageStream", "``edit`` that always streams.")
        edit_json_stream = _ResourceMethod("edit_json_stream", "ImageStream", "``edit_json`` that always streams.")

    def _call(
        self,
        method: str,
        arguments: Mapping[str, Any],
        mode: str = _PARSED,
        on_open: Optional[Callable[[_Call], None]] = None,
    ) -> Any:
        """The one call path of every method of every images resource.

        ``arguments`` are the request (``request``) and the keywords the
        method was given. ``mode`` says what to return: the parsed
        result or ``ImageStream`` (``_PARSED``), a ``RawResponse`` whose body has
        been read (``_RAW``), or a ``StreamedResponse`` whose body has not
        (``_STREAMED``). ``on_open`` gets the call as soon as it exists (the
        async client aborts it when its task is cancelled).
        """
        endpoint, always_streams = _METHODS[method]
        if endpoint is _VARIATION:
            warnings.warn(
                "create_variation is deprecated: the variations endpoint is retired; use edit() "
                "with a GPT image model and a prompt",
                DeprecationWarning,
                stacklevel=3,
            )
        req, options = _request_and_options(endpoint, always_streams, arguments)
        extra_body: Mapping[str, Any] = options["extra_body"] or {}
        streaming = bool(extra_body.get("stream", getattr(req, "stream", None)))
        body = req.to_multipart(extra_body) if endpoint.multipart else {**req.to_dict(), **extra_body}

        client, config = self._client, self._client.config
        timeout = options["timeout"]
        limits = config.timeout if timeout is NOT_GIVEN else Timeout.coerce(timeout)
        trigger = None if options["abort_trigger"] is NOT_GIVEN else options["abort_trigger"]
        call = client._open_call(trigger, limits.total)  # pyright: ignore[reportPrivateUsage]
        if on_open is not None:
            on_open(call)
        with call:
            sent = client.request_builder.build(
                "POST",
                endpoint.path,
                body=body,
                stream=streaming,
                model=req.model,
                timeout=limits,
                extra_headers=_given(options["extra_headers"]),
                extra_query=_given(options["extra_query"]),
                call=call,
                leave_body=mode == _STREAMED,
            )
            return _result(client.chain(sent), sent, call, mode, endpoint.kind if streaming else None, config)


def _request_and_options(
    endpoint: _Endpoint, always_streams: bool, arguments: Mapping[str, Any]
) -> Tuple[Any, Dict[str, Any]]:
    """The request model of a call (from ``request`` or the keyword fields)
    and its options (``timeout``, ``extra_body``, …). Every keyword is a
    field or an option: any other name is a ``TypeError``."""
    params = dict(arguments)
    request = params.pop("request", None)
    options = {name: _without_not_given(params.pop(name, NOT_GIVEN)) for name in _OPTION_NAMES}
    stream = True if always_streams else params.pop("stream", None)
    given = {name: value for name, value in params.items() if value is not None and value is not NOT_GIVEN}
    return _request_from(endpoint, request, given, None if stream is NOT_GIVEN else stream), options


def _result(
    response: Response, sent: Request, call: _Call, mode: str, stream_kind: Optional[str], config: OpenAIConfig
) -> Any:
    """What a call returns, by ``mode`` (see ``ImagesResource._call``) and
    whether it streams (``stream_kind``, the events' kind)."""
    limit = config.max_response_bytes
    if mode == _STREAMED:
        call.hand_over()  # the StreamedResponse finishes the call when it is closed
        return StreamedResponse[Any](response, sent, call, stream_kind, config)
    if stream_kind is None:
        if mode == _RAW:
            response.read(limit)  # the body is read now; parse() parses it
            return RawResponse[Any](response, sent, limit)
        return ImagesResponse.parse(response, limit)
    image_stream = _stream_of(response, call, stream_kind, config)
    return image_stream if mode == _PARSED else RawResponse[Any](response, sent, limit, image_stream)


def _given(value: Any) -> Any:
    """``None`` for an option left at ``NOT_GIVEN``."""
    return None if value is NOT_GIVEN else value


def _without_not_given(value: Any) -> Any:
    """A mapping option (``extra_body``, …) without its ``NOT_GIVEN`` entries, as the official SDK sends it."""
    if isinstance(value, Mapping):
        return {k: v for k, v in cast("Mapping[str, Any]", value).items() if v is not NOT_GIVEN}
    return value


def _stream_of(response: Response, call: _Call, kind: str, config: OpenAIConfig) -> ImageStream:
    """The ``ImageStream`` of a streaming response; it owns the call from now on."""
    stream = ImageStream(
        response,
        call,
        kind=kind,
        max_event_bytes=config.max_event_bytes,
        max_response_bytes=config.max_response_bytes,
    )
    call.hand_over()  # the stream finishes the call when it ends or is collected
    return stream


class _DerivedImages:
    """``client.images.with_raw_response`` and ``.with_streaming_response``:
    the methods of ``client.images``, returning a ``RawResponse`` or a
    context manager of a ``StreamedResponse``."""

    def __init__(self, images: ImagesResource, mode: str) -> None:
        self._images = images
        self._mode = mode

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name not in _METHODS:
            raise AttributeError(f"client.images has no method {name!r}; it has {', '.join(_METHODS)}")
        images, mode = self._images, self._mode

        def method(request: Any = None, /, **params: Any) -> Any:
            arguments = {"request": request, **params}
            if mode == _STREAMED:
                return _ResponseContext(lambda: images._call(name, arguments, mode))  # pyright: ignore[reportPrivateUsage]
            return images._call(name, arguments, mode)  # pyright: ignore[reportPrivateUsage]

        method.__name__ = method.__qualname__ = name
        return method

    def __dir__(self) -> List[str]:
        return list(_METHODS)


class _ResponseView:
    """What a raw and a streamed response share: the HTTP exchange and its headers."""

    def __init__(self, response: Response, request: Request) -> None:
        self.http_response = response
        self.http_request = request  # as the client built it: the credentials are added per attempt

    @property
    def headers(self) -> Headers:
        """The response headers (case-insensitive)."""
        return self.http_response.headers

    @property
    def status_code(self) -> int:
        return self.http_response.status_code

    @property
    def request_id(self) -> Optional[str]:
        """The ``x-request-id`` header."""
        return self.http_response.request_id

    @property
    def url(self) -> str:
        return self.http_request.url

    @property
    def method(self) -> str:
        return self.http_request.method

    @property
    def retries_taken(self) -> int:
        """How many retries the call made before this response."""
        attempt = self.http_response.request.extensions.get("attempt")
        return attempt if isinstance(attempt, int) else 0

    @property
    def is_closed(self) -> bool:
        """Whether the body was read to its end, or the response closed."""
        return self.http_response.is_closed

    @property
    def http_version(self) -> str:
        """``HTTP/1.1`` (urllib speaks nothing else), or ``HTTP/1.0`` for a server that does."""
        version = getattr(getattr(self.http_response.raw, "_raw", None), "version", 11)
        return "HTTP/1.0" if version == 10 else "HTTP/1.1"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} [{self.status_code}] request_id={self.request_id!r}>"


class RawResponse(_ResponseView, Generic[_T]):
    """What a method of ``client.images.with_raw_response`` returns: the HTTP
    response, its body already read (a stream's body is read by its events),
    and ``parse()`` for what the plain method would have returned. As the
    official SDK's raw responses: ``headers``, ``status_code``,
    ``request_id``, ``http_request`` (``method``, ``url``), ``content``,
    ``text``, ``json()``, ``parse()``, ``retries_taken``.
    """

    def __init__(
        self, response: Response, request: Request, limit: Optional[int], stream: Optional[ImageStream] = None
    ) -> None:
        super().__init__(response, request)
        self._limit = limit
        self._stream = stream  # the stream of a streaming call
        self._parse: Callable[[], Any] = lambda: stream or ImagesResponse.parse(response, limit)

    @property
    def content(self) -> bytes:
        """The body (for a stream call, whatever its events have not read yet)."""
        return self.http_response.read(self._limit)

    @property
    def text(self) -> str:
        """The body as text (read within ``max_response_bytes``)."""
        self.http_response.read(self._limit)
        return self.http_response.text

    def json(self) -> Any:
        """The body parsed as JSON."""
        return self.http_response.json(self._limit)

    def parse(self) -> _T:
        """The ``ImagesResponse`` (or ``ImageStream``) the plain method returns."""
        parsed: _T = self._parse()
        return parsed


class StreamedResponse(_ResponseView, Generic[_T]):
    """The response of ``client.images.with_streaming_response.<method>(...)``,
    inside its ``with`` block: headers and status at once, the body only when
    asked, through ``iter_bytes()``, ``iter_text()``, ``iter_lines()``,
    ``read()``, ``text()``, ``json()`` or ``parse()`` (the ``ImagesResponse``,
    or the ``ImageStream`` of a streaming call). Leaving the block closes it.
    """

    def __init__(
        self, response: Response, request: Request, call: _Call, stream_kind: Optional[str], config: OpenAIConfig
    ) -> None:
        super().__init__(response, request)
        self._call = call
        self._stream_kind = stream_kind
        self._config = config
        self._parsed: Any = NOT_GIVEN
        self._consumed = False
        self._release = weakref.finalize(self, call.finish)  # dropped unclosed: the connection goes

    def iter_bytes(self, chunk_size: Optional[int] = None) -> Iterator[bytes]:
        """The body as it arrives, decompressed (from memory once ``read()``)."""
        if self.http_response.content_read:
            return iter([self.http_response.read()])
        self._consume()
        return self.http_response.iter_bytes(chunk_size, self._config.max_response_bytes)

    def iter_text(self, chunk_size: Optional[int] = None) -> Iterator[str]:
        """The body as UTF-8 text, as it arrives."""
        import codecs

        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        for chunk in self.iter_bytes(chunk_size):
            text = decoder.decode(chunk)
            if text:
                yield text
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail

    def iter_lines(self) -> Iterator[str]:
        """The body's lines (ended by ``\\n``, ``\\r\\n`` or ``\\r``), without
        their endings, as they arrive: linear in the body's size, and bounded
        by ``max_response_bytes`` like every read."""
        secrets = _secrets_sent(self.http_response.request)  # the attempt's request: it carried the key
        return (_scrub_text(line, secrets) for line in _lines(self.iter_text()))

    def read(self) -> bytes:
        """The whole body (within the client's ``max_response_bytes``); kept,
        so ``text()``, ``json()`` and ``parse()`` can follow."""
        if not self.http_response.content_read:
            self._consume()
        return self.http_response.read(self._config.max_response_bytes)

    def text(self) -> str:
        """The whole body as text."""
        self.read()
        return self.http_response.text

    def json(self) -> Any:
        """The whole body parsed as JSON."""
        self.read()
        return self.http_response.json()

    def parse(self) -> _T:
        """The ``ImagesResponse``, or for a streaming call the ``ImageStream``
        over the body. The same object on every call."""
        if self._parsed is NOT_GIVEN:
            if self._stream_kind is None:
                self.read()
                self._parsed = ImagesResponse.parse(self.http_response, self._config.max_response_bytes)
            else:
                self._consume()
                self._parsed = _stream_of(self.http_response, self._call, self._stream_kind, self._config)
        parsed: _T = self._parsed
        return parsed

    def _consume(self) -> None:
        if self._consumed:
            raise OpenAIError("The response body is being read already; read it one way only")
        self._consumed = True

    def close(self) -> None:
        """Release the connection (a parsed stream is closed), from any thread:
        a thread reading the body gets ``APIUserAbortError``. Idempotent."""
        if isinstance(self._parsed, ImageStream):
            self._parsed.close()
        self._call.abort()  # wakes a reader; a no-op once the call has finished
        self._release()

    def __enter__(self) -> StreamedResponse[_T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _lines(texts: Iterable[str]) -> Iterator[str]:
    """Lines from pieces of text: a line is joined once, when its end arrives
    (never re-scanned piece after piece), and a ``\\r`` at the end of a
    piece waits for the next, which may hold its ``\\n``."""
    import re

    ends = re.compile("\r\n|\r|\n")
    pending: List[str] = []
    for text in texts:
        if pending and pending[-1].endswith("\r"):
            text, pending[-1] = "\r" + text, pending[-1][:-1]
        start = 0
        for end in ends.finditer(text):
            if end.end() == len(text) and end.group() == "\r":
                break  # maybe the first half of "\r\n"
            pending.append(text[start : end.start()])
            yield "".join(pending)
            pending, start = [], end.end()
        if start < len(text):
            pending.append(text[start:])
    if pending:
        line = "".join(pending)
        yield line[:-1] if line.endswith("\r") else line


class _ResponseContext(Generic[_T]):
    """``with client.images.with_streaming_response.generate(...) as response``:
    the call is made when the block is entered, and closed when it is left."""

    def __init__(self, send: Callable[[], _T]) -> None:
        self._send = send
        self._response: Optional[_T] = None

    def __enter__(self) -> _T:
        self._response = self._send()
        return self._response

    def __exit__(self, *exc_info: object) -> None:
        if self._response is not None:
            cast("StreamedResponse[Any]", self._response).close()


# =============================================================================
# OpenAIClient
# =============================================================================


def _client_config(config: Optional[OpenAIConfig], changes: Dict[str, Any], max_retries: Optional[int]) -> OpenAIConfig:
    """A client's settings: ``config`` (else the environment's) with ``changes``."""
    if config is None:
        config = OpenAIConfig.from_env(**changes)
    elif changes:
        config = replace(config, **changes)
    if max_retries is not None:
        config = replace(config, retry_policy=replace(config.retry_policy, max_retries=max_retries))
    return config


class _BaseClient:
    """What the sync and async clients share: settings, the interceptor
    chain, and the calls in flight (see ``OpenAIClient``)."""

    _images_class: ClassVar[Any] = None  # the class of .images

    def __init__(
        self,
        *,
        api_key: Optional[ApiKey] = None,
        organization: Optional[str] = None,
        project: Optional[str] = None,
        base_url: Optional[str] = None,
        data_residency: Optional[str] = None,
        timeout: Union[float, Timeout, None] = NOT_GIVEN,
        max_retries: Optional[int] = None,
        default_headers: Optional[Mapping[str, str]] = None,
        default_query: Optional[Mapping[str, str]] = None,
        interceptors: Sequence[Interceptor] = (),
        ssl_context: Optional[ssl.SSLContext] = None,
        proxies: Optional[Mapping[str, str]] = None,
        config: Optional[OpenAIConfig] = None,
        transport: Optional[Handler] = None,
        admin_api_key: Optional[str] = None,
        webhook_secret: Optional[str] = None,
        websocket_base_url: Optional[str] = None,
        workload_identity: object = None,
        provider: object = None,
        http_client: object = None,
        _strict_response_validation: bool = False,
        _enforce_credentials: bool = True,
    ) -> None:
        """The official SDK's keywords all work here: ``data_residency``
        (``"us"``, ``"eu"``, … picks the regional endpoint) and
        ``_enforce_credentials=False`` (no key: requests go without
        credentials, for servers that need none). ``admin_api_key``,
        ``webhook_secret``, ``websocket_base_url`` and
        ``_strict_response_validation`` are accepted and ignored: no images
        endpoint uses them, and replies are always checked. ``http_client``,
        ``workload_identity`` and ``provider`` raise ``TypeError`` saying what
        to use instead."""
        _refuse_sdk_only(http_client=http_client, workload_identity=workload_identity, provider=provider)
        if data_residency is not None:
            base_url = _residency_url(data_residency, base_url)
        changes: Dict[str, Any] = {"api_key": api_key, "base_url": base_url, "organization": organization}
        changes.update(project=project, default_headers=default_headers, default_query=default_query)
        changes.update(ssl_context=ssl_context, proxies=proxies)
        if timeout is not NOT_GIVEN:
            changes["timeout"] = Timeout.coerce(timeout)
        if not _enforce_credentials:
            changes["require_api_key"] = False
        config = _client_config(config, {k: v for k, v in changes.items() if v is not None}, max_retries)
        if config.api_key is None and config.require_api_key:
            config.resolve_api_key()  # raises the "no API key" error before any traffic
        _configure_logging_from_env()
        self.config = config
        self.webhook_secret = webhook_secret
        self.websocket_base_url = websocket_base_url
        self.interceptors = list(interceptors)
        self.request_builder = RequestBuilder(config)
        self.transport: Handler = transport or HTTPTransport(config)
        self._custom_transport = transport
        self.chain = InterceptorChain(
            [
                _ErrorInterceptor(config),
                *self.interceptors,
                _RetryInterceptor(),
                _AuthInterceptor(config),
                _LoggingInterceptor(),
            ],
            self.transport,
        )
        self._calls: weakref.WeakSet[_Call] = weakref.WeakSet()  # the calls in flight, for close()
        self._lock = threading.Lock()
        self._closed = False
        self.images: Any = self._images_class(self)

    # The official SDK's attributes, read from the configuration.
    @property
    def api_key(self) -> str:
        """The API key the next request sends (a callable key is called)."""
        return self.config.resolve_api_key()

    @property
    def organization(self) -> Optional[str]:
        return self.config.organization

    @property
    def project(self) -> Optional[str]:
        return self.config.project

    @property
    def base_url(self) -> str:
        return self.config.base_url

    @property
    def timeout(self) -> Timeout:
        return self.config.timeout

    @property
    def max_retries(self) -> int:
        return self.config.retry_policy.max_retries

    def __getattr__(self, name: str) -> Any:
        """An attribute of the official SDK's client that this module lacks on
        purpose: an ``AttributeError`` that says what to use instead."""
        raise AttributeError(_sdk_only_message(type(self).__name__, name))

    @classmethod
    def azure(cls: Type[_C], **kwargs: Any) -> _C:
        """A client for Azure OpenAI; see ``OpenAIConfig.azure`` for the arguments."""
        options = {name: kwargs.pop(name) for name in ("interceptors", "transport") if name in kwargs}
        return cls(config=OpenAIConfig.azure(**kwargs), **options)

    def with_options(self: _C, **changes: Any) -> _C:
        """A new client with some settings changed (same arguments as the constructor)."""
        changes.setdefault("interceptors", self.interceptors)
        changes.setdefault("transport", self._custom_transport)
        client = type(self).__new__(type(self))
        _BaseClient.__init__(client, config=self.config, **changes)
        return client

    copy = with_options

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called; a closed client refuses new calls."""
        return self._closed

    def is_closed(self) -> bool:
        """The official SDK's spelling of ``closed``."""
        return self._closed

    def _close(self) -> None:
        with self._lock:
            self._closed = True
            calls = list(self._calls)
        for call in calls:
            call.abort(AbortReason.CLIENT_CLOSED)

    def _open_call(self, trigger: object, total: Optional[float]) -> _Call:
        """A new call of this client (refused once the client is closed)."""
        call = _Call(trigger, total)
        with self._lock:
            if not self._closed:
                self._calls.add(call)
                return call
        call.finish()
        raise OpenAIError("This client has been closed; create a new one")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} base_url={self.config.base_url!r}>"


_C = TypeVar("_C", bound=_BaseClient)


class OpenAIClient(_BaseClient):
    """The client: ``client.images`` has every method of the Images API
    (``generate``, ``edit``, ``edit_json``, ``create_variation`` and their
    streaming forms, each also under ``with_raw_response`` and
    ``with_streaming_response``).

    Settings come from keyword arguments (the official SDK's, and more: see
    ``__init__``), else the environment (``OPENAI_API_KEY``,
    ``OPENAI_BASE_URL``, ``OPENAI_ORG_ID``, ``OPENAI_PROJECT_ID``), or all
    at once from ``config=OpenAIConfig(...)``.

    Thread-safe: one client can serve many threads. ``close()`` ends every
    call in flight (streams included) and is idempotent; the client is also a
    context manager.
    ``OPENAI_LOG=debug|info`` turns on logging to stderr (keys redacted).

    ``transport`` replaces the innermost handler (``Request -> Response``,
    by default an ``HTTPTransport``): a recorder, a replay cache, another
    HTTP stack. It must return every status as a ``Response`` and raise
    ``APIConnectionError`` for network failures, as ``HTTPTransport`` does.
    """

    _images_class = ImagesResource
    images: ImagesResource

    @property
    def with_raw_response(self) -> _ClientView[_RawImages]:
        """``client.with_raw_response.images``, as in the official SDK."""
        return _ClientView(self.images.with_raw_response)

    @property
    def with_streaming_response(self) -> _ClientView[_StreamedImages]:
        """``client.with_streaming_response.images``, as in the official SDK."""
        return _ClientView(self.images.with_streaming_response)

    def close(self) -> None:
        """End every call of this client still in flight, from any thread and
        at any stage (streams included): each raises ``APIUserAbortError``
        with ``reason="client_closed"``. Later calls raise ``OpenAIError``.
        Idempotent."""
        self._close()

    def __enter__(self) -> OpenAIClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


OpenAI = OpenAIClient


class AzureOpenAI(OpenAIClient):
    """Drop-in for the official SDK's ``AzureOpenAI`` (images only)."""

    def __init__(
        self,
        *,
        azure_endpoint: Optional[str] = None,
        azure_deployment: Optional[str] = None,
        api_version: Optional[str] = None,
        api_key: Optional[ApiKey] = None,
        azure_ad_token: Optional[str] = None,
        azure_ad_token_provider: Optional[Callable[[], str]] = None,
        base_url: Optional[str] = None,
        config: Optional[OpenAIConfig] = None,
        **kwargs: Any,
    ) -> None:
        """The official SDK's ``AzureOpenAI`` keywords, plus those of ``OpenAIClient``."""
        if config is None:
            config = OpenAIConfig.azure(
                endpoint=azure_endpoint,
                deployment=azure_deployment,
                api_version=api_version,
                api_key=api_key,
                ad_token=azure_ad_token_provider or azure_ad_token,
                base_url=base_url,
            )
        _BaseClient.__init__(self, config=config, **kwargs)  # shared with AsyncAzureOpenAI


_logging_configured = False


_RESIDENCY_HOSTS = ("us", "eu", "ae", "au", "in", "jp")  # data_residency values besides "global"
# The official SDK's client attributes that are not here, and what to use instead.
_SDK_RESOURCES = frozenset(
    [
        "admin",
        "audio",
        "batches",
        "beta",
        "chat",
        "completions",
        "containers",
        "content_provenance_checks",
        "conversations",
        "decisions",
        "embeddings",
        "evals",
        "files",
        "fine_tuning",
        "live",
        "models",
        "moderations",
        "realtime",
        "responses",
        "safety",
        "skills",
        "uploads",
        "vector_stores",
        "videos",
        "webhooks",
    ]
)
_SDK_ONLY = {
    "http_client": "this client makes its requests with the standard library; pass transport=, ssl_context= "
    "or proxies= to the constructor instead",
    "workload_identity": "pass api_key= a callable that returns a fresh token instead",
    "provider": "pass base_url=, default_headers= and api_key= for the provider, or use AzureOpenAI",
}
for _name in ("get", "post", "put", "patch", "delete", "request", "get_api_list"):
    _SDK_ONLY[_name] = "send raw HTTP through client.chain(Request(...)), or add an interceptor"
for _name in ("auth_headers", "default_headers", "default_query", "custom_auth", "platform_headers", "user_agent"):
    _SDK_ONLY[_name] = "the settings are in client.config (default_headers, default_query, auth_header)"


def _sdk_only_message(owner: str, name: str) -> str:
    if name in _SDK_RESOURCES:
        return (
            f"{owner}.{name} is not here: openai_images covers the Images API only "
            f"(client.images); use the official openai package for {name}"
        )
    if name in _SDK_ONLY:
        return f"{owner}.{name} is not here: {_SDK_ONLY[name]}"
    return f"{owner!r} object has no attribute {name!r}"


def _refuse_sdk_only(**given: object) -> None:
    """A ``TypeError`` for a constructor keyword of the official SDK that cannot work here."""
    for name, value in given.items():
        if value is not None:
            raise TypeError(f"{name}= cannot work here: {_SDK_ONLY[name]}")


def _residency_url(region: str, base_url: Optional[str]) -> str:
    """The base URL of a ``data_residency`` region, as the official SDK's
    (``base_url`` must not be given too)."""
    if base_url is not None:
        raise ValueError("data_residency and base_url cannot both be given: data_residency picks the URL")
    if region == "global":
        return DEFAULT_BASE_URL
    if region in _RESIDENCY_HOSTS:
        return f"https://{region}.api.openai.com/v1"
    raise ValueError(
        f"data_residency must be one of 'global', {', '.join(map(repr, _RESIDENCY_HOSTS))}; got {region!r}"
    )


class _ClientView(Generic[_T]):
    """``client.with_raw_response`` / ``client.with_streaming_response``: their ``images``."""

    def __init__(self, images: _T) -> None:
        self.images = images

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(_sdk_only_message("client.with_raw_response", name))


def _configure_logging_from_env() -> None:
    """``OPENAI_LOG=debug`` or ``info``: log to stderr (once per process)."""
    global _logging_configured
    level = {"debug": _DEBUG, "info": _INFO}.get((os.environ.get("OPENAI_LOG") or "").lower())
    if level is None or _logging_configured:
        return
    _logging_configured = True
    _log_to_stderr("[%(asctime)s %(levelname)s %(name)s] %(message)s", level)


def _log_to_stderr(pattern: str, level: int) -> None:
    import logging

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(pattern))
    _log().addHandler(handler)
    _log().setLevel(level)


class _ServerProblem(Exception):
    """The server's reply cannot give the user an image: exit status 1."""

    def __init__(self, message: str, request_id: Optional[str] = None) -> None:
        super().__init__(message)
        self.request_id = request_id


def _download(client: OpenAIClient, url: str) -> bytes:
    """An image the server returned as a URL, with the client's limits,
    timeouts, proxies and TLS settings, abortable by ``client.close()``;
    no credential of any kind is sent to the URL's host, and no redirect
    is followed."""
    if not url.lower().startswith(("https://", "http://")):
        raise _ServerProblem(f"the server returned an image URL that cannot be downloaded ({_redact_url(url)[:80]})")
    config = client.config
    with client._open_call(None, config.timeout.total) as call:  # pyright: ignore[reportPrivateUsage]
        headers = Headers({"User-Agent": _USER_AGENT, "Accept": "image/*"})
        request = Request("GET", url, headers, extensions={"timeout": config.timeout, "call": call})
        response = HTTPTransport(config)(request)
        if response.status_code >= 300:
            what = _server_text(response, response.reason)
            more = " (redirects are not followed)" if response.status_code < 400 else ""
            raise _ServerProblem(
                f"downloading the image failed: {response.status_code} {what}{more}; "
                f"the image's URL (valid for a while) is {_printable(url)}"
            )
        kind = response.content_type
        if kind and not kind.startswith("image/") and kind != "application/octet-stream":
            raise _ServerProblem(f"the image URL gave {kind[:60]}, not an image: {_printable(url)}")
        return response.read()


# [cut:async]  (the marks: see "A smaller file" in README.md)
# =============================================================================
# AsyncOpenAIClient
# =============================================================================
#
# The async client runs the same calls as the sync one, each blocking step in
# a thread of its own, so the event loop never waits on a socket. Cancelling
# the task that awaits a step aborts its call (the abort machinery wakes the
# thread at any stage), and the task waits for the thread to give up before
# it re-raises ``CancelledError``: nothing is left running behind it.
# asyncio is imported when the first async call is made.


class _Cancel:
    """Aborts the blocking part of an async call when its task is cancelled:
    the call as soon as it exists (``opened``), or at once if it does."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._call: Optional[_Call] = None
        self._cancelled = False

    def opened(self, call: _Call) -> None:
        with self._lock:
            self._call = call
            cancelled = self._cancelled
        if cancelled:
            call.abort()

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            call = self._call
        if call is not None:
            call.abort()


def _discard(result: object) -> None:
    """Release what a cancelled step produced anyway (a stream, a response)."""
    if isinstance(result, RawResponse):
        result = result._stream  # pyright: ignore[reportPrivateUsage, reportUnknownMemberType]
    if isinstance(result, (ImageStream, StreamedResponse)):
        result.close()


async def _in_thread(work: Callable[[], _T], cancel: Callable[[], None]) -> _T:
    """Run ``work`` in a thread of its own and return (or raise) its outcome.
    The thread has ended when this returns. If the awaiting task is cancelled,
    ``cancel()`` aborts the work, the task waits for the thread to end, then
    ``CancelledError`` propagates."""
    import asyncio

    loop = asyncio.get_running_loop()
    done: asyncio.Future[_T] = loop.create_future()

    def report(value: Any, failed: bool) -> None:
        if failed:
            done.set_exception(value)
        else:
            done.set_result(value)

    def run() -> None:
        try:
            value: Any = work()
            failed = False
        except BaseException as exc:  # delivered to the awaiting task
            value, failed = exc, True
        try:
            loop.call_soon_threadsafe(report, value, failed)
        except RuntimeError:  # the loop is closed: nobody awaits the outcome
            if not failed:
                _discard(value)

    worker = threading.Thread(target=run, name="openai-images-async", daemon=True)
    worker.start()
    try:
        return await asyncio.shield(done)
    except GeneratorExit:  # the task was dropped with its loop (loop.close()): abort, nobody waits
        cancel()
        raise
    except asyncio.CancelledError:
        cancel()
        while not done.done():
            try:
                await asyncio.shield(done)
            except asyncio.CancelledError:
                continue  # cancelled again: the thread is ending, wait for it all the same
            except BaseException:
                break
        if done.exception() is None:
            _discard(done.result())
        raise
    finally:
        if done.done():  # it has reported: only its last instructions are left, and no thread outlives its call
            worker.join()


class AsyncImageStream:
    """The async form of ``ImageStream``: ``async for event in stream`` and
    ``async with stream``. Each event is read in a worker thread; cancelling
    the task that waits for one aborts the stream. ``abort()`` works from any
    thread; ``close()`` is awaitable, as in the official SDK."""

    def __init__(self, stream: ImageStream) -> None:
        self._stream = stream

    @property
    def response(self) -> Response:
        return self._stream.response

    @property
    def request_id(self) -> Optional[str]:
        return self._stream.request_id

    @property
    def state(self) -> str:
        return self._stream.state

    @property
    def completed(self) -> Optional[ImageStreamEvent]:
        return self._stream.completed

    def __aiter__(self) -> AsyncImageStream:
        return self

    async def __anext__(self) -> ImageStreamEvent:
        stream = self._stream
        event = await _in_thread(lambda: next(stream, None), stream.abort)
        if event is None:
            raise StopAsyncIteration
        return event

    async def final_image(self) -> ImageStreamEvent:
        """Consume the rest of the stream and return the completed event."""
        return await _in_thread(self._stream.final_image, self._stream.abort)

    def abort(self) -> None:
        """End the stream now, from any thread (see ``ImageStream.abort``)."""
        self._stream.abort()

    async def close(self) -> None:
        """Release the connection (see ``ImageStream.close``). Idempotent."""
        self._stream.close()

    aclose = close

    async def __aenter__(self) -> AsyncImageStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._stream.close()

    def __repr__(self) -> str:
        return f"<AsyncImageStream {self._stream!r}>"


_P = TypeVar("_P")  # a piece of a body: bytes or str


class AsyncStreamedResponse(_ResponseView, Generic[_T]):
    """The async form of ``StreamedResponse``: ``async with
    client.images.with_streaming_response.generate(...) as response``, then
    ``async for chunk in response.iter_bytes()``, ``await response.parse()``, …"""

    def __init__(self, response: StreamedResponse[Any]) -> None:
        super().__init__(response.http_response, response.http_request)
        self._sync = response

    async def iter_bytes(self, chunk_size: Optional[int] = None) -> AsyncIterator[bytes]:
        """The body as it arrives, decompressed."""
        async for chunk in self._iterate(self._sync.iter_bytes(chunk_size)):
            yield chunk

    async def iter_text(self, chunk_size: Optional[int] = None) -> AsyncIterator[str]:
        """The body as UTF-8 text, as it arrives."""
        async for text in self._iterate(self._sync.iter_text(chunk_size)):
            yield text

    async def iter_lines(self) -> AsyncIterator[str]:
        """The body's lines, as they arrive."""
        async for line in self._iterate(self._sync.iter_lines()):
            yield line

    async def _iterate(self, pieces: Iterator[_P]) -> AsyncIterator[_P]:
        abort = self._sync._call.abort  # pyright: ignore[reportPrivateUsage]
        while True:
            piece = await _in_thread(lambda: next(pieces, None), abort)
            if piece is None:
                return
            yield piece

    async def read(self) -> bytes:
        return await _in_thread(self._sync.read, self._sync._call.abort)  # pyright: ignore[reportPrivateUsage]

    async def text(self) -> str:
        return await _in_thread(self._sync.text, self._sync._call.abort)  # pyright: ignore[reportPrivateUsage]

    async def json(self) -> Any:
        return await _in_thread(self._sync.json, self._sync._call.abort)  # pyright: ignore[reportPrivateUsage]

    async def parse(self) -> _T:
        """The ``ImagesResponse``, or for a streaming call the ``AsyncImageStream``."""
        parsed = await _in_thread(self._sync.parse, self._sync._call.abort)  # pyright: ignore[reportPrivateUsage]
        result: _T = _async_result(parsed)
        return result

    async def close(self) -> None:
        self._sync.close()

    async def __aenter__(self) -> AsyncStreamedResponse[_T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._sync.close()


def _async_result(result: object) -> Any:
    """What the async client returns for what the sync call path returned."""
    if isinstance(result, ImageStream):
        return AsyncImageStream(result)
    if isinstance(result, StreamedResponse):
        sync: StreamedResponse[Any] = result  # pyright: ignore[reportUnknownVariableType]
        return AsyncStreamedResponse[Any](sync)
    if isinstance(result, RawResponse):
        raw: RawResponse[Any] = result  # pyright: ignore[reportUnknownVariableType]
        if raw._stream is not None:  # pyright: ignore[reportPrivateUsage]
            wrapped = AsyncImageStream(raw._stream)  # pyright: ignore[reportPrivateUsage]
            raw._parse = lambda: wrapped  # pyright: ignore[reportPrivateUsage]
    return cast(Any, result)


class _AsyncResponseContext(Generic[_T]):
    """``async with client.images.with_streaming_response.generate(...) as
    response``: the call is made when the block is entered, closed when left."""

    def __init__(self, send: Callable[[], Awaitable[_T]]) -> None:
        self._send = send
        self._response: Optional[_T] = None

    async def __aenter__(self) -> _T:
        self._response = await self._send()
        return self._response

    async def __aexit__(self, *exc_info: object) -> None:
        if self._response is not None:
            await cast("AsyncStreamedResponse[Any]", self._response).close()


if TYPE_CHECKING:
    _AsyncImages = _ImagesSurface["Awaitable[ImagesResponse]", "Awaitable[AsyncImageStream]"]
    _AsyncRawImages = _ImagesSurface[
        "Awaitable[RawResponse[ImagesResponse]]", "Awaitable[RawResponse[AsyncImageStream]]"
    ]
    _AsyncStreamedImages = _ImagesSurface[
        "_AsyncResponseContext[AsyncStreamedResponse[ImagesResponse]]",
        "_AsyncResponseContext[AsyncStreamedResponse[AsyncImageStream]]",
    ]
else:
    _AsyncImages = _AsyncRawImages = _AsyncStreamedImages = object


class AsyncImagesResource(_AsyncImages):
    """``async_client.images``: the methods of ``ImagesResource``, with the
    same arguments, each awaitable; streams are ``AsyncImageStream``s.
    ``with_raw_response`` and ``with_streaming_response`` as on the sync client."""

    def __init__(self, client: _BaseClient, mode: str = _PARSED) -> None:
        self._client = client
        self._images = ImagesResource(client)
        self._mode = mode

    @property
    def with_raw_response(self) -> _AsyncRawImages:
        """The same methods, each returning a ``RawResponse``."""
        return cast("_AsyncRawImages", AsyncImagesResource(self._client, _RAW))

    @property
    def with_streaming_response(self) -> _AsyncStreamedImages:
        """The same methods, each returning an async context manager of an ``AsyncStreamedResponse``."""
        return cast("_AsyncStreamedImages", AsyncImagesResource(self._client, _STREAMED))

    if not TYPE_CHECKING:  # type checkers see the overloads of _ImagesSurface

        def __getattr__(self, name: str) -> Callable[..., Any]:
            if name not in _METHODS:
                raise AttributeError(f"client.images has no method {name!r}; it has {', '.join(_METHODS)}")
            import functools

            send = functools.partial(self._send, name)
            if self._mode == _STREAMED:

                def method(request: Any = None, /, **params: Any) -> Any:
                    return _AsyncResponseContext(functools.partial(send, request, params))

            else:

                async def method(request: Any = None, /, **params: Any) -> Any:
                    return await send(request, params)

            method.__name__ = method.__qualname__ = name
            method.__doc__ = getattr(ImagesResource, name).__doc__
            setattr(self, name, method)  # made once per resource
            return method

    async def _send(self, name: str, request: Any, params: Dict[str, Any]) -> Any:
        cancel = _Cancel()
        arguments = {"request": request, **params}
        result = await _in_thread(
            lambda: self._images._call(name, arguments, self._mode, cancel.opened),  # pyright: ignore[reportPrivateUsage]
            cancel.cancel,
        )
        return _async_result(result)

    def __dir__(self) -> List[str]:
        return [*object.__dir__(self), *_METHODS]


class AsyncOpenAIClient(_BaseClient):
    """The async client, standard library only: the settings of
    ``OpenAIClient``, and ``await client.images.generate(...)``;
    ``async for event in stream``; ``async with AsyncOpenAIClient() as client``.

    Each call runs in a thread of its own, so 100 concurrent generations do
    not block the event loop. Cancelling the awaiting task (``task.cancel()``,
    ``asyncio.wait_for``, ``asyncio.timeout``, a ``TaskGroup``) aborts the
    call at any stage and returns once nothing of it is left running.
    ``abort_trigger`` works as on the sync client.
    """

    _images_class = AsyncImagesResource
    images: AsyncImagesResource

    @property
    def with_raw_response(self) -> _ClientView[_AsyncRawImages]:
        """``client.with_raw_response.images``, as in the official SDK."""
        return _ClientView(self.images.with_raw_response)

    @property
    def with_streaming_response(self) -> _ClientView[_AsyncStreamedImages]:
        """``client.with_streaming_response.images``, as in the official SDK."""
        return _ClientView(self.images.with_streaming_response)

    async def close(self) -> None:
        """End every call of this client still in flight (see ``OpenAIClient.close``)."""
        self._close()

    async def __aenter__(self) -> AsyncOpenAIClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._close()


AsyncOpenAI = AsyncOpenAIClient


class AsyncAzureOpenAI(AsyncOpenAIClient):
    """Drop-in for the official SDK's ``AsyncAzureOpenAI`` (images only); the
    keywords of ``AzureOpenAI``."""

    __init__ = AzureOpenAI.__init__


# [end:async]
# =============================================================================
# The module client: openai_images.images.generate(...), as openai.images
# =============================================================================

# Settings of the module client, as the official SDK's module attributes;
# None means "from the environment" (OPENAI_API_KEY, ...), as for OpenAIClient(),
# except timeout: NOT_GIVEN is the default limits, None no limit.
api_key: Optional[ApiKey] = None
organization: Optional[str] = None
project: Optional[str] = None
base_url: Optional[str] = None
timeout: Union[float, Timeout, None] = NOT_GIVEN
max_retries: Optional[int] = None
default_headers: Optional[Mapping[str, str]] = None
default_query: Optional[Mapping[str, str]] = None

_MODULE_SETTINGS = (
    "api_key",
    "organization",
    "project",
    "base_url",
    "timeout",
    "max_retries",
    "default_headers",
    "default_query",
)
_module_client: List[Any] = [None, None]  # the settings it was built with, and the client
_module_lock = _thread.allocate_lock()  # (threading.Lock is this)


def _default_client() -> OpenAIClient:
    """The module client, built on first use and again whenever a module setting changes."""
    settings = _module_settings()
    with _module_lock:
        if _module_client[1] is None or _module_client[0] != settings:
            given: Dict[str, Any] = {
                k: v for k, v in settings.items() if v is not NOT_GIVEN and (v is not None or k == "timeout")
            }
            _module_client[:] = [settings, OpenAIClient(**given)]
        return cast(OpenAIClient, _module_client[1])


def _module_settings() -> Dict[str, Any]:
    """The module settings now (``openai_images.api_key``, …), mappings copied."""
    settings: Dict[str, Any] = {}
    for name in _MODULE_SETTINGS:
        value: Any = globals()[name]
        settings[name] = dict(cast("Mapping[str, str]", value)) if isinstance(value, Mapping) else value
    return settings


class _ModuleImages:
    """``openai_images.images``: the methods of ``client.images``, on the module client."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_default_client().images, name)

    def __dir__(self) -> List[str]:
        return [*_METHODS, "with_raw_response", "with_streaming_response"]

    def __repr__(self) -> str:
        return "<openai_images.images: the module client's images>"


images = cast(ImagesResource, _ModuleImages())


# [cut:batch]
# =============================================================================
# Batch runner: many images, live or through the Batch API, resumably
# =============================================================================
#
# run_batch(jobs, directory) makes the images of every job, once. Live,
# workers share one pacer that learns the account's limits from the
# rate-limit headers of every answer and from 429s; with batch_api=True the
# jobs go through /v1/files and /v1/batches at half the price. Either way
# directory/manifest.jsonl gets a row when a job finishes, after its images
# are saved, so a run that is interrupted (Ctrl-C, a crash, kill -9) resumes
# where it stopped and never pays twice for a job that finished.
#
# Every value from the server is hostile until checked: header numbers go
# through _header_number, server ids never become file names (the run's own
# token names its files), server text goes through _safe_text, and every row
# is scrubbed of every credential a request of the run carried.

_JOB_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
_IMAGE_SUFFIXES = (".png", ".jpg", ".webp", ".gif", ".svg")

# The life of a job in a run, in one place (in the manner of h11's state
# machine): state -> (the states it may move to, the manifest status that
# entering it writes). A job enters "sent" before its request goes out (the
# row is what lets a run killed after a paid answer adopt the saved images),
# and "done" only once its images are saved. "not run" is where a run stopped
# leaves a job; the next run plans it again.
_JOB_LIFE: Dict[str, Tuple[Tuple[str, ...], Optional[str]]] = {
    # answered, failed: a job of a batch, sent with it; done: adopted, its images saved before a kill
    "planned": (("sent", "answered", "failed", "done", "not run"), None),
    "sent": (("answered", "failed", "not run"), "started"),
    "answered": (("done", "failed"), None),
    "done": ((), "done"),
    "failed": (("planned",), "failed"),  # planned again: rerun_failed_live
    "not run": ((), None),
}
_ROW_STATUSES = frozenset(status for _, status in _JOB_LIFE.values() if status)


class BatchJob:
    """One job of a batch: ``id`` (unique), ``method`` (``generate``, or
    ``edit_json`` when the fields have ``images``), the request ``fields``,
    ``extra_body`` (fields this version does not know) and ``output``: its
    images are saved as ``output.png`` (``output-1.png``, … when ``n`` > 1)."""

    __slots__ = ("_fingerprint", "extra_body", "fields", "id", "method", "output", "where")

    def __init__(
        self,
        id: str,
        method: str,
        fields: Dict[str, Any],
        output: str,
        extra_body: Any = None,
        where: str = "",
        fingerprint: Optional[str] = None,
    ) -> None:
        self.id = id
        self.method = method
        self.fields = fields
        self.output = output
        self.extra_body: Dict[str, Any] = dict(extra_body or {})
        self.where = where or f"job {id}"  # "jobs.jsonl line 7", for messages
        self._fingerprint = fingerprint

    @property
    def count(self) -> int:
        """How many images the job makes (its ``n``)."""
        n = self.extra_body.get("n", self.fields.get("n"))
        return n if isinstance(n, int) and n > 0 else 1

    def stems(self) -> List[str]:
        """The names of its image files, without the extension: ``output``,
        or ``output-1``, … (an image beyond ``n`` gets ``output+N``)."""
        return [self.output] if self.count == 1 else [f"{self.output}-{n}" for n in range(1, self.count + 1)]

    def body(self) -> Dict[str, Any]:
        """The JSON body of the job's request."""
        request = (ImageGenerationRequest if self.method == "generate" else ImageEditJsonRequest)(**self.fields)
        return {**request.to_dict(), **self.extra_body}

    def fingerprint(self) -> str:
        """A digest of the request: a job whose request changed is another job."""
        if self._fingerprint is None:
            import hashlib
            import json

            self._fingerprint = hashlib.sha256(json.dumps(self.body(), sort_keys=True).encode()).hexdigest()[:16]
        return self._fingerprint

    def __repr__(self) -> str:
        return f"<BatchJob {self.id} {self.method} -> {self.output}>"


def load_jobs(
    source: Union[str, os.PathLike[str], Iterable[Any]], defaults: Optional[Mapping[str, Any]] = None
) -> List[BatchJob]:
    """The jobs of ``source``, every one checked before anything is sent.

    ``source`` is a path or an iterable. A file whose lines are JSON objects
    (a ``.jsonl`` or ``.ndjson`` file, or any file whose first line starts
    with ``{``) holds one job per line: the fields of a generation, or of a
    JSON edit (``images``, ``prompt``, …), plus optional ``id``, ``output``
    and ``extra_body``. Any other file holds one prompt per line (blank lines
    are skipped). An iterable gives such objects, or prompts. ``defaults``
    are fields every job shares (its own win; ``extra_body`` in them is
    merged under the job's own). Ids default to ``line-N`` (``job-N`` for an
    iterable). A bad job, or an unknown field, is a ``ValueError`` naming
    its line (with the closest known field)."""
    if isinstance(source, (str, os.PathLike)):
        entries = _file_entries(os.fspath(source))
    else:
        entries = [(f"job {number}", f"job-{number}", item) for number, item in enumerate(source, 1)]
    shared = dict(defaults or {})
    shared_extra: object = shared.pop("extra_body", None) or {}
    if not isinstance(shared_extra, dict):
        raise ValueError("the defaults' extra_body must be a JSON object")
    for name in shared:
        _check_field_name(name, _BATCH_FIELDS, "the defaults")
    jobs: List[BatchJob] = []
    seen: Dict[Tuple[str, str], str] = {}
    for where, default_id, item in entries:
        job = _job_from(where, default_id, item, shared, cast("Dict[str, Any]", shared_extra))
        _claim_names(job, where, seen)
        jobs.append(job)
    if not jobs:
        raise ValueError("there are no jobs")
    return jobs


def _claim_names(job: BatchJob, where: str, seen: Dict[Tuple[str, str], str]) -> None:
    """An id, and every file name a job's images get, belongs to one job
    (``seen``: each claimed so far -> where its job is)."""
    for key in [("id", job.id)] + [("file name", stem.lower()) for stem in job.stems()]:
        if key in seen:
            raise ValueError(f"{where}: {key[0]} {key[1]!r} is taken by {seen[key]}")
        seen[key] = where


def _file_entries(path: str) -> List[Tuple[str, str, object]]:
    """(where, default id, job) for each non-blank line of a jobs file: JSON
    when the file is JSONL by name or by content, else the line as a prompt."""
    with open(path, "rb") as handle:
        data = handle.read()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]  # a UTF-8 byte order mark
    structured = path.lower().endswith((".jsonl", ".ndjson")) or data.lstrip()[:1] == b"{"
    entries: List[Tuple[str, str, object]] = []
    for number, raw in enumerate(data.split(b"\n"), 1):  # lines as editors count them
        where = f"{os.path.basename(path)} line {number}"
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{where}: not UTF-8 (byte {exc.start + 1})") from None
        if text.strip():
            entries.append((where, f"line-{number}", _line_job(where, text, structured)))
    return entries


def _line_job(where: str, text: str, structured: bool) -> object:
    """A line's job: its JSON in a JSONL file, else the line as a prompt."""
    if not structured:
        return text.rstrip("\r")
    try:
        return _parse_json(text)
    except ValueError as exc:
        raise ValueError(f"{where}: not valid JSON ({exc}); a file whose lines are JSON is read as JSONL") from None


_BATCH_FIELDS = frozenset(_field_names(ImageGenerationRequest)) | frozenset(_field_names(ImageEditJsonRequest))


def _job_from(
    where: str, default_id: str, item: object, defaults: Mapping[str, Any], shared_extra: Mapping[str, Any]
) -> BatchJob:
    """One job, checked: a usage error names ``where``."""
    if isinstance(item, BatchJob):
        return item
    given = _job_fields(where, item)
    job_id, output = _job_names(where, given, default_id)
    extra = _job_extra(where, given, shared_extra)
    method = "edit_json" if "images" in given else "generate"
    known = _field_names(ImageGenerationRequest if method == "generate" else ImageEditJsonRequest)
    for name in given:
        _check_field_name(name, known, where)
    fields = {name: value for name, value in {**defaults, **given}.items() if name in known and value is not None}
    if {"stream", "partial_images"} & (set(fields) | set(extra)):
        raise ValueError(f"{where}: batch jobs do not stream; remove 'stream' and 'partial_images'")
    job = BatchJob(job_id, method, fields, output, extra, where)
    _check_job(job)
    return job


def _check_job(job: BatchJob) -> None:
    """The checks of a call, and the body can go on the wire (a lone surrogate cannot)."""
    try:
        _request_from(_METHODS[job.method][0], None, dict(job.fields), None)
        _json_bytes(job.body())
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{job.where}: {exc}") from None


def _job_fields(where: str, item: object) -> Dict[str, Any]:
    """A job's fields: a JSON object's, or a prompt's."""
    if isinstance(item, str):
        return {"prompt": item}
    if not isinstance(item, Mapping):
        raise ValueError(f"{where}: a job is a JSON object or a prompt, not {type(item).__name__}")
    return dict(cast("Mapping[str, Any]", item))


def _job_extra(where: str, given: Dict[str, Any], shared: Mapping[str, Any]) -> Dict[str, Any]:
    """A job's ``extra_body``, taken out of ``given``, over the shared one."""
    extra = given.pop("extra_body", None)
    if extra is not None and not isinstance(extra, dict):
        raise ValueError(f"{where}: extra_body must be a JSON object")
    return {**shared, **cast("Dict[str, Any]", extra or {})}


def _job_names(where: str, given: Dict[str, Any], default_id: str) -> Tuple[str, str]:
    """A job's ``id`` and ``output``, taken out of ``given`` and checked: they become file names."""
    job_id = given.pop("id", default_id)
    output = given.pop("output", job_id)
    for what, value in (("id", job_id), ("output", output)):
        if not (isinstance(value, str) and 0 < len(value) <= 100 and set(value) <= _JOB_NAME_CHARS) or value[0] == ".":
            raise ValueError(f"{where}: {what} must be 1-100 letters, digits, '.', '_' or '-', not {value!r}")
    return job_id, output


class BatchProgress:
    """A snapshot of a batch run, given to ``on_progress``: ``total`` jobs,
    ``done`` and ``failed`` (this run and before), ``skipped`` (done before
    this run), ``in_flight``, ``tokens`` used, the ``rate`` (jobs per
    minute) and ``eta`` (seconds), and with the Batch API its ``status`` and
    ``batch_id``."""

    def __init__(self, total: int, skipped: int) -> None:
        self.total = total
        self.skipped = skipped
        self.done = skipped
        self.failed = 0
        self.in_flight = 0
        self.tokens = 0
        self.status = "running"
        self.batch_id: Optional[str] = None
        self.started = time.monotonic()

    @property
    def rate(self) -> float:
        """Jobs finished per minute in this run."""
        elapsed = time.monotonic() - self.started
        finished = self.done - self.skipped + self.failed
        return 60.0 * finished / elapsed if elapsed > 0 and finished else 0.0

    @property
    def eta(self) -> Optional[float]:
        """Seconds until every job has finished at the current rate."""
        left = self.total - self.done - self.failed
        return 60.0 * left / self.rate if self.rate else None

    def __repr__(self) -> str:
        return f"<BatchProgress {self.done}/{self.total} done, {self.failed} failed, {self.status}>"


class BatchResult(BatchProgress):
    """What ``run_batch`` returns: the final ``BatchProgress``, plus
    ``failed_ids``, the ``manifest`` path, ``interrupted``, ``rescued``
    (one line for each image saved elsewhere than DIR because DIR could not
    take it) and, for a batch that ended expired, failed or cancelled,
    ``outcome``: one line that names it, its status and counts, and says
    what to do next. ``ok`` is true when every job is done and saved in DIR."""

    def __init__(
        self,
        progress: BatchProgress,
        manifest: str,
        failed_ids: List[str],
        interrupted: bool,
        rescued: Optional[List[str]] = None,
        outcome: Optional[str] = None,
    ) -> None:
        super().__init__(progress.total, progress.skipped)
        vars(self).update({k: v for k, v in vars(progress).items() if k != "started"})
        self.started = progress.started
        self.manifest = manifest
        self.failed_ids = failed_ids
        self.interrupted = interrupted
        self.failed = len(failed_ids)
        self.rescued: List[str] = list(rescued or [])
        self.outcome = outcome

    @property
    def ok(self) -> bool:
        return self.done == self.total and not self.rescued


class _Manifest:
    """``directory/manifest.jsonl``, appended to, never rewritten: a row per
    job state that ``_JOB_LIFE`` records (the last row of an id wins) and
    rows for the steps of a Batch API run (``event``). Each row is one
    ``write`` of one line. Read strictly: a last line torn by a kill during
    a write is repaired; any other bad line, a row of the wrong shape, or a
    manifest that is a symbolic link is a ``ValueError`` naming the line."""

    NAME = "manifest.jsonl"

    def __init__(self, directory: str, *, write: bool = True) -> None:
        """Read the manifest; with ``write``, also open it to append, locked:
        one run per directory. Read-only, a missing manifest is ``FileNotFoundError``."""
        self.path = os.path.join(directory, self.NAME)
        self.jobs: Dict[str, Dict[str, Any]] = {}
        self.events: List[Dict[str, Any]] = []
        self._lock = threading.Lock()
        self._fd = -1
        self._release: Callable[[], None] = lambda: None
        if os.path.islink(self.path):
            raise ValueError(f"{self.path} is a symbolic link; a manifest must be a regular file")
        flags = (os.O_RDWR | os.O_APPEND | os.O_CREAT) if write else os.O_RDONLY
        fd = os.open(self.path, flags | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0), 0o666)
        try:
            if write:
                self._release = _lock_run(fd, self.path, directory)
            data = _read_all(fd)
            self._load(data, fd if write else -1)
        except BaseException:
            self._release()
            os.close(fd)
            raise
        if write:
            self._fd = fd
            _end_last_line(fd)
        else:
            os.close(fd)

    def _load(self, data: bytes, fd: int) -> None:
        """Take every row; a torn last line is cut off (``fd``: the locked manifest) or, read-only, skipped."""
        lines = data.split(b"\n")
        last = len(lines) - 1  # the text after the last newline: empty, or a torn line
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = _manifest_row(line)
            except ValueError as exc:
                if number - 1 < last:
                    raise ValueError(f"{self.path} line {number}: {exc}; fix or remove the line") from None
                if fd >= 0:  # a kill during a write: the job it was about is not finished
                    os.ftruncate(fd, len(data) - len(line))
                continue
            self._remember(row)

    def _remember(self, row: Dict[str, Any]) -> None:
        if "event" in row:
            self.events.append(row)
        else:
            self.jobs[row["id"]] = row

    def append(self, row: Dict[str, Any]) -> None:
        import json

        line = (json.dumps(row, separators=(",", ":")) + "\n").encode()
        with self._lock:
            written = 0
            try:
                while written < len(line):
                    written += os.write(self._fd, line[written:])
            except OSError as exc:  # a full disk: say which file
                raise OSError(exc.errno, f"could not write {self.path} ({exc.strerror or exc})") from None
            self._remember(row)

    def done(self, job: BatchJob) -> bool:
        """Whether ``job`` finished with its images saved (its request unchanged)."""
        row = self.jobs.get(job.id)
        if row is None or row.get("status") != "done":
            return False
        if row.get("fingerprint") not in (None, job.fingerprint()):
            raise ValueError(
                f"{job.where}: job {job.id!r} changed since it was done (see {self.path}); "
                "give it a new id, or use another output directory"
            )
        return True

    def last_event(self, *names: str) -> Optional[Dict[str, Any]]:
        return next((row for row in reversed(self.events) if row["event"] in names), None)

    def close(self) -> None:
        if self._fd >= 0:
            self._release()
            os.close(self._fd)
            self._fd = -1


def _read_all(fd: int) -> bytes:
    parts: List[bytes] = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)


def _end_last_line(fd: int) -> None:
    """A file whose last line has no newline gets one: the next line appended must not join it."""
    if os.fstat(fd).st_size and os.lseek(fd, -1, os.SEEK_END) >= 0 and os.read(fd, 1) != b"\n":
        os.write(fd, b"\n")


def _manifest_row(line: bytes) -> Dict[str, Any]:
    """One row of a manifest, checked for the shape this version writes."""
    try:
        row = _parse_json(line.decode("utf-8"))
    except ValueError as exc:
        raise ValueError(f"not valid JSON ({exc})") from None
    if not isinstance(row, dict):
        raise ValueError("not a JSON object")
    row = cast("Dict[str, Any]", row)
    if "event" in row:
        if not isinstance(row["event"], str):
            raise ValueError("its event is not a string")
        return row
    if not isinstance(row.get("id"), str) or row.get("status") not in _ROW_STATUSES:
        raise ValueError("neither an event nor a job row (id, status)")
    if not _is_list_of(row.get("files", []), str):
        raise ValueError("its files are not a list of names")
    return row


def _is_list_of(value: object, kind: type) -> bool:
    return isinstance(value, list) and all(isinstance(item, kind) for item in cast("List[object]", value))


def _lock_run(fd: int, path: str, directory: str) -> Callable[[], None]:
    """Lock the manifest for this process: one run per directory. With
    ``fcntl`` the lock goes with the process (kill -9 included); without
    it (Windows, a Python built without it), a lock file holds this
    process's id, and a lock whose process is gone is taken over. Returns
    what releases the lock."""
    busy = ValueError(f"another run is using {directory} (its manifest is locked); wait for it to end")
    try:
        import fcntl
    except ImportError:
        return _lock_by_file(path + ".lock", ValueError(f"{busy}; if no run is using it, delete {path}.lock"))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise busy from None
    return lambda: None


def _lock_by_file(lock: str, busy: Exception) -> Callable[[], None]:
    """The portable lock: ``lock`` holding our process id, created whole and
    at once (linked from a file written first, so nobody reads it empty).
    A lock whose process is gone is taken over by renaming it away first:
    of two runs that both find it stale, one rename wins. Released only by
    its owner."""
    mine = f"{lock}.{os.getpid()}.{os.urandom(4).hex()}"
    with open(mine, "w", encoding="ascii") as handle:
        handle.write(str(os.getpid()))
    try:
        for _ in range(3):
            try:
                os.link(mine, lock)
                return lambda: _unlock_file(lock, mine)
            except FileExistsError:
                if _lock_holder_alive(lock):
                    raise busy from None
                _take_stale(lock)
        raise busy
    except BaseException:
        os.unlink(mine)
        raise


def _take_stale(lock: str) -> None:
    """Move a stale lock out of the way (one run wins the rename), and drop it."""
    stale = f"{lock}.stale.{os.urandom(4).hex()}"
    try:
        os.rename(lock, stale)
    except FileNotFoundError:
        return  # another run took it first
    if _lock_holder_alive(stale):  # a live lock made meanwhile: put it back if the place is free
        try:
            os.link(stale, lock)
        except FileExistsError:
            pass
    os.unlink(stale)


def _unlock_file(lock: str, mine: str) -> None:
    """Release the lock if it is still ours (the same file as ``mine``)."""
    try:
        if os.path.samefile(lock, mine):
            os.unlink(lock)
    except OSError:
        pass
    finally:
        os.unlink(mine)


def _lock_holder_alive(lock: str) -> bool:
    """Whether the process named in a lock file still runs (where that can be known; else yes)."""
    try:
        with open(lock, encoding="ascii", errors="replace") as handle:
            pid = int(_header_number(handle.read(20)) or 0)
    except OSError:
        return True
    if pid <= 0 or os.name != "posix":
        return pid > 0
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _now_text() -> str:
    """Now, for the manifest: ISO 8601 UTC with milliseconds (``2026-12-02T10:31:05.123Z``)."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"


def _time_of(text: object) -> Optional[float]:
    """The epoch seconds of a manifest time (``_now_text``), or ``None``."""
    if not isinstance(text, str) or not text.endswith("Z") or len(text) > 30:
        return None
    import calendar

    whole, _, fraction = text[:-1].partition(".")
    try:
        seconds = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None
    return seconds + (_header_number(f"0.{fraction}") or 0.0 if fraction else 0.0)


def _save_job(
    job: BatchJob,
    images: Sequence[_ImageData],
    directory: str,
    client: Optional[OpenAIClient],
    decoded: Optional[Mapping[str, str]] = None,
) -> Tuple[List[str], List[str]]:
    """Save a job's images atomically (``output.png``, or ``output-N.ext``),
    downloading URL images; an image ``decoded`` to a temporary file already
    (its ``b64_json`` is the key) is renamed into place. Returns the file
    names, and a line for each image DIR could not take: it was rescued
    under a new name (see ``_rescue_file``), and its full path is among the names."""
    names: List[str] = []
    rescued: List[str] = []
    stems = job.stems()
    for number, image in enumerate(images, 1):
        stem = stems[number - 1] if number <= len(stems) else f"{job.output}+{number}"
        temp = (decoded or {}).get(image.b64_json or "")
        try:
            name = _save_decoded(temp, stem, directory) if temp else _save_image(image, stem, directory, client)
        except _Unsaved as unsaved:  # paid for: it goes somewhere, and the row says where
            name = _rescue_file(unsaved.data, _image_suffix(unsaved.data))
            rescued.append(f"job {job.id}: could not save {stem} in {directory} ({unsaved.reason}); saved as {name}")
        names.append(name)
    return names, rescued


class _Unsaved(Exception):
    """An image DIR could not take: its bytes, and why."""

    def __init__(self, data: bytes, reason: str) -> None:
        super().__init__(reason)
        self.data, self.reason = data, reason


def _save_image(image: _ImageData, stem: str, directory: str, client: Optional[OpenAIClient]) -> str:
    url = getattr(image, "url", None)  # stream events have none
    data = _download(client, url) if image.b64_json is None and isinstance(url, str) and client else image.to_bytes()
    name = stem + _image_suffix(data)
    try:
        write_file_atomic(os.path.join(directory, name), data)
    except OSError as exc:
        raise _Unsaved(data, str(exc.strerror or exc)) from None
    return name


def _save_decoded(temp: str, stem: str, directory: str) -> str:
    """An image decoded to ``temp`` in DIR, renamed into place (atomically)."""
    with open(temp, "rb") as handle:
        name = stem + _image_suffix(handle.read(64))
    try:
        os.replace(temp, os.path.join(directory, name))
    except OSError as exc:
        with open(temp, "rb") as handle:
            data = handle.read()
        os.unlink(temp)
        raise _Unsaved(data, str(exc.strerror or exc)) from None
    return name


def _decode_images(line: bytearray, directory: str, stem: str) -> Tuple[str, Dict[str, str]]:
    """The text of a Batch API output line, with each ``b64_json`` value
    decoded in chunks straight to a temporary file in DIR and replaced by a
    key for it: processing a line of images costs about its own size in
    memory, not four times it. A value with escapes, or that is not base64,
    is left in the text, for the checks that name it."""
    import re

    files: Dict[str, str] = {}
    pieces: List[bytes] = []
    done = 0
    for found in re.finditer(rb'"b64_json"\s*:\s*"', line):
        start = found.end()
        end = line.find(b'"', start)
        if end < 0 or line.find(b"\\", start, end) >= 0:
            continue
        key = f"#decoded-{len(files)}"  # "#" is no base64 character: no value can be taken for it
        path = os.path.join(directory, f".{stem}-{len(files)}.{os.urandom(4).hex()}.part")
        if not _decode_to_file(memoryview(line)[start:end], path):
            continue
        pieces += [bytes(line[done:start]), key.encode()]
        files[key] = path
        done = end
    pieces.append(bytes(line[done:]))
    return b"".join(pieces).decode("utf-8", "replace"), files


def _decode_to_file(b64: memoryview, path: str) -> bool:
    """Decode strict base64 to ``path``, a megabyte at a time; False (and no
    file) when it is not valid base64."""
    import binascii
    import re

    step = 1 << 20  # a multiple of 4: every chunk but the last is whole groups
    strict = sys.version_info >= (3, 11)  # 3.11+: strict in C, no separate pass of a regular expression
    options: Dict[str, bool] = {"strict_mode": True} if strict else {}
    try:
        with open(path, "wb") as out:
            for start in range(0, len(b64), step):
                chunk = b64[start : start + step]
                if len(chunk) % 4 or not (strict or re.fullmatch(rb"[A-Za-z0-9+/]*={0,2}", chunk)):
                    raise ValueError("not base64")
                out.write(binascii.a2b_base64(chunk, **options))
    except (ValueError, binascii.Error):
        os.unlink(path)
        return False
    return True


def _done_row(job: BatchJob, files: List[str], response: ImagesResponse, engine: str) -> Dict[str, Any]:
    usage = response.usage.to_dict() if response.usage is not None else None
    revised = next((image.revised_prompt for image in response.data if image.revised_prompt), None)
    return {
        "id": job.id,
        "files": files,
        "request_id": _safe_text(response.request_id),
        "revised_prompt": _safe_text(revised, limit=4000),
        "usage": usage,
        "error": None,
        "fingerprint": job.fingerprint(),
        "engine": engine,
    }


def _failed_row(job: BatchJob, error: Dict[str, Any], engine: str, request_id: object = None) -> Dict[str, Any]:
    return {"id": job.id, "files": [], "request_id": _safe_text(request_id), "error": error, "engine": engine}


def _error_info(exc: BaseException) -> Dict[str, Any]:
    """A failed job's error, for its manifest row."""
    status = getattr(exc, "status_code", None)
    return {
        "type": type(exc).__name__,
        "message": _safe_text(str(exc), limit=1000),
        "status": status if isinstance(status, int) else None,
        "code": _safe_text(getattr(exc, "code", None)),
    }


def _safe_text(value: object, limit: int = 200) -> Optional[str]:
    """Text from a server, fit for a record or a line: a string made
    printable and cut to ``limit`` characters; anything else ``None``.
    (Credentials are scrubbed from every row as it is written.)"""
    if not isinstance(value, str):
        return None
    text = _printable(value[: 4 * limit + 100])
    return text if len(text) <= limit else text[:limit] + "…"


class _Plan:
    """What a run does with its jobs: ``run`` them, ``adopt`` the images a
    killed run saved (job, file names), or skip the ``done`` ones. (A plain
    class: a NamedTuple costs a tenth of a millisecond of import.)"""

    __slots__ = ("adopt", "done", "run")

    def __init__(self) -> None:
        self.run: List[BatchJob] = []
        self.adopt: List[Tuple[BatchJob, List[str]]] = []
        self.done: List[BatchJob] = []


def _plan(jobs: Sequence[BatchJob], rows: Mapping[str, Mapping[str, Any]], files: Mapping[str, float]) -> _Plan:
    """Pure: from the jobs, the manifest's last row of each id, and the
    files of DIR (name -> modification time), what to run, adopt or skip.
    Refused with a ``ValueError`` naming the job: a job that would replace
    the images of another job done in DIR, or a done job whose request
    changed."""
    owned = _owned_files(rows)
    _check_outputs_free(jobs, owned)
    plan = _Plan()
    for job in jobs:
        row = rows.get(job.id)
        if row is not None and row.get("status") == "done":
            _check_unchanged(job, row)
            plan.done.append(job)
            continue
        adopted = _adopt_saved(job, row, files, set(owned))
        if adopted is not None:
            plan.adopt.append((job, adopted))
        else:
            plan.run.append(job)
    return plan


def _owned_files(rows: Mapping[str, Mapping[str, Any]]) -> Dict[str, str]:
    """Each file of DIR a done job saved -> that job's id."""
    return {name: row["id"] for row in rows.values() if row.get("status") == "done" for name in row.get("files") or ()}


def _check_outputs_free(jobs: Sequence[BatchJob], owned: Mapping[str, str]) -> None:
    """No job would write over the images of another job done in DIR
    (``owned``: file name -> the job that saved it)."""
    owners = {os.path.splitext(name)[0]: job_id for name, job_id in owned.items()}
    for job in jobs:
        taken = [owners[stem] for stem in job.stems() if owners.get(stem, job.id) != job.id]
        if taken:
            raise ValueError(
                f"{job.where}: output {job.output!r} would replace the images of job {taken[0]!r}, done in "
                "this directory; give it another output"
            )


def _check_unchanged(job: BatchJob, row: Mapping[str, Any]) -> None:
    """A job done in DIR asks for what it asked for then (its fingerprint)."""
    if row.get("fingerprint") not in (None, job.fingerprint()):
        raise ValueError(
            f"{job.where}: job {job.id!r} changed since it was done in this directory; "
            "give it a new id, or use another output directory"
        )


def _adopt_saved(
    job: BatchJob, row: Optional[Mapping[str, Any]], files: Mapping[str, float], owned: Set[str]
) -> Optional[List[str]]:
    """The files of a job whose images were saved but whose row was not
    written (the run was killed in between), or ``None``: the job must have
    been sent (its last row), with the same request, and the files written
    after that (not left by another job)."""
    if row is None or row.get("status") != "started" or row.get("fingerprint") != job.fingerprint():
        return None
    names = _saved_files(job, files)
    if names is None or owned & set(names):  # missing, or another job's images
        return None
    sent = _sent_at(row)
    return names if sent is not None and min(files[name] for name in names) >= sent - 1.0 else None


def _saved_files(job: BatchJob, files: Mapping[str, float]) -> Optional[List[str]]:
    """The file in DIR of each of the job's images (by any image suffix), or ``None`` if one is missing."""
    found = [next((stem + s for s in _IMAGE_SUFFIXES if stem + s in files), None) for stem in job.stems()]
    return None if None in found else cast("List[str]", found)


def _sent_at(row: Mapping[str, Any]) -> Optional[float]:
    """When a row was written (its ``at``: ISO text, or a float in a manifest of an older version)."""
    at = row.get("at")
    at = _time_of(at) if isinstance(at, str) else at
    return float(at) if isinstance(at, (int, float)) else None


def _unrecorded(exc: OSError, job: BatchJob, row: Mapping[str, Any]) -> OSError:
    """The error that halts a run whose manifest cannot take a row: where the job's images are."""
    files = ", ".join(row.get("files") or ()) or "none"
    return OSError(
        exc.errno,
        f"{exc.strerror}; the run stopped, nothing more is sent: free some space and run it again "
        f"(job {job.id}'s images: {files})",
    )


def _tokens_of(row: Mapping[str, Any]) -> int:
    total = _json_object(row.get("usage")).get("total_tokens")
    return total if isinstance(total, int) and total >= 0 else 0


class _BatchRun:
    """One run of ``run_batch``: the jobs, their states (``_JOB_LIFE``), the
    manifest (written only through ``move``), progress, and how it stops:
    ``halt`` starts no new job and lets those in flight finish (a quota
    spent, a callback that failed); ``stop`` aborts those in flight too."""

    def __init__(
        self,
        client: OpenAIClient,
        jobs: List[BatchJob],
        directory: str,
        stop: threading.Event,
        on_progress: Optional[Callable[[BatchProgress], None]],
        on_saved: Optional[Callable[[BatchJob, List[str]], None]],
    ) -> None:
        self.secrets: Set[str] = set()  # every credential a request of this run carried
        key = client.config.api_key
        if isinstance(key, str) and len(key) >= 8:
            self.secrets.add(key)
        self.client = client.with_options(transport=_SecretsSeen(self.secrets, client.transport))
        self.jobs = jobs
        self.directory = directory
        self.stop = stop
        self.halt = threading.Event()
        self.on_halt: List[Callable[[], None]] = []  # what wakes the waits a halt ends
        self.fatal: Optional[BaseException] = None  # why the run halted
        self.rescued: List[str] = []
        self.outcome: Optional[str] = None
        self._on_progress = on_progress
        self._on_saved = on_saved
        self._lock = threading.Lock()
        self._state: Dict[str, str] = {}
        self.manifest = _Manifest(directory)
        try:
            plan = _plan(jobs, self.manifest.jobs, _listing(directory))
        except BaseException:
            self.manifest.close()
            raise
        self.progress = BatchProgress(len(jobs), len(plan.done))
        self.progress.tokens = sum(_tokens_of(self.manifest.jobs.get(job.id, {})) for job in jobs)
        for job, files in plan.adopt:  # saved, then killed before its row: done, not paid again
            self.move(job, "done", {"files": files, "recovered": True, "error": None, "fingerprint": job.fingerprint()})
        self.progress.skipped += len(plan.adopt)
        self.pending = plan.run

    def move(self, job: BatchJob, state: str, fields: Optional[Dict[str, Any]] = None) -> None:
        """Move ``job`` to ``state`` along ``_JOB_LIFE`` (anything else is a
        bug: ``AssertionError``), writing the row that state records, with
        every credential of the run scrubbed, and counting it."""
        with self._lock:
            current = self._state.get(job.id, "planned")
            if state not in _JOB_LIFE[current][0]:
                raise AssertionError(f"job {job.id}: {current} -> {state} is not a move of its life")
            self._state[job.id] = state
            secrets = tuple(sorted(self.secrets, key=len, reverse=True))
        status = _JOB_LIFE[state][1]
        if status is None:
            return
        row = {"id": job.id, **(fields or {}), "status": status, "at": _now_text()}
        if status == "started":
            row["fingerprint"] = job.fingerprint()
        try:
            self.manifest.append(_scrub(row, secrets))
        except OSError as exc:  # a full disk: nothing more is sent; what was saved stays where it is
            self.halt_with(_unrecorded(exc, job, row))
            return
        if status != "started":
            self._count(job, row)

    def _count(self, job: BatchJob, row: Dict[str, Any]) -> None:
        with self._lock:
            if row["status"] == "done":
                self.progress.done += 1
                self.progress.tokens += _tokens_of(row)
            else:
                self.progress.failed += 1
        if row["status"] == "done" and self._on_saved is not None:
            self._callback(self._on_saved, job, row["files"])
        self.report()

    def again(self, jobs: List[BatchJob]) -> None:
        """Plan failed jobs again (``rerun_failed_live``)."""
        for job in jobs:
            self.move(job, "planned")
        self.progress.failed -= len(jobs)

    def report(self) -> None:
        if self._on_progress is not None:
            self._callback(self._on_progress, self.progress)

    def _callback(self, function: Callable[..., None], *args: Any) -> None:
        """Call the caller's callback: if it fails, the run halts (the row is
        written already), and ``run_batch`` raises its error at the end."""
        try:
            function(*args)
        except BaseException as exc:
            self.halt_with(exc)

    def halt_with(self, exc: BaseException) -> None:
        """Start no new job; ``run_batch`` raises ``exc`` once those in flight end."""
        with self._lock:
            if self.fatal is None:
                self.fatal = exc
        self.halt.set()
        for wake in self.on_halt:
            wake()

    def finish_job(
        self, job: BatchJob, response: ImagesResponse, engine: str, decoded: Optional[Dict[str, str]] = None
    ) -> None:
        """Save a job's images (some maybe ``decoded`` to files already) and
        move it to done; a reply that gives no usable image (none, bad
        base64, a URL that cannot be downloaded) fails the job."""
        self.move(job, "answered")
        try:
            if not response.data:
                raise _ServerProblem("the server returned no images")
            files, rescued = _save_job(job, response.data, self.directory, self.client, decoded)
        except Exception as exc:
            self.move(job, "failed", _failed_row(job, _error_info(exc), engine, response.request_id))
            return
        with self._lock:
            self.rescued.extend(rescued)
        self.move(job, "done", _done_row(job, files, response, engine))

    def fail_job(self, job: BatchJob, exc: BaseException, engine: str) -> None:
        self.move(job, "failed", _failed_row(job, _error_info(exc), engine, getattr(exc, "request_id", None)))

    def failed_ids(self) -> List[str]:
        rows = self.manifest.jobs
        return [job.id for job in self.jobs if rows.get(job.id, {}).get("status") == "failed"]

    def result(self, interrupted: bool) -> BatchResult:
        return BatchResult(
            self.progress, self.manifest.path, self.failed_ids(), interrupted, self.rescued, self.outcome
        )

    def close(self) -> None:
        self.manifest.close()
        self.client.close()


def _listing(directory: str) -> Dict[str, float]:
    """The files of DIR and their modification times; temporary files of a
    run killed while writing (never a finished image) are removed."""
    import re

    files: Dict[str, float] = {}
    for entry in os.scandir(directory):
        if re.fullmatch(r"\..+\.[0-9a-f]{8}\.part|\..+\.jsonl\.part", entry.name):
            os.unlink(entry.path)
        elif entry.is_file():
            files[entry.name] = entry.stat().st_mtime
    return files


class _SecretsSeen:
    """The innermost handler of a batch run's client: it notes every
    credential a request carries (a callable key's too), so that no row the
    run writes can hold one."""

    def __init__(self, secrets: Set[str], inner: Handler) -> None:
        self.secrets = secrets
        self.inner = inner

    def __call__(self, request: Request) -> Response:
        self.secrets.update(_secrets_sent(request))
        return self.inner(request)


# The pacer of a live batch: when may the next request start? Pure (the
# caller passes the clock and holds a lock), so it is tested with a fake
# clock. Per resource (requests, tokens) it models the server's token bucket.
# Level: the best recent reading (remaining, as of _PACER_SKEW s after the
# send), replayed over later starts at _PACER_HEADROOM x rate. Rate: the
# least of recent (limit - remaining) / reset when stated (reset is the time
# until the bucket is full again, not the end of a minute), else a lower
# bound of the slope of supply (level + all charged) between points since the
# bucket was last full: remaining readings, or a 429's retry-after when there
# are no rate-limit headers. A job's token cost is learnt from the usage of
# answers; until the first answer (and while token headers come without
# usage) one request is in flight. A 429 is not charged and pauses every
# start for its retry-after (at most _PACER_MAX_PAUSE), else 1, 2, 4 ... s.
# Header values never raise: anything but a plain ASCII number or duration
# within bounds is ignored.

_PACER_MAX_COUNT = 1e10  # counts above are absurd
_PACER_MAX_SECONDS = 86400.0  # durations above one day are absurd
_PACER_MAX_PAUSE = 600.0  # longest pause after a 429
_PACER_MAX_TEXT = 32  # longest header value parsed
_PACER_HEADROOM = 0.97  # share of the refill rate used
_PACER_SKEW = 0.1  # s: a reading is taken at most this after send
_PACER_MIN_SPAN = 0.25  # s: shortest span to discover a rate
_PACER_MAX_POINTS = 8  # supply points kept per bucket
_PACER_EPSILON = 1e-6  # s: shorter waits are 0
_PACER_WINDOW = 16  # usage totals / stated rates remembered
_PACER_MAX_TICKETS = 1024
_PACER_RESOURCES = ("requests", "tokens")

_PACER_DURATION = r"(?:([0-9.]+)h)?(?:([0-9.]+)m(?!s))?(?:([0-9.]+)s)?(?:([0-9.]+)ms)?"


def _duration_seconds(text: Optional[str]) -> Optional[float]:
    """Seconds in [0, _PACER_MAX_SECONDS] from '1s', '850ms', '6m0s', '1h2m3.5s' or
    plain '0.5'; else None. Never raises."""
    if not isinstance(text, str) or len(text) > _PACER_MAX_TEXT:
        return None
    text = text.strip(" \t")
    plain = _header_number(text, _PACER_MAX_SECONDS)
    if plain is not None or not text:
        return plain
    import re

    match = re.fullmatch(_PACER_DURATION, text, re.ASCII)
    return None if match is None else _duration_of(match.groups())


def _duration_of(parts: Sequence[Optional[str]]) -> Optional[float]:
    """Seconds from a duration's hours, minutes, seconds and milliseconds (``None``: not written)."""
    total = 0.0
    for part, scale in zip(parts, (3600.0, 60.0, 1.0, 0.001)):
        value = 0.0 if part is None else _header_number(part, _PACER_MAX_SECONDS)
        if value is None:
            return None
        total += value * scale
    return total if total <= _PACER_MAX_SECONDS else None


class _PacerTicket:
    """A started request (opaque). cost: estimate until answered; settled:
    finished before it; unsure: in flight, sent < _PACER_SKEW s before it.
    (Plain classes, not dataclasses, here: each dataclass costs the import
    about half a millisecond.)"""

    __slots__ = ("cost", "done", "sent_at", "seq", "settled", "unsure")

    def __init__(
        self, seq: int, sent_at: float, cost: Dict[str, float], settled: Dict[str, float], unsure: Dict[str, float]
    ) -> None:
        self.seq, self.sent_at, self.cost, self.settled, self.unsure = seq, sent_at, cost, settled, unsure
        self.done = False


class _SupplyPoint:
    """S(t) >= lo for the true t in [t_lo, t_hi]; S(t) <= hi there too."""

    __slots__ = ("hi", "lo", "t_hi", "t_lo")

    def __init__(self, t_lo: float, t_hi: float, lo: float, hi: float) -> None:
        self.t_lo, self.t_hi, self.lo, self.hi = t_lo, t_hi, lo, hi


class _Bucket:
    """Client-side view of one server bucket."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.limit: Optional[float] = None  # stated capacity
        self.peak = 0.0  # highest level seen before a charge
        self.rate: Optional[float] = None  # refill per second
        self.base: Optional[Tuple[float, float, int]] = None  # (time, level, seq)
        self.points: List[_SupplyPoint] = []  # of the segment
        self.segment = 0  # ignore points of older tickets
        self.stated: Deque[float] = collections.deque(maxlen=_PACER_WINDOW)

    def cap(self) -> float:
        """Capacity for replay: stated, else the peak seen, else infinite."""
        return self.limit or self.peak or float("inf")

    def _replay(self, tickets: Sequence[_PacerTicket], done_only: bool) -> Tuple[float, float, int]:
        """Base moved over later tickets (only finished ones if done_only)."""
        assert self.base is not None
        at, level, seq = self.base
        rate = (self.rate or 0.0) * _PACER_HEADROOM
        for ticket in tickets:
            if ticket.seq <= seq:
                continue
            if done_only and not ticket.done:
                break
            level = min(self.cap(), level + rate * (ticket.sent_at - at))
            level -= ticket.cost[self.name]
            at, seq = ticket.sent_at, ticket.seq
        return at, level, seq

    def level(self, now: float, tickets: Sequence[_PacerTicket]) -> float:
        """Estimated level at `now` (a base is required)."""
        at, level, _ = self._replay(tickets, False)
        return min(self.cap(), level + (self.rate or 0.0) * _PACER_HEADROOM * (now - at))

    def wait(self, now: float, tickets: Sequence[_PacerTicket], need: float) -> Optional[float]:
        """Seconds until `need` is available; None if short, rate unknown."""
        if self.base is None:
            return 0.0
        level, need = self.level(now, tickets), min(need, self.cap())
        if level >= need:
            return 0.0
        return (need - level) / (self.rate * _PACER_HEADROOM) if self.rate else None

    def fold(self, tickets: Sequence[_PacerTicket]) -> None:
        """Move the base over finished tickets that follow it."""
        if self.base is not None:
            self.base = self._replay(tickets, True)

    def rebase(self, base: Tuple[float, float, int], now: float, tickets: Sequence[_PacerTicket], force: bool) -> None:
        """Take `base` (time, level, seq) unless, not forced, the held base
        gives a higher level now (each reading is a lower bound)."""
        held = self.base
        self.base = base
        if held is not None and not force:
            level = self.level(now, tickets)
            self.base = held
            if self.level(now, tickets) < level:
                self.base = base

    def add(self, point: _SupplyPoint, seq: int) -> None:
        """Keep the segment's first and newest points; unless a rate is
        stated, the best slope lower bound between two of them is the rate."""
        if seq < self.segment:
            return
        self.points.append(point)
        if len(self.points) > _PACER_MAX_POINTS:
            del self.points[1]
        best = max(
            (
                (b.lo - a.hi) / (b.t_hi - a.t_lo)
                for a in self.points
                for b in self.points
                if b.t_hi - a.t_lo >= _PACER_MIN_SPAN
            ),
            default=0.0,
        )
        if not self.stated and best > 0:
            self.rate = best

    def read(
        self,
        ticket: _PacerTicket,
        now: float,
        texts: Tuple[Optional[str], ...],
        total: float,
        tickets: Sequence[_PacerTicket],
        limited: bool,
    ) -> bool:
        """Use (limit, remaining, reset) texts; False if there is no reading.
        `total` is all charged so far; a 429 (`limited`) forces the base."""
        remaining = _header_number(texts[1], _PACER_MAX_COUNT)
        if remaining is None:
            return False
        limit = _header_number(texts[0], _PACER_MAX_COUNT)
        if limit is not None and limit >= remaining:
            self.limit = limit
        own = ticket.cost[self.name]
        if remaining + own >= self.cap():  # was full: older points are stale
            self.segment, self.points = ticket.seq, []
        self.peak = max(self.peak, remaining + own)
        reset = _duration_seconds(texts[2])
        if limit is not None and reset and remaining < limit:
            self.stated.append((limit - remaining) / reset)  # >= true rate
            self.rate = min(self.stated)
        lo = remaining + ticket.settled[self.name] + own
        self.add(_SupplyPoint(ticket.sent_at, now, lo, remaining + 1 + total), ticket.seq)
        at = ticket.sent_at + min(_PACER_SKEW, now - ticket.sent_at)
        level = remaining - ticket.unsure[self.name]
        self.rebase((at, level, ticket.seq), now, tickets, limited)
        return True


def _retry_after_hint(headers: Mapping[str, str]) -> Tuple[Optional[float], float]:
    """(seconds, precision) from retry-after-ms, else retry-after."""
    millis = _header_number(headers.get("retry-after-ms"), _PACER_MAX_SECONDS * 1e3)
    if millis is not None:
        return millis / 1000.0, 0.001
    return _header_number(headers.get("retry-after"), _PACER_MAX_SECONDS), 1.0


class _Pacer:
    """Call delay(); when it is 0, start(); then exactly one of answered()
    or abandoned() per ticket. Tracks in-flight count itself."""

    def __init__(self, concurrency: int) -> None:
        self._concurrency = max(1, int(concurrency))
        self._buckets = {name: _Bucket(name) for name in _PACER_RESOURCES}
        self._tickets: Deque[_PacerTicket] = collections.deque()
        self._totals = {name: 0.0 for name in _PACER_RESOURCES}
        self._settled = {name: 0.0 for name in _PACER_RESOURCES}
        self._usage: Deque[float] = collections.deque(maxlen=_PACER_WINDOW)
        self._seq = self._in_flight = self._strikes = 0
        self._answered = False
        self._pause_until = 0.0

    def delay(self, now: float) -> Optional[float]:
        """Seconds until a new request may start (0 = now), or None: wait
        for an answer (full, probing, or short with unknown rate)."""
        if self._in_flight >= self._concurrency or (self._probing() and self._in_flight):
            return None
        wait = max(0.0, self._pause_until - now)
        needs = {"requests": 1.0, "tokens": max(self._usage, default=0.0)}
        for name, bucket in self._buckets.items():
            bucket_wait = bucket.wait(now, self._tickets, needs[name])
            if bucket_wait is None and self._in_flight:
                return None
            wait = max(wait, bucket_wait or 0.0)
        return wait if wait > _PACER_EPSILON else 0.0

    def _probing(self) -> bool:
        """Whether one request at a time is sent: before the first answer, and
        while a token limit is known but not yet what a request costs."""
        return not self._answered or (not self._usage and self._buckets["tokens"].base is not None)

    def start(self, now: float) -> _PacerTicket:
        """Record a request starting now (the caller saw delay() == 0)."""
        self._seq += 1
        cost = {"requests": 1.0, "tokens": max(self._usage, default=0.0)}
        recent = [t for t in self._tickets if not t.done and t.sent_at > now - _PACER_SKEW]
        unsure = {n: sum(t.cost[n] for t in recent) for n in _PACER_RESOURCES}
        ticket = _PacerTicket(self._seq, now, cost, dict(self._settled), unsure)
        for name in _PACER_RESOURCES:
            self._totals[name] += cost[name]
        self._tickets.append(ticket)
        self._in_flight += 1
        return ticket

    def _finish(self, ticket: _PacerTicket, costs: Dict[str, float]) -> None:
        """Settle the ticket at its final costs."""
        for name, cost in costs.items():
            self._totals[name] += cost - ticket.cost[name]
            self._settled[name] += cost
        ticket.cost, ticket.done = costs, True
        self._in_flight -= 1

    def answered(
        self, ticket: _PacerTicket, now: float, status: int, headers: Mapping[str, str], tokens_used: Optional[int]
    ) -> None:
        """Record an answer (headers with lower-case names; 429s included)."""
        if ticket.done:
            return
        self._answered = True
        self._finish(ticket, self._final_costs(ticket, status, tokens_used))
        seen = False
        for name, bucket in self._buckets.items():
            texts = tuple(headers.get(f"x-ratelimit-{kind}-{name}") for kind in ("limit", "remaining", "reset"))
            seen = bucket.read(ticket, now, texts, self._totals[name], self._tickets, status == 429) or seen
        if status == 429:
            self._pause(ticket, now, headers, seen)
        else:
            self._strikes = 0
        self._prune()

    def _final_costs(self, ticket: _PacerTicket, status: int, tokens_used: Optional[int]) -> Dict[str, float]:
        """What the request cost: nothing for a 429; else its estimate, with
        the tokens the reply says it used (a plausible count is also learned)."""
        if status == 429:
            return {name: 0.0 for name in _PACER_RESOURCES}
        costs = dict(ticket.cost)
        used = tokens_used if type(tokens_used) is int else -1  # not bool
        if 0 <= used <= _PACER_MAX_COUNT:
            self._usage.append(float(used))
            costs["tokens"] = float(used)
        return costs

    def _pause(self, ticket: _PacerTicket, now: float, headers: Mapping[str, str], seen: bool) -> None:
        """Hold all starts after a 429; without headers, learn from it."""
        self._strikes += 1
        after, precision = _retry_after_hint(headers)  # precision: unit rounding
        if after is not None and not seen:
            requests = self._buckets["requests"]
            lo = 1.0 + ticket.settled["requests"]
            start = ticket.sent_at + after - precision
            requests.add(_SupplyPoint(start, now + after, lo, 1.0 + self._totals["requests"]), ticket.seq)
            requests.rebase((now + after, 1.0, ticket.seq), now, self._tickets, True)
        if after is None:
            after = float(2 ** min(self._strikes - 1, 9))
        self._pause_until = max(self._pause_until, now + min(after, _PACER_MAX_PAUSE))

    def abandoned(self, ticket: _PacerTicket, now: float) -> None:
        """A request ended without an answer; its estimated cost stays."""
        if not ticket.done:
            self._finish(ticket, dict(ticket.cost))
            self._prune()

    def _prune(self) -> None:
        """Fold finished tickets into bases; forget those no longer needed."""
        for bucket in self._buckets.values():
            bucket.fold(self._tickets)
        keep_after = min((b.base[2] for b in self._buckets.values() if b.base), default=self._seq)
        while (
            self._tickets
            and self._tickets[0].done
            and (self._tickets[0].seq <= keep_after or len(self._tickets) > _PACER_MAX_TICKETS)
        ):
            self._tickets.popleft()


def _total_tokens(body: bytes) -> Optional[int]:
    """The ``usage.total_tokens`` of an images answer, found without parsing
    its (megabytes of) base64: the last such number in the body, or ``None``."""
    import re

    pattern = rb'"total_tokens"\s*:\s*([0-9]{1,12})[^0-9.]'
    found = re.findall(pattern, body[-65536:]) or re.findall(pattern, body[:65536])  # usage ends it, as a rule
    return int(found[-1]) if found else None


class _PacedTransport:
    """The innermost handler of a live batch's client. Each request waits
    for the pacer (abortably, costing no CPU); every answer teaches it; a
    429 that is a rate limit is waited out and sent again here, for as long
    as the run goes on: it is not one of the call's retries, and never fails
    the job. A quota 429 (``insufficient_quota``) is returned: it ends the run."""

    def __init__(self, pacer: _Pacer, inner: Handler, limit: int, halt: threading.Event) -> None:
        self.pacer = pacer
        self.inner = inner
        self.halt = halt  # set: a request still waiting for its turn is not sent (the run halted)
        self.limit = limit  # max_response_bytes: an answer is read here, to learn its token cost
        self._changed = threading.Condition()
        self.limited = 0  # 429s seen

    def __call__(self, request: Request) -> Response:
        call = _call_of(request)
        call.on_abort(self.wake)
        while True:
            ticket = self._wait_turn(call, request)
            try:
                response = self.inner(request)
            except BaseException:
                self._settle(self.pacer.abandoned, ticket)
                raise
            status = response.status_code
            try:
                tokens = _total_tokens(response.read(self.limit)) if status < 300 else None
            except BaseException:
                self._settle(self.pacer.abandoned, ticket)
                raise
            self._settle(self.pacer.answered, ticket, status, response.headers, tokens)
            if status != 429 or _is_permanent_quota(response):
                return response
            self.limited += 1
            response.close()

    def _wait_turn(self, call: _Call, request: Request) -> _PacerTicket:
        with self._changed:
            while True:
                call.check(request)
                if self.halt.is_set():
                    raise APIUserAbortError(CallStage.BEFORE_REQUEST, request)
                delay = self.pacer.delay(time.monotonic())
                if delay is not None and delay <= 0:
                    return self.pacer.start(time.monotonic())
                call.stage = CallStage.DURING_RETRY_DELAY
                self._changed.wait(delay)  # woken by an answer, an abort, or the time

    def _settle(self, change: Callable[..., None], ticket: _PacerTicket, *facts: Any) -> None:
        """Tell the pacer how a request ended (``change(ticket, now, *facts)``); wake the waiting."""
        with self._changed:
            change(ticket, time.monotonic(), *facts)
            self._changed.notify_all()

    def wake(self) -> None:
        """Wake every request waiting for its turn (an abort, a halt)."""
        with self._changed:
            self._changed.notify_all()


def _run_live(run: _BatchRun, jobs: List[BatchJob], concurrency: int) -> bool:
    """Run ``jobs`` live with ``concurrency`` workers; returns False if
    stopped or halted (the jobs not run stay pending, for the next run)."""
    import collections

    config = run.client.config
    paced = _PacedTransport(_Pacer(concurrency), run.client.transport, config.max_response_bytes, run.halt)
    run.on_halt.append(paced.wake)
    client = run.client.with_options(transport=paced)
    queue = collections.deque(jobs)
    lock = threading.Lock()

    def work() -> None:
        while not (run.stop.is_set() or run.halt.is_set()):
            with lock:
                if not queue:
                    return
                job = queue.popleft()
                run.progress.in_flight += 1
            try:
                _live_job(run, client, job)
            finally:
                with lock:
                    run.progress.in_flight -= 1

    workers = [threading.Thread(target=work, name="openai-images-batch", daemon=True) for _ in range(concurrency)]
    for worker in workers:
        worker.start()
    try:
        for worker in workers:
            while worker.is_alive():
                worker.join(0.25)  # short waits: Ctrl-C reaches this thread
    except BaseException:
        run.stop.set()  # every call in flight aborts at once
        for worker in workers:
            worker.join()
        raise
    finally:
        client.close()
    return not (run.stop.is_set() or run.halt.is_set())


def _live_job(run: _BatchRun, client: OpenAIClient, job: BatchJob) -> None:
    """One job, live: sent, answered, saved; a failure fails this job only,
    but a spent quota halts the run (waiting will not help)."""
    run.move(job, "sent")
    if run.halt.is_set():  # its row could not be written, or the run halted meanwhile: not sent
        run.move(job, "not run")
        return
    try:
        method = getattr(client.images, job.method)
        response = method(**job.fields, extra_body=job.extra_body or None, abort_trigger=run.stop)
    except APIUserAbortError:
        run.move(job, "not run")  # stopped: the job stays pending, for the next run
        return
    except RateLimitError as exc:  # a quota spent: the paced transport waits out every other 429
        run.move(job, "not run")
        run.halt_with(exc)
        return
    except Exception as exc:  # this job failed; the others go on
        run.fail_job(job, exc, "live")
        return
    run.finish_job(job, response, "live")


_BATCH_FINAL = ("completed", "failed", "expired", "cancelled")
_MAX_LIST_PAGES = 200  # pages of 100 looked through for a run's batch or input file


def _api_call(
    client: OpenAIClient,
    method: str,
    path: str,
    body: Union[Dict[str, Any], MultipartEncoder, None] = None,
    stop: Optional[threading.Event] = None,
) -> Dict[str, Any]:
    """A JSON call to another endpoint of the API (files, batches), with the
    client's retries, timeouts and errors; the reply must be a JSON object.
    ``body`` None sends no body at all."""
    limits = client.config.timeout
    with client._open_call(stop, limits.total) as call:  # pyright: ignore[reportPrivateUsage]
        request = client.request_builder.build(method, path, body=body, timeout=limits, call=call)
        response = client.chain(request)
        payload = response.json(client.config.max_response_bytes)
        if not isinstance(payload, dict):
            raise APIResponseValidationError(f"{method} {path}: the reply is not a JSON object", response=response)
        return cast("Dict[str, Any]", payload)


def _id_segment(value: str) -> str:
    """A server's id as one URL path segment: every character that is not a
    letter, digit, ``_``, ``-`` or ``~`` escaped (dots too, so ``..`` cannot climb)."""
    from urllib.parse import quote

    return quote(value, safe="").replace(".", "%2E")


def _backoff(run: _BatchRun, attempt: int) -> float:
    """The wait before attempt ``attempt + 1`` of a step of the run: the client's retry policy."""
    import random

    return run.client.config.retry_policy.backoff(attempt - 1, random.random())


class _TornDownload(APIConnectionError):
    """A batch file's download ended in the middle of a line: download it again."""


class _LineSplitter:
    """Cuts a download into lines as it arrives and hands each complete line
    to ``take``: memory holds one line. A line longer than ``limit`` is not
    kept: its first 64 KiB go to ``take_oversize``. ``end()`` checks the last
    line: one torn by a download that ended early is ``_TornDownload``."""

    HEAD = 1 << 16

    def __init__(
        self, take: Callable[[bytearray], None], take_oversize: Callable[[bytearray], None], limit: int
    ) -> None:
        self.take = take
        self.take_oversize = take_oversize
        self.limit = limit
        self.line = bytearray()
        self.size = 0  # of the line, kept or not

    def feed(self, chunk: bytes) -> None:
        start = 0
        while start < len(chunk):
            end = chunk.find(b"\n", start)
            stop = len(chunk) if end < 0 else end
            self._add(memoryview(chunk)[start:stop])
            if end < 0:
                return
            self._flush()
            start = end + 1

    def _add(self, piece: memoryview) -> None:
        self.size += len(piece)
        if self.size <= self.limit:
            self.line += piece
        elif len(self.line) > self.HEAD:
            del self.line[self.HEAD :]  # too long to keep: its head tells whose it is
        else:
            self.line += piece[: self.HEAD - len(self.line)]

    def _flush(self) -> None:
        line, size = self.line, self.size
        self.size = 0
        try:
            if size > self.limit:
                self.take_oversize(line)
            elif line and not line.isspace():  # (strip() would copy the line)
                self.take(line)
        finally:
            del line[:]  # one buffer for every line: no garbage per line

    def end(self) -> None:
        if not self.line or self.line.isspace():
            return
        try:
            _parse_json(self.line.decode("utf-8", "replace"))
        except ValueError:
            raise _TornDownload("the download ended in the middle of a line") from None
        self._flush()


def _download_lines(
    run: _BatchRun,
    file_id: str,
    target: str,
    take: Callable[[bytearray], None],
    take_oversize: Callable[[bytearray], None],
) -> None:
    """``GET /files/{id}/content``, streamed to ``target`` (renamed into place
    once complete), each complete line handed to ``take`` as it arrives. A
    file downloaded before (the run was interrupted while saving) is read
    from disk. A download that ends early (a torn last line, or fewer bytes
    than its ``Content-Length``) is downloaded again, a few times; it never
    fails the jobs it holds."""
    limit = run.client.config.max_response_bytes
    if os.path.exists(target):
        with open(target, "rb") as handle:
            splitter = _LineSplitter(take, take_oversize, limit)
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                splitter.feed(chunk)
            splitter.end()
        return
    attempts = run.client.config.retry_policy.max_retries + 1
    for attempt in range(1, attempts + 1):
        try:
            _download_once(run, file_id, target, _LineSplitter(take, take_oversize, limit))
            return
        except APIConnectionError:  # lines already taken are saved; the next attempt skips them
            if attempt == attempts or run.stop.wait(_backoff(run, attempt)):
                raise


def _download_once(run: _BatchRun, file_id: str, target: str, splitter: _LineSplitter) -> None:
    client, temp = run.client, f"{target}.part"
    with client._open_call(run.stop, None) as call, _FileWriter(temp) as copy:  # pyright: ignore[reportPrivateUsage]
        request = client.request_builder.build(
            "GET",
            f"/files/{_id_segment(file_id)}/content",
            body=None,
            timeout=client.config.timeout,
            call=call,
            leave_body=True,
        )
        response = client.chain(request)
        call.on_finish(response.close)
        for chunk in response.iter_bytes(1 << 20):
            copy.write(chunk)
            splitter.feed(chunk)
        splitter.end()
    os.replace(temp, target)


class _FileWriter:
    """Writes a file in a thread of its own (a write releases the GIL), so a
    copy to disk costs the thread that decodes nothing; a failed write is
    raised when the writer is closed."""

    def __init__(self, path: str) -> None:
        import queue

        self._handle = open(path, "wb")  # noqa: SIM115 - closed by the writing thread
        self._queue: Any = queue.Queue(maxsize=2)  # bounded: memory stays flat if the disk is slow
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, name="openai-images-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with self._handle:
            while True:
                chunk = self._queue.get()
                if chunk is None:
                    return
                if self._error is None:
                    try:
                        self._handle.write(chunk)
                    except OSError as exc:
                        self._error = exc

    def write(self, chunk: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(chunk)

    def __enter__(self) -> _FileWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None and exc_info[0] is None:
            raise self._error


def _batch_line_outcome(line: Mapping[str, Any]) -> Tuple[Optional[Dict[str, Any]], Dict[str, Any], Optional[str]]:
    """(the images body, or None; the error; the request id) of an output or error line."""
    response = _json_object(line.get("response"))
    request_id = _safe_text(response.get("request_id"))
    status = response.get("status_code")
    status = status if type(status) is int else None  # JSON ints only: not a bool
    body = _json_object(response.get("body"))
    if line.get("error") is None and status is not None and 200 <= status < 300 and "data" in body:
        return body, {}, request_id
    return None, _batch_line_error(_json_object(line.get("error") or body.get("error")), status), request_id


def _batch_line_error(info: Mapping[str, Any], status: Optional[int]) -> Dict[str, Any]:
    """A job's error row from the error a batch's line gave (bounded, printable text)."""
    message = _safe_text(info.get("message"), limit=1000) or "the request failed in the batch"
    return {"type": "BatchRequestError", "message": message, "status": status, "code": _safe_text(info.get("code"))}


def _run_batch_api(
    run: _BatchRun, jobs: List[BatchJob], poll_interval: float, max_poll_interval: float, cancel: bool
) -> bool:
    """Run ``jobs`` through the Batch API: first the batch the manifest has
    in progress, if any (``cancel`` cancels it), then a new batch for the jobs
    it did not hold. Returns False if stopped (a batch goes on upstream)."""
    manifest = run.manifest
    active = _active_batch(manifest)
    if active is None and cancel:
        raise ValueError(f"no batch is in progress in {run.directory}")
    if active is not None:
        members = set(_row_field(manifest, active, "jobs", dict))
        if not _finish_batch(run, active, (poll_interval, max_poll_interval), cancel):
            return False
        jobs = [job for job in jobs if job.id not in members and not manifest.done(job)]
    return not jobs or cancel or _finish_batch(run, _start_batch(run, jobs), (poll_interval, max_poll_interval), False)


def _active_batch(manifest: _Manifest) -> Optional[Dict[str, Any]]:
    """The manifest's batch that has not finished (its ``batch_input`` or ``batch_created`` row)."""
    row = manifest.last_event("batch_input", "batch_created", "batch_finished")
    return None if row is None or row["event"] == "batch_finished" else row


def _row_field(manifest: _Manifest, row: Mapping[str, Any], name: str, kind: type) -> Any:
    """A field of a manifest row this version wrote, or a clear error."""
    value = row.get(name)
    if not isinstance(value, kind) or not value:
        raise ValueError(
            f"{manifest.path}: its {row.get('event')} row has no {name}; it was not written by this version, "
            "or was edited: use another output directory"
        )
    return value


def _finish_batch(run: _BatchRun, active: Dict[str, Any], polls: Tuple[float, float], cancel: bool) -> bool:
    """Create the batch if needed, poll it to its end, save what it made.
    Returns False if stopped while it runs upstream."""
    if active["event"] == "batch_input":  # written (and maybe uploaded, or created) before a crash
        active = _create_batch(run, active)
    batch_id: str = _row_field(run.manifest, active, "batch_id", str)
    token: str = _row_field(run.manifest, active, "token", str)
    members: Dict[str, List[Any]] = _row_field(run.manifest, active, "jobs", dict)  # id -> [output, count, fingerprint]
    run.progress.batch_id = _safe_text(batch_id)
    if cancel:
        _api_call(run.client, "POST", f"/batches/{_id_segment(batch_id)}/cancel", None, run.stop)
    batch = _poll_batch(run, batch_id, len(members), polls)
    if batch is None:
        return False
    status: str = batch["status"]
    _settle_members(run, batch, token, members)
    counts = _json_object(batch.get("request_counts"))
    row = {"event": "batch_finished", "batch_id": batch_id, "status": status, "request_counts": counts}
    run.manifest.append(_scrub({**row, "at": _now_text()}, tuple(run.secrets)))
    for name in os.listdir(run.directory):  # the downloads and the input file: every row is written
        if name.startswith((f".batch-{token}-", f".batch-input-{token}")):
            os.unlink(os.path.join(run.directory, name))
    if status != "completed":
        why = _batch_errors(batch) if status == "failed" else None
        run.outcome = _batch_outcome(run, batch_id, status, members, why)
    return True


def _settle_members(run: _BatchRun, batch: Dict[str, Any], token: str, members: Dict[str, List[Any]]) -> None:
    """Every job of a finished batch gets its row: its images saved from the
    output, else its failure (from the error file, or the batch's status)."""
    status: str = batch["status"]
    job_of = _job_finder(run, members)
    if status == "failed":
        _fail_members(run, members, job_of, _batch_errors(batch), "batch_failed")
        return
    seen = _save_outputs(run, batch, token, members, job_of)
    missing = {job_id: member for job_id, member in members.items() if job_id not in seen}
    _fail_members(run, missing, job_of, f"not in the output of the batch ({status})", f"batch_{status}")


def _poll_batch(run: _BatchRun, batch_id: str, total: int, polls: Tuple[float, float]) -> Optional[Dict[str, Any]]:
    """Poll the batch until a final status (its reply), or ``None`` if stopped.
    An unknown status is polled like a known one: it may move on."""
    delay = polls[0]
    while True:
        batch = _api_call(run.client, "GET", f"/batches/{_id_segment(batch_id)}", None, run.stop)
        status = batch.get("status")
        if not isinstance(status, str):
            raise _ServerProblem(f"the batch {_safe_text(batch_id)} has no status in the server's reply")
        counts = _json_object(batch.get("request_counts"))
        done, of = _header_count(counts.get("completed")), _header_count(counts.get("total"))
        run.progress.status = f"{_safe_text(status, 40)} ({done}/{of or total} done upstream)"
        run.report()
        if status in _BATCH_FINAL:
            return batch
        if run.stop.wait(delay):
            return None
        delay = min(polls[1], delay * 1.5)


def _header_count(value: object) -> int:
    """A count from a server's JSON: a non-negative int, else 0."""
    return value if type(value) is int and 0 <= value < 10**12 else 0  # JSON ints only: not a bool


def _batch_errors(batch: Mapping[str, Any]) -> str:
    """Why a batch failed, from its ``errors``: one bounded, printable line."""
    errors = _json_object(batch.get("errors")).get("data")
    found = [_json_object(e) for e in cast("List[object]", errors if isinstance(errors, list) else [])[:5]]
    details = [_batch_error_line(error) for error in found]
    return f"the batch failed: {'; '.join(details) or 'no details'}"


def _batch_error_line(error: Mapping[str, Any]) -> str:
    """``line 3: message``: one error of a failed batch."""
    line = error.get("line")
    where = f"line {line}: " if type(line) is int else ""  # JSON ints only: not a bool
    return where + (_safe_text(error.get("message")) or "no message")


def _batch_outcome(run: _BatchRun, batch_id: str, status: str, members: Mapping[str, Any], why: Optional[str]) -> str:
    """The one line that ends a batch that did not complete."""
    rows = run.manifest.jobs
    done = sum(1 for job_id in members if rows.get(job_id, {}).get("status") == "done")
    failed = len(members) - done
    after = {
        "expired": "its window passed",
        "cancelled": "it was cancelled",
    }.get(status, why or f"it ended {_safe_text(status, 40)}")
    return (
        f"the batch {_safe_text(batch_id, 80)} {_safe_text(status, 40)}: {done} of {len(members)} jobs done, "
        f"{failed} not ({after}); run again to send those {failed} in a new batch"
    )


def _job_finder(run: _BatchRun, members: Dict[str, List[Any]]) -> Callable[[str], BatchJob]:
    """The job of a batch's member id, as it was sent: if the jobs file
    changed since, the batch's version."""
    by_id = {job.id: job for job in run.jobs}

    def job_of(job_id: str) -> BatchJob:
        job = by_id.get(job_id)
        member = members[job_id]
        return job if job is not None and job.fingerprint() == member[2] else _member_job(job_id, member)

    return job_of


def _fail_members(
    run: _BatchRun, members: Mapping[str, Any], job_of: Callable[[str], BatchJob], message: str, code: str
) -> None:
    """Fail the batch's jobs that are not done, with one error."""
    error = {"type": "BatchRequestError", "message": message, "status": None, "code": code}
    for job_id in members:
        job = job_of(job_id)
        if not run.manifest.done(job):
            run.move(job, "failed", _failed_row(job, error, "batch_api"))


def _save_outputs(
    run: _BatchRun,
    batch: Mapping[str, Any],
    token: str,
    members: Dict[str, List[Any]],
    job_of: Callable[[str], BatchJob],
) -> Set[str]:
    """Download the batch's output and error files (named by the run's
    token, never by a server id) and save each line's images; returns the
    ids of the jobs the files held."""
    seen: Set[str] = set()
    take, oversize = _batch_line_taker(run, members, job_of, seen)
    for key, kind in (("output_file_id", "output"), ("error_file_id", "errors")):
        file_id = batch.get(key)
        if isinstance(file_id, str) and file_id:
            target = os.path.join(run.directory, f".batch-{token}-{kind}.jsonl")
            _download_lines(run, file_id, target, take, oversize)
    return seen


def _member_job(job_id: str, member: List[Any]) -> BatchJob:
    """A job of a batch known only from the manifest (a run resumed without its jobs file)."""
    output, count, fingerprint = member
    return BatchJob(job_id, "generate", {"prompt": "", "n": count}, output, fingerprint=fingerprint)


def _batch_line_taker(
    run: _BatchRun, members: Dict[str, List[Any]], job_of: Callable[[str], BatchJob], seen: Set[str]
) -> Tuple[Callable[[bytearray], None], Callable[[bytearray], None]]:
    """What saves the images of one line of a batch's output (or error)
    file, and what fails the job of a line too long to keep."""

    def job_for(job_id: object) -> Optional[BatchJob]:
        if not isinstance(job_id, str) or job_id not in members or job_id in seen:
            return None
        seen.add(job_id)
        job = job_of(job_id)
        return None if run.manifest.done(job) else job

    def take(text: bytearray) -> None:
        text_of_line, decoded = _decode_images(text, run.directory, "batch-image")
        try:
            take_line(text_of_line, decoded)
        finally:
            for temp in decoded.values():  # a decoded image that no job took
                if os.path.exists(temp):
                    os.unlink(temp)

    def take_line(text: str, decoded: Dict[str, str]) -> None:
        try:
            line = _json_object(_parse_json(text))
        except ValueError:
            return
        job = job_for(line.get("custom_id"))
        if job is None:
            return
        body, error, request_id = _batch_line_outcome(line)
        if body is None:
            run.move(job, "failed", _failed_row(job, error, "batch_api", request_id))
            return
        try:
            response: ImagesResponse = ImagesResponse.from_dict(body)
        except ValueError as exc:
            run.move(job, "failed", _failed_row(job, _error_info(exc), "batch_api", request_id))
            return
        response.request_id = request_id
        run.finish_job(job, response, "batch_api", decoded)

    def oversize(head: bytearray) -> None:
        import re

        found = re.search(rb'"custom_id"\s*:\s*"([A-Za-z0-9._-]{1,100})"', head)
        job = job_for(found.group(1).decode() if found else None)
        if job is not None:
            limit = run.client.config.max_response_bytes
            message = f"its line in the batch's file is longer than max_response_bytes ({limit}); raise it to keep it"
            error = {"type": "APIResponseValidationError", "message": message, "status": None, "code": None}
            run.move(job, "failed", _failed_row(job, error, "batch_api"))

    return take, oversize


def _start_batch(run: _BatchRun, jobs: List[BatchJob]) -> Dict[str, Any]:
    """Write the Batch API input file for ``jobs`` (streamed to disk) and record it."""
    import json

    methods = {job.method for job in jobs}
    if len(methods) > 1:
        raise ValueError("a batch holds one endpoint: these jobs mix generations and edits; run them apart")
    token = os.urandom(8).hex()
    path = os.path.join(run.directory, f".batch-input-{token}.jsonl")
    url = "/v1" + _METHODS[jobs[0].method][0].path
    with open(path, "w", encoding="utf-8") as handle:
        for job in jobs:
            handle.write(json.dumps({"custom_id": job.id, "method": "POST", "url": url, "body": job.body()}) + "\n")
    row = {
        "event": "batch_input",
        "token": token,
        "endpoint": url,
        "jobs": {job.id: [job.output, job.count, job.fingerprint()] for job in jobs},
        "at": _now_text(),
    }
    run.manifest.append(row)
    return row


def _create_batch(run: _BatchRun, prepared: Dict[str, Any]) -> Dict[str, Any]:
    """Upload the input file and create the batch, each step recorded before
    and after, so that a run killed at any point, or a reply lost after the
    request was sent, never uploads or creates twice: the file's name and
    the batch's metadata carry the run's token, and each is looked up by it
    (through every page of the listing) before it is sent again."""
    manifest = run.manifest
    token: str = _row_field(manifest, prepared, "token", str)
    uploaded = manifest.last_event("file_uploaded")
    if uploaded is None or uploaded.get("token") != token:
        name = f"batch-input-{token}.jsonl"
        path = os.path.join(run.directory, f".batch-input-{token}.jsonl")

        def upload() -> Dict[str, Any]:
            part = FilePart.from_input("file", (name, path, "application/jsonl"))
            body = MultipartEncoder([("purpose", "batch")], [part])
            return _api_call(run.client.with_options(max_retries=0), "POST", "/files", body, run.stop)

        file = _once(run, "file_uploading", token, upload, lambda item: item.get("filename") == name, "/files")
        uploaded = {"event": "file_uploaded", "token": token, "file_id": _reply_id(file, "file"), "at": _now_text()}
        manifest.append(uploaded)
    body = {
        "input_file_id": uploaded["file_id"],
        "endpoint": prepared["endpoint"],
        "completion_window": "24h",
        "metadata": {"openai_images_run": token},
    }

    def create() -> Dict[str, Any]:
        return _api_call(run.client.with_options(max_retries=0), "POST", "/batches", body, run.stop)

    def ours(item: Mapping[str, Any]) -> bool:
        return _json_object(item.get("metadata")).get("openai_images_run") == token

    batch = _once(run, "batch_creating", token, create, ours, "/batches")
    row = {**prepared, "event": "batch_created", "batch_id": _reply_id(batch, "batch"), "at": _now_text()}
    manifest.append(row)
    return row


def _once(
    run: _BatchRun,
    step: str,
    token: str,
    send: Callable[[], Dict[str, Any]],
    ours: Callable[[Mapping[str, Any]], bool],
    listing: str,
) -> Dict[str, Any]:
    """Create something (a file, a batch) at most once: each attempt is one
    request with no retry of its own; after an attempt that may have created
    it (a lost reply, a 5xx), and after a run killed during the step, it is
    looked up by the run's token before the next attempt."""
    before = run.manifest.last_event(step)
    if before is not None and before.get("token") == token:
        found = _listed(run, listing, ours)
        if found is not None:
            return found
    run.manifest.append({"event": step, "token": token, "at": _now_text()})
    attempts = run.client.config.retry_policy.max_retries + 1
    for attempt in range(1, attempts + 1):
        try:
            return send()
        except (APIConnectionError, InternalServerError, RateLimitError) as exc:
            if attempt == attempts or _is_quota_error(exc):
                raise
        found = _listed_after_backoff(run, attempt, listing, ours)
        if found is not None:
            return found
    raise AssertionError("unreachable")


def _listed_after_backoff(
    run: _BatchRun, attempt: int, listing: str, ours: Callable[[Mapping[str, Any]], bool]
) -> Optional[Dict[str, Any]]:
    """After a failed attempt: wait its back-off (a stop ends the wait with
    ``APIUserAbortError``), then look for what it may have created."""
    if run.stop.wait(_backoff(run, attempt)):
        raise APIUserAbortError(CallStage.DURING_RETRY_DELAY) from None
    return _listed(run, listing, ours)


def _is_quota_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a 429 for a spent quota (billing): waiting will not help."""
    return isinstance(exc, RateLimitError) and _is_permanent_quota(exc.response)


def _page_items(page: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """The objects of a listing's page (anything else in ``data`` counts as an empty object)."""
    data = page.get("data")
    return [_json_object(item) for item in cast("List[object]", data if isinstance(data, list) else [])]


def _listed(run: _BatchRun, path: str, ours: Callable[[Mapping[str, Any]], bool]) -> Optional[Dict[str, Any]]:
    """The first item of a listing (``/files``, ``/batches``) that is ``ours``,
    looked for through every page (at most ``_MAX_LIST_PAGES``), or ``None``."""
    from urllib.parse import quote

    after: Optional[str] = None
    for _ in range(_MAX_LIST_PAGES):
        query = f"{path}?limit=100" + (f"&after={quote(after, safe='')}" if after else "")
        page = _api_call(run.client, "GET", query, None, run.stop)
        items = _page_items(page)
        for item in items:
            if ours(item):
                return item
        after = _str_or_none(items[-1].get("id")) if items else None
        if page.get("has_more") is not True or not after:
            return None
    return None


def _reply_id(reply: Mapping[str, Any], what: str) -> str:
    """The ``id`` of a created file or batch; a reply without one is an error
    (recorded, it would make the run impossible to resume). Any other string
    is kept as it is: it only ever goes into a URL, escaped."""
    value = reply.get("id")
    if not isinstance(value, str) or not value or len(value) > 1000:
        raise _ServerProblem(f"the server created a {what} but its reply has no usable id")
    return value


def run_batch(
    jobs: Union[str, os.PathLike[str], Iterable[Any]],
    directory: Union[str, os.PathLike[str]],
    *,
    client: Optional[OpenAIClient] = None,
    defaults: Optional[Mapping[str, Any]] = None,
    concurrency: int = 8,
    batch_api: bool = False,
    rerun_failed_live: bool = False,
    cancel: bool = False,
    poll_interval: float = 5.0,
    max_poll_interval: float = 60.0,
    abort_trigger: Optional[threading.Event] = None,
    on_progress: Optional[Callable[[BatchProgress], None]] = None,
    on_saved: Optional[Callable[[BatchJob, List[str]], None]] = None,
) -> BatchResult:
    """Make the images of every job, saved in ``directory``, resumably.

    ``jobs`` is a jobs file or an iterable (see ``load_jobs``, which checks
    every job before anything is sent). Live (the default), ``concurrency``
    workers call the API, paced together by a pacer that learns the
    account's limits from the rate-limit headers and 429s of every answer;
    a 429 is waited out and sent again, never a job's failure. With
    ``batch_api``, the jobs go to the Batch API (half the price, within 24
    hours): the input file is uploaded, the batch created (never twice) and
    polled (every ``poll_interval`` seconds, growing to
    ``max_poll_interval``), and its output downloaded to disk and saved job
    by job; ``rerun_failed_live`` then runs the jobs that failed live;
    ``cancel`` cancels the batch in progress and saves what it finished.

    ``directory/manifest.jsonl`` gets a row per finished job (id, status,
    files, request id, revised prompt, usage, error, never a credential)
    once its images are saved. Run it again to finish: jobs done are
    skipped, failed ones retried, a batch in progress is continued. Setting
    ``abort_trigger`` (or Ctrl-C) aborts every call in flight and returns
    with ``interrupted`` set. A spent quota (``insufficient_quota``) or an
    error in a callback lets the calls in flight finish, then is raised.
    """
    directory = os.fspath(directory)
    job_list = load_jobs(jobs, defaults)
    _check_run_options(job_list, concurrency, batch_api)
    os.makedirs(directory, exist_ok=True)
    owned = client is None
    client = client or OpenAIClient()
    stop = abort_trigger or threading.Event()
    try:
        run = _BatchRun(client, job_list, directory, stop, on_progress, on_saved)
    except BaseException:
        if owned:
            client.close()
        raise
    try:
        interrupted = _run_engines(
            run, jobs, defaults, batch_api, concurrency, cancel, rerun_failed_live, (poll_interval, max_poll_interval)
        )
    finally:
        run.close()
        if owned:
            client.close()
    if run.fatal is not None:
        raise run.fatal
    run.progress.status = "interrupted" if interrupted else "finished"
    return run.result(interrupted)


def _record_run(run: _BatchRun, path: str, defaults: Optional[Mapping[str, Any]], batch_api: bool) -> None:
    """A ``run`` row: what ``batch --resume DIR`` needs to run it again (never a credential)."""
    row: Dict[str, Any] = {
        "event": "run",
        "jobs": os.path.abspath(path),
        "defaults": dict(defaults or {}),
        "batch_api": batch_api,
    }
    run.manifest.append(_scrub({**row, "at": _now_text()}, tuple(run.secrets)))


def _check_run_options(jobs: Sequence[BatchJob], concurrency: int, batch_api: bool) -> None:
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    if batch_api and len({job.method for job in jobs}) > 1:
        raise ValueError(
            "a batch holds one endpoint: these jobs mix generations and edits (jobs with images); run them apart"
        )


def _run_through_batches(run: _BatchRun, polls: Tuple[float, float], cancel: bool, rerun_live: int) -> bool:
    """The Batch API engine; then, with ``rerun_live`` workers, the jobs it
    failed, live. Returns False if stopped."""
    finished = _run_batch_api(run, run.pending, polls[0], polls[1], cancel)
    failed = set(run.failed_ids())
    retry = [job for job in run.jobs if job.id in failed] if rerun_live else []
    if not (finished and retry):
        return finished
    run.again(retry)
    run.progress.status = "running the failed jobs live"
    return _run_live(run, retry, rerun_live)


def _run_engines(
    run: _BatchRun,
    source: object,
    defaults: Optional[Mapping[str, Any]],
    batch_api: bool,
    concurrency: int,
    cancel: bool,
    rerun_failed_live: bool,
    polls: Tuple[float, float],
) -> bool:
    """Run the planned jobs with the engine the run asks for (or the one a
    batch in progress needs); returns whether the run was interrupted."""
    if isinstance(source, (str, os.PathLike)):
        _record_run(run, os.fspath(cast("Union[str, os.PathLike[str]]", source)), defaults, batch_api)
    run.report()
    try:
        if batch_api or cancel or _active_batch(run.manifest) is not None:
            finished = _run_through_batches(run, polls, cancel, concurrency if rerun_failed_live else 0)
        else:
            finished = _run_live(run, run.pending, concurrency)
    except APIUserAbortError:
        if not run.stop.is_set():
            raise
        return True  # stopped during an upload, a poll or a download: resumable
    except KeyboardInterrupt:
        run.stop.set()
        raise
    return not finished and run.fatal is None


# [end:batch]
# =============================================================================
# Command line: python -m openai_images generate "a white cat"
# =============================================================================


_DEFAULT_CLI_MODEL = "gpt-image-2.5-flare"  # the command line's model when neither -m nor OPENAI_IMAGES_MODEL says


class _Options:
    """The parsed command line, typed (argparse's namespace is not): every
    option of every subcommand, with the defaults of those a subcommand lacks."""

    command: str
    prompt: str
    images: List[str]
    image: str
    image_url: List[str]
    file_id: List[str]
    mask: Optional[str]
    markup: Optional[str]
    param: List[str]
    extra: List[str]
    stream: bool
    save_partials: bool
    partial_images: Optional[int]
    output: Optional[str]
    json: bool
    include_b64: bool
    no_save: bool
    quiet: bool
    base_url: Optional[str]
    timeout: Optional[float]
    max_retries: Optional[int]
    verbose: bool
    dry_run: bool

    jobs: Optional[str]
    resume: Optional[str]
    concurrency: Optional[int]
    batch_api: bool
    cancel: bool
    rerun_failed_live: bool
    poll_interval: Optional[float]

    def __init__(self, namespace: object) -> None:
        absent: Dict[str, object] = {"prompt": "", "images": [], "image": "", "image_url": [], "file_id": []}
        absent.update(mask=None, markup=None, stream=False, save_partials=False, partial_images=None)
        absent.update(json=False, include_b64=False, no_save=False, dry_run=False, jobs=None, resume=None)
        absent.update(concurrency=None, batch_api=False, cancel=False, rerun_failed_live=False, poll_interval=None)
        given: Dict[str, object] = vars(namespace)
        for name, value in {**absent, **given}.items():
            setattr(self, name, value)


class _UsageError(Exception):
    """A command-line mistake: exit status 2. ``usage``: the mistake is in
    the arguments themselves, so the subcommand's usage block is shown too;
    a runtime failure (a missing directory, an unwritable file) is one line."""

    def __init__(self, message: str, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


class _DryRun(Exception):
    """Raised by the dry-run transport with the request that would have been sent."""

    def __init__(self, request: Request) -> None:
        super().__init__("dry run")
        self.request = request


def _dry_run_transport(request: Request) -> Response:
    raise _DryRun(request)


def _build_parser() -> Any:
    import argparse

    parser = argparse.ArgumentParser(
        prog="openai-images",
        description="Generate and edit images with the OpenAI Images API.",
        epilog="The API key comes from OPENAI_API_KEY. Saved paths are printed on stdout, progress on "
        "stderr. Exit status: 0 ok, 1 API or network error (or an image not saved where asked), "
        "2 usage error, 130 interrupted, 143 terminated.",
    )
    parser.add_argument("--version", action="version", version=f"openai-images {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    generate = commands.add_parser(
        "generate", help="create images from a prompt", description="Create images from a prompt."
    )
    generate.add_argument("prompt", help="the prompt, or - to read it from standard input")
    _add_api_options(generate, kind="generate")
    edit = commands.add_parser(
        "edit",
        help="edit images (files, URLs or file ids)",
        description="Edit images. Files are uploaded (multipart); --image-url and --file-id send a JSON "
        "request that references images instead.",
    )
    edit.add_argument("prompt", help="the instruction, or - to read it from standard input")
    edit.add_argument("images", nargs="*", metavar="IMAGE", help="image files to upload")
    edit.add_argument("--image-url", action="append", default=[], help="an image by URL (JSON form), repeatable")
    edit.add_argument("--file-id", action="append", default=[], help="an image by file id (JSON form), repeatable")
    edit.add_argument(
        "--mask", help="mask: a PNG file whose transparent areas are edited (JSON form: a URL, or a file id)"
    )
    edit.add_argument("--markup", help="markup file (a transparent PNG drawn over the image as a guide)")
    _add_api_options(edit, kind="edit")
    variation = commands.add_parser(
        "variation",
        help="variations of an image (retired upstream; for compatible servers)",
        description="Variations of an image. The OpenAI endpoint is retired (it no longer accepts requests); "
        "this command is kept for compatible servers that still offer it.",
    )
    variation.add_argument("image", help="the image file")
    _add_api_options(variation, kind="variation")
    subparsers: Dict[str, Any] = {"generate": generate, "edit": edit, "variation": variation}
    # [cut:batch]
    subparsers["batch"] = _add_batch_parser(commands)
    # [end:batch]
    parser.set_defaults(oi_subparsers=subparsers)
    return parser


def _add_api_options(sub: Any, *, kind: str) -> None:
    """The API parameters and output options of generate, edit or variation."""
    api = sub.add_argument_group("API parameters (any value is sent as given)")
    if kind == "variation":
        api.add_argument("--model", "-m", help="model id (compatible servers only)")
    else:
        api.add_argument(
            "--model",
            "-m",
            help=f"model id (default: $OPENAI_IMAGES_MODEL, else {_DEFAULT_CLI_MODEL}); any id is sent as given",
        )
    sizes = _values(ImageSize, _NOT_TAKEN.get(kind, ()))
    api.add_argument("--size", "-s", help=sizes if kind == "variation" else f"{sizes}, or WIDTHxHEIGHT")
    api.add_argument("-n", type=int, help="number of images")
    prefer = "" if kind == "variation" else " (legacy; prefer --safety-identifier)"
    api.add_argument("--user", help=f"end-user identifier{prefer}")
    api.add_argument("--response-format", help=f"{_values(ImageResponseFormat)} (legacy: retired models only)")
    if kind != "variation":
        api.add_argument("--quality", "-q", help=_values(ImageQuality, _NOT_TAKEN.get(kind, ())))
        api.add_argument("--background", help=_values(ImageBackground))
        api.add_argument("--output-format", "-f", help=_values(ImageOutputFormat))
        api.add_argument("--compression", type=int, metavar="0-100", help="output compression (jpeg, webp)")
        api.add_argument("--moderation", help=_values(ImageModeration))
        api.add_argument("--safety-identifier", help="stable end-user id for safety monitoring")
        api.add_argument("--stream", action="store_true", help="stream the result, with partial images")
        api.add_argument(
            "--partial-images", type=int, metavar="0-3", help="partial images to stream (implies --stream)"
        )
    if kind == "generate":
        api.add_argument("--style", help=f"{_values(ImageStyle)} (retired dall-e-3 only)")
    if kind == "edit":
        api.add_argument("--input-fidelity", help=_values(ImageInputFidelity))
    _add_field_options(api)
    out = sub.add_argument_group("output")
    out.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="output file (numbered -1, -2, ... when several), a directory (ending in /), "
        "or - for standard output; default: new image-DATE-TIME files here",
    )
    if kind != "variation":
        out.add_argument(
            "--save-partials",
            action="store_true",
            help="also save streamed partial images (as NAME-partial-N.EXT; implies --stream)",
        )
    out.add_argument("--json", action="store_true", help="print the response as JSON (base64 elided)")
    out.add_argument("--include-b64", action="store_true", help="with --json: keep the base64 data")
    out.add_argument("--no-save", action="store_true", help="with --json: do not write image files")
    out.add_argument("--quiet", action="store_true", help="no progress or notes on stderr")
    _add_connection_options(sub)


def _add_field_options(api: Any) -> None:
    """--param (a field this version knows) and --extra (one it does not)."""
    api.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="another API field this version knows; VALUE is parsed as JSON when it can be (repeatable)",
    )
    api.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a field this version does not know, sent as given (repeatable)",
    )


def _add_connection_options(sub: Any, dry_run: bool = True) -> None:
    """--base-url, --timeout, --max-retries, --verbose (and --dry-run)."""
    conn = sub.add_argument_group("connection")
    conn.add_argument("--base-url", help="API base URL (default: OPENAI_BASE_URL or https://api.openai.com/v1)")
    conn.add_argument(
        "--timeout",
        type=_seconds,
        metavar="SECONDS",
        help="give up after this long without data from the server (default 600)",
    )
    conn.add_argument("--max-retries", type=int, metavar="N", help="retries of transient failures (default 2)")
    conn.add_argument("--verbose", "-v", action="store_true", help="log HTTP requests to stderr (keys redacted)")
    if dry_run:
        conn.add_argument(
            "--dry-run",
            action="store_true",
            help="print the request that would be sent (key redacted) and exit; no network",
        )


# [cut:batch]
def _add_batch_parser(commands: Any) -> Any:
    """The batch subcommand."""
    batch = commands.add_parser(
        "batch",
        help="many images from a jobs file, resumably (live, or through the Batch API)",
        description="Make the images of every job in JOBS, saved in DIR with DIR/manifest.jsonl, a row per "
        "finished job. Run the same command again (or --resume DIR) to finish an interrupted run: jobs done "
        "are skipped, failed ones retried. Exit status: 0 every job done, 1 some failed (listed), 2 usage error "
        "(a bad job line is named), 130 interrupted.",
    )
    batch.add_argument(
        "jobs",
        nargs="?",
        metavar="JOBS",
        help='a JSONL file (one job per line: its API fields, plus optional "id", "output" and "extra_body" keys) '
        "or a text file (one prompt per line)",
    )
    run = batch.add_argument_group("run")
    run.add_argument("-o", "--output", metavar="DIR", help="the directory for the images and manifest.jsonl")
    run.add_argument("--resume", metavar="DIR", help="continue the run in DIR, with its jobs file and options")
    run.add_argument("-j", "--concurrency", type=int, metavar="N", help="calls at once (live; default 8)")
    run.add_argument(
        "--batch-api", action="store_true", help="send the jobs through the Batch API: half the price, within 24 h"
    )
    run.add_argument("--cancel", action="store_true", help="cancel the batch in progress and save what it finished")
    run.add_argument("--rerun-failed-live", action="store_true", help="after the batch, run its failed jobs live")
    run.add_argument(
        "--poll-interval", type=_seconds, metavar="SECONDS", help="first wait between batch polls (default 5)"
    )
    run.add_argument("--quiet", action="store_true", help="no progress on stderr")
    api = batch.add_argument_group("API parameters for every job (a job's own fields win)")
    api.add_argument("--model", "-m", help=f"model id (default: $OPENAI_IMAGES_MODEL, else {_DEFAULT_CLI_MODEL})")
    api.add_argument("--size", "-s", help=f"{_values(ImageSize)}, or WIDTHxHEIGHT")
    api.add_argument("-n", type=int, help="images per job")
    api.add_argument("--quality", "-q", help=_values(ImageQuality))
    api.add_argument("--background", help=_values(ImageBackground))
    api.add_argument("--output-format", "-f", help=_values(ImageOutputFormat))
    api.add_argument("--compression", type=int, metavar="0-100", help="output compression (jpeg, webp)")
    api.add_argument("--moderation", help=_values(ImageModeration))
    _add_field_options(api)
    _add_connection_options(batch, dry_run=False)
    return batch


# [end:batch]


def _values(constants: type, leave_out: Iterable[str] = ()) -> str:
    """The known values of a constants class, for --help: one source, so the
    help cannot drift from the constants (any other value is sent as given),
    less those the subcommand's endpoint does not take."""
    skip = set(leave_out)
    return ", ".join(value for name, value in vars(constants).items() if name.isupper() and value not in skip)


# The values of the constants an endpoint does not take, left out of its --help
# (images-api.md: DALL-E 3 sizes and "hd" are generation's; variations take 256-1024 squares).
_NOT_TAKEN: Dict[str, Tuple[str, ...]] = {
    "edit": (ImageSize.SIZE_1792X1024, ImageSize.SIZE_1024X1792, ImageQuality.HD),
    "variation": tuple(
        v for k, v in vars(ImageSize).items() if k.isupper() and v not in ("256x256", "512x512", "1024x1024")
    ),
}


def _unrecognized(unknown: Sequence[str], subparser: Any) -> str:
    """argparse's message for unknown arguments, with the closest option for each typo."""
    import difflib

    known = [option for action in subparser._actions for option in action.option_strings]  # pyright: ignore[reportPrivateUsage]
    hints: List[str] = []
    for word in unknown:
        typo = word.split("=", 1)[0]
        close = difflib.get_close_matches(typo, known, n=1, cutoff=0.75) if typo.startswith("--") else []
        if close:
            hints.append(f"{close[0]} for {typo}")
    return f"unrecognized arguments: {' '.join(unknown)}" + (f" (did you mean {', '.join(hints)}?)" if hints else "")


_CLI_FIELDS = {
    "model": "model",
    "size": "size",
    "n": "n",
    "user": "user",
    "quality": "quality",
    "background": "background",
    "output_format": "output_format",
    "compression": "output_compression",
    "moderation": "moderation",
    "partial_images": "partial_images",
    "safety_identifier": "safety_identifier",
    "input_fidelity": "input_fidelity",
    "style": "style",
    "response_format": "response_format",
}


def _seconds(text: str) -> float:
    """``--timeout``: a positive, finite number of seconds."""
    import argparse

    try:
        return _positive(float(text), "--timeout")
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of seconds above 0 and at most 1e6 (the longest wait for the server)"
        ) from None


def _read_prompt(text: str) -> str:
    if text == "-":
        text = _read_stdin_text().strip()
        if not text:
            raise _UsageError("the prompt read from standard input is empty")
    return text


def _read_stdin_text() -> str:
    """Standard input as text: UTF-8 (what the API takes) whatever the locale
    or PYTHONIOENCODING say, else the stream's own encoding."""
    raw = getattr(sys.stdin, "buffer", None)
    if raw is None:  # replaced by a text-only object, or closed (None)
        return sys.stdin.read() if sys.stdin is not None else ""
    data: bytes = raw.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        encoding: str = getattr(sys.stdin, "encoding", None) or "utf-8"
        try:
            return data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            raise _UsageError(f"the prompt read from standard input is neither UTF-8 nor {encoding}") from None


def _call_for(args: _Options) -> Tuple[str, Dict[str, Any]]:
    """The ``ImagesResource`` method to call and its keyword arguments.
    Everything the command line can get wrong is found here, before a client
    exists or a byte is sent."""
    _check_output_options(args)
    params = _api_params(args)
    if args.command == "variation":
        params["image"] = args.image
        return "create_variation", params
    params.setdefault("model", os.environ.get("OPENAI_IMAGES_MODEL") or _DEFAULT_CLI_MODEL)
    params["prompt"] = _read_prompt(args.prompt)
    if args.command == "generate":
        return "generate", params
    return _edit_call(args, params)


_CLI_REQUESTS: Dict[str, Tuple[type, ...]] = {
    "generate": (ImageGenerationRequest,),
    "edit": (ImageEditRequest, ImageEditJsonRequest),
    "variation": (ImageVariationRequest,),
    "batch": (ImageGenerationRequest, ImageEditJsonRequest),
}


def _api_params(args: _Options) -> Dict[str, Any]:
    """The API fields from their options, ``--param KEY=VALUE`` (a field
    this version knows: a misspelt one gets the closest) and ``--extra
    KEY=VALUE`` (sent as given, in ``extra_body``)."""
    params = {api: getattr(args, attr) for attr, api in _CLI_FIELDS.items() if getattr(args, attr, None) is not None}
    params.update(_param_fields(args))
    extra = dict(_key_values("--extra", args.extra))
    if extra:
        params["extra_body"] = extra
    if any(getattr(args, name, None) not in (None, False) for name in ("stream", "save_partials", "partial_images")):
        params["stream"] = True
    return params


def _param_fields(args: _Options) -> Dict[str, Any]:
    """``--param KEY=VALUE``: fields this version knows (a misspelt one gets the closest)."""
    known = {name for request in _CLI_REQUESTS[args.command] for name in _field_names(request)}
    fields: Dict[str, Any] = {}
    for key, value in _key_values("--param", args.param):
        try:
            _check_field_name(key, known, f"--param {key}", extra="--extra")
        except ValueError as exc:
            raise _UsageError(str(exc), usage=True) from None
        fields[key] = value
    return fields


def _key_values(option: str, items: Sequence[str]) -> List[Tuple[str, Any]]:
    """``KEY=VALUE`` pairs; VALUE as JSON when it parses, else as text."""
    pairs: List[Tuple[str, Any]] = []
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise _UsageError(f"{option} expects KEY=VALUE, got {item!r}", usage=True)
        try:
            pairs.append((key, _parse_json(text)))
        except ValueError:
            pairs.append((key, text))
    return pairs


def _check_output_options(args: _Options) -> None:
    if args.output == "-":
        _check_stdout_output(args)
    if (args.include_b64 or args.no_save) and not args.json:
        raise _UsageError("--include-b64 and --no-save go with --json", usage=True)


def _check_stdout_output(args: _Options) -> None:
    """``-o -``: standard output is open, not a terminal, and the only output."""
    if sys.stdout is None:
        raise _UsageError("-o -: standard output is closed")
    if sys.stdout.isatty():
        raise _UsageError("-o - would write binary image data to the terminal; redirect standard output")
    if getattr(args, "save_partials", False) or args.json:
        raise _UsageError("-o - cannot be combined with --save-partials or --json", usage=True)


def _edit_call(args: _Options, params: Dict[str, Any]) -> Tuple[str, Dict[str, Any]]:
    """``edit`` with files (multipart), or ``edit_json`` with URLs and file ids."""
    references = [ImageReference(image_url=u) for u in args.image_url] + [
        ImageReference(file_id=f) for f in args.file_id
    ]
    if references:
        return "edit_json", _json_edit_params(args, params, references)
    _check_upload_files(args)
    params["image"] = args.images[0] if len(args.images) == 1 else list(args.images)
    for name in ("mask", "markup"):
        if getattr(args, name):
            params[name] = getattr(args, name)
    return "edit", params


def _check_upload_files(args: _Options) -> None:
    """The IMAGE files (at least one, no URL), mask and markup of an edit are images to upload."""
    if not args.images:
        raise _UsageError("edit needs at least one IMAGE file, --image-url or --file-id", usage=True)
    for image in args.images:
        if image.startswith(("http://", "https://")):
            raise _UsageError(f"{image}: an IMAGE is a file to upload; give a URL with --image-url", usage=True)
    for option, path in [("IMAGE", image) for image in args.images] + [
        ("--mask", args.mask),
        ("--markup", args.markup),
    ]:
        _check_image_file(option, path)


def _json_edit_params(args: _Options, params: Dict[str, Any], references: List[ImageReference]) -> Dict[str, Any]:
    """``params`` for ``edit_json``: images (and a mask) by URL or file id."""
    if args.images:
        raise _UsageError("give IMAGE files, or --image-url/--file-id: not both in one edit", usage=True)
    if args.markup:
        raise _UsageError("--markup goes with IMAGE files (uploaded), not with --image-url/--file-id", usage=True)
    _check_json_edit_options(params)
    params["images"] = references
    if args.mask:
        is_url = "://" in args.mask or args.mask.startswith("data:")
        if not is_url and os.path.exists(args.mask):
            raise _UsageError(f"--mask {args.mask}: with --image-url/--file-id the mask is a URL or a file id")
        params["mask"] = ImageReference(image_url=args.mask) if is_url else ImageReference(file_id=args.mask)
    return params


def _check_json_edit_options(params: Mapping[str, Any]) -> None:
    """An option the JSON form of edit (--image-url, --file-id) does not take,
    named as an option (``--response-format``), not as a library argument."""
    known = set(_field_names(ImageEditJsonRequest)) | {"extra_body", "stream"}
    options = {api: "--" + attr.replace("_", "-") for attr, api in _CLI_FIELDS.items()}
    for name in params:
        if name not in known:
            shown = options.get(name, f"--param {name}")
            raise _UsageError(f"{shown}: edit with --image-url/--file-id does not take it (IMAGE files do)", usage=True)


def _check_image_file(option: str, path: Optional[str]) -> None:
    """An image file to upload that exists, is not empty and is a PNG, JPEG,
    WebP (or GIF, SVG: the server then says what it takes), by its bytes or name."""
    if path is None or not os.path.isfile(path):
        return  # a missing file: the upload names it
    with open(path, "rb") as handle:
        head = handle.read(64)
    if not head:
        raise _UsageError(f"{path}: the file is empty")
    if _sniff_image_type(head) is None and os.path.splitext(path)[1].lower() not in _EXTENSION_TYPES:
        raise _UsageError(f"{option} {path}: not an image (the API takes PNG, JPEG and WebP files)")


def _image_dimensions(data: bytes) -> Optional[Tuple[int, int]]:
    """Width and height from a PNG, GIF, WebP or JPEG header, else ``None``."""

    def number(start: int, length: int, order: Literal["big", "little"] = "big") -> int:
        if start + length > len(data):
            raise IndexError("truncated header")
        return int.from_bytes(data[start : start + length], order)

    try:
        for read in (_png_dimensions, _gif_dimensions, _webp_dimensions, _jpeg_dimensions):
            size = read(data, number)
            if size is not None:
                return size
    except IndexError:
        pass
    return None


# Each reader: the width and height if ``data`` starts as its format says, else
# None; ``number(start, length, order)`` raises IndexError past the end.
_Number = Callable[..., int]


def _png_dimensions(data: bytes, number: _Number) -> Optional[Tuple[int, int]]:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        return number(16, 4), number(20, 4)
    return None


def _gif_dimensions(data: bytes, number: _Number) -> Optional[Tuple[int, int]]:
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return number(6, 2, "little"), number(8, 2, "little")
    return None


def _webp_dimensions(data: bytes, number: _Number) -> Optional[Tuple[int, int]]:
    chunk = data[12:16] if data[:4] == b"RIFF" and data[8:12] == b"WEBP" else b""
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":  # lossy
        return number(26, 2, "little") & 0x3FFF, number(28, 2, "little") & 0x3FFF
    if chunk == b"VP8L" and data[20:21] == b"\x2f":  # lossless
        bits = number(21, 4, "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":  # extended
        return number(24, 3, "little") + 1, number(27, 3, "little") + 1
    return None


_JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame markers
_JPEG_BARE = frozenset(range(0xD0, 0xDA)) | {0x01}  # markers without a length


def _jpeg_dimensions(data: bytes, number: _Number) -> Optional[Tuple[int, int]]:
    """The size in the first start-of-frame segment, found by walking the segments."""
    at = 2 if data[:2] == b"\xff\xd8" else len(data)
    while at < len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        if marker in _JPEG_FRAMES:
            return number(at + 7, 2), number(at + 5, 2)
        if marker == 0xFF:  # a fill byte
            at += 1
        elif marker in _JPEG_BARE:
            at += 2
        else:
            at += 2 + number(at + 2, 2)
    return None


def _human_bytes(count: int) -> str:
    if count >= 1_000_000:
        return f"{count / 1_000_000:.1f} MB"
    return f"{count / 1000:.1f} kB" if count >= 1000 else f"{count} bytes"


def _silence_stdout() -> None:
    """Send whatever is still written to standard output (and the exit's
    flush) nowhere: its reader is gone, and that is not an error."""
    silent = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(silent, 1)
    finally:
        os.close(silent)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - standard output, for the rest of the process


class _Progress:
    """Progress on stderr, only when it is a terminal and not ``--quiet``: a
    spinner with the elapsed time while waiting, and a line per event. Plain
    ASCII and carriage returns, so any terminal and encoding will do."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.status = "waiting for the server"
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._drawn = 0

    def __enter__(self) -> _Progress:
        if self.enabled:
            self._thread = threading.Thread(target=self._spin, name="openai-images-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            self._erase()

    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def line(self, text: str) -> None:
        """Print one line on stderr above the spinner (nothing when disabled)."""
        if self.enabled:
            self.print(text, sys.stderr)

    def print(self, text: str, stream: Any = None) -> None:
        """Print one line (default: stdout) without garbling the spinner,
        which may share the terminal."""
        stream = stream or sys.stdout
        with self._lock:
            self._erase()
            try:
                stream.write(text + "\n")
                stream.flush()
            except BrokenPipeError:  # a pipe closed by its reader (`| head -1`): the rest goes nowhere, quietly
                if stream is sys.stdout:
                    _silence_stdout()
            except OSError:  # a full disk: what the caller needed is lost, and that is an error
                if stream is sys.stdout:
                    _silence_stdout()
                    raise

    def _spin(self) -> None:
        frames = "|/-\\"
        tick = 0
        while not self._stop.wait(0.1):
            text = f"{frames[tick % len(frames)]} {self.status} {self.elapsed():.1f} s"
            with self._lock:
                sys.stderr.write("\r" + text + " " * max(0, self._drawn - len(text)))
                sys.stderr.flush()
                self._drawn = len(text)
            tick += 1

    def _erase(self) -> None:
        if self._drawn:
            sys.stderr.write("\r" + " " * self._drawn + "\r")
            sys.stderr.flush()
            self._drawn = 0


class _Output:
    """Where images go. ``-o PATH``: that file (numbered ``-1``, ``-2`` … when
    a response holds several; the extension added when the path has none);
    ``-o DIR/``: fresh names in that directory (created if needed); ``-o -``: standard output
    (once); no ``-o``: fresh names here. Fresh names
    (``image-YYYYmmdd-HHMMSS[-N].EXT``, the extension from the bytes
    received) never replace an existing file. Every write is atomic."""

    def __init__(self, target: Optional[str], note: Callable[[str], None]) -> None:
        target = target or ""
        is_directory = target.endswith(("/", os.sep)) or os.path.isdir(target)
        self.directory = target if is_directory else ""
        self.path = target if target and not is_directory else None
        self.stem = "image-" + time.strftime("%Y%m%d-%H%M%S")
        self.note = note
        self.to_stdout = target == "-"
        self.rescued: List[str] = []  # one line per image saved elsewhere than asked

    def check(self) -> None:
        """Before the billed call: the place every image may be written to
        exists and can be written (a directory given with ``/`` is created),
        and the file name fits the file system. Else ``_UsageError``."""
        if self.directory:
            self._make_directory()
        if self.to_stdout:
            return  # a second image (rare) is saved here, or rescued: nothing to check before the call
        folder = self._folder()
        if not os.path.isdir(folder):
            raise _UsageError(f"-o {self.path}: the directory {folder} does not exist")
        if self.path and self.path != "-":
            self._check_name_length(self.path, folder)
        _check_writable(folder)

    def _make_directory(self) -> None:
        if os.path.lexists(self.directory.rstrip("/" + os.sep)) and not os.path.isdir(self.directory):
            raise _UsageError(f"-o {self.directory}: exists and is not a directory")
        try:
            os.makedirs(self.directory, exist_ok=True)
        except OSError as exc:
            raise _UsageError(f"-o {self.directory}: cannot create the directory ({exc.strerror})") from None

    def _folder(self) -> str:
        """The directory the images go to."""
        if self.directory:
            return self.directory
        if self.path and self.path != "-":
            return os.path.dirname(os.path.abspath(self.path))
        return "."  # no -o, or -o - (a second image lands here)

    @staticmethod
    def _check_name_length(path: str, folder: str) -> None:
        try:
            longest = os.pathconf(folder, "PC_NAME_MAX")
        except (AttributeError, OSError, ValueError):
            longest = 255
        if len(os.fsencode(os.path.basename(path))) + 16 > longest:  # room for -N and -partial-N
            raise _UsageError(f"-o {path}: the file name is too long for this file system")

    def save_safely(self, data: bytes, fmt: Optional[str], **where: Any) -> str:
        """``save``; if that fails (a full disk, a directory removed, a closed
        standard output), the image is rescued under a new name (see
        ``_rescue_file``) and the failure kept in ``rescued``: a paid image is
        never lost, and nothing is replaced."""
        try:
            return self.save(data, fmt, **where)
        except OSError as exc:
            reason = _os_error_text(exc)
            try:
                path = _rescue_file(data, _image_suffix(data))
            except OSError as second:
                raise OSError(exc.errno, f"could not save an image ({reason}); {second}") from None
            self.rescued.append(f"could not save an image ({reason}); it was saved to {path} instead")
            return path

    def _write_stdout(self, data: bytes) -> None:
        """Every byte to standard output, or ``OSError``: a short write (a file
        size limit, a full disk) or a closed pipe never passes for success."""
        import errno

        if sys.stdout is None:
            raise OSError(errno.EBADF, "standard output is closed")
        sys.stdout.flush()
        fd = sys.stdout.fileno()
        view = memoryview(data)
        try:
            while view:
                written = os.write(fd, view)
                if written <= 0:
                    raise OSError(errno.EIO, "standard output took no more bytes")
                view = view[written:]
        except OSError:
            _silence_stdout()  # later writes (and the exit's flush) go nowhere, quietly
            raise

    def save(self, data: bytes, fmt: Optional[str], *, number: int = 0, count: int = 1, suffix: str = "") -> str:
        """Write one image; returns its path (``"-"`` for standard output)."""
        media_type = _sniff_image_type(data[:16]) or ""
        sniffed = _TYPE_EXTENSIONS.get(media_type)
        extension = sniffed or _FORMAT_EXTENSIONS.get((fmt or "").lower(), ".png")
        if self.to_stdout and not suffix:
            self.to_stdout = False
            self._write_stdout(data)
            return "-"
        if self.path and self.path != "-":
            return self._save_as(self.path, data, media_type, extension, suffix + _numbered(number, count))
        path = self._save_fresh(data, suffix, extension)
        if self.path == "-":
            self.note(f"note: only one image goes to standard output; saved another as {path}")
        return path

    def _save_as(self, path: str, data: bytes, media_type: str, extension: str, suffix: str) -> str:
        """``-o PATH``: ``suffix`` goes before its extension, and ``extension``
        after a name that has none. A note says when the extension names
        another type than the bytes have."""
        root, given = os.path.splitext(path)
        sniffed = _TYPE_EXTENSIONS.get(media_type)
        if given and sniffed and not _same_extension(given, sniffed):
            self.note(f"note: {root}{given} holds {media_type[6:]} data (the server's output format)")
        return write_file_atomic(f"{root}{suffix}{given or extension}", data)

    def _save_fresh(self, data: bytes, suffix: str, extension: str) -> str:
        """Write under the first fresh name ``image-…[-N].EXT``; never replaces a file."""
        if self.directory:
            os.makedirs(self.directory, exist_ok=True)
        stem = os.path.join(self.directory, self.stem + suffix)
        names = (f"{stem}{'' if attempt == 1 else f'-{attempt}'}{extension}" for attempt in range(1, 10_000))
        path = _write_first_free(data, names)
        if path is None:
            raise FileExistsError(f"no free file name like {stem}{extension}")
        return path


def _same_extension(given: str, sniffed: str) -> bool:
    """Whether a file name's extension names the type its bytes have (``.jpeg`` is ``.jpg``)."""
    return given.lower() in (sniffed, ".jpeg" if sniffed == ".jpg" else sniffed)


def _numbered(number: int, count: int) -> str:
    """``-N`` for image ``number`` (from 0) of several, else nothing."""
    return f"-{number + 1}" if count > 1 else ""


def _check_writable(folder: str) -> None:
    """A file can be created in ``folder`` (a probe, removed at once), else ``_UsageError``."""
    import errno
    import tempfile

    try:
        handle, probe = tempfile.mkstemp(prefix=".openai-images-", suffix=".probe", dir=folder)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))
        raise _UsageError(f"cannot write images to {os.path.abspath(folder)} ({reason})") from None


def _report_saved(
    args: _Options, progress: _Progress, path: str, data: bytes, fmt: Optional[str], context: str = ""
) -> None:
    """The path on stdout (for scripts); on a terminal's stderr the path,
    dimensions, format and size. One line only when both share a terminal."""
    if args.output != "-" and not args.json and not (progress.enabled and sys.stdout.isatty()):
        progress.print(path)
    progress.line(f"{path}: {_describe_image(data, fmt)}{context}")


def _describe_image(data: bytes, fmt: Optional[str]) -> str:
    """``1024x1024 png, 1.2 MB``: the size (when the header says it), the type, the bytes."""
    size = _image_dimensions(data)
    kind = (_sniff_image_type(data[:16]) or "").partition("/")[2].split("+")[0] or fmt or "?"
    shown = f"{size[0]}x{size[1]} " if size else ""
    return f"{shown}{kind}, {_human_bytes(len(data))}"


def _usage_line(usage: Optional[ImageUsage], seconds: float) -> str:
    if usage is None or usage.total_tokens is None:
        return f"done in {seconds:.1f} s"
    return f"done in {seconds:.1f} s; tokens: {usage.total_tokens} ({usage.input_tokens} in, {usage.output_tokens} out)"


def _print_dry_run(request: Request, as_json: bool) -> None:
    """The request that would be sent: credentials redacted, file parts summarised."""
    import json

    headers = request.headers.redacted()
    body = _dry_run_body(request, headers)
    url = _redact_query(_redact_url(request.url))
    if as_json:
        print(json.dumps({"method": request.method, "url": url, "headers": headers, "body": body}, indent=2))
        return
    lines = [f"{request.method} {url}"] + [f"{name}: {value}" for name, value in headers.items()] + [""]
    if isinstance(request.body, MultipartEncoder):
        lines += [f"{item['name']}: {json.dumps(item['value'], ensure_ascii=False)}" for item in body["fields"]]
        lines += [
            f"{item['name']}: <file {item['filename']}, {item['content_type']}, {item['size']} bytes>"
            for item in body["files"]
        ]
    elif body is not None:
        lines.append(json.dumps(body, indent=2, ensure_ascii=False))
    print("\n".join(lines))


def _dry_run_body(request: Request, headers: Dict[str, str]) -> Any:
    """The body as JSON (a multipart body: its fields, and its files by name,
    type and size); its length goes into ``headers``."""
    import json

    if isinstance(request.body, MultipartEncoder):
        encoder = request.body
        headers["Content-Length"] = str(encoder.content_length)
        return {
            "fields": [{"name": name, "value": value} for name, value in encoder.fields],
            "files": [
                {"name": p.field_name, "filename": p.filename, "content_type": p.content_type, "size": p.size}
                for p in encoder.files
            ],
        }
    if request.body is None:
        return None
    headers["Content-Length"] = str(len(request.body))
    return json.loads(request.body)


def _elide_b64(value: Any) -> Any:
    """``value`` (JSON) with every ``b64_json`` string shown as its length."""
    if isinstance(value, dict):
        return {
            k: (f"<{len(v)} base64 chars>" if k == "b64_json" and isinstance(v, str) else _elide_b64(v))
            for k, v in cast("Dict[str, object]", value).items()
        }
    if isinstance(value, list):
        return [_elide_b64(v) for v in cast("List[object]", value)]
    return value


def _run(args: _Options, progress: _Progress) -> int:
    """The command: collect the call, check the outputs, call, save, report."""
    # [cut:batch]
    if args.command == "batch":
        return _run_batch(args, progress)
    # [end:batch]
    if getattr(args, "prompt", None) == "-":
        progress.status = "reading the prompt from standard input"
    method, params = _call_for(args)
    progress.status = "waiting for the server"
    output = _Output(args.output, lambda text: _note(args, text))
    if not args.dry_run and not args.no_save:
        output.check()  # before the billed call: a paid image must have somewhere to go
    with OpenAIClient(**_client_options(args, progress)) as client, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # create_variation's; the help says it is retired
        try:
            result = getattr(client.images, method)(**params)
        except _DryRun as dry_run:
            _print_dry_run(dry_run.request, args.json)
            return 0
        received = _receive(result, args, progress, output, params.get("partial_images"))
        saved = [] if args.no_save else _save_images(client, received, args, progress, output)
        _report(args, progress, received, saved, output.rescued)
    for line in output.rescued:
        print(f"openai-images: error: {line}", file=sys.stderr)
    return 1 if output.rescued else 0


def _receive(result: object, args: _Options, progress: _Progress, output: _Output, asked: object) -> _Received:
    """What a call gave: a stream consumed (see ``_receive_stream``), or a reply checked."""
    if isinstance(result, ImageStream):
        return _receive_stream(result, args, progress, output, asked)
    return _receive_response(cast(ImagesResponse, result))


def _receive_response(result: ImagesResponse) -> _Received:
    """A reply that is not a stream; one with no image is the server's problem."""
    if not result.data:
        where = f" (request_id: {result.request_id})" if result.request_id else ""
        raise _ServerProblem(f"the server returned no images{where}", result.request_id)
    return _Received(list(result.data), result.to_dict(), result.usage, result.output_format)


# [cut:batch]
def _run_batch(args: _Options, progress: _Progress) -> int:
    """``batch``: run the jobs (or resume a run), print each saved file, and
    say what failed, or how to resume."""
    directory, jobs, defaults, batch_api = _resumed_run(args) if args.resume else _new_run(args, args.output)
    load_jobs(jobs, defaults)  # every job checked before anything is sent or created
    os.makedirs(directory, exist_ok=True)
    _Output(os.path.join(directory, ""), lambda text: _note(args, text)).check()
    resume = f"python -m openai_images batch --resume {directory}"

    def show(state: BatchProgress) -> None:
        eta = f", ETA {state.eta:.0f} s" if state.eta is not None else ""
        progress.status = (
            f"{state.done}/{state.total} done, {state.failed} failed, {state.rate:.0f}/min{eta}, "
            f"{state.tokens} tokens; {state.status}"
        )

    def saved(job: BatchJob, files: List[str]) -> None:
        for name in files:
            progress.print(os.path.join(directory, name))

    with OpenAIClient(**_client_options(args, progress)) as client:
        try:
            result = run_batch(
                jobs,
                directory,
                client=client,
                defaults=defaults,
                concurrency=args.concurrency or 8,
                batch_api=batch_api,
                rerun_failed_live=args.rerun_failed_live,
                cancel=args.cancel,
                poll_interval=args.poll_interval or 5.0,
                on_progress=show,
                on_saved=saved,
            )
        except (KeyboardInterrupt, _Terminated):
            upstream = " (the batch goes on upstream; add --cancel to cancel it)" if batch_api else ""
            _note(
                args,
                f"stopped: every job saved so far is kept in {directory}; the calls in flight were dropped, and "
                f"their jobs are sent again when you resume: {resume}{upstream}",
            )
            raise
    summary = f"{result.done} of {result.total} jobs done ({result.skipped} before this run), {result.tokens} tokens"
    _note(args, f"{summary}; manifest: {result.manifest}")
    for line in result.rescued:
        print(f"openai-images: error: {line}", file=sys.stderr)
    if result.outcome:
        print(f"openai-images: {result.outcome}: {resume}", file=sys.stderr)
    return _batch_status(result, resume)


def _resumed_run(args: _Options) -> Tuple[str, Any, Dict[str, Any], bool]:
    """``--resume DIR``: the directory, jobs, defaults and engine of its last run."""
    _check_resume_options(args)
    directory = cast(str, args.resume)
    row = _last_run(directory)
    jobs = row.get("jobs")
    if not isinstance(jobs, str) or not os.path.exists(jobs):
        jobs = _jobs_in_progress(directory, jobs)
    return directory, jobs, _json_object(row.get("defaults")), args.batch_api or bool(row.get("batch_api"))


def _check_resume_options(args: _Options) -> None:
    """``--resume DIR`` takes no option that would change the run in DIR."""
    if args.jobs or args.output:
        raise _UsageError("--resume DIR takes neither JOBS nor -o: the run in DIR says what to do", usage=True)
    changing = [option for option, attr in _JOB_OPTIONS if getattr(args, attr, None) not in (None, [])]
    if changing:
        raise _UsageError(
            f"--resume DIR runs the jobs of the run in DIR as they were; {changing[0]} would change them: "
            "start a new run with JOBS -o DIR"
        )


def _new_run(args: _Options, directory: Optional[str]) -> Tuple[str, Any, Dict[str, Any], bool]:
    """``batch JOBS -o DIR``: the directory, jobs, defaults (from the options) and engine."""
    if not args.jobs or not directory:
        raise _UsageError("batch needs JOBS and -o DIR (or --resume DIR)", usage=True)
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise _UsageError(f"-o {directory}: not a directory")
    defaults = _api_params(args)
    defaults.setdefault("model", os.environ.get("OPENAI_IMAGES_MODEL") or _DEFAULT_CLI_MODEL)
    return directory, args.jobs, defaults, args.batch_api


_JOB_OPTIONS = (
    ("-m", "model"),
    ("--size", "size"),
    ("-n", "n"),
    ("--quality", "quality"),
    ("--background", "background"),
    ("--output-format", "output_format"),
    ("--compression", "compression"),
    ("--moderation", "moderation"),
    ("--param", "param"),
    ("--extra", "extra"),
)


def _batch_status(result: BatchResult, resume: str) -> int:
    """``batch``'s exit status, with a line for what is left to do (unless
    the batch's own outcome line said it)."""
    if result.outcome:
        return 1
    left = result.total - result.done - len(result.failed_ids)
    if left and not result.failed_ids:
        print(f"openai-images: error: {left} jobs were not run; run again: {resume}", file=sys.stderr)
        return 1
    if result.failed_ids:
        shown = ", ".join(result.failed_ids[:20]) + (", ..." if len(result.failed_ids) > 20 else "")
        print(
            f"openai-images: error: {len(result.failed_ids)} jobs failed: {shown}; the errors are in {result.manifest}; "
            f"run again to retry them: {resume}",
            file=sys.stderr,
        )
        return 1
    return 1 if result.rescued else 0


def _jobs_in_progress(directory: str, moved: object) -> List[BatchJob]:
    """The jobs of the batch in progress in ``directory``, from its manifest:
    what a run can still save (or cancel) when its jobs file has moved."""
    active = _active_batch(_Manifest(directory, write=False))
    members = _json_object(active.get("jobs")) if active is not None else {}
    if not members:
        raise _UsageError(f"the jobs file of the run in {directory} is gone ({moved}); run it again with JOBS -o DIR")
    return [_member_job(job_id, cast("List[Any]", member)) for job_id, member in members.items()]


def _last_run(directory: str) -> Dict[str, Any]:
    """The latest ``run`` row of the manifest in ``directory``."""
    try:
        manifest = _Manifest(directory, write=False)
    except FileNotFoundError:
        raise _UsageError(f"{directory} holds no batch run to resume (no {_Manifest.NAME})") from None
    row = manifest.last_event("run")
    if row is None:
        raise _UsageError(f"{manifest.path} does not say which jobs file it ran")
    return row


# [end:batch]


def _client_options(args: _Options, progress: _Progress) -> Dict[str, Any]:
    """The client's settings from the connection options; logging set up."""
    options: Dict[str, Any] = {}
    if args.base_url:
        options["base_url"] = args.base_url
    if args.timeout is not None:
        options["timeout"] = Timeout(connect=min(args.timeout, 30.0), read=args.timeout)
    if args.max_retries is not None:
        options["max_retries"] = args.max_retries
    if args.dry_run:
        options["transport"] = _dry_run_transport
        if not os.environ.get("OPENAI_API_KEY"):
            options["api_key"] = "sk-dry-run"
            _note(args, "note: OPENAI_API_KEY is not set; a real call would fail")
    _set_up_logging(args, progress)
    return options


def _set_up_logging(args: _Options, progress: _Progress) -> None:
    """``-v``: the library's debug log on stderr; else, on a terminal, the
    spinner says when a call waits to try again (unless ``OPENAI_LOG`` logs)."""
    if args.verbose:
        _log_to_stderr("%(levelname)s %(message)s", _DEBUG)
    elif progress.enabled and not os.environ.get("OPENAI_LOG"):
        _show_retries(progress)


class _Received:
    """What a call gave: the final images, the JSON to print, usage and format, saved previews."""

    def __init__(
        self, images: List[_ImageData], payload: Dict[str, Any], usage: Optional[ImageUsage], fmt: Optional[str]
    ) -> None:
        self.images = images
        self.payload: Dict[str, Any] = payload
        self.usage = usage
        self.fmt = fmt
        self.partials: List[str] = []


def _receive_stream(
    stream: ImageStream, args: _Options, progress: _Progress, output: _Output, asked: object
) -> _Received:
    """Consume a stream: previews reported (and saved with --save-partials, at
    most the partials asked for plus one), completed events kept. The JSON has
    the shape of a non-streaming reply."""
    received = _Received([], {}, None, None)
    most = (asked if isinstance(asked, int) else 3) + 1  # a server that sends more gets no more files
    with stream:
        progress.status = "generating"
        for event in stream:
            if isinstance(event, _PartialImageEvent):
                _receive_preview(event, received, most, args, progress, output)
            elif isinstance(event, _CompletedEvent):
                _receive_image(event, received)
    if received.usage is not None:
        received.payload["usage"] = received.usage.to_dict()
    return received


def _receive_preview(
    event: _PartialImageEvent, received: _Received, most: int, args: _Options, progress: _Progress, output: _Output
) -> None:
    """A preview: saved with --save-partials (at most ``most``), else reported."""
    number = (event.partial_image_index or 0) + 1
    context = f" (partial image {number} after {progress.elapsed():.1f} s)"
    wanted = args.save_partials and not args.no_save
    if not wanted or event.b64_json is None or len(received.partials) >= most:
        progress.line(context.strip(" ()"))
        return
    try:
        data = event.to_bytes()
    except ValueError as exc:
        raise _ServerProblem(f"the server sent a preview that cannot be decoded ({exc})") from None
    path = output.save_safely(data, event.output_format, suffix=f"-partial-{number}")
    received.partials.append(path)
    _report_saved(args, progress, path, data, event.output_format, context)


def _receive_image(event: _CompletedEvent, received: _Received) -> None:
    """A final image, kept in the shape of a non-streaming reply."""
    received.images.append(event)
    received.usage, received.fmt = event.usage or received.usage, event.output_format or received.fmt
    if not received.payload:
        shared = ("background", "output_format", "quality", "size")
        first: Dict[str, Any] = {"created": event.created_at, "data": []}
        first.update({k: v for k, v in event.to_dict().items() if k in shared})
        received.payload = first
    images: List[Dict[str, Any]] = received.payload["data"]
    images.append({"b64_json": event.b64_json})


def _save_images(
    client: OpenAIClient, received: _Received, args: _Options, progress: _Progress, output: _Output
) -> List[str]:
    """Decode (or download) and save every final image; the paths written."""
    progress.status = "saving"
    saved: List[str] = []
    for number, image in enumerate(received.images):
        if image.b64_json is None and image.url:
            progress.status = f"downloading image {number + 1}"
            data = _download(client, image.url)
        else:
            try:
                data = image.to_bytes()
            except ValueError as exc:
                raise _ServerProblem(f"the server sent image data that cannot be decoded ({exc})") from None
        if not data:
            raise _ServerProblem(f"the server sent an empty image (image {number + 1})")
        path = output.save_safely(data, received.fmt, number=number, count=len(received.images))
        saved.append(path)
        _report_saved(args, progress, path, data, received.fmt)
    return saved


def _report(args: _Options, progress: _Progress, received: _Received, saved: List[str], rescued: List[str]) -> None:
    """The summary on a terminal; with --json, the reply and the paths on stdout."""
    import json

    progress.line(_usage_line(received.usage, progress.elapsed()))
    if args.json:
        payload = received.payload if args.include_b64 else _elide_b64(received.payload)
        payload["saved"] = saved
        if received.partials:
            payload["partials"] = received.partials
        if rescued:
            payload["rescued"] = rescued  # images saved elsewhere than asked: the exit status is 1
        key = os.environ.get("OPENAI_API_KEY") or ""
        progress.print(json.dumps(_scrub(payload, (key,) if len(key) >= 8 else ()), indent=2))


def _show_retries(progress: _Progress) -> None:
    """The spinner says when the call waits to try again, and why."""
    import logging

    class RetryStatus(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            values = record.args if isinstance(record.args, tuple) else ()
            message = str(record.msg)
            if message.startswith("Retrying") and len(values) >= 6:
                delay, cause, attempt, attempts = values[2], values[3], values[-2], values[-1]
                why = "rate limited" if cause == 429 else f"status {cause}" if isinstance(cause, int) else str(cause)
                shown = f"{delay:.1f}" if isinstance(delay, float) and delay < 10 else f"{delay:.0f}"
                progress.status = f"{why}; retrying in {shown} s (attempt {attempt} of {attempts})"
            elif message.startswith("Request ") and len(values) >= 3 and isinstance(values[2], int) and values[2]:
                progress.status = f"waiting for the server (attempt {values[2] + 1})"

    _log().addHandler(RetryStatus())
    _log().setLevel(_DEBUG)
    _log().propagate = False  # the spinner shows it; nothing else prints it


def _note(args: _Options, text: str) -> None:
    if not args.quiet:
        print(text, file=sys.stderr, flush=True)


def _error_text(exc: BaseException) -> str:
    """One line for a failure, never the API key, with hints for the common ones."""
    if isinstance(exc, APITimeoutError) and exc.limit == TimeoutLimit.READ:
        return _error_text(APIError(f"{exc.message} (raise it with --timeout)", exc.request, request_id=exc.request_id))
    if isinstance(exc, OSError) and not isinstance(exc, OpenAIError):
        return _os_error_text(exc)
    if isinstance(exc, OpenAIError) and str(exc).startswith("No API key"):
        return "no API key: set the OPENAI_API_KEY environment variable"
    text = " ".join(str(exc).split()).replace("; see .events", "")  # (an attribute: the library's word)
    if isinstance(exc, (TypeError, ValueError)) and not isinstance(exc, OpenAIError):
        text = _in_option_words(text)
    return text + _attempts_text(exc)


def _attempts_text(exc: BaseException) -> str:
    """`` (after 3 attempts)`` for an error after retries, else nothing."""
    attempts = getattr(exc, "attempts", None)
    return f" (after {attempts} attempts)" if isinstance(attempts, int) and attempts > 1 else ""


def _os_error_text(exc: OSError) -> str:
    """What went wrong, and the file it went wrong with (``No such file or directory: cat.png``)."""
    name = f": {exc.filename}" if getattr(exc, "filename", None) else ""
    return f"{exc.strerror or exc}{name}"


def _in_option_words(text: str) -> str:
    """A request model's check in the command line's words: the field
    ``ImageGenerationRequest.user`` is the option ``--user`` (or ``--param user``)."""
    import re

    options = {api: "-n" if attr == "n" else "--" + attr.replace("_", "-") for attr, api in _CLI_FIELDS.items()}
    return re.sub(r"\bImage\w*Request\.(\w+)", lambda found: options.get(found[1], f"--param {found[1]}"), text)


def _json_error(exc: BaseException, code: int) -> str:
    """The failure as ``--json`` prints it on standard output."""
    import json

    error = {
        "message": _error_text(exc),
        "type": getattr(exc, "type", None) or type(exc).__name__.strip("_"),
        "code": getattr(exc, "code", None),
        "status": getattr(exc, "status_code", None),
        "request_id": getattr(exc, "request_id", None),
        "attempts": getattr(exc, "attempts", None),
        "exit_status": code,
    }
    return json.dumps({"error": error}, indent=2)


class _Terminated(BaseException):
    """SIGTERM: unwinds like Ctrl-C (calls aborted, temporary files removed)."""


def _on_sigterm_raise() -> None:
    import signal

    def terminated(signum: int, frame: object) -> None:
        raise _Terminated()

    try:
        signal.signal(signal.SIGTERM, terminated)
    except ValueError:  # not the main thread: leave signals alone
        pass


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit status: 0 success, 1 API or
    network error, no usable image, or an image saved elsewhere than asked;
    2 usage error (bad option, missing file, no key, an output that cannot
    be written); 130 interrupted; 143 terminated. Expected failures print
    one line, never a traceback."""
    args, options = _parse_command_line(argv)
    progress = _Progress(enabled=not options.quiet and not options.dry_run and sys.stderr.isatty())
    try:
        _on_sigterm_raise()
        with progress:
            return _run(options, progress)
    except BrokenPipeError:  # standard output's reader left (`| head -1`): it read what it wanted
        _silence_stdout()
        return 0
    except (KeyboardInterrupt, _Terminated, _UsageError, _ServerProblem, TypeError, ValueError, OSError) as exc:
        if isinstance(exc, _UsageError) and exc.usage:
            args.oi_subparsers[args.command].print_usage(sys.stderr)
        return _fail(options, exc, *_exit_status(exc))
    except OpenAIError as exc:
        return _fail(options, exc, 1 if isinstance(exc, APIError) else 2)  # no key, bad configuration: usage


def _parse_command_line(argv: Optional[Sequence[str]]) -> Tuple[argparse.Namespace, _Options]:
    """The arguments (argparse exits with status 2 on a usage error), with
    standard output and error made safe to print anything to."""
    parser = _build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        subparser = args.oi_subparsers[args.command]
        subparser.error(_unrecognized(unknown, subparser))  # exits with status 2
    for stream in (sys.stdout, sys.stderr):  # any encoding: what it cannot show is escaped, not an error
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    options = _Options(args)
    if sys.stdout is None and options.output != "-":  # started with >&-: say it once, then carry on
        print("openai-images: note: standard output is closed; what would be printed there is not", file=sys.stderr)
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - standard output, for the rest of the process
    return args, options


def _exit_status(exc: BaseException) -> Tuple[int, Optional[str]]:
    """The exit status for a failure that is not the API's, and its line (None: the error's own)."""
    if isinstance(exc, KeyboardInterrupt):
        return 130, "interrupted"
    if isinstance(exc, _Terminated):  # the call was aborted and no partial file is left, as for Ctrl-C
        return 143, "terminated"
    if isinstance(exc, (_UsageError, _ServerProblem)):
        return (2 if isinstance(exc, _UsageError) else 1), f"error: {exc}"
    if isinstance(exc, OSError) and not isinstance(exc, (TypeError, ValueError)):  # a missing file, a full disk
        missing = isinstance(exc, (FileNotFoundError, IsADirectoryError, PermissionError))
        return (2 if missing else 1), None
    return 2, None  # TypeError, ValueError: a value given that cannot be used


def _fail(args: _Options, exc: BaseException, code: int, text: Optional[str] = None) -> int:
    """One line on stderr (and, with ``--json``, the error object on stdout); returns ``code``."""
    print(f"openai-images: {text or 'error: ' + _error_text(exc)}", file=sys.stderr)
    if args.json and sys.stdout is not None:
        try:
            print(_json_error(exc, code), flush=True)
        except OSError:  # standard output is gone: the line on stderr says it all
            pass
    return code


if __name__ == "__main__":
    sys.exit(main())
