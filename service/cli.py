"""``tinyserve serve``: start uvicorn on the app factory. Flags override TINYSERVE_* variables."""

import argparse
import os
import signal
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from types import FrameType

from service.affinity import SLOTS_FOLDER_ENV


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tinyserve", description="Fast, safe REST serving for small PyTorch models.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the models in the model store over HTTP")
    serve.add_argument("--host", help="bind address (TINYSERVE_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="TCP port (TINYSERVE_PORT, default 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (TINYSERVE_WORKERS, default 1)")
    serve.add_argument("--model-store", help="model store folder (TINYSERVE_MODEL_STORE)")
    serve.add_argument("--device", help="auto | cpu | cuda | cuda:N (TINYSERVE_DEVICE)")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    # Workers are separate processes that build their own Settings: pass overrides through the environment.
    for flag in ("host", "port", "workers", "model_store", "device"):
        value = getattr(args, flag)
        if value is not None:
            os.environ[f"TINYSERVE_{flag.upper()}"] = str(value)

    from service.settings import Settings  # after the environment is final

    settings = Settings()
    import uvicorn

    from service import connections, server

    # On SIGTERM uvicorn stops accepting, finishes the requests it has, runs the lifespan shutdown and then
    # re-raises the signal under the handler it found: with this one the process exits 0, not 143.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    with ExitStack() as folders:
        if settings.workers > 1:
            # prometheus-client's multiprocess mode: each worker writes its metrics there, /metrics sums them
            folders.enter_context(_folder_for_workers("PROMETHEUS_MULTIPROC_DIR", "tinyserve-metrics-"))
            folders.enter_context(_folder_for_workers(SLOTS_FOLDER_ENV, "tinyserve-cpus-"))  # service/affinity.py
        config = uvicorn.Config(
            "service.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            http=connections.PROTOCOL,  # counts open connections: one means no batching (service/connections.py)
            log_level=settings.log_level,
            access_log=False,  # our middleware writes one structured line per request
            timeout_keep_alive=settings.keep_alive_s,
            timeout_graceful_shutdown=30,
        )
        # uvicorn.run, with a shutdown that also serves the connections still in the accept queue
        server.run(config)


@contextmanager
def _folder_for_workers(variable: str, prefix: str) -> Iterator[None]:
    """A folder the workers share, named to them in ``variable`` and removed when the server exits;
    one already named there is left as it is."""
    if variable in os.environ:
        yield
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as folder:
        os.environ[variable] = folder
        yield


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)
