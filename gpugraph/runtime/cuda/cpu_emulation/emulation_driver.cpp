// The runtime half of cuda_emulation.h: launches a grid on the CPU, scheduling each block's
// threads as fibers (ucontext) and resolving barriers and warp collectives. See the header for
// the model. Errors (deadlocks, bad shuffle masks, bad launch shapes) abort the launch; the
// launcher returns nonzero and gg_emu_last_error() says what happened.
#include "cuda_emulation.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <ucontext.h>
#include <vector>

namespace gg_emu {

thread_local Context ctx;

namespace {

constexpr size_t kStackBytes = 256 * 1024;
constexpr unsigned long long kPoison = 0xdeadbeefdeadbeefull;

enum State { RUNNABLE, AT_BARRIER, AT_WARP, DONE };

struct Fiber {
  ucontext_t uc;
  dim3 tid;
  State state;
  // The warp collective this fiber waits at.
  WarpOp op;
  unsigned mask;
  unsigned long long value;
  int arg, width;
  unsigned long long result;
};

struct Launch {
  std::vector<Fiber> fibers;
  ucontext_t scheduler;
  Fiber* current = nullptr;
  const std::function<void()>* body = nullptr;
  bool failed = false;
  std::string error;
};

thread_local Launch* launch_state = nullptr;
thread_local std::string last_error;
thread_local std::vector<char> stacks;  // reused across launches

void fiber_main() {
  Launch* l = launch_state;
  (*l->body)();
  l->current->state = DONE;
  // returning resumes uc_link, the scheduler
}

void yield_to_scheduler() {
  Launch* l = launch_state;
  swapcontext(&l->current->uc, &l->scheduler);
}

std::string where() {
  char buf[160];
  std::snprintf(buf, sizeof buf, "block (%u,%u,%u) thread (%u,%u,%u)", ctx.block_idx.x, ctx.block_idx.y,
                ctx.block_idx.z, ctx.thread_idx->x, ctx.thread_idx->y, ctx.thread_idx->z);
  return buf;
}

unsigned lane_count(const Launch& l, unsigned warp) {
  unsigned n = (unsigned)l.fibers.size() - warp * 32u;
  return n < 32u ? n : 32u;
}

const char* op_name(WarpOp op) {
  switch (op) {
    case SHFL_IDX: return "__shfl_sync";
    case SHFL_UP: return "__shfl_up_sync";
    case SHFL_DOWN: return "__shfl_down_sync";
    case SHFL_XOR: return "__shfl_xor_sync";
    case BALLOT: return "__ballot_sync";
    case ANY: return "__any_sync";
    case ALL: return "__all_sync";
    default: return "__syncwarp";
  }
}

// The lane whose value `lane` reads in a shuffle, or -1 for "its own value".
int source_lane(const Fiber& f, unsigned lane) {
  const int w = f.width, seg = (int)lane & ~(w - 1), pos = (int)lane & (w - 1);
  switch (f.op) {
    case SHFL_IDX: return seg + (f.arg & (w - 1));
    case SHFL_UP: return pos - f.arg < 0 ? -1 : (int)lane - f.arg;
    case SHFL_DOWN: return pos + f.arg >= w ? -1 : (int)lane + f.arg;
    case SHFL_XOR: {
      int src = (int)lane ^ f.arg;
      return (src & ~(w - 1)) > seg ? -1 : src;  // later segments are out of reach
    }
    default: return -1;
  }
}

// Resolves the collectives of warp `w` whose lanes have all arrived. Returns whether any was.
bool resolve_warp(Launch& l, unsigned w) {
  bool resolved = false;
  Fiber* lanes = &l.fibers[w * 32u];
  const unsigned n = lane_count(l, w);
  for (unsigned lane = 0; lane < n; ++lane) {
    Fiber& f = lanes[lane];
    if (f.state != AT_WARP) continue;
    const unsigned mask = f.mask;
    bool ready = true;
    for (unsigned o = 0; o < 32; ++o) {
      if (!(mask >> o & 1u)) continue;
      if (o >= n) {
        l.failed = true;
        l.error = std::string(op_name(f.op)) + ": mask names lane " + std::to_string(o) +
                  ", which does not exist in this block's last warp";
        return false;
      }
      Fiber& g = lanes[o];
      if (g.state == DONE) {
        l.failed = true;
        l.error = std::string(op_name(f.op)) + ": mask names lane " + std::to_string(o) + " of warp " +
                  std::to_string(w) + ", which has exited";
        return false;
      }
      if (g.state != AT_WARP) { ready = false; continue; }
      if (g.mask != mask || g.op != f.op) {
        l.failed = true;
        l.error = std::string("warp ") + std::to_string(w) + ": lanes " + std::to_string(lane) + " and " +
                  std::to_string(o) + " meet different collectives (" + op_name(f.op) + " mask " +
                  std::to_string(mask) + " vs " + op_name(g.op) + " mask " + std::to_string(g.mask) + ")";
        return false;
      }
    }
    if (!ready) continue;
    unsigned long long ballot = 0;
    for (unsigned o = 0; o < 32; ++o)
      if ((mask >> o & 1u) && lanes[o].value) ballot |= 1ull << o;
    for (unsigned o = 0; o < 32; ++o) {
      if (!(mask >> o & 1u)) continue;
      Fiber& g = lanes[o];
      switch (g.op) {
        case BALLOT: g.result = ballot; break;
        case ANY: g.result = ballot != 0; break;
        case ALL: g.result = ballot == (unsigned long long)mask; break;
        case SYNCWARP: g.result = 0; break;
        default: {
          int src = source_lane(g, o);
          if (src < 0) g.result = g.value;
          else if ((unsigned)src < n && (mask >> src & 1u)) g.result = lanes[src].value;
          else g.result = kPoison;  // an inactive source lane: undefined on a GPU
        }
      }
      g.state = RUNNABLE;
    }
    resolved = true;
  }
  return resolved;
}

// Runs one block. Warps run one at a time, each until all its threads wait at __syncthreads()
// or have exited (its shuffles resolve as soon as their lanes arrive): so one warp gets
// arbitrarily far ahead of the others between barriers, as it may on a GPU, and a read of shared
// memory that another warp writes without a barrier in between sees the wrong value. `order`
// reverses the order of warps and of lanes.
void run_block(Launch& l, int order) {
  const size_t n = l.fibers.size();
  const unsigned warps = (unsigned)((n + 31) / 32);
  for (size_t i = 0; i < n; ++i) {
    Fiber& f = l.fibers[i];
    getcontext(&f.uc);
    f.uc.uc_stack.ss_sp = stacks.data() + i * kStackBytes;
    f.uc.uc_stack.ss_size = kStackBytes;
    f.uc.uc_link = &l.scheduler;
    makecontext(&f.uc, fiber_main, 0);
    f.state = RUNNABLE;
  }
  for (;;) {
    for (unsigned k = 0; k < warps && !l.failed; ++k) {
      const unsigned w = order ? warps - 1 - k : k;
      const unsigned lanes = lane_count(l, w);
      do {
        for (unsigned j = 0; j < lanes && !l.failed; ++j) {
          Fiber& f = l.fibers[w * 32u + (order ? lanes - 1 - j : j)];
          if (f.state != RUNNABLE) continue;
          l.current = &f;
          ctx.thread_idx = &f.tid;
          swapcontext(&l.scheduler, &f.uc);
        }
      } while (!l.failed && resolve_warp(l, w));
    }
    if (l.failed) return;
    size_t done = 0, barrier = 0, warp = 0;
    for (const Fiber& f : l.fibers) {
      done += f.state == DONE;
      barrier += f.state == AT_BARRIER;
      warp += f.state == AT_WARP;
    }
    if (done == n) return;
    if (warp == 0 && barrier == n) {
      for (Fiber& f : l.fibers) f.state = RUNNABLE;
      continue;
    }
    l.failed = true;
    l.error = "deadlock in block (" + std::to_string(ctx.block_idx.x) + "," + std::to_string(ctx.block_idx.y) + "," +
              std::to_string(ctx.block_idx.z) + "): " + std::to_string(barrier) + " threads at __syncthreads(), " +
              std::to_string(warp) + " at a warp collective, " + std::to_string(done) + " exited of " +
              std::to_string(n);
    return;
  }
}

}  // namespace

void fail(const char* message) {
  Launch* l = launch_state;
  l->failed = true;
  l->error = where() + ": " + message;
  yield_to_scheduler();
  std::abort();  // never resumed
}

void sync_threads() {
  launch_state->current->state = AT_BARRIER;
  yield_to_scheduler();
}

unsigned long long warp_collective(WarpOp op, unsigned mask, unsigned long long value, int arg, int width) {
  Launch* l = launch_state;
  Fiber* f = l->current;
  const unsigned lane = (unsigned)(f - l->fibers.data()) & 31u;
  if (width <= 0 || width > 32 || (width & (width - 1)))
    fail((std::string(op_name(op)) + ": width " + std::to_string(width) + " is not a power of two <= 32").c_str());
  if (!(mask >> lane & 1u))
    fail((std::string(op_name(op)) + ": the calling lane " + std::to_string(lane) + " is not in its mask").c_str());
  f->op = op;
  f->mask = mask;
  f->value = value;
  f->arg = arg;
  f->width = width;
  f->state = AT_WARP;
  yield_to_scheduler();
  return f->result;
}

int launch(unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, size_t shared_bytes,
           int order, unsigned max_threads, const std::function<void()>& body) {
  const unsigned long long threads = (unsigned long long)bx * by * bz;
  char msg[200];
  if (gx == 0 || gy == 0 || gz == 0 || threads == 0 || threads > 1024 || bz > 64 || gy > 65535 || gz > 65535 ||
      (max_threads && threads > max_threads) || shared_bytes > 227 * 1024) {
    std::snprintf(msg, sizeof msg, "invalid launch: grid (%u,%u,%u) block (%u,%u,%u) (max %u threads), %zu bytes of "
                  "dynamic shared memory", gx, gy, gz, bx, by, bz, max_threads, shared_bytes);
    last_error = msg;
    return 1;
  }
  Launch l;
  l.body = &body;
  l.fibers.resize(threads);
  for (unsigned z = 0, i = 0; z < bz; ++z)
    for (unsigned y = 0; y < by; ++y)
      for (unsigned x = 0; x < bx; ++x, ++i) l.fibers[i].tid = dim3(x, y, z);
  if (stacks.size() < threads * kStackBytes) stacks.resize(threads * kStackBytes);
  std::vector<unsigned char> shared(shared_bytes + 16, 0xff);
  Launch* outer = launch_state;
  launch_state = &l;
  ctx.grid = dim3(gx, gy, gz);
  ctx.block = dim3(bx, by, bz);
  ctx.dynamic_shared = shared.data();
  for (unsigned z = 0; z < gz && !l.failed; ++z)
    for (unsigned y = 0; y < gy && !l.failed; ++y)
      for (unsigned x = 0; x < gx && !l.failed; ++x) {
        ctx.block_idx = dim3(x, y, z);
        run_block(l, order);
      }
  launch_state = outer;
  if (l.failed) {
    last_error = l.error;
    return 2;
  }
  last_error.clear();
  return 0;
}

}  // namespace gg_emu

extern "C" const char* gg_emu_last_error() { return gg_emu::last_error.c_str(); }
