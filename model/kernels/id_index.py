"""Raw item ids -> catalogue rows for a whole request at once, exactly.

`item_id_index(catalogue_ids)` builds one of two indexes; both answer `.rows(ids)`, an (N,) int64
array of catalogue rows (-1 for an id the catalogue lacks), for string ids, and `.rows_in(text,
starts, ends)` the same for ids given as the bounds of their UTF-8 bytes in a buffer (a request
body's own, model.kernels.json_ids).

Why not a dict: it answers one id at a time, and on a large catalogue each answer is a chain of
dependent cache misses (hash slot, entry, key object, value object): a few hundred nanoseconds per
id once the catalogue outgrows the cache, about what the FE-Block score of that candidate costs.
Both indexes instead take the request's ids as one UTF-8 buffer (the body's own bytes, or the
strings joined by two C calls, model.kernels.joined_ids) and answer them all in one compiled loop,
which prefetches a few ids ahead so that the lookups' memory round trips overlap.

- `IntegerIdIndex` (model.kernels.integer_id_index), when every catalogue id is a canonical
  decimal integer (ASCII digits, no sign, no leading zero but in "0", at most int64's maximum:
  MovieLens and most production catalogues): a dense array or an integer hash table of values.
- `IdIndex` (model.kernels.string_id_index), for any other catalogue: a hash table of UTF-8 ids.

Both hashes take a random seed per index, so nobody can pick ids that collide on purpose;
collisions cost a longer probe, never a wrong row. A duplicated catalogue id answers its first
row, in both.
"""

from __future__ import annotations

from collections.abc import Sequence

from model.kernels.integer_id_index import IntegerIdIndex, integer_ids
from model.kernels.string_id_index import IdIndex


def item_id_index(catalogue_ids: Sequence[str]) -> IdIndex | IntegerIdIndex:
    """The index for `catalogue_ids` (row order): IntegerIdIndex when every id is a canonical
    decimal integer, else IdIndex."""
    values = integer_ids(catalogue_ids)
    return IdIndex(catalogue_ids) if values is None else IntegerIdIndex(values)
