#!/usr/bin/env bash
# Runs the README's shell blocks as a new user would, in order, in an empty folder.
#
#   bash scripts/readme_check.sh [gras binary]   (default: $GRAS_BIN, else target/debug/gras)
#
# Blocks fenced as ```sh run, each in its own bash (`set -eu`: a failing command fails the
# check; no pipefail, since `gras ... | head` ends gras on a closed pipe by design). Blocks
# fenced as ```sh aws need an AWS account and are skipped (and counted). Three things differ
# from a reader's machine, and are printed when they apply:
# - `bash scripts/test.sh` is not run: it is the command that runs this check;
# - `cargo run --release -p gras-cli --` and `cargo install --path cli` use the already built
#   CLI (the same code: a second, release build would add minutes to CI and test nothing
#   more), put on the PATH as `gras`;
# - HOME is a temporary folder, so that what the blocks install under ~ goes there.
# After each block, background jobs it left are stopped, and the next block waits until the
# API's port is free again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD
gras=${1:-${GRAS_BIN:-target/debug/gras}}
[ -x "$gras" ] || cargo build -p gras-cli
gras=$(cd "$(dirname "$gras")" && pwd)/$(basename "$gras")

work=$(mktemp -d "${TMPDIR:-/tmp}/gras-readme.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin" "$work/home" "$work/run" "$work/blocks"
ln -s "$gras" "$work/bin/gras"

python3 - "$repo/README.md" "$work/blocks" <<'PY'
import pathlib, re, sys
text = pathlib.Path(sys.argv[1]).read_text()
out = pathlib.Path(sys.argv[2])
n = skipped = 0
for m in re.finditer(r"^```([^\n]*)\n(.*?)^```$", text, re.M | re.S):
    info, body = m.group(1).strip(), m.group(2)
    if info == "sh aws":
        skipped += 1
        continue
    if info != "sh":
        continue
    lines = []
    for line in body.splitlines():
        if re.match(r"\s*bash scripts/test\.sh\b", line):
            print(f"block {n + 1}: not run (it runs this check): {line.split('#')[0].strip()}")
            continue
        if re.match(r"\s*cargo install --path cli\b", line):
            print(f"block {n + 1}: the built CLI is on the PATH instead of: {line.strip()}")
            continue
        new = line.replace("cargo run --release -p gras-cli -- ", "gras ")
        if new != line:
            print(f"block {n + 1}: the built CLI instead of: cargo run --release -p gras-cli --")
        lines.append(new)
    n += 1
    (out / f"{n:02d}.sh").write_text("\n".join(lines) + "\n")
print(f"{n} blocks to run, {skipped} skipped (need AWS)")
PY

port_free() {
  python3 - <<'PY'
import socket, sys, time
for _ in range(100):
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", 8080))
    except OSError:
        sys.exit(0)
    finally:
        s.close()
    time.sleep(0.1)
sys.exit("port 8080 still in use after a block")
PY
}

for block in "$work"/blocks/*.sh; do
  name=$(basename "$block" .sh)
  echo "== README block $name"
  sed 's/^/   | /' "$block"
  port_free
  start=$(date +%s)
  # Its own bash: `set -eu`, the PATH a reader has after the install section, jobs stopped
  # when it ends.
  if ! (cd "$work/run" && HOME=$work/home PATH=$work/bin:$PATH bash -c \
        'set -eu; trap '\''kill $(jobs -p) 2>/dev/null || true'\'' EXIT; source "$1"' _ "$block" \
        >"$work/out" 2>&1); then
    echo "README block $name failed:" >&2
    cat "$work/out" >&2
    exit 1
  fi
  echo "   ok in $(( $(date +%s) - start )) s ($(wc -l <"$work/out") lines of output)"
done
port_free
echo "README blocks passed"
