"""Model quality: IntTower against the pre-ranking baselines and its own ablations."""
