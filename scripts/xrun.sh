#!/usr/bin/env bash
# Run a command under Xvfb when xvfb-run is installed (with a 24-bit screen:
# Xvfb's default is 8-bit and GL needs 24), else as it is.
set -euo pipefail
if command -v xvfb-run >/dev/null 2>&1; then
  exec xvfb-run -a -s "-screen 0 1280x720x24" "$@"
fi
exec "$@"
