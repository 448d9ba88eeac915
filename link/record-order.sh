#!/usr/bin/env bash
# Records which of the server's functions run when it starts and serves a short, typical
# session, and writes them to link/startup-order.txt, start-up first. build.rs hands that file
# to the linker (LLD's --symbol-ordering-file), which places those functions side by side: the
# kernel maps code in 64 KiB runs around each page touched, so start-up code spread over the
# whole 7 MiB of text kept 4.2 MiB of it resident; packed together, 1.6 MiB.
#
# Names carry a hash of the crate's build settings, so the release build (what users run) and
# the bench build (what BENCHMARKS.md measures) have different ones: both are recorded. They do
# not depend on where the checkout is (Cargo.toml builds our crates without line tables). Run it
# again after changes that add or rename much of what runs at start (names the binary no longer
# has are ignored by the linker; new ones land where they would anyway). Needs valgrind.
#   link/record-order.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }
bin=target/release/mcp-jobs
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One JSON-RPC message per argument, a pause after each so the server answers before the next.
session() {
  local m
  for m in "$@"; do printf '%s\n' "$m"; sleep 1; done
}
call() { # tool, arguments, id
  printf '{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":{"name":"%s","arguments":%s}}' "$3" "$1" "$2"
}
init='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"record-order","version":"1"}}}'
ready='{"jsonrpc":"2.0","method":"notifications/initialized"}'
tools='{"jsonrpc":"2.0","id":2,"method":"tools/list"}'

record() { # name; the session comes on stdin; records the binary at $bin
  valgrind --tool=callgrind --demangle=no --callgrind-out-file="$tmp/$1.out" \
    "$bin" --state-dir "$tmp/state-$1" >/dev/null 2>"$tmp/$1.err" || {
    cat "$tmp/$1.err" >&2
    exit 1
  }
}

sessions() { # build name
  session "$init" "$ready" "$tools" | record "$1-start"
  session "$init" "$ready" \
    "$(call execute '{"command":"for i in $(seq 1 300); do echo line $i; done; echo oops >&2","wait":20}' 3)" \
    "$(call status '{"job_id":"j1"}' 4)" \
    "$(call output '{"job_id":"j1"}' 5)" \
    "$(call output '{"job_id":"j1","since":100,"stream":"stdout","max_bytes":512}' 6)" \
    "$(call output '{"job_id":"j1","grep":"line 2[0-9]"}' 7)" \
    "$(call tail '{"job_id":"j1","lines":5}' 8)" \
    "$(call execute '{"command":"cat"}' 9)" \
    "$(call interact '{"job_id":"j2","input":"hello","until":"hello"}' 10)" \
    "$(call wait '{"job_ids":["j1","j2"],"any":true,"timeout":1}' 11)" \
    "$(call list '{}' 12)" \
    "$(call check '{"command":"ls -l | wc -l"}' 13)" \
    "$(call kill '{"job_id":"j2"}' 14)" \
    "$(call clean '{}' 15)" |
    record "$1-session"
}

cargo build --release --quiet
sessions release
cargo bench --bench server --no-run --quiet 2>/dev/null # builds $bin with the bench profile
sessions bench

# Function names (mangled, as the linker knows them) of our binary, in first-seen order:
# start-up first, then what the sessions added.
python3 - "$tmp"/{release,bench}-start.out "$tmp"/{release,bench}-session.out >link/startup-order.txt <<'PY'
import re, sys
seen = {}
for path in sys.argv[1:]:
    objects, functions, current = {}, {}, None
    for line in open(path, errors="replace"):
        m = re.match(r"^(c?ob|c?fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if not m:
            continue
        kind, n, name = m.groups()
        table = objects if kind.endswith("ob") else functions
        if name is not None:
            table[n] = name
        if kind == "ob":
            current = objects.get(n)
        elif kind == "fn" and current and current.endswith("/mcp-jobs"):
            # callgrind tells recursion levels apart with a 'N suffix
            f = functions[n].split("'")[0]
            if not f.startswith(("(", "0x")):
                seen.setdefault(f, None)
print("\n".join(seen))
PY
cargo build --release --quiet # relinks with the new order
echo "link/startup-order.txt: $(wc -l <link/startup-order.txt) functions" >&2
