#!/usr/bin/env bash
# Debian packages the test suite needs: PortAudio + PulseAudio (a virtual microphone for the
# mic tests), espeak-ng and sox (test speech), libsndfile (soundfile's fallback), jq (the
# README's jq example runs as a test), icecast2 and ices2 (a live radio station for the url
# source's tests), nginx (tests/test_proxy.py runs docs/nginx.conf; the package's service is
# never started: the test runs its own unprivileged nginx), pocketsphinx-testdata and
# alsa-utils (real recorded speech for the local engines' evaluation set,
# scripts/local_eval.py), and Node.js with npm for the JS SDK peer test
# (tests/test_js_sdk_peer.py), only when the machine has no `node` and `npm`.
set -euo pipefail
packages=(pulseaudio pulseaudio-utils libasound2-plugins libportaudio2 espeak-ng sox libsndfile1 jq
          icecast2 ices2 nginx pocketsphinx-testdata alsa-utils)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! command -v node >/dev/null 2>&1; then
    missing+=(nodejs)
fi
if ! command -v npm >/dev/null 2>&1; then
    missing+=(npm)
fi
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
