#!/usr/bin/env bash
# Debian packages the test suite needs: PortAudio + PulseAudio (a virtual microphone for the
# mic tests), espeak-ng and sox (test speech), libsndfile (soundfile's fallback), jq (the
# README's jq example runs as a test), pocketsphinx-testdata and alsa-utils (real recorded
# speech for the local engines' evaluation set, scripts/local_eval.py).
set -euo pipefail
packages=(pulseaudio pulseaudio-utils libasound2-plugins libportaudio2 espeak-ng sox libsndfile1 jq
    pocketsphinx-testdata alsa-utils)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
