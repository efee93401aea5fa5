// Package report owns the pictures and documents made from training runs:
// reading a run's metrics.jsonl, line and grouped-bar plots as PNG files
// (gonum.org/v1/plot), the standard set of plots for one run folder, one
// metric compared over several runs, and a self-contained HTML report that
// embeds its images.
//
// Metric rows use the names TRL logs: step, epoch, loss, rewards/chosen,
// rewards/rejected, rewards/margins, rewards/accuracies, logps/chosen,
// logps/rejected, logits/chosen, logits/rejected, learning_rate, grad_norm,
// tokens_per_s, dpop/penalty, dpop/active_fraction, and evaluation rows whose
// keys carry the prefix "eval_" (eval_loss, eval_rewards/chosen, ...). Any
// row may hold any subset of them.
//
// Non-finite values (NaN, ±Inf) are read faithfully but never drawn: each
// plot skips such points, so a diverged step leaves a gap in the data rather
// than an axis stretched to infinity or a failed plot.
//
// Every file is written to a temporary name in its destination folder and
// renamed into place, so a reader never sees a half-written PNG or report.
package report
