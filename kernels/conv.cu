// Convolution building blocks for NHWC tensors (conv_ops.py semantics, TF's padding).
//
// gg_im2col_nhwc_b<bits>: gathers the receptive field of every output pixel of images
// [n0, n0 + count) into one row of `cols`, shape [count * oh * ow, kh * kw * c] in (kh, kw, c)
// order — exactly the patch layout of conv_ops._conv2d_nhwc — so that a GEMM with the filter
// reshaped to [kh * kw * c, out_channels] (grouped: per channel group) gives the Conv2D output.
// Padded taps are zeros. It only moves elements, so one kernel per element size serves every
// dtype (b16: half/bfloat16, b32: float/int32, b64: double). `count` lets the caller bound the
// workspace by converting a batch in chunks. Threads run along c, so reads and writes coalesce.
//
// gg_depthwise_conv2d_nhwc_<t>: DepthwiseConv2dNative directly: out channel k * mult + q is input
// channel k convolved with filter[:, :, k, q] (filter [kh, kw, c, mult]); taps are accumulated in
// (i, j) order in float32 for 16-bit types, padded taps as zeros — the NumPy kernel's arithmetic.
//
// Geometry for both: input [n, h, w, c]; strides sh, sw; dilations dh, dw; pad_top/pad_left as
// computed by conv_ops._window (SAME puts the odd padding element at the bottom/right, so only
// the top/left amounts are needed); output size oh x ow.
// Launch: 1-D grid-stride, 256 threads per block.
#include "common.cuh"

template <typename T, typename I>
__device__ __forceinline__ void im2col(const T* __restrict__ x, T* __restrict__ cols, I n0, I count, I h, I w, I c,
                                       I kh, I kw, I sh, I sw, I dh, I dw, I pad_top, I pad_left, I oh, I ow) {
  const I k = kh * kw * c;
  const I total = count * oh * ow * k;
  const I stride = (I)gridDim.x * blockDim.x;
  for (I e = (I)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += stride) {
    I t = e;
    const I ci = t % c; t /= c;
    const I j = t % kw; t /= kw;
    const I i = t % kh; t /= kh;
    const I ox = t % ow; t /= ow;
    const I oy = t % oh;
    const I b = t / oh + n0;
    // Unsigned wrap-around makes "negative" coordinates huge, so one comparison checks both ends.
    const I hi = oy * sh + i * dh - pad_top;
    const I wi = ox * sw + j * dw - pad_left;
    T v;
    if (hi < h && wi < w) v = x[((b * h + hi) * w + wi) * c + ci];
    else v = T();  // all-zero bits: +0 for every numeric type
    cols[e] = v;
  }
}

template <typename T>
__device__ __forceinline__ void im2col_entry(const T* x, T* cols, long long n0, long long count, long long h, long long w,
                                             long long c, long long kh, long long kw, long long sh, long long sw,
                                             long long dh, long long dw, long long pad_top, long long pad_left,
                                             long long oh, long long ow) {
  const long long total = count * oh * ow * kh * kw * c;
  const long long in_total = (n0 + count) * h * w * c;
  if (total + (long long)gridDim.x * blockDim.x < 0x7fffffffll && in_total < 0x7fffffffll) {
    typedef unsigned U;
    im2col<T, U>(x, cols, (U)n0, (U)count, (U)h, (U)w, (U)c, (U)kh, (U)kw, (U)sh, (U)sw, (U)dh, (U)dw, (U)pad_top,
                 (U)pad_left, (U)oh, (U)ow);
  } else {
    typedef unsigned long long U;
    im2col<T, U>(x, cols, (U)n0, (U)count, (U)h, (U)w, (U)c, (U)kh, (U)kw, (U)sh, (U)sw, (U)dh, (U)dw, (U)pad_top,
                 (U)pad_left, (U)oh, (U)ow);
  }
}

template <typename T, typename I>
__device__ __forceinline__ void depthwise(const T* __restrict__ x, const T* __restrict__ f, T* __restrict__ y, I n, I h,
                                          I w, I c, I mult, I kh, I kw, I sh, I sw, I dh, I dw, I pad_top, I pad_left,
                                          I oh, I ow) {
  typedef typename gg_acc<T>::type A;
  const I oc_n = c * mult;
  const I total = n * oh * ow * oc_n;
  const I stride = (I)gridDim.x * blockDim.x;
  for (I e = (I)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += stride) {
    I t = e;
    const I oc = t % oc_n; t /= oc_n;
    const I ox = t % ow; t /= ow;
    const I oy = t % oh;
    const I b = t / oh;
    const I ch = oc / mult;
    A acc = (A)0;
    for (I i = 0; i < kh; ++i) {
      const I hi = oy * sh + i * dh - pad_top;
      for (I j = 0; j < kw; ++j) {
        const I wi = ox * sw + j * dw - pad_left;
        const A xv = (hi < h && wi < w) ? gg_load<T>(x[((b * h + hi) * w + wi) * c + ch]) : (A)0;
        acc += xv * gg_load<T>(f[(i * kw + j) * oc_n + oc]);
      }
    }
    y[e] = gg_store<T>(acc);
  }
}

template <typename T>
__device__ __forceinline__ void depthwise_entry(const T* x, const T* f, T* y, long long n, long long h, long long w,
                                                long long c, long long mult, long long kh, long long kw, long long sh,
                                                long long sw, long long dh, long long dw, long long pad_top,
                                                long long pad_left, long long oh, long long ow) {
  const long long total = n * oh * ow * c * mult;
  if (total + (long long)gridDim.x * blockDim.x < 0x7fffffffll && n * h * w * c < 0x7fffffffll) {
    typedef unsigned U;
    depthwise<T, U>(x, f, y, (U)n, (U)h, (U)w, (U)c, (U)mult, (U)kh, (U)kw, (U)sh, (U)sw, (U)dh, (U)dw, (U)pad_top,
                    (U)pad_left, (U)oh, (U)ow);
  } else {
    typedef unsigned long long U;
    depthwise<T, U>(x, f, y, (U)n, (U)h, (U)w, (U)c, (U)mult, (U)kh, (U)kw, (U)sh, (U)sw, (U)dh, (U)dw, (U)pad_top,
                    (U)pad_left, (U)oh, (U)ow);
  }
}

extern "C" __global__ void gg_im2col_nhwc_b16(const unsigned short* x, unsigned short* cols, long long n0, long long count, long long h, long long w, long long c, long long kh, long long kw, long long sh, long long sw, long long dh, long long dw, long long pad_top, long long pad_left, long long oh, long long ow) { im2col_entry<unsigned short>(x, cols, n0, count, h, w, c, kh, kw, sh, sw, dh, dw, pad_top, pad_left, oh, ow); }
extern "C" __global__ void gg_im2col_nhwc_b32(const unsigned* x, unsigned* cols, long long n0, long long count, long long h, long long w, long long c, long long kh, long long kw, long long sh, long long sw, long long dh, long long dw, long long pad_top, long long pad_left, long long oh, long long ow) { im2col_entry<unsigned>(x, cols, n0, count, h, w, c, kh, kw, sh, sw, dh, dw, pad_top, pad_left, oh, ow); }
extern "C" __global__ void gg_im2col_nhwc_b64(const unsigned long long* x, unsigned long long* cols, long long n0, long long count, long long h, long long w, long long c, long long kh, long long kw, long long sh, long long sw, long long dh, long long dw, long long pad_top, long long pad_left, long long oh, long long ow) { im2col_entry<unsigned long long>(x, cols, n0, count, h, w, c, kh, kw, sh, sw, dh, dw, pad_top, pad_left, oh, ow); }

extern "C" __global__ void gg_depthwise_conv2d_nhwc_f32(const float* x, const float* filter, float* y, long long n, long long h, long long w, long long c, long long mult, long long kh, long long kw, long long sh, long long sw, long long dh, long long dw, long long pad_top, long long pad_left, long long oh, long long ow) { depthwise_entry<float>(x, filter, y, n, h, w, c, mult, kh, kw, sh, sw, dh, dw, pad_top, pad_left, oh, ow); }
extern "C" __global__ void gg_depthwise_conv2d_nhwc_f64(const double* x, const double* filter, double* y, long long n, long long h, long long w, long long c, long long mult, long long kh, long long kw, long long sh, long long sw, long long dh, long long dw, long long pad_top, long long pad_left, long long oh, long long ow) { depthwise_entry<double>(x, filter, y, n, h, w, c, mult, kh, kw, sh, sw, dh, dw, pad_top, pad_left, oh, ow); }
extern "C" __global__ void gg_depthwise_conv2d_nhwc_f16(const gg_half* x, const gg_half* filter, gg_half* y, long long n, long long h, long long w, long long c, long long mult, long long kh, long long kw, long long sh, long long sw, long long dh, long long dw, long long pad_top, long long pad_left, long long oh, long long ow) { depthwise_entry<gg_half>(x, filter, y, n, h, w, c, mult, kh, kw, sh, sw, dh, dw, pad_top, pad_left, oh, ow); }
extern "C" __global__ void gg_depthwise_conv2d_nhwc_bf16(const gg_bf16* x, const gg_bf16* filter, gg_bf16* y, long long n, long long h, long long w, long long c, long long mult, long long kh, long long kw, long long sh, long long sw, long long dh, long long dw, long long pad_top, long long pad_left, long long oh, long long ow) { depthwise_entry<gg_bf16>(x, filter, y, n, h, w, c, mult, kh, kw, sh, sw, dh, dw, pad_top, pad_left, oh, ow); }
