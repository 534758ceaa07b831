#!/usr/bin/env bash
# Reproduces every committed artifact in models_store/ (about an hour on 2 CPU cores).
# One torch thread per run: the committed numbers (including training time) came from these exact commands.
set -euo pipefail
DATA=${TINYSERVE_DATA_DIR:-../shared/data}
PY=${PYTHON:-.venv/bin/python}
names() {
  $PY -m training names --train-csv "$DATA/names/names_train.csv" --test-csv "$DATA/names/names_test.csv" \
    --threads 1 --version 1 "$@"
}
digits() { $PY -m training digits --data-dir "$DATA" --threads 1 --version 1 "$@"; }

case "${1:-all}" in
  names) names --epochs 30 --dropout 0.3 --embedding-dropout 0.2 --weight-decay 0.01 --batch-size 32 --lr 2e-3 ;;
  cnn) digits --arch cnn --epochs 20 --label-smoothing 0.05 ;;
  resnet) digits --arch resnet --epochs 30 --dropout 0.1 --label-smoothing 0.1 ;;
  mlp) digits --arch mlp --epochs 20 --dropout 0.1 --label-smoothing 0.05 ;;
  inception) digits --arch inception --epochs 20 --label-smoothing 0.05 ;;
  all) for model in names cnn resnet mlp inception; do "$0" "$model"; done ;;
  *) echo "usage: $0 [names|cnn|resnet|mlp|inception|all]" >&2; exit 2 ;;
esac
