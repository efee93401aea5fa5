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
// Non-finite values (NaN, ±Inf) are read faithfully but never drawn: line
// plots skip such points and break the line there, and bar plots leave the
// bar out, so a diverged step shows as a gap rather than as an axis
// stretched to infinity or a failed plot.
//
// HTML turns a small Markdown subset (headings, paragraphs, pipe tables,
// code blocks, lists) into a single self-contained report.html with the
// plots embedded as data URIs; the converter is a few hundred lines here
// rather than a dependency, since reports only need that subset.
//
// Every file is written to a temporary name in its destination folder and
// renamed into place, so a reader never sees a half-written PNG or report.
package report
