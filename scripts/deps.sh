#!/usr/bin/env bash
# Install the Debian packages venomrt needs to build and test the Ebiten
# renderer (cgo + X11/GL headers, ALSA) and to run it under Xvfb, and the
# headless Chromium (and a font) that net's browser-client tests drive.
# Idempotent: when everything is installed it only runs dpkg-query and exits.
set -euo pipefail

PKGS=(
  libgl1-mesa-dev libxcursor-dev libxi-dev libxinerama-dev libxrandr-dev
  libxxf86vm-dev libasound2-dev xvfb xauth pkg-config gcc
  chromium fonts-dejavu-core
)

missing=()
for p in "${PKGS[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  if [[ "$status" != "install ok installed" ]]; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "deps: missing ${missing[*]} and apt-get is not available; install them by hand" >&2
  exit 1
fi

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "deps: missing ${missing[*]}; not root and sudo is not available" >&2
    exit 1
  fi
  SUDO=(sudo)
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
