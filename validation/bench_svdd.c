/* bench_svdd: Deep SVDD speed on synthetic inputs (run by bench_svdd.sh).
 *
 *   bench_svdd [--events N] [--dim D] [--epochs E] [--batch B] [--json FILE]
 *
 * Measures, with the threads OMP_NUM_THREADS gives OpenBLAS:
 *   - the machine's sgemm rate: best of several 2048^3 products (the peak
 *     the training rate is compared with), and at the shapes of the first
 *     layer's products for batch B;
 *   - training events/s and GFLOP/s of dm_svdd_fit (D-256-128-13, batch B,
 *     one-class, Adam) over every rank of MPI_COMM_WORLD;
 *   - inference events/s of dm_svdd_score.
 * Inputs: standard normal rows drawn per row index (dm_rng), so any rank
 * count trains on the same set. */
#include <cblas.h>
#include <math.h>
#include <mpi.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_rng.h"
#include "dm_svdd.h"

static double sgemm_rate(int m, int n, int k, int ta, int tb, int reps)
{
  float *a = malloc((size_t)m * k * sizeof(float)), *b = malloc((size_t)k * n * sizeof(float));
  float *c = malloc((size_t)m * n * sizeof(float));
  for (size_t i = 0; i < (size_t)m * k; i++)
    a[i] = (float)(i % 7) * 0.1f;
  for (size_t i = 0; i < (size_t)k * n; i++)
    b[i] = (float)(i % 5) * 0.1f;
  double best = 1e30;
  for (int r = 0; r < reps; r++) {
    double t0 = omp_get_wtime();
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m,
                n, k, 1.0f, a, ta ? m : k, b, tb ? k : n, 0.0f, c, n);
    double t = omp_get_wtime() - t0;
    if (t < best)
      best = t;
  }
  free(a);
  free(b);
  free(c);
  return 2.0 * m * n * k / best * 1e-9;
}

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  MPI_Comm comm = MPI_COMM_WORLD;
  int rank = dm_rank(comm);
  int64_t n_total = 100000;
  int dim = 222, epochs = 3, batch = 500;
  const char *json = NULL;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--events"))
      n_total = atoll(argv[i + 1]);
    else if (!strcmp(argv[i], "--dim"))
      dim = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--epochs"))
      epochs = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--batch"))
      batch = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--json"))
      json = argv[i + 1];
  }
  int threads = omp_get_max_threads();
  double peak = 0.0;
  for (int r = 0; r < 3; r++)
    peak = fmax(peak, sgemm_rate(2048, 2048, 2048, 0, 0, 2));
  double l1_fwd = sgemm_rate(batch, 256, dim, 0, 1, 20);
  double l1_dw = sgemm_rate(256, dim, batch, 1, 0, 20);

  int64_t b, e;
  dm_partition(n_total, rank, dm_size(comm), &b, &e);
  float *x = malloc((size_t)(e - b + 1) * dim * sizeof(float));
  for (int64_t i = b; i < e; i++) {
    dm_rng r;
    dm_rng_init(&r, 3, (uint64_t)i, 0);
    for (int j = 0; j < dim; j++)
      x[(i - b) * dim + j] = (float)dm_rng_normal(&r);
  }
  dm_model_data d = {.x = x, .n_local = e - b, .n_total = n_total, .dim = dim, .seed = 1};
  dm_svdd_opts o;
  dm_svdd_opts_default(&o);
  o.epochs = epochs;
  o.batch = batch;
  dm_svdd_model *m = NULL;
  dm_svdd_report rep;
  dm_status s = dm_svdd_fit(&d, &o, comm, &m, &rep);
  if (s != DM_OK) {
    fprintf(stderr, "bench_svdd: %s\n", dm_error_message());
    MPI_Abort(comm, 1);
  }
  /* Inference over this rank's rows, best of 3. */
  double *sc = malloc((size_t)(e - b + 1) * sizeof(double));
  double best = 1e30;
  for (int r = 0; r < 3; r++) {
    MPI_Barrier(comm);
    double t0 = MPI_Wtime();
    dm_svdd_score(m, x, e - b, dim, sc);
    MPI_Barrier(comm);
    best = fmin(best, MPI_Wtime() - t0);
  }
  double infer = (double)n_total / best;
  if (rank == 0) {
    printf("bench_svdd: %d rank(s) x %d thread(s), %lld events x %d, network %d-256-128-13, "
           "batch %d, %d epochs\n", dm_size(comm), threads, (long long)n_total, dim, dim, batch,
           epochs);
    printf("  sgemm 2048^3 (peak)         %8.1f GFLOP/s\n", peak);
    printf("  sgemm %dx256x%d (fwd l1)    %8.1f GFLOP/s\n", batch, dim, l1_fwd);
    printf("  sgemm 256x%dx%d (dW l1)     %8.1f GFLOP/s\n", dim, batch, l1_dw);
    printf("  training                    %8.0f events/s  %6.1f GFLOP/s  (%.0f%% of peak)\n",
           rep.events_per_s, rep.gflops, 100.0 * rep.gflops / peak);
    printf("  inference                   %8.0f events/s\n", infer);
    printf("  final loss                  %8.4g\n", rep.final_loss[0]);
    if (json) {
      FILE *f = fopen(json, "w");
      if (f) {
        fprintf(f, "{\"ranks\": %d, \"threads\": %d, \"events\": %lld, \"dim\": %d, "
                   "\"batch\": %d, \"epochs\": %d, \"sgemm_peak_gflops\": %.3f, "
                   "\"train_events_per_s\": %.1f, \"train_gflops\": %.3f, "
                   "\"infer_events_per_s\": %.1f, \"final_loss\": %.6g}\n",
                dm_size(comm), threads, (long long)n_total, dim, batch, epochs, peak,
                rep.events_per_s, rep.gflops, infer, rep.final_loss[0]);
        fclose(f);
      }
    }
  }
  free(sc);
  free(x);
  dm_svdd_model_free(m);
  MPI_Finalize();
  return 0;
}
