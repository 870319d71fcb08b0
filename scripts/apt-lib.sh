# Sourced by the install-*.sh scripts: apt_ready NAME WHAT sets the array `sudo` (empty as root, `sudo -n`
# otherwise) and succeeds when apt-get can install; else it says why on stderr (WHAT: what to install by hand).
apt_ready() {
    sudo=()
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "$1: no apt-get; install $2 by hand (their tests will skip)" >&2
        return 1
    fi
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            echo "$1: not root; install $2 by hand (their tests will skip)" >&2
            return 1
        fi
    fi
    export DEBIAN_FRONTEND=noninteractive
}
