"""IntTower model: modules, the FE-Block score, losses and the versioned bundle format.

Nothing here reads raw data or training code: the service imports this package alone.
"""
