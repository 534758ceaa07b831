#!/usr/bin/env bash
# Every CUDA check in one run, for a machine with an NVIDIA GPU (the lent device machine):
# 1. train digits-resnet and names-gru on CUDA (bf16 autocast) and evaluate them,
# 2. the service test suite with TINYSERVE_TEST_DEVICE=cuda (golden checks on CUDA, CPU == CUDA answers),
# 3. a short benchmark of tinyserve serving on CUDA (python load generator; no wrk there).
# Inputs: .gpu/data (MNIST *.gz and the names CSVs) and, where packages are missing, .whl/*.whl.
set -uo pipefail
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" > /dev/null; then  # into the interpreter itself: bench's servers get a clean PYTHONPATH
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir .whl/*.whl
fi
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1
DATA=/tmp/data
mkdir -p "$DATA/MNIST/raw" "$DATA/names"
for f in .gpu/data/*.gz; do gunzip -c "$f" > "$DATA/MNIST/raw/$(basename "$f" .gz)"; done
cp .gpu/data/*.csv "$DATA/names/"

{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))"
} 2>&1 | tee "$OUT/device.txt"

echo "== 1. training on CUDA"
time python3 -m training digits --arch resnet --data-dir "$DATA" --device cuda --epochs 30 --dropout 0.1 \
  --label-smoothing 0.1 --store /tmp/gpu_store 2>&1 | grep -a -v "it/s" | tee "$OUT/train_resnet.txt" | tail -3
time python3 -m training names --train-csv "$DATA/names/names_train.csv" --test-csv "$DATA/names/names_test.csv" \
  --device cuda --epochs 30 --dropout 0.3 --embedding-dropout 0.2 --weight-decay 0.01 --batch-size 32 --lr 2e-3 \
  --store /tmp/gpu_store 2>&1 | grep -a -v "it/s" | tee "$OUT/train_names.txt" | tail -3
python3 -m training.evaluate /tmp/gpu_store/*/1 --data-dir "$DATA" 2>&1 | tee "$OUT/evaluate.txt"

echo "== 2. service tests on CUDA"
TINYSERVE_TEST_DEVICE=cuda timeout 240 python3 -m pytest -q -p no:cacheprovider -x tests/service/test_cuda.py \
  tests/service/test_digits.py tests/service/test_names.py tests/service/test_batching.py tests/service/test_models.py \
  2>&1 | tail -15 | tee "$OUT/pytest_cuda.txt"

echo "== 3. benchmark on CUDA"
BENCH_TOLERANCE=2e-3 timeout 300 python3 -m bench.run --targets tinyserve --kinds json,bulk --loadgen python --rounds 1 --duration 5 \
  --warmup 2 --out "$OUT/bench" 2>&1 | tail -60
ls -la "$OUT"
