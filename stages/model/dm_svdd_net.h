/* dm_svdd_net.h - the Deep SVDD network: a multilayer perceptron without bias
 * terms (leaky ReLU hidden layers, linear last layer), its forward and
 * backward passes on a batch, and the Adam optimiser.
 *
 * Bias terms are left out on purpose: with a bias the network can map every
 * input onto the centre c and the one-class objective has a trivial minimum
 * (Ruff et al., ICML 2018, proposition 2).
 *
 * Layout: every parameter lives in one flat float vector so that gradients
 * are summed over ranks with a single MPI_Allreduce and a checkpoint is one
 * array. Layer l (0-based) maps dims[l] -> dims[l+1]; its weight matrix is
 * dims[l+1] x dims[l], row-major (the layout of torch.nn.Linear.weight), at
 * w + off[l]. Batches are row-major float, one event per row.
 *
 * Arithmetic: matrix products go through cblas_sgemm (OpenBLAS, which uses
 * the OpenMP threads of the rank); element-wise loops are OpenMP loops whose
 * result does not depend on the thread count.
 *
 * All calls are LOCAL.
 */
#ifndef DM_SVDD_NET_H
#define DM_SVDD_NET_H

#include <stdint.h>

#include "dm_rng.h"
#include "dm_status.h"

#define DM_SVDD_MAX_LAYERS 8
/* torch.nn.LeakyReLU's default negative slope. */
#define DM_SVDD_LEAK 0.01f

typedef struct {
  int n_layers;                        /* weight matrices, 1..DM_SVDD_MAX_LAYERS */
  int dims[DM_SVDD_MAX_LAYERS + 1];    /* dims[0] input, dims[n_layers] output */
  int64_t off[DM_SVDD_MAX_LAYERS + 1]; /* start of layer l in w; off[n_layers] = n_params */
  int64_t n_params;
  float *w; /* n_params */
} dm_svdd_net;

/* Initialise the shape (dims has n_layers + 1 entries, each in
 * [1, 1 << 20]) and allocate w (zeroed). DM_ERR_ARG names a bad dimension. */
dm_status dm_svdd_net_alloc(dm_svdd_net *net, int n_layers, const int *dims);

/* Draw w as torch.nn.Linear does by default (Kaiming-uniform with a = sqrt(5),
 * that is U(-1/sqrt(fan_in), 1/sqrt(fan_in))), layer l from the stream
 * dm_rng_init(seed, DM_SVDD_STREAM_INIT, l), in row-major order. */
#define DM_SVDD_STREAM_INIT 0x5744494e49ULL /* any constant: names the stream */
void dm_svdd_net_init_uniform(dm_svdd_net *net, uint64_t seed);

/* Deep copy (dst must be unallocated or freed). */
dm_status dm_svdd_net_copy(dm_svdd_net *dst, const dm_svdd_net *src);

/* Free w (accepts a zeroed net). */
void dm_svdd_net_free(dm_svdd_net *net);

/* Workspace for batches of up to cap rows: the activations of every layer
 * (kept by forward for backward) and two gradient buffers. One workspace
 * per thread: the calls below may run inside an OpenMP parallel region, each
 * thread on its own rows and workspace (BLAS then runs single-threaded). */
typedef struct {
  int64_t cap;
  const float *in;                    /* input of the last forward pass */
  float *act[DM_SVDD_MAX_LAYERS + 1]; /* act[0]: an input buffer for callers;
                                         act[n_layers]: the output */
  float *g0, *g1;                     /* cap x max(dims) each */
} dm_svdd_work;

dm_status dm_svdd_work_alloc(dm_svdd_work *ws, const dm_svdd_net *net, int64_t cap);
void dm_svdd_work_free(dm_svdd_work *ws);

/* Forward pass of the n rows at x (n <= ws->cap; x must stay unchanged
 * until backward, and may be dm_svdd_work_input(ws), a buffer of cap rows).
 * Returns the output, n x dims[n_layers] inside ws. */
float *dm_svdd_work_input(dm_svdd_work *ws);
const float *dm_svdd_forward(const dm_svdd_net *net, dm_svdd_work *ws, const float *x, int64_t n);

/* Backward pass after dm_svdd_forward on the same n rows: dout is
 * dLoss/dOutput (n x dims[n_layers]); the weight gradient is ADDED to grad
 * (n_params). dout may be ws->g0. */
void dm_svdd_backward(const dm_svdd_net *net, dm_svdd_work *ws, int64_t n, const float *dout,
                      float *grad);

/* ---- objectives ------------------------------------------------------------
 * With d2_i = |phi(x_i) - c|^2 over a global batch of B rows:
 *   one-class:      L = (1/B) sum_i d2_i
 *   soft-boundary:  L = R^2 + (1/(nu B)) sum_i max(0, d2_i - R^2)
 * (R is not a trained parameter: it is set between epochs, see dm_svdd.h).
 * dm_svdd_loss_grad writes dL/dphi of this rank's n rows into dout, their
 * d2_i into d2 (n floats), and returns this rank's part of the sum term
 * (without the R^2 of soft-boundary, which the caller adds once), summed in
 * row order in double. inv_b = 1/B of the GLOBAL batch. */
typedef enum { DM_SVDD_ONE_CLASS = 0, DM_SVDD_SOFT_BOUNDARY = 1 } dm_svdd_objective;

double dm_svdd_loss_grad(dm_svdd_objective obj, const float *phi, int64_t n, int dim,
                         const float *c, double r2, double nu, double inv_b, float *dout,
                         float *d2);

/* The same with row weights rw[0..n) (NULL = all 1): row i's term and
 * gradient are multiplied by rw[i], L = (1/B) sum_i rw_i d2_i (one-class).
 * With weights normalised to mean 1 over the training set this is an
 * unbiased batch estimate of the weighted mean sum w d2 / sum w; over a
 * batch holding every row it is that mean exactly (integer weights then
 * equal duplicated rows). */
double dm_svdd_loss_grad_w(dm_svdd_objective obj, const float *phi, int64_t n, int dim,
                           const float *c, double r2, double nu, double inv_b, const float *rw,
                           float *dout, float *d2);

/* Squared distances |phi_i - c|^2 of n rows into d2 (float arithmetic,
 * summed in column order, so a row's value does not depend on the batch). */
void dm_svdd_dist2(const float *phi, int64_t n, int dim, const float *c, float *d2);

/* ---- Adam, as torch.optim.Adam (amsgrad off) --------------------------------
 * weight_decay is PyTorch's L2 form: g += weight_decay * w before the moments.
 * step counts updates done so far (0 before the first). */
typedef struct {
  int64_t n;
  int64_t step;
  float *m, *v; /* first and second moments, n each */
  double beta1, beta2, eps, weight_decay;
} dm_svdd_adam;

dm_status dm_svdd_adam_alloc(dm_svdd_adam *a, int64_t n, double weight_decay);
void dm_svdd_adam_free(dm_svdd_adam *a);
/* One update of w with gradient g (g is modified) at learning rate lr. */
void dm_svdd_adam_step(dm_svdd_adam *a, float *w, float *g, double lr);

#endif
