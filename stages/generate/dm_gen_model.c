#include "dm_gen_model.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_gen_private.h"
#include "dm_gen_random.h"
#include "dm_store.h"

/* ---- kinematics --------------------------------------------------------- */

enum {
  K_QUARK, K_BQUARK, K_ELECTRON, K_MUON, K_TAU, K_PHOTON, K_INVIS, /* final states */
  K_TOP, K_W, K_Z, K_H,
  K_WLEP, K_ZLEP, /* bosons of the V+jets samples, which decay to leptons only */
  K_HEAVY2        /* generic 2-body heavy parent handled by caller */
};

typedef struct {
  double px, py, pz, e, m;
  /* Particles made from (pT, y, phi) keep pt and phi, and eta = y when
   * massless (has_dir), so detection needs no square root, logarithm or
   * arctangent for them; their px, py (a sine and cosine) are computed only
   * when something needs them (has_pxy): a decay's boost or the MET. */
  double pt, eta, phi;
  int has_ptphi, has_dir, has_pxy;
  int kind, charge;
} part;

#define MAX_PARTS 96

typedef struct {
  dm_gen_rng rng;
  part fin[MAX_PARTS]; /* final-state particles */
  int nfin;
  part stack[MAX_PARTS]; /* still to decay */
  int nstack;
} gen_state;

static inline double U(gen_state *g) { return dm_gen_uniform(&g->rng); }
static inline double uphi(gen_state *g) { return TWO_PI * U(g) - M_PI; }
static inline double N(gen_state *g) { return dm_gen_normal(&g->rng); }
static inline double wrap_phi(double phi)
{
  while (phi > M_PI)
    phi -= TWO_PI;
  while (phi < -M_PI)
    phi += TWO_PI;
  return phi;
}
static inline double E1(gen_state *g) { return dm_gen_exponential(&g->rng); }
/* Gamma(2, theta): a peaked, falling spectrum, mean 2 theta. */
static inline double gamma2(gen_state *g, double theta) { return theta * (E1(g) + E1(g)); }
/* Density ~ x^-n above xmin: xmin U^(-1/(n-1)), with -log U exponential. */
static inline double powerlaw(gen_state *g, double xmin, double n)
{
  return xmin * exp(E1(g) / (n - 1.0));
}

static inline void set_pxy(part *p)
{
  double sn, cs;
  dm_gen_sincos(p->phi, &sn, &cs);
  p->px = p->pt * cs;
  p->py = p->pt * sn;
  p->has_pxy = 1;
}

static part make_ptyphi(double pt, double y, double phi, double m, int kind, int charge)
{
  part p;
  double mt = m == 0 ? pt : sqrt(m * m + pt * pt), ey = exp(y), iey = 1.0 / ey;
  p.pz = mt * 0.5 * (ey - iey);
  p.e = mt * 0.5 * (ey + iey);
  p.m = m;
  p.kind = kind;
  p.charge = charge;
  p.pt = pt;
  p.eta = y;
  p.phi = wrap_phi(phi);
  p.has_ptphi = 1;
  p.has_dir = m == 0;
  p.has_pxy = 0;
  p.px = p.py = 0.0;
  /* Decays boost with px, py; the other final states wait for detect. */
  if (kind >= K_TOP || kind == K_INVIS)
    set_pxy(&p);
  return p;
}

static void push_final(gen_state *g, part p)
{
  if (g->nfin < MAX_PARTS)
    g->fin[g->nfin++] = p;
}

static void push_decay(gen_state *g, part p)
{
  if (p.kind < K_TOP)
    push_final(g, p);
  else if (g->nstack < MAX_PARTS)
    g->stack[g->nstack++] = p;
}

/* Two-body decay of `par` into masses m1, m2: isotropic in the rest frame,
 * boosted to the lab. Off-shell daughters are squeezed to fit. */
static void decay2(gen_state *g, const part *par, double m1, double m2, part *d1, part *d2)
{
  assert(par->has_pxy); /* every parent is made with kind >= K_TOP or decayed */
  double M = par->m;
  if (m1 + m2 >= M) {
    double s = 0.98 * M / (m1 + m2);
    m1 *= s;
    m2 *= s;
  }
  double a = M * M - (m1 + m2) * (m1 + m2), b = M * M - (m1 - m2) * (m1 - m2);
  double iM = 1.0 / M, iEM = 1.0 / (par->e + M);
  double ab = a * b, ct = 2.0 * U(g) - 1.0, st2 = 1.0 - ct * ct, sph, cph;
  double pst = sqrt(ab > 0 ? ab : 0.0) * 0.5 * iM, st = sqrt(st2 > 0 ? st2 : 0.0);
  dm_gen_sincos(uphi(g), &sph, &cph);
  double p1x = pst * st * cph, p1y = pst * st * sph, p1z = pst * ct;
  double e1 = sqrt(m1 * m1 + pst * pst), e2 = sqrt(m2 * m2 + pst * pst);
  /* Boost by the parent (P, E, M): p = p* + P (e* + P.p* / (E + M)) / M and
   * E' = (E e* + P.p*) / M; no division by |P|, so a parent at rest is fine. */
  double pp = par->px * p1x + par->py * p1y + par->pz * p1z, q = pp * iEM;
  double f1 = (e1 + q) * iM, f2 = (e2 - q) * iM;
  d1->px = p1x + f1 * par->px;
  d1->py = p1y + f1 * par->py;
  d1->pz = p1z + f1 * par->pz;
  d1->e = (par->e * e1 + pp) * iM;
  d1->m = m1;
  d1->pt = d1->eta = d1->phi = 0.0; /* unknown until detected */
  d1->has_ptphi = d1->has_dir = 0;
  d1->has_pxy = 1;
  d2->px = -p1x + f2 * par->px;
  d2->py = -p1y + f2 * par->py;
  d2->pz = -p1z + f2 * par->pz;
  d2->e = (par->e * e2 - pp) * iM;
  d2->m = m2;
  d2->pt = d2->eta = d2->phi = 0.0; /* unknown until detected */
  d2->has_ptphi = d2->has_dir = 0;
  d2->has_pxy = 1;
}

static void decay_into(gen_state *g, const part *par, int k1, int q1, double m1, int k2, int q2,
                       double m2)
{
  part d1, d2;
  decay2(g, par, m1, m2, &d1, &d2);
  d1.kind = k1;
  d1.charge = q1;
  d2.kind = k2;
  d2.charge = q2;
  push_decay(g, d1);
  push_decay(g, d2);
}

/* W decay with charge q (+1/-1): leptons by the W's branching fractions
 * (about 10.8% each of e, mu, tau; hadrons 67.6%). */
static void decay_w(gen_state *g, const part *w)
{
  double u = U(g);
  int q = w->charge;
  if (u < 0.108)
    decay_into(g, w, K_ELECTRON, q, 0.0, K_INVIS, 0, 0.0);
  else if (u < 0.214)
    decay_into(g, w, K_MUON, q, M_MU, K_INVIS, 0, 0.0);
  else if (u < 0.327)
    decay_into(g, w, K_TAU, q, M_TAU, K_INVIS, 0, 0.0);
  else
    decay_into(g, w, U(g) < 0.02 ? K_BQUARK : K_QUARK, 0, 0.0, K_QUARK, 0, 0.0);
}

/* Z decay: ee, mumu, tautau 3.37% each, nunu 20%, bb 15.1%, other quarks. */
static void decay_z(gen_state *g, const part *z)
{
  double u = U(g);
  if (u < 0.0337)
    decay_into(g, z, K_ELECTRON, -1, 0.0, K_ELECTRON, 1, 0.0);
  else if (u < 0.0674)
    decay_into(g, z, K_MUON, -1, M_MU, K_MUON, 1, M_MU);
  else if (u < 0.1011)
    decay_into(g, z, K_TAU, -1, M_TAU, K_TAU, 1, M_TAU);
  else if (u < 0.3011)
    decay_into(g, z, K_INVIS, 0, 0.0, K_INVIS, 0, 0.0);
  else if (u < 0.4521)
    decay_into(g, z, K_BQUARK, 0, M_B, K_BQUARK, 0, M_B);
  else
    decay_into(g, z, K_QUARK, 0, 0.0, K_QUARK, 0, 0.0);
}

/* Higgs (125 GeV): bb 58%, WW* 21%, gg/cc 11%, tautau 6%, ZZ* 2.7%, rest
 * gamma gamma (0.23%) and the small modes folded into gg. */
static void decay_h(gen_state *g, const part *h)
{
  double u = U(g);
  if (u < 0.58) {
    decay_into(g, h, K_BQUARK, 0, M_B, K_BQUARK, 0, M_B);
  } else if (u < 0.79) {
    decay_into(g, h, K_W, 1, M_W, K_W, -1, 15.0 + 25.0 * U(g));
  } else if (u < 0.8977) {
    decay_into(g, h, K_QUARK, 0, 0.0, K_QUARK, 0, 0.0);
  } else if (u < 0.9577) {
    decay_into(g, h, K_TAU, -1, M_TAU, K_TAU, 1, M_TAU);
  } else if (u < 0.9977) {
    decay_into(g, h, K_Z, 0, M_Z, K_Z, 0, 12.0 + 20.0 * U(g));
  } else {
    decay_into(g, h, K_PHOTON, 0, 0.0, K_PHOTON, 0, 0.0);
  }
}

/* V+jets samples keep leptonic decays only: W -> e, mu, tau (1/3 each);
 * Z -> l+l- (one third, split evenly over e, mu, tau) or nu nubar. */
static void decay_vlep(gen_state *g, const part *v)
{
  double u = U(g);
  int q = v->charge;
  if (v->kind == K_WLEP) {
    if (u < 1.0 / 3)
      decay_into(g, v, K_ELECTRON, q, 0.0, K_INVIS, 0, 0.0);
    else if (u < 2.0 / 3)
      decay_into(g, v, K_MUON, q, M_MU, K_INVIS, 0, 0.0);
    else
      decay_into(g, v, K_TAU, q, M_TAU, K_INVIS, 0, 0.0);
  } else {
    if (u < 0.112)
      decay_into(g, v, K_ELECTRON, -1, 0.0, K_ELECTRON, 1, 0.0);
    else if (u < 0.224)
      decay_into(g, v, K_MUON, -1, M_MU, K_MUON, 1, M_MU);
    else if (u < 0.336)
      decay_into(g, v, K_TAU, -1, M_TAU, K_TAU, 1, M_TAU);
    else
      decay_into(g, v, K_INVIS, 0, 0.0, K_INVIS, 0, 0.0);
  }
}

static void run_decays(gen_state *g)
{
  while (g->nstack > 0) {
    part p = g->stack[--g->nstack];
    switch (p.kind) {
    case K_TOP: /* t -> b W, charge follows the top */
      decay_into(g, &p, K_BQUARK, 0, M_B, K_W, p.charge, M_W);
      break;
    case K_W:
      decay_w(g, &p);
      break;
    case K_Z:
      decay_z(g, &p);
      break;
    case K_H:
      decay_h(g, &p);
      break;
    case K_WLEP:
    case K_ZLEP:
      decay_vlep(g, &p);
      break;
    default:
      push_final(g, p);
      break;
    }
  }
}

/* Initial-state radiation: Poisson(mu) jets with a falling spectrum. */
static void add_isr(gen_state *g, double mu, double ptmin, double index)
{
  int n = dm_gen_poisson(&g->rng, mu, exp(-mu));
  for (int i = 0; i < n; i++) {
    double pt = powerlaw(g, ptmin, index);
    push_final(g, make_ptyphi(pt, 1.8 * N(g), uphi(g), 0.0,
                              U(g) < 0.03 ? K_BQUARK : K_QUARK, 0));
  }
}

/* A pair of heavy particles, back to back in the transverse plane up to a
 * kick, each with pT from Gamma(2, theta) and Gaussian rapidity. */
static void add_pair(gen_state *g, double theta, double ysig, double m1, int k1, int q1,
                     double m2, int k2, int q2)
{
  double pt1 = gamma2(g, theta), phi = uphi(g);
  double pt2 = pt1 * (0.6 + 0.8 * U(g));
  double yb = 0.6 * ysig * N(g);
  push_decay(g, make_ptyphi(pt1, yb + ysig * N(g), phi, m1, k1, q1));
  push_decay(g, make_ptyphi(pt2, yb + ysig * N(g),
                            phi + M_PI + 0.4 * N(g), m2, k2, q2));
}

/* A boson (or photon) of pT above ptmin recoiling against a parton. */
static void add_recoil(gen_state *g, double ptmin, double index, double m, int kind, int charge)
{
  double pt = powerlaw(g, ptmin, index), phi = uphi(g);
  double yb = N(g);
  push_decay(g, make_ptyphi(pt, yb + 0.8 * N(g), phi, m, kind, charge));
  double ptj = pt * (0.75 + 0.5 * U(g));
  push_final(g, make_ptyphi(ptj, yb + 1.0 * N(g),
                            phi + M_PI + 0.3 * N(g), 0.0,
                            U(g) < 0.03 ? K_BQUARK : K_QUARK, 0));
}

/* Heavy sparticle of mass M decaying into visible + invisible(mchi) via an
 * intermediate of mass between the thresholds (a sequential stand-in for
 * three-body phase space). vis1, vis2: kinds of the two visible daughters. */
static void sparticle_3body(gen_state *g, const part *s, double mchi, int vis_kind, double mvis,
                            int charge)
{
  double lo = mvis + mchi, hi = s->m - mvis;
  double mstar = hi > lo ? lo + (hi - lo) * U(g) : 0.5 * (s->m + mchi);
  part v1, x;
  decay2(g, s, mvis, mstar, &v1, &x);
  v1.kind = vis_kind;
  v1.charge = charge;
  push_decay(g, v1);
  part v2, chi;
  decay2(g, &x, mvis, mchi, &v2, &chi);
  v2.kind = vis_kind;
  v2.charge = -charge;
  chi.kind = K_INVIS;
  chi.charge = 0;
  push_decay(g, v2);
  push_final(g, chi);
}

static void hard_process(const dm_gen_model *m, gen_state *g)
{
  switch (m->family) {
  case F_QCD: {
    /* 2 -> 2 partons with pT-hat ~ pT^-5 above 300 GeV; hard final-state
     * splittings make the multijet topology. */
    double pthat = powerlaw(g, 300.0, 5.0), phi = uphi(g), yb = 0.7 * N(g);
    for (int j = 0; j < 2; j++) {
      double pt = pthat * (j ? 0.8 + 0.2 * U(g) : 1.0);
      double y = yb + 0.9 * N(g), ph = phi + j * M_PI;
      int kind = U(g) < 0.04 ? K_BQUARK : K_QUARK;
      if (U(g) < 0.55) {
        double z = 0.15 + 0.35 * U(g);
        push_final(g, make_ptyphi(pt * (1 - z), y, ph, 0.0, kind, 0));
        push_final(g, make_ptyphi(pt * z, y + 0.6 * N(g),
                                  ph + 0.6 * N(g), 0.0,
                                  U(g) < 0.03 ? K_BQUARK : K_QUARK, 0));
      } else {
        push_final(g, make_ptyphi(pt, y, ph, 0.0, kind, 0));
      }
    }
    add_isr(g, 1.6, 25.0, 3.0);
    break;
  }
  case F_WJETS:
    add_recoil(g, 70.0, 4.5, M_W, K_WLEP, U(g) < 0.5 ? 1 : -1);
    add_isr(g, 0.5, 20.0, 3.2);
    break;
  case F_ZJETS:
    add_recoil(g, 70.0, 4.5, M_Z, K_ZLEP, 0);
    add_isr(g, 0.5, 20.0, 3.2);
    break;
  case F_GAMJETS:
    add_recoil(g, 70.0, 4.5, 0.0, K_PHOTON, 0);
    add_isr(g, 0.7, 20.0, 3.2);
    break;
  case F_TTBAR:
    add_pair(g, 60.0, 1.0, M_TOP, K_TOP, 1, M_TOP, K_TOP, -1);
    add_isr(g, 1.2, 20.0, 3.0);
    break;
  case F_TW: {
    int q = U(g) < 0.5 ? 1 : -1;
    add_pair(g, 45.0, 1.1, M_TOP, K_TOP, q, M_W, K_W, -q);
    add_isr(g, 1.0, 20.0, 3.0);
    break;
  }
  case F_T: {
    int q = U(g) < 0.5 ? 1 : -1;
    push_decay(g, make_ptyphi(gamma2(g, 30.0), 1.2 * N(g), uphi(g), M_TOP,
                              K_TOP, q));
    /* The spectator quark of the t-channel goes forward. */
    push_final(g, make_ptyphi(15.0 + gamma2(g, 20.0), 2.2 * N(g), uphi(g), 0.0,
                              K_QUARK, 0));
    add_isr(g, 0.9, 20.0, 3.0);
    break;
  }
  case F_VV: {
    /* ww zw zz wa za aa */
    static const double mass[6][2] = {{M_W, M_W}, {M_Z, M_W}, {M_Z, M_Z},
                                      {M_W, 0.0}, {M_Z, 0.0}, {0.0, 0.0}};
    static const int kind[6][2] = {{K_W, K_W},      {K_Z, K_W},      {K_Z, K_Z},
                                   {K_W, K_PHOTON}, {K_Z, K_PHOTON}, {K_PHOTON, K_PHOTON}};
    int v = m->variant;
    int q = U(g) < 0.5 ? 1 : -1;
    if (v == 5) {
      double pt = powerlaw(g, 28.0, 4.5), phi = uphi(g), yb = 0.8 * N(g);
      push_final(g, make_ptyphi(pt, yb + 0.8 * N(g), phi, 0.0, K_PHOTON, 0));
      push_final(g, make_ptyphi(pt * (0.75 + 0.25 * U(g)), yb + 0.8 * N(g),
                                phi + M_PI + 0.2 * N(g), 0.0, K_PHOTON, 0));
      add_isr(g, 0.15, 20.0, 3.5);
    } else if (v >= 3) {
      push_decay(g, make_ptyphi(gamma2(g, 25.0), 1.2 * N(g), uphi(g),
                                mass[v][0], kind[v][0], v == 3 ? q : 0));
      push_final(g, make_ptyphi(powerlaw(g, 18.0, 3.5), 1.2 * N(g), uphi(g),
                                0.0, K_PHOTON, 0));
      add_isr(g, 1.0, 20.0, 3.0);
    } else {
      int q1 = kind[v][0] == K_W ? q : 0, q2 = v == 0 ? -q : (kind[v][1] == K_W ? q : 0);
      add_pair(g, 25.0, 1.2, mass[v][0], kind[v][0], q1, mass[v][1], kind[v][1], q2);
      add_isr(g, 1.2, 20.0, 3.0);
    }
    break;
  }
  case F_HIGGS:
    push_decay(g, make_ptyphi(gamma2(g, 20.0), 1.5 * N(g), uphi(g), M_H, K_H,
                              0));
    add_isr(g, 1.6, 20.0, 3.0);
    break;
  case F_TTX: {
    /* a z h w ww */
    add_pair(g, 70.0, 1.0, M_TOP, K_TOP, 1, M_TOP, K_TOP, -1);
    int v = m->variant;
    if (v == 0)
      push_final(g, make_ptyphi(powerlaw(g, 20.0, 3.5), 1.2 * N(g), uphi(g),
                                0.0, K_PHOTON, 0));
    else if (v == 1 || v == 2)
      push_decay(g, make_ptyphi(gamma2(g, 50.0), 1.2 * N(g), uphi(g),
                                v == 1 ? M_Z : M_H, v == 1 ? K_Z : K_H, 0));
    else {
      int q = U(g) < 0.5 ? 1 : -1; /* a W pair is W+ W- */
      for (int k = 0; k < (v == 3 ? 1 : 2); k++)
        push_decay(g, make_ptyphi(gamma2(g, 50.0), 1.2 * N(g), uphi(g), M_W,
                                  K_W, k ? -q : q));
    }
    add_isr(g, 1.2, 20.0, 3.0);
    break;
  }
  case F_TX: {
    int q = U(g) < 0.5 ? 1 : -1;
    push_decay(g, make_ptyphi(gamma2(g, 40.0), 1.2 * N(g), uphi(g), M_TOP,
                              K_TOP, q));
    if (m->variant == 0)
      push_final(g, make_ptyphi(powerlaw(g, 20.0, 3.5), 1.2 * N(g), uphi(g),
                                0.0, K_PHOTON, 0));
    else
      push_decay(g, make_ptyphi(gamma2(g, 40.0), 1.2 * N(g), uphi(g), M_Z,
                                K_Z, 0));
    push_final(g, make_ptyphi(15.0 + gamma2(g, 20.0), 2.2 * N(g), uphi(g), 0.0,
                              K_QUARK, 0));
    add_isr(g, 0.9, 20.0, 3.0);
    break;
  }
  case F_4TOP:
    add_pair(g, 80.0, 1.0, M_TOP, K_TOP, 1, M_TOP, K_TOP, -1);
    add_pair(g, 80.0, 1.0, M_TOP, K_TOP, 1, M_TOP, K_TOP, -1);
    add_isr(g, 1.2, 20.0, 3.0);
    break;
  case F_GLUINO:
  case F_STOP:
  case F_SQUARK: {
    double M = m->par[0], mchi = m->par[1];
    part pair[2];
    double pt = gamma2(g, M / 8.0), phi = uphi(g), yb = 0.5 * N(g);
    pair[0] = make_ptyphi(pt, yb + 0.8 * N(g), phi, M, K_HEAVY2, 0);
    pair[1] = make_ptyphi(pt * (0.6 + 0.8 * U(g)), yb + 0.8 * N(g),
                          phi + M_PI + 0.4 * N(g), M, K_HEAVY2, 0);
    for (int k = 0; k < 2; k++) {
      if (m->family == F_GLUINO) {
        /* gluino -> t tbar chi when open, else q qbar chi */
        if (M - mchi > 2 * M_TOP + 1)
          sparticle_3body(g, &pair[k], mchi, K_TOP, M_TOP, 1);
        else
          sparticle_3body(g, &pair[k], mchi, U(g) < 0.2 ? K_BQUARK : K_QUARK, 0.0, 0);
      } else if (m->family == F_STOP) {
        /* stop -> t chi, or b W chi through an off-shell top */
        double mt = M - mchi > M_TOP + 1 ? M_TOP : 0.9 * (M - mchi);
        decay_into(g, &pair[k], mt > M_W + M_B ? K_TOP : K_BQUARK, k ? -1 : 1, mt, K_INVIS, 0,
                   mchi);
      } else {
        decay_into(g, &pair[k], K_QUARK, 0, 0.0, K_INVIS, 0, mchi);
      }
    }
    add_isr(g, 1.5, 20.0, 2.8);
    break;
  }
  case F_ZPRIME: {
    /* Breit-Wigner resonance (width 3% of M) decaying to t tbar: each top
     * carries pT up to M/2 (Jacobian peak). */
    double M = m->par[0], gam = 0.03 * M;
    double mass = M + 0.5 * gam * tan(M_PI * (U(g) - 0.5));
    mass = fmin(fmax(mass, 0.6 * M), 1.4 * M);
    mass = fmax(mass, 2 * M_TOP + 5);
    part zp = make_ptyphi(gamma2(g, 20.0), 0.8 * N(g), uphi(g), mass,
                          K_HEAVY2, 0);
    decay_into(g, &zp, K_TOP, 1, M_TOP, K_TOP, -1, M_TOP);
    add_isr(g, 1.0, 20.0, 3.0);
    break;
  }
  case F_MONOJET: {
    /* An invisible pair recoiling against initial-state radiation. */
    double pt = powerlaw(g, 180.0, 4.0), phi = uphi(g);
    push_final(g, make_ptyphi(pt, 1.2 * N(g), phi, 0.0, K_QUARK, 0));
    push_final(g, make_ptyphi(pt * (0.85 + 0.3 * U(g)), 1.0 * N(g),
                              phi + M_PI + 0.2 * N(g), 2 * m->par[1] + 10,
                              K_INVIS, 0));
    add_isr(g, 0.8, 20.0, 3.0);
    break;
  }
  case F_MONOTOP: {
    double pt = gamma2(g, 150.0), phi = uphi(g);
    push_decay(g, make_ptyphi(pt, 1.0 * N(g), phi, M_TOP, K_TOP,
                              U(g) < 0.5 ? 1 : -1));
    push_final(g, make_ptyphi(pt * (0.8 + 0.4 * U(g)), 1.0 * N(g),
                              phi + M_PI + 0.2 * N(g), m->par[0], K_INVIS, 0));
    add_isr(g, 1.0, 20.0, 3.0);
    break;
  }
  case F_EWKINO: {
    /* chargino pair (ww) or chargino + heavy neutralino (wz), each -> boson
     * + lightest neutralino. */
    double M = m->par[0], mchi = m->par[1];
    part a = make_ptyphi(gamma2(g, M / 8.0), 0.9 * N(g), uphi(g), M, K_HEAVY2,
                         1);
    part b = make_ptyphi(gamma2(g, M / 8.0), 0.9 * N(g), uphi(g), M, K_HEAVY2,
                         -1);
    decay_into(g, &a, K_W, 1, M_W, K_INVIS, 0, mchi);
    if (m->variant == 0)
      decay_into(g, &b, K_W, -1, M_W, K_INVIS, 0, mchi);
    else
      decay_into(g, &b, K_Z, 0, M_Z, K_INVIS, 0, mchi);
    add_isr(g, 1.0, 20.0, 3.0);
    break;
  }
  }
  run_decays(g);
}

/* ---- detector ----------------------------------------------------------- */

/* A stored object before the trigger decision: what the decision needs
 * (pt, eta, type), and what phi and E need afterwards, so that rejected
 * draws skip the arctangent and square root. */
typedef struct {
  double pt, eta, phi, px, py, p2, mass;
  int type, has_phi;
} obj;

static inline int accept(int type, double pt, double aeta)
{
  switch (type) {
  case DM_OBJ_JET:
  case DM_OBJ_BJET:
    return pt > 20.0 && aeta < 2.8;
  case DM_OBJ_EMINUS:
  case DM_OBJ_EPLUS:
    return pt > 15.0 && aeta < 2.5;
  case DM_OBJ_MUMINUS:
  case DM_OBJ_MUPLUS:
    return pt > 15.0 && aeta < 2.7;
  default:
    return pt > 20.0 && aeta < 2.37;
  }
}

static inline int triggers(int type, double pt, double aeta)
{
  switch (type) {
  case DM_OBJ_JET:
  case DM_OBJ_BJET:
    return pt > 60.0 && aeta < 2.8;
  case DM_OBJ_EMINUS:
  case DM_OBJ_EPLUS:
    return pt > 25.0 && aeta < 2.47 && !(aeta > 1.37 && aeta < 1.52);
  case DM_OBJ_MUMINUS:
  case DM_OBJ_MUPLUS:
    return pt > 25.0 && aeta < 2.7;
  default:
    return pt > 25.0 && aeta < 2.37;
  }
}

/* Turn final-state particles into stored objects and truth MET; returns 1
 * if the event passes the trigger and the generator cuts. */
static int detect(const dm_gen_model *m, gen_state *g, dm_gen_event *ev)
{
  obj o[MAX_PARTS];
  int n = 0;
  double mex = 0, mey = 0;
  for (int i = 0; i < g->nfin; i++) {
    part *p = &g->fin[i];
    int type;
    double scale = 1.0, mass = 0.0;
    switch (p->kind) {
    case K_INVIS:
      mex += p->px;
      mey += p->py;
      continue;
    case K_TAU: {
      /* Leptonic 35% (lepton takes part of the momentum), else a jet; the
       * neutrinos take the rest. */
      double f;
      if (U(g) < 0.35) {
        f = 0.2 + 0.6 * U(g);
        type = U(g) < 0.5 ? (p->charge < 0 ? DM_OBJ_EMINUS : DM_OBJ_EPLUS)
                          : (p->charge < 0 ? DM_OBJ_MUMINUS : DM_OBJ_MUPLUS);
      } else {
        f = 0.4 + 0.5 * U(g);
        type = DM_OBJ_JET;
        mass = 1.0;
      }
      if (!p->has_pxy)
        set_pxy(p);
      mex += (1 - f) * p->px;
      mey += (1 - f) * p->py;
      scale = f;
      break;
    }
    case K_BQUARK:
      /* Semileptonic b decays feed MET; tagging efficiency 70%. */
      if (U(g) < 0.2) {
        double f = 0.05 + 0.25 * U(g);
        if (!p->has_pxy)
          set_pxy(p);
        mex += f * p->px;
        mey += f * p->py;
        scale = 1 - f;
      }
      type = U(g) < 0.7 ? DM_OBJ_BJET : DM_OBJ_JET;
      break;
    case K_QUARK:
      type = U(g) < 0.01 ? DM_OBJ_BJET : DM_OBJ_JET;
      break;
    case K_ELECTRON:
      if (U(g) > 0.9) /* identification and isolation */
        continue;
      type = p->charge < 0 ? DM_OBJ_EMINUS : DM_OBJ_EPLUS;
      break;
    case K_MUON:
      if (U(g) > 0.95)
        continue;
      type = p->charge < 0 ? DM_OBJ_MUMINUS : DM_OBJ_MUPLUS;
      mass = M_MU;
      break;
    case K_PHOTON:
      if (U(g) > 0.85)
        continue;
      type = DM_OBJ_PHOTON;
      break;
    default:
      continue;
    }
    /* Momentum after the visible fraction and, for jets, the response:
     * smear pT (and p) by ~10%, mass a few % of pT. */
    double s = scale;
    if (type == DM_OBJ_JET || type == DM_OBJ_BJET)
      s *= 0.85 + 0.3 * U(g);
    double pt = p->has_ptphi ? p->pt * s : s * sqrt(p->px * p->px + p->py * p->py);
    if (type == DM_OBJ_JET || type == DM_OBJ_BJET)
      mass = pt * (0.04 + 0.10 * U(g));
    if (pt < 15.0)
      continue;
    /* eta = asinh(pz / pt), written with one log and the |p| that E needs
     * anyway; the sign split keeps it accurate in both hemispheres. */
    double pz = p->pz * s, p2 = pt * pt + pz * pz;
    double eta;
    if (p->has_dir) {
      eta = p->eta;
    } else {
      double pabs = sqrt(p2);
      eta = pz >= 0 ? log((pabs + pz) / pt) : -log((pabs - pz) / pt);
    }
    if (!accept(type, pt, fabs(eta)))
      continue;
    obj *q = &o[n++];
    q->pt = pt;
    q->eta = eta;
    q->has_phi = p->has_ptphi;
    q->phi = p->phi;
    q->px = p->px;
    q->py = p->py;
    q->p2 = p2;
    q->mass = mass;
    q->type = type;
  }
  /* Insertion sort by descending pT (tens of objects at most). */
  for (int i = 1; i < n; i++) {
    obj t = o[i];
    int j = i;
    while (j > 0 && o[j - 1].pt < t.pt) {
      o[j] = o[j - 1];
      j--;
    }
    o[j] = t;
  }
  if (n > DM_GEN_MAX_OBJ)
    n = DM_GEN_MAX_OBJ;
  int trig = 0;
  double ht = 0;
  for (int i = 0; i < n; i++) {
    trig |= triggers(o[i].type, o[i].pt, fabs(o[i].eta));
    if (o[i].type == DM_OBJ_JET || o[i].type == DM_OBJ_BJET)
      ht += o[i].pt;
  }
  double met = sqrt(mex * mex + mey * mey);
  if (!trig || (m->ht_min > 0 && ht <= m->ht_min) || (m->met_min > 0 && met <= m->met_min))
    return 0;
  ev->n = n;
  for (int i = 0; i < n; i++) {
    ev->type[i] = (uint8_t)o[i].type;
    ev->pt[i] = o[i].pt;
    ev->eta[i] = o[i].eta;
    /* Scaling px, py by a positive factor leaves their angle alone. */
    ev->phi[i] = o[i].has_phi ? o[i].phi : atan2(o[i].py, o[i].px);
    ev->e[i] = sqrt(o[i].mass * o[i].mass + o[i].p2);
  }
  ev->met = met;
  ev->met_phi = met > 0 ? atan2(mey, mex) : 0.0;
  return 1;
}

/* An upper bound on the H_T that detect can find in this draw: every parton
 * and tau that may become a jet in acceptance, at the largest response
 * (1.15, and at most 0.9 of a hadronic tau's pT; 1.16 covers rounding).
 * A draw whose bound fails the generator's H_T cut fails it in detect too,
 * so rejecting it here, before detect's own draws, leaves the distribution
 * of accepted events alone; in the V+jets samples it catches 0.5-0.6 of
 * the 0.9 failing draws per event (H_T > 100 GeV) before any detector work. */
static double ht_bound(const gen_state *g)
{
  double ub = 0;
  for (int i = 0; i < g->nfin; i++) {
    const part *p = &g->fin[i];
    double f;
    if (p->kind == K_QUARK || p->kind == K_BQUARK)
      f = 1.16;
    else if (p->kind == K_TAU)
      f = 0.9 * 1.16;
    else
      continue;
    if (p->has_dir && !(fabs(p->eta) < 2.8))
      continue;
    double pt = f * (p->has_ptphi ? p->pt : sqrt(p->px * p->px + p->py * p->py));
    if (pt > 20.0)
      ub += pt;
  }
  return ub;
}

dm_status dm_gen_model_event(const dm_gen_model *m, uint64_t seed, uint64_t key, int64_t index,
                             dm_gen_event *ev)
{
  gen_state g;
  dm_gen_random_setup();
  dm_gen_rng_init(&g.rng, seed, key, (uint64_t)index);
  for (int attempt = 0; attempt < DM_GEN_MAX_ATTEMPTS; attempt++) {
    g.nfin = 0;
    g.nstack = 0;
    hard_process(m, &g);
    if (m->ht_min > 0 && ht_bound(&g) <= m->ht_min)
      continue;
    if (detect(m, &g, ev))
      return DM_OK;
  }
  return dm_error(DM_ERR_NUMERIC, "event %lld: no draw passed the trigger and cuts in %d attempts",
                  (long long)index, DM_GEN_MAX_ATTEMPTS);
}
