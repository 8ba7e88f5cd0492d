// Softmax and LogSoftmax over the last axis of x viewed as [rows, cols] (nn_ops._softmax and
// _log_softmax):
//   softmax:     e = exp(x - max(x)); y = e / sum(e)
//   log_softmax: s = x - max(x);      y = s - log(sum(exp(s)))
// computed in float32 for 16-bit types. A NaN in a row makes the row NaN, as in NumPy.
//
// Launch (see common.cuh): blockDim.x threads per row, blockDim.y rows per block, a grid-stride
// loop over rows. Short rows (cols <= 1024): one warp per row, e.g. block (32, 8). Long rows: one
// block per row, e.g. block (1024, 1), and with cache_row = 1 and blockDim.y * cols * sizeof(acc)
// bytes of dynamic shared memory (acc = float, or double for f64) the row is read from global
// memory once instead of three times.
#include "elementwise.cuh"

template <typename T>
__device__ __forceinline__ void softmax(const T* __restrict__ x, T* __restrict__ y, long long rows, long long cols,
                                        int log_mode, int cache_row) {
  typedef typename gg_acc<T>::type A;
  __shared__ A scratch[32];
  GG_DYNAMIC_SHARED(A, cache);
  A* row_cache = cache + (long long)threadIdx.y * cols;
  const long long step = (long long)gridDim.x * blockDim.y;
  // The loop bound is the same for the whole block: every thread reaches the barriers inside
  // gg_group_reduce, also those whose row is past the end.
  for (long long base = (long long)blockIdx.x * blockDim.y; base < rows; base += step) {
    const long long row = base + threadIdx.y;
    const bool valid = row < rows;
    const T* xr = x + row * cols;
    T* yr = y + row * cols;

    A m = gg_limits<A>::lowest();
    if (valid) {
      for (long long j = threadIdx.x; j < cols; j += blockDim.x) {
        const A v = gg_load<T>(xr[j]);
        if (cache_row) row_cache[j] = v;  // each thread later reads back only its own j's
        m = gg_max(m, v);
      }
    }
    m = gg_group_reduce(m, scratch, gg_max_op<A>());

    A s = (A)0;
    if (valid) {
      for (long long j = threadIdx.x; j < cols; j += blockDim.x) {
        const A v = cache_row ? row_cache[j] : gg_load<T>(xr[j]);
        s += gg_exp(v - m);
      }
    }
    s = gg_group_reduce(s, scratch, gg_sum_op<A>());

    if (valid) {
      if (log_mode) {
        const A log_s = gg_log(s);
        for (long long j = threadIdx.x; j < cols; j += blockDim.x) {
          const A v = cache_row ? row_cache[j] : gg_load<T>(xr[j]);
          yr[j] = gg_store<T>((v - m) - log_s);
        }
      } else {
        for (long long j = threadIdx.x; j < cols; j += blockDim.x) {
          const A v = cache_row ? row_cache[j] : gg_load<T>(xr[j]);
          yr[j] = gg_store<T>(gg_exp(v - m) / s);
        }
      }
    }
  }
}

extern "C" __global__ void __launch_bounds__(1024) gg_softmax_f32(const float* x, float* y, long long rows, long long cols, int log_mode, int cache_row) { softmax<float>(x, y, rows, cols, log_mode, cache_row); }
extern "C" __global__ void __launch_bounds__(1024) gg_softmax_f64(const double* x, double* y, long long rows, long long cols, int log_mode, int cache_row) { softmax<double>(x, y, rows, cols, log_mode, cache_row); }
extern "C" __global__ void __launch_bounds__(1024) gg_softmax_f16(const gg_half* x, gg_half* y, long long rows, long long cols, int log_mode, int cache_row) { softmax<gg_half>(x, y, rows, cols, log_mode, cache_row); }
extern "C" __global__ void __launch_bounds__(1024) gg_softmax_bf16(const gg_bf16* x, gg_bf16* y, long long rows, long long cols, int log_mode, int cache_row) { softmax<gg_bf16>(x, y, rows, cols, log_mode, cache_row); }
