#!/usr/bin/env bash
# Idempotent set-up shared by the README's two commands: FluidSynth with Debian's General MIDI
# SoundFont (for rendering) and ALSA's library (python-rtmidi loads it for `symbolic play`), then a
# virtualenv in .venv with the package and its dev, audio and studio extras.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v fluidsynth >/dev/null || [ ! -e /usr/share/sounds/sf2/FluidR3_GM.sf2 ] \
  || ! ldconfig -p | grep libasound.so.2 >/dev/null; then
  echo "setup: installing fluidsynth, fluid-soundfont-gm and libasound2 (Debian packages)"
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends \
    fluidsynth fluid-soundfont-gm libasound2 >/dev/null
fi

# Debian's chromium and its chromedriver, which tests/test_studio.py drives headless through
# selenium (pointed at /usr/bin/chromedriver, so no browser is ever downloaded).
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  echo "setup: installing chromium and chromium-driver (Debian packages, for the studio's tests)"
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
  $sudo_cmd apt-get update -qq
  # With its recommends (fonts among them): the tests were only run with them installed.
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium chromium-driver >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
echo "setup: installing symbolic and its dependencies into .venv"
.venv/bin/python -m pip install -q -e ".[dev,audio,studio]"
