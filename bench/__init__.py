"""Benchmarks behind `inttower bench`: model quality (bench/quality: IntTower against the
baselines, ablations, serving cost) and speed (bench/speed: kernel, HTTP service, training).
The only package that imports both the trainer and the service."""
