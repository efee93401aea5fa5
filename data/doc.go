// Package data owns the datasets that feed preference training and
// evaluation: streaming readers for JSONL, parquet, CSV and llama.cpp's
// HellaSwag text (plain, .gz or .bz2), the Hugging Face and derived layouts
// of the benchmark datasets (ARC, HellaSwag, MMLU, Winogrande, GSM8K,
// MetaMathQA), the evaluation prompt formats of the Open LLM Leaderboard v1
// (lm-evaluation-harness commit b281b09), the builders of prompt/chosen/
// rejected pairs (wrong-intermediate-result corruption of step-by-step math
// solutions, one pair per incorrect multiple-choice option), a writer for
// pairs files with exact-duplicate removal and a train/eval split, the
// normalised edit-distance statistics of a pairs file, and an embedded
// generator of GSM8K-style arithmetic word problems.
//
// Rows are read one at a time and every row keeps its file and line, so a
// bad row is reported as "file:line: field: problem" and can be skipped.
package data
