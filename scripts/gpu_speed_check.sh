#!/usr/bin/env bash
# The speed benchmark's training comparison in bf16 on a lent GPU (one short prepared script; see README "Speed").
#   scripts/gpu_speed_check.sh prepare   here, once: training files, the encoder and missing wheels into .gpu/ (ignored)
#   scripts/gpu_speed_check.sh run       on the GPU machine, with .gpu carried; writes speed.json/.md under $OUT
# The encoder travels as float16 (the working tree may not exceed 64 MiB) and is widened back to float32 there, so both
# systems train the same fp32 master weights under bf16 autocast; its values do not change what is timed.
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS="datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 evaluate==0.4.6"
case "${1:-}" in
prepare)
    data=${DATA:-../shared/data}
    for f in conll2003/{train,valid}.txt semeval2010_task8/{train,dev}.txt sst2/stsa.binary.{train,dev}; do
        mkdir -p ".gpu/data/$(dirname "$f")" && cp "$data/$f" ".gpu/data/$f"
    done
    python - <<'PY'
import torch
from transformers import AutoModel, AutoTokenizer
from mtl_nlp.encoders import resolve_encoder
path = resolve_encoder("all-MiniLM-L6-v2")
AutoModel.from_pretrained(path, dtype=torch.float16).save_pretrained(".gpu/encoder")
AutoTokenizer.from_pretrained(path).save_pretrained(".gpu/encoder")
PY
    python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux2014_x86_64 --platform any -d .gpu/whl $WHEELS
    python -m pip wheel -q --no-deps -w .gpu/whl seqeval==1.2.2  # an sdist only: built here, pure Python
    du -sh .gpu ;;
run)  # NO_WHEELS=1 PRECISION=no BATCH=8 EXAMPLES=16: a dry run of the plumbing on a CPU
    [ -n "${NO_WHEELS:-}" ] || python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu/whl/*.whl
    export PYTHONPATH=/tmp/site:$PWD HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONUNBUFFERED=1
    python3 -c "import torch; from transformers import AutoModel, AutoTokenizer
AutoModel.from_pretrained('.gpu/encoder', dtype=torch.float32).save_pretrained('/tmp/encoder')
AutoTokenizer.from_pretrained('.gpu/encoder').save_pretrained('/tmp/encoder')"
    python3 scripts/benchmark_speed.py task_configs/runs/benchmark.yaml encoder=/tmp/encoder \
        "train.mixed_precision=${PRECISION:-bf16}" "train.batch_size=${BATCH:-128}" --data-dir .gpu/data \
        --examples "${EXAMPLES:-6400}" --rounds 2 --parts training --out "${OUT:-outputs/gpu-speed}" ;;
*) echo "usage: $0 prepare|run" >&2; exit 2 ;;
esac
