"""Whole utterances (with their phones) for codecs trained with a content objective.

`UtteranceDataset` (registry key `utterances`) serves each recording whole, up to `max_seconds`
(a longer one is cropped at random and loses its phones, since a crop no longer matches its
transcript), as {"wav": [1, T], "length": T, "phones": [symbols] or None}. Phones come from the
data dir's `phones` file (`utt-id ph1 ph2 ...`, as `audiotok synth-corpus` writes it).

Batches are length-bucketed (`LengthBucketSampler`): each epoch shuffles the items, sorts them by
duration inside windows of `bucket_batches` batches and shuffles the resulting batches, so
padding stays small while every epoch's order differs. Deterministic in (seed, epoch) and
resumable at any batch, like ResumableBatchSampler.
"""

import numpy as np
import torch

from audiotok.data.datasets import AudioSegmentDataset, EpochIndex, ResumableBatchSampler
from audiotok.errors import DataDirError


def read_phones(data_dir):
    """{utt: [symbols]} from DIR/phones (a Kaldi table); {} when the dir has none."""
    from pathlib import Path

    from audiotok.data.kaldi_table import read_scp

    path = Path(data_dir) / "phones"
    return {utt: value.split() for utt, value in read_scp(path).items()} if path.is_file() else {}


class LengthBucketSampler(ResumableBatchSampler):
    def __init__(self, durations, batch_size, rank=0, world_size=1, seed=0, bucket_batches=32):
        super().__init__(len(durations), batch_size, rank, world_size, seed)
        self.durations = np.asarray(durations, dtype=np.float64)
        self.bucket_batches = int(bucket_batches)

    def epoch_batches(self, epoch):
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(self.num_items, generator=g).tolist()
        total = len(self) * self.batch_size * self.world_size
        order = (order * -(-total // self.num_items))[:total]
        window = self.batch_size * self.world_size * self.bucket_batches
        batches = []
        for w in range(0, total, window):
            chunk = sorted(order[w:w + window], key=lambda i: self.durations[i])
            step = self.batch_size * self.world_size
            batches += [chunk[b:b + step] for b in range(0, len(chunk), step)]
        perm = torch.randperm(len(batches), generator=g).tolist()
        mine = []
        for p in perm:  # every rank takes its share of the same global batch
            mine.append([EpochIndex(i, epoch) for i in batches[p][self.rank::self.world_size]])
        return mine


class UtteranceDataset(AudioSegmentDataset):
    def __init__(self, data_dir, sample_rate, max_seconds=6.0, train=True, seed=0, phones=False,
                 gain_jitter_db=0.0, bucket_batches=32):
        super().__init__(data_dir, sample_rate, segment_seconds=None, train=False, seed=seed,
                         gain_jitter_db=gain_jitter_db)
        self.train = bool(train)
        self.max_len = int(round(float(max_seconds) * self.sample_rate))
        self.bucket_batches = int(bucket_batches)
        self.phones = read_phones(data_dir) if phones else {}
        if phones and not self.phones:
            raise DataDirError(f"{data_dir}/phones: missing (the config asks for phones)")

    def make_batch_sampler(self, batch_size, rank, world_size, seed):
        durations = [self._duration(i) for i in range(len(self))]
        return LengthBucketSampler(durations, batch_size, rank, world_size, seed, self.bucket_batches)

    def __getitem__(self, key):
        idx = int(key)
        utt = self.entries[idx][0]
        n = int(self._duration(idx) * self.sample_rate)
        phones = self.phones.get(utt)
        if n > self.max_len:
            if self.train:
                rng = np.random.default_rng([self.seed, getattr(key, "epoch", 0), idx])
                offset = int(rng.integers(0, n - self.max_len + 1))
            else:
                offset = (n - self.max_len) // 2
            wav, phones = self._read(idx, offset, self.max_len), None
        else:
            wav = self._read(idx, 0, None)
        if self.train and self.gain_jitter_db:
            rng = np.random.default_rng([self.seed, getattr(key, "epoch", 0), idx, 1])
            wav = wav * 10 ** (rng.uniform(-1, 1) * self.gain_jitter_db / 20)
        return {"wav": wav.contiguous(), "length": wav.shape[-1], "phones": phones}

    @staticmethod
    def collate(items):
        out = AudioSegmentDataset.collate(items)
        out["phones"] = [it["phones"] for it in items]
        return out


__all__ = ["UtteranceDataset", "LengthBucketSampler", "read_phones"]
