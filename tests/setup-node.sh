#!/usr/bin/env bash
# Installs the npm packages the tests use as real peers (idempotent; does nothing when present), into
# tests/peers/node/node_modules (git-ignored), pinned by tests/peers/node/package-lock.json:
#   tokenizers 0.23.2   Hugging Face's tokenizers (the Rust library, through its Node binding): the reference
#                       of the tokenizer tests, the version transformers 5.17 runs on
set -euo pipefail
cd "$(dirname "$0")/peers/node"
for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: the tokenizer tests need Node.js 18+ and npm (Debian: apt-get install nodejs npm)" >&2; exit 1; }
done
installed=node_modules/tokenizers/package.json
want=$(node -p 'require("./package.json").dependencies.tokenizers')
[[ -f $installed ]] && [[ $(node -p "require('./$installed').version") == "$want" ]] && exit 0
echo "Installing npm packages for the tests: tokenizers@$want" >&2
npm ci --no-audit --no-fund --loglevel=error >/dev/null
