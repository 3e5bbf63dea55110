#!/usr/bin/env bash
# Builds the Chroma vector store the semantic cache's replica spec runs
# (test/integration/policies-semantic.spec.ts, through test/support/chroma.ts): a venv with the
# pinned chromadb from PyPI, whose `chroma run` serves the HTTP API v2. The venv lives outside the
# clone, in ~/.cache/modelgate-chroma/<hash>/venv (MODELGATE_CHROMA_CACHE moves it), so a fresh
# clone reuses it; pip's cache keeps the downloads (about 45 s the first time, ~500 MB with its
# dependencies). Needs python3 3.9+ with venv. Prints the venv's path.
set -euo pipefail
requirements="chromadb==1.5.9"
cache=${MODELGATE_CHROMA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/modelgate-chroma}
venv=$cache/$(echo "$requirements" | sha256sum | cut -c1-16)/venv
# Built in place (a venv cannot move: its scripts name its python); `.complete` marks it done.
if [ ! -f "$venv/.complete" ]; then
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv"
  # shellcheck disable=SC2086 # the requirements are words
  "$venv/bin/pip" install -q --disable-pip-version-check $requirements
  touch "$venv/.complete"
fi
echo "$venv"
