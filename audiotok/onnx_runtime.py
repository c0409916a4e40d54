"""Run an exported speech codec (see audiotok.onnx_export) with onnxruntime: no torch at inference.

    codec = OnnxCodec("speech_onnx/")
    tokens = codec.encode(wav)             # float32 [T] at codec.sample_rate -> {stream: int64 [K, frames]}
    wav = codec.decode(tokens)             # any n_q: missing acoustic codebooks are masked out

`encode_file` / `decode_file` read and write the same .atok files as the PyTorch path.
"""

import json
import math
from pathlib import Path

import numpy as np

from audiotok.errors import UserError

ONNX_META = "onnx.json"  # written by audiotok.onnx_export


class OnnxCodec:
    def __init__(self, model_dir, threads=None):
        model_dir = Path(model_dir)
        meta_path = model_dir / ONNX_META
        if not meta_path.is_file():
            raise UserError(f"{model_dir}: not an exported ONNX codec (no {ONNX_META}); make one with "
                            "audiotok export --format onnx -o DIR")
        try:
            import onnxruntime as ort
        except ImportError:
            raise UserError("--backend onnxruntime needs the onnxruntime package (pip install onnxruntime)") from None
        self.meta = json.loads(meta_path.read_text())
        self.model_dir = model_dir
        self.sample_rate = int(self.meta["sample_rate"])
        self.frame_rate = float(self.meta["frame_rate"])
        self.hop_length = int(self.meta["hop_length"])
        self.streams = self.meta["streams"]
        self.model_id, self.model_version = self.meta["model_id"], self.meta.get("model_version", "")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = int(threads)
            opts.inter_op_num_threads = 1
        self._opts, self._sessions = opts, {}
        self.encoder = ort.InferenceSession(str(model_dir / "encoder.onnx"), opts, providers=["CPUExecutionProvider"])
        self.decoder = ort.InferenceSession(str(model_dir / "decoder.onnx"), opts, providers=["CPUExecutionProvider"])

    def streams_for(self, n_q=None):
        """The streams (dicts) that the first n_q codebooks cover (all with None)."""
        n_q = self.total_codebooks if n_q is None else int(n_q)
        if not 1 <= n_q <= self.total_codebooks:
            raise UserError(f"n_q must be in 1..{self.total_codebooks}, got {n_q}")
        out = []
        for s in self.streams:
            k = min(s["n_codebooks"], n_q)
            if k > 0:
                out.append({**s, "n_codebooks": k})
            n_q -= k
        return out

    def _stream_session(self, which):
        info = self.meta.get("streaming")
        if not info:
            raise UserError(f"{self.model_dir}: this export has no streaming graphs (the model is not causal)")
        if which not in self._sessions:
            import onnxruntime as ort

            self._sessions[which] = ort.InferenceSession(str(self.model_dir / info[which]), self._opts,
                                                         providers=["CPUExecutionProvider"])
        return self._sessions[which], info

    def stream_encoder(self, n_q=None):
        return OnnxStreamEncoder(self, n_q)

    def stream_decoder(self):
        return OnnxStreamDecoder(self)

    @property
    def total_codebooks(self):
        return sum(s["n_codebooks"] for s in self.streams)

    def encode(self, wav, n_q=None):
        """float32 [T] -> {"semantic": [1, frames], "acoustic": [K, frames]} (K = n_q - 1)."""
        n_q = self.total_codebooks if n_q is None else int(n_q)
        if not 1 <= n_q <= self.total_codebooks:
            raise UserError(f"n_q must be in 1..{self.total_codebooks}, got {n_q}")
        wav = np.asarray(wav, dtype=np.float32).reshape(-1)
        frames = max(1, math.ceil(wav.shape[0] / self.hop_length))
        padded = np.zeros((1, 1, frames * self.hop_length), np.float32)
        padded[0, 0, : wav.shape[0]] = wav
        codes = self.encoder.run(None, {"wav": padded})[0][0]  # [n_total, frames]
        tokens = {"semantic": codes[:1]}
        if n_q > 1:
            tokens["acoustic"] = codes[1:n_q]
        return tokens

    def decoder_inputs(self, tokens):
        """{"semantic": [(1,) 1, frames], optional "acoustic": [(1,) K, frames]} -> the decoder graphs'
        semantic, acoustic (all codebooks, missing ones zero) and acoustic_mask (1 = given), checked."""
        sem = np.asarray(tokens["semantic"], dtype=np.int64).reshape(1, 1, -1)
        n_ac = self.streams[1]["n_codebooks"]
        ac = np.zeros((1, n_ac, sem.shape[-1]), np.int64)
        mask = np.zeros(n_ac, np.float32)
        if "acoustic" in tokens:
            given = np.asarray(tokens["acoustic"], dtype=np.int64).reshape(-1, sem.shape[-1])
            ac[0, : given.shape[0]] = given
            mask[: given.shape[0]] = 1.0
        for name, codes in (("semantic", sem), ("acoustic", ac)):
            size = next(s["codebook_size"] for s in self.streams if s["name"] == name)
            if codes.size and (codes.min() < 0 or codes.max() >= size):
                raise UserError(f"{name} codes outside [0, {size}) for model {self.model_id}")
        return {"semantic": sem, "acoustic": ac, "acoustic_mask": mask}

    def decode(self, tokens, length=None):
        """{"semantic": [1, frames], optional "acoustic": [K, frames]} -> float32 [frames * hop] (or length)."""
        wav = self.decoder.run(None, self.decoder_inputs(tokens))[0].reshape(-1)
        return wav[:length] if length is not None else wav

    def check_header(self, header, path):
        """Refuse a token file made by another model (or another release of this one), in one line."""
        made_by = (header["model_id"], header.get("model_version") or "")
        if made_by != (self.model_id, self.model_version or ""):
            raise UserError(f"{path}: made by model {' '.join(made_by).strip()}, but the ONNX codec is "
                            f"{self.model_id} {self.model_version or ''}".rstrip())

    def header(self, n_q, original_length):
        return {"model_id": self.model_id, "model_version": self.model_version, "sample_rate": self.sample_rate,
                "frame_rate": self.frame_rate, "streams": self.streams, "n_q": n_q,
                "original_length": int(original_length)}


def _initial_state(session, names):
    """Zeros of each state input's shape (the dynamic past axis, named in the graph, starts at 0)."""
    shapes = {i.name: i.shape for i in session.get_inputs()}
    return [np.zeros([d if isinstance(d, int) else 0 for d in shapes[n]], np.float32) for n in names]


class OnnxStreamEncoder:
    """StreamEncoder on onnxruntime: push float PCM [n] at the codec's rate, get {stream: [1, K, frames]}."""

    def __init__(self, codec, n_q=None):
        from audiotok.stream_buffers import FrameWindows

        self.session, info = codec._stream_session("encoder")
        self.names = info["encoder_state"]
        self.state = _initial_state(self.session, self.names)
        self.streams = codec.streams_for(n_q)
        self.n_total = sum(s["n_codebooks"] for s in self.streams)
        self.windows = FrameWindows(codec.hop_length, info["history"], info["lookahead"])

    def push(self, pcm):
        return self._codes(self.windows.push(pcm))

    def flush(self):
        return self._codes(self.windows.flush())

    def _codes(self, window):
        if window is None:
            return {s["name"]: np.zeros((1, s["n_codebooks"], 0), np.int64) for s in self.streams}
        out = self.session.run(None, {"audio": window[0][None], **dict(zip(self.names, self.state))})
        codes, self.state = out[0], out[1:]
        tokens = {"semantic": codes[:, :1]}
        if self.n_total > 1:
            tokens["acoustic"] = codes[:, 1:self.n_total]
        return tokens


class OnnxStreamDecoder:
    """StreamDecoder on onnxruntime: push {stream: [1, K, frames]}, get the final float samples."""

    def __init__(self, codec):
        from audiotok.stream_buffers import OutputTrim

        self.codec = codec
        self.session, info = codec._stream_session("decoder")
        self.names = info["decoder_state"]
        self.state = _initial_state(self.session, self.names)
        self.trim = OutputTrim(info["istft_trim"])

    def push(self, tokens):
        inputs = self.codec.decoder_inputs(tokens)
        if inputs["semantic"].shape[-1] == 0:
            return np.zeros(0, np.float32)
        out = self.session.run(None, {**inputs, **dict(zip(self.names, self.state))})
        self.state = out[1:]
        return self.trim.push(out[0])

    def flush(self):
        return self.trim.flush(self.state[-2], self.state[-1])


def encode_file(codec, src, dst, n_q=None):
    from audiotok.audio import read_audio_numpy
    from audiotok.tokfile import write_tokens

    wav, _ = read_audio_numpy(src, target_sr=codec.sample_rate)
    tokens = codec.encode(wav, n_q)
    write_tokens(dst, tokens, codec.header(n_q, wav.shape[0]))
    return tokens


def decode_file(codec, src, dst, n_q=None):
    from audiotok.audio import write_audio
    from audiotok.tokfile import read_tokens

    tokens, header = read_tokens(src, as_numpy=True)
    codec.check_header(header, src)
    if n_q is not None:
        have = sum(v.shape[0] for v in tokens.values())
        if not 1 <= n_q <= have:
            raise UserError(f"{src}: asked for {n_q} codebooks but the tokens hold {have}")
        tokens = {"semantic": tokens["semantic"], **({"acoustic": tokens["acoustic"][: n_q - 1]}
                                                      if n_q > 1 and "acoustic" in tokens else {})}
    wav = codec.decode(tokens, header.get("original_length"))
    write_audio(dst, wav, codec.sample_rate)
    return wav
