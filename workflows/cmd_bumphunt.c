/* dmpipe bumphunt: BumpHunter scan of a binned spectrum with the global
 * significance from parallel toys and the Gross-Vitells extrapolation. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "dm_bumphunt.h"
#include "dm_cmd.h"
#include "dm_comm.h"

static const char usage[] =
    "usage: dmpipe bumphunt --spectrum FILE.csv [options]\n"
    "       dmpipe bumphunt --hist HIST.h5 [--channel C] [--variable V] --observed NAMES\n"
    "                       --expected NAMES [options]\n"
    "\n"
    "Scans windows of consecutive bins for the most significant excess of observed over\n"
    "expected counts (local p = P(n >= d | b), Poisson, via the regularised incomplete gamma\n"
    "function), test statistic t = -ln(min p). The global p-value is the fraction of\n"
    "background-only pseudo-experiments with t >= t_obs; toy k uses the random stream\n"
    "(seed, k), so the answer is the same for any number of ranks. Where too few toys reach\n"
    "t_obs, the Gross-Vitells extrapolation p_local + <N(c0)> exp(-(Z^2 - c0)/2) is used, with\n"
    "<N(c0)> the mean number of upcrossings of the scanned Z^2 (max over widths, along the\n"
    "window start) through c0 in the toys.\n"
    "\n"
    "Input:\n"
    "  --spectrum FILE        CSV with a header naming the columns lo, hi, observed, expected\n"
    "                         (one bin per line, bins in increasing order, expected > 0)\n"
    "  --hist FILE            a histogram file (dmpipe metrics --hist-out, dmpipe hist)\n"
    "  --channel NAME         its channel (needed when it holds several)\n"
    "  --variable NAME        its variable (needed when the channel has several, as\n"
    "                         dmpipe hist files do: ht, met, m_eff, score_kde, ...)\n"
    "  --observed NAMES       comma-separated processes summed as the observed spectrum\n"
    "  --expected NAMES       comma-separated processes summed as the expectation\n"
    "  --expected-scale X     multiply the expectation by X (default 1)\n"
    "\n"
    "Scan and toys:\n"
    "  --width-min N          narrowest window in bins (default 1)\n"
    "  --width-max N          widest window in bins (default: half the bins)\n"
    "  --toys N               background-only pseudo-experiments (default 10000)\n"
    "  --gv-toys N            toys that count upcrossings for Gross-Vitells (default\n"
    "                         min(toys, 2000))\n"
    "  --gv-level C0          upcrossing level in units of Z^2 (default 3: high enough for the\n"
    "                         extrapolation to hold, low enough to be crossed often)\n"
    "  --seed S               random seed (default 1)\n"
    "  --calibrate N          also scan N background-only pseudo-datasets and report the\n"
    "                         fraction with global p < 0.05 (0.05 for a calibrated test)\n"
    "\n"
    "Output:\n"
    "  --json FILE            also write the report as JSON\n"
    "  --help                 this text\n";

static dm_status write_json(const char *path, const dm_bumphunt_report *r,
                            const dm_bumphunt_opts *o, MPI_Comm comm)
{
  cJSON *j = NULL;
  if (dm_rank(comm) == 0) {
    j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "bins", r->n_bins);
    cJSON *w = cJSON_AddObjectToObject(j, "window");
    cJSON_AddNumberToObject(w, "first_bin", r->win_first);
    cJSON_AddNumberToObject(w, "last_bin", r->win_last);
    dm_cli_json_num(w, "lo", r->win_lo);
    dm_cli_json_num(w, "hi", r->win_hi);
    dm_cli_json_num(w, "observed", r->d);
    dm_cli_json_num(w, "expected", r->b);
    dm_cli_json_num(j, "t_obs", r->t_obs);
    dm_cli_json_num(j, "p_local", r->p_local);
    dm_cli_json_num(j, "z_local", r->z_local);
    cJSON *t = cJSON_AddObjectToObject(j, "toys");
    cJSON_AddNumberToObject(t, "n", (double)r->n_toys);
    cJSON_AddNumberToObject(t, "n_t_ge_obs", (double)r->n_toys_ge);
    dm_cli_json_num(t, "p_global", r->p_toys);
    dm_cli_json_num(t, "p_global_error", r->p_toys_err);
    cJSON_AddNumberToObject(t, "seed", (double)o->seed);
    cJSON *g = cJSON_AddObjectToObject(j, "gross_vitells");
    cJSON_AddNumberToObject(g, "toys", (double)r->gv_toys);
    dm_cli_json_num(g, "level_c0", r->gv_level);
    dm_cli_json_num(g, "mean_upcrossings", r->mean_upcrossings);
    dm_cli_json_num(g, "p_global", r->p_gv);
    dm_cli_json_num(j, "p_global", r->p_global);
    dm_cli_json_num(j, "z_global", r->z_global);
    cJSON_AddStringToObject(j, "p_global_from", r->global_from_gv ? "gross-vitells" : "toys");
    dm_cli_json_num(j, "trials_factor", r->trials_factor);
    if (r->calib_n > 0) {
      cJSON *c = cJSON_AddObjectToObject(j, "calibration");
      cJSON_AddNumberToObject(c, "pseudo_datasets", (double)r->calib_n);
      cJSON_AddNumberToObject(c, "p_below_0.05", (double)r->calib_below);
      dm_cli_json_num(c, "fraction", r->calib_fraction);
      dm_cli_json_num(c, "fraction_error", r->calib_fraction_err);
      cJSON *d = cJSON_AddArrayToObject(c, "p_deciles");
      for (int i = 0; i < 10; i++)
        cJSON_AddItemToArray(d, cJSON_CreateNumber((double)r->calib_deciles[i]));
    }
    if (r->variable[0])
      cJSON_AddStringToObject(j, "variable", r->variable);
    cJSON *sp = cJSON_AddObjectToObject(j, "spectrum");
    const char *keys[4] = {"lo", "hi", "observed", "expected"};
    const double *cols[4] = {r->spec_lo, r->spec_hi, r->spec_obs, r->spec_exp};
    for (int k = 0; k < 4; k++) {
      cJSON *a = cJSON_AddArrayToObject(sp, keys[k]);
      for (int i = 0; cols[k] && i < r->n_bins; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(cols[k][i]));
    }
    dm_cli_json_num(j, "seconds", r->seconds);
  }
  dm_status s = dm_cli_write_json_agreed(path, j, comm);
  cJSON_Delete(j);
  return s;
}

static void print_report(const dm_bumphunt_report *r)
{
  printf("bumphunt: %d bins\n", r->n_bins);
  printf("  most significant window  bins %d..%d  [%g, %g)\n", r->win_first, r->win_last,
         r->win_lo, r->win_hi);
  printf("  observed / expected      %g / %g\n", r->d, r->b);
  printf("  local p, Z               %.4g  %.3f   (t = -ln p = %.4f)\n", r->p_local, r->z_local,
         r->t_obs);
  printf("  toys                     %lld of %lld with t >= t_obs: p = %.4g +- %.2g\n",
         (long long)r->n_toys_ge, (long long)r->n_toys, r->p_toys, r->p_toys_err);
  printf("  Gross-Vitells            <N(c0=%g)> = %.4f over %lld toys: p = %.4g\n",
         r->gv_level, r->mean_upcrossings, (long long)r->gv_toys, r->p_gv);
  printf("  global p, Z              %.4g  %.3f   (from %s)\n", r->p_global, r->z_global,
         r->global_from_gv ? "Gross-Vitells" : "toys");
  printf("  trials factor            %.4g\n", r->trials_factor);
  if (r->calib_n > 0) {
    printf("  calibration              %lld of %lld pseudo-datasets with p < 0.05: %.4f +- %.4f\n",
           (long long)r->calib_below, (long long)r->calib_n, r->calib_fraction,
           r->calib_fraction_err);
    printf("  p deciles               ");
    for (int i = 0; i < 10; i++)
      printf(" %lld", (long long)r->calib_deciles[i]);
    printf("\n");
  }
  printf("  %.3f s\n", r->seconds);
}

int dm_cmd_bumphunt(int argc, char **argv, MPI_Comm comm)
{
  dm_bumphunt_opts o;
  dm_bumphunt_opts_default(&o);
  const char *json = NULL;
  enum { O_SPEC = 1000, O_HIST, O_CHAN, O_VAR, O_OBS, O_EXP, O_SCALE, O_WMIN, O_WMAX, O_TOYS, O_GVT,
         O_GVL, O_SEED, O_CAL, O_JSON, O_HELP };
  static const struct option longopts[] = {
      {"spectrum", required_argument, 0, O_SPEC},
      {"hist", required_argument, 0, O_HIST},
      {"channel", required_argument, 0, O_CHAN},
      {"variable", required_argument, 0, O_VAR},
      {"observed", required_argument, 0, O_OBS},
      {"expected", required_argument, 0, O_EXP},
      {"expected-scale", required_argument, 0, O_SCALE},
      {"width-min", required_argument, 0, O_WMIN},
      {"width-max", required_argument, 0, O_WMAX},
      {"toys", required_argument, 0, O_TOYS},
      {"gv-toys", required_argument, 0, O_GVT},
      {"gv-level", required_argument, 0, O_GVL},
      {"seed", required_argument, 0, O_SEED},
      {"calibrate", required_argument, 0, O_CAL},
      {"json", required_argument, 0, O_JSON},
      {"help", no_argument, 0, O_HELP},
      {0, 0, 0, 0}};
  optind = 1;
  opterr = 0;
  int c;
  dm_status s = DM_OK;
  int64_t v;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case O_SPEC: o.spectrum = optarg; break;
    case O_HIST: o.hist = optarg; break;
    case O_CHAN: o.channel = optarg; break;
    case O_VAR: o.variable = optarg; break;
    case O_OBS: o.observed = optarg; break;
    case O_EXP: o.expected = optarg; break;
    case O_SCALE: s = dm_cli_f64("--expected-scale", optarg, 1e-300, 1e300, &o.expected_scale); break;
    case O_WMIN:
      s = dm_cli_i64("--width-min", optarg, 1, 1 << 24, &v);
      o.width_min = (int)v;
      break;
    case O_WMAX:
      s = dm_cli_i64("--width-max", optarg, 1, 1 << 24, &v);
      o.width_max = (int)v;
      break;
    case O_TOYS: s = dm_cli_i64("--toys", optarg, 1, INT64_C(1) << 40, &o.n_toys); break;
    case O_GVT: s = dm_cli_i64("--gv-toys", optarg, 0, INT64_C(1) << 40, &o.gv_toys); break;
    case O_GVL: s = dm_cli_f64("--gv-level", optarg, 0, 1e6, &o.gv_level); break;
    case O_SEED:
      s = dm_cli_i64("--seed", optarg, 0, INT64_MAX, &v);
      o.seed = (uint64_t)v;
      break;
    case O_CAL: s = dm_cli_i64("--calibrate", optarg, 0, INT64_C(1) << 40, &o.calibrate); break;
    case O_JSON: json = optarg; break;
    case O_HELP: return dm_cli_help(usage, comm);
    default:
      return dm_cli_usage_error("bumphunt", comm, "unknown option or missing value '%s'",
                                argv[optind - 1]);
    }
    if (s != DM_OK)
      return dm_cli_usage_error("bumphunt", comm, "%s", dm_error_message());
  }
  if (optind < argc)
    return dm_cli_usage_error("bumphunt", comm, "unexpected argument '%s'", argv[optind]);
  if ((o.spectrum != NULL) == (o.hist != NULL))
    return dm_cli_usage_error("bumphunt", comm, "give exactly one of --spectrum and --hist");
  if (o.width_max > 0 && o.width_min > o.width_max)
    return dm_cli_usage_error("bumphunt", comm, "--width-min %d exceeds --width-max %d",
                              o.width_min, o.width_max);
  dm_bumphunt_report rep;
  s = dm_bumphunt_run(&o, comm, &rep);
  if (s == DM_OK && dm_rank(comm) == 0)
    print_report(&rep);
  if (s == DM_OK && json)
    s = write_json(json, &rep, &o, comm);
  dm_bumphunt_report_free(&rep);
  return dm_cli_finish("bumphunt", s, comm);
}
