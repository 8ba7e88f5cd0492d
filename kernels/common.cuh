// Shared building blocks of gpugraph's CUDA kernels.
//
// Every kernel file includes this header. It needs no CUDA toolkit headers (NVRTC from the
// `nvidia-cuda-nvrtc` wheel ships none), so 16-bit floats are our own storage structs converted
// with PTX instructions, and limits/bit casts are spelled out here. The same sources also compile
// as C++ on the CPU against gpugraph/runtime/cuda/cpu_emulation/cuda_emulation.h, which defines
// GPUGRAPH_CPU_EMULATION; the few device-only spellings (inline PTX, dynamic shared memory) have
// an emulation branch below and nowhere else.
//
// Launch contracts shared by the "group per row" kernels (softmax, reduce, layernorm, argmax,
// xent): blockDim.x threads cooperate on one row and blockDim.y rows are handled per block;
// blockDim.x must be a power of two <= 32 or a multiple of 32 (one warp per row for short rows,
// a whole block per row for long ones).
#ifndef GPUGRAPH_KERNELS_COMMON_CUH
#define GPUGRAPH_KERNELS_COMMON_CUH

// -- 16-bit float storage types ------------------------------------------------------------------
// Plain structs (trivially copyable, 2-byte aligned) with the IEEE half / bfloat16 bit layouts of
// numpy.float16 and ml_dtypes.bfloat16, so device buffers are shared with NumPy/CuPy unchanged.
struct __align__(2) gg_half { unsigned short bits; };
struct __align__(2) gg_bf16 { unsigned short bits; };
// A 16-byte element for gathers of complex128 and other 16-byte types.
struct __align__(16) gg_b128 { unsigned long long lo, hi; };

__device__ __forceinline__ float gg_bits_to_float(unsigned u) {
  return __uint_as_float(u);
}

#if defined(GPUGRAPH_CPU_EMULATION)
__device__ __forceinline__ float gg_half_to_float(gg_half h) { return gg_emu::half_to_float(h.bits); }
__device__ __forceinline__ gg_half gg_float_to_half(float f) {
  gg_half h; h.bits = gg_emu::float_to_half(f); return h;
}
#else
__device__ __forceinline__ float gg_half_to_float(gg_half h) {
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h.bits));
  return f;
}
__device__ __forceinline__ gg_half gg_float_to_half(float f) {
  gg_half h;
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h.bits) : "f"(f));  // round to nearest even, like NumPy
  return h;
}
#endif

__device__ __forceinline__ float gg_bf16_to_float(gg_bf16 b) {
  return __uint_as_float(((unsigned)b.bits) << 16);
}
// Round to nearest even with NaNs kept quiet: ml_dtypes' float32 -> bfloat16 conversion. Written
// with integer ops so it also runs on sm_75 (no cvt.rn.bf16.f32 before sm_80).
__device__ __forceinline__ gg_bf16 gg_float_to_bf16(float f) {
  unsigned u = __float_as_uint(f);
  gg_bf16 b;
  if ((u & 0x7fffffffu) > 0x7f800000u) {
    b.bits = (unsigned short)((u >> 16) | 0x40u);
  } else {
    u += 0x7fffu + ((u >> 16) & 1u);
    b.bits = (unsigned short)(u >> 16);
  }
  return b;
}

// -- compute ("accumulation") types and conversions ---------------------------------------------
// 16-bit floats compute in float32 and are rounded once when stored, as TensorFlow's Eigen
// kernels and gpugraph's NumPy kernels do; every other type computes as itself.
template <typename T> struct gg_acc { typedef T type; };
template <> struct gg_acc<gg_half> { typedef float type; };
template <> struct gg_acc<gg_bf16> { typedef float type; };

template <typename T> struct gg_cvt {
  typedef typename gg_acc<T>::type A;
  static __device__ __forceinline__ A load(T v) { return v; }
  template <typename V> static __device__ __forceinline__ T store(V v) { return (T)v; }
};
template <> struct gg_cvt<gg_half> {
  static __device__ __forceinline__ float load(gg_half v) { return gg_half_to_float(v); }
  template <typename V> static __device__ __forceinline__ gg_half store(V v) { return gg_float_to_half((float)v); }
};
template <> struct gg_cvt<gg_bf16> {
  static __device__ __forceinline__ float load(gg_bf16 v) { return gg_bf16_to_float(v); }
  template <typename V> static __device__ __forceinline__ gg_bf16 store(V v) { return gg_float_to_bf16((float)v); }
};

template <typename T> __device__ __forceinline__ typename gg_acc<T>::type gg_load(T v) {
  return gg_cvt<T>::load(v);
}
template <typename T, typename V> __device__ __forceinline__ T gg_store(V v) {
  return gg_cvt<T>::template store<V>(v);
}
// The value a T-typed intermediate would hold: rounds to T and back (a no-op for float/double).
// Fused kernels use it so a chain of ops rounds exactly where the unfused graph rounds.
template <typename T> __device__ __forceinline__ typename gg_acc<T>::type gg_round(typename gg_acc<T>::type v) {
  return gg_load<T>(gg_store<T>(v));
}

// -- limits ------------------------------------------------------------------------------------------
__device__ __forceinline__ float gg_inf_f() { return __uint_as_float(0x7f800000u); }
__device__ __forceinline__ float gg_nan_f() { return __uint_as_float(0x7fc00000u); }
__device__ __forceinline__ double gg_inf_d() { return __longlong_as_double(0x7ff0000000000000ll); }
__device__ __forceinline__ double gg_nan_d() { return __longlong_as_double(0x7ff8000000000000ll); }

template <typename A> struct gg_limits;
template <> struct gg_limits<float> {
  static __device__ __forceinline__ float lowest() { return -gg_inf_f(); }
  static __device__ __forceinline__ float highest() { return gg_inf_f(); }
  static __device__ __forceinline__ float nan() { return gg_nan_f(); }
};
template <> struct gg_limits<double> {
  static __device__ __forceinline__ double lowest() { return -gg_inf_d(); }
  static __device__ __forceinline__ double highest() { return gg_inf_d(); }
  static __device__ __forceinline__ double nan() { return gg_nan_d(); }
};
template <> struct gg_limits<int> {
  static __device__ __forceinline__ int lowest() { return (int)0x80000000u; }
  static __device__ __forceinline__ int highest() { return 0x7fffffff; }
  static __device__ __forceinline__ int nan() { return 0; }
};
template <> struct gg_limits<long long> {
  static __device__ __forceinline__ long long lowest() { return (long long)0x8000000000000000ull; }
  static __device__ __forceinline__ long long highest() { return 0x7fffffffffffffffll; }
  static __device__ __forceinline__ long long nan() { return 0; }
};
template <> struct gg_limits<unsigned> {
  static __device__ __forceinline__ unsigned lowest() { return 0u; }
  static __device__ __forceinline__ unsigned highest() { return 0xffffffffu; }
  static __device__ __forceinline__ unsigned nan() { return 0u; }
};
template <> struct gg_limits<unsigned long long> {
  static __device__ __forceinline__ unsigned long long lowest() { return 0ull; }
  static __device__ __forceinline__ unsigned long long highest() { return ~0ull; }
  static __device__ __forceinline__ unsigned long long nan() { return 0ull; }
};

// x != x is the portable NaN test (integers are never NaN).
template <typename A> __device__ __forceinline__ bool gg_isnan(A x) { return x != x; }

// NumPy's maximum/minimum: a NaN in either operand wins.
template <typename A> __device__ __forceinline__ A gg_max(A a, A b) { return (gg_isnan(a) || a > b) ? a : b; }
template <typename A> __device__ __forceinline__ A gg_min(A a, A b) { return (gg_isnan(a) || a < b) ? a : b; }
// Plain min/max for indices and sizes.
template <typename I> __device__ __forceinline__ I gg_imin(I a, I b) { return a < b ? a : b; }
template <typename I> __device__ __forceinline__ I gg_imax(I a, I b) { return a > b ? a : b; }

// -- reduction operators -------------------------------------------------------------------------
// Codes shared with gpugraph/runtime/cuda/kernel_loader.py (REDUCE_OPS); a test checks they agree.
#define GG_REDUCE_SUM 0
#define GG_REDUCE_MEAN 1
#define GG_REDUCE_MAX 2
#define GG_REDUCE_MIN 3
#define GG_REDUCE_PROD 4

template <typename A> struct gg_sum_op {
  __device__ __forceinline__ A identity() const { return (A)0; }
  __device__ __forceinline__ A operator()(A a, A b) const { return a + b; }
};
template <typename A> struct gg_prod_op {
  __device__ __forceinline__ A identity() const { return (A)1; }
  __device__ __forceinline__ A operator()(A a, A b) const { return a * b; }
};
template <typename A> struct gg_max_op {
  __device__ __forceinline__ A identity() const { return gg_limits<A>::lowest(); }
  __device__ __forceinline__ A operator()(A a, A b) const { return gg_max(a, b); }
};
template <typename A> struct gg_min_op {
  __device__ __forceinline__ A identity() const { return gg_limits<A>::highest(); }
  __device__ __forceinline__ A operator()(A a, A b) const { return gg_min(a, b); }
};

// -- thread geometry and warp collectives --------------------------------------------------------
__device__ __forceinline__ unsigned gg_linear_tid() {
  return (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
}
// The lanes of this thread's warp that exist: the last warp of a block whose size is not a
// multiple of 32 is partial, and a shuffle's mask must name exactly the participating lanes.
__device__ __forceinline__ unsigned gg_warp_mask() {
  unsigned nthreads = blockDim.x * blockDim.y * blockDim.z;
  unsigned base = gg_linear_tid() & ~31u;
  unsigned n = nthreads - base;
  return n >= 32u ? 0xffffffffu : ((1u << n) - 1u);
}

// Shuffles any trivially copyable value of 4-byte multiple size (float, double, int64, pairs) as
// 32-bit words: one code path for every element type and for (value, index) pairs.
template <typename V> __device__ __forceinline__ V gg_shfl_xor(unsigned mask, V v, int lane_mask, int width) {
  union U { V v; int w[(sizeof(V) + 3) / 4]; } u;
  u.v = v;
#pragma unroll
  for (int i = 0; i < (int)((sizeof(V) + 3) / 4); ++i) u.w[i] = __shfl_xor_sync(mask, u.w[i], lane_mask, width);
  return u.v;
}

// Reduces v over the blockDim.x threads of each row group (threadIdx.y); every thread of the
// group gets the result. All threads of the block must call it (it has __syncthreads when a row
// group spans several warps). `scratch` is __shared__ storage of at least 32 values.
template <typename V, typename Op>
__device__ __forceinline__ V gg_group_reduce(V v, V* scratch, const Op& op) {
  const unsigned mask = gg_warp_mask();
  const int width = blockDim.x < 32u ? (int)blockDim.x : 32;
  for (int offset = width >> 1; offset > 0; offset >>= 1) v = op(v, gg_shfl_xor(mask, v, offset, width));
  if (blockDim.x <= 32u) return v;
  // Several warps per row: combine the per-warp results through shared memory.
  const unsigned warps = blockDim.x >> 5;
  const unsigned warp = threadIdx.x >> 5, lane = threadIdx.x & 31u;
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[threadIdx.y * warps + warp] = v;
  __syncthreads();
  V w = lane < warps ? scratch[threadIdx.y * warps + lane] : op.identity();
  for (int offset = 16; offset > 0; offset >>= 1) w = op(w, gg_shfl_xor(0xffffffffu, w, offset, 32));
  return w;
}

// Dynamic shared memory (the size given at launch), aligned for any element type.
#if defined(GPUGRAPH_CPU_EMULATION)
#define GG_DYNAMIC_SHARED(T, name) T* name = reinterpret_cast<T*>(gg_emu::dynamic_shared())
#else
#define GG_DYNAMIC_SHARED(T, name) \
  extern __shared__ __align__(16) unsigned char gg_dynamic_smem_[]; \
  T* name = reinterpret_cast<T*>(gg_dynamic_smem_)
#endif

// -- vector (16-byte) memory access ---------------------------------------------------------------
// A pack of N elements loaded/stored with one wide instruction when the address is aligned.
template <typename T, int N> struct __align__(sizeof(T) * N) gg_pack { T v[N]; };

template <typename T> __device__ __forceinline__ bool gg_aligned(const T* p, unsigned bytes) {
  return ((unsigned long long)p & (unsigned long long)(bytes - 1)) == 0ull;
}

#endif  // GPUGRAPH_KERNELS_COMMON_CUH
