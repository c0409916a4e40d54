"""Synthetic audio data dirs for the benchmarks (speed does not depend on what is said)."""

from pathlib import Path

import numpy as np


def make_data_dir(d, n_utts=16, seconds=5.0, sample_rate=24000, seed=0):
    """A Kaldi data dir of `n_utts` 16-bit WAVs (tones + noise, 4 speakers); returns its path."""
    import torch

    from audiotok.audio import write_audio
    from audiotok.data.kaldi_dir import write_data_dir

    d = Path(d)
    rng = np.random.default_rng(seed)
    wav, utt2spk = {}, {}
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    for i in range(n_utts):
        spk = f"spk{i % 4}"
        utt = f"{spk}-utt{i:03d}"
        f0 = 100 + 30 * (i % 7)
        x = 0.3 * np.sin(2 * np.pi * f0 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
        x += 0.02 * rng.standard_normal(len(t))
        path = d / "wav" / f"{utt}.wav"
        write_audio(path, torch.from_numpy(x.astype(np.float32)), sample_rate)
        wav[utt] = str(path.resolve())
        utt2spk[utt] = spk
    write_data_dir(d, wav, utt2spk)
    return d
