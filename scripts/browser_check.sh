#!/usr/bin/env bash
# The browser test drives Debian's chromium. Install it when it is missing and we can (root
# with apt-get); otherwise that test is skipped with its reason (and fails under CI=true).
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian's chromium for the browser test…"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
        || echo "Could not install chromium; the browser test will be skipped."
else
    echo "chromium is not installed; the browser test will be skipped (apt-get install chromium)."
fi
exit 0
