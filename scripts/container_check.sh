#!/usr/bin/env bash
# Builds the Dockerfile's images with podman and runs them for real (docs/docker.md):
#   1. a base image under the Dockerfile's FROM name, made with mmdebstrap when it is missing
#      (no registry is needed), then the `runtime` target;
#   2. the API container hardened as docker-compose.yml runs it, checked from the host by
#      scripts/container_probe.py: every model ready and accurate, an upload, the playground
#      page, uid 10001 on a read-only root, `podman healthcheck run`, and `podman stop`
#      during a burst of requests with no request lost;
#   3. the `training` target: a short training into the models volume, the API restarted on
#      that volume with API keys set (401 without one) serving the new version;
#   4. docker-compose.yml itself, up and down with podman-compose, with the core checks.
# Everything runs in a storage of its own (images, containers, volumes, build cache), removed
# on exit, so nothing of the user's podman is touched. Needs root and podman; it fails,
# never skips, when podman cannot run. CONTAINER_CHECK_INSTALL=1 installs the Debian
# packages it needs first (CI does). Figures are printed as "FIGURE name: value" lines.
#
# Environment (all optional):
#   CONTAINER_CHECK_DIR      work folder (default /var/tmp/tinyserve-container-check); removed on exit
#   CONTAINER_CHECK_KEEP=1   keep the images and the folder (to inspect a failure)
#   CONTAINER_CHECK_PORT     first host port to publish on (default 18500; three are used)
#   CONTAINER_CHECK_COMPOSE=0  skip step 4
#   TORCH_INDEX_URL, TORCH_EXTRA_INDEX_URL, TORCH_VARIANT   build arguments (see the Dockerfile);
#                            by default the local indexes of the host's pip are used when they hold torch
#   TINYSERVE_DATA_DIR       the data sets (default ../shared/data): MNIST/raw and names/
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

WORK=${CONTAINER_CHECK_DIR:-/var/tmp/tinyserve-container-check}
PORT=${CONTAINER_CHECK_PORT:-18500}
DATA_DIR=$(realpath "${TINYSERVE_DATA_DIR:-../shared/data}")
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
[[ -x $PYTHON ]] || PYTHON=python3
PROBE=("$PYTHON" "$ROOT/scripts/container_probe.py")
MEMORY=2g
API=tinyserve-check-api
VOLUME=tinyserve-check-models
RUNTIME_IMAGE=localhost/tinyserve:cpu
TRAIN_IMAGE=localhost/tinyserve:train
API_KEY=container-check-key
HARDENING=(--read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges --memory "$MEMORY")

log() { printf '\n== %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }
figure() { printf 'FIGURE %s: %s\n' "$1" "$2"; }
die() { echo "container_check: FAIL: $*" >&2; exit 1; }

# --- tools and a podman of our own ------------------------------------------------------

PACKAGES=(buildah podman mmdebstrap runc uidmap containernetworking-plugins iptables conmon)
if [[ ${CONTAINER_CHECK_INSTALL:-0} == 1 ]]; then
  missing=()
  for package in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
  done
  if ((${#missing[@]})); then
    log "apt-get install ${missing[*]}"
    apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null \
      || { apt-get update >/dev/null && apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; }
  fi
fi
((EUID == 0)) || die "run as root: rootless podman needs subuid ranges this check does not set up"
for tool in podman mmdebstrap runc; do
  command -v "$tool" >/dev/null || die "$tool is missing: apt-get install ${PACKAGES[*]} (or CONTAINER_CHECK_INSTALL=1)"
done
"$PYTHON" -c 'import httpx, numpy, PIL' 2>/dev/null || die "$PYTHON lacks httpx, numpy or Pillow: pip install -e '.[dev]'"
[[ -f $DATA_DIR/MNIST/raw/t10k-images-idx3-ubyte && -f $DATA_DIR/names/names_test.csv ]] \
  || die "no data sets in $DATA_DIR (TINYSERVE_DATA_DIR): MNIST/raw and names/ are needed"

# Without systemd, podman cannot schedule health checks and says so on every run, stop and
# rm; `podman healthcheck run` below runs them instead. The rest of stderr stays.
podman() { command podman "$@" 2> >(grep -v 'systemd connection' >&2); }

remove_storage() {
  # Not `podman system reset`: it would also remove the host's podman networks, which live
  # outside this storage.
  podman rm -af -t 0 >/dev/null 2>&1
  podman network rm -f tinyserve-check_default >/dev/null 2>&1
  command buildah rm --all >/dev/null 2>&1
  podman rmi -af >/dev/null 2>&1  # the images and the build cache (intermediate images)
  podman volume rm -af >/dev/null 2>&1
  # The overlay driver keeps its folder mounted; nothing may be removed through a mount.
  { grep -o " $WORK/[^ ]*" /proc/mounts || true; } | sort -r | while read -r mount; do umount -l "$mount"; done
  rm -rf "$WORK"
}

MARK=.tinyserve-container-check  # only a folder with this file in it is ever removed
if [[ -e $WORK ]]; then  # a kept or interrupted run: its storage conf is still there
  [[ -f $WORK/$MARK ]] || die "$WORK exists and is not this check's folder: set CONTAINER_CHECK_DIR"
  CONTAINERS_STORAGE_CONF=$WORK/storage.conf CONTAINERS_CONF=$WORK/containers.conf remove_storage
fi
mkdir -p "$WORK/storage" "$WORK/run" "$WORK/tmp"
touch "$WORK/$MARK"
# crun fails on hybrid cgroups and no systemd runs here: runc with cgroupfs. Podman's default
# ulimits are above what this host lets a process raise, hence explicit ones.
cat >"$WORK/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=16384:16384"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
cat >"$WORK/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$WORK/storage"
runroot = "$WORK/run"
EOF
export CONTAINERS_CONF=$WORK/containers.conf CONTAINERS_STORAGE_CONF=$WORK/storage.conf TMPDIR=$WORK/tmp

cleanup() {
  local status=$?
  set +e
  if [[ ${CONTAINER_CHECK_KEEP:-0} == 1 ]]; then
    echo "container_check: kept $WORK (CONTAINER_CHECK_KEEP=1); the next run removes it"
  else
    [[ -n ${COMPOSE_UP:-} ]] && compose down -v >/dev/null 2>&1
    remove_storage
    df -h "$(dirname "$WORK")" | tail -1
  fi
  if ((status == 0)); then echo "container_check: all passed"; else echo "container_check: FAILED (exit $status)" >&2; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

podman run --rm --help >/dev/null || die "podman cannot run"
log "podman $(podman version --format '{{.Client.Version}}'), storage $WORK"
df -h "$WORK" | tail -1

# --- 1. the images ----------------------------------------------------------------------

BASE_IMAGE=$(sed -n 's/^FROM \([^ ]*\) AS base.*/\1/p' Dockerfile)
[[ -n $BASE_IMAGE ]] || die "no 'FROM ... AS base' in the Dockerfile"
[[ $BASE_IMAGE == */* ]] || BASE_IMAGE=docker.io/library/$BASE_IMAGE
if ! podman image exists "$BASE_IMAGE"; then
  # A Debian rootfs with Python under the FROM name, so the Dockerfile is built as it is. pip
  # in the build reaches the index over podman's network with the host's CA bundle (a proxy's
  # CA, where one intercepts TLS, is only there).
  log "base image $BASE_IMAGE (mmdebstrap)"
  cafile=$("$PYTHON" -c 'import ssl; print(ssl.get_default_verify_paths().cafile or "")')
  [[ -f $cafile ]] || die "no CA bundle on the host"
  started=$SECONDS
  mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,python-is-python3,ca-certificates \
    --customize-hook="cp '$cafile' \"\$1/etc/ssl/certs/host-ca-bundle.crt\"" \
    --customize-hook="printf '[global]\\ncert = /etc/ssl/certs/host-ca-bundle.crt\\n' > \"\$1/etc/pip.conf\"" \
    bookworm "$WORK/base.tar"
  podman import --quiet --change 'CMD ["python3"]' "$WORK/base.tar" "$BASE_IMAGE" >/dev/null
  rm -f "$WORK/base.tar"
  figure "base image build (s)" $((SECONDS - started))
fi

# Where torch comes from. PyTorch's CPU index (the Dockerfile's default) is used unless the
# host's pip reads a local index that holds torch: then PyPI goes first and the local indexes,
# mounted read-only at the same paths, after it, so their files win the ties and only what
# they lack is downloaded. Those hold the CUDA build of torch, hence TORCH_VARIANT=any.
build_args=() mounts=()
if [[ -z ${TORCH_INDEX_URL:-} ]]; then
  mapfile -t local_indexes < <("$PYTHON" -m pip config list 2>/dev/null \
    | grep -oE "file://[^' ]+" | sort -u || true)
  extra=() has_torch=0
  for url in "${local_indexes[@]}"; do
    folder=${url#file://}
    [[ -d $folder ]] || continue
    [[ -f $folder/torch/index.html || -d $folder/torch ]] && has_torch=1
    extra+=("$url")
    mounts+=(-v "$(dirname "$folder"):$(dirname "$folder"):ro")
  done
  if ((has_torch)); then
    TORCH_INDEX_URL=https://pypi.org/simple
    TORCH_EXTRA_INDEX_URL=${TORCH_EXTRA_INDEX_URL:-${extra[*]}}
    TORCH_VARIANT=${TORCH_VARIANT:-any}
  else
    mounts=()
  fi
fi
[[ -n ${TORCH_INDEX_URL:-} ]] && build_args+=(--build-arg "TORCH_INDEX_URL=$TORCH_INDEX_URL")
[[ -n ${TORCH_EXTRA_INDEX_URL:-} ]] && build_args+=(--build-arg "TORCH_EXTRA_INDEX_URL=$TORCH_EXTRA_INDEX_URL")
[[ -n ${TORCH_VARIANT:-} ]] && build_args+=(--build-arg "TORCH_VARIANT=$TORCH_VARIANT")

build() {  # build TARGET TAG
  # --format docker: the OCI format has no HEALTHCHECK. --pull=never: the base is local.
  podman build --quiet --format docker --pull=never --layers "${build_args[@]}" "${mounts[@]}" \
    --target "$1" -t "$2" . >"$WORK/build-$1.log" 2>&1 || { tail -40 "$WORK/build-$1.log" >&2; die "build of $1"; }
}

image_mb() { podman image inspect --format '{{.Size}}' "$1" | awk '{printf "%.0f", $1 / 1e6}'; }

log "build runtime ${build_args[*]}"
started=$SECONDS
build runtime "$RUNTIME_IMAGE"
figure "runtime build (s)" $((SECONDS - started))
figure "runtime image (MB, podman image inspect .Size)" "$(image_mb "$RUNTIME_IMAGE")"
podman run --rm --entrypoint sh "$RUNTIME_IMAGE" -c \
  'du -sm /opt/venv "$(python -c "import torch, os; print(os.path.dirname(torch.__file__))")" /usr 2>/dev/null' \
  | while read -r mb path; do figure "runtime du $path (MB)" "$mb"; done

# --- 2. the API container, hardened -------------------------------------------------------

start_api() {  # start_api PORT [podman run options...]: starts $API and waits until it is ready
  local port=$1
  shift
  local started=$SECONDS
  podman run -d --name "$API" -p "127.0.0.1:$port:8000" "${HARDENING[@]}" \
    -v "$VOLUME:/opt/tinyserve/models_store" "$@" "$RUNTIME_IMAGE" >/dev/null
  "${PROBE[@]}" wait-ready "http://127.0.0.1:$port" --timeout 300 \
    || { podman logs --tail 40 "$API" >&2; die "$API never became ready"; }
  READY_S=$((SECONDS - started))
}

check_container() {  # check_container NAME: uid 10001, no capabilities, read-only root, memory limit, healthy
  local name=$1
  podman exec "$name" python -c '
import errno
status = dict(line.split(":", 1) for line in open("/proc/1/status").read().splitlines())
uid = status["Uid"].split()[0]
assert uid == "10001", f"PID 1 runs as uid {uid}"
assert int(status["CapEff"], 16) == 0 and int(status["CapBnd"], 16) == 0, status["CapBnd"]
assert status["NoNewPrivs"].strip() == "1", status["NoNewPrivs"]
try:
    open("/opt/tinyserve/written-by-check", "w")
except OSError as error:
    assert error.errno == errno.EROFS, error
else:
    raise AssertionError("the root file system is writable")
open("/tmp/ok", "w").write("tmp is writable")
print("uid 10001, no capabilities, no new privileges, read-only root, writable /tmp")'
  [[ $(podman inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$name") == true ]] || die "$name: root not read-only"
  [[ $(podman inspect --format '{{.HostConfig.Memory}}' "$name") == 2147483648 ]] || die "$name: no 2g memory limit"
  podman healthcheck run "$name" || die "$name: podman healthcheck run says unhealthy"
  echo "podman healthcheck run $name: healthy"
}

log "run $RUNTIME_IMAGE hardened (${HARDENING[*]})"
start_api "$PORT"
figure "time to ready (s)" "$READY_S"
URL=http://127.0.0.1:$PORT
"${PROBE[@]}" models "$URL" --data-dir "$DATA_DIR" --samples 200
"${PROBE[@]}" upload "$URL" --data-dir "$DATA_DIR"
"${PROBE[@]}" playground "$URL"
check_container "$API"
figure "API memory (MB, podman stats)" "$(podman stats --no-stream --format '{{.MemUsage}}' "$API" | awk '{print $1}')"
log "podman stop during a burst of requests"
# A loss fails the check at the end, after the other steps have run and reported.
burst_failed=0
"${PROBE[@]}" stop-burst "$URL" --data-dir "$DATA_DIR" --stop podman stop -t 30 "$API" || burst_failed=1
podman stop -t 30 "$API" >/dev/null  # already stopped, unless the probe failed before its stop
[[ $(podman inspect --format '{{.State.ExitCode}}' "$API") == 0 ]] || die "$API exited $(podman inspect --format '{{.State.ExitCode}}' "$API") on SIGTERM"
podman rm "$API" >/dev/null

# --- 3. training into the volume, then serving it -------------------------------------------

log "build training"
started=$SECONDS
build training "$TRAIN_IMAGE"
figure "training build (s)" $((SECONDS - started))
figure "training image (MB)" "$(image_mb "$TRAIN_IMAGE")"
log "train digits-mlp for 30 steps into $VOLUME"
before=$(podman run --rm -v "$VOLUME:/store:ro" --entrypoint sh "$TRAIN_IMAGE" -c 'ls /store/digits-mlp | sort -n | tail -1')
podman run --rm --memory "$MEMORY" -v "$VOLUME:/opt/tinyserve/models_store" -v "$DATA_DIR:/opt/tinyserve/data:ro" \
  "$TRAIN_IMAGE" digits --arch mlp --epochs 1 --max-steps 30 --limit 2000 --threads 2 2>&1 | tail -2
expected=$((before + 1))
log "restart the API on $VOLUME with TINYSERVE_API_KEYS set"
start_api "$((PORT + 1))" -e "TINYSERVE_API_KEYS=$API_KEY"
URL=http://127.0.0.1:$((PORT + 1))
"${PROBE[@]}" auth "$URL" --api-key "$API_KEY"
"${PROBE[@]}" version "$URL" --api-key "$API_KEY" --model digits-mlp --version "$expected"
podman stop -t 30 "$API" >/dev/null
podman rm "$API" >/dev/null

# --- 4. docker-compose.yml with podman-compose ----------------------------------------------

compose() {
  TINYSERVE_PUBLISH_PORT=$((PORT + 2)) TINYSERVE_MEMORY_LIMIT=$MEMORY TINYSERVE_DATA_DIR=$DATA_DIR \
    "$PYTHON" -m podman_compose -p tinyserve-check -f "$ROOT/docker-compose.yml" "$@" \
    2> >(grep -v 'systemd connection' >&2)
}
if [[ ${CONTAINER_CHECK_COMPOSE:-1} == 1 ]]; then
  "$PYTHON" -c 'import podman_compose' 2>/dev/null || die "podman-compose is missing: pip install -e '.[dev]'"
  log "podman-compose up (images built above)"
  started=$SECONDS
  COMPOSE_UP=1
  compose up -d --no-build >"$WORK/compose-up.log" 2>&1 || { cat "$WORK/compose-up.log" >&2; die "compose up"; }
  URL=http://127.0.0.1:$((PORT + 2))
  "${PROBE[@]}" wait-ready "$URL" --timeout 300 || { compose logs api | tail -40 >&2; die "compose api never ready"; }
  figure "compose time to ready (s)" $((SECONDS - started))
  "${PROBE[@]}" models "$URL" --data-dir "$DATA_DIR" --samples 50
  "${PROBE[@]}" upload "$URL" --data-dir "$DATA_DIR"
  name=$(podman ps --filter label=com.docker.compose.service=api --format '{{.Names}}' | head -1)
  [[ -n $name ]] || die "compose started no api container"
  check_container "$name"
  log "podman-compose run train, restart api"
  compose --profile train run --rm train digits --arch mlp --epochs 1 --max-steps 10 --limit 1000 --threads 2 \
    >"$WORK/compose-train.log" 2>&1 || { tail -20 "$WORK/compose-train.log" >&2; die "compose run train"; }
  compose restart api >/dev/null
  "${PROBE[@]}" wait-ready "$URL" --timeout 300 || die "compose api not ready after restart"
  "${PROBE[@]}" version "$URL" --model digits-mlp --version-above 1
  compose down -v >/dev/null 2>&1 || die "compose down"
  COMPOSE_UP=
  [[ -z $(podman ps -a --filter label=com.docker.compose.project=tinyserve-check -q) ]] || die "compose down left containers"
  echo "podman-compose down -v: no container left"
fi

((burst_failed == 0)) || die "requests were lost on podman stop (see the stop-burst step above)"
