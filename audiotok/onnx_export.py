"""Export a speech codec (DualCodec) to ONNX: an encoder and a decoder graph plus `onnx.json`.

    encoder.onnx   wav [1, 1, frames * hop] float32  ->  codes [1, n_q, frames] int64
                   (semantic codebook first, then the acoustic ones; pad the audio to whole frames)
    decoder.onnx   semantic [1, 1, frames] int64, acoustic [1, K, frames] int64,
                   acoustic_mask [K] float32 (1 = use the codebook, 0 = leave it out: any n_q from
                   one graph)  ->  wav [1, 1, frames * hop] float32
    onnx.json      what a token file records about the model (id, version, rates, streams), so
                   `audiotok encode/decode --backend onnxruntime` needs neither torch nor the weights

    encoder_stream.onnx, decoder_stream.onnx   one step of the streaming encoder/decoder of a causal
                   model (audiotok.models.dualcodec_stream.EncoderStep/DecoderStep): the stream's state
                   goes in and comes back out as new_<name>; onnx.json["streaming"] lists it

The time axis is dynamic. The graphs are the model's own forward code traced by torch.export;
the STFT front-ends are real convs and the inverse STFT a matmul plus overlap-add (no fold/istft op).
"""

import copy
import json
import time
from pathlib import Path

import torch
from torch import nn

from audiotok.errors import UserError
from audiotok.fileio import atomic_dir
from audiotok.models.dualcodec_stream import is_streamable
from audiotok.onnx_runtime import ONNX_META

OPSET = 20


class EncoderGraph(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, wav):
        tokens = self.model.encode_direct(wav)  # fp32, as exported
        return torch.cat([tokens["semantic"], tokens["acoustic"]], dim=1)


class DecoderGraph(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, semantic, acoustic, acoustic_mask):
        m = self.model
        z = m.semantic_latent(semantic[:, 0])
        for i, q in enumerate(m.rvq.quantizers):
            z = z + acoustic_mask[i] * q.decode(acoustic[:, i])
        return m.decoder(z)


def is_onnx_dir(d):
    return (Path(d) / ONNX_META).is_file() and (Path(d) / "encoder.onnx").is_file()


def _check_exportable(model):
    if getattr(model, "model_type", None) != "dualcodec" or getattr(model, "backbone", None) != "spectral":
        raise UserError("ONNX export covers the frame-rate speech codec (a spectral DualCodec, e.g. the shipped "
                        f"one); got {getattr(model, 'model_type', type(model).__name__)}")


def exportable_copy(model):
    """A copy of `model` whose STFT front-ends are real-valued convs (ConvMelSpectrogram: torch.stft's
    complex output cannot be exported with a dynamic time axis) and whose inverse STFT is a matmul."""
    from audiotok.nn.features import ConvMelSpectrogram
    from audiotok.nn.spectral import MatmulISTFT

    model = copy.deepcopy(model).float().eval()
    model.ssl.logmel.mel = ConvMelSpectrogram(model.ssl.logmel.mel)
    model.encoder.mel = ConvMelSpectrogram(model.encoder.mel)
    istft = model.decoder.istft
    model.decoder.istft = MatmulISTFT(istft.n_fft, istft.hop)  # onnxruntime's DFT op is O(n^2) per frame
    return model


def onnx_meta(model):
    from audiotok.tokfile import model_identity

    model_id, model_version = model_identity(model)
    return {
        "format": "audiotok-onnx",
        "opset": OPSET,
        "model_id": model_id,
        "model_version": model_version,
        "model_type": model.model_type,
        "sample_rate": model.sample_rate,
        "frame_rate": model.frame_rate,
        "hop_length": model.hop_length,
        "streams": [{"name": s.name, "codebook_size": s.codebook_size, "n_codebooks": s.n_codebooks}
                    for s in model.streams],
        "inputs": {"encoder": ["wav"], "decoder": ["semantic", "acoustic", "acoustic_mask"]},
    }


def _export(module, args, path, input_names, output_names, dynamic_shapes):
    import logging
    import warnings

    # the exporter logs every optional op set it skips (torchvision's among them): not ours to report
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(module, args, str(path), dynamo=True, opset_version=OPSET, verbose=False,
                                    input_names=input_names, output_names=output_names,
                                    dynamic_shapes=dynamic_shapes, external_data=False)
    return program


def _streaming_meta(model):
    from audiotok.models.dualcodec_stream import DECODER_STATE, ENCODER_STATE, EncoderStep

    step = EncoderStep(model)
    return {"encoder": "encoder_stream.onnx", "decoder": "decoder_stream.onnx",
            "encoder_state": list(ENCODER_STATE), "decoder_state": list(DECODER_STATE),
            "history": step.history, "lookahead": step.lookahead,
            "istft_trim": (model.decoder.istft.n_fft - model.decoder.istft.hop) // 2}


def _export_streaming(model, out_dir):
    """encoder_stream.onnx / decoder_stream.onnx: one step of StreamEncoder / StreamDecoder with its
    state as inputs and outputs (new_<name>), traced from a stream 3 frames in (any past length runs)."""
    from audiotok.models.dualcodec_stream import DECODER_STATE, ENCODER_STATE, DecoderStep, EncoderStep

    hop = model.hop_length
    t = torch.export.Dim("frames", min=1, max=1 << 20)
    past = torch.export.Dim("past", min=0, max=1 << 24)
    enc = EncoderStep(model).eval()
    extra = enc.history + enc.lookahead
    with torch.no_grad():
        state = enc(0.1 * torch.randn(1, 3 * hop + extra), *enc.init_state())[1:]
        dyn = {"audio": {1: hop * t + extra}, "ssl_k": {3: past}, "ssl_v": {3: past},
               **{n: None for n in ENCODER_STATE[2:]}}
        _export(enc, (0.1 * torch.randn(1, 2 * hop + extra), *state), out_dir / "encoder_stream.onnx",
                ["audio", *ENCODER_STATE], ["codes", *[f"new_{n}" for n in ENCODER_STATE]], dyn)
        dec = DecoderStep(model).eval()
        n_ac = model.streams[1].n_codebooks

        def codes(n):
            return (torch.randint(0, model.streams[0].codebook_size, (1, 1, n)),
                    torch.randint(0, model.streams[1].codebook_size, (1, n_ac, n)), torch.ones(n_ac))

        state = dec(*codes(3), *dec.init_state())[1:]
        # traced for >= 2 frames (an expand of the window guards against 1); the graph runs 1-frame pushes
        # too, which tests/test_onnx.py checks against PyTorch
        t2 = torch.export.Dim("frames", min=2, max=1 << 20)
        dyn = {"semantic": {2: t2}, "acoustic": {2: t2}, "acoustic_mask": None, **{n: None for n in DECODER_STATE}}
        _export(dec, (*codes(2), *state), out_dir / "decoder_stream.onnx",
                ["semantic", "acoustic", "acoustic_mask", *DECODER_STATE],
                ["wav", *[f"new_{n}" for n in DECODER_STATE]], dyn)


def export_onnx(model, out_dir, frames=25):
    """Write encoder.onnx, decoder.onnx and onnx.json for `model` into `out_dir` (atomically: a
    half-done export never shows). `frames`: the example length traced (any length runs)."""
    _check_exportable(model)
    model = exportable_copy(model)
    hop = model.hop_length
    n_ac = model.streams[1].n_codebooks
    t = torch.export.Dim("frames", min=2, max=1 << 20)
    wav = torch.randn(1, 1, frames * hop) * 0.1
    sem = torch.randint(0, model.streams[0].codebook_size, (1, 1, frames))
    ac = torch.randint(0, model.streams[1].codebook_size, (1, n_ac, frames))
    mask = torch.ones(n_ac)
    start = time.time()
    with atomic_dir(out_dir, is_onnx_dir, "an exported ONNX dir") as tmp:
        with torch.no_grad():
            _export(EncoderGraph(model), (wav,), Path(tmp) / "encoder.onnx", ["wav"], ["codes"],
                    {"wav": {2: hop * t}})
            _export(DecoderGraph(model), (sem, ac, mask), Path(tmp) / "decoder.onnx",
                    ["semantic", "acoustic", "acoustic_mask"], ["wav"],
                    {"semantic": {2: t}, "acoustic": {2: t}, "acoustic_mask": None})
            streams = is_streamable(model)
            if streams:
                _export_streaming(model, Path(tmp))
        meta = {**onnx_meta(model), "streaming": _streaming_meta(model) if streams else None,
                "export_seconds": round(time.time() - start, 1)}
        (Path(tmp) / ONNX_META).write_text(json.dumps(meta, indent=1) + "\n")
    return Path(out_dir)


def parity(model, onnx_dir, wav=None):
    """Run both exported graphs and the PyTorch model on `wav` ([T] float at the model's rate; a
    voiced test signal by default) -> {codes_equal: fraction, audio_max_abs: float}."""
    import numpy as np

    from audiotok.onnx_runtime import OnnxCodec

    if wav is None:
        t = torch.arange(int(1.5 * model.sample_rate)) / model.sample_rate
        wav = 0.3 * torch.sin(2 * torch.pi * 140 * t) * torch.sin(2 * torch.pi * 3 * t) + 0.01 * torch.randn(t.shape)
    wav = torch.as_tensor(wav, dtype=torch.float32).reshape(1, 1, -1)
    codec = OnnxCodec(onnx_dir, threads=1)
    got = codec.encode(wav.reshape(-1).numpy())
    with torch.inference_mode():
        ref = model.float().encode(wav)
        ref_wav = model.decode(ref).reshape(-1).numpy()
    same = sum(int((got[k] == ref[k][0].numpy()).sum()) for k in ref)
    total = sum(int(ref[k].numel()) for k in ref)
    out = codec.decode({k: v[0].numpy() for k, v in ref.items()})
    return {"codes_equal": same / total, "audio_max_abs": float(np.abs(out - ref_wav).max())}
