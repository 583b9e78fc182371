#!/usr/bin/env bash
# Installs the Debian packages the tests use as real peers (idempotent; does nothing when present):
#   python3-grpcio, python3-protobuf  the reference gRPC implementation for interop tests (/usr/bin/python3)
#   python3-onnx                      the ONNX checker, an independent reader of the models we write
#   python3-sentencepiece             the reference SentencePiece (T5 tokenizer) for the tokenizer tests
#   python3-prometheus-client         Prometheus' own text-format parser, for the /metrics tests
#   chromium                          the browser the dashboard tests drive (Playwright, no browser download)
#   postgresql                        the server the PostgreSQL job store tests start (initdb + pg_ctl in a temporary
#                                     folder, as the postgres user when run as root; the package's own cluster stays down)
#   redis-server                      Orleans membership across hosts (Microsoft.Orleans.Clustering.Redis): the multi-host
#                                     cluster tests start their own server on a free port (cluster/redis.sh)
set -euo pipefail
packages=(python3-grpcio python3-protobuf python3-onnx python3-sentencepiece python3-prometheus-client chromium postgresql redis-server)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[[ ${#missing[@]} -eq 0 ]] && exit 0
sudo=; [[ $(id -u) -eq 0 ]] || sudo=sudo
echo "Installing Debian packages for the tests: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
