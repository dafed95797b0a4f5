"""`prefetch(array, index)` for numba kernels: start loading the cache line of array[index].

Random reads from a large table (catalogue rows, hash slots) each wait a DRAM round trip. A
kernel that names the address it will read a few iterations ahead lets that wait overlap its
work; a prefetch never faults and has no result. numba has no such call, so this emits LLVM's
`llvm.prefetch` intrinsic directly.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def prefetch(typingctx, array, index):  # type: ignore[no-untyped-def]
    """Ask the CPU to start loading the cache line of `array[index]` (1-D); no result, no fault."""

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        array_type = signature.args[0]
        array_struct = context.make_array(array_type)(context, builder, args[0])
        pointer = cgutils.get_item_pointer(context, builder, array_type, array_struct, [args[1]],
                                           wraparound=False)
        byte_pointer, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        llvm_prefetch = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32]),
            "llvm.prefetch.p0i8")
        address = builder.bitcast(pointer, byte_pointer)
        builder.call(llvm_prefetch, [address, i32(0), i32(3), i32(1)])  # read, keep, data cache
        return context.get_dummy_value()

    return types.void(array, index), codegen
