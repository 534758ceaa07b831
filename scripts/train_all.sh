#!/usr/bin/env bash
# Reproduces every committed artifact in models_store/ (about 40 minutes on 2 CPU cores).
set -euo pipefail
DATA=${TINYSERVE_DATA_DIR:-../shared/data}
PY=${PYTHON:-.venv/bin/python}
$PY -m training names --train-csv "$DATA/names/names_train.csv" --test-csv "$DATA/names/names_test.csv" \
  --epochs 25 --dropout 0.3 --label-smoothing 0.05 --version 1
$PY -m training digits --arch cnn --data-dir "$DATA" --epochs 20 --label-smoothing 0.05 --version 1
$PY -m training digits --arch resnet --data-dir "$DATA" --epochs 30 --dropout 0.1 --label-smoothing 0.1 --version 1
$PY -m training digits --arch mlp --data-dir "$DATA" --epochs 20 --dropout 0.1 --label-smoothing 0.05 --version 1
$PY -m training digits --arch inception --data-dir "$DATA" --epochs 20 --label-smoothing 0.05 --version 1
