#!/usr/bin/env bash
# A Java runtime for the Spark engine (BETWEEN_SESSIONS_ENGINE=spark): Debian's default JRE
# (17 on bookworm, 21 on trixie; PySpark 4 runs on both). Nothing is done when java is found.
set -euo pipefail
if ! command -v java >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq default-jre-headless >/dev/null
fi
