"""Aligned crops of a music mix and its stems (registry key `music_stems`).

A data dir with `wav.scp` (the mix) plus one `<stem>.scp` per stem (`vocals.scp`,
`accompaniment.scp` by default, as `audiotok synth-music` and the MUSDB18 prep write them) gives
items {"wav": mix [1,T], "vocals": [1,T], "accompaniment": [1,T], "length": valid samples}: the
same time span of every file, so mix and stems stay sample-aligned. Crops follow
`AudioSegmentDataset` (random per (seed, epoch, index) for training, centred for validation,
zero-padded when a file is short, the same gain on every stem). With `segment_seconds: null` the
whole song is served and, when the dir has `text`, its lyrics as "text" (only then do the words
belong to the audio).
"""

import numpy as np
import torch

from audiotok.data.datasets import AudioSegmentDataset
from audiotok.errors import DataDirError

STEMS = ("vocals", "accompaniment")


class MusicStemDataset(AudioSegmentDataset):
    def __init__(self, data_dir, sample_rate, segment_seconds=2.0, train=True, seed=0, gain_jitter_db=0.0,
                 stems=STEMS):
        super().__init__(data_dir, sample_rate, segment_seconds, train, seed, gain_jitter_db)
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
        return item

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
