#!/usr/bin/env bash
# One-GPU figures of docs/benchmarks.md, in one device call: Sd3Mesh's whole job (SD3 Medium shapes, fp16,
# 1024x1024, 28 steps, CFG 7) against diffusers + PyTorch on the same card, with each side's peak GPU memory.
# Run on a GPU host after `. .device/app/prelude.sh` (see ../shared/device/README.md):
#   bash bench/gpu-one.sh            # results under $OUT (default /tmp/gpu-one)
# SECTIONS=doctor,create,ours,cluster,anchor picks parts (default: those; cluster: one silo's grains vs one process), and
# dashboard (not in the default: about 2-3 more minutes) what 10 connected dashboard pages cost an SD3 Medium job;
# silos2 (not in the default) cluster/local-2gpu.json's two silo processes on this one GPU (gpu1's cuda:1 mapped to
# the host's cuda:0 by local_devices): jobs through `cluster up` vs `generate` in one process, PNGs compared; VARIANTS="--cuda-graph;" lists `bench pipeline`
# option sets for ours, separated by ';' (default: with and without CUDA graphs).
set -uo pipefail
OUT=${OUT:-/tmp/gpu-one}; mkdir -p "$OUT"
SECTIONS=${SECTIONS:-doctor,create,ours,cluster,anchor}
MODELS=${MODELS:-/tmp/m16}
has() { [[ ",$SECTIONS," == *",$1,"* ]]; }
log() { echo "[$(date +%T)] $*"; }

# Samples the GPU's used memory every 100 ms into $OUT/mem-NAME.csv while a command runs; prints the peak (MiB).
with_memory() {
  local name=$1; shift
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "$OUT/mem-$name.csv" &
  local sampler=$!
  "$@"; local rc=$?
  kill $sampler 2>/dev/null; wait $sampler 2>/dev/null
  local idle; idle=$(head -1 "$OUT/mem-$name.csv")
  log "$name: peak GPU memory $(sort -n "$OUT/mem-$name.csv" | tail -1) MiB (at start $idle MiB), exit $rc"
  return $rc
}

if has doctor; then log doctor; sd3mesh doctor 2>&1 | tail -25; fi
if has create && [[ ! -f $MODELS/sd3mesh.json ]]; then
  log "create medium fp16"; /usr/bin/time -f "create: %e s, %M KiB" sd3mesh models create --preset medium --precision fp16 --out "$MODELS" | tail -3
fi
if has ours; then
  IFS=';' read -r -a variants <<< "${VARIANTS:---cuda-graph;}"
  [[ ${VARIANTS:---cuda-graph;} == *';' ]] && variants+=("")
  for variant in "${variants[@]}"; do
    log "ours ${variant:-(no cuda graph)}"
    with_memory "ours${variant//[- ]/_}" sd3mesh bench pipeline --models "$MODELS" --device cuda:0 --width 1024 --height 1024 --steps 28 \
      --guidance 7 --runs 3 --warmup 1 $variant
  done
fi
if has cluster; then
  log "cluster: one silo's coordinator and transformer grains vs the one-process pipeline"
  sd3mesh bench cluster --models "$MODELS" --device cuda:0 --width 1024 --height 1024 --steps 28 --guidance 7 --runs 6 --warmup 1 \
    --part overhead --json "$OUT/bench-cluster.json" 2>&1 | tail -30
fi
if has dashboard; then
  log "dashboard: a job with no page and with 10 dashboard pages connected, interleaved rounds"
  sd3mesh bench dashboard --models "$MODELS" --device cuda:0 --size 1024 --steps 28 --preview 4 --rounds 6 \
    --json "$OUT/bench-dashboard.json" 2>&1 | tail -25
fi
if has silos2; then
  log "silos2: local-2gpu.json's two silo processes on this one GPU (T5 in the second, over gRPC)"
  cfg=/tmp/silos2.json
  sed -e "s|\"preset\": \"medium\", \"precision\": \"fp16\"|\"path\": \"$MODELS\"|" \
      -e 's|"devices": \["cuda:1"\],|"devices": ["cuda:1"], "local_devices": { "cuda:1": "cuda:0" },|' cluster/local-2gpu.json > $cfg
  grep -n "path\|local_devices" $cfg
  sd3mesh cluster up --config $cfg --logs "$OUT/silos2-logs" > "$OUT/silos2-up.log" 2>&1 &
  up=$!
  for i in $(seq 1 240); do grep -q " is up in " "$OUT/silos2-up.log" && break; sleep 0.5; done
  tail -8 "$OUT/silos2-up.log"
  args=(--steps 28 --width 1024 --height 1024 --guidance 7 --seed 11)
  for run in 1 2 3; do
    /usr/bin/time -f "cluster job $run: %e s wall" sd3mesh generate "a lighthouse at dusk" "${args[@]}" --server http://127.0.0.1:50051 \
      --out "$OUT/silos2-cluster" 2>&1 | tail -2
  done
  sd3mesh placement --server http://127.0.0.1:50051 2>&1 | tail -16
  with_memory silos2 sleep 1
  kill -TERM $up; wait $up
  for run in 1 2; do
    /usr/bin/time -f "one-process job $run (sessions created each run): %e s wall" sd3mesh generate "a lighthouse at dusk" "${args[@]}" \
      --models "$MODELS" --device cuda:0 --out "$OUT/silos2-local" 2>&1 | tail -2
  done
  ls -la "$OUT/silos2-cluster" "$OUT/silos2-local"
  for f in "$OUT"/silos2-cluster/*.png; do cmp "$f" "$OUT/silos2-local/sd3_generated_000.png" && echo "$(basename $f): same bytes as the one-process PNG"; done
fi
if has anchor; then
  log anchor
  mkdir -p /tmp/d && tar xJf "$SD3MESH_ANCHOR/diffusers-58eb52c-src.tar.xz" -C /tmp/d
  export ANCHOR_SKIP=${ANCHOR_SKIP:-offload,profile} PYTHONPATH=/tmp/d/src PYTHONUNBUFFERED=1 OUT
  py=python3; [[ -x /opt/torch/.venv/bin/python3 ]] && py=/opt/torch/.venv/bin/python3
  with_memory anchor "$py" "$SD3MESH_ANCHOR/sd3_anchor.py" 2>&1 | tail -45
fi
log done
