#!/usr/bin/env bash
# What `make test` needs beyond .venv, from Debian's packages, installed only when missing:
# Chromium for the browser tests, docker-compose (1.29) to validate docker-compose.yml offline.
set -euo pipefail
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v docker-compose >/dev/null || missing+=(docker-compose)
if ((${#missing[@]})); then
    echo "installing ${missing[*]} from Debian's packages"
    sudo_=""; [ "$(id -u)" = 0 ] || sudo_="sudo"
    $sudo_ apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
