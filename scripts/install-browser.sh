#!/usr/bin/env bash
# Debian's Chromium (for the browser tests and kaleido's chart images), the DejaVu fonts
# used by the PDF exports, and capsh (libcap2-bin) for the read-only-folder tests.
# Never `playwright install`: the browser comes from Debian.
set -euo pipefail
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
# capsh: the read-only-folder tests drop root's permission override (tests/test_data_security.py)
command -v capsh >/dev/null 2>&1 || [ -x /usr/sbin/capsh ] || [ -x /sbin/capsh ] || need+=(libcap2-bin)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
