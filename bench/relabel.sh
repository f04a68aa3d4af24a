#!/usr/bin/env bash
# relabel.sh IN OUT: writes the GLMM draws file IN to OUT with every draw in
# the labelling mu1 <= mu2 (glmm_exact_posterior --relabel's): components
# swapped (mu, log_lambda, lambda) and logit_w1 negated, w1 -> 1 - w1, where
# mu1 > mu2. A chain that switched labels is a valid chain of the symmetric
# posterior, but its means and ESS of the mixture parameters would otherwise
# mix two labellings. Files without mu1 and mu2 are copied unchanged.
set -euo pipefail
awk -F, -v OFS=, '
  /^#/ { print; next }
  !h { for (i = 1; i <= NF; i++) c[$i] = i; h = 1; print; next }
  ("mu1" in c) && ("mu2" in c) && $c["mu1"] + 0 > $c["mu2"] + 0 {
    t = $c["mu1"]; $c["mu1"] = $c["mu2"]; $c["mu2"] = t
    if (("log_lambda1" in c) && ("log_lambda2" in c)) { t = $c["log_lambda1"]; $c["log_lambda1"] = $c["log_lambda2"]; $c["log_lambda2"] = t }
    if (("lambda1" in c) && ("lambda2" in c)) { t = $c["lambda1"]; $c["lambda1"] = $c["lambda2"]; $c["lambda2"] = t }
    if ("logit_w1" in c) $c["logit_w1"] = sub(/^-/, "", $c["logit_w1"]) ? $c["logit_w1"] : "-" $c["logit_w1"]
    if ("w1" in c) $c["w1"] = sprintf("%.17g", 1 - $c["w1"])
  }
  { print }' "$1" >"$2"
