// GatherV2 (slicing_ops._gather_kernel): out[b, o, j, i] = params[b, o, indices[b, j], i] with
//   params  viewed as [batch, outer, axis_len, inner]  (batch = the batch_dims axes, outer = the
//           axes between them and `axis`, inner = the axes after `axis`)
//   indices viewed as [batch, n_idx]
//   out     shaped    [batch, outer, n_idx, inner]
// batch = 1 for batch_dims = 0. Gathering moves elements, so one kernel per element size serves
// every dtype: b8 (bool, int8, uint8), b16, b32, b64, b128 (complex128); indices int32 or int64.
//
// Out-of-range indices: TensorFlow's CPU kernel (and gpugraph's NumPy kernel) fail with
// "indices[pos] = v is not in [0, axis_len)". The kernel writes zeros for such elements and
// records the smallest flat position (b * n_idx + j) of a bad index in *bad with atomicMin; the
// caller initialises *bad to ULLONG_MAX (all ones) and raises the same error when it changed.
//
// One thread per output element, consecutive threads along `inner` (coalesced copies); 32-bit
// index math when the sizes allow. Launch: 1-D grid-stride, 256 threads per block.
#include "common.cuh"

template <typename T, typename Idx, typename I>
__device__ __forceinline__ void gather(const T* __restrict__ params, const Idx* __restrict__ indices, T* __restrict__ out,
                                       I outer, I axis_len, I inner, I n_idx, I total,
                                       unsigned long long* __restrict__ bad) {
  const I stride = (I)gridDim.x * blockDim.x;
  for (I e = (I)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += stride) {
    I t = e;
    const I i = t % inner; t /= inner;
    const I j = t % n_idx; t /= n_idx;  // t = b * outer + o
    const I b = t / outer;
    const I pos = b * n_idx + j;
    const long long idx = (long long)indices[pos];
    if (idx < 0 || idx >= (long long)axis_len) {
      out[e] = T();
      atomicMin(bad, (unsigned long long)pos);
    } else {
      out[e] = params[(t * axis_len + (I)idx) * inner + i];
    }
  }
}

template <typename T, typename Idx>
__device__ __forceinline__ void gather_entry(const T* params, const Idx* indices, T* out, long long batch, long long outer,
                                             long long axis_len, long long inner, long long n_idx,
                                             unsigned long long* bad) {
  const long long total = batch * outer * n_idx * inner;
  if (total + (long long)gridDim.x * blockDim.x < 0x7fffffffll && batch * outer * axis_len * inner < 0x7fffffffll) {
    typedef unsigned U;
    gather<T, Idx, U>(params, indices, out, (U)outer, (U)axis_len, (U)inner, (U)n_idx, (U)total, bad);
  } else {
    typedef unsigned long long U;
    gather<T, Idx, U>(params, indices, out, (U)outer, (U)axis_len, (U)inner, (U)n_idx, (U)total, bad);
  }
}

extern "C" __global__ void gg_gather_b8_i32(const unsigned char* params, const int* indices, unsigned char* out, long long batch, long long outer, long long axis_len, long long inner, long long n_idx, unsigned long long* bad) { gather_entry<unsigned char, int>(params, indices, out, batch, outer, axis_len, inner, n_idx, bad); }
extern "C" __global__ void gg_gather_b16_i32(const unsigned short* params, const int* indices, unsigned short* out, long long batch, long long outer, long long axis_len, long long inner, long long n_idx, unsigned long long* bad) { gather_entry<unsigned short, int>(params, indices, out, batch, outer, axis_len, inner, n_idx, bad); }
extern "C" __global__ void gg_gather_b32_i32(const unsigned* params, const int* indices, unsigned* out, long long batch, long long outer, long long axis_len, long long inner, long long n_idx, unsigned long long* bad) { gather_entry<unsigned, int>(params, indices, out, batch, outer, axis_len, inner, n_idx, bad); }
extern "C" __global__ void gg_gather_b64_i32(const unsigned long long* params, const int* indices, unsigned long long* out, long long batch, long long outer, long long axis_len, long long inner, long long n_idx, unsigned long long* bad) { gather_entry<unsigned long long, int>(params, indices, out, batch, outer, axis_len, inner, n_idx, bad); }
extern "C" __global__ void gg_gather_b128_i32(const gg_b128* params, const int* indices, gg_b128* out, long long batch, long long outer, long long axis_len, long long inner, long long n_idx, unsigned long long* bad) { gather_entry<gg_b128, int>(params, indices, out, batch, outer, axis_len, inner, n_idx, bad); }

extern "C" __global__ void gg_gather_b8_i64(const unsigned char* params, const long long* indices, unsigned char* out, long long batch, long long outer, long long axis_len, long long inner, long long n_idx, unsigned long long* bad) { gather_entry<unsigned char, long long>(params, indices, out, batch, outer, axis_len, inner, n_idx, bad); }
extern "C" __global__ void gg_gather_b16_i64(const unsigned short* params, const long long* indices, unsigned short* out, long long batch, long long outer, long long axis_len, long long inner, long long n_idx, unsigned long long* bad) { gather_entry<unsigned short, long long>(params, indices, out, batch, outer, axis_len, inner, n_idx, bad); }
extern "C" __global__ void gg_gather_b32_i64(const unsigned* params, const long long* indices, unsigned* out, long long batch, long long outer, long long axis_len, long long inner, long long n_idx, unsigned long long* bad) { gather_entry<unsigned, long long>(params, indices, out, batch, outer, axis_len, inner, n_idx, bad); }
extern "C" __global__ void gg_gather_b64_i64(const unsigned long long* params, const long long* indices, unsigned long long* out, long long batch, long long outer, long long axis_len, long long inner, long long n_idx, unsigned long long* bad) { gather_entry<unsigned long long, long long>(params, indices, out, batch, outer, axis_len, inner, n_idx, bad); }
extern "C" __global__ void gg_gather_b128_i64(const gg_b128* params, const long long* indices, gg_b128* out, long long batch, long long outer, long long axis_len, long long inner, long long n_idx, unsigned long long* bad) { gather_entry<gg_b128, long long>(params, indices, out, batch, outer, axis_len, inner, n_idx, bad); }
