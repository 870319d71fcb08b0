#!/usr/bin/env bash
# Installs the PostgreSQL server binaries (initdb, pg_ctl, postgres) that the tests start a throw-away cluster with
# (bench/harness/postgres.py); Debian puts them in /usr/lib/postgresql/<major>/bin. A no-op once installed; never fails the build:
# when they cannot be installed, the PostgreSQL tests skip and say why.
set -u

for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && exit 0
done
command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && exit 0

# shellcheck source=scripts/apt-lib.sh
. "$(dirname "$0")/apt-lib.sh"
apt_ready install-postgres "the postgresql package" || exit 0
log=$(mktemp)
if ! { timeout 180 "${sudo[@]}" apt-get update -qq >"$log" 2>&1 \
    && timeout 300 "${sudo[@]}" apt-get install -y -qq --no-install-recommends postgresql >>"$log" 2>&1; }; then
    echo "install-postgres: could not install postgresql (the PostgreSQL tests will skip); see $log" >&2
fi
exit 0
