"""The demo's live tab, as plain functions: microphone chunks -> streaming encoder -> streaming
decoder -> audio chunks, with the latency shown as it is measured.

A LiveSession holds one browser's stream: a soxr stream resampler (the browser records at its own
rate), the codec's StreamEncoder and StreamDecoder, and the compute time of every chunk.
"""

import threading
import time

import numpy as np
import torch

from audiotok.errors import UserError
from audiotok.models.dualcodec_stream import is_streamable, lookahead

BROWSER_CHUNK_S = 0.1  # how often the browser sends microphone audio (Gradio's stream_every)


def streamable(store):
    """Names of the loaded codecs that can stream (causal spectral DualCodecs)."""
    return [name for name in store.codecs if is_streamable(store.model(name))]


def _mono_float(data):
    x = np.asarray(data)
    if x.ndim == 2:
        x = x.mean(axis=1) if x.shape[1] <= 2 else x.mean(axis=0)
    if np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float32) / float(np.iinfo(x.dtype).max + 1)
    return x.astype(np.float32, copy=False)


def _pcm16(x):
    return (np.clip(x, -1, 1) * 32767).astype(np.int16)


class LiveSession:
    def __init__(self, model, name, in_rate):
        import soxr

        self.model, self.name, self.in_rate = model, name, int(in_rate)
        self.enc, self.dec = model.stream_encoder(), model.stream_decoder()
        self.resampler = None if self.in_rate == model.sample_rate else soxr.ResampleStream(
            self.in_rate, model.sample_rate, 1, dtype="float32")
        self.algorithmic_ms = 1000.0 * (model.hop_length + sum(lookahead(model).values())) / model.sample_rate
        self.samples_in = self.frames = self.samples_out = 0
        self.compute_s = 0.0
        self.pushes = 0
        self.finished = False
        # the last microphone chunk and the stop event can arrive together: one push at a time
        self.lock = threading.Lock()

    def push(self, x, last=False):
        """Float mono samples at in_rate -> float samples out at the model's rate (what became final)."""
        with self.lock:
            if self.finished:
                return np.zeros(0, np.float32)
            self.finished = last
            return self._push(x, last)

    def _push(self, x, last):
        t0 = time.perf_counter()
        if self.resampler is not None:
            x = self.resampler.resample_chunk(x, last=last)
        self.samples_in += x.shape[0]
        with torch.inference_mode():
            codes = self.enc.push(torch.from_numpy(np.ascontiguousarray(x)))
            if last:
                tail = self.enc.flush()
                codes = {k: torch.cat([codes[k], tail[k]], -1) for k in codes}
            self.frames += codes["semantic"].shape[-1]
            out = self.dec.push(codes) if codes["semantic"].shape[-1] else torch.zeros(0)
            if last:
                out = torch.cat([out, self.dec.flush()])
        self.compute_s += time.perf_counter() - t0
        self.pushes += 1
        self.samples_out += out.numel()
        return out.numpy()

    def status(self, done=False):
        sr = self.model.sample_rate
        per_frame = 1000.0 * self.compute_s / max(1, self.frames)
        head = "Done" if done else "Live"
        return (f"{head}: {self.samples_in / sr:.2f} s in, {self.frames} frames coded, {self.samples_out / sr:.2f} s "
                f"out with `{self.name}`. Latency: {self.algorithmic_ms:.1f} ms algorithmic (one "
                f"{1000 * self.model.hop_length / sr:.0f} ms frame + lookahead) + {per_frame:.1f} ms compute per "
                f"frame (measured) + {1000 * BROWSER_CHUNK_S:.0f} ms browser chunks = "
                f"{self.algorithmic_ms + per_frame + 1000 * BROWSER_CHUNK_S:.0f} ms.")


def ui_live(store, model_name, chunk, session):
    """One microphone chunk -> (audio chunk (sr, int16) or None, session, status markdown)."""
    try:
        if chunk is None:
            return None, session, (session.status() if session else "")
        sr, data = chunk
        if session is None or session.name != model_name or session.in_rate != int(sr):
            if not model_name:
                raise UserError("no streaming codec loaded")
            session = LiveSession(store.model(model_name), model_name, sr)
        pcm = _pcm16(session.push(_mono_float(data)))
        return (session.model.sample_rate, pcm), session, session.status()
    except UserError as e:
        return None, None, f"Error: {e}"


def ui_live_stop(session):
    """The microphone stopped: flush what the codec still holds -> (audio chunk or None, None, status)."""
    if session is None:
        return None, None, ""
    pcm = _pcm16(session.push(np.zeros(0, np.float32), last=True))
    return (session.model.sample_rate, pcm) if pcm.size else None, None, session.status(done=True)
