// MaxPool and AvgPool over H and W of NHWC tensors, with TensorFlow's padding rules
// (conv_ops._max_pool_kernel / _avg_pool_kernel):
//   * SAME pads max((out - 1) * stride + k - in, 0) in total, the odd element at the bottom/right,
//     so the caller passes the top/left padding (conv_ops._window) and the output size;
//     VALID is pad 0; EXPLICIT padding (MaxPool) is any top/left with the matching output size.
//   * MaxPool: padding never wins — a window's maximum is over its real elements (the type's
//     lowest value for a window with none); a NaN in the window gives NaN, like np.maximum.
//   * AvgPool: each window's sum divided by its count of real (unpadded) elements; sums in
//     float32 for 16-bit types, taps in (row, column) order.
// One thread per output element, threads along channels (coalesced). Launch: 1-D grid-stride,
// 256 threads per block.
#include "common.cuh"

template <typename T> struct pool_traits {  // float types: compute in gg_acc, pad with -inf
  typedef typename gg_acc<T>::type A;
  static __device__ __forceinline__ A lowest() { return gg_limits<A>::lowest(); }
};
template <> struct pool_traits<unsigned char> {
  typedef int A;
  static __device__ __forceinline__ int lowest() { return 0; }
};
template <> struct pool_traits<signed char> {
  typedef int A;
  static __device__ __forceinline__ int lowest() { return -128; }
};

template <typename T, typename I, bool MAX>
__device__ __forceinline__ void pool(const T* __restrict__ x, T* __restrict__ y, I n, I h, I w, I c, I kh, I kw, I sh, I sw,
                                     I pad_top, I pad_left, I oh, I ow) {
  typedef typename pool_traits<T>::A A;
  const I total = n * oh * ow * c;
  const I stride = (I)gridDim.x * blockDim.x;
  for (I e = (I)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += stride) {
    I t = e;
    const I ch = t % c; t /= c;
    const I ox = t % ow; t /= ow;
    const I oy = t % oh;
    const I b = t / oh;
    // Window bounds clipped to the image (signed: the window may start above/left of it).
    const long long h0 = (long long)(oy * sh) - (long long)pad_top, w0 = (long long)(ox * sw) - (long long)pad_left;
    const I hs = (I)gg_imax(h0, 0ll), he = (I)gg_imin(h0 + (long long)kh, (long long)h);
    const I ws = (I)gg_imax(w0, 0ll), we = (I)gg_imin(w0 + (long long)kw, (long long)w);
    const T* img = x + b * h * w * c + ch;
    A acc = MAX ? pool_traits<T>::lowest() : (A)0;
    for (I hi = hs; hi < he; ++hi)
      for (I wi = ws; wi < we; ++wi) {
        const A v = (A)gg_load<T>(img[(hi * w + wi) * c]);
        acc = MAX ? gg_max(acc, v) : acc + v;
      }
    if (!MAX) {
      const I count = (he > hs && we > ws) ? (he - hs) * (we - ws) : 0;
      acc = acc / (A)count;
    }
    y[e] = gg_store<T>(acc);
  }
}

template <typename T, bool MAX>
__device__ __forceinline__ void pool_entry(const T* x, T* y, long long n, long long h, long long w, long long c, long long kh,
                                           long long kw, long long sh, long long sw, long long pad_top, long long pad_left,
                                           long long oh, long long ow) {
  if (n * oh * ow * c + (long long)gridDim.x * blockDim.x < 0x7fffffffll && n * h * w * c < 0x7fffffffll) {
    typedef unsigned U;
    pool<T, U, MAX>(x, y, (U)n, (U)h, (U)w, (U)c, (U)kh, (U)kw, (U)sh, (U)sw, (U)pad_top, (U)pad_left, (U)oh, (U)ow);
  } else {
    typedef unsigned long long U;
    pool<T, U, MAX>(x, y, (U)n, (U)h, (U)w, (U)c, (U)kh, (U)kw, (U)sh, (U)sw, (U)pad_top, (U)pad_left, (U)oh, (U)ow);
  }
}

#define GG_POOL_PASS n, h, w, c, kh, kw, sh, sw, pad_top, pad_left, oh, ow

extern "C" __global__ void gg_max_pool_nhwc_f32(const float* x, float* y, long long n, long long h, long long w, long long c, long long kh, long long kw, long long sh, long long sw, long long pad_top, long long pad_left, long long oh, long long ow) { pool_entry<float, true>(x, y, GG_POOL_PASS); }
extern "C" __global__ void gg_max_pool_nhwc_f64(const double* x, double* y, long long n, long long h, long long w, long long c, long long kh, long long kw, long long sh, long long sw, long long pad_top, long long pad_left, long long oh, long long ow) { pool_entry<double, true>(x, y, GG_POOL_PASS); }
extern "C" __global__ void gg_max_pool_nhwc_f16(const gg_half* x, gg_half* y, long long n, long long h, long long w, long long c, long long kh, long long kw, long long sh, long long sw, long long pad_top, long long pad_left, long long oh, long long ow) { pool_entry<gg_half, true>(x, y, GG_POOL_PASS); }
extern "C" __global__ void gg_max_pool_nhwc_bf16(const gg_bf16* x, gg_bf16* y, long long n, long long h, long long w, long long c, long long kh, long long kw, long long sh, long long sw, long long pad_top, long long pad_left, long long oh, long long ow) { pool_entry<gg_bf16, true>(x, y, GG_POOL_PASS); }
extern "C" __global__ void gg_max_pool_nhwc_i32(const int* x, int* y, long long n, long long h, long long w, long long c, long long kh, long long kw, long long sh, long long sw, long long pad_top, long long pad_left, long long oh, long long ow) { pool_entry<int, true>(x, y, GG_POOL_PASS); }
extern "C" __global__ void gg_max_pool_nhwc_i64(const long long* x, long long* y, long long n, long long h, long long w, long long c, long long kh, long long kw, long long sh, long long sw, long long pad_top, long long pad_left, long long oh, long long ow) { pool_entry<long long, true>(x, y, GG_POOL_PASS); }
extern "C" __global__ void gg_max_pool_nhwc_u8(const unsigned char* x, unsigned char* y, long long n, long long h, long long w, long long c, long long kh, long long kw, long long sh, long long sw, long long pad_top, long long pad_left, long long oh, long long ow) { pool_entry<unsigned char, true>(x, y, GG_POOL_PASS); }
extern "C" __global__ void gg_max_pool_nhwc_i8(const signed char* x, signed char* y, long long n, long long h, long long w, long long c, long long kh, long long kw, long long sh, long long sw, long long pad_top, long long pad_left, long long oh, long long ow) { pool_entry<signed char, true>(x, y, GG_POOL_PASS); }

extern "C" __global__ void gg_avg_pool_nhwc_f32(const float* x, float* y, long long n, long long h, long long w, long long c, long long kh, long long kw, long long sh, long long sw, long long pad_top, long long pad_left, long long oh, long long ow) { pool_entry<float, false>(x, y, GG_POOL_PASS); }
extern "C" __global__ void gg_avg_pool_nhwc_f64(const double* x, double* y, long long n, long long h, long long w, long long c, long long kh, long long kw, long long sh, long long sw, long long pad_top, long long pad_left, long long oh, long long ow) { pool_entry<double, false>(x, y, GG_POOL_PASS); }
extern "C" __global__ void gg_avg_pool_nhwc_f16(const gg_half* x, gg_half* y, long long n, long long h, long long w, long long c, long long kh, long long kw, long long sh, long long sw, long long pad_top, long long pad_left, long long oh, long long ow) { pool_entry<gg_half, false>(x, y, GG_POOL_PASS); }
extern "C" __global__ void gg_avg_pool_nhwc_bf16(const gg_bf16* x, gg_bf16* y, long long n, long long h, long long w, long long c, long long kh, long long kw, long long sh, long long sw, long long pad_top, long long pad_left, long long oh, long long ow) { pool_entry<gg_bf16, false>(x, y, GG_POOL_PASS); }
