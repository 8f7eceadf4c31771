/* dm_gen_private.h - shared by the event models and their parser (private to
 * stages/generate; never included elsewhere). */
#ifndef DM_GEN_PRIVATE_H
#define DM_GEN_PRIVATE_H

/* Masses (GeV). */
#define M_TOP 172.5
#define M_W 80.4
#define M_Z 91.19
#define M_H 125.0
#define M_B 4.8
#define M_TAU 1.777
#define M_MU 0.1057
#define TWO_PI 6.283185307179586

/* Model families: the word before the first ':' of a table's model column. */
enum {
  F_QCD, F_WJETS, F_ZJETS, F_GAMJETS, F_TTBAR, F_TW, F_T, F_VV, F_HIGGS, F_TTX, F_TX, F_4TOP,
  F_GLUINO, F_STOP, F_SQUARK, F_ZPRIME, F_MONOJET, F_MONOTOP, F_EWKINO, F_NFAM
};


#endif
