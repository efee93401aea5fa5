// Package reproduce is smaug's main job on its embedded default: it
// reproduces the central finding of the DPOP paper end to end with the
// project's own parts — synthetic GSM8K-style problems, a small Llama with
// its own BPE vocabulary trained from scratch with SFT, MetaMath-style pairs (one corrupted
// intermediate result), DPO and DPOP from the same base with the same seed
// and steps, and an evaluation of all three — and writes a report with a
// table and plots. With a user's model and data it runs the same pipeline
// without the SFT stage.
package reproduce
