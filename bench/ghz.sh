#!/usr/bin/env bash
# Load-test one gRPC call: bench/ghz.sh NAME [HOST:PORT]   (NAME: a file of bench/ghz/, without .json)
# With ghz installed it runs `ghz --config bench/ghz/NAME.json` (server reflection, no .proto needed).
# Otherwise it drives the same call with h2load (Debian nghttp2-client): the request pre-encoded as a gRPC
# body, one probe call through grpcio first to check grpc-status 0 (h2load does not read trailers).
# GHZ_TOTAL=N overrides the config's request count. Only loopback targets are meant here.
set -euo pipefail
cd "$(dirname "$0")/.."

name=${1:-}
config="bench/ghz/${name}.json"
if [ -z "$name" ] || [ ! -f "$config" ]; then
    echo "usage: bench/ghz.sh NAME [HOST:PORT]; NAME is one of:" $(ls bench/ghz | sed 's/\.json$//') >&2
    exit 2
fi
py=.venv/bin/python
[ -x "$py" ] || py=python3
hostargs=()
[ -n "${2:-}" ] && hostargs=(--host "$2")

"$py" -m bench.ghz_encode seed "$config" "${hostargs[@]}"

if command -v ghz >/dev/null 2>&1; then
    total=()
    [ -n "${GHZ_TOTAL:-}" ] && total=(--total "$GHZ_TOTAL")
    exec ghz --config "$config" "${total[@]}" ${2:+"$2"}
fi

command -v h2load >/dev/null 2>&1 || bash scripts/install-deploy-tools.sh
if ! command -v h2load >/dev/null 2>&1; then
    echo "bench/ghz.sh: neither ghz nor h2load (Debian nghttp2-client) is available" >&2
    exit 1
fi

"$py" -m bench.ghz_encode probe "$config" "${hostargs[@]}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$py" -m bench.ghz_encode encode "$config" -o "$work/body"
read -r url total conns streams < <("$py" -m bench.ghz_encode plan "$config" "${hostargs[@]}")
echo "h2load: $url  $total requests, $conns connections x $streams streams"
h2load -n "$total" -c "$conns" -m "$streams" -t 1 -d "$work/body" \
    -H 'content-type: application/grpc' -H 'te: trailers' \
    --log-file "$work/log" "$url" >"$work/out" 2>&1 || { cat "$work/out" >&2; exit 1; }
grep -E '^(finished in|requests:|status codes:)' "$work/out" || true
"$py" -m bench.ghz_encode stats "$work/log"
