// Fused optimizer updates, in place (training_ops.py, which follows TF's training_ops.cc functors
// term for term and in the same order):
//   Adam:     alpha = lr * sqrt(1 - beta2_power) / (1 - beta1_power)
//             m += (g - m) * (1 - beta1);  v += (g * g - v) * (1 - beta2)
//             var -= m * alpha / (sqrt(v) + eps)
//             nesterov: var -= (g * (1 - beta1) + beta1 * m) * alpha / (sqrt(v) + eps)
//   Momentum: accum = accum * momentum + g
//             var -= lr * accum;  nesterov: var -= g * lr + accum * momentum * lr
//   GradientDescent: var -= delta * alpha
// computed in float32 for 16-bit types. The scalar hyper-parameters are device scalars (0-d
// tensors, read by every thread: no host round trip to launch a step). One read and one write of
// each slot per element; 4 elements per thread with 16-byte accesses when the buffers allow.
// Launch: 1-D grid-stride, 256 threads per block.
#include "elementwise.cuh"

template <typename T> struct AdamStep {
  typedef typename gg_acc<T>::type A;
  A alpha, beta1, beta2, eps;
  bool nesterov;
  __device__ __forceinline__ void operator()(T& var, T& m, T& v, T g_raw) const {
    const A one = (A)1;
    const A g = gg_load<T>(g_raw);
    A mv = gg_load<T>(m), vv = gg_load<T>(v);
    mv = mv + (g - mv) * (one - beta1);
    vv = vv + (g * g - vv) * (one - beta2);
    const A denom = gg_sqrt(vv) + eps;
    const A x = gg_load<T>(var);
    const A update = nesterov ? ((g * (one - beta1) + beta1 * mv) * alpha) / denom : (mv * alpha) / denom;
    var = gg_store<T>(x - update);
    m = gg_store<T>(mv);
    v = gg_store<T>(vv);
  }
};

template <typename T>
__device__ __forceinline__ void apply_adam(T* __restrict__ var, T* __restrict__ m, T* __restrict__ v, const T* __restrict__ grad,
                                           const T* beta1_power, const T* beta2_power, const T* lr, const T* beta1,
                                           const T* beta2, const T* epsilon, long long n, int nesterov) {
  typedef typename gg_acc<T>::type A;
  const A one = (A)1;
  AdamStep<T> step;
  step.alpha = gg_load<T>(*lr) * gg_sqrt(one - gg_load<T>(*beta2_power)) / (one - gg_load<T>(*beta1_power));
  step.beta1 = gg_load<T>(*beta1);
  step.beta2 = gg_load<T>(*beta2);
  step.eps = gg_load<T>(*epsilon);
  step.nesterov = nesterov != 0;
  const long long stride = (long long)gridDim.x * blockDim.x;
  long long start = 0;
  const unsigned bytes = 4 * sizeof(T);
  if (gg_aligned(var, bytes) && gg_aligned(m, bytes) && gg_aligned(v, bytes) && gg_aligned(grad, bytes)) {
    typedef gg_pack<T, 4> P;
    const long long groups = n / 4;
    for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < groups; k += stride) {
      P pv = reinterpret_cast<P*>(var)[k], pm = reinterpret_cast<P*>(m)[k], pw = reinterpret_cast<P*>(v)[k];
      const P pg = reinterpret_cast<const P*>(grad)[k];
#pragma unroll
      for (int q = 0; q < 4; ++q) step(pv.v[q], pm.v[q], pw.v[q], pg.v[q]);
      reinterpret_cast<P*>(var)[k] = pv;
      reinterpret_cast<P*>(m)[k] = pm;
      reinterpret_cast<P*>(v)[k] = pw;
    }
    start = groups * 4;
  }
  for (long long i = start + (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
    step(var[i], m[i], v[i], grad[i]);
}

template <typename T>
__device__ __forceinline__ void apply_momentum(T* __restrict__ var, T* __restrict__ accum, const T* lr, const T* __restrict__ grad,
                                               const T* momentum, long long n, int nesterov) {
  typedef typename gg_acc<T>::type A;
  const A l = gg_load<T>(*lr), mom = gg_load<T>(*momentum);
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
    const A g = gg_load<T>(grad[i]);
    const A acc = gg_load<T>(accum[i]) * mom + g;
    const A x = gg_load<T>(var[i]);
    var[i] = gg_store<T>(nesterov ? x - (g * l + acc * mom * l) : x - l * acc);
    accum[i] = gg_store<T>(acc);
  }
}

template <typename T>
__device__ __forceinline__ void apply_gradient_descent(T* __restrict__ var, const T* alpha, const T* __restrict__ delta, long long n) {
  typedef typename gg_acc<T>::type A;
  const A a = gg_load<T>(*alpha);
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
    var[i] = gg_store<T>(gg_load<T>(var[i]) - gg_load<T>(delta[i]) * a);
}

extern "C" __global__ void gg_apply_adam_f32(float* var, float* m, float* v, const float* grad, const float* beta1_power, const float* beta2_power, const float* lr, const float* beta1, const float* beta2, const float* epsilon, long long n, int nesterov) { apply_adam<float>(var, m, v, grad, beta1_power, beta2_power, lr, beta1, beta2, epsilon, n, nesterov); }
extern "C" __global__ void gg_apply_adam_f64(double* var, double* m, double* v, const double* grad, const double* beta1_power, const double* beta2_power, const double* lr, const double* beta1, const double* beta2, const double* epsilon, long long n, int nesterov) { apply_adam<double>(var, m, v, grad, beta1_power, beta2_power, lr, beta1, beta2, epsilon, n, nesterov); }
extern "C" __global__ void gg_apply_adam_f16(gg_half* var, gg_half* m, gg_half* v, const gg_half* grad, const gg_half* beta1_power, const gg_half* beta2_power, const gg_half* lr, const gg_half* beta1, const gg_half* beta2, const gg_half* epsilon, long long n, int nesterov) { apply_adam<gg_half>(var, m, v, grad, beta1_power, beta2_power, lr, beta1, beta2, epsilon, n, nesterov); }
extern "C" __global__ void gg_apply_adam_bf16(gg_bf16* var, gg_bf16* m, gg_bf16* v, const gg_bf16* grad, const gg_bf16* beta1_power, const gg_bf16* beta2_power, const gg_bf16* lr, const gg_bf16* beta1, const gg_bf16* beta2, const gg_bf16* epsilon, long long n, int nesterov) { apply_adam<gg_bf16>(var, m, v, grad, beta1_power, beta2_power, lr, beta1, beta2, epsilon, n, nesterov); }

extern "C" __global__ void gg_apply_momentum_f32(float* var, float* accum, const float* lr, const float* grad, const float* momentum, long long n, int nesterov) { apply_momentum<float>(var, accum, lr, grad, momentum, n, nesterov); }
extern "C" __global__ void gg_apply_momentum_f64(double* var, double* accum, const double* lr, const double* grad, const double* momentum, long long n, int nesterov) { apply_momentum<double>(var, accum, lr, grad, momentum, n, nesterov); }
extern "C" __global__ void gg_apply_momentum_f16(gg_half* var, gg_half* accum, const gg_half* lr, const gg_half* grad, const gg_half* momentum, long long n, int nesterov) { apply_momentum<gg_half>(var, accum, lr, grad, momentum, n, nesterov); }
extern "C" __global__ void gg_apply_momentum_bf16(gg_bf16* var, gg_bf16* accum, const gg_bf16* lr, const gg_bf16* grad, const gg_bf16* momentum, long long n, int nesterov) { apply_momentum<gg_bf16>(var, accum, lr, grad, momentum, n, nesterov); }

extern "C" __global__ void gg_apply_gradient_descent_f32(float* var, const float* alpha, const float* delta, long long n) { apply_gradient_descent<float>(var, alpha, delta, n); }
extern "C" __global__ void gg_apply_gradient_descent_f64(double* var, const double* alpha, const double* delta, long long n) { apply_gradient_descent<double>(var, alpha, delta, n); }
extern "C" __global__ void gg_apply_gradient_descent_f16(gg_half* var, const gg_half* alpha, const gg_half* delta, long long n) { apply_gradient_descent<gg_half>(var, alpha, delta, n); }
extern "C" __global__ void gg_apply_gradient_descent_bf16(gg_bf16* var, const gg_bf16* alpha, const gg_bf16* delta, long long n) { apply_gradient_descent<gg_bf16>(var, alpha, delta, n); }
