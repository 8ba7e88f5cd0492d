// Emulates the CUDA programming model on the CPU, so gpugraph's kernels/*.cu compile as plain C++
// (g++ -std=c++17 -include cuda_emulation.h) and run in CI machines without a GPU.
//
// What is emulated, and how:
//   * __global__/__device__ functions are ordinary functions; a launch (emulation_driver.cpp) runs
//     the blocks of the grid one after another.
//   * The threads of a block are cooperative fibers (ucontext) on one OS thread. A fiber runs
//     until it reaches __syncthreads() or a warp collective. Warps run one at a time, each until
//     all its threads wait at a barrier (a warp's collectives complete as soon as its lanes
//     arrive), so warps drift apart between barriers as far as they may on a GPU.
//     __syncthreads() releases when every thread of the block has arrived; a thread that exited
//     while others wait at a barrier is reported as an error (it is undefined behaviour on a GPU).
//   * Warp shuffles/votes (__shfl_*_sync, __ballot_sync, __any_sync, __all_sync, __syncwarp) wait
//     until every lane named in the mask has arrived at a collective with the same mask; the
//     values are exchanged then. A mask naming an exited or nonexistent lane, or lanes that meet
//     different collectives, is reported as an error; a value read from a lane outside the mask is
//     a poison value, as undefined as on a GPU.
//   * __shared__ variables are function-level statics (one block runs at a time, so a block's
//     threads share them); dynamic shared memory is a per-launch buffer filled with 0xff bytes so
//     that reads of unwritten shared memory show up.
//   * Atomics are plain read-modify-writes (fibers never interleave inside one).
//   * threadIdx/blockIdx/blockDim/gridDim, math intrinsics, bit casts and the half conversions
//     used by kernels/common.cuh.
// The scheduler runs warps, and lanes within a warp, in forward or reverse order (the launch's
// `order`); running both catches most missing barriers, between warps and within one.
#ifndef GPUGRAPH_CUDA_EMULATION_H
#define GPUGRAPH_CUDA_EMULATION_H

#define GPUGRAPH_CPU_EMULATION 1

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <math.h>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

namespace gg_emu {

// Where the currently running fiber's thread and block indices live.
struct Context {
  dim3 grid, block, block_idx;
  const dim3* thread_idx;  // of the fiber that runs now
  unsigned char* dynamic_shared;
};
extern thread_local Context ctx;

enum WarpOp { SHFL_IDX, SHFL_UP, SHFL_DOWN, SHFL_XOR, BALLOT, ANY, ALL, SYNCWARP };

// Implemented in emulation_driver.cpp.
void sync_threads();
unsigned long long warp_collective(WarpOp op, unsigned mask, unsigned long long value, int arg, int width);
[[noreturn]] void fail(const char* message);
int launch(unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, size_t shared_bytes,
           int order, unsigned max_threads, const std::function<void()>& body);

inline unsigned char* dynamic_shared() { return ctx.dynamic_shared; }

inline float half_to_float(unsigned short bits) {
  _Float16 h;
  std::memcpy(&h, &bits, 2);
  return (float)h;
}
inline unsigned short float_to_half(float f) {
  _Float16 h = (_Float16)f;  // IEEE round to nearest even, as numpy.float16(f)
  unsigned short bits;
  std::memcpy(&bits, &h, 2);
  return bits;
}

template <typename T> inline unsigned long long to_bits(T v) {
  static_assert(sizeof(T) <= 8, "shuffles move at most 8 bytes");
  unsigned long long b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}
template <typename T> inline T from_bits(unsigned long long b) {
  T v;
  std::memcpy(&v, &b, sizeof(T));
  return v;
}

}  // namespace gg_emu

#define threadIdx (*gg_emu::ctx.thread_idx)
#define blockIdx (gg_emu::ctx.block_idx)
#define blockDim (gg_emu::ctx.block)
#define gridDim (gg_emu::ctx.grid)
#define warpSize 32

// -- synchronisation and warp collectives ------------------------------------------------------------
inline void __syncthreads() { gg_emu::sync_threads(); }
inline void __threadfence() {}
inline void __threadfence_block() {}
inline void __syncwarp(unsigned mask = 0xffffffffu) { gg_emu::warp_collective(gg_emu::SYNCWARP, mask, 0, 0, 32); }

template <typename T> inline T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
  return gg_emu::from_bits<T>(gg_emu::warp_collective(gg_emu::SHFL_IDX, mask, gg_emu::to_bits(v), src, width));
}
template <typename T> inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  return gg_emu::from_bits<T>(gg_emu::warp_collective(gg_emu::SHFL_UP, mask, gg_emu::to_bits(v), (int)delta, width));
}
template <typename T> inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  return gg_emu::from_bits<T>(gg_emu::warp_collective(gg_emu::SHFL_DOWN, mask, gg_emu::to_bits(v), (int)delta, width));
}
template <typename T> inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  return gg_emu::from_bits<T>(gg_emu::warp_collective(gg_emu::SHFL_XOR, mask, gg_emu::to_bits(v), lane_mask, width));
}
inline unsigned __ballot_sync(unsigned mask, int pred) {
  return (unsigned)gg_emu::warp_collective(gg_emu::BALLOT, mask, pred != 0, 0, 32);
}
inline int __any_sync(unsigned mask, int pred) { return (int)gg_emu::warp_collective(gg_emu::ANY, mask, pred != 0, 0, 32); }
inline int __all_sync(unsigned mask, int pred) { return (int)gg_emu::warp_collective(gg_emu::ALL, mask, pred != 0, 0, 32); }

// -- atomics: fibers never interleave inside one, so plain read-modify-writes are atomic ----------
template <typename T> inline T atomicAdd(T* p, T v) { T old = *p; *p = old + v; return old; }
template <typename T> inline T atomicMin(T* p, T v) { T old = *p; if (v < old) *p = v; return old; }
template <typename T> inline T atomicMax(T* p, T v) { T old = *p; if (v > old) *p = v; return old; }
template <typename T> inline T atomicExch(T* p, T v) { T old = *p; *p = v; return old; }
template <typename T> inline T atomicCAS(T* p, T compare, T v) { T old = *p; if (old == compare) *p = v; return old; }
template <typename T> inline T atomicOr(T* p, T v) { T old = *p; *p = old | v; return old; }
template <typename T> inline T atomicAnd(T* p, T v) { T old = *p; *p = old & v; return old; }

// -- bit casts and intrinsics ----------------------------------------------------------------------------
inline float __uint_as_float(unsigned u) { return gg_emu::from_bits<float>(u); }
inline unsigned __float_as_uint(float f) { return (unsigned)gg_emu::to_bits(f); }
inline float __int_as_float(int i) { return gg_emu::from_bits<float>((unsigned)i); }
inline int __float_as_int(float f) { return (int)(unsigned)gg_emu::to_bits(f); }
inline double __longlong_as_double(long long i) { return gg_emu::from_bits<double>((unsigned long long)i); }
inline long long __double_as_longlong(double d) { return (long long)gg_emu::to_bits(d); }
template <typename T> inline T __ldg(const T* p) { return *p; }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned)x); }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float __saturatef(float x) { return x < 0.f ? 0.f : (x > 1.f ? 1.f : x); }

#endif  // GPUGRAPH_CUDA_EMULATION_H
