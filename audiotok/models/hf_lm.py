"""Initialise our decoder blocks from a local Hugging Face causal LM (Llama / Qwen2 family).

Only the transformer blocks and the final norm are copied: the text LM's own embeddings and
head belong to its tokenizer, not to our joint vocabulary. The copy is exact when the shapes
match: our Transformer is the same math as Llama's decoder (pre-RMSNorm, rotate-half RoPE,
GQA, SwiGLU), and Qwen2 adds biases on q/k/v (our `qkv_bias`). Nothing is downloaded: the
model is read with `local_files_only=True`.
"""

from pathlib import Path

import torch

from audiotok.errors import UserError

SUPPORTED = ("llama", "qwen2", "mistral")

_BLOCK_MAP = {  # ours -> HF, per layer
    "attn.wq": "self_attn.q_proj",
    "attn.wk": "self_attn.k_proj",
    "attn.wv": "self_attn.v_proj",
    "attn.wo": "self_attn.o_proj",
    "ffn.w1": "mlp.gate_proj",
    "ffn.w3": "mlp.up_proj",
    "ffn.w2": "mlp.down_proj",
    "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
}


def _hf_config(directory):
    directory = Path(directory)
    if not (directory / "config.json").is_file():
        raise UserError(f"{directory}: not a Hugging Face model dir (no config.json)")
    from transformers import AutoConfig

    try:
        cfg = AutoConfig.from_pretrained(str(directory), local_files_only=True)
    except (OSError, ValueError) as e:
        raise UserError(f"{directory}: cannot read the Hugging Face config ({str(e).splitlines()[0]})") from None
    if cfg.model_type not in SUPPORTED:
        raise UserError(f"{directory}: model_type '{cfg.model_type}' is not one of {', '.join(SUPPORTED)}")
    return cfg


def _rope_theta(cfg):
    theta = getattr(cfg, "rope_theta", None)
    params = getattr(cfg, "rope_parameters", None) or getattr(cfg, "rope_scaling", None) or {}
    if theta is None and isinstance(params, dict):
        theta = params.get("rope_theta")
    kind = params.get("rope_type", params.get("type", "default")) if isinstance(params, dict) else "default"
    return float(theta if theta is not None else 10000.0), kind


def hf_lm_conf(directory):
    """The UnifiedLM `lm` group (TransformerConf keys) that makes our blocks the same shape as the HF model's."""
    cfg = _hf_config(directory)
    theta, _ = _rope_theta(cfg)
    return {
        "dim": cfg.hidden_size,
        "n_layers": cfg.num_hidden_layers,
        "n_heads": cfg.num_attention_heads,
        "n_kv_heads": getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads,
        "ffn_dim": cfg.intermediate_size,
        "rope_base": theta,
        "norm_eps": cfg.rms_norm_eps,
        "qkv_bias": cfg.model_type == "qwen2",
    }


def load_hf_blocks(transformer, directory):
    """Copy the HF model's decoder layers and final norm into `transformer` (our Transformer).
    Raises UserError naming what does not match. Returns the number of tensors copied."""
    directory = Path(directory)
    cfg = _hf_config(directory)
    want = hf_lm_conf(directory)
    theta, rope_kind = _rope_theta(cfg)
    have = {
        "dim": transformer.dim,
        "n_layers": transformer.n_layers,
        "n_heads": transformer.n_heads,
        "n_kv_heads": transformer.n_kv_heads,
        "ffn_dim": transformer.layers[0].ffn.w1.out_features,
        "rope_base": float(1.0 / transformer.rope.inv_freq[1].item() ** (transformer.head_dim / 2))
        if transformer.head_dim > 2 else want["rope_base"],
        "norm_eps": transformer.norm.eps,
        "qkv_bias": transformer.layers[0].attn.wq.bias is not None,
    }
    problems = []
    for key in ("dim", "n_layers", "n_heads", "n_kv_heads", "ffn_dim", "qkv_bias"):
        if have[key] != want[key]:
            problems.append(f"{key} {have[key]} vs {want[key]}")
    if abs(have["rope_base"] - want["rope_base"]) > 1e-3 * want["rope_base"]:
        problems.append(f"rope_base {have['rope_base']:.6g} vs {want['rope_base']:.6g}")
    if abs(have["norm_eps"] - want["norm_eps"]) > 1e-12:
        problems.append(f"norm_eps {have['norm_eps']} vs {want['norm_eps']}")
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    if head_dim != transformer.head_dim:
        problems.append(f"head_dim {transformer.head_dim} vs {head_dim}")
    if rope_kind not in ("default", None):
        problems.append(f"rope scaling '{rope_kind}' is not supported")
    if getattr(cfg, "hidden_act", "silu") != "silu":
        problems.append(f"hidden_act '{cfg.hidden_act}' (need silu)")
    if getattr(cfg, "attention_bias", False) and cfg.model_type != "qwen2":
        problems.append("attention_bias on all projections is not supported")
    if getattr(cfg, "mlp_bias", False):
        problems.append("mlp_bias is not supported")
    if problems:
        raise UserError(f"{directory}: the Hugging Face LM does not fit the model ({'; '.join(problems)})")

    from transformers import AutoModelForCausalLM

    try:
        hf = AutoModelForCausalLM.from_pretrained(str(directory), local_files_only=True)
    except (OSError, ValueError) as e:
        raise UserError(f"{directory}: cannot load the Hugging Face weights ({str(e).splitlines()[0]})") from None
    src = hf.state_dict()
    prefix = "model."
    dst = {}
    for i in range(transformer.n_layers):
        for ours, theirs in _BLOCK_MAP.items():
            for leaf in ("weight", "bias"):
                key = f"{prefix}layers.{i}.{theirs}.{leaf}"
                if key in src:
                    dst[f"layers.{i}.{ours}.{leaf}"] = src[key]
    dst["norm.weight"] = src[f"{prefix}norm.weight"]
    own = transformer.state_dict()
    for k, v in dst.items():
        if k not in own or own[k].shape != v.shape:
            raise UserError(f"{directory}: tensor for {k} has shape {tuple(v.shape)}, "
                            f"the model expects {tuple(own[k].shape) if k in own else 'none'}")
    missing = [k for k in own if k not in dst]
    if missing:
        raise UserError(f"{directory}: no Hugging Face weights for {missing[:3]}")
    with torch.no_grad():
        for k, v in dst.items():
            own[k].copy_(v.to(own[k].dtype))
    return len(dst)
