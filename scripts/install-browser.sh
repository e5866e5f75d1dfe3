#!/usr/bin/env bash
# Debian's Chromium for the report test (tests/report/test_html.py), if it is not there yet.
# Exit 1 when it cannot be installed: CI treats that as a failure, `make test` as a skipped test.
set -uo pipefail
command -v chromium >/dev/null 2>&1 && exit 0
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null && SUDO="sudo -n" || { echo "install-browser: not root and no sudo; skipping Chromium" >&2; exit 1; }
fi
command -v apt-get >/dev/null 2>&1 || { echo "install-browser: no apt-get; install Chromium yourself" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null && $SUDO apt-get install -y -qq chromium >/dev/null && command -v chromium >/dev/null
