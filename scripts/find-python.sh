#!/usr/bin/env bash
# Prints the path of a working Python 3.10 (Rasa 3.6 supports 3.8-3.10 only).
# Honours $PYTHON; tries python3.10 on PATH, then pyenv's and the system's.
set -u
candidates=("${PYTHON:-}" python3.10)
if command -v pyenv >/dev/null 2>&1; then
  for p in "$(pyenv root)"/versions/3.10*/bin/python3.10; do candidates+=("$p"); done
fi
candidates+=(/usr/bin/python3.10 /usr/local/bin/python3.10 "$HOME"/.pyenv/versions/3.10*/bin/python3.10)
for c in "${candidates[@]}"; do
  [ -n "$c" ] || continue
  if exe=$("$c" -c 'import sys, venv; assert sys.version_info[:2] == (3, 10); print(sys.executable)' 2>/dev/null); then
    echo "$exe"
    exit 0
  fi
done
echo "IntroCoach needs Python 3.10 (Rasa 3.6 runs on 3.8-3.10): install it (apt-get install python3.10 python3.10-venv, or pyenv install 3.10) or set PYTHON=/path/to/python3.10." >&2
exit 1
