#!/usr/bin/env bash
# Installs the PostgreSQL server binaries (initdb, pg_ctl, postgres) that the tests and bench_memory_pg start a
# throw-away cluster with (bench/harness/postgres.py); Debian puts them in /usr/lib/postgresql/<major>/bin.
# Idempotent and quiet; never fails the build: without them the PostgreSQL tests skip and say why.
set -u
. "$(dirname "$0")/apt-install.sh"

for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && exit 0
done
command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && exit 0
apt_install install-postgres "the PostgreSQL tests will skip" postgresql
exit 0
