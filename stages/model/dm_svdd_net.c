/* dm_svdd_net.c - bias-free MLP: forward, backward, objectives and Adam.
 * See dm_svdd_net.h for the layout and the conventions. */
#include "dm_svdd_net.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <stdlib.h>
#include <string.h>

/* Below this many elements an OpenMP region costs more than the loop. */
#define DM_SVDD_OMP_MIN 16384

dm_status dm_svdd_net_alloc(dm_svdd_net *net, int n_layers, const int *dims)
{
  memset(net, 0, sizeof(*net));
  if (n_layers < 1 || n_layers > DM_SVDD_MAX_LAYERS)
    return dm_error(DM_ERR_ARG, "svdd network: %d layers (allowed 1..%d)", n_layers,
                    DM_SVDD_MAX_LAYERS);
  int64_t off = 0;
  for (int l = 0; l <= n_layers; l++) {
    if (dims[l] < 1 || dims[l] > (1 << 20))
      return dm_error(DM_ERR_ARG, "svdd network: layer width %d at position %d (allowed 1..%d)",
                      dims[l], l, 1 << 20);
    net->dims[l] = dims[l];
  }
  for (int l = 0; l < n_layers; l++) {
    net->off[l] = off;
    off += (int64_t)dims[l] * dims[l + 1];
  }
  net->off[n_layers] = off;
  net->n_layers = n_layers;
  net->n_params = off;
  net->w = calloc((size_t)off, sizeof(float));
  if (!net->w) {
    memset(net, 0, sizeof(*net));
    return dm_error(DM_ERR_NOMEM, "svdd network: %lld parameters", (long long)off);
  }
  return DM_OK;
}

void dm_svdd_net_init_uniform(dm_svdd_net *net, uint64_t seed)
{
  for (int l = 0; l < net->n_layers; l++) {
    dm_rng r;
    dm_rng_init(&r, seed, DM_SVDD_STREAM_INIT, (uint64_t)l);
    double bound = 1.0 / sqrt((double)net->dims[l]);
    float *w = net->w + net->off[l];
    int64_t n = net->off[l + 1] - net->off[l];
    for (int64_t i = 0; i < n; i++)
      w[i] = (float)((2.0 * dm_rng_uniform(&r) - 1.0) * bound);
  }
}

dm_status dm_svdd_net_copy(dm_svdd_net *dst, const dm_svdd_net *src)
{
  DM_FORWARD(dm_svdd_net_alloc(dst, src->n_layers, src->dims));
  memcpy(dst->w, src->w, (size_t)src->n_params * sizeof(float));
  return DM_OK;
}

void dm_svdd_net_free(dm_svdd_net *net)
{
  if (!net)
    return;
  free(net->w);
  memset(net, 0, sizeof(*net));
}

dm_status dm_svdd_work_alloc(dm_svdd_work *ws, const dm_svdd_net *net, int64_t cap)
{
  memset(ws, 0, sizeof(*ws));
  int wmax = 1;
  for (int l = 0; l <= net->n_layers; l++) {
    if (net->dims[l] > wmax)
      wmax = net->dims[l];
    ws->act[l] = malloc((size_t)(cap > 0 ? cap : 1) * (size_t)net->dims[l] * sizeof(float));
    if (!ws->act[l])
      goto nomem;
  }
  ws->g0 = malloc((size_t)(cap > 0 ? cap : 1) * (size_t)wmax * sizeof(float));
  ws->g1 = malloc((size_t)(cap > 0 ? cap : 1) * (size_t)wmax * sizeof(float));
  if (!ws->g0 || !ws->g1)
    goto nomem;
  ws->cap = cap;
  return DM_OK;
nomem:
  dm_svdd_work_free(ws);
  return dm_error(DM_ERR_NOMEM, "svdd workspace for %lld rows", (long long)cap);
}

void dm_svdd_work_free(dm_svdd_work *ws)
{
  if (!ws)
    return;
  for (int l = 0; l <= DM_SVDD_MAX_LAYERS; l++)
    free(ws->act[l]);
  free(ws->g0);
  free(ws->g1);
  memset(ws, 0, sizeof(*ws));
}

float *dm_svdd_work_input(dm_svdd_work *ws) { return ws->act[0]; }

/* y[i] *= (a[i] > 0 ? 1 : leak), for [lo, hi): the leaky ReLU (a = y) and
 * its derivative (a = the layer's output, positive exactly where its input
 * was). Strict C keeps the comparison from being vectorised (it may trap),
 * so x86-64 gets the same multiplications by 1 or leak four at a time. */
static void leaky_range(float *y, const float *a, int64_t lo, int64_t hi)
{
  int64_t i = lo;
#if defined(__SSE2__)
  const __m128 zero = _mm_setzero_ps(), one = _mm_set1_ps(1.0f), leak = _mm_set1_ps(DM_SVDD_LEAK);
  for (; i + 4 <= hi; i += 4) {
    __m128 pos = _mm_cmpgt_ps(_mm_loadu_ps(a + i), zero);
    __m128 f = _mm_or_ps(_mm_and_ps(pos, one), _mm_andnot_ps(pos, leak));
    _mm_storeu_ps(y + i, _mm_mul_ps(_mm_loadu_ps(y + i), f));
  }
#endif
  for (; i < hi; i++)
    y[i] *= a[i] > 0.0f ? 1.0f : DM_SVDD_LEAK;
}

static void leaky_scale(float *y, const float *a, int64_t m)
{
#pragma omp parallel if (m > DM_SVDD_OMP_MIN && !omp_in_parallel())
  {
    int nt = omp_get_num_threads(), t = omp_get_thread_num();
    leaky_range(y, a, m * t / nt, m * (t + 1) / nt);
  }
}

const float *dm_svdd_forward(const dm_svdd_net *net, dm_svdd_work *ws, const float *x, int64_t n)
{
  int L = net->n_layers;
  ws->in = x;
  for (int l = 0; l < L; l++) {
    int din = net->dims[l], dout = net->dims[l + 1];
    const float *in = l == 0 ? x : ws->act[l];
    float *out = ws->act[l + 1];
    if (n > 0)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, dout, din, 1.0f, in, din,
                  net->w + net->off[l], din, 0.0f, out, dout);
    if (l + 1 < L)
      leaky_scale(out, out, n * dout);
  }
  return ws->act[L];
}

void dm_svdd_backward(const dm_svdd_net *net, dm_svdd_work *ws, int64_t n, const float *dout,
                      float *grad)
{
  if (n <= 0)
    return;
  const float *g = dout;
  for (int l = net->n_layers - 1; l >= 0; l--) {
    int din = net->dims[l], dn = net->dims[l + 1];
    /* dW_l += g^T act[l]: the sum over the batch is the K of this product. */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, dn, din, (int)n, 1.0f, g, dn,
                l == 0 ? ws->in : ws->act[l], din, 1.0f, grad + net->off[l], din);
    if (l == 0)
      break;
    float *gp = (g == ws->g0) ? ws->g1 : ws->g0;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, din, dn, 1.0f, g, dn,
                net->w + net->off[l], din, 0.0f, gp, din);
    /* act[l] is the leaky ReLU output, positive exactly where its input was. */
    leaky_scale(gp, ws->act[l], n * din);
    g = gp;
  }
}

void dm_svdd_dist2(const float *phi, int64_t n, int dim, const float *c, float *d2)
{
#pragma omp parallel for schedule(static) if (n * dim > DM_SVDD_OMP_MIN && !omp_in_parallel())
  for (int64_t i = 0; i < n; i++) {
    const float *p = phi + i * dim;
    float s = 0.0f;
    for (int j = 0; j < dim; j++) {
      float d = p[j] - c[j];
      s += d * d;
    }
    d2[i] = s;
  }
}

double dm_svdd_loss_grad(dm_svdd_objective obj, const float *phi, int64_t n, int dim,
                         const float *c, double r2, double nu, double inv_b, float *dout,
                         float *d2)
{
  return dm_svdd_loss_grad_w(obj, phi, n, dim, c, r2, nu, inv_b, NULL, dout, d2);
}

double dm_svdd_loss_grad_w(dm_svdd_objective obj, const float *phi, int64_t n, int dim,
                           const float *c, double r2, double nu, double inv_b, const float *rw,
                           float *dout, float *d2)
{
  dm_svdd_dist2(phi, n, dim, c, d2);
  float scale = (float)(2.0 * inv_b / (obj == DM_SVDD_SOFT_BOUNDARY ? nu : 1.0));
  float r2f = (float)r2;
#pragma omp parallel for schedule(static) if (n * dim > DM_SVDD_OMP_MIN && !omp_in_parallel())
  for (int64_t i = 0; i < n; i++) {
    const float *p = phi + i * dim;
    float *g = dout + i * dim;
    int active = obj == DM_SVDD_ONE_CLASS || d2[i] > r2f;
    float sc = rw ? scale * rw[i] : scale;
    for (int j = 0; j < dim; j++)
      g[j] = active ? sc * (p[j] - c[j]) : 0.0f;
  }
  /* Serial, in row order, so the reported loss does not depend on threads. */
  double s = 0.0;
  if (obj == DM_SVDD_ONE_CLASS) {
    for (int64_t i = 0; i < n; i++)
      s += rw ? (double)rw[i] * d2[i] : d2[i];
    return s * inv_b;
  }
  for (int64_t i = 0; i < n; i++)
    if (d2[i] > r2f)
      s += (rw ? (double)rw[i] : 1.0) * ((double)d2[i] - r2);
  return s * inv_b / nu;
}

dm_status dm_svdd_adam_alloc(dm_svdd_adam *a, int64_t n, double weight_decay)
{
  memset(a, 0, sizeof(*a));
  a->m = calloc((size_t)(n > 0 ? n : 1), sizeof(float));
  a->v = calloc((size_t)(n > 0 ? n : 1), sizeof(float));
  if (!a->m || !a->v) {
    dm_svdd_adam_free(a);
    return dm_error(DM_ERR_NOMEM, "svdd optimiser state for %lld parameters", (long long)n);
  }
  a->n = n;
  a->beta1 = 0.9;
  a->beta2 = 0.999;
  a->eps = 1e-8;
  a->weight_decay = weight_decay;
  return DM_OK;
}

void dm_svdd_adam_free(dm_svdd_adam *a)
{
  if (!a)
    return;
  free(a->m);
  free(a->v);
  memset(a, 0, sizeof(*a));
}

typedef struct {
  float step_size, bc2_sqrt, wd, b1, b2, omb1, omb2, eps;
} adam_consts;

/* The element-wise update of [lo, hi). Under strict C the compiler keeps
 * sqrtf scalar (errno), so on x86-64 the loop is written with SSE: the same
 * correctly rounded operations in the same order, four at a time, hence the
 * same bits as the scalar tail. */
static void adam_range(const adam_consts *k, float *restrict w, const float *restrict g,
                       float *restrict m, float *restrict v, int64_t lo, int64_t hi)
{
  const adam_consts c = *k;
  int64_t i = lo;
#if defined(__SSE2__)
  const __m128 wd = _mm_set1_ps(c.wd), b1 = _mm_set1_ps(c.b1), b2 = _mm_set1_ps(c.b2);
  const __m128 omb1 = _mm_set1_ps(c.omb1), omb2 = _mm_set1_ps(c.omb2), eps = _mm_set1_ps(c.eps);
  const __m128 bc2s = _mm_set1_ps(c.bc2_sqrt), nstep = _mm_set1_ps(-c.step_size);
  for (; i + 4 <= hi; i += 4) {
    __m128 wi = _mm_loadu_ps(w + i);
    __m128 gi = _mm_add_ps(_mm_loadu_ps(g + i), _mm_mul_ps(wi, wd));
    __m128 mi = _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(m + i), b1), _mm_mul_ps(gi, omb1));
    __m128 vi = _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(v + i), b2),
                           _mm_mul_ps(_mm_mul_ps(gi, gi), omb2));
    __m128 denom = _mm_add_ps(_mm_div_ps(_mm_sqrt_ps(vi), bc2s), eps);
    _mm_storeu_ps(m + i, mi);
    _mm_storeu_ps(v + i, vi);
    _mm_storeu_ps(w + i, _mm_add_ps(wi, _mm_mul_ps(nstep, _mm_div_ps(mi, denom))));
  }
#endif
  for (; i < hi; i++) {
    float gi = g[i] + w[i] * c.wd;
    m[i] = m[i] * c.b1 + gi * c.omb1;
    v[i] = v[i] * c.b2 + gi * gi * c.omb2;
    float denom = sqrtf(v[i]) / c.bc2_sqrt + c.eps;
    w[i] += -c.step_size * (m[i] / denom);
  }
}

void dm_svdd_adam_step(dm_svdd_adam *a, float *w, float *g, double lr)
{
  a->step++;
  /* The order of operations follows torch.optim.Adam (single-tensor path):
   * scalars in double, element-wise arithmetic in float. */
  double bc1 = 1.0 - pow(a->beta1, (double)a->step);
  double bc2 = 1.0 - pow(a->beta2, (double)a->step);
  adam_consts k = {.step_size = (float)(lr / bc1),
                   .bc2_sqrt = (float)sqrt(bc2),
                   .wd = (float)a->weight_decay,
                   .b1 = (float)a->beta1,
                   .b2 = (float)a->beta2,
                   .omb1 = (float)(1.0 - a->beta1),
                   .omb2 = (float)(1.0 - a->beta2),
                   .eps = (float)a->eps};
  int64_t n = a->n;
  /* Each element's update is independent: any split gives the same bits. */
#pragma omp parallel if (n > DM_SVDD_OMP_MIN && !omp_in_parallel())
  {
    int nt = omp_get_num_threads(), t = omp_get_thread_num();
    adam_range(&k, w, g, a->m, a->v, n * t / nt, n * (t + 1) / nt);
  }
}
