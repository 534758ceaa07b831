#!/usr/bin/env bash
# Every check that needs the lent GPU machine, in one run (one NVIDIA GPU, 16 CPU cores):
# 1. train digits-resnet and names-gru on CUDA (bf16 autocast) and evaluate them (GPU_TRAIN=0 skips this;
#    GPU_EPOCHS=2 makes it a quick check of the training code instead of the 30-epoch models),
# 2. the service test suite with TINYSERVE_TEST_DEVICE=cuda (golden checks on CUDA, CPU == CUDA answers),
# 3. tinyserve serving on CUDA: every model, JSON with 1 image or name and 64 images, PNG uploads,
# 4. --workers 2 against one worker on the CPU (CUDA hidden), where the cores are not shared with the
#    load generator as they are on the 2-core development machine, the workers free and pinned
#    (bench targets tinyserve-w2 and tinyserve-w2-pinned).
# Inputs: .gpu/data (MNIST *.gz and the names CSVs); where missing there, .whl/*.whl (packages) and
# .gpu/bin/wrk with its libraries in .gpu/lib (copied from a Debian machine: apt-get install wrk).
set -uo pipefail
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" > /dev/null; then  # into the interpreter itself: bench's servers get a clean PYTHONPATH
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir .whl/*.whl
fi
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1
if ! command -v wrk > /dev/null && [ -x .gpu/bin/wrk ]; then
  export PATH="$PWD/.gpu/bin:$PATH" LD_LIBRARY_PATH="$PWD/.gpu/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
LOADGEN=python
case "$(wrk --version 2>&1)" in wrk*) LOADGEN=wrk ;; esac  # wrk --version exits 1: no pipeline under pipefail
# At most 8 files come back from $OUT: of each bench run its results.md alone, under a flat name (logs stay behind).
keep() { cp "$1/results.md" "$OUT/$2_results.md"; }
DATA=/tmp/data
mkdir -p "$DATA/MNIST/raw" "$DATA/names"
for f in .gpu/data/*.gz; do gunzip -c "$f" > "$DATA/MNIST/raw/$(basename "$f" .gz)"; done
cp .gpu/data/*.csv "$DATA/names/"

{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))"
  lscpu | grep -E "^(Model name|Socket|Core|Thread|NUMA node[0-9])"
  echo "cpus $(nproc), load generator $LOADGEN, commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
} 2>&1 | tee "$OUT/device.txt"

if [ "${GPU_TRAIN:-1}" = 1 ]; then
  EPOCHS=${GPU_EPOCHS:-30}
  echo "== 1. training on CUDA, $EPOCHS epochs"
  {
    time python3 -m training digits --arch resnet --data-dir "$DATA" --device cuda --epochs "$EPOCHS" --dropout 0.1 \
      --label-smoothing 0.1 --store /tmp/gpu_store 2>&1 | grep -a -v "it/s"
    time python3 -m training names --train-csv "$DATA/names/names_train.csv" --test-csv "$DATA/names/names_test.csv" \
      --device cuda --epochs "$EPOCHS" --dropout 0.3 --embedding-dropout 0.2 --weight-decay 0.01 --batch-size 32 \
      --lr 2e-3 --store /tmp/gpu_store 2>&1 | grep -a -v "it/s"
    python3 -m training.evaluate /tmp/gpu_store/*/1 --data-dir "$DATA" 2>&1
  } 2>&1 | tee "$OUT/training.txt" | grep -a -E "^(wrote|real|digits|names)"
fi

echo "== 2. service tests on CUDA"
TINYSERVE_TEST_DEVICE=cuda timeout 240 python3 -m pytest -q -p no:cacheprovider -x tests/service/test_cuda.py \
  tests/service/api/test_predict_digits.py tests/service/api/test_predict_names.py tests/service/test_batching.py tests/service/api/test_models.py \
  2>&1 | tail -15 | tee "$OUT/pytest_cuda.txt"

echo "== 3. serving on CUDA"
BENCH_TOLERANCE=2e-3 timeout 260 python3 -m bench.run --targets tinyserve --loadgen "$LOADGEN" \
  --rounds 1 --duration 4 --warmup 1 --inproc-seconds 0.5 --out /tmp/bench_cuda 2>&1 | tail -15
keep /tmp/bench_cuda cuda

echo "== 4. two workers against one on the CPU, free (auto: 2 workers are not 16 CPUs) and pinned"
CUDA_VISIBLE_DEVICES= timeout 240 python3 -m bench.run --targets tinyserve,tinyserve-w2,tinyserve-w2-pinned \
  --kinds json --conc 16,64 --loadgen "$LOADGEN" --rounds 1 --duration 4 --warmup 1 --inproc-seconds 0.5 \
  --out /tmp/bench_workers 2>&1 | tail -4
keep /tmp/bench_workers workers
ls -la "$OUT"
