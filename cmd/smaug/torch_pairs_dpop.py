# PyTorch reference of `smaug bench train --torch-pairs`: DPOP training steps
# on exactly the pairs smaug trains on, laid out as TRL's DPOTrainer lays
# them out (concatenated_forward): chosen and rejected sequences of every
# pair in one batch, each prompt + completion right-padded to the batch's
# longest, the logits of every position, log-softmax and gather of the
# completion tokens. Policy forward + backward, a frozen reference forward
# (a second model, or with LoRA the base with the adapter off), the DPOP loss
# (-log sigmoid(beta * (delta - lambda * max(0, ref_chosen - policy_chosen))))
# and an AdamW update. Plain torch (CPU, float32, no transformers): a Llama
# decoder with RMSNorm, RoPE, grouped-query attention and SwiGLU.
#
# Usage: python3 torch_pairs_dpop.py --batch PAIRS.jsonl --config JSON
#            [--threads N] [--iters N] [--mode full|lora] [--lora-r R]
#            [--weights DIR_POLICY,DIR_REF] [--check]
#
# PAIRS.jsonl holds prompt_ids, chosen_ids, rejected_ids per line (one
# step's batch); JSON is the model shape: hidden, layers, heads, kv_heads,
# intermediate, vocab, rope_theta, rms_eps. Prints one JSON line: tokens/s
# counting every token of both sequences (padding excluded), positions run
# (padding included), seconds per step, peak RSS. --weights loads two
# safetensors checkpoints (smaug's Model.Save, Hugging Face names) instead
# of random weights; --check prints the first step's per-sequence log-probs
# and loss instead of timing (for smaug's tests).
import argparse
import json
import math
import os
import resource
import struct
import time

import torch
import torch.nn.functional as F

BETA, LAMBDA, LR, WEIGHT_DECAY = 0.3, 50.0, 1e-5, 0.01
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")


def load_safetensors(d):
    """Reads every F32 tensor of the .safetensors files in folder d."""
    out = {}
    for name in sorted(os.listdir(d)):
        if not name.endswith(".safetensors"):
            continue
        with open(os.path.join(d, name), "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
            body = f.read()
        for k, v in header.items():
            if k == "__metadata__":
                continue
            if v["dtype"] != "F32":
                raise SystemExit("%s: %s is %s, want F32" % (name, k, v["dtype"]))
            lo, hi = v["data_offsets"]
            out[k] = torch.frombuffer(bytearray(body[lo:hi]), dtype=torch.float32).reshape(v["shape"])
    return out


class Llama(torch.nn.Module):
    def __init__(self, c, lora_r=0, std=0.02):
        super().__init__()
        self.c = c
        h, inter, v = c["hidden"], c["intermediate"], c["vocab"]
        self.hd = h // c["heads"]
        kv = c["kv_heads"] * self.hd

        def lin(o, i):
            return torch.nn.Parameter(torch.randn(o, i) * std)

        self.embed = lin(v, h)
        self.layers = torch.nn.ModuleList()
        for _ in range(c["layers"]):
            l = torch.nn.Module()
            l.q_proj, l.k_proj, l.v_proj, l.o_proj = lin(h, h), lin(kv, h), lin(kv, h), lin(h, h)
            l.gate_proj, l.up_proj, l.down_proj = lin(inter, h), lin(inter, h), lin(h, inter)
            l.input_layernorm = torch.nn.Parameter(torch.ones(h))
            l.post_attention_layernorm = torch.nn.Parameter(torch.ones(h))
            self.layers.append(l)
        self.norm = torch.nn.Parameter(torch.ones(h))
        self.lm_head = lin(v, h)
        self.lora_r, self.adapter = lora_r, True
        if lora_r:
            for p in self.parameters():
                p.requires_grad_(False)
            for l in self.layers:
                for t in LORA_TARGETS:
                    w = getattr(l, t)
                    a = torch.nn.Parameter(torch.randn(lora_r, w.shape[1]) / math.sqrt(w.shape[1]))
                    b = torch.nn.Parameter(torch.zeros(w.shape[0], lora_r))
                    setattr(l, t + "_lora_A", a)
                    setattr(l, t + "_lora_B", b)
        inv = 1.0 / (c["rope_theta"] ** (torch.arange(0, self.hd, 2, dtype=torch.float32) / self.hd))
        self.register_buffer("inv_freq", inv, persistent=False)

    def load(self, sd):
        names = {"model.embed_tokens.weight": "embed", "model.norm.weight": "norm", "lm_head.weight": "lm_head"}
        for i, l in enumerate(self.layers):
            for t in ("q_proj", "k_proj", "v_proj", "o_proj"):
                names["model.layers.%d.self_attn.%s.weight" % (i, t)] = (l, t)
            for t in ("gate_proj", "up_proj", "down_proj"):
                names["model.layers.%d.mlp.%s.weight" % (i, t)] = (l, t)
            for t in ("input_layernorm", "post_attention_layernorm"):
                names["model.layers.%d.%s.weight" % (i, t)] = (l, t)
        with torch.no_grad():
            for k, dst in names.items():
                src = sd.get(k)
                if src is None and k == "lm_head.weight":
                    src = sd["model.embed_tokens.weight"]  # tied
                p = getattr(self, dst) if isinstance(dst, str) else getattr(dst[0], dst[1])
                p.copy_(src)

    def proj(self, l, t, x):
        y = x @ getattr(l, t).t()
        if self.lora_r and self.adapter and t in LORA_TARGETS:
            # alpha = 2r, as smaug bench train's LoRA mode: scale 2.
            y = y + 2.0 * ((x @ getattr(l, t + "_lora_A").t()) @ getattr(l, t + "_lora_B").t())
        return y

    def rms(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.c["rms_eps"]) * w

    def forward(self, ids, mask):
        b, t = ids.shape
        nh, nkv, hd = self.c["heads"], self.c["kv_heads"], self.hd
        pos = torch.arange(t, dtype=torch.float32)
        freqs = torch.outer(pos, self.inv_freq)
        emb = torch.cat((freqs, freqs), -1)
        cos, sin = emb.cos(), emb.sin()

        def rope(x):
            x1, x2 = x[..., : hd // 2], x[..., hd // 2 :]
            return x * cos + torch.cat((-x2, x1), -1) * sin

        causal = torch.ones(t, t, dtype=torch.bool).tril()
        allowed = causal[None, None] & mask[:, None, None, :].bool()
        bias = torch.zeros(b, 1, t, t).masked_fill(~allowed, float("-inf"))
        x = self.embed[ids]
        for l in self.layers:
            hn = self.rms(x, l.input_layernorm)
            q = rope(self.proj(l, "q_proj", hn).view(b, t, nh, hd).transpose(1, 2))
            k = rope(self.proj(l, "k_proj", hn).view(b, t, nkv, hd).transpose(1, 2))
            v = self.proj(l, "v_proj", hn).view(b, t, nkv, hd).transpose(1, 2)
            k = k.repeat_interleave(nh // nkv, 1)
            v = v.repeat_interleave(nh // nkv, 1)
            s = (q @ k.transpose(-1, -2)) / math.sqrt(hd) + bias
            a = torch.softmax(s, -1) @ v
            x = x + self.proj(l, "o_proj", a.transpose(1, 2).reshape(b, t, nh * hd))
            hn = self.rms(x, l.post_attention_layernorm)
            x = x + self.proj(l, "down_proj", F.silu(self.proj(l, "gate_proj", hn)) * self.proj(l, "up_proj", hn))
        return self.rms(x, self.norm) @ self.lm_head.t()


def layout(pairs):
    """TRL's concatenated batch: chosen sequences then rejected ones, right-padded."""
    seqs, starts = [], []
    for key in ("chosen_ids", "rejected_ids"):
        for p in pairs:
            seqs.append(p["prompt_ids"] + p[key])
            starts.append(len(p["prompt_ids"]))
    t = max(len(s) for s in seqs)
    ids = torch.zeros(len(seqs), t, dtype=torch.long)
    mask = torch.zeros(len(seqs), t, dtype=torch.long)
    loss_mask = torch.zeros(len(seqs), t, dtype=torch.bool)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = 1
        loss_mask[i, starts[i] : len(s)] = True
    return ids, mask, loss_mask, sum(len(s) for s in seqs)


def seq_logps(model, ids, mask, loss_mask):
    logits = model(ids, mask)[:, :-1]
    labels = ids[:, 1:]
    lp = logits.log_softmax(-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    return (lp * loss_mask[:, 1:]).sum(-1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--iters", type=int, default=1)
    ap.add_argument("--mode", default="full", choices=("full", "lora"))
    ap.add_argument("--lora-r", type=int, default=16)
    ap.add_argument("--weights", default="")
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    c = json.loads(a.config)
    with open(a.batch) as f:
        pairs = [json.loads(line) for line in f if line.strip()]
    torch.manual_seed(0)
    policy = Llama(c, lora_r=a.lora_r if a.mode == "lora" else 0)
    ref = None
    if a.mode == "full":
        torch.manual_seed(1)
        ref = Llama(c)
        for p in ref.parameters():
            p.requires_grad_(False)
    if a.weights:
        wp, wr = a.weights.split(",")
        policy.load(load_safetensors(wp))
        if ref is not None:
            ref.load(load_safetensors(wr))
    trainable = [p for p in policy.parameters() if p.requires_grad]
    decay = [p for p in trainable if p.dim() >= 2]
    no_decay = [p for p in trainable if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=LR, betas=(0.9, 0.999), eps=1e-8)
    ids, mask, loss_mask, tokens = layout(pairs)
    n = len(pairs)

    def step():
        with torch.no_grad():
            if ref is not None:
                r = seq_logps(ref, ids, mask, loss_mask)
            else:
                policy.adapter = False
                r = seq_logps(policy, ids, mask, loss_mask)
                policy.adapter = True
        p = seq_logps(policy, ids, mask, loss_mask)
        pc, pr, rc, rr = p[:n], p[n:], r[:n], r[n:]
        logits = BETA * ((pc - rc) - (pr - rr) - LAMBDA * torch.clamp(rc - pc, min=0))
        loss = -F.logsigmoid(logits).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return p.detach(), r, loss.item()

    if a.check:
        p, r, loss = step()
        print(json.dumps({"policy_logps": p.tolist(), "ref_logps": r.tolist(), "loss": loss,
                          "tokens_per_step": tokens, "positions_per_step": ids.numel()}))
        return
    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(a.iters):
        step()
    dt = (time.perf_counter() - t0) / a.iters
    print(json.dumps({
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "params": sum(p.numel() for p in policy.parameters()),
        "trainable_params": sum(p.numel() for p in trainable),
        "tokens_per_step": tokens, "positions_per_step": ids.numel(), "step_s": dt,
        "train_tokens_per_s": tokens / dt,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }))


if __name__ == "__main__":
    main()
