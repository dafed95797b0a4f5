"""The FE-Block score of one user against N candidates, fused with the candidate gather (CPU).

    s(u, i) = Σ_r max_k <U*_r, V_i[k]>          (model.interaction.score_one_vs_n)

`score_one_vs_n` after `index_select` makes four passes over memory: copy the N candidates' item
heads out of the catalogue, write the (N, Hi, R) similarities, reduce them twice. This kernel makes
one: it reads each candidate's heads in place and keeps its similarities in registers. Random
catalogue rows are cold in cache, so it prefetches the rows of the candidate PREFETCH_AHEAD places
further on while it computes the current one; the memory wait then overlaps the arithmetic.

The catalogue is float32 heads or int8 codes with a scale per head (model.item_vectors): one
kernel serves both, numba compiling it once per dtype. It first writes the candidate's heads as
float32 into a small buffer that stays in L1, s_k·q_k for int8 codes: exactly the dequantised heads.

The arithmetic is vectorised across user rows, not along d. A dot product along d ends in a
horizontal sum of a SIMD register, and one per (user row, item head) pair - 48 a candidate by
default - cost more than the multiply-adds. Instead the user stack is transposed to (d, LANES)
blocks, user rows padded with zeros to a multiple of LANES (16 float32: one AVX-512 register), and
each item head value is broadcast against a row of that block: LANES dot products grow side by side
in one register, and the only horizontal sum left is the final one over user rows, once a
candidate per block. A zero user row scores 0 against every head, so the padding adds nothing.

numba keeps LLVM's SLP vectoriser off (NUMBA_SLP_VECTORIZE=0), and only SLP turns the fixed-size
lane loops below into vector instructions: the loop vectoriser sees loops of constant trip count
already fully unrolled. So the kernel is compiled before its first call with SLP on for that
compilation alone, and its accumulators live on the stack (`_stack_array`), which LLVM promotes to
registers; a numba `np.empty` is heap memory it cannot promote. Without SLP the same code runs
about 3x slower, with equal results.

It is the same sum as `score_one_vs_n`, in another order: tests/test_fused.py holds them equal.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager

import numba
import numpy as np
from numba import carray, njit, types
from numba.core import cgutils
from numba.core.compiler_lock import global_compiler_lock
from numba.extending import intrinsic

from model.item_vectors import ItemVectors
from model.kernels.aligned import CACHE_LINE
from model.kernels.prefetch import prefetch

PREFETCH_AHEAD = 8  # candidates: enough to cover a DRAM round trip with the candidates' maths
LANES = 16  # user rows scored side by side: 16 float32 fill one 512-bit register
HEAD_BLOCK = 4  # item heads per pass: four independent multiply-add chains hide FMA latency
_UNSCALED = np.ones((0, 0), np.float32)  # the scales argument of a float32 catalogue
_NO_OFFSETS = np.zeros(0, np.float32)  # the offsets argument of a model without item terms
# Where a max over heads starts. Not -inf: the kernel's fastmath flags include `ninf` (no
# infinities), under which LLVM may treat an infinite operand as undefined.
_LOWEST = np.finfo(np.float32).min


@intrinsic
def _stack_array(typingctx, size):  # type: ignore[no-untyped-def]
    """A pointer to `size` (a compile-time constant) float32 on the stack, for `carray`."""
    if not isinstance(size, types.IntegerLiteral):
        return None
    count = size.literal_value

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return cgutils.alloca_once(builder, context.get_value_type(types.float32), size=count)

    return types.CPointer(types.float32)(size), codegen


_ACCUMULATORS = HEAD_BLOCK * LANES  # a literal for _stack_array


@njit(fastmath={"contract", "nnan", "ninf", "nsz", "arcp"}, nogil=True, boundscheck=False,
      cache=True)
def _maxsim_rows(items: np.ndarray, scales: np.ndarray, rows: np.ndarray, user_stack: np.ndarray,
                 line: int, offsets: np.ndarray, bias: float, out: np.ndarray) -> None:
    """(Nc, Hi, d) catalogue (float32, or int8 codes with (Nc, Hi) `scales`; an empty `scales`
    means unscaled), (N,) rows, (R, d) user stack -> out (N,): Σ_r max_k <user_r, v_k> + bias +
    offsets[row] ((Nc,) float32 per-item terms; empty: none). `line`: catalogue elements per
    cache line.

    fastmath without `reassoc`: the loop vectoriser then leaves the d loop scalar in order, for
    the SLP vectoriser to turn its LANES-wide body into vector multiply-adds."""
    n, heads, dim, rows_u = rows.shape[0], items.shape[1], items.shape[2], user_stack.shape[0]
    width, scaled, shifted = heads * dim, scales.shape[0] > 0, offsets.shape[0] > 0
    flat, flat_scales = items.reshape(-1), scales.reshape(-1)
    one = np.ones(heads, np.float32)
    # (B, d, LANES): user row b*LANES + r in lane r of block b, zero rows after the last
    user = np.zeros((-(-rows_u // LANES), dim, LANES), np.float32)
    for r in range(rows_u):
        for j in range(dim):
            user[r // LANES, j, r % LANES] = user_stack[r, j]
    heads_f32 = np.empty((heads, dim), np.float32)  # the current candidate's heads
    acc = carray(_stack_array(_ACCUMULATORS), (HEAD_BLOCK, LANES))  # dot products of this pass
    best = carray(_stack_array(LANES), LANES)  # (LANES,) max over heads so far, in a register
    for i in range(n):
        if i + PREFETCH_AHEAD < n:
            ahead = rows[i + PREFETCH_AHEAD]
            for offset in range(0, width, line):
                prefetch(flat, ahead * width + offset)
            if scaled:
                prefetch(flat_scales, ahead * heads)
            if shifted:
                prefetch(offsets, ahead)
        v = items[rows[i]]  # (Hi, d), read in place
        s = scales[rows[i]] if scaled else one  # (Hi,)
        for k in range(heads):
            for j in range(dim):
                heads_f32[k, j] = np.float32(v[k, j]) * s[k]
        total = np.float32(0.0)
        for u in user:  # (d, LANES)
            for r in range(LANES):
                best[r] = _LOWEST
            # HEAD_BLOCK heads a pass: each load of u[j] feeds HEAD_BLOCK multiply-adds. Indices
            # past the last head repeat it: a head counted twice does not change a max.
            for k in range(0, heads, HEAD_BLOCK):
                for g in range(HEAD_BLOCK):
                    for r in range(LANES):
                        acc[g, r] = 0
                for j in range(dim):
                    for g in range(HEAD_BLOCK):
                        x = heads_f32[min(k + g, heads - 1), j]
                        for r in range(LANES):
                            acc[g, r] += x * u[j, r]
                for g in range(HEAD_BLOCK):
                    for r in range(LANES):
                        best[r] = max(best[r], acc[g, r])
            for r in range(LANES):
                total += best[r]
        if shifted:
            total += offsets[rows[i]]
        out[i] = total + bias


@contextmanager
def _slp_vectoriser() -> Iterator[None]:
    """LLVM's SLP vectoriser on for the numba compilations inside; the compiler lock keeps any
    other thread's compilation from seeing it."""
    with global_compiler_lock:
        saved = numba.config.SLP_VECTORIZE
        numba.config.SLP_VECTORIZE = 1
        try:
            yield
        finally:
            numba.config.SLP_VECTORIZE = saved


@functools.cache
def _compile() -> None:
    """The kernel for C-contiguous float32 and int8 catalogues, with SLP (or from numba's cache),
    once per process, on the first call rather than at import. maxsim_rows passes exactly these
    types; other catalogue layouts (read-only, strided) would compile lazily without SLP: the
    same scores, several times slower."""
    float_arrays = [types.Array(types.float32, ndim, "C") for ndim in (1, 2, 3)]
    rest = (float_arrays[1], types.Array(types.int64, 1, "C"), float_arrays[1], types.int64,
            float_arrays[0], types.float32, float_arrays[0])
    with _slp_vectoriser():
        for values in (float_arrays[2], types.Array(types.int8, 3, "C")):
            _maxsim_rows.compile((values, *rest))


def maxsim_rows(items: ItemVectors, rows: np.ndarray, user_stack: np.ndarray,
                offsets: np.ndarray | None = None, bias: float = 0.0) -> np.ndarray:
    """FE-Block MaxSim of the catalogue rows `rows` against one user: (N,) float32; plus `bias`
    and each row's `offsets` entry when given (the logit's other terms, added in the same pass:
    a separate gather and two array additions cost ~5 % of a request under load, py-spy).

    items: the catalogue, C-contiguous (rows on 64-byte boundaries are fastest:
    ItemVectors.aligned); rows: (N,) integers, each in [0, N_items) - unchecked; user_stack:
    (L*Hu, d); offsets: (N_items,) float32.
    """
    _compile()
    out = np.empty(len(rows), np.float32)
    scales = _UNSCALED if items.scales is None else items.scales
    _maxsim_rows(items.values, scales, np.ascontiguousarray(rows, np.int64),
                 np.ascontiguousarray(user_stack, np.float32), CACHE_LINE // items.values.itemsize,
                 _NO_OFFSETS if offsets is None else offsets, np.float32(bias), out)
    return out
