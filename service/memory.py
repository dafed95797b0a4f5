"""The bytes one bundle holds in memory for serving (GET /model's `memory_bytes`), summed from the
sizes of its arrays, so it costs microseconds:
- the item vectors as stored: the (N, Hi, d) float32 or int8 values, and int8's (N, Hi) scales;
- the users' and items' EncodedTables, every array (the ids as their (N,) arrays of pointers: the
  id strings themselves are not counted);
- the model's parameters and buffers, on its device (host or accelerator);
- the faiss index: its stored rows (ntotal x code_size bytes: d float32 each, flat or IVF-flat),
  plus an IVF index's row ids (8 bytes a row) and cell centroids;
- the precomputed user heads, where there are any (service.user_heads; the Scorer adds them).
Not counted: the id lookups (the item id index, the user-row dict), what the backends derive at
load (the per-item score term; the torch backend's float32 copy of int8 item vectors, or its copy
on an accelerator) and the interpreter's and libraries' own memory. A close estimate, then, of
the parts that grow with the catalogue, the users and the model.
"""

from __future__ import annotations

from itertools import chain

from model.bundle import Bundle
from model.features import EncodedTable
from model.item_index import ItemIndex

_FAISS_ID_BYTES = 8  # an IVF index stores each row's id as an int64 beside its code
_FLOAT32_BYTES = 4


def bundle_bytes(bundle: Bundle) -> int:
    """Bytes of `bundle`'s item vectors, tables, model and item index (see the module docstring)."""
    vectors = bundle.item_vectors
    scales = 0 if vectors.scales is None else vectors.scales.nbytes
    model = sum(t.nbytes for t in chain(bundle.model.parameters(), bundle.model.buffers()))
    return (vectors.values.nbytes + scales + _table_bytes(bundle.users)
            + _table_bytes(bundle.items) + model + _index_bytes(bundle.item_index))


def _table_bytes(table: EncodedTable) -> int:
    score = 0 if table.score is None else table.score.nbytes
    return (table.ids.nbytes + table.cat.nbytes + sum(s.nbytes for s in table.seq)
            + table.num.nbytes + score)


def _index_bytes(item_index: ItemIndex) -> int:
    """The faiss index's size from its row count: the flat and IVF-flat kinds that
    model.item_index builds (this belongs in ItemIndex, beside describe())."""
    index = item_index.index
    rows = index.ntotal * index.code_size
    quantizer = getattr(index, "quantizer", None)  # an IVF index's cells; a flat one has none
    if quantizer is None:
        return rows
    return rows + index.ntotal * _FAISS_ID_BYTES + quantizer.ntotal * quantizer.d * _FLOAT32_BYTES
