"""Baselines of the quality benchmark (SPEC §2), built from the same pieces as IntTower."""

from model.baselines.cold import COLD
from model.baselines.config import BaselineConfig
from model.baselines.dat import DAT
from model.baselines.deepfm import DeepFM
from model.baselines.lr import LR
from model.baselines.two_tower import TwoTower

__all__ = ["COLD", "DAT", "LR", "BaselineConfig", "DeepFM", "TwoTower"]
