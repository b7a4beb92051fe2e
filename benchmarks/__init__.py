"""Runnable benchmarks for tokensources (not tests).

Run one with ``python -m benchmarks NAME [options]`` (for example
``python -m benchmarks cache --quick``) or ``python -m benchmarks.bench_NAME``.
"""
