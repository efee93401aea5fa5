#!/usr/bin/env python3
"""Generate the tiny fixtures under model/testdata/tiny for model's core
correctness tests (tiny_test.go), so they run without ../shared.

The reference is an independent, plain torch transcription of the Llama
forward (it does not use transformers or smaug): RMSNorm, rotary position
embeddings in Hugging Face's rotate-half layout, grouped-query causal
attention, SwiGLU MLP, untied output layer. It writes:

  config.json          the model's config (transformers 4 layout)
  model.safetensors    its random float32 weights, Hugging Face names
                       (safetensors written by hand: 8-byte header length,
                       JSON header, little-endian data)
  expected.json        two sequences and their logits; two preference
                       pairs with the policy's sequence log-probs, the
                       reference log-probs used and the mean DPOP loss
  grads_dpop.safetensors
                       d(mean DPOP loss)/d(parameter) for every parameter,
                       by autograd, in float64

Run from anywhere:  python3 model/testdata/gen_tiny.py  with a python3 that
has torch (Debian: apt-get install python3-torch, then /usr/bin/python3;
made with torch 1.13). The output is deterministic for a given torch.
"""
import json
import math
import os
import struct

import torch

torch.manual_seed(20261201)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny")

CFG = dict(
    vocab_size=24, hidden_size=16, intermediate_size=24, num_hidden_layers=2,
    num_attention_heads=4, num_key_value_heads=2, head_dim=4,
    max_position_embeddings=32, rms_norm_eps=1e-5, rope_theta=10000.0,
)
V, H, I, L = CFG["vocab_size"], CFG["hidden_size"], CFG["intermediate_size"], CFG["num_hidden_layers"]
NH, NKV, D = CFG["num_attention_heads"], CFG["num_key_value_heads"], CFG["head_dim"]
EPS, THETA = CFG["rms_norm_eps"], CFG["rope_theta"]
BETA, LAMBDA = 0.3, 5.0


def param_shapes():
    s = [("model.embed_tokens.weight", (V, H))]
    for i in range(L):
        p = f"model.layers.{i}."
        s += [
            (p + "self_attn.q_proj.weight", (NH * D, H)),
            (p + "self_attn.k_proj.weight", (NKV * D, H)),
            (p + "self_attn.v_proj.weight", (NKV * D, H)),
            (p + "self_attn.o_proj.weight", (H, NH * D)),
            (p + "mlp.gate_proj.weight", (I, H)),
            (p + "mlp.up_proj.weight", (I, H)),
            (p + "mlp.down_proj.weight", (H, I)),
            (p + "input_layernorm.weight", (H,)),
            (p + "post_attention_layernorm.weight", (H,)),
        ]
    s += [("model.norm.weight", (H,)), ("lm_head.weight", (V, H))]
    return s


def init_params():
    ps = {}
    for name, shape in param_shapes():
        if name.endswith("norm.weight"):
            t = 1 + 0.2 * torch.randn(shape)  # not all ones: norm gradients matter
        else:
            t = 0.4 * torch.randn(shape)
        ps[name] = t.to(torch.float32)
    return ps


def rms_norm(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * w


def rope(x, n_heads):
    # x [T, n_heads*D]; rotate-half layout: pairs (j, j + D/2).
    T = x.shape[0]
    x = x.view(T, n_heads, D)
    inv = 1.0 / (THETA ** (torch.arange(0, D, 2, dtype=torch.float64) / D))
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]  # [T, D/2]
    cos, sin = torch.cos(ang).to(x.dtype), torch.sin(ang).to(x.dtype)
    a, b = x[..., : D // 2], x[..., D // 2:]
    c, s = cos[:, None, :], sin[:, None, :]
    return torch.cat([a * c - b * s, b * c + a * s], dim=-1).reshape(T, n_heads * D)


def forward(ps, ids):
    """Logits [T, V] of one unpadded sequence."""
    x = ps["model.embed_tokens.weight"][torch.tensor(ids)]
    T = len(ids)
    mask = torch.full((T, T), float("-inf"), dtype=x.dtype).triu(1)
    for i in range(L):
        p = f"model.layers.{i}."
        h = rms_norm(x, ps[p + "input_layernorm.weight"])
        q = rope(h @ ps[p + "self_attn.q_proj.weight"].T, NH).view(T, NH, D)
        k = rope(h @ ps[p + "self_attn.k_proj.weight"].T, NKV).view(T, NKV, D)
        v = (h @ ps[p + "self_attn.v_proj.weight"].T).view(T, NKV, D)
        heads = []
        for j in range(NH):
            g = j // (NH // NKV)  # the key/value head this query head shares
            att = (q[:, j, :] @ k[:, g, :].T) / math.sqrt(D) + mask
            heads.append(torch.softmax(att, dim=-1) @ v[:, g, :])
        x = x + torch.cat(heads, dim=-1) @ ps[p + "self_attn.o_proj.weight"].T
        h = rms_norm(x, ps[p + "post_attention_layernorm.weight"])
        gate = h @ ps[p + "mlp.gate_proj.weight"].T
        up = h @ ps[p + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(gate) * up) @ ps[p + "mlp.down_proj.weight"].T
    return rms_norm(x, ps["model.norm.weight"]) @ ps["lm_head.weight"].T


def seq_logp(ps, prompt, completion):
    logits = forward(ps, prompt + completion)
    lp = torch.log_softmax(logits, dim=-1)
    return sum(lp[len(prompt) + j - 1, tok] for j, tok in enumerate(completion))


def write_safetensors(path, tensors, dtype):
    fmt, tag, size = {"F32": ("<f", torch.float32, 4), "F64": ("<d", torch.float64, 8)}[dtype]
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().to(tag).contiguous().flatten().tolist()
        b = struct.pack("<%d%s" % (len(t), fmt[1]), *t)
        header[name] = {"dtype": dtype, "shape": list(tensors[name].shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    os.makedirs(OUT, exist_ok=True)
    ps32 = init_params()
    # The reference runs in float64 on the float32 weights.
    ps = {k: v.to(torch.float64).requires_grad_(True) for k, v in ps32.items()}

    seqs = [[1, 5, 9, 14, 3, 22, 7], [1, 17, 2, 8, 11]]
    with torch.no_grad():
        logits = [forward(ps, s).flatten().tolist() for s in seqs]

    pairs = [
        dict(prompt=[1, 4, 10], chosen=[6, 13, 2], rejected=[6, 19, 2]),
        dict(prompt=[1, 20, 3, 15], chosen=[9, 2], rejected=[12, 5, 2]),
    ]
    # Reference log-probs: the policy's, shifted so that the DPOP penalty
    # max(0, ref_chosen - policy_chosen) is active in pair 0 and not in
    # pair 1.
    with torch.no_grad():
        pc0 = [seq_logp(ps, p["prompt"], p["chosen"]).item() for p in pairs]
        pr0 = [seq_logp(ps, p["prompt"], p["rejected"]).item() for p in pairs]
    ref_c = [pc0[0] + 0.7, pc0[1] - 0.4]
    ref_r = [pr0[0] - 0.2, pr0[1] + 0.5]

    losses = []
    for i, p in enumerate(pairs):
        pc = seq_logp(ps, p["prompt"], p["chosen"])
        pr = seq_logp(ps, p["prompt"], p["rejected"])
        rw, rl = pc - ref_c[i], pr - ref_r[i]
        z = BETA * (rw - rl - LAMBDA * torch.clamp(-rw, min=0))
        losses.append(-torch.nn.functional.logsigmoid(z))
    loss = sum(losses) / len(losses)
    loss.backward()

    cfg = dict(architectures=["LlamaForCausalLM"], model_type="llama", hidden_act="silu",
               tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, torch_dtype="float32", **CFG)
    with open(os.path.join(OUT, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    write_safetensors(os.path.join(OUT, "model.safetensors"), ps32, "F32")
    write_safetensors(os.path.join(OUT, "grads_dpop.safetensors"), {k: v.grad for k, v in ps.items()}, "F64")
    expected = dict(
        note="written by model/testdata/gen_tiny.py; float64 torch reference on the float32 weights",
        sequences=seqs, logits=logits,
        beta=BETA, dpop_lambda=LAMBDA,
        pairs=[dict(p, ref_chosen=ref_c[i], ref_rejected=ref_r[i], policy_chosen=pc0[i], policy_rejected=pr0[i])
               for i, p in enumerate(pairs)],
        loss=loss.item(),
    )
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
