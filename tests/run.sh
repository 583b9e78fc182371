#!/usr/bin/env bash
# Runs every test of Sd3Mesh: installs what the tests need, then runs the whole solution's tests.
# Extra arguments go to `dotnet test` (e.g. --filter "FullyQualifiedName~Tokenizer").
set -euo pipefail
cd "$(dirname "$0")/.."
tests/setup-debian.sh
tests/setup-node.sh
dotnet test Sd3Mesh.sln -c Release --logger "console;verbosity=normal" "$@"
