"""Benchmarks: each `bench/bench_*.py` has a `main()` that prints its figures, the headline last.

Run all with `python -m bench`, or some with `python -m bench app regions`.
Figures are ratios against a baseline measured in the same run, because
machines are noisy; absolute times are printed alongside for reference.
"""
