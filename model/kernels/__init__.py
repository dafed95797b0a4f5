"""The compiled CPU kernels of serving (numba): what one /score request runs on the host.

    cpu_tower        the user tower in one call per user (model.inttower's encode_user, unrolled)
    fused            gather + FE-Block MaxSim of N candidate rows, float32 or int8, in one pass
    id_index         raw item ids -> catalogue rows for a whole request (string_id_index,
                     integer_id_index; joined_ids is the request buffer both read)
    aligned          cache-line-aligned arrays for the catalogue and the id tables
    prefetch         the software-prefetch intrinsic the gathers use

Each is tested equal to its reference (model.interaction, model.inttower, a dict); service.backends
is their one caller in the service, bench.speed.kernel times them.
"""
