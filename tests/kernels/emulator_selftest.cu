// Kernels that test the CPU emulation itself (tests/kernels/test_cpu_emulation.py): warp
// collectives against their CUDA definitions, and kernels with bugs that the emulator must catch.
// Emulation only: NVRTC never sees this file.
#include "common.cuh"

// Each lane's results of the shuffles and votes, one array per collective.
extern "C" __global__ void selftest_collectives(const int* in, int* down, int* up, int* xr, int* idx, int* ballot, int* any, int* all) {
  const unsigned t = threadIdx.x;
  const unsigned mask = gg_warp_mask();
  const int v = in[t];
  down[t] = __shfl_down_sync(mask, v, 3);
  up[t] = __shfl_up_sync(mask, v, 5, 16);
  xr[t] = __shfl_xor_sync(mask, v, 6, 8);
  idx[t] = __shfl_sync(mask, v, 7, 16);
  ballot[t] = (int)__ballot_sync(mask, v & 1);
  any[t] = __any_sync(mask, v > 1000);
  all[t] = __all_sync(mask, v >= 0);
}

// out[t] = in[n - 1 - t] through shared memory; with_barrier = 0 leaves out the __syncthreads().
extern "C" __global__ void selftest_reverse(const int* in, int* out, int with_barrier) {
  __shared__ int s[256];
  const unsigned t = threadIdx.x, n = blockDim.x;
  s[t] = in[t];
  if (with_barrier) __syncthreads();
  out[t] = s[n - 1 - t];
}

// Threads 0..4 wait at a barrier that the others never reach.
extern "C" __global__ void selftest_divergent_barrier(int* out) {
  if (threadIdx.x < 5) __syncthreads();
  out[threadIdx.x] = 1;
}

// A full-warp mask in a block of fewer than 32 threads names lanes that do not exist.
extern "C" __global__ void selftest_bad_mask(int* out) {
  out[threadIdx.x] = __shfl_down_sync(0xffffffffu, (int)threadIdx.x, 1);
}

// Dynamic shared memory: sums in[] through a shared buffer of blockDim.x ints.
extern "C" __global__ void selftest_dynamic_shared(const int* in, int* out) {
  GG_DYNAMIC_SHARED(int, buf);
  buf[threadIdx.x] = in[blockIdx.x * blockDim.x + threadIdx.x];
  __syncthreads();
  if (threadIdx.x == 0) {
    int s = 0;
    for (unsigned k = 0; k < blockDim.x; ++k) s += buf[k];
    out[blockIdx.x] = s;
  }
}

// half and bfloat16 conversions, both ways.
extern "C" __global__ void selftest_convert(const float* in, gg_half* h, gg_bf16* b, float* h_back, float* b_back, long long n) {
  for (long long i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    h[i] = gg_float_to_half(in[i]);
    b[i] = gg_float_to_bf16(in[i]);
    h_back[i] = gg_half_to_float(h[i]);
    b_back[i] = gg_bf16_to_float(b[i]);
  }
}
