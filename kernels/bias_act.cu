// BiasAdd followed by an activation, in one pass: y = act(x + bias[channel]).
//
// Semantics are those of the two unfused ops (nn_ops.BiasAdd, then Relu/Relu6/Sigmoid/Tanh/Elu/
// Selu/LeakyRelu/Softplus or nothing): the sum is rounded to T before the activation, exactly as
// the BiasAdd output tensor would be; the activation computes in float32 for 16-bit types.
//
// Layout: element i of x has channel (i / inner) % channels. NHWC (and any channels-last
// tensor): inner = 1. NCHW: inner = H * W. Channels-last with channels % 4 == 0 and buffers
// aligned to 4 elements runs with vector loads and stores.
//
// Launch: 1-D grid-stride; 256 threads per block, enough blocks to fill the GPU.
#include "elementwise.cuh"

template <typename T, typename I>
__device__ __forceinline__ void bias_act_scalar(const T* __restrict__ x, const T* __restrict__ bias, T* __restrict__ y,
                                                I n, I channels, I inner, int act, typename gg_acc<T>::type alpha) {
  typedef typename gg_acc<T>::type A;
  const I stride = (I)gridDim.x * blockDim.x;
  for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
    const I c = inner == 1 ? i % channels : (i / inner) % channels;
    const A v = gg_round<T>(gg_load<T>(x[i]) + gg_load<T>(bias[c]));
    y[i] = gg_store<T>(gg_activate<A>(act, v, alpha));
  }
}

// Channels-last with channels % 4 == 0 and aligned buffers: four channels per step, one wide load.
template <typename T, typename I>
__device__ __forceinline__ void bias_act_vector(const T* __restrict__ x, const T* __restrict__ bias, T* __restrict__ y,
                                                I n, I channels, int act, typename gg_acc<T>::type alpha) {
  typedef typename gg_acc<T>::type A;
  typedef gg_pack<T, 4> P;
  const I groups = n / 4;
  const I stride = (I)gridDim.x * blockDim.x;
  for (I g = (I)blockIdx.x * blockDim.x + threadIdx.x; g < groups; g += stride) {
    const I c = (g * 4) % channels;
    const P xv = reinterpret_cast<const P*>(x)[g];
    const P bv = *reinterpret_cast<const P*>(bias + c);
    P out;
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const A v = gg_round<T>(gg_load<T>(xv.v[k]) + gg_load<T>(bv.v[k]));
      out.v[k] = gg_store<T>(gg_activate<A>(act, v, alpha));
    }
    reinterpret_cast<P*>(y)[g] = out;
  }
}

template <typename T>
__device__ __forceinline__ void bias_act(const T* __restrict__ x, const T* __restrict__ bias, T* __restrict__ y,
                                         long long n, long long channels, long long inner, int act, double alpha) {
  typedef typename gg_acc<T>::type A;
  const A a = (A)alpha;  // LeakyRelu's alpha in the compute type, as nn_ops does
  if (channels <= 0 || inner <= 0) return;
  const unsigned align = 4 * sizeof(T);
  const bool vec = inner == 1 && channels % 4 == 0 && gg_aligned(x, align) && gg_aligned(y, align) && gg_aligned(bias, align);
  if (n + (long long)gridDim.x * blockDim.x < 0x7fffffffll) {
    if (vec) bias_act_vector<T, unsigned>(x, bias, y, (unsigned)n, (unsigned)channels, act, a);
    else bias_act_scalar<T, unsigned>(x, bias, y, (unsigned)n, (unsigned)channels, (unsigned)inner, act, a);
  } else {
    typedef unsigned long long U;
    if (vec) bias_act_vector<T, U>(x, bias, y, (U)n, (U)channels, act, a);
    else bias_act_scalar<T, U>(x, bias, y, (U)n, (U)channels, (U)inner, act, a);
  }
}

extern "C" __global__ void gg_bias_act_f32(const float* x, const float* bias, float* y, long long n, long long channels, long long inner, int act, double alpha) { bias_act<float>(x, bias, y, n, channels, inner, act, alpha); }
extern "C" __global__ void gg_bias_act_f64(const double* x, const double* bias, double* y, long long n, long long channels, long long inner, int act, double alpha) { bias_act<double>(x, bias, y, n, channels, inner, act, alpha); }
extern "C" __global__ void gg_bias_act_f16(const gg_half* x, const gg_half* bias, gg_half* y, long long n, long long channels, long long inner, int act, double alpha) { bias_act<gg_half>(x, bias, y, n, channels, inner, act, alpha); }
extern "C" __global__ void gg_bias_act_bf16(const gg_bf16* x, const gg_bf16* bias, gg_bf16* y, long long n, long long channels, long long inner, int act, double alpha) { bias_act<gg_bf16>(x, bias, y, n, channels, inner, act, alpha); }
