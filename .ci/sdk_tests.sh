#!/usr/bin/env bash
# The official SDK's own images tests (tests/api_resources/test_images.py of
# openai==3.57.0, unchanged) against openai_images.OpenAI / AsyncOpenAI and the
# test suite's fake server. The SDK's sdist is downloaded at run time into a
# temporary directory (nothing of it enters the repository); only the two
# client fixtures are overridden, by .ci/sdk_tests/conftest.py. Prints
# "sdk-tests: N passed, N failed, N skipped" and exits non-zero on any failure.
#   bash .ci/sdk_tests.sh [extra pytest arguments, e.g. -k generate]
#   OPENAI_IMAGES_SDK_TESTS_KEEP=1 keeps the temporary directory (tests, pytest.log) for a look.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in the work tree

SDK_VERSION="3.57.0"
SDK_SHA256="5a0a89d6a542efc85e2a8cec701ca9265b795d578c777828e10fafdf80e333b6"  # openai-3.57.0.tar.gz on PyPI
# What the SDK's tests/conftest.py, tests/utils.py and test_images.py import:
# the SDK itself (openai.types, openai._utils, pydantic, httpx2 for tests/respx2),
# pytest and pytest-asyncio (the SDK's dev group: pytest>=9.0.3, pytest-asyncio>=1.4.0),
# rich (tests/utils.py); pydantic and httpx2, which those files import directly, are
# pinned too. Not pytest-xdist: its "-n auto" is dropped below.
pins=("openai==$SDK_VERSION" "pytest==9.2.0" "pytest-asyncio==1.5.0" "rich==15.0.0" "pydantic==2.14.4" "httpx2==2.16.2")
venv="${XDG_CACHE_HOME:-$HOME/.cache}/openai-images-sdk-tests"
if [[ ! -x $venv/bin/pytest ]] || ! "$venv/bin/python" - "${pins[@]}" <<'PY' 2>/dev/null
import importlib.metadata as m, sys
assert all(m.version(name) == version for name, version in (pin.split("==") for pin in sys.argv[1:]))
PY
then
  echo "== creating $venv (${pins[*]})"
  rm -rf "$venv"
  { python3 -m venv "$venv" && "$venv/bin/pip" install -q "${pins[@]}"; } > /tmp/oi-sdk-tests-venv.log 2>&1 \
    || { tail -20 /tmp/oi-sdk-tests-venv.log; echo "sdk-tests: FAILED: could not install ${pins[*]}"; exit 1; }
fi
py="$venv/bin/python"

work=$(mktemp -d "${TMPDIR:-/tmp}/openai-images-sdk-tests.XXXXXX")
server_pid=""
cleanup() {
  if [[ -n $server_pid ]]; then
    exec {server_in}>&-  # the server stops when its stdin closes
    wait "$server_pid" 2>/dev/null
  fi
  if [[ -n ${OPENAI_IMAGES_SDK_TESTS_KEEP:-} ]]; then echo "   kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# -- the SDK's sdist, from the index pip uses (its simple API), checked against the pinned hash
echo "== openai-$SDK_VERSION.tar.gz (sdist)"
sdist="$work/openai-$SDK_VERSION.tar.gz"
if ! "$py" - "${PIP_INDEX_URL:-https://pypi.org/simple}" "$SDK_VERSION" "$sdist" <<'PY'
import json, sys, urllib.parse, urllib.request
index, version, target = sys.argv[1:]
ask = urllib.request.Request(index.rstrip("/") + "/openai/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
with urllib.request.urlopen(ask, timeout=60) as reply:
    files = json.load(reply)["files"]
url = next(f["url"] for f in files if f["filename"] == f"openai-{version}.tar.gz")
with urllib.request.urlopen(urllib.parse.urljoin(index, url), timeout=120) as reply, open(target, "wb") as out:
    out.write(reply.read())
PY
then
  echo "   the simple API failed; trying pip download (slower: it prepares the sdist's metadata)"
  "$py" -m pip download -q --no-binary :all: --no-deps -d "$work" "openai==$SDK_VERSION" > "$work/pip.log" 2>&1 || tail -5 "$work/pip.log"
fi
if [[ ! -f $sdist ]] || [[ $(sha256sum "$sdist" | cut -d' ' -f1) != "$SDK_SHA256" ]]; then
  echo "sdk-tests: FAILED: could not download openai-$SDK_VERSION.tar.gz with sha256 $SDK_SHA256"; exit 1
fi

# -- the test file and what it needs, as the sdist ships them
src="$work/openai-$SDK_VERSION"
members=(pyproject.toml tests/__init__.py tests/conftest.py tests/utils.py tests/respx2
         tests/api_resources/__init__.py tests/api_resources/test_images.py)
tar -xzf "$sdist" -C "$work" "${members[@]/#/openai-$SDK_VERSION/}" || { echo "sdk-tests: FAILED: sdist layout"; exit 1; }
[[ -e $src/tests/api_resources/conftest.py ]] && { echo "sdk-tests: FAILED: the sdist has its own tests/api_resources/conftest.py"; exit 1; }
cp .ci/sdk_tests/conftest.py "$src/tests/api_resources/conftest.py"

# -- the fake server in a process of its own
coproc SERVER { exec "$py" "$root/.ci/sdk_tests/serve.py"; }
server_pid=$SERVER_PID server_in=${SERVER[1]}
base_url=""
read -r -t 30 base_url <&"${SERVER[0]}"
[[ $base_url == http://127.0.0.1:*/v1 ]] || { echo "sdk-tests: FAILED: the fake server did not start ($base_url)"; exit 1; }
echo "== fake Images API at $base_url"

# -- pytest with the SDK's [tool.pytest.ini_options] (asyncio_mode=auto, session loop,
# filterwarnings=error, xfail_strict), less addopts' "-n auto --durations=20" (pytest-xdist)
echo "== pytest tests/api_resources/test_images.py ($("$py" -V 2>&1))"
log="$work/pytest.log"
(cd "$src" && COLUMNS=300 OPENAI_IMAGES_ROOT="$root" TEST_API_BASE_URL="$base_url" timeout 100 \
  "$py" -m pytest -p no:cacheprovider -o addopts="" --tb=short -q -rfEs \
  tests/api_resources/test_images.py "$@") > "$log" 2>&1
status=$?
if [[ $status != 0 ]]; then  # one line a failure: the test and its error (the full log: OPENAI_IMAGES_SDK_TESTS_KEEP=1)
  grep -E "^(FAILED|ERROR) " "$log" | sed 's|tests/api_resources/test_images.py::||' | cut -c1-250
fi
grep -E "^SKIPPED " "$log" | sed -E 's/^SKIPPED \[[0-9]+\] [^ ]+ /SKIPPED: /' | sort | uniq -c
line=$(grep -E "(passed|failed|error|skipped|no tests ran).* in [0-9.]+s" "$log" | tail -1)
[[ -n $line ]] || { tail -30 "$log"; }
count() { grep -oE "[0-9]+ $1" <<<"$line" | grep -oE "^[0-9]+" || echo 0; }
passed=$(count passed); failed=$(( $(count failed) + $(count error) )); skipped=$(count skipped)
refused=$(count xfailed)  # non-image uploads refused locally, as conftest.py explains (strict xfail)
[[ $status != 0 && $failed == 0 ]] && failed=1  # pytest exited non-zero (timeout, no tests, collection error)
echo "sdk-tests: $passed passed, $failed failed, $skipped skipped ($refused uploads of non-image bytes refused, as expected)"
[[ $status == 0 ]]
