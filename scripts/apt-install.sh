# Sourced by the install-*.sh scripts: apt_install WHO WHAT PKG... installs the Debian packages PKG quietly, as root
# or through passwordless sudo; never fails: what cannot be installed is said on stderr (WHO: ..., WHAT says what
# then happens, e.g. "its test will skip") and the caller goes on.
apt_install() {
    local who=$1 what=$2
    shift 2
    [ $# -eq 0 ] && return 0
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "$who: no apt-get; install $* by hand ($what)" >&2
        return 0
    fi
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            echo "$who: not root; install $* by hand ($what)" >&2
            return 0
        fi
    fi
    local log
    log=$(mktemp)
    export DEBIAN_FRONTEND=noninteractive
    if timeout 180 "${sudo[@]}" apt-get update -qq >"$log" 2>&1 \
        && timeout 600 "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" >>"$log" 2>&1; then
        return 0
    fi
    # one package missing from the archive must not keep the others out
    local pkg
    for pkg in "$@"; do
        timeout 300 "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$pkg" >>"$log" 2>&1 \
            || echo "$who: could not install $pkg ($what); see $log" >&2
    done
    return 0
}
