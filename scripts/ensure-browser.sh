#!/usr/bin/env bash
# The end-to-end tests drive a real Chromium. Install Debian's when it is missing and we
# may (root with apt); otherwise say how, and those tests skip.
set -u
for candidate in chromium chromium-browser google-chrome; do
  if command -v "$candidate" >/dev/null 2>&1; then exit 0; fi
done
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's chromium for the end-to-end tests..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null && exit 0
  echo "Could not install chromium; end-to-end tests will not find a browser." >&2
  exit 0
fi
echo "No Chromium found: install it (e.g. 'sudo apt-get install chromium') to run the" \
     "end-to-end tests, or set OPTATLAS_CHROMIUM to a Chromium binary." >&2
exit 0
