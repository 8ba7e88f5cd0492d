// Elementwise math with gpugraph's NumPy semantics, and the skeleton of fused elementwise kernels.
//
// The math functions below are the device twins of the NumPy kernels in gpugraph/ops
// (unary_ops.py, math_ops.py, nn_ops.py): same formulas, same NaN behaviour (maximum/minimum and
// relu keep NaNs), evaluated in the compute type (float32 for half/bfloat16). bias_act.cu, the
// generic kernels of elementwise.cu and the kernels that gpugraph/runtime/cuda/fusion.py generates
// all use them, so an op means the same thing in every kernel.
//
// Skeleton: gg_ew::run(out, n, cols, body, inputs...) evaluates `body` for every flat index
// i < n of a contiguous output, reading each input through an accessor that says how it
// broadcasts against the output viewed as [n / cols, cols]:
//   Full<T>    same shape as the output      x[i]
//   Scalar<T>  one value                     x[0]
//   Row<T>     a vector along the last axis  x[i % cols]
//   Col<T>     one value per row             x[i / cols]
// It uses a grid-stride loop, 32-bit index arithmetic when n fits, and 16-byte vector loads and
// stores for Full inputs and the output when their addresses allow it.
#ifndef GPUGRAPH_KERNELS_ELEMENTWISE_CUH
#define GPUGRAPH_KERNELS_ELEMENTWISE_CUH

#include "common.cuh"

// -- math (A is float or double) -----------------------------------------------------------------
__device__ __forceinline__ float gg_exp(float x) { return expf(x); }
__device__ __forceinline__ double gg_exp(double x) { return exp(x); }
__device__ __forceinline__ float gg_expm1(float x) { return expm1f(x); }
__device__ __forceinline__ double gg_expm1(double x) { return expm1(x); }
__device__ __forceinline__ float gg_log(float x) { return logf(x); }
__device__ __forceinline__ double gg_log(double x) { return log(x); }
__device__ __forceinline__ float gg_log1p(float x) { return log1pf(x); }
__device__ __forceinline__ double gg_log1p(double x) { return log1p(x); }
__device__ __forceinline__ float gg_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double gg_sqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float gg_tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double gg_tanh(double x) { return tanh(x); }
__device__ __forceinline__ float gg_abs(float x) { return fabsf(x); }
__device__ __forceinline__ double gg_abs(double x) { return fabs(x); }

// 1 / sqrt(x) with IEEE sqrt and division (not rsqrtf's approximation): NumPy's
// reciprocal(sqrt(x)), to the last bit.
template <typename A> __device__ __forceinline__ A gg_rsqrt(A x) { return (A)1 / gg_sqrt(x); }
template <typename A> __device__ __forceinline__ A gg_square(A x) { return x * x; }
template <typename A> __device__ __forceinline__ A gg_neg(A x) { return -x; }
template <typename A> __device__ __forceinline__ A gg_maximum(A a, A b) { return gg_max(a, b); }
template <typename A> __device__ __forceinline__ A gg_minimum(A a, A b) { return gg_min(a, b); }
template <typename A> __device__ __forceinline__ A gg_squared_difference(A a, A b) { A d = a - b; return d * d; }

// max(x, 0) keeping NaN (x < 0 is false for NaN), like np.maximum(x, 0).
template <typename A> __device__ __forceinline__ A gg_relu(A x) { return x < (A)0 ? (A)0 : x; }
template <typename A> __device__ __forceinline__ A gg_relu6(A x) {
  return x < (A)0 ? (A)0 : (x > (A)6 ? (A)6 : x);
}
// The overflow-free form of nn/unary_ops' _sigmoid: exp(-|x|) never overflows.
template <typename A> __device__ __forceinline__ A gg_sigmoid(A x) {
  A e = gg_exp(-gg_abs(x));
  return x >= (A)0 ? (A)1 / ((A)1 + e) : e / ((A)1 + e);
}
template <typename A> __device__ __forceinline__ A gg_elu(A x) {
  return x < (A)0 ? gg_expm1(x) : x;
}
// SELU's constants as NumPy applies them to a float32 array: the Python float product rounded to A.
template <typename A> __device__ __forceinline__ A gg_selu(A x) {
  const A scale_alpha = (A)1.7580993408473766;  // _SELU_SCALE * _SELU_ALPHA
  const A scale = (A)1.0507009873554804934193349852946;
  return x < (A)0 ? scale_alpha * gg_expm1(x) : scale * x;
}
// select(x > 0, x, alpha * x) as TensorFlow does (not max(x, alpha * x)).
template <typename A> __device__ __forceinline__ A gg_leaky_relu(A x, A alpha) { return x > (A)0 ? x : x * alpha; }
// np.logaddexp(x, 0) = log(1 + exp(x)) without overflow.
template <typename A> __device__ __forceinline__ A gg_softplus(A x) {
  return x > (A)0 ? x + gg_log1p(gg_exp(-x)) : gg_log1p(gg_exp(x));
}

// Activation codes shared with kernel_loader.ACTIVATIONS (checked by a test).
#define GG_ACT_IDENTITY 0
#define GG_ACT_RELU 1
#define GG_ACT_RELU6 2
#define GG_ACT_SIGMOID 3
#define GG_ACT_TANH 4
#define GG_ACT_ELU 5
#define GG_ACT_SELU 6
#define GG_ACT_LEAKY_RELU 7
#define GG_ACT_SOFTPLUS 8

template <typename A> __device__ __forceinline__ A gg_activate(int act, A x, A alpha) {
  switch (act) {
    case GG_ACT_RELU: return gg_relu(x);
    case GG_ACT_RELU6: return gg_relu6(x);
    case GG_ACT_SIGMOID: return gg_sigmoid(x);
    case GG_ACT_TANH: return gg_tanh(x);
    case GG_ACT_ELU: return gg_elu(x);
    case GG_ACT_SELU: return gg_selu(x);
    case GG_ACT_LEAKY_RELU: return gg_leaky_relu(x, alpha);
    case GG_ACT_SOFTPLUS: return gg_softplus(x);
    default: return x;
  }
}

// -- the fused-elementwise skeleton -----------------------------------------------------------------
namespace gg_ew {

template <typename T> struct Full { const T* __restrict__ p; };
template <typename T> struct Scalar { const T* __restrict__ p; };
template <typename T> struct Row { const T* __restrict__ p; };
template <typename T> struct Col { const T* __restrict__ p; };

template <typename T, typename I> __device__ __forceinline__ typename gg_acc<T>::type at(const Full<T>& a, I i, I) { return gg_load<T>(a.p[i]); }
template <typename T, typename I> __device__ __forceinline__ typename gg_acc<T>::type at(const Scalar<T>& a, I, I) { return gg_load<T>(a.p[0]); }
template <typename T, typename I> __device__ __forceinline__ typename gg_acc<T>::type at(const Row<T>& a, I i, I cols) { return gg_load<T>(a.p[i % cols]); }
template <typename T, typename I> __device__ __forceinline__ typename gg_acc<T>::type at(const Col<T>& a, I i, I cols) { return gg_load<T>(a.p[i / cols]); }

// Vector path: a group of V consecutive elements starting at i (a multiple of V).
constexpr int V = 4;
template <typename T> struct Loaded { typename gg_acc<T>::type v[V]; };

template <typename T, typename I> __device__ __forceinline__ Loaded<T> at_v(const Full<T>& a, I i, I) {
  gg_pack<T, V> p = *reinterpret_cast<const gg_pack<T, V>*>(a.p + i);
  Loaded<T> r;
#pragma unroll
  for (int k = 0; k < V; ++k) r.v[k] = gg_load<T>(p.v[k]);
  return r;
}
template <typename T, typename I> __device__ __forceinline__ Loaded<T> at_v(const Scalar<T>& a, I, I) {
  Loaded<T> r;
  typename gg_acc<T>::type s = gg_load<T>(a.p[0]);
#pragma unroll
  for (int k = 0; k < V; ++k) r.v[k] = s;
  return r;
}
template <typename T, typename I> __device__ __forceinline__ Loaded<T> at_v(const Row<T>& a, I i, I cols) {
  Loaded<T> r;
  I c = i % cols;  // cols % V == 0 on this path: the group lies in one row
#pragma unroll
  for (int k = 0; k < V; ++k) r.v[k] = gg_load<T>(a.p[c + k]);
  return r;
}
template <typename T, typename I> __device__ __forceinline__ Loaded<T> at_v(const Col<T>& a, I i, I cols) {
  Loaded<T> r;
  typename gg_acc<T>::type s = gg_load<T>(a.p[i / cols]);
#pragma unroll
  for (int k = 0; k < V; ++k) r.v[k] = s;
  return r;
}

template <typename T> __device__ __forceinline__ bool vec_ok(const Full<T>& a) { return gg_aligned(a.p, sizeof(T) * V); }
template <typename T> __device__ __forceinline__ bool vec_ok(const Scalar<T>&) { return true; }
template <typename T> __device__ __forceinline__ bool vec_ok(const Row<T>&) { return true; }
template <typename T> __device__ __forceinline__ bool vec_ok(const Col<T>&) { return true; }

__device__ __forceinline__ bool all_of() { return true; }
template <typename... B> __device__ __forceinline__ bool all_of(bool a, B... b) { return a && all_of(b...); }

template <typename Out, typename I, typename F, typename... In>
__device__ __forceinline__ void run_scalar(Out* __restrict__ out, I begin, I n, I cols, const F& body, const In&... in) {
  const I stride = (I)gridDim.x * blockDim.x;
  for (I i = begin + (I)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
    out[i] = gg_store<Out>(body(at(in, i, cols)...));
}

// Evaluates V outputs from the already loaded input groups and stores them with one wide store.
template <typename Out, typename F, typename... L>
__device__ __forceinline__ void store_group(Out* __restrict__ out, const F& body, const L&... loaded) {
  gg_pack<Out, V> r;
#pragma unroll
  for (int k = 0; k < V; ++k) r.v[k] = gg_store<Out>(body(loaded.v[k]...));
  *reinterpret_cast<gg_pack<Out, V>*>(out) = r;
}

template <typename Out, typename I, typename F, typename... In>
__device__ __forceinline__ void run_vector(Out* __restrict__ out, I n, I cols, const F& body, const In&... in) {
  const I groups = n / V;
  const I stride = (I)gridDim.x * blockDim.x;
  for (I g = (I)blockIdx.x * blockDim.x + threadIdx.x; g < groups; g += stride)
    store_group(out + g * V, body, at_v(in, g * V, cols)...);
  run_scalar(out, groups * V, n, cols, body, in...);  // the tail
}

template <typename Out, typename I, typename F, typename... In>
__device__ __forceinline__ void run_indexed(Out* __restrict__ out, I n, I cols, const F& body, const In&... in) {
  const bool vec = gg_aligned(out, sizeof(Out) * V) && (cols % V == 0) && all_of(vec_ok(in)...);
  if (vec) run_vector(out, n, cols, body, in...);
  else run_scalar(out, (I)0, n, cols, body, in...);
}

// The entry the kernels call: out[i] = body(inputs at i...) for i < n.
template <typename Out, typename F, typename... In>
__device__ __forceinline__ void run(Out* __restrict__ out, long long n, long long cols, const F& body, const In&... in) {
  if (cols <= 0) cols = 1;
  // 32-bit index math (cheaper div/mod) whenever every index, plus one grid stride, fits.
  if (n + (long long)gridDim.x * blockDim.x < 0x7fffffffll)
    run_indexed<Out, unsigned>(out, (unsigned)n, (unsigned)cols, body, in...);
  else
    run_indexed<Out, unsigned long long>(out, (unsigned long long)n, (unsigned long long)cols, body, in...);
}

}  // namespace gg_ew

#endif  // GPUGRAPH_KERNELS_ELEMENTWISE_CUH
