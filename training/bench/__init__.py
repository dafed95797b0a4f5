"""Benchmarks behind `inttower bench`: model quality (baselines, ablations, serving cost)."""
