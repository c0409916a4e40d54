"""Adapter for a local Hugging Face SSL model directory (wav2vec2, HuBERT, WavLM, w2v-BERT 2.0).

Loads offline only (`local_files_only=True`); nothing is downloaded. Frozen: parameters do not
require grad, the model stays in eval mode, features are computed under no_grad.

Same inference API as BestRQ: `sample_rate`, `feature_rate`, `hidden_size`, `num_layers`,
`extract_features(wav [B,1,T] at sample_rate, layer) -> [B, frames, hidden_size]`.

Layer indexing follows HF's `output_hidden_states=True`: hidden_states[0] is the input of the
first transformer layer (wav2vec2/HuBERT: CNN features after projection and positional conv;
w2v-BERT: the projected fbank features), hidden_states[k] the output of layer k, k = 1..L.
For wav2vec2 "stable layer norm" checkpoints (large-lv60 style) the final encoder LayerNorm is
applied to `last_hidden_state`; whether hidden_states[L] includes it depends on the
transformers version, so prefer an inner layer (or a post-norm model) when that matters.

Input processing: w2v-BERT 2.0 (`model_type` wav2vec2-bert) gets SeamlessM4TFeatureExtractor
fbank features (80 mel x stride 2 = 160 dims at 50 Hz); the others get the raw waveform,
zero-mean/unit-variance normalised per utterance when the feature extractor says
`do_normalize` (default True when the directory has no preprocessor_config.json).
"""

import json
import math
from pathlib import Path

import torch
from torch import nn

from audiotok.errors import UserError

FBANK_MODELS = ("wav2vec2-bert",)


def _load_hf(model_dir):
    import transformers

    try:
        config = transformers.AutoConfig.from_pretrained(str(model_dir), local_files_only=True)
        model = transformers.AutoModel.from_pretrained(str(model_dir), local_files_only=True)
    except (OSError, ValueError, KeyError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{model_dir}: cannot load a Hugging Face model ({first})") from None
    extractor = None
    if (Path(model_dir) / "preprocessor_config.json").is_file():
        try:
            extractor = transformers.AutoFeatureExtractor.from_pretrained(str(model_dir), local_files_only=True)
        except (OSError, ValueError, KeyError) as e:
            raise UserError(f"{model_dir}/preprocessor_config.json: cannot load the feature extractor ({e})") from None
    elif config.model_type in FBANK_MODELS:
        # w2v-BERT 2.0's published extractor uses exactly these defaults
        extractor = transformers.SeamlessM4TFeatureExtractor()
    return config, model, extractor


class HFSSLEncoder(nn.Module):
    model_type = "hf_ssl"

    def __init__(self, model_dir, layer=None, truncate=False, normalize=None):
        """`layer`: default layer for extract_features (None = last). `truncate=True` (needs
        `layer`) drops the transformer layers above it, which is exact for post-norm encoders
        (wav2vec2 base, HuBERT base, w2v-BERT) and saves their compute. `normalize` overrides
        the extractor's do_normalize for raw-waveform models."""
        super().__init__()
        self.config = {"model_dir": str(model_dir), "layer": layer, "truncate": truncate, "normalize": normalize}
        path = Path(model_dir)
        if not path.is_dir():
            raise UserError(f"{model_dir}: Hugging Face model dir not found")
        if not (path / "config.json").is_file():
            raise UserError(f"{model_dir}: not a Hugging Face model dir (missing config.json)")
        try:
            model_type = json.loads((path / "config.json").read_text()).get("model_type")
        except (OSError, ValueError) as e:
            raise UserError(f"{path / 'config.json'}: unreadable ({e})") from None
        if not model_type:
            raise UserError(f"{path / 'config.json'}: has no model_type")

        hf_config, model, extractor = _load_hf(path)
        self.hf_model_type = hf_config.model_type
        self.uses_fbank = hf_config.model_type in FBANK_MODELS
        self.extractor = extractor
        self.sample_rate = int(getattr(extractor, "sampling_rate", None) or 16000)
        if self.uses_fbank:
            stride = int(getattr(extractor, "stride", 2))
            self.feature_rate = self.sample_rate / (160 * stride)  # 10 ms fbank frames, stacked by stride
        else:
            self.feature_rate = self.sample_rate / math.prod(hf_config.conv_stride)
        self.normalize = bool(getattr(extractor, "do_normalize", True)) if normalize is None else bool(normalize)
        self.hidden_size = int(hf_config.hidden_size)
        self.num_layers = int(hf_config.num_hidden_layers)

        if truncate:
            if layer is None:
                raise UserError(f"{model_dir}: truncate=True needs a layer")
            layers = getattr(getattr(model, "encoder", None), "layers", None)
            if not isinstance(layers, nn.ModuleList):
                raise UserError(f"{model_dir}: cannot truncate a {self.hf_model_type} model")
            self._check_layer(layer)
            model.encoder.layers = layers[: int(layer) if int(layer) >= 0 else self.num_layers + 1 + int(layer)]
            self.num_layers = len(model.encoder.layers)
            layer = self.num_layers
        self.layer = layer
        self.model = model.float().eval()
        self.model.requires_grad_(False)
        self.eval()

    def train(self, mode=True):
        # frozen: never leave eval mode (dropout, layerdrop and SpecAugment off)
        return super().train(False)

    def _check_layer(self, layer):
        if not -(self.num_layers + 1) <= int(layer) <= self.num_layers:
            raise UserError(f"{self.config['model_dir']}: layer must be in 0..{self.num_layers}, got {layer}")

    def _inputs(self, wav, lengths):
        device = wav.device
        x = wav[:, 0].float()
        B, T = x.shape
        lengths = torch.full((B,), T, device=device) if lengths is None else lengths.to(device)
        if self.uses_fbank:
            arrays = [x[b, : int(lengths[b])].cpu().numpy() for b in range(B)]
            feats = self.extractor(arrays, sampling_rate=self.sample_rate, padding=True, return_tensors="pt")
            return {"input_features": feats["input_features"].to(device), "attention_mask": feats["attention_mask"].to(device)}
        valid = torch.arange(T, device=device)[None] < lengths[:, None]
        if self.normalize:
            w = valid.float()
            n = w.sum(1, keepdim=True)
            mean = (x * w).sum(1, keepdim=True) / n
            var = ((x - mean).square() * w).sum(1, keepdim=True) / n
            x = (x - mean) / torch.sqrt(var + 1e-7) * w
        inputs = {"input_values": x}
        if bool(getattr(self.extractor, "return_attention_mask", False)) and not bool(valid.all()):
            inputs["attention_mask"] = valid.long()
        return inputs

    @torch.no_grad()
    def extract_features(self, wav, layer=None, lengths=None):
        """wav [B,1,T] at sample_rate -> hidden_states[layer] [B, frames, hidden_size] at feature_rate Hz.

        layer None = the constructor's layer (itself None = last); negative counts from the end.
        """
        layer = self.layer if layer is None else layer
        layer = self.num_layers if layer is None else int(layer)
        self._check_layer(layer)
        out = self.model(**self._inputs(wav, lengths), output_hidden_states=True)
        return out.hidden_states[layer]

    def describe(self):
        return {
            "model_type": self.model_type,
            "hf_model_type": self.hf_model_type,
            "sample_rate": self.sample_rate,
            "feature_rate": float(self.feature_rate),
            "hidden_size": self.hidden_size,
            "num_layers": self.num_layers,
        }
