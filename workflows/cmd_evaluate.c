/* dmpipe evaluate: a submission scored against the sealed labels of a
 * secret dataset. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_cmd.h"
#include "dm_comm.h"
#include "dm_evaluate.h"
#include "dm_text_out.h"

static const char help[] =
    "usage: dmpipe evaluate --labels LABELS.h5 --submission FILE [--commitment SHA256|FILE]\n"
    "                       [--model NAME] [--out TABLE.csv] [--json OUT]\n"
    "\n"
    "Score a submission for a secret dataset (dmpipe dataset secret) against its\n"
    "labels. The submission is a CSV of event_id,score lines (a header line is\n"
    "allowed) or a dmpipe score file of the unlabeled store. Every event ID of the\n"
    "labels must be scored exactly once; missing, duplicate or unknown IDs are an\n"
    "error naming the first few. Decoys are ignored. Per injected signal: AUC and\n"
    "eps_S at eps_B = 1e-2, 1e-3, 1e-4 against the labelled background (the\n"
    "challenge's definitions, as dmpipe metrics; exact on any number of ranks),\n"
    "written in the challenge's table format Signal,Model,Chan,AUC,1e-2,1e-3,1e-4,\n"
    "which dmpipe metrics --efficiency-table summarises.\n"
    "\n"
    "The labels must be the ones the dataset was published with: their SHA-256\n"
    "must equal the commitment, which is\n"
    "  --commitment HEX      the 64 hex digits published with the unlabeled file, or\n"
    "  --commitment FILE     a file carrying it as its labels_sha256 attribute (the\n"
    "                        unlabeled store), or, when not given and the\n"
    "                        submission is a score file, the scored store it names\n"
    "                        (checked to be the very file scored when the score\n"
    "                        file records its checksum).\n"
    "\n"
    "  --labels FILE         labels_<chan>.h5 (organisers only)\n"
    "  --submission FILE     CSV event_id,score or a dmpipe score file\n"
    "  --model NAME          name in the table (default: the submission's file name\n"
    "                        without its extension)\n"
    "  --out FILE            write the table here (default: print it)\n"
    "  --json FILE           also write the report as JSON\n"
    "  --help                this text\n";

int dm_cmd_evaluate(int argc, char **argv, MPI_Comm comm)
{
  static const struct option longopts[] = {
      {"labels", required_argument, NULL, 'l'}, {"submission", required_argument, NULL, 's'},
      {"commitment", required_argument, NULL, 'c'}, {"model", required_argument, NULL, 'm'},
      {"out", required_argument, NULL, 'o'},    {"json", required_argument, NULL, 'j'},
      {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
  dm_evaluate_opts o;
  memset(&o, 0, sizeof o);
  const char *out = NULL, *json = NULL;
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case 'l': o.labels = optarg; break;
    case 's': o.submission = optarg; break;
    case 'c': o.commitment = optarg; break;
    case 'm': o.model = optarg; break;
    case 'o': out = optarg; break;
    case 'j': json = optarg; break;
    case 'h': return dm_cli_help(help, comm);
    default:
      return dm_cli_usage_error("evaluate", comm, "unknown or incomplete option '%s'",
                                argv[optind - 1]);
    }
  }
  if (optind < argc)
    return dm_cli_usage_error("evaluate", comm, "unexpected argument '%s'", argv[optind]);
  if (!o.labels || !o.submission)
    return dm_cli_usage_error("evaluate", comm, "--labels and --submission are required");
  if (o.model && (strchr(o.model, ',') || strchr(o.model, '\n')))
    return dm_cli_usage_error("evaluate", comm, "--model: a name without commas or newlines");
  dm_evaluate_report rep;
  dm_status s = dm_evaluate_run(&o, comm, &rep);
  if (s == DM_OK && strchr(rep.model, ','))
    s = dm_error(DM_ERR_ARG, "model name '%s' holds a comma: give --model", rep.model);
  char *table = s == DM_OK ? dm_evaluate_table(&rep) : NULL;
  if (s == DM_OK)
    s = dm_agree(!table ? dm_error(DM_ERR_NOMEM, "no memory") : DM_OK, comm);
  if (s == DM_OK && out)
    s = dm_text_out_write_whole(out, table, strlen(table), comm);
  if (s == DM_OK && json) {
    cJSON *j = NULL;
    if (dm_rank(comm) == 0) {
      j = cJSON_CreateObject();
      cJSON_AddStringToObject(j, "labels", o.labels);
      cJSON_AddStringToObject(j, "labels_sha256", rep.labels_sha256);
      cJSON_AddStringToObject(j, "commitment", rep.commitment_source);
      cJSON_AddStringToObject(j, "submission", o.submission);
      cJSON_AddStringToObject(j, "submission_kind", rep.submission_kind);
      cJSON_AddStringToObject(j, "model", rep.model);
      cJSON_AddStringToObject(j, "channel", rep.channel);
      cJSON_AddNumberToObject(j, "events", (double)rep.n_events);
      cJSON_AddNumberToObject(j, "background", (double)rep.n_background);
      cJSON_AddNumberToObject(j, "signal", (double)rep.n_signal);
      cJSON_AddNumberToObject(j, "decoys", (double)rep.n_decoy);
      cJSON *rows = cJSON_AddArrayToObject(j, "signals");
      static const char *const eps[3] = {"1e-2", "1e-3", "1e-4"};
      static const double k_eps_b[3] = {1e-2, 1e-3, 1e-4};
      for (int i = 0; i < rep.n_rows; i++) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "signal", rep.rows[i].signal);
        cJSON_AddNumberToObject(r, "events", (double)rep.rows[i].n_signal);
        dm_cli_json_num(r, "auc", rep.rows[i].auc);
        cJSON *es = cJSON_AddObjectToObject(r, "eps_s");
        for (int k = 0; k < 3; k++)
          dm_cli_json_num(es, eps[k], rep.rows[i].eps_s[k]);
        /* A working point rests on eps_B x background events; below 10
         * it is not resolved by this background. */
        cJSON *res = cJSON_AddObjectToObject(r, "background_events_above_cut");
        for (int k = 0; k < 3; k++)
          cJSON_AddNumberToObject(res, eps[k], (double)rep.n_background * k_eps_b[k]);
        cJSON_AddItemToArray(rows, r);
      }
    }
    s = dm_cli_write_json_agreed(json, j, comm);
    cJSON_Delete(j);
  }
  if (s == DM_OK && dm_rank(comm) == 0) {
    /* Printed alone, the table stays a clean CSV on stdout; notes go to
     * stderr then. */
    FILE *notes = out ? stdout : stderr;
    if (!out)
      fputs(table, stdout);
    else
      printf("wrote %s\n", out);
    fprintf(notes, "%s: %lld events (%lld background, %lld signal, %lld decoys ignored); labels "
           "SHA-256 %s matches the commitment (%s)\n",
           rep.channel, (long long)rep.n_events, (long long)rep.n_background,
           (long long)rep.n_signal, (long long)rep.n_decoy, rep.labels_sha256,
           rep.commitment_source);
    static const double eps_b[3] = {1e-2, 1e-3, 1e-4};
    for (int k = 0; k < 3; k++)
      if ((double)rep.n_background * eps_b[k] < 10)
        fprintf(notes, "eps_B = %g rests on %.1f background events above the cut (fewer than 10: "
               "not resolved by this background)\n",
               eps_b[k], (double)rep.n_background * eps_b[k]);
  }
  free(table);
  dm_evaluate_report_free(&rep);
  return dm_cli_finish("evaluate", s, comm);
}
