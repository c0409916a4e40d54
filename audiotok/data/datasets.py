"""Training datasets over Kaldi data dirs, and the resumable sampler the trainer drives them with.

`AudioSegmentDataset` (registry key `audio_segments`) serves fixed-length mono crops of the
recordings in `wav.scp` (or of the `segments` when the dir has them):
  training   a random crop per item and epoch, zero-padded when the file is shorter;
  validation a deterministic centre crop (or the whole file when segment_seconds is None).
Crops are drawn from a generator seeded by (seed, epoch, index), never from global or worker
RNG, so the data a step sees does not depend on num_workers or on where a run was resumed.

`ResumableBatchSampler` yields the batches of one rank for one epoch, starting at any batch:
the trainer records (epoch, batches done) in checkpoints and calls `set_state` on resume.
"""

import math

import numpy as np
import torch

from audiotok.errors import DataDirError


class EpochIndex(int):
    """A dataset index that also carries the epoch it was drawn for (datasets that only want an
    int can ignore it: it is an int)."""

    def __new__(cls, index, epoch=0):
        obj = super().__new__(cls, index)
        obj.epoch = int(epoch)
        return obj

    def __reduce__(self):  # keep the epoch across DataLoader worker pickling
        return (EpochIndex, (int(self), self.epoch))


class ResumableBatchSampler:
    """Shuffled batches for rank `rank` of `world_size`, deterministic in (seed, epoch).

    Every rank gets the same number of batches per epoch (the last incomplete global batch is
    dropped; a dataset smaller than one global batch is repeated to fill it), which keeps
    data-parallel ranks in lock-step.
    """

    def __init__(self, num_items, batch_size, rank=0, world_size=1, seed=0, shuffle=True):
        if num_items <= 0:
            raise ValueError("ResumableBatchSampler needs at least one item")
        self.num_items = int(num_items)
        self.batch_size = int(batch_size)
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.seed = int(seed)
        self.shuffle = shuffle
        self.epoch = 0
        self.start_batch = 0

    def __len__(self):
        """Batches per epoch for one rank."""
        return max(1, self.num_items // (self.batch_size * self.world_size))

    def set_state(self, epoch, start_batch=0):
        self.epoch = int(epoch)
        self.start_batch = int(start_batch)

    def epoch_batches(self, epoch):
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            order = torch.randperm(self.num_items, generator=g).tolist()
        else:
            order = list(range(self.num_items))
        total = len(self) * self.batch_size * self.world_size
        order = (order * math.ceil(total / self.num_items))[:total]
        mine = order[self.rank::self.world_size]
        return [[EpochIndex(i, epoch) for i in mine[b:b + self.batch_size]]
                for b in range(0, len(mine), self.batch_size)]

    def __iter__(self):
        yield from self.epoch_batches(self.epoch)[self.start_batch:]


def _load_entries(data_dir):
    """[(utt_id, path, start_s, end_s or None)] from a data dir's wav.scp (+ segments), and the
    known durations {utt: seconds} from utt2dur / reco2dur when the dir has them."""
    from audiotok.data.kaldi_dir import load_data_dir

    d = load_data_dir(data_dir)
    if not d.wav:
        raise DataDirError(f"{data_dir}/wav.scp: no entries")
    if d.segments:
        entries = []
        for utt, seg in d.segments.items():
            if seg.reco not in d.wav:
                raise DataDirError(f"{data_dir}/segments: recording '{seg.reco}' of '{utt}' is not in wav.scp")
            end = None if seg.end is None or seg.end < 0 else float(seg.end)
            entries.append((utt, d.wav[seg.reco], float(seg.start), end))
    else:
        entries = [(utt, path, 0.0, None) for utt, path in d.wav.items()]
    durations = {}
    for utt, value in (d.info.get("utt2dur") or {}).items():
        try:
            durations[utt] = float(value)
        except ValueError:
            raise DataDirError(f"{data_dir}/utt2dur: '{utt}' has a duration that is not a number: '{value}'") from None
    return sorted(entries), durations


class AudioSegmentDataset(torch.utils.data.Dataset):
    """Mono crops of `segment_seconds` at `sample_rate` as {"wav": [1, T], "length": valid samples}.

    Only the crop is read from disk (soundfile seeks), so long recordings cost what the crop
    costs; files at another rate are resampled. `gain_jitter_db` (training only) scales each crop
    by a random gain in +-dB. Item keys may be `EpochIndex` (so crops change every epoch)."""

    def __init__(self, data_dir, sample_rate, segment_seconds=1.0, train=True, seed=0, gain_jitter_db=0.0):
        self.data_dir = str(data_dir)
        self.sample_rate = int(sample_rate)
        self.segment = None if segment_seconds is None else int(round(float(segment_seconds) * self.sample_rate))
        if self.segment is not None and self.segment <= 0:
            raise DataDirError(f"segment_seconds must be positive, got {segment_seconds}")
        if train and self.segment is None:
            raise DataDirError("training crops need a segment_seconds")
        self.train = bool(train)
        self.seed = int(seed)
        self.gain_jitter_db = float(gain_jitter_db)
        self.entries, self._durations = _load_entries(data_dir)

    def __len__(self):
        return len(self.entries)

    def _duration(self, idx):
        utt, path, start, end = self.entries[idx]
        if utt not in self._durations:
            if end is not None:
                self._durations[utt] = end - start
            else:
                from audiotok.audio import audio_info

                self._durations[utt] = max(0.0, audio_info(path, scan=False)["duration"] - start)
        return self._durations[utt]

    def _read(self, idx, offset, length):
        """`length` samples (None: to the end) from `offset` samples into item idx, at sample_rate."""
        from audiotok.audio import read_audio_segment

        utt, path, start, end = self.entries[idx]
        sr = self.sample_rate
        dur = None if length is None else length / sr
        if dur is None and end is not None:
            dur = end - start - offset / sr
        wav, _ = read_audio_segment(path, start + offset / sr, dur, target_sr=sr, mono=True)
        wav = wav.reshape(1, -1).float()
        return wav if length is None else wav[:, :length]

    def __getitem__(self, key):
        idx = int(key)
        if self.segment is None:
            wav = self._read(idx, 0, None)
            return {"wav": wav, "length": wav.shape[-1]}
        seg = self.segment
        n = int(self._duration(idx) * self.sample_rate)
        if self.train:
            rng = np.random.default_rng([self.seed, getattr(key, "epoch", 0), idx])
            offset = int(rng.integers(0, n - seg + 1)) if n > seg else 0
            gain = 10 ** (rng.uniform(-1, 1) * self.gain_jitter_db / 20) if self.gain_jitter_db else 1.0
        else:
            offset, gain = max(0, (n - seg) // 2), 1.0
        out = self._read(idx, offset, seg)
        length = out.shape[-1]
        if length < seg:
            out = torch.nn.functional.pad(out, (0, seg - length))
        if gain != 1.0:
            out = out * gain
        return {"wav": out.contiguous(), "length": length}

    @staticmethod
    def collate(items):
        """{"wav": [B,1,T] zero-padded to the longest item, "lengths": [B] valid samples}."""
        longest = max(it["wav"].shape[-1] for it in items)
        wav = torch.zeros(len(items), 1, longest)
        for i, it in enumerate(items):
            wav[i, :, :it["wav"].shape[-1]] = it["wav"]
        return {"wav": wav, "lengths": torch.tensor([it["length"] for it in items], dtype=torch.long)}
