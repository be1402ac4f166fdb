"""Copied by .ci/sdk_tests.sh to tests/api_resources/conftest.py of the
official SDK's extracted tests. It overrides the two fixtures of the SDK's
tests/conftest.py (left unchanged, with everything else it sets up) so that
tests/api_resources/test_images.py (unchanged) runs against openai_images.
"""

from __future__ import annotations

import os
import sys
from typing import Any, AsyncIterator, Iterator

import pytest

sys.path.insert(0, os.environ["OPENAI_IMAGES_ROOT"])  # the repository: our openai_images.py

from openai_images import AsyncOpenAI, OpenAI

base_url = os.environ["TEST_API_BASE_URL"]  # the fake server that .ci/sdk_tests.sh started
api_key = "sk-sdk-tests"

# The SDK's raw/streaming tests assert `http_request.headers["X-Stainless-Lang"] == "python"`:
# the SDK's own telemetry header, which openai_images never sends by itself (it must not
# pass for the SDK). Here the test fixture alone adds it as a user-supplied default header,
# so those asserts check that default headers reach `response.http_request.headers`, and
# every other assert of those tests still runs.
TELEMETRY_HEADERS = {"X-Stainless-Lang": "python"}


@pytest.fixture(scope="session")
def client(request: Any) -> Iterator[OpenAI]:
    strict = getattr(request, "param", True)
    if not isinstance(strict, bool):
        raise TypeError(f"Unexpected fixture parameter type {type(strict)}, expected {bool}")
    # "loose"/"strict" toggle the SDK's _strict_response_validation; openai_images has one
    # mode (it always checks the response's shape), so both ids run the same client.
    with OpenAI(base_url=base_url, api_key=api_key, default_headers=TELEMETRY_HEADERS, proxies={}) as client:
        yield client


@pytest.fixture(scope="session")
async def async_client(request: Any) -> AsyncIterator[AsyncOpenAI]:
    param = getattr(request, "param", True)
    if isinstance(param, dict):
        if param.get("http_client") == "aiohttp":
            # That id runs the SDK's aiohttp transport; openai_images has no pluggable
            # HTTP stack, so it would only repeat the "strict" run.
            pytest.skip("the SDK's aiohttp transport: openai_images has none")
        param = param.get("strict", True)
    if not isinstance(param, bool):
        raise TypeError(f"Unexpected fixture parameter type {type(param)}, expected bool or dict")
    async with AsyncOpenAI(base_url=base_url, api_key=api_key, default_headers=TELEMETRY_HEADERS, proxies={}) as client:
        yield client
