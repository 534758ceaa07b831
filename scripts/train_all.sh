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
# The course's models (seconds each; their recipes are the command defaults). COURSE_STORE picks
# another store root, e.g. one that a server without their task kinds does not read.
course() { $PY -m training "$@" --threads 1 --version 1 --store "${COURSE_STORE:-models_store}"; }

case "${1:-all}" in
  names) names --epochs 30 --dropout 0.3 --embedding-dropout 0.2 --weight-decay 0.01 --batch-size 32 --lr 2e-3 ;;
  cnn) digits --arch cnn --epochs 20 --label-smoothing 0.05 ;;
  resnet) digits --arch resnet --epochs 30 --dropout 0.1 --label-smoothing 0.1 ;;
  mlp) digits --arch mlp --epochs 20 --dropout 0.1 --label-smoothing 0.05 ;;
  inception) digits --arch inception --epochs 20 --label-smoothing 0.05 ;;
  regression) course regression ;;
  logistic) course logistic ;;
  diabetes) course diabetes --data-dir "$DATA" ;;
  hello-rnncell | hello-rnn | hello-embedding) course hello --arch "${1#hello-}" ;;
  course) for model in regression logistic diabetes hello-rnncell hello-rnn hello-embedding; do "$0" "$model"; done ;;
  all) for model in names cnn resnet mlp inception course; do "$0" "$model"; done ;;
  *)
    echo "usage: $0 [names|cnn|resnet|mlp|inception|all|course|COURSE_MODEL]" >&2
    echo "  COURSE_MODEL: regression logistic diabetes hello-rnncell hello-rnn hello-embedding" >&2
    exit 2
    ;;
esac
