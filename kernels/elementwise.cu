// Generic elementwise kernels: one unary and one broadcasting binary kernel per float type, the op
// chosen by a runtime code (a uniform branch per element; these kernels are bound by memory).
// Chains of elementwise ops should instead be fused into one generated kernel: see
// gpugraph/runtime/cuda/fusion.py, which builds on the same skeleton (elementwise.cuh).
//
// Launch: any 1-D grid and block (grid-stride loops); 256 threads and enough blocks to fill the
// GPU (e.g. 4 per SM) are a good default.
#include "elementwise.cuh"

// Unary op codes (kernel_loader.UNARY_OPS).
#define GG_UNARY_NEG 0
#define GG_UNARY_ABS 1
#define GG_UNARY_SQUARE 2
#define GG_UNARY_SQRT 3
#define GG_UNARY_RSQRT 4
#define GG_UNARY_EXP 5
#define GG_UNARY_LOG 6
#define GG_UNARY_LOG1P 7
#define GG_UNARY_TANH 8
#define GG_UNARY_SIGMOID 9
#define GG_UNARY_RELU 10
#define GG_UNARY_RELU6 11
#define GG_UNARY_ELU 12
#define GG_UNARY_SELU 13
#define GG_UNARY_SOFTPLUS 14
#define GG_UNARY_LEAKY_RELU 15

// Binary op codes (kernel_loader.BINARY_OPS) and broadcast kinds of the second operand
// (kernel_loader.BROADCAST_KINDS).
#define GG_BINARY_ADD 0
#define GG_BINARY_SUB 1
#define GG_BINARY_MUL 2
#define GG_BINARY_DIV 3
#define GG_BINARY_MAXIMUM 4
#define GG_BINARY_MINIMUM 5
#define GG_BINARY_SQUARED_DIFFERENCE 6

#define GG_BCAST_FULL 0
#define GG_BCAST_SCALAR 1
#define GG_BCAST_ROW 2
#define GG_BCAST_COL 3

template <typename A> struct UnaryBody {
  int op;
  A alpha;
  __device__ __forceinline__ A operator()(A x) const {
    switch (op) {
      case GG_UNARY_NEG: return -x;
      case GG_UNARY_ABS: return gg_abs(x);
      case GG_UNARY_SQUARE: return x * x;
      case GG_UNARY_SQRT: return gg_sqrt(x);
      case GG_UNARY_RSQRT: return gg_rsqrt(x);
      case GG_UNARY_EXP: return gg_exp(x);
      case GG_UNARY_LOG: return gg_log(x);
      case GG_UNARY_LOG1P: return gg_log1p(x);
      case GG_UNARY_TANH: return gg_tanh(x);
      case GG_UNARY_SIGMOID: return gg_sigmoid(x);
      case GG_UNARY_RELU: return gg_relu(x);
      case GG_UNARY_RELU6: return gg_relu6(x);
      case GG_UNARY_ELU: return gg_elu(x);
      case GG_UNARY_SELU: return gg_selu(x);
      case GG_UNARY_SOFTPLUS: return gg_softplus(x);
      case GG_UNARY_LEAKY_RELU: return gg_leaky_relu(x, alpha);
      default: return x;
    }
  }
};

template <typename A> struct BinaryBody {
  int op;
  __device__ __forceinline__ A operator()(A a, A b) const {
    switch (op) {
      case GG_BINARY_ADD: return a + b;
      case GG_BINARY_SUB: return a - b;
      case GG_BINARY_MUL: return a * b;
      case GG_BINARY_DIV: return a / b;
      case GG_BINARY_MAXIMUM: return gg_maximum(a, b);
      case GG_BINARY_MINIMUM: return gg_minimum(a, b);
      case GG_BINARY_SQUARED_DIFFERENCE: return gg_squared_difference(a, b);
      default: return a;
    }
  }
};

template <typename T>
__device__ __forceinline__ void unary(int op, const T* __restrict__ x, T* __restrict__ y, long long n, double alpha) {
  typedef typename gg_acc<T>::type A;
  UnaryBody<A> body = {op, (A)alpha};  // LeakyRelu's alpha in the compute type, as nn_ops does
  // Full operands ignore `cols`; a multiple of the vector width lets aligned buffers take the
  // 16-byte vector path (cols = 1 would rule it out).
  gg_ew::run(y, n, gg_ew::V, body, gg_ew::Full<T>{x});
}

// y = a (op) b, `a` shaped like y and `b` broadcast as `b_kind` against y viewed as [n / cols, cols].
// `cols` only matters for row and column operands (any value will do for full and scalar ones).
template <typename T>
__device__ __forceinline__ void binary(int op, const T* __restrict__ a, const T* __restrict__ b, int b_kind,
                                       T* __restrict__ y, long long n, long long cols) {
  typedef typename gg_acc<T>::type A;
  BinaryBody<A> body = {op};
  // Full and scalar operands ignore cols: a multiple of the vector width keeps the vector path open.
  const long long any_cols = gg_ew::V;
  switch (b_kind) {
    case GG_BCAST_SCALAR: gg_ew::run(y, n, any_cols, body, gg_ew::Full<T>{a}, gg_ew::Scalar<T>{b}); break;
    case GG_BCAST_ROW: gg_ew::run(y, n, cols, body, gg_ew::Full<T>{a}, gg_ew::Row<T>{b}); break;
    case GG_BCAST_COL: gg_ew::run(y, n, cols, body, gg_ew::Full<T>{a}, gg_ew::Col<T>{b}); break;
    default: gg_ew::run(y, n, any_cols, body, gg_ew::Full<T>{a}, gg_ew::Full<T>{b}); break;
  }
}

extern "C" __global__ void gg_ew_unary_f32(int op, const float* x, float* y, long long n, double alpha) { unary<float>(op, x, y, n, alpha); }
extern "C" __global__ void gg_ew_unary_f64(int op, const double* x, double* y, long long n, double alpha) { unary<double>(op, x, y, n, alpha); }
extern "C" __global__ void gg_ew_unary_f16(int op, const gg_half* x, gg_half* y, long long n, double alpha) { unary<gg_half>(op, x, y, n, alpha); }
extern "C" __global__ void gg_ew_unary_bf16(int op, const gg_bf16* x, gg_bf16* y, long long n, double alpha) { unary<gg_bf16>(op, x, y, n, alpha); }

extern "C" __global__ void gg_ew_binary_f32(int op, const float* a, const float* b, int b_kind, float* y, long long n, long long cols) { binary<float>(op, a, b, b_kind, y, n, cols); }
extern "C" __global__ void gg_ew_binary_f64(int op, const double* a, const double* b, int b_kind, double* y, long long n, long long cols) { binary<double>(op, a, b, b_kind, y, n, cols); }
extern "C" __global__ void gg_ew_binary_f16(int op, const gg_half* a, const gg_half* b, int b_kind, gg_half* y, long long n, long long cols) { binary<gg_half>(op, a, b, b_kind, y, n, cols); }
extern "C" __global__ void gg_ew_binary_bf16(int op, const gg_bf16* a, const gg_bf16* b, int b_kind, gg_bf16* y, long long n, long long cols) { binary<gg_bf16>(op, a, b, b_kind, y, n, cols); }
