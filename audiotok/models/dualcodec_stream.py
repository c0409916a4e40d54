"""Streaming encode and decode for a causal spectral DualCodec (the shipped speech codec).

    enc = model.stream_encoder(n_q)      codes = enc.push(pcm)  ...  codes = enc.flush()
    dec = model.stream_decoder()         wav = dec.push(codes)  ...  wav = dec.flush()

Each push returns what is final: the codes of every whole frame the audio so far determines,
the samples no later frame can change. The concatenated pieces equal a whole-file pass of the
same model (the same codes; audio within float rounding), because every part is causal and keeps
exactly the state it needs: the sample history of the two STFT front-ends, the left context of
each causal conv, the SSL transformer's keys and values.

Lookahead (samples past the end of a frame needed before it is final), see `lookahead()`:
    encoder   the SSL's centred STFT frames: the last one of a codec frame reaches n_fft/2 - hop
              samples past it (40 samples, 2.5 ms, for the shipped model); the acoustic encoder's
              STFT frames end at their hop (none); every conv and the attention are causal (none)
    decoder   the iSTFT overlap-add: a sample is final once every window over it is in,
              (n_fft - hop) / 2 samples after it (480 samples, 30 ms, for the shipped model)
Plus the frame itself: a frame's codes exist once its last sample is in (80 ms at 12.5 Hz).
"""

import copy

import torch

from audiotok.errors import UserError
from audiotok.models.base import check_codes
from audiotok.nn.transformer import causal_mask


def check_streamable(model):
    """Raise UserError unless `model` (a DualCodec) has every part causal and frame-aligned."""
    name = getattr(model, "model_id", None) or "this model"
    problems = []
    if getattr(model, "backbone", None) != "spectral":
        problems.append("its backbone is not the spectral one")
    else:
        if not model.encoder.causal:
            problems.append("its acoustic encoder is not causal")
        if not model.decoder.causal:
            problems.append("its decoder is not causal")
    if not getattr(model.ssl, "causal", False):
        problems.append("its SSL encoder is not causal")
    if model.ssl_norm == "utterance":
        problems.append("it normalises SSL features per utterance")
    if any(not b.causal for b in list(model.sem_enc) + list(model.sem_dec)):
        problems.append("its semantic convs are not causal")
    if not problems and (int(model.ssl.sample_rate) != model.sample_rate
                         or model.ssl.hop_length * model.ssl.stack * round(model.pool) != model.hop_length):
        problems.append("its SSL frames do not tile the codec frames")
    if problems:
        raise UserError(f"{name} cannot stream: {'; '.join(problems)} (stream a causal spectral DualCodec, "
                        "e.g. the shipped speech codec)")


def lookahead(model):
    """Samples after a frame's last sample that each part needs before that frame is final."""
    ssl = model.ssl.logmel
    return {
        "ssl_stft": ssl.n_fft // 2 - ssl.hop_length,  # the last 10 ms frame of a codec frame is centred
        "acoustic_stft": 0,
        "convs": 0,
        "istft": (model.decoder.istft.n_fft - model.decoder.istft.hop) // 2,
    }


class _Contexts:
    """Left context of each causal conv, by name: feed frames in pieces, get whole-sequence outputs."""

    def __init__(self):
        self.frames = {}

    def conv(self, name, conv, x, width):
        """A plain Conv1d of kernel `width` + 1 that the whole-sequence pass pads on the left."""
        before = self.frames.get(name)
        if before is None:
            before = x.new_zeros(x.shape[0], x.shape[1], width)
        full = torch.cat([before, x], dim=-1)
        self.frames[name] = full[..., full.shape[-1] - width:]
        return conv(full)

    def blocks(self, name, blocks, x):
        for i, block in enumerate(blocks):
            key = f"{name}.{i}"
            before = self.frames.get(key)
            if before is None:
                before = x.new_zeros(x.shape[0], x.shape[1], block.left_pad)
            self.frames[key] = torch.cat([before, x], dim=-1)[..., before.shape[-1] + x.shape[-1] - block.left_pad:]
            x = block(x, context=before)
        return x


def _as_pcm(pcm, device):
    x = torch.as_tensor(pcm, dtype=torch.float32).reshape(-1)
    return x.to(device)


class StreamEncoder:
    """PCM in (float, model.sample_rate, mono), codes out: {stream: LongTensor [1, K, frames]}."""

    def __init__(self, model, n_q=None):
        check_streamable(model)
        self.model = model
        self.streams = model.streams_for(n_q)
        self.n_total = sum(s.n_codebooks for s in self.streams)
        self.device = model.sem_out.weight.device
        self.hop = model.hop_length
        ssl = model.ssl
        self.ssl_hop, self.ssl_half = ssl.logmel.hop_length, ssl.logmel.n_fft // 2
        self.ssl_mel = copy.deepcopy(ssl.logmel.mel)  # the same STFT, framed by us instead of centred
        self.ssl_mel.spectrogram.center = False
        self.ssl_lookahead = self.ssl_half - self.ssl_hop
        enc = model.encoder
        self.enc_back = enc.n_fft - enc.hop  # an acoustic STFT frame reaches this far before its hop
        # samples kept before the next frame: enough for both front-ends
        self.history = max(self.enc_back, self.ssl_half)
        self.audio = torch.zeros(self.history, device=self.device)  # zeros before the start, as padding is
        self.start = -self.history  # stream position of self.audio[0]
        self.received = 0
        self.frames_done = 0
        self.kv = ssl.encoder.new_cache(1, device=self.device)
        self.ctx = _Contexts()
        self.finished = False

    # ---- public -------------------------------------------------------------------------------
    @torch.inference_mode()
    def push(self, pcm):
        """Add samples; return the codes of the frames they complete (possibly 0 frames)."""
        if self.finished:
            raise UserError("stream encoder: push after flush")
        x = _as_pcm(pcm, self.device)
        self.audio = torch.cat([self.audio, x])
        self.received += x.numel()
        ready = max(0, (self.received - self.ssl_lookahead) // self.hop - self.frames_done)
        return self._frames(ready)

    @torch.inference_mode()
    def flush(self):
        """End of stream: the last (zero-padded) frame, as a whole-file pass pads it."""
        if self.finished:
            return self._empty()
        total = -(-self.received // self.hop)
        need = total * self.hop + self.ssl_lookahead - self.received
        self.audio = torch.cat([self.audio, self.audio.new_zeros(max(0, need))])
        out = self._frames(total - self.frames_done)
        self.finished = True
        return out

    @property
    def samples(self):
        return self.received

    # ---- one batch of whole frames --------------------------------------------------------------
    def _empty(self):
        return {s.name: torch.zeros(1, s.n_codebooks, 0, dtype=torch.long) for s in self.streams}

    def _segment(self, a, b):
        return self.audio[a - self.start: b - self.start]

    def _frames(self, n):
        if n <= 0:
            return self._empty()
        m, hop = self.model, self.hop
        t0, t1 = self.frames_done, self.frames_done + n
        s = self._ssl(t0, t1)
        sem = m.sem_vq.encode(self.ctx.blocks("sem_enc", m.sem_enc, m.sem_in(s)))
        tokens = {"semantic": sem[:, None].cpu()}
        if self.n_total > 1:
            sem_hat = m.sem_out(self.ctx.blocks("sem_dec", m.sem_dec, m.sem_vq.decode(sem)))
            residual = self._acoustic(t0, t1) - sem_hat
            tokens["acoustic"] = m.rvq.encode(residual, self.n_total - 1).cpu()
        self.frames_done = t1
        keep_from = t1 * hop - self.history  # drop the samples no later frame reads
        if keep_from > self.start:
            self.audio = self.audio[keep_from - self.start:]
            self.start = keep_from
        return tokens

    def _ssl(self, t0, t1):
        """Normalised, pooled SSL features [1, H, t1 - t0] of codec frames t0..t1-1."""
        m, ssl = self.model, self.model.ssl
        hop_ratio = self.hop // self.ssl_hop  # 10 ms STFT frames per codec frame
        first, last = t0 * hop_ratio, t1 * hop_ratio  # STFT frames [first, last), centred on i * ssl_hop
        seg = self._segment(first * self.ssl_hop - self.ssl_half, (last - 1) * self.ssl_hop + self.ssl_half)
        with torch.autocast(device_type=seg.device.type, enabled=False):
            mel = torch.log(self.ssl_mel(seg.float()[None]).clamp_min(ssl.logmel.log_floor))  # [1, M, hop_ratio * n]
        x, _ = ssl.mel_features(mel)
        h = ssl.input_proj(x)
        T = h.shape[1]
        mask = causal_mask(T, offset=self.kv.pos, device=h.device)
        layer = m.ssl_layer if m.ssl_layer >= 0 else m.ssl_layer + ssl.num_layers + 1
        _, hidden = ssl.encoder(h, mask=mask, cache=self.kv, return_hidden_states=True, num_layers=layer)
        feats = hidden[layer].float().transpose(1, 2)
        if m.ssl_norm == "running":
            feats = (feats - m.ssl_mean[:, None]) * torch.rsqrt(m.ssl_var[:, None] + 1e-5)
        return m._pool(feats, t1 - t0)

    def _acoustic(self, t0, t1):
        """The acoustic encoder's latent [1, D, t1 - t0] of codec frames t0..t1-1."""
        enc = self.model.encoder
        seg = self._segment(t0 * self.hop - self.enc_back, t1 * self.hop)
        with torch.autocast(device_type=seg.device.type, enabled=False):
            mel = torch.log(enc.mel(seg.float()[None]).clamp_min(1e-5))
        h = self.ctx.conv("enc.inp", enc.inp, mel, enc.inp.kernel_size[0] - 1)
        h = enc.down(self.ctx.blocks("enc.fine", enc.fine, h))
        h = self.ctx.blocks("enc.coarse", enc.coarse, h)
        return enc.out(enc.norm(h.transpose(1, 2)).transpose(1, 2))


class StreamDecoder:
    """Codes in ({stream: [1, K, frames]}, any number of frames per push), PCM out ([samples] float)."""

    def __init__(self, model):
        check_streamable(model)
        self.model = model
        self.device = model.sem_out.weight.device
        dec = model.decoder
        self.istft = dec.istft
        self.n_fft, self.fine_hop = self.istft.n_fft, self.istft.hop
        self.trim = (self.n_fft - self.fine_hop) // 2
        self.ctx = _Contexts()
        # overlap-add tails (wav and window envelope) of the frames so far, from stream position `pos`
        tail = self.n_fft - self.fine_hop
        self.wav_tail = torch.zeros(tail, device=self.device)
        self.env_tail = torch.zeros(tail, device=self.device)
        self.fine_frames = 0
        self.emitted = 0  # output samples handed out
        self.n_acoustic = None
        self.finished = False

    @torch.inference_mode()
    def push(self, tokens):
        if self.finished:
            raise UserError("stream decoder: push after flush")
        z = self._latent(tokens)
        if z.shape[-1] == 0:
            return torch.zeros(0)
        dec = self.model.decoder
        h = self.ctx.blocks("dec.coarse", dec.coarse, dec.inp(z))
        h = self.ctx.blocks("dec.fine", dec.fine, dec.upsample(h))
        h = dec.head(dec.norm(h.transpose(1, 2))).float()
        with torch.autocast(device_type=h.device.type, enabled=False):
            log_mag, phase = h.transpose(1, 2).chunk(2, dim=1)
            mag = torch.exp(log_mag.clamp(max=6.0))
            spec = torch.complex(mag * torch.cos(phase), mag * torch.sin(phase))
            return self._overlap_add(spec)

    @torch.inference_mode()
    def flush(self):
        """End of stream: the samples whose later windows never come."""
        if self.finished:
            return torch.zeros(0)
        self.finished = True
        p = self.fine_frames * self.fine_hop  # the tail starts here; whole-file output ends at position p + trim
        return self._emit(self.wav_tail, self.env_tail, p, p + self.trim)

    def _latent(self, tokens):
        m = self.model
        if "semantic" not in tokens or set(tokens) - {"semantic", "acoustic"}:
            raise UserError(f"stream decoder: needs 'semantic' (and optionally 'acoustic'), got {sorted(tokens)}")
        known = {s.name: s for s in m.streams}
        for name, codes in tokens.items():
            check_codes("dualcodec", name, codes, known[name])
        sem = tokens["semantic"][:, 0].long().to(self.device)
        k = tokens["acoustic"].shape[1] if "acoustic" in tokens else 0
        if self.n_acoustic is None:
            self.n_acoustic = k
        elif k != self.n_acoustic:
            raise UserError(f"stream decoder: a push has {k} acoustic codebooks, earlier ones {self.n_acoustic}")
        z = m.sem_out(self.ctx.blocks("sem_dec", m.sem_dec, m.sem_vq.decode(sem)))
        if k:
            ac = tokens["acoustic"].long().to(self.device)
            if ac.shape[-1] != z.shape[-1]:
                raise UserError(f"stream decoder: semantic has {z.shape[-1]} frames but acoustic {ac.shape[-1]}")
            z = z + m.rvq.decode(ac)
        return z

    def _overlap_add(self, spec):
        """Add the windows of new frames; hand out the output samples no later frame touches."""
        istft, hop = self.istft, self.fine_hop
        n = spec.shape[-1]
        chunks = torch.fft.irfft(spec.transpose(1, 2), n=self.n_fft) * istft.window
        # overlap-add positions [p, p + n*hop + tail) where p = the first new frame's start
        wav = istft._overlap_add(chunks)[0]
        env = istft._overlap_add(istft.window.pow(2).expand(1, n, self.n_fft))[0]
        tail = self.wav_tail.numel()
        wav[:tail] += self.wav_tail
        env[:tail] += self.env_tail
        p = self.fine_frames * hop
        self.fine_frames += n
        self.wav_tail, self.env_tail = wav[n * hop:], env[n * hop:]
        return self._emit(wav, env, p, self.fine_frames * hop)

    def _emit(self, wav, env, p, final):
        """Output samples up to overlap-add position `final` (wav[0] is position p)."""
        first = self.emitted + self.trim - p  # output sample s is position s + trim
        last = final - p
        if last <= first:
            return torch.zeros(0)
        out = wav[first:last] / env[first:last].clamp_min(1e-5)
        self.emitted += out.numel()
        return out.cpu()


__all__ = ["StreamEncoder", "StreamDecoder", "check_streamable", "lookahead"]
