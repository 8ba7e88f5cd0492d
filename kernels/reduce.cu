// Sum, Mean, Max, Min and Prod over any set of axes (reduction_ops.py semantics).
//
// gg_reduce_<t>: the input is seen through a "transposed to last axis" view: logical shape
// [rows, red] where a row index walks the kept axes and a reduction index walks the reduced axes,
// each through its own dims and element strides (no copy of the input). The view lives in a small
// int64 array `geom` (device memory, ideally uploaded once per plan step):
//     geom = [n_kept, n_red, kept_dims[n_kept], kept_strides[n_kept], red_dims[n_red], red_strides[n_red]]
// with n_kept, n_red <= 8 (coalesce adjacent axes first; n_kept = 0 reduces everything). Rows are
// handled like softmax's (common.cuh): blockDim.x threads per row with warp shuffles, then shared
// memory across warps. A single reduced group (n_red == 1) needs no index division per element.
//
// gg_reduce_cols_<t>: the [outer, red, inner] case with red strided by inner (e.g. a sum over the
// batch axis), where the row kernel's loads would not coalesce: threads run along `inner` and
// blockDim.y threads share each column's reduction. Launch e.g. block (32, 8), grid
// (ceil(inner / 32), min(outer, 65535), chunks).
//
// Splitting long reductions: with chunks > 1 each (row, chunk) pair is reduced by its own block
// (blockIdx.y for gg_reduce, blockIdx.z for gg_reduce_cols) into `partial` (rows * chunks
// accumulators, layout [rows][chunks]), and gg_reduce_finish_<t> combines them and finalizes.
// With chunks == 1, `partial` is unused (may be null) and `y` is written directly.
//
// Accumulators: float32 for float32/half/bfloat16, float64 for float64; integer sums and products
// wrap in the input's width (unsigned arithmetic: no signed-overflow UB); the integer Mean sums in
// 64 bits and truncates toward zero, and an empty integer Mean is 0. Max/Min propagate NaN; empty
// reductions give the identity (0, 1, lowest, highest; Mean of nothing is NaN for floats).
#include "common.cuh"

#define GG_REDUCE_MAX_RANK 8

// Integer sums, means and products accumulate in unsigned 64 bits: the low 32 bits of a wrapped
// 64-bit sum or product are the wrapped 32-bit one, so int32 results are exact, and Sum and Mean
// share one instantiation (they differ only in reduce_finalize).
template <typename T> struct reduce_acc {  // float types
  typedef typename gg_acc<T>::type sum, minmax;
};
template <> struct reduce_acc<int> {
  typedef unsigned long long sum;
  typedef int minmax;
};
template <> struct reduce_acc<long long> {
  typedef unsigned long long sum;
  typedef long long minmax;
};

template <typename T> struct is_int_type { static const bool value = false; };
template <> struct is_int_type<int> { static const bool value = true; };
template <> struct is_int_type<long long> { static const bool value = true; };

template <typename T, typename A>
__device__ __forceinline__ T reduce_finalize(A acc, int op, long long count) {
  if (op == GG_REDUCE_MEAN) {
    if (is_int_type<T>::value) {
      const long long total = (long long)acc;  // two's complement of the 64-bit wrapped sum
      return gg_store<T>(count == 0 ? 0ll : total / count);  // C division truncates toward zero
    }
    return gg_store<T>(acc / (A)count);
  }
  return gg_store<T>(acc);
}

// The offset of linear index `k` over `n` dims (row-major) with element strides.
__device__ __forceinline__ long long view_offset(long long k, int n, const long long* dims, const long long* strides) {
  long long off = 0;
  for (int d = n - 1; d >= 0; --d) {
    const long long q = k / dims[d];
    off += (k - q * dims[d]) * strides[d];
    k = q;
  }
  return off;
}

template <typename T, typename A, typename Op>
__device__ __forceinline__ void reduce_rows(int op_code, const Op& op, const T* __restrict__ x, T* __restrict__ y,
                                            A* __restrict__ partial, long long rows, long long red, int chunks,
                                            void* smem, const long long* geo) {
  A* scratch = reinterpret_cast<A*>(smem);
  const int nk = (int)geo[0], nr = (int)geo[1];
  const long long* kd = geo + 2;
  const long long* ks = kd + nk;
  const long long* rd = ks + nk;
  const long long* rs = rd + nr;
  const long long per_chunk = (red + chunks - 1) / chunks;
  const long long r_begin = (long long)blockIdx.y * per_chunk;
  const long long r_end = gg_imin(red, r_begin + per_chunk);
  const long long step = (long long)gridDim.x * blockDim.y;
  for (long long base = (long long)blockIdx.x * blockDim.y; base < rows; base += step) {
    const long long row = base + threadIdx.y;
    A acc = op.identity();
    if (row < rows) {
      const T* xr = x + view_offset(row, nk, kd, ks);
      if (nr == 1) {
        const long long s = rs[0];
        for (long long r = r_begin + threadIdx.x; r < r_end; r += blockDim.x) acc = op(acc, (A)gg_load<T>(xr[r * s]));
      } else {  // index math dominates here: keep the loop rolled (smaller code, same speed)
#pragma unroll 1
        for (long long r = r_begin + threadIdx.x; r < r_end; r += blockDim.x)
          acc = op(acc, (A)gg_load<T>(xr[view_offset(r, nr, rd, rs)]));
      }
    }
    acc = gg_group_reduce(acc, scratch, op);
    if (row < rows && threadIdx.x == 0) {
      if (chunks > 1) partial[row * chunks + blockIdx.y] = acc;
      else y[row] = reduce_finalize<T>(acc, op_code, red);
    }
  }
}

template <typename T, typename A, typename Op>
__device__ __forceinline__ void reduce_cols(int op_code, const Op& op, const T* __restrict__ x, T* __restrict__ y,
                                            A* __restrict__ partial, long long outer, long long red, long long inner,
                                            int chunks, void* smem) {
  A* tile = reinterpret_cast<A*>(smem);  // [blockDim.y][blockDim.x]
  const long long per_chunk = (red + chunks - 1) / chunks;
  const long long r_begin = (long long)blockIdx.z * per_chunk;
  const long long r_end = gg_imin(red, r_begin + per_chunk);
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  const unsigned t = threadIdx.y * blockDim.x + threadIdx.x;
  for (long long o = blockIdx.y; o < outer; o += gridDim.y) {
    A acc = op.identity();
    if (i < inner) {
      const T* col = x + o * red * inner + i;
      for (long long r = r_begin + threadIdx.y; r < r_end; r += blockDim.y) acc = op(acc, (A)gg_load<T>(col[r * inner]));
    }
    __syncthreads();  // the tile may still be read for the previous `o`
    tile[t] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && i < inner) {
      for (unsigned k = 1; k < blockDim.y; ++k) acc = op(acc, tile[k * blockDim.x + threadIdx.x]);
      const long long out = o * inner + i;
      if (chunks > 1) partial[out * chunks + blockIdx.z] = acc;
      else y[out] = reduce_finalize<T>(acc, op_code, red);
    }
  }
}

template <typename T, typename A, typename Op>
__device__ __forceinline__ void reduce_finish(int op_code, const Op& op, const A* __restrict__ partial, T* __restrict__ y,
                                              long long rows, int chunks, long long red, void* smem) {
  A* scratch = reinterpret_cast<A*>(smem);
  const long long step = (long long)gridDim.x * blockDim.y;
  for (long long base = (long long)blockIdx.x * blockDim.y; base < rows; base += step) {
    const long long row = base + threadIdx.y;
    A acc = op.identity();
    if (row < rows)
      for (int c = threadIdx.x; c < chunks; c += blockDim.x) acc = op(acc, partial[row * chunks + c]);
    acc = gg_group_reduce(acc, scratch, op);
    if (row < rows && threadIdx.x == 0) y[row] = reduce_finalize<T>(acc, op_code, red);
  }
}

// Runtime op code -> (accumulator type, operator). Every branch is compiled into the kernel; the
// switch is uniform, taken once per thread.
#define GG_REDUCE_DISPATCH(T, CALL)                                                          \
  switch (op) {                                                                              \
    case GG_REDUCE_SUM:                                                                      \
    case GG_REDUCE_MEAN: { typedef typename reduce_acc<T>::sum A; CALL(gg_sum_op<A>()); break; }      \
    case GG_REDUCE_MAX: { typedef typename reduce_acc<T>::minmax A; CALL(gg_max_op<A>()); break; }    \
    case GG_REDUCE_MIN: { typedef typename reduce_acc<T>::minmax A; CALL(gg_min_op<A>()); break; }    \
    case GG_REDUCE_PROD: { typedef typename reduce_acc<T>::sum A; CALL(gg_prod_op<A>()); break; }     \
    default: break;                                                                          \
  }

template <typename T>
__device__ __forceinline__ void reduce(int op, const T* __restrict__ x, T* __restrict__ y, void* partial,
                                       const long long* __restrict__ geom, long long rows, long long red, int chunks) {
  __shared__ __align__(16) unsigned char smem[32 * 8];
  __shared__ long long geo[2 + 4 * GG_REDUCE_MAX_RANK];
  // The view is read by every element's index math: keep it in shared memory.
  const unsigned t = gg_linear_tid();
  const int n = 2 + 2 * (int)(geom[0] + geom[1]);
  for (int k = (int)t; k < n; k += (int)(blockDim.x * blockDim.y * blockDim.z)) geo[k] = geom[k];
  __syncthreads();
#define GG_CALL(OP) reduce_rows<T, A>(op, OP, x, y, reinterpret_cast<A*>(partial), rows, red, chunks, smem, geo)
  GG_REDUCE_DISPATCH(T, GG_CALL)
#undef GG_CALL
}

template <typename T>
__device__ __forceinline__ void reduce_cols_entry(int op, const T* __restrict__ x, T* __restrict__ y, void* partial,
                                                  long long outer, long long red, long long inner, int chunks) {
  __shared__ __align__(16) unsigned char smem[1024 * 8];
#define GG_CALL(OP) reduce_cols<T, A>(op, OP, x, y, reinterpret_cast<A*>(partial), outer, red, inner, chunks, smem)
  GG_REDUCE_DISPATCH(T, GG_CALL)
#undef GG_CALL
}

template <typename T>
__device__ __forceinline__ void reduce_finish_entry(int op, const void* partial, T* __restrict__ y, long long rows,
                                                    int chunks, long long red) {
  __shared__ __align__(16) unsigned char smem[32 * 8];
#define GG_CALL(OP) reduce_finish<T, A>(op, OP, reinterpret_cast<const A*>(partial), y, rows, chunks, red, smem)
  GG_REDUCE_DISPATCH(T, GG_CALL)
#undef GG_CALL
}

extern "C" __global__ void __launch_bounds__(1024) gg_reduce_f32(int op, const float* x, float* y, void* partial, const long long* geom, long long rows, long long red, int chunks) { reduce<float>(op, x, y, partial, geom, rows, red, chunks); }
extern "C" __global__ void __launch_bounds__(1024) gg_reduce_f64(int op, const double* x, double* y, void* partial, const long long* geom, long long rows, long long red, int chunks) { reduce<double>(op, x, y, partial, geom, rows, red, chunks); }
extern "C" __global__ void __launch_bounds__(1024) gg_reduce_f16(int op, const gg_half* x, gg_half* y, void* partial, const long long* geom, long long rows, long long red, int chunks) { reduce<gg_half>(op, x, y, partial, geom, rows, red, chunks); }
extern "C" __global__ void __launch_bounds__(1024) gg_reduce_bf16(int op, const gg_bf16* x, gg_bf16* y, void* partial, const long long* geom, long long rows, long long red, int chunks) { reduce<gg_bf16>(op, x, y, partial, geom, rows, red, chunks); }
extern "C" __global__ void __launch_bounds__(1024) gg_reduce_i32(int op, const int* x, int* y, void* partial, const long long* geom, long long rows, long long red, int chunks) { reduce<int>(op, x, y, partial, geom, rows, red, chunks); }
extern "C" __global__ void __launch_bounds__(1024) gg_reduce_i64(int op, const long long* x, long long* y, void* partial, const long long* geom, long long rows, long long red, int chunks) { reduce<long long>(op, x, y, partial, geom, rows, red, chunks); }

extern "C" __global__ void __launch_bounds__(1024) gg_reduce_cols_f32(int op, const float* x, float* y, void* partial, long long outer, long long red, long long inner, int chunks) { reduce_cols_entry<float>(op, x, y, partial, outer, red, inner, chunks); }
extern "C" __global__ void __launch_bounds__(1024) gg_reduce_cols_f64(int op, const double* x, double* y, void* partial, long long outer, long long red, long long inner, int chunks) { reduce_cols_entry<double>(op, x, y, partial, outer, red, inner, chunks); }
extern "C" __global__ void __launch_bounds__(1024) gg_reduce_cols_f16(int op, const gg_half* x, gg_half* y, void* partial, long long outer, long long red, long long inner, int chunks) { reduce_cols_entry<gg_half>(op, x, y, partial, outer, red, inner, chunks); }
extern "C" __global__ void __launch_bounds__(1024) gg_reduce_cols_bf16(int op, const gg_bf16* x, gg_bf16* y, void* partial, long long outer, long long red, long long inner, int chunks) { reduce_cols_entry<gg_bf16>(op, x, y, partial, outer, red, inner, chunks); }
extern "C" __global__ void __launch_bounds__(1024) gg_reduce_cols_i32(int op, const int* x, int* y, void* partial, long long outer, long long red, long long inner, int chunks) { reduce_cols_entry<int>(op, x, y, partial, outer, red, inner, chunks); }
extern "C" __global__ void __launch_bounds__(1024) gg_reduce_cols_i64(int op, const long long* x, long long* y, void* partial, long long outer, long long red, long long inner, int chunks) { reduce_cols_entry<long long>(op, x, y, partial, outer, red, inner, chunks); }

extern "C" __global__ void __launch_bounds__(1024) gg_reduce_finish_f32(int op, const void* partial, float* y, long long rows, int chunks, long long red) { reduce_finish_entry<float>(op, partial, y, rows, chunks, red); }
extern "C" __global__ void __launch_bounds__(1024) gg_reduce_finish_f64(int op, const void* partial, double* y, long long rows, int chunks, long long red) { reduce_finish_entry<double>(op, partial, y, rows, chunks, red); }
extern "C" __global__ void __launch_bounds__(1024) gg_reduce_finish_f16(int op, const void* partial, gg_half* y, long long rows, int chunks, long long red) { reduce_finish_entry<gg_half>(op, partial, y, rows, chunks, red); }
extern "C" __global__ void __launch_bounds__(1024) gg_reduce_finish_bf16(int op, const void* partial, gg_bf16* y, long long rows, int chunks, long long red) { reduce_finish_entry<gg_bf16>(op, partial, y, rows, chunks, red); }
extern "C" __global__ void __launch_bounds__(1024) gg_reduce_finish_i32(int op, const void* partial, int* y, long long rows, int chunks, long long red) { reduce_finish_entry<int>(op, partial, y, rows, chunks, red); }
extern "C" __global__ void __launch_bounds__(1024) gg_reduce_finish_i64(int op, const void* partial, long long* y, long long rows, int chunks, long long red) { reduce_finish_entry<long long>(op, partial, y, rows, chunks, red); }
