"""Aligned crops of a music mix and its stems (registry key `music_stems`).

A data dir with `wav.scp` (the mix) plus one `<stem>.scp` per stem (`vocals.scp`,
`accompaniment.scp` by default, as `audiotok synth-music` and the MUSDB18 prep write them) gives
items {"wav": mix [1,T], "vocals": [1,T], "accompaniment": [1,T], "length": valid samples}: the
same time span of every file, so mix and stems stay sample-aligned. Crops follow
`AudioSegmentDataset` (random per (seed, epoch, index) for training, centred for validation,
zero-padded when a file is short, the same gain on every stem). With `segment_seconds: null` the
whole song is served and, when the dir has `text`, its lyrics as "text" (only then do the words
belong to the audio).

`remix_prob` (training only, a music-separation augmentation): with that probability an item's
accompaniment is a crop of another random song, each stem gets its own gain within
±`remix_gain_db`, and the mix is their sum, so the model meets vocal/band pairings and balances no
rendered song has. Validation crops are never remixed.
"""

import numpy as np
import torch

from audiotok.data.datasets import AudioSegmentDataset
from audiotok.errors import DataDirError

STEMS = ("vocals", "accompaniment")


class MusicStemDataset(AudioSegmentDataset):
    def __init__(self, data_dir, sample_rate, segment_seconds=2.0, train=True, seed=0, gain_jitter_db=0.0,
                 stems=STEMS, remix_prob=0.0, remix_gain_db=6.0):
        super().__init__(data_dir, sample_rate, segment_seconds, train, seed, gain_jitter_db)
        self.remix_prob, self.remix_gain_db = float(remix_prob), float(remix_gain_db)
        if not 0.0 <= self.remix_prob <= 1.0:
            raise DataDirError(f"{data_dir}: remix_prob must be in [0, 1], got {remix_prob}")
        from audiotok.data.kaldi_dir import load_data_dir

        d = load_data_dir(data_dir)
        if d.segments:
            raise DataDirError(f"{data_dir}/segments: stem crops need whole-file entries; run "
                               "`audiotok format-data-dir` first")
        self.stems = tuple(stems)
        self.stem_paths = {}
        for stem in self.stems:
            table = (d.extra or {}).get(stem)
            if table is None:
                raise DataDirError(f"{data_dir}/{stem}.scp: missing (a music-stem dataset needs it)")
            lost = [utt for utt, *_ in self.entries if utt not in table]
            if lost:
                raise DataDirError(f"{data_dir}/{stem}.scp: no entry for {len(lost)} utterances of wav.scp "
                                   f"(first: {lost[0]})")
            self.stem_paths[stem] = table
        self.text = d.text

    def _read_file(self, path, offset, length):
        from audiotok.audio import read_audio_segment

        sr = self.sample_rate
        wav, _ = read_audio_segment(path, offset / sr, None if length is None else length / sr, target_sr=sr,
                                    mono=True)
        wav = wav.reshape(1, -1).float()
        return wav if length is None else wav[:, :length]

    def __getitem__(self, key):
        idx = int(key)
        utt, mix_path = self.entries[idx][0], self.entries[idx][1]
        paths = {"wav": mix_path, **{s: self.stem_paths[s][utt] for s in self.stems}}
        if self.segment is None:
            out = {k: self._read_file(p, 0, None) for k, p in paths.items()}
            n = min(w.shape[-1] for w in out.values())
            item = {k: w[:, :n].contiguous() for k, w in out.items()}
            item["length"] = n
            if self.text is not None and utt in self.text:
                item["text"] = self.text[utt]
            return item
        seg = self.segment
        n = int(self._duration(idx) * self.sample_rate)
        if self.train:
            rng = np.random.default_rng([self.seed, getattr(key, "epoch", 0), idx])
            offset = int(rng.integers(0, n - seg + 1)) if n > seg else 0
            gain = 10 ** (rng.uniform(-1, 1) * self.gain_jitter_db / 20) if self.gain_jitter_db else 1.0
        else:
            offset, gain = max(0, (n - seg) // 2), 1.0
        item = {}
        length = seg
        for k, p in paths.items():
            w = self._read_file(p, offset, seg)
            length = min(length, w.shape[-1])
            item[k] = w
        for k in paths:
            w = item[k][:, :length]
            item[k] = (torch.nn.functional.pad(w, (0, seg - length)) * gain).contiguous()
        item["length"] = length
        if (self.train and self.remix_prob > 0 and len(self.entries) > 1 and set(self.stems) == set(STEMS)
                and rng.random() < self.remix_prob):
            self._remix(item, idx, rng)
        return item

    def _remix(self, item, idx, rng):
        """Replace the accompaniment by another song's (random crop), new stem gains, mix = their sum."""
        other = int(rng.integers(0, len(self.entries) - 1))
        other += other >= idx  # never the same song
        utt = self.entries[other][0]
        n = int(self._duration(other) * self.sample_rate)
        offset = int(rng.integers(0, n - self.segment + 1)) if n > self.segment else 0
        acc = self._read_file(self.stem_paths["accompaniment"][utt], offset, self.segment)
        acc = torch.nn.functional.pad(acc, (0, self.segment - acc.shape[-1]))
        g_voc, g_acc = 10 ** (rng.uniform(-1, 1, size=2) * self.remix_gain_db / 20)
        item["vocals"] = (item["vocals"] * float(g_voc)).contiguous()
        item["accompaniment"] = (acc * float(g_acc)).contiguous()
        item["wav"] = item["vocals"] + item["accompaniment"]
        peak = float(item["wav"].abs().max())
        if peak > 0.99:  # keep the sum in range; the same scale on every part keeps mix = vocals + accompaniment
            for k in ("wav", "vocals", "accompaniment"):
                item[k] = item[k] * (0.99 / peak)
        item["length"] = self.segment

    def collate(self, items):
        """{"wav", each stem: [B,1,T] zero-padded to the longest, "lengths": [B], optional "text": [str]}."""
        longest = max(it["wav"].shape[-1] for it in items)
        out = {}
        for k in ("wav",) + self.stems:
            x = torch.zeros(len(items), 1, longest)
            for i, it in enumerate(items):
                x[i, :, : it[k].shape[-1]] = it[k]
            out[k] = x
        out["lengths"] = torch.tensor([it["length"] for it in items], dtype=torch.long)
        if all("text" in it for it in items):
            out["text"] = [it["text"] for it in items]
        return out
