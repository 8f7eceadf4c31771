/* The draw plan and the luminosity rules of the dataset stage
 * (dm_dataset.h, dm_dataset_private.h). Everything here is LOCAL and a pure
 * function of its arguments, so every rank computes the same plan. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_csv.h"
#include "dm_dataset_private.h"
#include "dm_rng.h"

int64_t dm_ds_round(double mu)
{
  if (!(mu > 0))
    return 0;
  return (int64_t)floor(mu + 0.5);
}

uint64_t dm_ds_name_hash(const char *s)
{
  uint64_t h = 0xcbf29ce484222325ULL;
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 0x100000001b3ULL;
  }
  return h;
}

void dm_ds_lumi_text(double lumi, char out[32])
{
  size_t n = dm_csv_format_g(lumi, 6, out);
  out[n] = 0;
}

/* floor(scale rate L + 1/2) <= avail for every constrained process. */
static int feasible(const double *rate, const double *scale, const int64_t *avail,
                    const int *use, int n, double lumi)
{
  for (int p = 0; p < n; p++)
    if (use[p] && dm_ds_round(scale[p] * rate[p] * lumi) > avail[p])
      return 0;
  return 1;
}

dm_status dm_ds_lumi_max(const double *rate, const double *scale, const int64_t *avail,
                         const int *use, int n, double *lumi, int *limiting)
{
  /* Process p allows L < (avail + 1/2) / (scale rate); the bound itself
   * rounds up to avail + 1. */
  double bound = INFINITY;
  *limiting = -1;
  for (int p = 0; p < n; p++) {
    if (!use[p] || !(scale[p] * rate[p] > 0))
      continue;
    double b = ((double)avail[p] + 0.5) / (scale[p] * rate[p]);
    if (b < bound) {
      bound = b;
      *limiting = p;
    }
  }
  if (*limiting < 0 || !isfinite(bound))
    return dm_error(DM_ERR_ARG, "no background process has selected events: the background "
                    "would be empty at any luminosity");
  /* The largest m 10^e (m = 100..999) below the bound; checked against the
   * exact rule, stepping down a unit while it fails (float rounding). */
  int e = (int)floor(log10(bound)) - 2;
  double unit = pow(10.0, e);
  double m = floor(bound / unit);
  char text[32];
  for (int tries = 0; tries < 2000; tries++, m -= 1) {
    if (m < 100) {
      m = 999;
      e -= 1;
      unit = pow(10.0, e);
    }
    /* The value is the double that its %g text reads back as, so file names
     * and computations use the same number. */
    double l = m * unit;
    size_t len = dm_csv_format_g(l, 3, text);
    text[len] = 0;
    if (dm_csv_parse_number(text, len, &l) != DM_BAD_NONE || !(l > 0))
      return dm_error(DM_ERR_INTERNAL, "luminosity %s does not read back", text);
    if (l < bound && feasible(rate, scale, avail, use, n, l)) {
      *lumi = l;
      return DM_OK;
    }
  }
  return dm_error(DM_ERR_ARG, "no luminosity with 3 significant digits fits below %g fb^-1",
                  bound);
}

void dm_ds_plan_free(dm_ds_plan *pl)
{
  free(pl->avail_off);
  free(pl->item_of);
  free(pl->item_proc);
  free(pl->decoy_src);
  free(pl->dest);
  memset(pl, 0, sizeof *pl);
}

dm_status dm_ds_plan_make(uint64_t seed, const char *channel, int n_proc,
                          const char *const *names, const int64_t *avail, const int64_t *want,
                          int64_t n_decoy, dm_ds_plan *pl)
{
  memset(pl, 0, sizeof *pl);
  pl->n_proc = n_proc;
  uint64_t ch = dm_ds_name_hash(channel);
  pl->avail_off = malloc(sizeof(int64_t) * (size_t)(n_proc + 1));
  if (!pl->avail_off)
    return dm_error(DM_ERR_NOMEM, "no memory for the draw plan");
  int64_t tot = 0, n_real = 0, amax = 0;
  for (int p = 0; p < n_proc; p++) {
    if (want[p] > avail[p] || want[p] < 0)
      return dm_error(DM_ERR_INTERNAL, "draw of %lld from %lld", (long long)want[p],
                      (long long)avail[p]);
    pl->avail_off[p] = tot;
    tot += avail[p];
    n_real += want[p];
    if (avail[p] > amax)
      amax = avail[p];
  }
  pl->avail_off[n_proc] = tot;
  pl->n_real = n_real;
  pl->n_decoy = n_decoy;
  pl->n_total = n_real + n_decoy;
  if (n_decoy > 0 && n_real == 0)
    return dm_error(DM_ERR_ARG, "decoys need real events to copy, and none were drawn");
  pl->item_of = malloc(sizeof(int64_t) * (size_t)(tot > 0 ? tot : 1));
  pl->item_proc = malloc(sizeof(uint16_t) * (size_t)(n_real > 0 ? n_real : 1));
  pl->decoy_src = malloc(sizeof(int64_t) * (size_t)(n_decoy > 0 ? n_decoy : 1));
  pl->dest = malloc(sizeof(int64_t) * (size_t)(pl->n_total > 0 ? pl->n_total : 1));
  int64_t *a = malloc(sizeof(int64_t) * (size_t)(amax > 0 ? amax : 1));
  if (!pl->item_of || !pl->item_proc || !pl->decoy_src || !pl->dest || !a) {
    free(a);
    return dm_error(DM_ERR_NOMEM, "no memory for the draw plan of %lld events", (long long)tot);
  }
  int64_t c = 0;
  for (int p = 0; p < n_proc; p++) {
    int64_t *io = pl->item_of + pl->avail_off[p];
    for (int64_t k = 0; k < avail[p]; k++) {
      io[k] = -1;
      a[k] = k;
    }
    if (want[p] == 0)
      continue;
    /* Partial Fisher-Yates: a[0..want) is a uniform draw without
     * replacement, in draw order. */
    dm_rng r;
    dm_rng_init(&r, seed, ch ^ DM_DS_TAG_DRAW, dm_ds_name_hash(names[p]));
    for (int64_t i = 0; i < want[p]; i++) {
      int64_t j = i + (int64_t)dm_rng_below(&r, (uint64_t)(avail[p] - i));
      int64_t t = a[i];
      a[i] = a[j];
      a[j] = t;
      io[a[i]] = c;
      pl->item_proc[c] = (uint16_t)p;
      c++;
    }
  }
  free(a);
  for (int64_t j = 0; j < n_decoy; j++) {
    dm_rng r;
    dm_rng_init(&r, seed, ch ^ DM_DS_TAG_DECOY, (uint64_t)j);
    pl->decoy_src[j] = (int64_t)dm_rng_below(&r, (uint64_t)n_real);
  }
  /* One shuffle of every item: order[t] is the item at position t. */
  int64_t *order = malloc(sizeof(int64_t) * (size_t)(pl->n_total > 0 ? pl->n_total : 1));
  if (!order)
    return dm_error(DM_ERR_NOMEM, "no memory for the shuffle");
  for (int64_t t = 0; t < pl->n_total; t++)
    order[t] = t;
  dm_rng r;
  dm_rng_init(&r, seed, ch ^ DM_DS_TAG_SHUFFLE, 0);
  for (int64_t i = pl->n_total - 1; i > 0; i--) {
    int64_t j = (int64_t)dm_rng_below(&r, (uint64_t)(i + 1));
    int64_t t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  for (int64_t t = 0; t < pl->n_total; t++)
    pl->dest[order[t]] = t;
  free(order);
  return DM_OK;
}
