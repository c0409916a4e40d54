"""File-level encode/decode under the CLI (EnCodec-style "compress" layer).

Long inputs are processed in chunks aligned to the codec hop, each with context on both
sides whose frames are thrown away, so memory stays bounded by the chunk size whatever
the file length, and chunk seams are not audible.
"""

import math

import torch

from audiotok.audio import AudioWriter, audio_info, read_audio, read_audio_segment, resample
from audiotok.errors import UserError
from audiotok.models.dualcodec_stream import is_streamable
from audiotok.tokfile import check_model_matches, model_identity, read_tokens, remember_model_dir, write_tokens


def hop_length(model):
    hop = model.sample_rate / model.frame_rate
    if abs(hop - round(hop)) > 1e-6:
        raise UserError(f"model frame rate {model.frame_rate} does not divide its sample rate")
    return int(round(hop))


def model_header(model, n_q, original_length):
    """What a token file records about `model`: its id/version (no local paths), rates and streams."""
    model_id, model_version = model_identity(model)
    header = {
        "model_id": model_id,
        "model_version": model_version,
        "n_q": n_q,
        "original_length": int(original_length),
    }
    header.update(model.describe())
    return header


def _device_of(model):
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _chunks(n_frames, model, chunk_seconds, context_seconds):
    """(f0, f1, a0, a1): keep frames [f0,f1) of a window [a0,a1) that adds context on both sides."""
    if not chunk_seconds > 0:
        raise UserError(f"chunk_seconds must be > 0, got {chunk_seconds}")
    chunk_f = max(1, int(chunk_seconds * model.frame_rate))
    ctx_f = int(math.ceil(context_seconds * model.frame_rate))
    for f0 in range(0, n_frames, chunk_f):
        f1 = min(n_frames, f0 + chunk_f)
        yield f0, f1, max(0, f0 - ctx_f), min(n_frames, f1 + ctx_f)


@torch.inference_mode()
def _encode_chunks(model, n_frames, get_audio, n_q, chunk_seconds, context_seconds, stems=False):
    """get_audio(a0, a1) returns the audio [1,T] of frames [a0,a1) at model.sample_rate (`stems`: [2,T], the
    vocals and the accompaniment, which the model's encode_stems routes each to its own codebook)."""
    hop = hop_length(model)
    device = _device_of(model)
    pieces = {}
    for f0, f1, a0, a1 in _chunks(n_frames, model, chunk_seconds, context_seconds):
        seg = get_audio(a0, a1)
        need = (a1 - a0) * hop
        seg = torch.nn.functional.pad(seg[..., :need], (0, max(0, need - seg.shape[-1]))).to(device)
        if stems:
            codes = model.encode_stems(seg[0:1, None], seg[1:2, None], n_q=n_q)
        else:
            codes = model.encode(seg.reshape(1, 1, -1), n_q=n_q)
        for name, c in codes.items():
            pieces.setdefault(name, []).append(c[0, :, f0 - a0 : f1 - a0].cpu())
    return {name: torch.cat(p, dim=-1) for name, p in pieces.items()}


def encode_waveform(model, wav, n_q=None, chunk_seconds=30.0, context_seconds=2.0):
    """wav [1,T] at model.sample_rate -> {stream: LongTensor[K,frames]}, chunked along time."""
    hop = hop_length(model)
    n_frames = math.ceil(wav.shape[-1] / hop)
    return _encode_chunks(
        model, n_frames, lambda a0, a1: wav[..., a0 * hop : a1 * hop], n_q, chunk_seconds, context_seconds
    )


def encode_file(model, in_path, out_path, n_q=None, chunk_seconds=30.0, context_seconds=2.0):
    """Encode one audio file into a .atok; a long file is read from disk chunk by chunk."""
    info = audio_info(in_path)
    sr_in = info["sample_rate"]
    hop = hop_length(model)
    length = int(round(info["frames"] * model.sample_rate / sr_in))
    n_frames = math.ceil(length / hop)
    if n_frames <= chunk_seconds * model.frame_rate:
        wav, _ = read_audio(in_path, target_sr=model.sample_rate)
        tokens = encode_waveform(model, wav, n_q, chunk_seconds, context_seconds)
    elif sr_in == model.sample_rate and is_streamable(model):
        # a causal codec: its stream encoder gives the whole-file codes exactly, reading a chunk at a time
        tokens = _stream_encode_file(model, in_path, length, n_q, chunk_seconds)
    else:

        def get_audio(a0, a1):
            seg, sr = read_audio_segment(in_path, a0 * hop / model.sample_rate, (a1 - a0) * hop / model.sample_rate)
            return resample(seg.mean(0, keepdim=True), sr, model.sample_rate)

        tokens = _encode_chunks(model, n_frames, get_audio, n_q, chunk_seconds, context_seconds)
    return _write_token_file(model, out_path, tokens, n_q, length)


def check_stem_routing(model, name=None):
    """A one-line error unless `model` routes given stems to their own codebooks (Duo-Tok, hard routing)."""
    if not callable(getattr(model, "encode_stems", None)) or getattr(model, "routing", None) != "hard":
        raise UserError(f"{name or getattr(model, 'model_id', 'this model')}: encoding stems needs a dual-track "
                        "tokenizer (Duo-Tok with hard routing, e.g. --model music)")


def encode_stems_file(model, vocals_path, accompaniment_path, out_path, n_q=None, chunk_seconds=30.0,
                      context_seconds=2.0):
    """Encode a song given as its two stems (e.g. a separator's output) into a .atok: each stem goes to its
    own track's codebook (Duo-Tok's hard routing by the stems, not by the model's separation head)."""
    check_stem_routing(model)
    hop = hop_length(model)
    wavs = [read_audio(p, target_sr=model.sample_rate)[0].mean(0) for p in (vocals_path, accompaniment_path)]
    if abs(wavs[0].numel() - wavs[1].numel()) > hop:
        raise UserError(f"{vocals_path} ({wavs[0].numel() / model.sample_rate:.2f} s) and {accompaniment_path} "
                        f"({wavs[1].numel() / model.sample_rate:.2f} s): stems of one song must be equally long")
    length = max(w.numel() for w in wavs)
    both = torch.stack([torch.nn.functional.pad(w, (0, length - w.numel())) for w in wavs])
    tokens = _encode_chunks(model, math.ceil(length / hop), lambda a0, a1: both[:, a0 * hop: a1 * hop], n_q,
                            chunk_seconds, context_seconds, stems=True)
    return _write_token_file(model, out_path, tokens, n_q, length)


def _write_token_file(model, out_path, tokens, n_q, length):
    header = model_header(model, n_q, length)
    write_tokens(out_path, tokens, header)
    if getattr(model, "model_dir", None):
        remember_model_dir(header["model_id"], header["model_version"], model.model_dir)
    return tokens


def _stream_encode_file(model, in_path, length, n_q, chunk_seconds):
    """`length` samples at the model's rate, read chunk by chunk into the stream encoder."""
    enc = model.stream_encoder(n_q)
    chunk = max(1, round(chunk_seconds * model.sample_rate))
    pieces = []
    for start in range(0, length, chunk):
        seg, _ = read_audio_segment(in_path, start / model.sample_rate, min(chunk, length - start) / model.sample_rate)
        pieces.append(enc.push(seg.mean(0)))
    pieces.append(enc.flush())
    return {name: torch.cat([p[name][0] for p in pieces], dim=-1) for name in pieces[0]}


@torch.inference_mode()
def decode_receptive_frames(model, max_frames=2048):
    """How many frames on each side of a frame change its decoded audio, measured once per model:
    decode codes that differ in one middle frame and see how far the audio differs. A chunk decoded
    with at least this much context is the whole-file decode at its seam."""
    cached = getattr(model, "_decode_receptive_frames", None)
    if cached is not None:
        return cached
    hop, device, n = hop_length(model), _device_of(model), 32
    while True:
        base = {s.name: torch.zeros(1, s.n_codebooks, n, dtype=torch.long, device=device) for s in model.streams}
        poked = {k: v.clone() for k, v in base.items()}
        for v in poked.values():
            v[..., n // 2] = 1
        diff = (model.decode(base) - model.decode(poked)).abs().reshape(-1) > 1e-6
        idx = torch.nonzero(diff).reshape(-1)
        reach = 0 if idx.numel() == 0 else max(n // 2 - int(idx[0]) // hop, int(idx[-1]) // hop - n // 2)
        if reach < n // 2 - 1 or n >= max_frames:
            break
        n *= 2  # the change reached the edges: the field is wider than this probe
    model._decode_receptive_frames = reach
    return reach


@torch.inference_mode()
def decode_pieces(model, tokens, original_length=None, chunk_seconds=30.0, context_seconds=None, **decode_kwargs):
    """{stream: [K,frames]} -> wav pieces [1,t] in order (all of them: the whole-file decode, cut at
    `original_length`); decoded in chunks of frames with context on both sides (by default the
    decoder's measured receptive field, so seams equal a whole-file decode)."""
    hop = hop_length(model)
    n_frames = max(c.shape[-1] for c in tokens.values())
    if context_seconds is None:
        context_seconds = 0.0 if n_frames <= chunk_seconds * model.frame_rate else \
            (decode_receptive_frames(model) + 1) / model.frame_rate
    device = _device_of(model)
    done = 0
    for f0, f1, a0, a1 in _chunks(n_frames, model, chunk_seconds, context_seconds):
        chunk = {name: c[None, :, a0:a1].to(device) for name, c in tokens.items()}
        wav = model.decode(chunk, **decode_kwargs).reshape(1, -1).float().cpu()
        piece = wav[:, (f0 - a0) * hop : (f1 - a0) * hop]
        if original_length is not None:
            piece = piece[:, : max(0, int(original_length) - done)]
        done += piece.shape[-1]
        yield piece


def decode_tokens(model, tokens, original_length=None, chunk_seconds=30.0, context_seconds=None, **decode_kwargs):
    """{stream: [K,frames]} -> wav [1,T] (decode_pieces, joined)."""
    return torch.cat(list(decode_pieces(model, tokens, original_length, chunk_seconds, context_seconds,
                                        **decode_kwargs)), dim=-1)


def select_tokens(model, tokens, n_q=None):
    """Keep the first n_q codebooks (priority order of model.streams); None keeps all."""
    if n_q is None:
        return tokens
    have = sum(c.shape[0] for c in tokens.values())
    if n_q > have:
        raise UserError(f"asked for {n_q} codebooks but the tokens hold {have}")
    return {s.name: tokens[s.name][: s.n_codebooks] for s in model.streams_for(n_q)}


def decode_file(model, in_path, out_path, n_q=None, **decode_kwargs):
    tokens, header = read_tokens(in_path)
    model_id, model_version = model_identity(model)
    check_model_matches(header, {**model.describe(), "model_id": model_id, "model_version": model_version}, in_path)
    tokens = select_tokens(model, tokens, n_q)
    # written piece by piece: memory stays one chunk, whatever the file's length
    with AudioWriter(out_path, model.sample_rate) as writer:
        for piece in decode_pieces(model, tokens, header.get("original_length"), **decode_kwargs):
            writer.write(piece)
    return writer.samples
