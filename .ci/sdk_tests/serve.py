"""The test suite's fake Images API (test_openai_images.FakeImagesAPI) in a
process of its own: print its base URL (ending in /v1), serve until stdin closes."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

import test_openai_images

print(test_openai_images.server().url, flush=True)
sys.stdin.read()
