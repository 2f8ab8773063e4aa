#!/usr/bin/env bash
# The real-browser test drives Debian's Chromium at /usr/bin/chromium (never a
# browser downloaded by `playwright install`). Install it when it is missing and we
# are allowed to; otherwise say what to do. Without it the browser test is skipped
# locally, and fails when CI=true.
set -euo pipefail

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

if [ -x "$CHROMIUM" ]; then
    exit 0
fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Chromium not found at $CHROMIUM: installing Debian's chromium package ..."
    export DEBIAN_FRONTEND=noninteractive
    if apt-get update && apt-get install -y chromium && [ -x "$CHROMIUM" ]; then
        echo "Chromium installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
        exit 0
    fi
    echo "warning: could not install Chromium with apt-get; the browser test will" \
        "be skipped (and fails with CI=true)." >&2
    exit 0
fi

cat >&2 <<MSG
note: Chromium not found at $CHROMIUM, and it can be installed automatically only
      as root on a Debian-like system. The real-browser test will be skipped (with
      CI=true it fails). To run it, install Debian's chromium package, e.g.
          sudo apt-get install chromium
MSG
exit 0
