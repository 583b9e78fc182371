#!/usr/bin/env bash
# Fetches the ONNX Runtime 1.30.0 native library for linux-x64 from the npm package onnxruntime-node
# (the official managed package is not obtainable here), verifies its SHA-256 and caches it.
# Usage: fetch-onnxruntime.sh DEST_FILE     (no-op when DEST_FILE exists with the right hash)
set -euo pipefail
dest=${1:?usage: fetch-onnxruntime.sh DEST_FILE}
version=1.30.0
member=package/bin/napi-v6/linux/x64/libonnxruntime.so.1
sha256=ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23

have() { [[ -f $1 ]] && [[ $(sha256sum "$1" | cut -d' ' -f1) == "$sha256" ]]; }
have "$dest" && exit 0

if ! command -v npm >/dev/null; then
  echo "error SD3MESH001: npm is needed to fetch ONNX Runtime $version (onnxruntime-node). Install Node.js/npm," \
       "or set SD3MESH_ORT_LIBRARY to an existing libonnxruntime.so.1 ($version, linux-x64)." >&2
  exit 1
fi

mkdir -p "$(dirname "$dest")"
tmp=$(mktemp -d "$(dirname "$dest")/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "Fetching ONNX Runtime $version (npm onnxruntime-node@$version, ~110 MB) into $(dirname "$dest") ..." >&2
(cd "$tmp" && npm pack "onnxruntime-node@$version" --silent >/dev/null && tar -xzf "onnxruntime-node-$version.tgz" "$member")
if ! have "$tmp/$member"; then
  echo "error SD3MESH002: the downloaded libonnxruntime.so.1 does not have SHA-256 $sha256; refusing to use it." >&2
  exit 1
fi
mv -f "$tmp/$member" "$dest"   # atomic within one file system: concurrent builds never see half a file
echo "ONNX Runtime $version verified (sha256 $sha256)." >&2
