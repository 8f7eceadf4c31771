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

#define RB 512 /* references per block: QT x RB floats of distances stay in L1 */
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

ALWAYS_INLINE void merge(double *M, double *S, double e, double s)
{
  if (e > *M) {
    *S = *S * exp(*M - e) + s;
    *M = e;
  } else {
    *S += s * exp(e - *M);
  }
}

ALWAYS_INLINE void lse_body(const float *restrict refT, int64_t ld, int64_t r0, int64_t r1,
                            int d, const float *restrict x, int64_t n, double inv2h2,
                            double *restrict mx, double *restrict sm)
{
  const float inv = (float)inv2h2;
  float dist[QT][RB] __attribute__((aligned(64)));
  for (int64_t i0 = 0; i0 < n; i0 += QT) {
    int nq = n - i0 < QT ? (int)(n - i0) : QT;
    /* A short tile repeats its last query: the lanes do the same work and
     * the duplicate results are dropped. */
    const float *x0 = x + (i0 + 0) * d;
    const float *x1 = x + (i0 + (nq > 1 ? 1 : nq - 1)) * d;
    const float *x2 = x + (i0 + (nq > 2 ? 2 : nq - 1)) * d;
    const float *x3 = x + (i0 + (nq > 3 ? 3 : nq - 1)) * d;
    double M[QT], S[QT];
    for (int q = 0; q < QT; q++) {
      M[q] = -INFINITY;
      S[q] = 0.0;
    }
    for (int64_t b0 = r0; b0 < r1; b0 += RB) {
      int nb = r1 - b0 < RB ? (int)(r1 - b0) : RB;
      const float *yb = refT + b0;
      /* Dimension by dimension over the whole block: a plain streaming
       * loop the compiler vectorises cleanly; the QT x RB partial sums stay
       * in L1. */
      {
        const float *yk = yb;
        float c0 = x0[0], c1 = x1[0], c2 = x2[0], c3 = x3[0];
#pragma omp simd
        for (int j = 0; j < nb; j++) {
          float y = yk[j];
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
        merge(&M[q], &S[q], -(double)mn * inv2h2, (double)s);
      }
    }
    for (int q = 0; q < nq; q++) {
      mx[i0 + q] = M[q];
      sm[i0 + q] = S[q];
    }
  }
}

typedef void (*lse_fn)(const float *, int64_t, int64_t, int64_t, int, const float *, int64_t,
                       double, double *, double *);

__attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma,prefer-vector-width=512"))) static void
lse_avx512(const float *refT, int64_t ld, int64_t r0, int64_t r1, int d, const float *x,
           int64_t n, double inv2h2, double *mx, double *sm)
{
  lse_body(refT, ld, r0, r1, d, x, n, inv2h2, mx, sm);
}

__attribute__((target("avx2,fma"))) static void lse_avx2(const float *refT, int64_t ld,
                                                         int64_t r0, int64_t r1, int d,
                                                         const float *x, int64_t n,
                                                         double inv2h2, double *mx, double *sm)
{
  lse_body(refT, ld, r0, r1, d, x, n, inv2h2, mx, sm);
}

static void lse_baseline(const float *refT, int64_t ld, int64_t r0, int64_t r1, int d,
                         const float *x, int64_t n, double inv2h2, double *mx, double *sm)
{
  lse_body(refT, ld, r0, r1, d, x, n, inv2h2, mx, sm);
}

static int isa_level(void)
{
  /* 2 avx512, 1 avx2, 0 baseline; an environment cap for tests. */
  static _Atomic int level = -1;
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

const char *dm_kde_isa(void)
{
  static const char *const names[] = {"baseline", "avx2", "avx512"};
  return names[isa_level()];
}

void dm_kde_lse(const float *refT, int64_t ld, int64_t r0, int64_t r1, int d, const float *x,
                int64_t n, double inv2h2, double *max, double *sum)
{
  static const lse_fn fns[] = {lse_baseline, lse_avx2, lse_avx512};
  fns[isa_level()](refT, ld, r0, r1, d, x, n, inv2h2, max, sum);
}
