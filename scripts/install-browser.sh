#!/usr/bin/env bash
# Installs Debian's Chromium and ChromeDriver for the dashboard's browser tests (tests/dashboard), driven by
# Playwright's Python API (pinned in the dev extras) on /usr/bin/chromium: Playwright's own browser download
# is never used. Idempotent and quiet; never fails the build: without Chromium those tests skip with the reason.
set -u

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
[ ${#need[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-browser: no apt-get; install ${need[*]} by hand (the dashboard's browser tests will skip)" >&2
    exit 0
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo=(sudo -n)
    else
        echo "install-browser: not root; install ${need[*]} by hand (the dashboard's browser tests will skip)" >&2
        exit 0
    fi
fi
log=$(mktemp)
export DEBIAN_FRONTEND=noninteractive
if ! { timeout 180 "${sudo[@]}" apt-get update -qq >"$log" 2>&1 \
    && timeout 600 "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >>"$log" 2>&1; }; then
    echo "install-browser: could not install ${need[*]} (the dashboard's browser tests will skip); see $log" >&2
fi
exit 0
