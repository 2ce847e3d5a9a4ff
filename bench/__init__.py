"""Benchmarks that write results files (`bench/results/*.json`) and `docs/benchmarks.md`.

Run them with `python -m bench [--quick] [--only NAME]` (or `make bench`). Timings are never
asserted in tests; they are measured and reported as ratios within one run.
"""

from .runner import BenchContext, BenchOptions, MeteredEmbedder
from .suite import BENCHMARKS, DEFAULT, run_benchmarks

__all__ = ["BENCHMARKS", "DEFAULT", "BenchContext", "BenchOptions", "MeteredEmbedder", "run_benchmarks"]
