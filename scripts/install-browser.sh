#!/usr/bin/env bash
# Installs Debian's Chromium and ChromeDriver for the dashboard's browser tests (tests/dashboard), driven by
# Playwright's Python API (pinned in the dev extras) on /usr/bin/chromium: Playwright's own browser download
# is never used. Idempotent and quiet; never fails the build: without Chromium those tests skip with the reason.
set -u
. "$(dirname "$0")/apt-install.sh"

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
apt_install install-browser "the dashboard's browser tests will skip" "${need[@]}"
exit 0
