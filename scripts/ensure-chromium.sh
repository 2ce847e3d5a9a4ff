#!/usr/bin/env bash
# Install Debian's Chromium for the browser test when it is missing and we may install packages.
# Never fails: without a browser the browser test skips and says why.
set -u

if [ -n "${CHROMIUM_PATH:-}" ] || command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "chromium not installed and no root rights: the browser test will be skipped" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium not installed and no apt-get: the browser test will be skipped" >&2
  exit 0
fi

echo "installing chromium for the browser test (apt-get)..." >&2
export DEBIAN_FRONTEND=noninteractive
if "${sudo[@]}" apt-get update -q >/dev/null && "${sudo[@]}" apt-get install -y -q chromium >/dev/null; then
  echo "chromium installed: $(command -v chromium)" >&2
else
  echo "could not install chromium: the browser test will be skipped" >&2
fi
exit 0
