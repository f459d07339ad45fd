#!/usr/bin/env sh
# Kick Clip Generator: set up on first run, then open the browser UI (Linux / macOS).
set -e
cd "$(dirname "$0")"
PY=""
for candidate in python3.13 python3.12 python3.11 python3.10 python3 python; do
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    PY="$candidate"; break
  fi
done
if [ -z "$PY" ]; then
  echo "Python 3.10 or newer is needed: install it from https://www.python.org/downloads/ and run this again." >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "First run: creating .venv and installing requirements (a few minutes) ..."
  "$PY" -m venv .venv
  .venv/bin/python -m pip install --upgrade pip >/dev/null
  .venv/bin/python -m pip install -r requirements.txt
fi
echo "Starting the UI on http://127.0.0.1:7860 (Ctrl-C to stop)"
exec .venv/bin/python main.py --ui "$@"
