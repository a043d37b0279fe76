#!/usr/bin/env bash
# Make a Docker engine available for mledojo (the runtime image and the default sandbox).
#
# Idempotent: when `docker info` already answers, it does nothing. Otherwise, as root, it
# installs Debian's docker.io (and debootstrap, for the offline image build) when dockerd
# is missing, picks a storage driver that works on this file system, starts dockerd in the
# background and waits until it answers. Without root and without Docker it explains how to
# get Docker and exits 1.
#
# Environment:
#   MLEDOJO_DOCKER_TIMEOUT  seconds to wait for the daemon (default 60)
#   MLEDOJO_DOCKERD_LOG     daemon log file (default /var/log/mledojo-dockerd.log)
#   MLEDOJO_STORAGE_DRIVER  force a storage driver (overlay2, fuse-overlayfs or vfs)
# Exit status: 0 when `docker info` answers at the end, 1 otherwise.
set -euo pipefail

TIMEOUT="${MLEDOJO_DOCKER_TIMEOUT:-60}"
LOG="${MLEDOJO_DOCKERD_LOG:-/var/log/mledojo-dockerd.log}"
DATA_ROOT=/var/lib/docker

say() { echo "ensure_docker: $*" >&2; }

docker_ok() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

explain_and_fail() {
    say "$1"
    cat >&2 <<'EOF'
mledojo needs a Docker engine for its default sandbox and the runtime image. Either:
  * run this script as root (it installs Debian's docker.io and starts dockerd), or
  * install Docker yourself (Debian/Ubuntu: `sudo apt-get install docker.io`, or Docker
    Desktop / Docker Engine from the Docker documentation), start it, and add your user to
    the `docker` group (`sudo usermod -aG docker "$USER"`, then log in again).
Without Docker, tests marked `docker` are skipped (unless MLEDOJO_REQUIRE_DOCKER=1), and
episodes can use the weaker LocalSandbox.
EOF
    exit 1
}

install_packages() {
    # One `apt-get update`, then the daemon and debootstrap (the offline image build).
    say "installing docker.io and debootstrap with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends docker.io debootstrap >/dev/null
}

overlay_works() {
    # Try a real overlay mount inside the daemon's data root: the only reliable test
    # (it fails e.g. when the data root itself sits on overlayfs, as in nested containers).
    mkdir -p "$DATA_ROOT"
    local probe
    probe="$(mktemp -d "$DATA_ROOT/.overlay-probe.XXXXXX")"
    mkdir -p "$probe/lower" "$probe/upper" "$probe/work" "$probe/merged"
    local ok=1
    if mount -t overlay overlay \
        -o "lowerdir=$probe/lower,upperdir=$probe/upper,workdir=$probe/work" \
        "$probe/merged" 2>/dev/null; then
        ok=0
        umount "$probe/merged" || true
    fi
    rm -rf "$probe"
    return "$ok"
}

pick_storage_driver() {
    if [ -n "${MLEDOJO_STORAGE_DRIVER:-}" ]; then
        echo "$MLEDOJO_STORAGE_DRIVER"
    elif overlay_works; then
        echo overlay2
    elif command -v fuse-overlayfs >/dev/null 2>&1 && [ -e /dev/fuse ]; then
        echo fuse-overlayfs
    else
        echo vfs  # always works; slower and uses more disk (full copy per layer)
    fi
}

dockerd_running() {
    # The pid file first: pgrep (procps) is not on every minimal system.
    if [ -f /var/run/docker.pid ] && kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
        return 0
    fi
    command -v pgrep >/dev/null 2>&1 && pgrep -x dockerd >/dev/null 2>&1
}

wait_for_daemon() {
    local waited=0
    while [ "$waited" -lt "$TIMEOUT" ]; do
        if docker info >/dev/null 2>&1; then
            return 0
        fi
        sleep 1
        waited=$((waited + 1))
    done
    return 1
}

start_dockerd() {
    # $@: extra daemon flags. Returns non-zero if the daemon did not answer in time.
    local driver="$1"
    shift
    say "starting dockerd (storage driver $driver, log $LOG)"
    mkdir -p "$(dirname "$LOG")"
    setsid nohup dockerd --storage-driver="$driver" "$@" >>"$LOG" 2>&1 &
    local pid=$!
    if wait_for_daemon; then
        say "dockerd is up (pid $pid)"
        return 0
    fi
    say "dockerd did not answer within ${TIMEOUT}s; last log lines:"
    tail -n 15 "$LOG" >&2 || true
    kill "$pid" 2>/dev/null || true
    sleep 2
    return 1
}

main() {
    if docker_ok; then
        exit 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        if command -v docker >/dev/null 2>&1; then
            explain_and_fail "docker is installed but its daemon does not answer (or you lack access to it)"
        fi
        explain_and_fail "docker is not installed and this script is not running as root"
    fi
    if ! command -v dockerd >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1 \
        || ! command -v docker >/dev/null 2>&1; then
        install_packages
    fi
    if dockerd_running; then
        # A daemon is running but not answering yet (still starting): give it time.
        say "dockerd is already running; waiting for it to answer"
        if wait_for_daemon; then
            exit 0
        fi
        explain_and_fail "a running dockerd does not answer; see its log or restart it"
    fi
    local driver
    driver="$(pick_storage_driver)"
    if start_dockerd "$driver"; then
        exit 0
    fi
    # Some sandboxes forbid iptables; containers with `--network none` do not need it.
    say "retrying without iptables"
    if start_dockerd "$driver" --iptables=false; then
        exit 0
    fi
    if [ "$driver" != vfs ]; then
        say "retrying with the vfs storage driver"
        if start_dockerd vfs --iptables=false; then
            exit 0
        fi
    fi
    explain_and_fail "could not start dockerd (log: $LOG)"
}

main "$@"
