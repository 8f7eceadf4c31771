/* dm_signif.h - counting significance of s signal events over b expected
 * background events (all calls LOCAL, pure functions):
 *   simple   Z = s / sqrt(b)
 *   Asimov   Z_A = sqrt(2 ((s + b) ln(1 + s/b) - s))
 *            (Cowan, Cranmer, Gross, Vitells, arXiv:1007.1727, eq. 97)
 *   Asimov with an absolute background uncertainty sigma_b:
 *            Z_A = sqrt(2 ((s+b) ln((s+b)(b+sb2) / (b^2 + (s+b) sb2))
 *                          - (b^2/sb2) ln(1 + sb2 s / (b (b + sb2)))))
 *            with sb2 = sigma_b^2; it tends to the plain Z_A as sigma_b -> 0.
 * b <= 0 or s < 0 gives NAN (no meaningful significance).
 */
#ifndef DM_SIGNIF_H
#define DM_SIGNIF_H

double dm_signif_simple(double s, double b);
double dm_signif_asimov(double s, double b);
double dm_signif_asimov_unc(double s, double b, double sigma_b);

#endif
