"""The bookkeeping of a streaming codec, shared by the PyTorch and the onnxruntime streams (numpy
only: no torch here).

    FrameWindows   samples in as they come -> windows of whole frames with the history before them
                   and the lookahead after them, as a streaming encoder step takes them
    OutputTrim     overlap-add positions out of a decoder step -> output samples (the first `trim`
                   positions of a stream come before its first sample; the end adds the last ones)
"""

import numpy as np


class FrameWindows:
    def __init__(self, hop, history, lookahead):
        self.hop, self.history, self.lookahead = int(hop), int(history), int(lookahead)
        self.audio = np.zeros(self.history, np.float32)  # zeros before the start, as a whole-file pass pads
        self.received = 0
        self.frames = 0
        self.finished = False

    def push(self, x):
        """Add samples -> (window [history + n*hop + lookahead], n) for the n frames now whole, or None."""
        if self.finished:
            raise ValueError("push after flush")
        x = np.asarray(x, np.float32).reshape(-1)
        self.audio = np.concatenate([self.audio, x])
        self.received += x.shape[0]
        return self._take(max(0, (self.received - self.lookahead) // self.hop - self.frames))

    def flush(self):
        """End of stream: the last frames, zero-padded as a whole-file pass pads them (or None)."""
        if self.finished:
            return None
        total = -(-self.received // self.hop)
        need = total * self.hop + self.lookahead - self.received
        self.audio = np.concatenate([self.audio, np.zeros(max(0, need), np.float32)])
        out = self._take(total - self.frames)
        self.finished = True
        return out

    def _take(self, n):
        if n <= 0:
            return None
        window = self.audio[: self.history + n * self.hop + self.lookahead]
        self.audio = self.audio[n * self.hop:]  # keep `history` samples before the next frame
        self.frames += n
        return window, n


class OutputTrim:
    def __init__(self, trim):
        self.trim = int(trim)
        self.skip = self.trim

    def push(self, positions):
        """Overlap-add positions (final ones, in order) -> the output samples among them."""
        if self.skip:
            cut = min(self.skip, positions.shape[0])
            positions, self.skip = positions[cut:], self.skip - cut
        return positions

    def flush(self, ola_wav, ola_env):
        """The output samples left in the overlap-add state at the end of the stream."""
        return (ola_wav / np.maximum(ola_env, 1e-5))[self.skip:self.trim]
