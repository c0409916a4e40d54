"""Streaming encode and decode for a causal spectral DualCodec (the shipped speech codec).

    enc = model.stream_encoder(n_q)      codes = enc.push(pcm)  ...  codes = enc.flush()
    dec = model.stream_decoder()         wav = dec.push(codes)  ...  wav = dec.flush()

Each push returns what is final: the codes of every whole frame the audio so far determines,
the samples no later frame can change. The concatenated pieces equal a whole-file pass of the
same model (the same codes; audio within float rounding), because every part is causal and keeps
exactly the state it needs: the sample history of the two STFT front-ends, the left context of
each causal conv, the SSL transformer's keys and values.

Both encode in the model's float64 twin (DualCodec.exact_encoder): in fp32 the stream's other
chunking rounds differently and flipped near-tie codes (11 of 82,978 on the speech test set).

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
from torch import nn

from audiotok.errors import UserError
from audiotok.models.base import check_codes
from audiotok.nn.precision import at_least_fp32
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


def is_streamable(model):
    try:
        check_streamable(model)
        return True
    except (UserError, AttributeError):  # AttributeError: not a DualCodec at all
        return False


def lookahead(model):
    """Samples after a frame's last sample that each part needs before that frame is final."""
    ssl = model.ssl.logmel
    return {
        "ssl_stft": ssl.n_fft // 2 - ssl.hop_length,  # the last 10 ms frame of a codec frame is centred
        "acoustic_stft": 0,
        "convs": 0,
        "istft": (model.decoder.istft.n_fft - model.decoder.istft.hop) // 2,
    }


def _uncentred(mel):
    """The same mel front-end framed by the caller (no centring pad): the stream supplies the context."""
    mel = copy.deepcopy(mel)
    if hasattr(mel, "spectrogram"):  # torchaudio's MelSpectrogram
        mel.spectrogram.center = False
    else:  # audiotok.nn.features.ConvMelSpectrogram (the exportable one)
        mel.center = False
    return mel


def _blocks(blocks, x, ctx):
    """Run causal ConvNeXt blocks on new frames x given ctx [n_blocks, B, C, k-1] (the frames before
    x at each block's input) -> (output, the new ctx)."""
    if len(blocks) == 0:
        return x, ctx
    new = []
    for i, block in enumerate(blocks):
        new.append(torch.cat([ctx[i], x], dim=-1)[..., -block.left_pad:])
        x = block(x, context=ctx[i])
    return x, torch.stack(new)


def _ctx(blocks, channels, device):
    width = blocks[0].left_pad if len(blocks) else 0
    return torch.zeros(len(blocks), 1, channels, width, device=device)


class _TensorCache:
    """The transformer's cache interface over plain tensors (past keys/values [L,1,H,P,D], conv
    context [L,1,C,k-1]) so that one streaming step is a pure function, exportable to ONNX."""

    def __init__(self, k, v, conv):
        self.k_in, self.v_in = k, v
        self.pos = k.shape[3]
        self.k, self.v = [None] * k.shape[0], [None] * k.shape[0]
        self.conv = [conv[i] for i in range(conv.shape[0])]

    def update(self, layer, k, v):
        self.k[layer] = torch.cat([self.k_in[layer], k.to(self.k_in.dtype)], dim=2)
        self.v[layer] = torch.cat([self.v_in[layer], v.to(self.v_in.dtype)], dim=2)
        return self.k[layer], self.v[layer]

    def advance(self, n):
        pass


ENCODER_STATE = ("ssl_k", "ssl_v", "ssl_conv", "sem_enc", "sem_dec", "enc_inp", "enc_fine", "enc_coarse")
DECODER_STATE = ("sem_dec", "dec_coarse", "dec_fine", "ola_wav", "ola_env")


class EncoderStep(nn.Module):
    """One streaming encoder step as a pure function (what the ONNX streaming encoder exports):

        audio [1, frames*hop + history + lookahead], *state  ->  codes [1, n_q, frames], *new state

    `audio` holds the new frames' samples with `history` samples before them (zeros before the
    stream starts) and `lookahead` after. State tensors: ENCODER_STATE, from init_state()."""

    def __init__(self, model, n_q=None):
        super().__init__()
        check_streamable(model)
        self.model = model
        self.n_total = sum(s.n_codebooks for s in model.streams_for(n_q))
        self.hop = model.hop_length
        ssl = model.ssl
        self.ssl_hop, self.ssl_half = ssl.logmel.hop_length, ssl.logmel.n_fft // 2
        self.ssl_mel = _uncentred(ssl.logmel.mel)
        self.lookahead = lookahead(model)["ssl_stft"]
        enc = model.encoder
        self.enc_back = enc.n_fft - enc.hop  # an acoustic STFT frame reaches this far before its hop
        self.enc_mel = _uncentred(enc.mel)
        self.history = max(self.enc_back, self.ssl_half)
        self.layer = model.ssl_layer if model.ssl_layer >= 0 else model.ssl_layer + ssl.num_layers + 1

    def init_state(self, device=None):
        m, ssl = self.model, self.model.ssl
        heads, dim = ssl.encoder.n_kv_heads, ssl.encoder.head_dim
        conv = ssl.encoder.layers[0].conv
        width = conv.pad[0] if conv is not None else 0
        kv = torch.zeros(self.layer, 1, heads, 0, dim, device=device)
        enc = m.encoder
        return (kv, kv.clone(), torch.zeros(self.layer, 1, ssl.hidden_size, width, device=device),
                _ctx(m.sem_enc, m.sem_in.out_channels, device), _ctx(m.sem_dec, m.sem_in.out_channels, device),
                torch.zeros(1, enc.inp.in_channels, enc.inp.kernel_size[0] - 1, device=device),
                _ctx(enc.fine, enc.inp.out_channels, device), _ctx(enc.coarse, enc.inp.out_channels, device))

    def forward(self, audio, ssl_k, ssl_v, ssl_conv, sem_enc, sem_dec, enc_inp, enc_fine, enc_coarse):
        m = self.model
        n = (audio.shape[-1] - self.history - self.lookahead) // self.hop
        # SSL features of the new frames: centred 10 ms STFT frames, KV cache and conv context
        start = self.history - self.ssl_half
        seg = audio[:, start:start + n * self.hop + 2 * self.ssl_half - self.ssl_hop]
        with torch.autocast(device_type=audio.device.type, enabled=False):
            mel = torch.log(self.ssl_mel(at_least_fp32(seg)).clamp_min(m.ssl.logmel.log_floor))
        x, _ = m.ssl.mel_features(mel)
        h = m.ssl.input_proj(x)
        cache = _TensorCache(ssl_k, ssl_v, ssl_conv)
        mask = causal_mask(h.shape[1], offset=cache.pos, device=h.device)
        _, hidden = m.ssl.encoder(h, mask=mask, cache=cache, return_hidden_states=True, num_layers=self.layer)
        feats = at_least_fp32(hidden[self.layer]).transpose(1, 2)
        if m.ssl_norm == "running":
            feats = m.running_norm(feats)
        s = m._pool(feats, n)
        z, sem_enc = _blocks(m.sem_enc, m.sem_in(s), sem_enc)
        sem = m.sem_vq.encode(z)
        codes = [sem[:, None]]
        if self.n_total > 1:
            sem_hat, sem_dec = _blocks(m.sem_dec, m.sem_vq.decode(sem), sem_dec)
            residual, enc_inp, enc_fine, enc_coarse = self._acoustic(audio, n, enc_inp, enc_fine, enc_coarse)
            codes.append(m.rvq.encode(residual - m.sem_out(sem_hat), self.n_total - 1))
        new_k = torch.stack(cache.k[:self.layer])
        new_v = torch.stack(cache.v[:self.layer])
        new_conv = torch.stack(cache.conv[:self.layer]) if ssl_conv.shape[-1] else ssl_conv
        return (torch.cat(codes, dim=1), new_k, new_v, new_conv, sem_enc, sem_dec, enc_inp, enc_fine, enc_coarse)

    def _acoustic(self, audio, n, enc_inp, enc_fine, enc_coarse):
        enc = self.model.encoder
        start = self.history - self.enc_back
        seg = audio[:, start:start + n * self.hop + self.enc_back]
        with torch.autocast(device_type=audio.device.type, enabled=False):
            mel = torch.log(self.enc_mel(at_least_fp32(seg)).clamp_min(1e-5))
        full = torch.cat([enc_inp, mel], dim=-1)
        h = enc.inp(full)
        h, enc_fine = _blocks(enc.fine, h, enc_fine)
        h, enc_coarse = _blocks(enc.coarse, enc.down(h), enc_coarse)
        z = enc.out(enc.norm(h.transpose(1, 2)).transpose(1, 2))
        return z, full[..., -enc_inp.shape[-1]:], enc_fine, enc_coarse


class DecoderStep(nn.Module):
    """One streaming decoder step as a pure function (what the ONNX streaming decoder exports):

        semantic [1,1,frames], acoustic [1,K,frames], acoustic_mask [K], *state
            -> wav [frames*hop] (overlap-add positions from the first new frame's start), *new state

    Positions before a stream's first `trim` are not output samples (the wrapper drops them and, at
    the end, adds the state's ola_wav/ola_env[:trim]). State: DECODER_STATE, from init_state()."""

    def __init__(self, model):
        super().__init__()
        check_streamable(model)
        self.model = model
        self.istft = model.decoder.istft
        self.tail = self.istft.n_fft - self.istft.hop
        self.trim = self.tail // 2

    def init_state(self, device=None):
        m, dec = self.model, self.model.decoder
        dim = dec.inp.out_channels
        return (_ctx(m.sem_dec, m.sem_in.out_channels, device), _ctx(dec.coarse, dim, device),
                _ctx(dec.fine, dim, device), torch.zeros(self.tail, device=device),
                torch.zeros(self.tail, device=device))

    def forward(self, semantic, acoustic, acoustic_mask, sem_dec, dec_coarse, dec_fine, ola_wav, ola_env):
        m, dec = self.model, self.model.decoder
        z, sem_dec = _blocks(m.sem_dec, m.sem_vq.decode(semantic[:, 0]), sem_dec)
        z = m.sem_out(z)
        for i, q in enumerate(m.rvq.quantizers[:acoustic.shape[1]]):
            z = z + acoustic_mask[i] * q.decode(acoustic[:, i])
        h, dec_coarse = _blocks(dec.coarse, dec.inp(z), dec_coarse)
        h, dec_fine = _blocks(dec.fine, dec.upsample(h), dec_fine)
        with torch.autocast(device_type=h.device.type, enabled=False):
            spec = dec.spectrum(h)
            n = spec.shape[-1]
            wav = self.istft._overlap_add(self.istft.frames(spec))[0]
            env = self.istft._overlap_add(self.istft.window.pow(2).expand(1, n, self.istft.n_fft))[0]
            wav = torch.cat([wav[:self.tail] + ola_wav, wav[self.tail:]])
            env = torch.cat([env[:self.tail] + ola_env, env[self.tail:]])
            final = n * self.istft.hop
            out = wav[:final] / env[:final].clamp_min(1e-5)
            return out, sem_dec, dec_coarse, dec_fine, wav[final:], env[final:]


class StreamEncoder:
    """PCM in (float, model.sample_rate, mono), codes out: {stream: LongTensor [1, K, frames]}.
    Buffers samples until frames are whole (FrameWindows) and runs EncoderStep on them."""

    def __init__(self, model, n_q=None):
        from audiotok.stream_buffers import FrameWindows

        model = model.exact_encoder()  # the same float64 twin as a whole-file encode: the same codes
        self.step = EncoderStep(model, n_q)
        self.model = model
        self.streams = model.streams_for(n_q)
        self.n_total = self.step.n_total
        self.device = model.sem_out.weight.device
        self.state = self.step.init_state(self.device)
        self.windows = FrameWindows(model.hop_length, self.step.history, self.step.lookahead)

    @torch.inference_mode()
    def push(self, pcm):
        """Add samples; return the codes of the frames they complete (possibly 0 frames)."""
        if self.windows.finished:
            raise UserError("stream encoder: push after flush")
        x = torch.as_tensor(pcm, dtype=torch.float32).reshape(-1).cpu().numpy()
        return self._codes(self.windows.push(x))

    @torch.inference_mode()
    def flush(self):
        """End of stream: the last (zero-padded) frame, as a whole-file pass pads it."""
        return self._codes(self.windows.flush())

    @property
    def samples(self):
        return self.windows.received

    def _codes(self, window):
        if window is None:
            return {s.name: torch.zeros(1, s.n_codebooks, 0, dtype=torch.long) for s in self.streams}
        audio = torch.from_numpy(window[0]).to(self.device, self.model.sem_out.weight.dtype)[None]
        codes, *self.state = self.step(audio, *self.state)
        tokens = {"semantic": codes[:, :1].cpu()}
        if self.n_total > 1:
            tokens["acoustic"] = codes[:, 1:].cpu()
        return tokens


class StreamDecoder:
    """Codes in ({stream: [1, K, frames]}, any number of frames per push), PCM out ([samples] float):
    runs DecoderStep and hands out the samples no later frame changes (OutputTrim)."""

    def __init__(self, model):
        from audiotok.stream_buffers import OutputTrim

        self.step = DecoderStep(model)
        self.model = model
        self.device = model.sem_out.weight.device
        self.state = self.step.init_state(self.device)
        self.trim = OutputTrim(self.step.trim)
        self.n_acoustic = None
        self.finished = False

    @torch.inference_mode()
    def push(self, tokens):
        if self.finished:
            raise UserError("stream decoder: push after flush")
        sem, ac, mask = self._codes(tokens)
        if sem.shape[-1] == 0:
            return torch.zeros(0)
        out, *self.state = self.step(sem, ac, mask, *self.state)
        return torch.from_numpy(self.trim.push(out.cpu().numpy()))

    @torch.inference_mode()
    def flush(self):
        """End of stream: the samples whose later windows never come."""
        if self.finished:
            return torch.zeros(0)
        self.finished = True
        return torch.from_numpy(self.trim.flush(self.state[-2].cpu().numpy(), self.state[-1].cpu().numpy()))

    def _codes(self, tokens):
        m = self.model
        if "semantic" not in tokens or set(tokens) - {"semantic", "acoustic"}:
            raise UserError(f"stream decoder: needs 'semantic' (and optionally 'acoustic'), got {sorted(tokens)}")
        known = {s.name: s for s in m.streams}
        tokens = {k: torch.as_tensor(v) for k, v in tokens.items()}
        for name, codes in tokens.items():
            check_codes("dualcodec", name, codes, known[name])
        sem = tokens["semantic"].long().to(self.device)
        k = tokens["acoustic"].shape[1] if "acoustic" in tokens else 0
        if self.n_acoustic is None:
            self.n_acoustic = k
        elif k != self.n_acoustic:
            raise UserError(f"stream decoder: a push has {k} acoustic codebooks, earlier ones {self.n_acoustic}")
        ac = tokens["acoustic"].long().to(self.device) if k else torch.zeros(1, 0, sem.shape[-1], dtype=torch.long)
        if ac.shape[-1] != sem.shape[-1]:
            raise UserError(f"stream decoder: semantic has {sem.shape[-1]} frames but acoustic {ac.shape[-1]}")
        return sem, ac, torch.ones(k, device=self.device)


__all__ = ["StreamEncoder", "StreamDecoder", "EncoderStep", "DecoderStep", "ENCODER_STATE", "DECODER_STATE",
           "check_streamable", "is_streamable", "lookahead"]
