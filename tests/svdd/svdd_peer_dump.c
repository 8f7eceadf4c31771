/* svdd_peer_dump OUTDIR OBJECTIVE: trains a small Deep SVDD network for a
 * few Adam steps through the same calls the trainer uses (dm_svdd_centre,
 * dm_svdd_step) and writes what an independent PyTorch run needs to repeat
 * them: the data, the initial weights, the centre, R^2, and the loss of every
 * step plus the final weights for the comparison (tests/svdd/torch_peer.py).
 * Batches are consecutive rows (no shuffle), 4 per epoch, 3 epochs, with a
 * learning-rate milestone at epoch 2 and weight decay on. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_rng.h"
#include "dm_svdd_impl.h"

#define N 512
#define DIM 10
#define B 128

static int write_f32(const char *dir, const char *name, const float *v, size_t n)
{
  char p[1024];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *f = fopen(p, "wb");
  if (!f || fwrite(v, sizeof(float), n, f) != n) {
    fprintf(stderr, "svdd_peer_dump: cannot write %s\n", p);
    return 1;
  }
  return fclose(f) != 0;
}

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  if (argc != 3) {
    fprintf(stderr, "usage: svdd_peer_dump OUTDIR one-class|soft-boundary\n");
    MPI_Finalize();
    return 2;
  }
  const char *dir = argv[1];
  dm_svdd_objective obj;
  if (dm_svdd_objective_parse(argv[2], &obj) != DM_OK) {
    fprintf(stderr, "svdd_peer_dump: %s\n", dm_error_message());
    MPI_Finalize();
    return 2;
  }
  dm_svdd_opts o;
  dm_svdd_opts_default(&o);
  o.lr = 1e-2;
  o.weight_decay = 1e-3;
  o.n_milestones = 1;
  o.milestones[0] = 2;
  const double nu = 0.25;
  const int dims[4] = {DIM, 32, 16, 4}, L = 3, out = 4;
  float *x = malloc(N * DIM * sizeof(float));
  for (int i = 0; i < N; i++) {
    dm_rng r;
    dm_rng_init(&r, 99, (uint64_t)i, 0);
    for (int j = 0; j < DIM; j++)
      x[i * DIM + j] = (float)(dm_rng_normal(&r) * (1.0 + 0.2 * j) + (i % 3 == 0 ? 1.0 : 0.0));
  }
  dm_svdd_net net;
  dm_svdd_work ws;
  dm_svdd_adam adam;
  int rc = 0;
  if (dm_svdd_net_alloc(&net, L, dims) || dm_svdd_work_alloc(&ws, &net, B) ||
      dm_svdd_adam_alloc(&adam, net.n_params, o.weight_decay)) {
    fprintf(stderr, "svdd_peer_dump: %s\n", dm_error_message());
    MPI_Abort(MPI_COMM_SELF, 1);
  }
  dm_svdd_net_init_uniform(&net, 5);
  float c[4];
  if (dm_svdd_centre(&net, &ws, x, N, N, MPI_COMM_SELF, c) != DM_OK) {
    fprintf(stderr, "svdd_peer_dump: %s\n", dm_error_message());
    MPI_Abort(MPI_COMM_SELF, 1);
  }
  rc |= write_f32(dir, "data.f32", x, N * DIM);
  rc |= write_f32(dir, "w0.f32", net.w, (size_t)net.n_params);
  rc |= write_f32(dir, "c.f32", c, out);
  /* A fixed R^2 between the two middle initial distances, so the
   * soft-boundary hinge is active for part of every batch and no row sits
   * exactly on the kink (where frameworks may pick either derivative). */
  float *d2all = malloc(N * sizeof(float));
  for (int b = 0; b < N; b += B)
    dm_svdd_dist2(dm_svdd_forward(&net, &ws, x + b * DIM, B), B, out, c, d2all + b);
  float lo = 0.0f, hi = 0.0f;
  dm_svdd_select_kth(d2all, N, N / 2 - 1, MPI_COMM_SELF, &lo);
  dm_svdd_select_kth(d2all, N, N / 2, MPI_COMM_SELF, &hi);
  double r2 = obj == DM_SVDD_SOFT_BOUNDARY ? (float)(0.5 * ((double)lo + hi)) : 0.0;
  float r2_out = (float)r2;
  rc |= write_f32(dir, "r2.f32", &r2_out, 1);
  dm_svdd_stepper st = {.c = c, .objective = obj, .nu = nu, .r2 = r2};
  if (dm_svdd_stepper_alloc(&st, &net, &adam, B) != DM_OK)
    MPI_Abort(MPI_COMM_SELF, 1);
  char p[1024];
  snprintf(p, sizeof p, "%s/losses.txt", dir);
  FILE *lf = fopen(p, "w");
  if (!lf)
    MPI_Abort(MPI_COMM_SELF, 1);
  for (int e = 0; e < 3; e++)
    for (int b = 0; b < N; b += B) {
      memcpy(st.x, x + b * DIM, B * DIM * sizeof(float));
      double loss = 0.0;
      if (dm_svdd_step(&st, B, B, dm_svdd_lr_at(&o, e), MPI_COMM_SELF, &loss) != DM_OK)
        MPI_Abort(MPI_COMM_SELF, 1);
      fprintf(lf, "%.9g\n", loss);
    }
  rc |= fclose(lf) != 0;
  rc |= write_f32(dir, "w_final.f32", net.w, (size_t)net.n_params);
  free(x);
  free(d2all);
  dm_svdd_stepper_free(&st);
  dm_svdd_adam_free(&adam);
  dm_svdd_work_free(&ws);
  dm_svdd_net_free(&net);
  MPI_Finalize();
  return rc;
}
