// Moments and layer normalization over the last axis of x viewed as [rows, cols].
//
// gg_moments_<t>: mean and (biased) variance per row, two passes as tf.nn.moments builds them
// (nn_ops.moments): mean = sum(x) / n, then variance = sum((x - mean)^2) / n — more accurate than
// one-pass formulas and, since the row is re-read from cache, about as fast.
//
// gg_layernorm_<t>: the layer-norm pattern the planner matches, moments followed by
// tf.nn.batch_normalization(x, mean, variance, beta, gamma, eps) (nn_ops.batch_normalization):
//   inv = rsqrt(variance + eps) [* gamma];  y = x * inv + (beta - mean * inv)   (or - mean * inv)
// evaluated in that order, with every intermediate rounded to T as the unfused graph's tensors
// would be (a no-op for float/double). gamma/beta may be null (no scale/offset); mean_out and
// var_out may be null, or receive the row statistics.
//
// Launch as softmax.cu: blockDim.x threads per row, blockDim.y rows per block; with cache_row = 1
// and blockDim.y * cols * sizeof(acc) bytes of dynamic shared memory, x is read once.
#include "elementwise.cuh"

template <typename T, typename A>
__device__ __forceinline__ void row_moments(const T* __restrict__ xr, long long cols, bool valid, bool cache_row,
                                            A* __restrict__ row_cache, A* scratch, A& mean, A& var) {
  A s = (A)0;
  if (valid) {
    for (long long j = threadIdx.x; j < cols; j += blockDim.x) {
      const A v = gg_load<T>(xr[j]);
      if (cache_row) row_cache[j] = v;  // read back only by this thread
      s += v;
    }
  }
  s = gg_group_reduce(s, scratch, gg_sum_op<A>());
  mean = s / (A)cols;
  A q = (A)0;
  if (valid) {
    for (long long j = threadIdx.x; j < cols; j += blockDim.x) {
      const A d = (cache_row ? row_cache[j] : gg_load<T>(xr[j])) - mean;
      q += d * d;
    }
  }
  q = gg_group_reduce(q, scratch, gg_sum_op<A>());
  var = q / (A)cols;
}

template <typename T>
__device__ __forceinline__ void moments(const T* __restrict__ x, T* __restrict__ mean_out, T* __restrict__ var_out,
                                        long long rows, long long cols) {
  typedef typename gg_acc<T>::type A;
  __shared__ A scratch[32];
  const long long step = (long long)gridDim.x * blockDim.y;
  for (long long base = (long long)blockIdx.x * blockDim.y; base < rows; base += step) {
    const long long row = base + threadIdx.y;
    const bool valid = row < rows;
    A mean, var;
    row_moments<T, A>(x + row * cols, cols, valid, false, (A*)0, scratch, mean, var);
    if (valid && threadIdx.x == 0) {
      mean_out[row] = gg_store<T>(mean);
      var_out[row] = gg_store<T>(var);
    }
  }
}

template <typename T>
__device__ __forceinline__ void layernorm(const T* __restrict__ x, const T* __restrict__ gamma, const T* __restrict__ beta,
                                          T* __restrict__ y, T* __restrict__ mean_out, T* __restrict__ var_out,
                                          long long rows, long long cols, double eps, int cache_row) {
  typedef typename gg_acc<T>::type A;
  __shared__ A scratch[32];
  GG_DYNAMIC_SHARED(A, cache);
  A* row_cache = cache + (long long)threadIdx.y * cols;
  const A e = gg_round<T>((A)eps);  // the epsilon tensor has x's dtype
  const long long step = (long long)gridDim.x * blockDim.y;
  for (long long base = (long long)blockIdx.x * blockDim.y; base < rows; base += step) {
    const long long row = base + threadIdx.y;
    const bool valid = row < rows;
    const T* xr = x + row * cols;
    T* yr = y + row * cols;
    A mean, var;
    row_moments<T, A>(xr, cols, valid, cache_row != 0, row_cache, scratch, mean, var);
    if (!valid) continue;  // no barriers below
    mean = gg_round<T>(mean);
    var = gg_round<T>(var);
    if (threadIdx.x == 0) {
      if (mean_out) mean_out[row] = gg_store<T>(mean);
      if (var_out) var_out[row] = gg_store<T>(var);
    }
    const A inv0 = gg_round<T>(gg_rsqrt(gg_round<T>(var + e)));
    for (long long j = threadIdx.x; j < cols; j += blockDim.x) {
      const A v = cache_row ? row_cache[j] : gg_load<T>(xr[j]);
      const A inv = gamma ? gg_round<T>(inv0 * gg_load<T>(gamma[j])) : inv0;
      const A scaled = gg_round<T>(v * inv);
      const A mi = gg_round<T>(mean * inv);
      const A shift = beta ? gg_round<T>(gg_load<T>(beta[j]) - mi) : -mi;
      yr[j] = gg_store<T>(scaled + shift);
    }
  }
}

extern "C" __global__ void __launch_bounds__(1024) gg_moments_f32(const float* x, float* mean, float* var, long long rows, long long cols) { moments<float>(x, mean, var, rows, cols); }
extern "C" __global__ void __launch_bounds__(1024) gg_moments_f64(const double* x, double* mean, double* var, long long rows, long long cols) { moments<double>(x, mean, var, rows, cols); }
extern "C" __global__ void __launch_bounds__(1024) gg_moments_f16(const gg_half* x, gg_half* mean, gg_half* var, long long rows, long long cols) { moments<gg_half>(x, mean, var, rows, cols); }
extern "C" __global__ void __launch_bounds__(1024) gg_moments_bf16(const gg_bf16* x, gg_bf16* mean, gg_bf16* var, long long rows, long long cols) { moments<gg_bf16>(x, mean, var, rows, cols); }

extern "C" __global__ void __launch_bounds__(1024) gg_layernorm_f32(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* var, long long rows, long long cols, double eps, int cache_row) { layernorm<float>(x, gamma, beta, y, mean, var, rows, cols, eps, cache_row); }
extern "C" __global__ void __launch_bounds__(1024) gg_layernorm_f64(const double* x, const double* gamma, const double* beta, double* y, double* mean, double* var, long long rows, long long cols, double eps, int cache_row) { layernorm<double>(x, gamma, beta, y, mean, var, rows, cols, eps, cache_row); }
extern "C" __global__ void __launch_bounds__(1024) gg_layernorm_f16(const gg_half* x, const gg_half* gamma, const gg_half* beta, gg_half* y, gg_half* mean, gg_half* var, long long rows, long long cols, double eps, int cache_row) { layernorm<gg_half>(x, gamma, beta, y, mean, var, rows, cols, eps, cache_row); }
extern "C" __global__ void __launch_bounds__(1024) gg_layernorm_bf16(const gg_bf16* x, const gg_bf16* gamma, const gg_bf16* beta, gg_bf16* y, gg_bf16* mean, gg_bf16* var, long long rows, long long cols, double eps, int cache_row) { layernorm<gg_bf16>(x, gamma, beta, y, mean, var, rows, cols, eps, cache_row); }
