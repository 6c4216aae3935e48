#!/usr/bin/env bash
# The console's browser tests need Debian's chromium and chromium-driver (/usr/bin/chromium,
# /usr/bin/chromedriver). Installed quietly with apt when missing and this runs as root;
# otherwise the tests skip themselves, naming what is missing. Never fails the test run.
set -uo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "browser: installing chromium and chromium-driver with apt (for the console tests)"
    if ! { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver \
            || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
                 apt-get install -y -qq chromium chromium-driver; }; } >/tmp/offload-apt.log 2>&1; then
        echo "browser: apt-get install failed (log: /tmp/offload-apt.log); the browser tests will skip" >&2
    fi
else
    echo "browser: /usr/bin/chromium or /usr/bin/chromedriver missing and not root with apt:" \
         "the console's browser tests will skip (install Debian's chromium and chromium-driver)" >&2
fi
exit 0
