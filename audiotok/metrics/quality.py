"""Intrusive quality metrics of a decoded signal against its reference: PESQ-WB, STOI, multi-scale
mel distance, SI-SDR and pitch error, plus the length and delay alignment they all need.

Every function takes (reference, estimate, sr) as 1-D numpy arrays or torch tensors (any leading
dims of size 1 are squeezed), at the same sample rate. Lengths are trimmed to the shorter signal.
"""

import functools
import math
import warnings

import numpy as np
import torch
import torchaudio

from audiotok.nn.losses import stem_bins, stft_power

PESQ_SR = 16000

# Multi-scale mel distance: (n_fft, n_mels) per scale, hop = n_fft // 4, Hann window, magnitude
# mel spectrogram at the reference's own sample rate (fmax = sr / 2), log10 with a 1e-5 floor,
# mean absolute difference per scale, then averaged over the scales. Windows are in samples,
# as in DAC's mel loss, so at 16 kHz they span 16, 32, 64 and 128 ms.
MEL_SCALES = ((256, 20), (512, 40), (1024, 80), (2048, 160))
MEL_FLOOR = 1e-5

# delay search (see estimate_delay)
WAVEFORM_MIN_CORR = 0.5
ENVELOPE_FMAX = 4000.0


def as_mono(x):
    """numpy/torch, shape [T], [1,T] or [1,1,T] -> float64 numpy [T]."""
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", torch.float64).numpy()
    x = np.asarray(x, dtype=np.float64)
    while x.ndim > 1 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 1:
        raise ValueError(f"expected a mono signal, got shape {x.shape}")
    return x


def trim_to_shorter(ref, est):
    n = min(len(ref), len(est))
    return ref[:n], est[:n]


def _envelope(x, sr, hop):
    """Log mel envelope [40, frames] of the band below 4 kHz (32 ms windows, `hop` step): phase-blind,
    so it also locates vocoders such as Codec2; the band is the one every speech codec keeps."""
    n_fft = 1 << int(math.ceil(math.log2(0.032 * sr)))
    mel = _mel_transform(sr, n_fft, hop, 40, min(ENVELOPE_FMAX, sr / 2))
    m = mel(torch.from_numpy(x).float())
    return torch.log(m + 1e-4 * (float(m.max()) + 1e-12)).double().numpy()


def _xcorr(a, b):
    """c[k] = sum_t b[t + k] a[t] for all k (index k mod len) along the last axis, via the FFT."""
    n = a.shape[-1] + b.shape[-1] - 1
    size = 1 << (n - 1).bit_length()
    return np.fft.irfft(np.fft.rfft(b, size) * np.conj(np.fft.rfft(a, size)), size), size


def estimate_delay(ref, est, sr, max_delay_s=0.1):
    """Constant delay (samples) of `est` behind `ref` (negative: ahead), |delay| <= max_delay_s.

    Waveform cross-correlation decides when its peak is strong (normalised correlation >= 0.5:
    waveform codecs such as Opus or a neural codec). Otherwise (parametric codecs such as Codec2
    keep no phase) the lag comes from log-mel envelopes at a 1 ms hop, refined by the waveform
    correlation within one hop of it.
    """
    ref, est = as_mono(ref), as_mono(est)
    max_lag = int(round(max_delay_s * sr))
    hop = max(1, sr // 1000)
    n = min(len(ref), len(est))
    if max_lag <= 0 or n < 8 * hop or not ref.any() or not est.any():
        return 0
    xc, size = _xcorr(ref, est)
    lim = min(max_lag, n - 1)
    lags = np.arange(-lim, lim + 1)
    wave = xc[lags % size]
    best = int(np.argmax(wave))
    if wave[best] >= WAVEFORM_MIN_CORR * math.sqrt(float(np.dot(ref, ref)) * float(np.dot(est, est))):
        return int(lags[best])
    er, ee = _envelope(ref, sr, hop), _envelope(est, sr, hop)
    m = min(er.shape[1], ee.shape[1])
    er = er[:, :m] - er[:, :m].mean(1, keepdims=True)
    ee = ee[:, :m] - ee[:, :m].mean(1, keepdims=True)
    exc, esize = _xcorr(er, ee)
    exc = exc.sum(0)  # summed over mel bands
    flim = min(max_lag // hop, m - 1)
    flags = np.arange(-flim, flim + 1)
    coarse = int(flags[np.argmax(exc[flags % esize])]) * hop
    near = np.abs(lags - coarse) <= hop
    return int(lags[near][np.argmax(wave[near])])


def align(ref, est, sr, max_delay_s=0.0):
    """Trim to the shorter signal after undoing a constant delay of est (searched if max_delay_s > 0).
    Returns (ref, est, delay_samples)."""
    ref, est = as_mono(ref), as_mono(est)
    delay = estimate_delay(ref, est, sr, max_delay_s) if max_delay_s > 0 else 0
    if delay > 0:
        est = est[delay:]
    elif delay < 0:
        ref = ref[-delay:]
    ref, est = trim_to_shorter(ref, est)
    return ref, est, delay


def _resample(x, sr_in, sr_out):
    if sr_in == sr_out:
        return x
    y = torchaudio.functional.resample(torch.from_numpy(x).float(), sr_in, sr_out)
    return y.double().numpy()


def pesq_wb(ref, est, sr):
    """Wide-band PESQ (ITU-T P.862.2, MOS-LQO 1.04..4.64) at 16 kHz; resampled here if sr differs.
    NaN when PESQ finds no speech in the reference or the signal is too short (callers count NaNs)."""
    import pesq

    ref, est = trim_to_shorter(as_mono(ref), as_mono(est))
    if not ref.any():
        return math.nan
    ref, est = _resample(ref, sr, PESQ_SR), _resample(est, sr, PESQ_SR)
    try:
        return float(pesq.pesq(PESQ_SR, ref, est, "wb"))
    except (pesq.NoUtterancesError, pesq.BufferTooShortError):
        return math.nan


def stoi(ref, est, sr, extended=False):
    """STOI (pystoi; it resamples to 10 kHz itself). NaN when too little speech remains after
    pystoi's silent-frame removal (it would otherwise return a meaningless 1e-5)."""
    from pystoi import stoi as _stoi

    ref, est = trim_to_shorter(as_mono(ref), as_mono(est))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = float(_stoi(ref, est, sr, extended=extended))
    if any("Not enough STFT frames" in str(w.message) for w in caught):
        return math.nan
    return value


@functools.lru_cache(maxsize=32)
def _mel_transform(sr, n_fft, hop, n_mels, f_max=None):
    return torchaudio.transforms.MelSpectrogram(
        sample_rate=sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels, power=1.0, f_min=0.0, f_max=f_max or sr / 2
    )


def mel_distance(ref, est, sr):
    """Multi-scale log-mel L1 distance (see MEL_SCALES); 0 for identical signals, lower is better."""
    ref, est = trim_to_shorter(as_mono(ref), as_mono(est))
    x = torch.from_numpy(np.stack([ref, est])).float()
    total = 0.0
    for n_fft, n_mels in MEL_SCALES:
        m = _mel_transform(sr, n_fft, n_fft // 4, n_mels)(x)
        logm = torch.log10(m.clamp(min=MEL_FLOOR))
        total += float((logm[0] - logm[1]).abs().mean())
    return total / len(MEL_SCALES)


def si_sdr(ref, est, sr=None, eps=1e-10):
    """Scale-invariant SDR in dB (Le Roux et al. 2019) on zero-mean signals; sr is unused."""
    ref, est = trim_to_shorter(as_mono(ref), as_mono(est))
    ref, est = ref - ref.mean(), est - est.mean()
    target = (np.dot(est, ref) / (np.dot(ref, ref) + eps)) * ref
    noise = est - target
    return float(10 * np.log10((np.dot(target, target) + eps) / (np.dot(noise, noise) + eps)))


# Pitch error: probabilistic YIN (librosa.pyin) on both signals at 16 kHz, 64 ms windows every 20 ms, F0
# searched in 65-1050 Hz (C2-C6: speech and sung voices); the error is taken where both are voiced.
PITCH_SR, PITCH_WINDOW, PITCH_HOP, PITCH_RANGE = 16000, 1024, 320, (65.0, 1050.0)


def _f0(x, sr):
    """(F0 per frame, voiced flags) of x; the reference's are computed once for all the systems scored
    against it (pyin takes seconds per minute of audio)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    return _f0_cached(sr, x.tobytes())


@functools.lru_cache(maxsize=16)
def _f0_cached(sr, data):
    import librosa

    x = np.frombuffer(data, dtype=np.float32).copy()
    if sr != PITCH_SR:
        x = torchaudio.functional.resample(torch.from_numpy(x), sr, PITCH_SR).numpy()
    f0, voiced, _ = librosa.pyin(x, fmin=PITCH_RANGE[0], fmax=PITCH_RANGE[1], sr=PITCH_SR,
                                 frame_length=PITCH_WINDOW, hop_length=PITCH_HOP)
    return f0, voiced


def warm_up_pitch():
    """Compile pyin's numba kernels in this process, before worker processes call it. Why: numba writes
    the cached gufuncs of librosa's pyin as several files with no lock; workers that compile at the same
    time can leave a mixed cache that crashes every later process with a segfault (numba issue #10128)."""
    t = np.arange(PITCH_SR // 2, dtype=np.float32) / PITCH_SR
    _f0(0.5 * np.sin(2 * np.pi * 220.0 * t), PITCH_SR)


def pitch_error(ref, est, sr):
    """Median absolute F0 difference in cents over the frames where both signals are voiced (pyin; see
    PITCH_RANGE); NaN when no frame is. Lower is better; 100 cents is a semitone."""
    ref, est = trim_to_shorter(as_mono(ref), as_mono(est))
    (f_ref, v_ref), (f_est, v_est) = _f0(ref, sr), _f0(est, sr)
    both = v_ref & v_est & np.isfinite(f_ref) & np.isfinite(f_est)
    if not both.any():
        return math.nan
    return float(np.median(np.abs(1200 * np.log2(f_est[both] / f_ref[both]))))


def stem_leakage(own, other, est, sr=None, n_fft=1024, floor_db=-60.0):
    """Cross-stem leakage of a decoded stem, in dB: the estimate's energy in the time-frequency bins where
    the `other` stem is louder than its `own` stem, relative to its energy where the own stem is louder
    (bins more than -floor_db below the loudest bin of the two stems are left out). Phase-blind, so it
    judges decoders that invent phase fairly; lower is better, and the true stem scores its own floor."""
    n = min(len(own), len(other), len(est))
    x = torch.from_numpy(np.stack([as_mono(own)[:n], as_mono(other)[:n], as_mono(est)[:n]])).float()
    p_own, p_other, p_est = stft_power(x, n_fft)
    own_bins, other_bins = stem_bins(p_own, p_other, floor_db)
    e_other, e_own = float(p_est[other_bins].sum()), float(p_est[own_bins].sum())
    if e_other + e_own <= 0:
        return math.nan
    return float(10 * np.log10(max(e_other, 1e-12) / max(e_own, 1e-12)))


METRICS = {"pesq": pesq_wb, "stoi": stoi, "mel": mel_distance, "sisdr": si_sdr, "f0": pitch_error}


def quality_metrics(ref, est, sr, metrics=("pesq", "stoi", "mel", "sisdr"), max_delay_s=0.0):
    """Align (trim, and undo a constant delay when max_delay_s > 0) and compute `metrics`.
    Returns {name: value, "delay_ms": delay found}."""
    unknown = set(metrics) - set(METRICS)
    if unknown:
        raise ValueError(f"unknown quality metrics {sorted(unknown)}; known: {sorted(METRICS)}")
    ref, est, delay = align(ref, est, sr, max_delay_s)
    out = {name: METRICS[name](ref, est, sr) for name in metrics}
    out["delay_ms"] = 1000.0 * delay / sr
    return out
