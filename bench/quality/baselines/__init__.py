"""Baselines of the quality benchmark, built from the same pieces as IntTower."""

from bench.quality.baselines.cold import COLD
from bench.quality.baselines.config import BaselineConfig
from bench.quality.baselines.dat import DAT
from bench.quality.baselines.deepfm import DeepFM
from bench.quality.baselines.lr import LR
from bench.quality.baselines.two_tower import TwoTower

__all__ = ["COLD", "DAT", "LR", "BaselineConfig", "DeepFM", "TwoTower"]
