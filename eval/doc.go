// Package eval owns benchmark evaluation of language models: the six Open LLM
// Leaderboard v1 tasks (ARC-Challenge, HellaSwag, MMLU, TruthfulQA mc2,
// Winogrande, GSM8K) as data — documents, a prompt function, a few-shot
// sampler, requests and a metric — reproduced as lm-evaluation-harness commit
// b281b09 computes them (the "leaderboard-v1" protocol) or as its v0.4
// successors do ("harness-v0.4"); where each task's data come from (local
// files in the tasks' layouts, or hub datasets through the hub cache — by
// default the datasets the harness reads); the runner that scores log-likelihood
// requests with the shared context computed once and its KV cache reused per
// continuation, and greedy generation with stop strings; results in the
// harness's JSON shape and the Smaug README's table; and the contamination
// checks of the Smaug README (the neighbour-comparison method of
// detect-pretrain-code-contamination) and the real Min-K% Prob.
//
// Few-shot sets and document order come from a CPython-compatible
// random.Random (MT19937 with CPython's seeding, _randbelow, shuffle and
// sample), so the contexts are the harness's contexts byte for byte.
package eval
