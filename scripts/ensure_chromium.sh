#!/usr/bin/env bash
# Make Debian's headless-capable Chromium available at /usr/bin/chromium (the leaderboard's
# HTML page is tested in it).
#
# Idempotent: when /usr/bin/chromium answers `--version`, it does nothing. Otherwise, as
# root, it installs Debian's `chromium` package (and the fonts the screenshot needs) with
# apt-get. Without root it explains how to get Chromium and exits 1.
#
# Environment:
#   MLEDOJO_CHROMIUM  the browser binary to check (default /usr/bin/chromium)
# Exit status: 0 when the browser answers `--version` at the end, 1 otherwise.
set -euo pipefail

BIN="${MLEDOJO_CHROMIUM:-/usr/bin/chromium}"

say() { echo "ensure_chromium: $*" >&2; }

chromium_ok() { [ -x "$BIN" ] && "$BIN" --version >/dev/null 2>&1; }

main() {
    if chromium_ok; then
        exit 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        say "$BIN is missing and this script is not running as root."
        say "Install it yourself (Debian/Ubuntu: \`sudo apt-get install chromium\`) or rerun as root."
        exit 1
    fi
    say "installing Debian's chromium with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
    if chromium_ok; then
        say "$("$BIN" --version)"
        exit 0
    fi
    say "chromium was installed but $BIN does not answer --version"
    exit 1
}

main "$@"
