"""tinyserve as a peerbench target, without editing peerbench:

    PB_EXTRA_TARGETS=bench/peerbench_targets.py bash ../shared/peerbench/run.sh \
        --targets ceiling,naive-async,torchserve-b32,tinyserve --out /tmp/pb-results

peerbench imports this file with its own (stdlib-only) python: keep it stdlib-only and free of
side effects. The server is bench/pb_serve.py under the project's venv: it serves peerbench's
own model and weights as a tinyserve artifact, takes peerbench's ``tinyserve_v1`` body
(make_assets.py: one 28x28 image, top_k 1, model digits-cnn) on /v1/digits/predict, and opens
the health URL only after every sample's answer matched peerbench's expected.json.
"""

import os
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
_PYTHON = os.environ.get("TINYSERVE_BENCH_PYTHON", str(_ROOT / ".venv" / "bin" / "python"))
PORT, GATE_PORT = 18100, 18150

TARGETS = [
    {
        "name": "tinyserve",
        "venv": "main",
        "port": PORT,
        "cmd": [_PYTHON, str(_ROOT / "bench" / "pb_serve.py"), "--port", "{port}", "--gate-port", str(GATE_PORT)],
        "url": "http://127.0.0.1:{port}/v1/digits/predict",
        "body": "tinyserve_v1",
        "reply": "none",  # peerbench cannot read tinyserve's reply; pb_serve.py checks it before the gate opens
        "health": f"http://127.0.0.1:{GATE_PORT}/ready",
        "ready_s": 120,
        "note": "tinyserve (this repo), 1 worker, access log off, peerbench's model as an artifact; answers checked "
        "against expected.json by bench/pb_serve.py before the health URL opens",
    },
]
