# Every routine command of the project. `just --list` shows them.

set shell := ["bash", "-euo", "pipefail", "-c"]

export CARGO_TERM_COLOR := "always"

# Local PostgreSQL and Redis used by the tests (each test makes its own database / key prefix).
export TEST_POSTGRES_URL := env_var_or_default("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
export TEST_REDIS_URL := env_var_or_default("TEST_REDIS_URL", "redis://127.0.0.1:6379")

default:
    @just --list

# Build the web app and serve everything on http://127.0.0.1:8080 (SQLite under ./data).
run *ARGS: web
    cargo run --bin tessera -- serve {{ARGS}}

# Build the web app (wasm) into web/dist, installing the wasm target and wasm-bindgen CLI if missing.
web:
    scripts/build-web.sh

# The whole suite: lint, build the web app, then the integration tests on SQLite and PostgreSQL.
test: services lint web mail-sink
    #!/usr/bin/env bash
    set -euo pipefail
    if cargo nextest --version >/dev/null 2>&1; then
        cargo nextest run --workspace --no-fail-fast
    else
        cargo test --workspace --no-fail-fast
    fi
    just fuzz
    just e2e-clients
    just e2e-generated
    just e2e-crowdkit
    just e2e

# The SMTP server the mail tests start (aiosmtpd from PyPI, in e2e/.venv-mail).
mail-sink:
    #!/usr/bin/env bash
    set -euo pipefail
    cd e2e
    if [ ! -x .venv-mail/bin/python ] || ! cmp -s requirements-mail.txt .venv-mail/requirements.txt; then
        python3 -m venv .venv-mail
        .venv-mail/bin/pip install -q -r requirements-mail.txt
        cp requirements-mail.txt .venv-mail/requirements.txt
    fi

# Schemathesis over openapi.yaml against a real server: no 5xx, every response as documented.
fuzz examples="25":
    cargo build --bin tessera
    e2e/fuzz.sh "${CARGO_TARGET_DIR:-target}/debug/tessera" {{examples}}

# The unchanged PYBOSSA clients (pybossa-client, pbs, enki from PyPI) against a real server.
e2e-clients:
    #!/usr/bin/env bash
    set -euo pipefail
    cargo build --bin tessera
    cd e2e
    if [ ! -x .venv-clients/bin/pytest ] || ! cmp -s requirements-clients.txt .venv-clients/requirements.txt; then
        python3 -m venv .venv-clients
        .venv-clients/bin/pip install -q -r requirements-clients.txt
        cp requirements-clients.txt .venv-clients/requirements.txt
    fi
    TESSERA_BIN="$(realpath "${CARGO_TARGET_DIR:-../target}")/debug/tessera" .venv-clients/bin/pytest -q test_clients.py

# Clients generated from openapi.yaml at test time (Python: openapi-python-client; TypeScript:
# openapi-typescript + openapi-fetch, type-checked) run the whole volunteer loop.
e2e-generated:
    #!/usr/bin/env bash
    set -euo pipefail
    cargo build --bin tessera
    cd e2e
    if [ ! -x .venv-generated/bin/pytest ] || ! cmp -s requirements-generated.txt .venv-generated/requirements.txt; then
        python3 -m venv .venv-generated
        .venv-generated/bin/pip install -q -r requirements-generated.txt
        cp requirements-generated.txt .venv-generated/requirements.txt
    fi
    bin="$(realpath "${CARGO_TARGET_DIR:-../target}")/debug/tessera"
    TESSERA_BIN="$bin" .venv-generated/bin/pytest -q test_generated.py
    if ! cmp -s package-lock.json node_modules/.tessera-lock.json; then
        npm ci --no-audit --no-fund
        cp package-lock.json node_modules/.tessera-lock.json
    fi
    TESSERA_BIN="$bin" npm run --silent generated

# Tessera's Dawid-Skene against crowd-kit's (from PyPI) on a simulated crowd: the same label on
# at least 99% of tasks, and better than majority vote. `just e2e-crowdkit 1000000` is the
# benchmark's size (100k tasks, 10k volunteers, 1M answers).
e2e-crowdkit answers="20000":
    #!/usr/bin/env bash
    set -euo pipefail
    cargo build --bin tessera
    cd e2e
    if [ ! -x .venv-crowdkit/bin/python ] || ! cmp -s requirements-crowdkit.txt .venv-crowdkit/requirements.txt; then
        python3 -m venv .venv-crowdkit
        .venv-crowdkit/bin/pip install -q -r requirements-crowdkit.txt
        cp requirements-crowdkit.txt .venv-crowdkit/requirements.txt
    fi
    n={{answers}}
    .venv-crowdkit/bin/python crowdkit/compare.py --check \
        --tessera "$(realpath "${CARGO_TARGET_DIR:-../target}")/debug/tessera" \
        --answers "$n" --tasks $((n / 10)) --workers $((n / 100))

# The web app in a real browser: playwright-core drives Debian's Chromium (/usr/bin/chromium)
# against a real server; screenshots of the main pages land in e2e/screenshots/.
e2e: web
    #!/usr/bin/env bash
    set -euo pipefail
    cargo build --bin tessera
    if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
        echo "error: Chromium is missing: install it with 'apt-get install chromium' (or set CHROMIUM)" >&2
        exit 1
    fi
    cd e2e
    if ! cmp -s package-lock.json node_modules/.tessera-lock.json; then
        npm ci --no-audit --no-fund
        cp package-lock.json node_modules/.tessera-lock.json
    fi
    TESSERA_BIN="$(realpath "${CARGO_TARGET_DIR:-../target}")/debug/tessera" npm test

# Load benchmark on PostgreSQL + Redis (release build); prints a Markdown table (see BENCHMARKS.md).
bench:
    cargo build --release -p tessera-api -p tessera-bench
    bench/run.sh
    bench/import.sh
    bench/em.sh

# Check that PostgreSQL and Redis answer; loud warning locally, failure under CI.
services:
    #!/usr/bin/env bash
    set -uo pipefail
    missing=()
    python3 - "$TEST_POSTGRES_URL" <<'PY' || missing+=("PostgreSQL at $TEST_POSTGRES_URL")
    import socket, sys, urllib.parse
    u = urllib.parse.urlparse(sys.argv[1])
    socket.create_connection((u.hostname or "127.0.0.1", u.port or 5432), timeout=2).close()
    PY
    python3 - "$TEST_REDIS_URL" <<'PY' || missing+=("Redis at $TEST_REDIS_URL")
    import socket, sys, urllib.parse
    u = urllib.parse.urlparse(sys.argv[1])
    s = socket.create_connection((u.hostname or "127.0.0.1", u.port or 6379), timeout=2)
    s.sendall(b"PING\r\n"); assert s.recv(16).startswith(b"+PONG")
    PY
    if [ ${#missing[@]} -gt 0 ]; then
        for m in "${missing[@]}"; do echo "!!! NOT REACHABLE: $m" >&2; done
        if [ "${CI:-}" = "true" ]; then
            echo "!!! CI=true: the suite needs them; failing." >&2
            exit 1
        fi
        echo "!!! Tests that need them will be SKIPPED. Start them to run the full suite." >&2
    fi

# Formatting and clippy with warnings as errors, for the API and the web app.
lint:
    cargo fmt --all -- --check
    cargo fmt --manifest-path web/Cargo.toml -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
    cargo clippy --manifest-path web/Cargo.toml --target wasm32-unknown-unknown --target-dir target -- -D warnings

# Format all code.
fmt:
    cargo fmt --all
    cargo fmt --manifest-path web/Cargo.toml

# Regenerate openapi.yaml from the code (a test fails when it drifts).
openapi:
    cargo run -q --bin tessera -- openapi > openapi.yaml

# Apply database migrations to DATABASE_URL (or the embedded SQLite file).
migrate:
    cargo run --bin tessera -- migrate
