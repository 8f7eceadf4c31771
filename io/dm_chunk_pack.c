/* HDF5's shuffle + zstd on whole chunks, outside HDF5 (dm_chunk_pack.h). */
#include "dm_chunk_pack.h"

#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Per-thread state, kept across calls: creating a zstd context or a
 * shuffle buffer costs more than compressing a chunk. */
struct dm_chunk_packer {
  int n;
  ZSTD_CCtx **cctx;
  char **scratch;
  int64_t scratch_cap;
};

dm_chunk_packer *dm_chunk_packer_new(void) { return calloc(1, sizeof(dm_chunk_packer)); }

void dm_chunk_packer_free(dm_chunk_packer *p)
{
  if (!p)
    return;
  for (int t = 0; t < p->n; t++) {
    ZSTD_freeCCtx(p->cctx[t]);
    free(p->scratch[t]);
  }
  free(p->cctx);
  free(p->scratch);
  free(p);
}

int64_t dm_chunk_pack_bound(int64_t n_chunk, size_t esz, int level)
{
  size_t full = (size_t)n_chunk * esz;
  return (int64_t)(level > 0 ? ZSTD_compressBound(full) : full);
}

/* HDF5's shuffle filter over a whole chunk of n elements, of which the first
 * nv are given and the rest are zero: byte b of element k goes to
 * out[b * n + k]. Constant element sizes let the compiler unroll. */
#define SHUFFLE_BODY(ESZ)                                    \
  for (int64_t k = 0; k < nv; k++)                           \
    for (int b = 0; b < (ESZ); b++)                          \
      out[(int64_t)b * n + k] = src[k * (ESZ) + b];
#ifdef __SSE2__
/* 4-byte elements, 16 at a time: three rounds of byte interleaving turn four
 * elements per register into eight values of each byte, and a 64-bit
 * interleave puts 16 values of one byte in one register. The float columns
 * are most of a store, and this is several times faster than the bytewise
 * loop. Returns how many elements it did (a multiple of 16). */
static int64_t shuffle4_sse2(const unsigned char *src, int64_t nv, int64_t n, unsigned char *out)
{
  int64_t k = 0;
  for (; k + 16 <= nv; k += 16) {
    const __m128i *p = (const __m128i *)(src + 4 * k);
    __m128i x0 = _mm_loadu_si128(p), x1 = _mm_loadu_si128(p + 1);
    __m128i x2 = _mm_loadu_si128(p + 2), x3 = _mm_loadu_si128(p + 3);
    __m128i t0 = _mm_unpacklo_epi8(x0, x1), t1 = _mm_unpackhi_epi8(x0, x1);
    __m128i t2 = _mm_unpacklo_epi8(x2, x3), t3 = _mm_unpackhi_epi8(x2, x3);
    __m128i u0 = _mm_unpacklo_epi8(t0, t1), u1 = _mm_unpackhi_epi8(t0, t1);
    __m128i u2 = _mm_unpacklo_epi8(t2, t3), u3 = _mm_unpackhi_epi8(t2, t3);
    __m128i v0 = _mm_unpacklo_epi8(u0, u1), v1 = _mm_unpackhi_epi8(u0, u1);
    __m128i w0 = _mm_unpacklo_epi8(u2, u3), w1 = _mm_unpackhi_epi8(u2, u3);
    _mm_storeu_si128((__m128i *)(out + k), _mm_unpacklo_epi64(v0, w0));
    _mm_storeu_si128((__m128i *)(out + n + k), _mm_unpackhi_epi64(v0, w0));
    _mm_storeu_si128((__m128i *)(out + 2 * n + k), _mm_unpacklo_epi64(v1, w1));
    _mm_storeu_si128((__m128i *)(out + 3 * n + k), _mm_unpackhi_epi64(v1, w1));
  }
  return k;
}
#endif

static void shuffle_pad(const unsigned char *src, int64_t nv, int64_t n, size_t esz,
                        unsigned char *out)
{
  switch (esz) {
  case 2: SHUFFLE_BODY(2) break;
  case 4: {
    int64_t k0 = 0;
#ifdef __SSE2__
    k0 = shuffle4_sse2(src, nv, n, out);
#endif
    for (int64_t k = k0; k < nv; k++)
      for (int b = 0; b < 4; b++)
        out[(int64_t)b * n + k] = src[k * 4 + b];
    break;
  }
  case 8: SHUFFLE_BODY(8) break;
  default:
    for (int64_t k = 0; k < nv; k++)
      for (size_t b = 0; b < esz; b++)
        out[(int64_t)b * n + k] = src[k * (int64_t)esz + (int64_t)b];
  }
  if (nv < n)
    for (size_t b = 0; b < esz; b++)
      memset(out + (int64_t)b * n + nv, 0, (size_t)(n - nv));
}

static void pack_one(dm_chunk_packer *p, dm_chunk_job *j, int t)
{
  size_t full = (size_t)j->n_chunk * j->esz;
  const unsigned char *in = j->src;
  unsigned char *sc = (unsigned char *)p->scratch[t];
  if (j->shuffle) {
    shuffle_pad(in, j->n_valid, j->n_chunk, j->esz, sc);
    in = sc;
  } else if (j->n_valid < j->n_chunk) {
    /* The last chunk is stored whole, its tail zero. */
    memcpy(sc, in, (size_t)j->n_valid * j->esz);
    memset(sc + (size_t)j->n_valid * j->esz, 0, full - (size_t)j->n_valid * j->esz);
    in = sc;
  }
  if (j->level == 0) {
    memcpy(j->dst, in, full);
    j->size = (int64_t)full;
    return;
  }
  size_t r = ZSTD_compressCCtx(p->cctx[t], j->dst,
                               (size_t)dm_chunk_pack_bound(j->n_chunk, j->esz, j->level), in,
                               full, j->level);
  j->size = ZSTD_isError(r) ? -1 : (int64_t)r;
}

/* Room for nt threads and chunks of sc bytes. */
static dm_status reserve(dm_chunk_packer *p, int nt, int64_t sc)
{
  if (nt <= p->n && sc <= p->scratch_cap)
    return DM_OK;
  int n = nt > p->n ? nt : p->n;
  if (n > p->n) {
    ZSTD_CCtx **z = realloc(p->cctx, (size_t)n * sizeof *z);
    if (z)
      p->cctx = z;
    char **s = realloc(p->scratch, (size_t)n * sizeof *s);
    if (s)
      p->scratch = s;
    if (!z || !s)
      return dm_error(DM_ERR_NOMEM, "no memory for compression contexts");
    for (int t = p->n; t < n; t++) {
      p->cctx[t] = NULL;
      p->scratch[t] = NULL;
    }
    p->n = n;
  }
  int64_t cap = sc > p->scratch_cap ? sc : p->scratch_cap;
  for (int t = 0; t < n; t++) {
    if (!p->cctx[t])
      p->cctx[t] = ZSTD_createCCtx();
    if (!p->cctx[t])
      return dm_error(DM_ERR_NOMEM, "no memory for a zstd context");
    if (cap > p->scratch_cap || !p->scratch[t]) {
      char *b = realloc(p->scratch[t], (size_t)(cap > 0 ? cap : 1));
      if (!b)
        return dm_error(DM_ERR_NOMEM, "no memory for a chunk of %lld bytes", (long long)cap);
      p->scratch[t] = b;
    }
  }
  p->scratch_cap = cap;
  return DM_OK;
}

int dm_chunk_pack_threads(void)
{
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

dm_status dm_chunk_pack(dm_chunk_packer *p, dm_chunk_job *jobs, int n)
{
  int64_t sc = 0;
  for (int i = 0; i < n; i++)
    if ((int64_t)(jobs[i].n_chunk * (int64_t)jobs[i].esz) > sc)
      sc = jobs[i].n_chunk * (int64_t)jobs[i].esz;
  int nt = 1;
#ifdef _OPENMP
  nt = omp_get_max_threads();
  if (nt > n)
    nt = n > 0 ? n : 1;
#endif
  DM_FORWARD(reserve(p, nt, sc));
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
  for (int i = 0; i < n; i++)
    pack_one(p, &jobs[i], omp_get_thread_num());
#else
  for (int i = 0; i < n; i++)
    pack_one(p, &jobs[i], 0);
#endif
  for (int i = 0; i < n; i++)
    if (jobs[i].size < 0)
      return dm_error(DM_ERR_INTERNAL, "zstd failed on a chunk of %lld bytes",
                      (long long)(jobs[i].n_chunk * (int64_t)jobs[i].esz));
  return DM_OK;
}
