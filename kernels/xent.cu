// Softmax cross-entropy with logits, loss and gradient per row (loss_ops.py, TF's CPU functors):
//   shifted = logits - max(logits);  sum_exp = sum(exp(shifted))
//   dense:  loss = sum(labels * (log(sum_exp) - shifted));  backprop = exp(shifted) / sum_exp - labels
//   sparse: loss = log(sum_exp) - shifted[label];           backprop = exp(shifted) / sum_exp - onehot(label)
// in float32 for 16-bit types.
//
// gg_softmax_xent_<t>: logits and labels are 2-D and broadcast against each other: each is
//   addressed with a row stride and a column stride (0 along a broadcast dimension), the result
//   has [rows, cols] = the broadcast shape.
// gg_sparse_softmax_xent_<t>_<i32|i64>: labels are class indices. A label outside [0, cols)
//   (the NumPy kernel's InvalidArgument error) gives a NaN loss and NaN gradient row, as
//   TensorFlow's GPU kernel does, and the smallest such row index is recorded in *bad with
//   atomicMin (the caller initialises it to all ones and raises the error when it changed).
//
// Launch as softmax.cu: blockDim.x threads per row, blockDim.y rows per block.
#include "elementwise.cuh"

// max and sum(exp(x - max)) of one row, reduced over the row group.
template <typename T, typename A>
__device__ __forceinline__ void row_logsumexp(const T* __restrict__ xr, long long cs, long long cols, bool valid,
                                              A* scratch, A& m, A& sum_exp) {
  m = gg_limits<A>::lowest();
  if (valid)
    for (long long j = threadIdx.x; j < cols; j += blockDim.x) m = gg_max(m, (A)gg_load<T>(xr[j * cs]));
  m = gg_group_reduce(m, scratch, gg_max_op<A>());
  A s = (A)0;
  if (valid)
    for (long long j = threadIdx.x; j < cols; j += blockDim.x) s += gg_exp((A)gg_load<T>(xr[j * cs]) - m);
  sum_exp = gg_group_reduce(s, scratch, gg_sum_op<A>());
}

template <typename T>
__device__ __forceinline__ void softmax_xent(const T* __restrict__ logits, const T* __restrict__ labels,
                                             T* __restrict__ loss, T* __restrict__ backprop, long long rows, long long cols,
                                             long long logits_rs, long long logits_cs, long long labels_rs,
                                             long long labels_cs) {
  typedef typename gg_acc<T>::type A;
  __shared__ A scratch[32];
  const long long step = (long long)gridDim.x * blockDim.y;
  for (long long base = (long long)blockIdx.x * blockDim.y; base < rows; base += step) {
    const long long row = base + threadIdx.y;
    const bool valid = row < rows;
    const T* xr = logits + row * logits_rs;
    const T* yr = labels + row * labels_rs;
    A m, sum_exp;
    row_logsumexp<T, A>(xr, logits_cs, cols, valid, scratch, m, sum_exp);
    const A log_sum = gg_log(sum_exp);
    A l = (A)0;
    if (valid) {
      for (long long j = threadIdx.x; j < cols; j += blockDim.x) {
        const A shifted = (A)gg_load<T>(xr[j * logits_cs]) - m;
        const A y = gg_load<T>(yr[j * labels_cs]);
        l += y * (log_sum - shifted);
        backprop[row * cols + j] = gg_store<T>(gg_exp(shifted) / sum_exp - y);
      }
    }
    l = gg_group_reduce(l, scratch, gg_sum_op<A>());
    if (valid && threadIdx.x == 0) loss[row] = gg_store<T>(l);
  }
}

template <typename T, typename L>
__device__ __forceinline__ void sparse_softmax_xent(const T* __restrict__ logits, const L* __restrict__ labels,
                                                    T* __restrict__ loss, T* __restrict__ backprop, long long rows,
                                                    long long cols, unsigned long long* __restrict__ bad) {
  typedef typename gg_acc<T>::type A;
  __shared__ A scratch[32];
  const long long step = (long long)gridDim.x * blockDim.y;
  for (long long base = (long long)blockIdx.x * blockDim.y; base < rows; base += step) {
    const long long row = base + threadIdx.y;
    const bool valid = row < rows;
    const T* xr = logits + row * cols;
    A m, sum_exp;
    row_logsumexp<T, A>(xr, 1, cols, valid, scratch, m, sum_exp);
    if (!valid) continue;  // no barriers below
    const long long label = (long long)labels[row];
    T* br = backprop + row * cols;
    if (label < 0 || label >= cols) {
      for (long long j = threadIdx.x; j < cols; j += blockDim.x) br[j] = gg_store<T>(gg_limits<A>::nan());
      if (threadIdx.x == 0) {
        loss[row] = gg_store<T>(gg_limits<A>::nan());
        atomicMin(bad, (unsigned long long)row);
      }
      continue;
    }
    for (long long j = threadIdx.x; j < cols; j += blockDim.x) {
      const A p = gg_exp((A)gg_load<T>(xr[j]) - m) / sum_exp;
      br[j] = gg_store<T>(j == label ? p - (A)1 : p);
    }
    if (threadIdx.x == 0) loss[row] = gg_store<T>(gg_log(sum_exp) - ((A)gg_load<T>(xr[label]) - m));
  }
}

extern "C" __global__ void __launch_bounds__(1024) gg_softmax_xent_f32(const float* logits, const float* labels, float* loss, float* backprop, long long rows, long long cols, long long logits_rs, long long logits_cs, long long labels_rs, long long labels_cs) { softmax_xent<float>(logits, labels, loss, backprop, rows, cols, logits_rs, logits_cs, labels_rs, labels_cs); }
extern "C" __global__ void __launch_bounds__(1024) gg_softmax_xent_f64(const double* logits, const double* labels, double* loss, double* backprop, long long rows, long long cols, long long logits_rs, long long logits_cs, long long labels_rs, long long labels_cs) { softmax_xent<double>(logits, labels, loss, backprop, rows, cols, logits_rs, logits_cs, labels_rs, labels_cs); }
extern "C" __global__ void __launch_bounds__(1024) gg_softmax_xent_f16(const gg_half* logits, const gg_half* labels, gg_half* loss, gg_half* backprop, long long rows, long long cols, long long logits_rs, long long logits_cs, long long labels_rs, long long labels_cs) { softmax_xent<gg_half>(logits, labels, loss, backprop, rows, cols, logits_rs, logits_cs, labels_rs, labels_cs); }
extern "C" __global__ void __launch_bounds__(1024) gg_softmax_xent_bf16(const gg_bf16* logits, const gg_bf16* labels, gg_bf16* loss, gg_bf16* backprop, long long rows, long long cols, long long logits_rs, long long logits_cs, long long labels_rs, long long labels_cs) { softmax_xent<gg_bf16>(logits, labels, loss, backprop, rows, cols, logits_rs, logits_cs, labels_rs, labels_cs); }

extern "C" __global__ void __launch_bounds__(1024) gg_sparse_softmax_xent_f32_i32(const float* logits, const int* labels, float* loss, float* backprop, long long rows, long long cols, unsigned long long* bad) { sparse_softmax_xent<float, int>(logits, labels, loss, backprop, rows, cols, bad); }
extern "C" __global__ void __launch_bounds__(1024) gg_sparse_softmax_xent_f64_i32(const double* logits, const int* labels, double* loss, double* backprop, long long rows, long long cols, unsigned long long* bad) { sparse_softmax_xent<double, int>(logits, labels, loss, backprop, rows, cols, bad); }
extern "C" __global__ void __launch_bounds__(1024) gg_sparse_softmax_xent_f16_i32(const gg_half* logits, const int* labels, gg_half* loss, gg_half* backprop, long long rows, long long cols, unsigned long long* bad) { sparse_softmax_xent<gg_half, int>(logits, labels, loss, backprop, rows, cols, bad); }
extern "C" __global__ void __launch_bounds__(1024) gg_sparse_softmax_xent_bf16_i32(const gg_bf16* logits, const int* labels, gg_bf16* loss, gg_bf16* backprop, long long rows, long long cols, unsigned long long* bad) { sparse_softmax_xent<gg_bf16, int>(logits, labels, loss, backprop, rows, cols, bad); }
extern "C" __global__ void __launch_bounds__(1024) gg_sparse_softmax_xent_f32_i64(const float* logits, const long long* labels, float* loss, float* backprop, long long rows, long long cols, unsigned long long* bad) { sparse_softmax_xent<float, long long>(logits, labels, loss, backprop, rows, cols, bad); }
extern "C" __global__ void __launch_bounds__(1024) gg_sparse_softmax_xent_f64_i64(const double* logits, const long long* labels, double* loss, double* backprop, long long rows, long long cols, unsigned long long* bad) { sparse_softmax_xent<double, long long>(logits, labels, loss, backprop, rows, cols, bad); }
extern "C" __global__ void __launch_bounds__(1024) gg_sparse_softmax_xent_f16_i64(const gg_half* logits, const long long* labels, gg_half* loss, gg_half* backprop, long long rows, long long cols, unsigned long long* bad) { sparse_softmax_xent<gg_half, long long>(logits, labels, loss, backprop, rows, cols, bad); }
extern "C" __global__ void __launch_bounds__(1024) gg_sparse_softmax_xent_bf16_i64(const gg_bf16* logits, const long long* labels, gg_bf16* loss, gg_bf16* backprop, long long rows, long long cols, unsigned long long* bad) { sparse_softmax_xent<gg_bf16, long long>(logits, labels, loss, backprop, rows, cols, bad); }
