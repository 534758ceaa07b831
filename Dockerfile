# syntax=docker/dockerfile:1.7
# tinyserve, CPU image. The last stage (runtime) is the default target.
#   docker build -t tinyserve:cpu .                        # serving image
#   docker build --target training -t tinyserve:train .    # adds the train extra and training/
# Needs BuildKit (the default builder of current Docker) for the pip cache mounts.

# PyTorch's CPU wheel index; override to use a mirror.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# More indexes for the torch steps only, space-separated; empty for users. Where equal
# versions tie, pip takes the last index's file, so a local mirror listed here is used
# instead of a download (scripts/container_check.sh, docs/docker.md).
ARG TORCH_EXTRA_INDEX_URL=""
# cpu: assert that torch is the CPU build. any: accept the build the indexes give (the
# container check, on a machine that reaches only the CUDA build of torch 2.14.1).
ARG TORCH_VARIANT=cpu

# Shared by every stage: Python, the venv on PATH, and the unprivileged user.
# uid/gid 10001 must match runAsUser/runAsGroup in deploy/k8s/deployment.yaml.
FROM python:3.11.14-slim-bookworm AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
RUN groupadd --system --gid 10001 tinyserve \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/tinyserve \
        --shell /usr/sbin/nologin tinyserve
WORKDIR /opt/tinyserve


# Builds the project's wheel and installs it, with CPU-only torch, into /opt/venv.
FROM base AS builder
ARG TORCH_INDEX_URL
ARG TORCH_EXTRA_INDEX_URL
ARG TORCH_VARIANT
RUN python -m venv /opt/venv
# torch alone from PyTorch's CPU index (and only that index unless TORCH_EXTRA_INDEX_URL
# names more, so no other index can shadow it). There it is 2.14.1+cpu; PEP 440 ignores a local label when the pin has
# none, so it satisfies the project's torch==2.14.1 and the wheel install below keeps it
# instead of pulling the ~4 GB CUDA build from PyPI. The assert proves it did.
RUN --mount=type=cache,target=/root/.cache/pip \
    PIP_EXTRA_INDEX_URL="$TORCH_EXTRA_INDEX_URL" pip install --index-url "$TORCH_INDEX_URL" torch==2.14.1
COPY pyproject.toml README.md ./
COPY service ./service
COPY nets ./nets
COPY artifacts ./artifacts
RUN --mount=type=cache,target=/root/.cache/pip \
    pip wheel --no-deps --wheel-dir /dist . \
    && pip install /dist/tinyserve-*.whl \
    && python -c "import sys, torch; assert sys.argv[1] == 'any' or torch.version.cuda is None, torch.__version__" \
        "$TORCH_VARIANT"


# The builder's venv plus the train extra (CPU torchvision from the same index).
# DL3013 cannot tell that "${wheel}[train]" is a local wheel file, not a registry name.
FROM builder AS train-builder
ARG TORCH_INDEX_URL
ARG TORCH_EXTRA_INDEX_URL
ARG TORCH_VARIANT
# hadolint ignore=DL3013
RUN --mount=type=cache,target=/root/.cache/pip \
    PIP_EXTRA_INDEX_URL="$TORCH_EXTRA_INDEX_URL" pip install --index-url "$TORCH_INDEX_URL" torchvision==0.29.1 \
    && wheel="$(echo /dist/tinyserve-*.whl)" \
    && pip install "${wheel}[train]" \
    && python -c "import sys, torch, torchvision; assert sys.argv[1] == 'any' or torch.version.cuda is None" \
        "$TORCH_VARIANT"


# One-shot training image for compose's `train` service:
#   docker compose --profile train run --rm train digits --arch resnet
# training/ is not in the wheel, so it is copied as source; the CLI's relative defaults
# (--data-dir data, --store models_store) resolve under /opt/tinyserve.
FROM base AS training
ENV TINYSERVE_MODEL_STORE=/opt/tinyserve/models_store \
    MPLBACKEND=Agg
COPY --from=train-builder /opt/venv /opt/venv
COPY training ./training
COPY --chown=10001:10001 models_store ./models_store
USER 10001:10001
ENTRYPOINT ["python", "-m", "training"]
CMD ["--help"]


# The builder's venv less what serving never loads: pip (no installs at run time), torch's
# C++ headers and CMake files (for building extensions), and the packages' own test suites.
# Compiled bytecode stays: the root is read-only at run time, so without it every start
# would recompile torch's Python modules in memory.
FROM builder AS runtime-venv
RUN site="$(python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" \
    && python -m pip uninstall --yes --quiet pip \
    && rm -rf "$site/torch/include" "$site/torch/share/cmake" \
    && find "$site" -mindepth 2 -depth -type d -name tests -exec rm -rf {} +


# Serving image (default target).
FROM base AS runtime
LABEL org.opencontainers.image.title="tinyserve" \
      org.opencontainers.image.description="Fast, safe REST serving of small PyTorch models (CPU)" \
      org.opencontainers.image.licenses="MIT"
# The baked store is owned by the service user so that a named volume mounted over it
# (docker compose) inherits that owner and the train service can add versions to it.
# TINYSERVE_MODEL_STORE stays overridable; mount a volume at this path to replace it.
ENV TINYSERVE_MODEL_STORE=/opt/tinyserve/models_store \
    TINYSERVE_DEVICE=cpu
COPY --from=runtime-venv /opt/venv /opt/venv
COPY --chown=10001:10001 models_store ./models_store
USER 10001:10001
EXPOSE 8000
# No curl in a slim image: urlopen raises (exit 1) on a refused connection or on 503.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/ready', timeout=2)"]
CMD ["tinyserve", "serve", "--host", "0.0.0.0", "--port", "8000"]
