"""`python -m inttower ...`, the form torchrun launches: `torchrun --nproc_per_node=2 -m inttower
train ...`."""

from inttower.cli import app

app()
