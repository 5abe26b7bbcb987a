#!/usr/bin/env bash
# Build the Leptos front end (web/) into web/dist: wasm32 release build + wasm-bindgen.
#
# Usage: scripts/build-web.sh            (from anywhere; works relative to the repo root)
#
# Installs what it needs on a fresh machine (the wasm32 target, wasm-bindgen-cli at the exact
# version web/Cargo.lock pins) and is a no-op apart from cargo's own check when nothing changed.
# Honours CARGO_BUILD_JOBS like any cargo command. wasm-opt is deliberately not run: Debian's
# binaryen breaks wasm-bindgen 0.2.13x output at run time (see shared design notes).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

target=wasm32-unknown-unknown
target_dir=${CARGO_TARGET_DIR:-target}
dist=web/dist
wasm_in="$target_dir/$target/release/tessera_web.wasm"

say() { printf '==> %s\n' "$*" >&2; }

# 1. Rust target.
if ! rustup target list --installed | grep -qx "$target"; then
    say "adding rust target $target"
    rustup target add "$target"
fi

# 2. wasm-bindgen CLI at exactly the version of the wasm-bindgen crate in web/Cargo.lock.
want=$(awk '
    $0 == "name = \"wasm-bindgen\"" { hit = 1; next }
    hit && /^version = / { gsub(/"/, "", $3); print $3; exit }
' web/Cargo.lock)
if [[ -z "$want" ]]; then
    echo "error: no wasm-bindgen entry in web/Cargo.lock" >&2
    exit 1
fi
have=$( (wasm-bindgen --version 2>/dev/null || true) | awk '{ print $2 }')
if [[ "$have" != "$want" ]]; then
    say "installing wasm-bindgen-cli $want (found: ${have:-none})"
    # No --locked: the registry lacks one of the CLI's locked dependencies.
    cargo install wasm-bindgen-cli --version "$want"
fi

# 3. Compile the app.
say "cargo build (release, $target)"
cargo build --manifest-path web/Cargo.toml --locked --release \
    --target "$target" --target-dir "$target_dir"

# 4. Generate the JS glue, unless dist already holds it for this wasm, CLI version and flags.
# The name section (function names for stack traces) is ~40% of the raw module: drop it.
bindgen_flags=(--target web --no-typescript --remove-name-section --remove-producers-section)
stamp="$want ${bindgen_flags[*]}"
mkdir -p "$dist"
if [[ "$dist/tessera_web_bg.wasm" -nt "$wasm_in" && -f "$dist/tessera_web.js" \
      && "$(cat "$dist/.stamp" 2>/dev/null || true)" == "$stamp" ]]; then
    say "wasm-bindgen output up to date"
else
    say "wasm-bindgen $want"
    wasm-bindgen "${bindgen_flags[@]}" --out-dir "$dist" --out-name tessera_web "$wasm_in"
    echo "$stamp" >"$dist/.stamp"
fi

# 5. Static files, and what PYBOSSA presenters expect on their page (jQuery, Bootstrap 3),
# at the versions web/package-lock.json pins, served by Tessera rather than a CDN.
cp web/index.html web/style.css web/boot.js web/presenter.html "$dist/"
if [[ ! -f web/node_modules/jquery/dist/jquery.min.js || web/package-lock.json -nt web/node_modules ]]; then
    command -v npm >/dev/null || { echo "error: npm is needed for web/package.json (apt-get install npm)" >&2; exit 1; }
    say "npm ci (jquery, bootstrap for PYBOSSA presenters)"
    (cd web && npm ci --ignore-scripts --no-audit --no-fund --silent)
    touch web/node_modules
fi
mkdir -p "$dist/vendor"
cp web/node_modules/jquery/dist/jquery.min.js "$dist/vendor/jquery.min.js"
cp web/node_modules/jquery-migrate/dist/jquery-migrate.min.js "$dist/vendor/jquery-migrate.min.js"
cp web/node_modules/bootstrap/dist/css/bootstrap.min.css "$dist/vendor/bootstrap.min.css"
cp web/node_modules/bootstrap/dist/js/bootstrap.min.js "$dist/vendor/bootstrap.min.js"

raw=$(wc -c <"$dist/tessera_web_bg.wasm")
gz=$(gzip -9 -c "$dist/tessera_web_bg.wasm" | wc -c)
printf 'web/dist ready: tessera_web_bg.wasm %d KiB raw, %d KiB gzip (%d bytes)\n' \
    $((raw / 1024)) $((gz / 1024)) "$gz"
