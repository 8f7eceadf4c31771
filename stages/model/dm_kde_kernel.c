/* The exact Gaussian-kernel log-sum-exp: the inner loop of the KDE.
 *
 * Cost model: per (query, reference) pair and column one subtraction and one
 * fused multiply-add on SIMD lanes, then one exponential per pair (our own
 * polynomial, vectorised; the argument is always <= 0). A tile of QT queries
 * shares every load of a reference block, so the loop is bound by arithmetic,
 * not by loads. The file is built with -ffp-contract=fast (see
 * CMakeLists.txt) so a*b+c becomes an FMA where the target has one.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dm_kde.h"

#define RB DM_KDE_BLOCK /* references per block: QT x RB floats of distances stay in L1 */
#define QT 4   /* queries per tile */

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* exp(x) for x <= 0, ~1e-7 relative: x = n ln2 + r with |r| <= ln2/2
 * (Cody-Waite split of ln2), exp(r) by its degree-7 Taylor polynomial
 * (truncation below 6e-9), 2^n through the exponent bits. Arguments below
 * -87 are raised to -87: such terms then count 1.6e-38 instead of less,
 * which next to the block's largest term (exactly 1) is far below float
 * resolution, and keeps the function branch-free (no masks needed on AVX2). */
ALWAYS_INLINE float exp_nonpos(float x)
{
  const float big = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
  float xc = x > -87.0f ? x : -87.0f;
  float t = xc * 1.44269504088896341f;
  float nf = (t + big) - big;
  float r = xc - nf * 0.693145751953125f;
  r = r - nf * 1.428606765330187045e-06f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  union {
    int32_t i;
    float f;
  } sc;
  sc.i = ((int32_t)nf + 127) << 23;
  return p * sc.f;
}

/* Squared distances of a tile of QT queries to nb references, for a
 * dimension D known at compile time: the loop over D unrolls completely and
 * the QT partial sums stay in registers, so each reference value is loaded
 * once and each distance stored once. Used for D <= 12: beyond that GCC 12
 * no longer unrolls the loop and the generic form below is faster (measured:
 * 3.2e9 pairs/s at D = 9 against 2.1e9 generic; 2e8 for an unrolled D = 14). */
ALWAYS_INLINE void dist_fixed(const float *restrict yb, int64_t ld, int nb,
                              const float *x0, const float *x1, const float *x2,
                              const float *x3, float (*restrict dist)[RB], const int D)
{
#pragma omp simd
  for (int j = 0; j < nb; j++) {
    float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
    for (int k = 0; k < D; k++) {
      float y = yb[(int64_t)k * ld + j];
      float t0 = x0[k] - y, t1 = x1[k] - y, t2 = x2[k] - y, t3 = x3[k] - y;
      a0 = t0 * t0 + a0;
      a1 = t1 * t1 + a1;
      a2 = t2 * t2 + a2;
      a3 = t3 * t3 + a3;
    }
    dist[0][j] = a0;
    dist[1][j] = a1;
    dist[2][j] = a2;
    dist[3][j] = a3;
  }
}

/* The same for any dimension: dimension by dimension over the block, a
 * plain streaming loop with the QT x RB partial sums in L1. */
ALWAYS_INLINE void dist_any(const float *restrict yb, int64_t ld, int nb, int d,
                            const float *x0, const float *x1, const float *x2, const float *x3,
                            float (*restrict dist)[RB])
{
  {
    float c0 = x0[0], c1 = x1[0], c2 = x2[0], c3 = x3[0];
#pragma omp simd
    for (int j = 0; j < nb; j++) {
      float y = yb[j];
      float t0 = c0 - y, t1 = c1 - y, t2 = c2 - y, t3 = c3 - y;
      dist[0][j] = t0 * t0;
      dist[1][j] = t1 * t1;
      dist[2][j] = t2 * t2;
      dist[3][j] = t3 * t3;
    }
  }
  for (int k = 1; k < d; k++) {
    const float *yk = yb + (int64_t)k * ld;
    float c0 = x0[k], c1 = x1[k], c2 = x2[k], c3 = x3[k];
#pragma omp simd
    for (int j = 0; j < nb; j++) {
      float y = yk[j];
      float t0 = c0 - y, t1 = c1 - y, t2 = c2 - y, t3 = c3 - y;
      dist[0][j] = t0 * t0 + dist[0][j];
      dist[1][j] = t1 * t1 + dist[1][j];
      dist[2][j] = t2 * t2 + dist[2][j];
      dist[3][j] = t3 * t3 + dist[3][j];
    }
  }
}

ALWAYS_INLINE void lse_body(const float *restrict refT, int64_t ld, int64_t r0, int64_t r1,
                            int d, const float *restrict x, int64_t n, double inv2h2,
                            dm_kde_acc *restrict acc)
{
  const float inv = (float)inv2h2;
  float dist[QT][RB] __attribute__((aligned(64)));
  /* Reference blocks outermost: a block (d x RB floats) stays in L1/L2 while
   * every query of the call visits it, so a large reference sample streams
   * from memory once per call, not once per query tile. The blocks' sums
   * are exact (dm_kde_acc), so neither n nor the order matters. */
  for (int64_t b0 = r0; b0 < r1; b0 += RB) {
    int nb = r1 - b0 < RB ? (int)(r1 - b0) : RB;
    const float *yb = refT + b0;
    for (int64_t i0 = 0; i0 < n; i0 += QT) {
      int nq = n - i0 < QT ? (int)(n - i0) : QT;
      /* A short tile repeats its last query: the lanes do the same work and
       * the duplicate results are dropped. */
      const float *x0 = x + (i0 + 0) * d;
      const float *x1 = x + (i0 + (nq > 1 ? 1 : nq - 1)) * d;
      const float *x2 = x + (i0 + (nq > 2 ? 2 : nq - 1)) * d;
      const float *x3 = x + (i0 + (nq > 3 ? 3 : nq - 1)) * d;
      switch (d) {
#define DM_KDE_FIXED(D)                                                                        \
  case D:                                                                                      \
    dist_fixed(yb, ld, nb, x0, x1, x2, x3, dist, D);                                          \
    break;
        DM_KDE_FIXED(1) DM_KDE_FIXED(2) DM_KDE_FIXED(3) DM_KDE_FIXED(4) DM_KDE_FIXED(5)
        DM_KDE_FIXED(6) DM_KDE_FIXED(7) DM_KDE_FIXED(8) DM_KDE_FIXED(9) DM_KDE_FIXED(10)
        DM_KDE_FIXED(11) DM_KDE_FIXED(12)
#undef DM_KDE_FIXED
      default:
        dist_any(yb, ld, nb, d, x0, x1, x2, x3, dist);
      }
      for (int q = 0; q < nq; q++) {
        const float *dq = dist[q];
        float mn = dq[0];
#pragma omp simd reduction(min : mn)
        for (int j = 0; j < nb; j++)
          mn = dq[j] < mn ? dq[j] : mn;
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int j = 0; j < nb; j++)
          s += exp_nonpos((mn - dq[j]) * inv);
        dm_kde_acc_add(&acc[i0 + q], -(double)mn * inv2h2, (double)s);
      }
    }
  }
}

typedef void (*lse_fn)(const float *, int64_t, int64_t, int64_t, int, const float *, int64_t,
                       double, dm_kde_acc *);

__attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma,prefer-vector-width=512"))) static void
lse_avx512(const float *refT, int64_t ld, int64_t r0, int64_t r1, int d, const float *x,
           int64_t n, double inv2h2, dm_kde_acc *acc)
{
  lse_body(refT, ld, r0, r1, d, x, n, inv2h2, acc);
}

__attribute__((target("avx2,fma"))) static void lse_avx2(const float *refT, int64_t ld,
                                                         int64_t r0, int64_t r1, int d,
                                                         const float *x, int64_t n,
                                                         double inv2h2, dm_kde_acc *acc)
{
  lse_body(refT, ld, r0, r1, d, x, n, inv2h2, acc);
}

static void lse_baseline(const float *refT, int64_t ld, int64_t r0, int64_t r1, int d,
                         const float *x, int64_t n, double inv2h2, dm_kde_acc *acc)
{
  lse_body(refT, ld, r0, r1, d, x, n, inv2h2, acc);
}

/* 2 avx512, 1 avx2, 0 baseline; -1 until first asked. */
static _Atomic int level = -1;

static int isa_level(void)
{
  /* What this CPU supports, capped by the environment (for tests). */
  int l = atomic_load_explicit(&level, memory_order_relaxed);
  if (l >= 0)
    return l;
  __builtin_cpu_init();
  l = 0;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    l = 1;
  if (l == 1 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq"))
    l = 2;
  const char *cap = getenv("DM_KDE_ISA");
  if (cap && !strcmp(cap, "avx2") && l > 1)
    l = 1;
  if (cap && !strcmp(cap, "baseline"))
    l = 0;
  /* Every thread that gets here computes the same value. */
  atomic_store_explicit(&level, l, memory_order_relaxed);
  return l;
}

void dm_kde_isa_agree(MPI_Comm comm)
{
  int mine = isa_level(), low = mine;
  MPI_Allreduce(&mine, &low, 1, MPI_INT, MPI_MIN, comm);
  atomic_store_explicit(&level, low, memory_order_relaxed);
}

const char *dm_kde_isa(void)
{
  static const char *const names[] = {"baseline", "avx2", "avx512"};
  return names[isa_level()];
}

void dm_kde_lse(const float *refT, int64_t ld, int64_t r0, int64_t r1, int d, const float *x,
                int64_t n, double inv2h2, dm_kde_acc *acc)
{
  static const lse_fn fns[] = {lse_baseline, lse_avx2, lse_avx512};
  fns[isa_level()](refT, ld, r0, r1, d, x, n, inv2h2, acc);
}
