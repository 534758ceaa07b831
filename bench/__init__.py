"""Side-by-side HTTP benchmarks of tinyserve: ``python -m bench.run`` (see bench/README.md).

Not part of the served package; benchmarks are not part of the test suite (a smoke run is).
"""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = PROJECT_ROOT / "bench"
