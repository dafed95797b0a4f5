"""IntTower model: modules, the FE-Block score, losses, the versioned bundle format and the
compiled serving kernels (model.kernels).

Nothing here reads raw data or training code: the service imports this package alone.
"""
