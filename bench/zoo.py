"""The codecs the benchmarks run, all with random weights (speed does not depend on the weights):
audiotok's DualCodec from the recipe configs, and the peers EnCodec 24 kHz, DAC 24 kHz and Mimi
(from `transformers`, built from a config, nothing downloaded) and SNAC 24 kHz (the `snac`
package, built from its constructor).

Every codec is wrapped in `Codec` with one interface: `encode(wav [B,1,T]) -> codes` and
`decode(codes) -> wav`, both under inference mode. `size="tiny"` builds the same classes at toy
widths for the smoke test.
"""

import copy
from pathlib import Path

import torch

from audiotok.config import load_config
from audiotok.registry import build_model

CONF = Path(__file__).resolve().parent.parent / "egs" / "mini_synth" / "codec1" / "conf"


class Codec:
    def __init__(self, name, module, sample_rate, frame_rate, kbps, encode, decode, note=""):
        self.name, self.module = name, module
        self.sample_rate, self.frame_rate, self.kbps = int(sample_rate), float(frame_rate), float(kbps)
        self._encode, self._decode = encode, decode
        self.note = note

    @property
    def params_m(self):
        return sum(p.numel() for p in self.module.parameters()) / 1e6

    def to(self, device):
        self.module.to(device)
        self.device = torch.device(device)
        return self

    @torch.inference_mode()
    def encode(self, wav):
        return self._encode(wav)

    @torch.inference_mode()
    def decode(self, codes):
        return self._decode(codes)


# ---- audiotok ------------------------------------------------------------------------------

def ssl_config(size="full"):
    """The BEST-RQ speech encoder of the recipe: full (12 x 512) or debug."""
    name = "bestrq_speech.yaml" if size == "full" else "bestrq_speech_debug.yaml"
    cfg = load_config(CONF / name)
    return {"model": cfg["model"], "model_conf": copy.deepcopy(cfg["model_conf"])}


def dualcodec_config(rate="12hz", size="full", ssl=None, discriminator=False):
    """DualCodec model config from egs/mini_synth/codec1/conf/dualcodec_<rate>[_debug].yaml with the
    SSL built in place (random weights) instead of read from ssl_init_dir."""
    name = f"dualcodec_{rate}.yaml" if size == "full" else f"dualcodec_{rate}_debug.yaml"
    cfg = load_config(CONF / name)
    conf = copy.deepcopy(cfg["model_conf"])
    conf.pop("ssl_init_dir", None)
    conf["ssl"] = ssl or ssl_config("full" if size == "full" else "debug")
    if discriminator is False:
        conf["discriminator"] = False
    return {"model": "dualcodec", "model_conf": conf}, cfg


def dualcodec(rate="12hz", size="full", ssl=None):
    torch.manual_seed(0)
    config, _ = dualcodec_config(rate, size, ssl)
    model = build_model(config).eval()
    n = model.total_codebooks
    name = f"audiotok DualCodec {'12.5' if rate == '12hz' else '25'} Hz" + ("" if size == "full" else " (debug)")
    return Codec(name, model, model.sample_rate, model.frame_rate, model.bitrate(n) / 1000,
                 lambda w: model.encode(w, n), lambda c: model.decode(c),
                 note=f"{n} codebooks, SSL BEST-RQ {model.ssl.num_layers} x {model.ssl.hidden_size}")


def cpu_codec(size="full"):
    """The CPU-efficient causal 12.5 Hz DualCodec (conf/dualcodec_12hz_cpu_causal.yaml with its causal
    BEST-RQ: the shipped speech codec's architecture) with random weights; `size="tiny"` uses the
    debug twin of the non-causal config."""
    from audiotok.data.corpora.phones import INVENTORY

    torch.manual_seed(0)
    cfg = load_config(CONF / ("dualcodec_12hz_cpu_causal.yaml" if size == "full" else "dualcodec_12hz_cpu_debug.yaml"))
    ssl = load_config(CONF / ("bestrq_speech_cpu_causal.yaml" if size == "full" else "bestrq_speech_cpu_debug.yaml"))
    conf = copy.deepcopy(cfg["model_conf"])
    conf.pop("ssl_init_dir", None)
    conf["ssl"] = {"model": ssl["model"], "model_conf": ssl["model_conf"]}
    conf["content_ctc"] = {"phones": list(INVENTORY), "upsample": conf["content_ctc"]["upsample"]}
    model = build_model({"model": "dualcodec", "model_conf": conf}).eval()
    return _wrap_dualcodec(model, "audiotok DualCodec 12.5 Hz CPU (spectral, causal)" + ("" if size == "full" else " (debug)"))


def _wrap_dualcodec(model, name):
    n = model.total_codebooks
    return Codec(name, model, model.sample_rate, model.frame_rate, model.bitrate(n) / 1000,
                 lambda w: model.encode(w, n), lambda c: model.decode(c),
                 note=f"{n} codebooks, SSL BEST-RQ {model.ssl.num_layers} x {model.ssl.hidden_size}")


def pack_dualcodec(directory, rate="12hz", size="debug"):
    """A packed model dir (save_model_dir) of a random-weight DualCodec, for the CLI benchmarks."""
    from audiotok.models.loading import save_model_dir

    torch.manual_seed(0)
    config, _ = dualcodec_config(rate, size)
    model = build_model(config).eval()
    save_model_dir(model, directory, meta={"note": "random weights, for benchmarks"})
    return directory


# ---- peers ---------------------------------------------------------------------------------

def encodec(size="full", bandwidth=1.5):
    from transformers import EncodecConfig, EncodecModel

    kw = {} if size == "full" else dict(num_filters=4, hidden_size=16, codebook_size=64, num_lstm_layers=1)
    torch.manual_seed(0)
    m = EncodecModel(EncodecConfig(**kw)).eval()
    fr = m.config.sampling_rate / m.config.hop_length
    n_q = int(1000 * bandwidth // (fr * 10))  # 10 bits per 1024-entry codebook

    def enc(w):
        out = m.encode(w, bandwidth=bandwidth)
        return out.audio_codes, out.audio_scales

    def dec(c):
        return m.decode(c[0], c[1]).audio_values

    return Codec("EnCodec 24 kHz", m, m.config.sampling_rate, fr, n_q * fr * 10 / 1000, enc, dec,
                 note=f"{n_q} codebooks ({bandwidth} kbps), causal")


def dac(size="full"):
    from transformers import DacConfig, DacModel

    # DAC's 24 kHz model (hop 320, 32 x 1024 codebooks); transformers' defaults are the 16 kHz layout
    kw = dict(sampling_rate=24000, downsampling_ratios=[2, 4, 5, 8], upsampling_ratios=[8, 5, 4, 2], hop_length=320,
              n_codebooks=32, codebook_size=1024, codebook_dim=8)
    if size != "full":
        kw.update(encoder_hidden_size=4, decoder_hidden_size=16, hidden_size=16, n_codebooks=2, codebook_size=64)
    torch.manual_seed(0)
    m = DacModel(DacConfig(**kw)).eval()
    fr = 24000 / 320
    n_q = m.config.n_codebooks
    return Codec("DAC 24 kHz", m, 24000, fr, n_q * fr * 10 / 1000,
                 lambda w: m.encode(w).audio_codes, lambda c: m.decode(audio_codes=c).audio_values,
                 note=f"{n_q} codebooks, non-causal")


def mimi(size="full", n_q=8):
    from transformers import MimiConfig, MimiModel

    kw = {}
    if size != "full":
        kw = dict(hidden_size=32, num_filters=4, num_hidden_layers=1, intermediate_size=64, num_attention_heads=2,
                  num_key_value_heads=2, head_dim=16, codebook_dim=16, vector_quantization_hidden_dimension=16,
                  codebook_size=64, num_quantizers=4, upsample_groups=32)
        n_q = 4
    torch.manual_seed(0)
    m = MimiModel(MimiConfig(**kw)).eval()
    fr = 12.5
    bits = m.config.codebook_size.bit_length() - 1
    return Codec("Mimi", m, m.config.sampling_rate, fr, n_q * fr * bits / 1000,
                 lambda w: m.encode(w, num_quantizers=n_q).audio_codes,
                 lambda c: m.decode(c).audio_values, note=f"{n_q} codebooks, causal")


def snac(size="full"):
    from snac import SNAC

    # hubert-free 24 kHz speech model layout (19.8 M parameters)
    kw = dict(sampling_rate=24000, encoder_dim=48, encoder_rates=[2, 4, 8, 8], decoder_dim=1024,
              decoder_rates=[8, 8, 4, 2], attn_window_size=None, codebook_size=4096, codebook_dim=8,
              vq_strides=[4, 2, 1], noise=True, depthwise=True)
    if size != "full":
        kw.update(encoder_dim=4, decoder_dim=32, codebook_size=64)
    torch.manual_seed(0)
    m = SNAC(**kw).eval()
    hop = 512
    fr = 24000 / hop
    bits = kw["codebook_size"].bit_length() - 1
    rates = [fr / s for s in kw["vq_strides"]]  # 12, 23, 47 Hz
    return Codec("SNAC 24 kHz", m, 24000, fr, sum(rates) * bits / 1000, lambda w: m.encode(w), lambda c: m.decode(c),
                 note="3 scales (12/23/47 Hz), non-causal")


PEERS = {"encodec": encodec, "dac": dac, "mimi": mimi, "snac": snac}


def build(name, size="full"):
    if name in ("dualcodec_12hz", "dualcodec_25hz"):
        return dualcodec(name.split("_")[1], size)
    if name == "dualcodec_12hz_cpu":
        return cpu_codec(size)
    return PEERS[name](size)


ALL = ["dualcodec_12hz_cpu", "dualcodec_12hz", "dualcodec_25hz", "encodec", "dac", "mimi", "snac"]
