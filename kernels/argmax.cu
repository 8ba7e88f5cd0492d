// ArgMax / ArgMin (reduction_ops._arg_kernel): the index of the largest (smallest) value, the
// first one among ties; NaNs are never selected (they count as -inf for ArgMax, +inf for ArgMin,
// so an all-NaN row gives index 0, like the NumPy kernel).
//
// gg_argmax_<t>: along the last axis of x viewed as [rows, cols] — blockDim.x threads per row,
//   blockDim.y rows per block (common.cuh), (value, index) pairs reduced with warp shuffles.
// gg_argmax_inner_<t>: along the middle axis of x viewed as [outer, len, inner] (any other axis):
//   one thread per (outer, inner) output walking the axis; consecutive threads read consecutive
//   addresses. 1-D grid-stride launch, 256 threads per block.
// is_min selects ArgMin. The output is written as out_bits-bit integers (16, 32 or 64: the op's
// output_type int16/uint16, int32 or int64).
#include "common.cuh"

template <typename T> struct arg_traits { typedef typename gg_acc<T>::type A; };  // float types
template <> struct arg_traits<int> { typedef long long A; };
template <> struct arg_traits<long long> { typedef long long A; };
template <> struct arg_traits<unsigned char> { typedef long long A; };

template <typename A> struct ArgPair {
  A v;
  long long i;
};

// Is candidate (v, i) better than the current best (bv, bi)?
template <typename A>
__device__ __forceinline__ bool arg_better(A v, long long i, A bv, long long bi, bool is_min) {
  return is_min ? (v < bv || (v == bv && i < bi)) : (v > bv || (v == bv && i < bi));
}

template <typename A> struct ArgOp {
  bool is_min;
  __device__ __forceinline__ ArgPair<A> identity() const {
    ArgPair<A> p;
    p.v = is_min ? gg_limits<A>::highest() : gg_limits<A>::lowest();
    p.i = 0x7fffffffffffffffll;  // loses every tie
    return p;
  }
  __device__ __forceinline__ ArgPair<A> operator()(const ArgPair<A>& a, const ArgPair<A>& b) const {
    return arg_better(b.v, b.i, a.v, a.i, is_min) ? b : a;
  }
};

template <typename T>
__device__ __forceinline__ typename arg_traits<T>::A arg_value(T raw, bool is_min) {
  typedef typename arg_traits<T>::A A;
  const A v = (A)gg_load<T>(raw);
  if (gg_isnan(v)) return is_min ? gg_limits<A>::highest() : gg_limits<A>::lowest();
  return v;
}

__device__ __forceinline__ void arg_store(void* out, long long k, long long value, int out_bits) {
  if (out_bits == 64) reinterpret_cast<long long*>(out)[k] = value;
  else if (out_bits == 32) reinterpret_cast<int*>(out)[k] = (int)value;
  else reinterpret_cast<short*>(out)[k] = (short)value;
}

template <typename T>
__device__ __forceinline__ void argmax_rows(const T* __restrict__ x, void* __restrict__ out, long long rows, long long cols,
                                            int is_min, int out_bits) {
  typedef typename arg_traits<T>::A A;
  __shared__ ArgPair<A> scratch[32];
  const ArgOp<A> op = {is_min != 0};
  const long long step = (long long)gridDim.x * blockDim.y;
  for (long long base = (long long)blockIdx.x * blockDim.y; base < rows; base += step) {
    const long long row = base + threadIdx.y;
    ArgPair<A> best = op.identity();
    if (row < rows) {
      const T* xr = x + row * cols;
      for (long long j = threadIdx.x; j < cols; j += blockDim.x) {
        const A v = arg_value<T>(xr[j], op.is_min);
        if (arg_better(v, j, best.v, best.i, op.is_min)) { best.v = v; best.i = j; }
      }
    }
    best = gg_group_reduce(best, scratch, op);
    if (row < rows && threadIdx.x == 0) arg_store(out, row, best.i, out_bits);
  }
}

template <typename T>
__device__ __forceinline__ void argmax_inner(const T* __restrict__ x, void* __restrict__ out, long long outer, long long len,
                                             long long inner, int is_min, int out_bits) {
  typedef typename arg_traits<T>::A A;
  const bool mn = is_min != 0;
  const long long total = outer * inner;
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += stride) {
    const long long o = e / inner, i = e - o * inner;
    const T* col = x + o * len * inner + i;
    A best = arg_value<T>(col[0], mn);
    long long bi = 0;
    for (long long k = 1; k < len; ++k) {
      const A v = arg_value<T>(col[k * inner], mn);
      if (mn ? v < best : v > best) { best = v; bi = k; }  // strict: the first index wins ties
    }
    arg_store(out, e, bi, out_bits);
  }
}

extern "C" __global__ void __launch_bounds__(1024) gg_argmax_f32(const float* x, void* out, long long rows, long long cols, int is_min, int out_bits) { argmax_rows<float>(x, out, rows, cols, is_min, out_bits); }
extern "C" __global__ void __launch_bounds__(1024) gg_argmax_f64(const double* x, void* out, long long rows, long long cols, int is_min, int out_bits) { argmax_rows<double>(x, out, rows, cols, is_min, out_bits); }
extern "C" __global__ void __launch_bounds__(1024) gg_argmax_f16(const gg_half* x, void* out, long long rows, long long cols, int is_min, int out_bits) { argmax_rows<gg_half>(x, out, rows, cols, is_min, out_bits); }
extern "C" __global__ void __launch_bounds__(1024) gg_argmax_bf16(const gg_bf16* x, void* out, long long rows, long long cols, int is_min, int out_bits) { argmax_rows<gg_bf16>(x, out, rows, cols, is_min, out_bits); }
extern "C" __global__ void __launch_bounds__(1024) gg_argmax_i32(const int* x, void* out, long long rows, long long cols, int is_min, int out_bits) { argmax_rows<int>(x, out, rows, cols, is_min, out_bits); }
extern "C" __global__ void __launch_bounds__(1024) gg_argmax_i64(const long long* x, void* out, long long rows, long long cols, int is_min, int out_bits) { argmax_rows<long long>(x, out, rows, cols, is_min, out_bits); }
extern "C" __global__ void __launch_bounds__(1024) gg_argmax_u8(const unsigned char* x, void* out, long long rows, long long cols, int is_min, int out_bits) { argmax_rows<unsigned char>(x, out, rows, cols, is_min, out_bits); }

extern "C" __global__ void gg_argmax_inner_f32(const float* x, void* out, long long outer, long long len, long long inner, int is_min, int out_bits) { argmax_inner<float>(x, out, outer, len, inner, is_min, out_bits); }
extern "C" __global__ void gg_argmax_inner_f64(const double* x, void* out, long long outer, long long len, long long inner, int is_min, int out_bits) { argmax_inner<double>(x, out, outer, len, inner, is_min, out_bits); }
extern "C" __global__ void gg_argmax_inner_f16(const gg_half* x, void* out, long long outer, long long len, long long inner, int is_min, int out_bits) { argmax_inner<gg_half>(x, out, outer, len, inner, is_min, out_bits); }
extern "C" __global__ void gg_argmax_inner_bf16(const gg_bf16* x, void* out, long long outer, long long len, long long inner, int is_min, int out_bits) { argmax_inner<gg_bf16>(x, out, outer, len, inner, is_min, out_bits); }
extern "C" __global__ void gg_argmax_inner_i32(const int* x, void* out, long long outer, long long len, long long inner, int is_min, int out_bits) { argmax_inner<int>(x, out, outer, len, inner, is_min, out_bits); }
extern "C" __global__ void gg_argmax_inner_i64(const long long* x, void* out, long long outer, long long len, long long inner, int is_min, int out_bits) { argmax_inner<long long>(x, out, outer, len, inner, is_min, out_bits); }
extern "C" __global__ void gg_argmax_inner_u8(const unsigned char* x, void* out, long long outer, long long len, long long inner, int is_min, int out_bits) { argmax_inner<unsigned char>(x, out, outer, len, inner, is_min, out_bits); }
