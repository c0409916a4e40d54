"""What the demo does, as plain functions (no Gradio here): audio in, WAV/PNG/.atok paths and
numbers out. app.py wires these to the UI; tests call them directly.

Two layers:
  codec_roundtrip / asr_transcribe / tts_synthesize / music_tracks  do the work and raise
      UserError for anything the user can fix (bad file, too long, silent, empty text);
  ui_codec / ui_asr / ui_tts / ui_music  take what the widgets hold, return a tuple for the
      widgets, and turn any error into a status line so the app keeps serving.

Outputs are WAV file paths (not arrays: Gradio peak-normalises arrays, hiding level changes).
"""

import re
import shutil
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import torch

from audiotok.audio import audio_info, read_audio, write_audio
from audiotok.compress import decode_tokens, encode_waveform, model_header
from audiotok.errors import AudioError, UserError
from audiotok.tokfile import write_tokens

from demo import plots
from demo.models import MAKE_MODELS_HINT

MAX_SECONDS = 60.0
SILENCE_DBFS = -60.0  # a clip whose peak stays below this is taken as silence
TTS_MAX_SECONDS = 20.0
KEEP_OUTPUTS_S = 3600  # request dirs older than this are removed


# ---------------------------------------------------------------------------------------------
# inputs and outputs


def _short(path):
    """Gradio hands over /tmp/gradio/<hash>/name.wav; the user knows the file by its name."""
    return Path(str(path)).name


def load_input(path, sample_rate, max_seconds=MAX_SECONDS, what="audio"):
    """The clip at `path` as mono float [1,T] at `sample_rate`; UserError (one line, naming the
    file) when it is missing, unreadable, longer than `max_seconds` or silent."""
    if not path:
        raise UserError(f"no {what}: record or upload a clip first")
    try:
        info = audio_info(path)
        if info["duration"] > max_seconds:
            raise UserError(f"{_short(path)}: {info['duration']:.1f} s is longer than the demo's limit of "
                            f"{max_seconds:g} s; trim it first")
        wav, _ = read_audio(path, target_sr=sample_rate)
    except AudioError as e:
        raise UserError(f"{_short(e.path)}: {e.problem}") from None
    peak = float(wav.abs().max())
    if peak <= 10 ** (SILENCE_DBFS / 20):
        level = "digital silence" if peak == 0 else f"peak {20 * torch.log10(torch.tensor(peak)).item():.0f} dBFS"
        raise UserError(f"{_short(path)}: the audio is silent ({level}); record or upload speech")
    return wav


def new_out_dir(root):
    """A fresh dir for one request's files under `root`; old request dirs are pruned."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for d in root.iterdir():
        if d.is_dir() and now - d.stat().st_mtime > KEEP_OUTPUTS_S:
            shutil.rmtree(d, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix="req-", dir=root))


def _stem(path, fallback="clip"):
    s = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(str(path)).stem).strip("._") if path else ""
    return s[:40] or fallback


def _write_wav(path, wav, sr):
    """Write [1,T] as 16-bit WAV; a decoder may overshoot [-1,1], so clip and count it."""
    wav = wav.detach().float().cpu().reshape(1, -1)
    clipped = int((wav.abs() > 1).sum())
    write_audio(path, wav.clamp(-1, 1), sr)
    return str(path), clipped


def _model_name(model):
    """A shipped model's name (e.g. speech-12hz-v1), else the packed model id, else the type."""
    meta = getattr(model, "meta", None) or {}
    return meta.get("name") or getattr(model, "model_id", None) or model.model_type


# ---------------------------------------------------------------------------------------------
# codec tab


@dataclass
class CodecResult:
    original_wav: str
    recon_wav: str
    original_png: str
    recon_png: str
    tokens_png: str
    atok: str
    stats: dict = field(default_factory=dict)


def codec_info(model, n_q=None):
    """Numbers for the bitrate control: codebooks, bitrate and token rate at n_q."""
    total = model.total_codebooks
    n_q = total if n_q is None else max(1, min(int(n_q), total))
    return {"n_q": n_q, "max_n_q": total, "kbps": model.bitrate(n_q) / 1000,
            "tokens_per_s": model.tokens_per_second(n_q), "frame_rate": float(model.frame_rate),
            "sample_rate": int(model.sample_rate),
            "streams": ", ".join(f"{s.name} {s.n_codebooks}x{s.codebook_size}" for s in model.streams_for(n_q))}


def codec_roundtrip(model, audio_path, n_q=None, semantic_only=False, out_dir=".", max_seconds=MAX_SECONDS):
    """Encode a clip with `model` at n_q codebooks (only the first, the semantic layer, when
    semantic_only), write the .atok, decode it back; everything the codec tab shows."""
    out_dir = Path(out_dir)
    sr = int(model.sample_rate)
    wav = load_input(audio_path, sr, max_seconds)
    n_q = 1 if semantic_only else codec_info(model, n_q)["n_q"]
    duration = wav.shape[-1] / sr

    t0 = time.perf_counter()
    tokens = encode_waveform(model, wav, n_q=n_q)
    t_enc = time.perf_counter() - t0
    stem = f"{_stem(audio_path)}_{model.model_type}_q{n_q}"
    atok = out_dir / f"{stem}.atok"
    write_tokens(atok, tokens, model_header(model, n_q, wav.shape[-1]))
    t0 = time.perf_counter()
    recon = decode_tokens(model, tokens, original_length=wav.shape[-1])
    t_dec = time.perf_counter() - t0

    orig_wav, _ = _write_wav(out_dir / f"{_stem(audio_path)}_original.wav", wav, sr)
    recon_wav, clipped = _write_wav(out_dir / f"{stem}.wav", recon, sr)
    info = codec_info(model, n_q)
    stats = {
        "model": _model_name(model),
        "codebooks": f"{n_q} of {info['max_n_q']} codebooks" + (", semantic layer only" if semantic_only else ""),
        "streams": info["streams"],
        "bitrate_kbps": info["kbps"],
        "frame_rate_hz": info["frame_rate"],
        "tokens_per_s": info["tokens_per_s"],
        "duration_s": duration,
        "encode_s": t_enc,
        "decode_s": t_dec,
        "encode_x_realtime": duration / max(t_enc, 1e-9),
        "decode_x_realtime": duration / max(t_dec, 1e-9),
        "atok_bytes": atok.stat().st_size,
        "atok_kbps": atok.stat().st_size * 8 / duration / 1000,
        "clipped_samples": clipped,
    }
    return CodecResult(
        original_wav=orig_wav,
        recon_wav=recon_wav,
        original_png=plots.save_spectrogram(out_dir / "original.png", wav, sr, "original"),
        recon_png=plots.save_spectrogram(out_dir / "reconstruction.png", recon, sr,
                                         f"reconstruction ({n_q} codebooks, {info['kbps']:.2f} kbps)"),
        tokens_png=plots.save_token_grid(out_dir / "tokens.png", tokens, model.streams, info["frame_rate"]),
        atok=str(atok),
        stats=stats,
    )


def codec_stats_markdown(s):
    rows = [
        ("model", s["model"]),
        ("codebooks", s["codebooks"]),
        ("streams", s["streams"]),
        ("bitrate", f"{s['bitrate_kbps']:.3f} kbps"),
        (".atok file", f"{s['atok_bytes']} bytes = {s['atok_kbps']:.3f} kbps with its header"),
        ("frame rate", f"{s['frame_rate_hz']:g} Hz"),
        ("tokens/s", f"{s['tokens_per_s']:g}"),
        ("clip", f"{s['duration_s']:.2f} s"),
        ("encode time", f"{s['encode_s'] * 1000:.0f} ms ({s['encode_x_realtime']:.1f}x real time)"),
        ("decode time", f"{s['decode_s'] * 1000:.0f} ms ({s['decode_x_realtime']:.1f}x real time)"),
    ]
    if s.get("clipped_samples"):
        rows.append(("clipped", f"{s['clipped_samples']} reconstructed samples were outside [-1, 1]"))
    return "| quantity | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)


def bitrate_markdown(model, n_q):
    i = codec_info(model, n_q)
    return (f"**{i['n_q']} of {i['max_n_q']} codebooks: {i['kbps']:.3f} kbps**, {i['tokens_per_s']:g} tokens/s "
            f"at {i['frame_rate']:g} frames/s ({i['streams']})")


# ---------------------------------------------------------------------------------------------
# ASR and TTS tabs (unified LM + the codec its tokens came from)


def asr_transcribe(slm, audio_path, max_seconds=MAX_SECONDS):
    """Speech -> semantic tokens (codec layer 1) -> text (LM, greedy). slm: audiotok.speechlm.SpeechLM."""
    sr = int(slm.codec.sample_rate)
    wav = load_input(audio_path, sr, max_seconds)
    t0 = time.perf_counter()
    text = slm.asr(wav, sr=sr)
    stats = dict(slm.last_stats)
    return text, {"semantic_tokens": int(stats.get("speech_frames", 0)), "duration_s": wav.shape[-1] / sr,
                  "seconds": time.perf_counter() - t0}


def tts_synthesize(slm, text, out_dir=".", prompt_path=None, prompt_text="", seed=0, max_seconds=TTS_MAX_SECONDS,
                   prompt_max_seconds=MAX_SECONDS, sample=False):
    """Text (+ an optional voice prompt) -> semantic tokens (LM + SRH; greedy, or drawn with `sample`) ->
    acoustic codebooks in the prompt's voice (MaskGIT, drawn with `seed`) -> waveform (codec), by
    SpeechLM.tts. Returns (wav path, stats)."""
    text = (text or "").strip()
    if not text:
        raise UserError("no text: type what to say")
    sr = int(slm.codec.sample_rate)
    t0 = time.perf_counter()
    prompt = None
    if prompt_path:
        wav = load_input(prompt_path, sr, prompt_max_seconds, what="voice prompt")
        # its transcript: as typed, else recognised by the LM itself
        prompt = slm.prompt_from(wav, (prompt_text or "").strip() or None, sr=sr)
    wav, sr = slm.tts(text, prompt=prompt, seed=int(seed), max_seconds=max_seconds, greedy=not sample)
    elapsed = time.perf_counter() - t0
    stats = dict(slm.last_stats)
    out, clipped = _write_wav(Path(out_dir) / f"tts_seed{int(seed)}.wav", wav, sr)
    return out, {"semantic_tokens": int(stats.get("speech_frames", 0)), "duration_s": wav.shape[-1] / sr,
                 "seconds": elapsed, "prompt_text": prompt["text"] if prompt else "",
                 "ended_at_once": bool(stats.get("empty")), "clipped_samples": clipped,
                 "said": " / ".join(stats.get("said") or [])}


# ---------------------------------------------------------------------------------------------
# music tab (dual-track tokenizer: vocals and accompaniment streams)

TRACKS = ("vocals", "accompaniment", "mix")


def music_tracks(model, audio_path, out_dir=".", max_seconds=MAX_SECONDS):
    """A song -> its vocal and accompaniment token tracks -> one WAV per track (vocals only,
    accompaniment only, the mix). Returns ({track: wav path}, token grid png, stats)."""
    out_dir = Path(out_dir)
    sr = int(model.sample_rate)
    wav = load_input(audio_path, sr, max_seconds, what="song")
    t0 = time.perf_counter()
    tokens = encode_waveform(model, wav)
    t_enc = time.perf_counter() - t0
    paths = {}
    t0 = time.perf_counter()
    for track in TRACKS:
        y = decode_tokens(model, tokens, original_length=wav.shape[-1], track=track)
        paths[track], _ = _write_wav(out_dir / f"{_stem(audio_path)}_{track}.wav", y, sr)
    t_dec = time.perf_counter() - t0
    png = plots.save_token_grid(out_dir / "tracks.png", tokens, model.streams, float(model.frame_rate))
    info = codec_info(model)
    return paths, png, {"model": _model_name(model), "streams": info["streams"], "bitrate_kbps": info["kbps"],
                        "duration_s": wav.shape[-1] / sr, "encode_s": t_enc, "decode_s": t_dec}


# ---------------------------------------------------------------------------------------------
# UI adapters: widget values in, widget values out, errors as a status line


def error_markdown(e):
    return f"**Error:** {e}"


def _guard(n_out, fn):
    """Run fn(); on failure return n_out empty outputs and the error as the status (last item).
    A UserError is the user's to fix; anything else is a bug, logged in full on the server."""
    try:
        return fn()
    except UserError as e:
        return (None,) * n_out + (error_markdown(e),)
    except Exception as e:  # the app must keep serving whatever one request hit
        traceback.print_exc()
        return (None,) * n_out + (error_markdown(f"internal error ({type(e).__name__}: {e})"),)


def ui_codec(store, out_root, audio_path, model_name, n_q, semantic_only, max_seconds=MAX_SECONDS):
    """-> (original wav, reconstruction wav, original png, reconstruction png, tokens png,
    .atok path, stats markdown, status markdown)."""
    def go():
        if not model_name:
            raise UserError(f"no codec loaded: {MAKE_MODELS_HINT}")
        r = codec_roundtrip(store.model(model_name), audio_path, n_q, bool(semantic_only),
                            new_out_dir(out_root), max_seconds)
        status = f"Done: {r.stats['duration_s']:.2f} s at {r.stats['bitrate_kbps']:.3f} kbps ({r.stats['codebooks']})"
        return (r.original_wav, r.recon_wav, r.original_png, r.recon_png, r.tokens_png, r.atok,
                codec_stats_markdown(r.stats), status)
    return _guard(7, go)


def ui_asr(store, lm_name, audio_path, max_seconds=MAX_SECONDS):
    """-> (transcript, status markdown)."""
    def go():
        text, s = asr_transcribe(_speech_lm(store, lm_name), audio_path, max_seconds)
        return (text, f"Done: {s['duration_s']:.2f} s -> {s['semantic_tokens']} semantic tokens -> "
                      f"{len(text.split())} words in {s['seconds']:.2f} s")
    return _guard(1, go)


def ui_tts(store, out_root, lm_name, text, prompt_path, prompt_text, seed, sample=False):
    """-> (wav path, status markdown)."""
    def go():
        path, s = tts_synthesize(_speech_lm(store, lm_name), text, new_out_dir(out_root), prompt_path, prompt_text,
                                 int(seed or 0), sample=bool(sample))
        status = (f"Done: {s['duration_s']:.2f} s of speech from {s['semantic_tokens']} semantic tokens "
                  f"in {s['seconds']:.2f} s")
        if s["said"]:
            status += f"; said as \"{s['said']}\""
        if s["prompt_text"]:
            status += f"; voice prompt read as \"{s['prompt_text']}\""
        if s["ended_at_once"]:
            status += " (the LM ended the speech at once, as an undertrained LM does: try sampling, or another seed)"
        return path, status
    return _guard(1, go)


def ui_music(store, out_root, model_name, audio_path, max_seconds=MAX_SECONDS):
    """-> (vocals wav, accompaniment wav, mix wav, token tracks png, status markdown)."""
    def go():
        if not model_name:
            raise UserError("no music tokenizer loaded")
        paths, png, s = music_tracks(store.model(model_name), audio_path, new_out_dir(out_root), max_seconds)
        return (paths["vocals"], paths["accompaniment"], paths["mix"], png,
                f"Done: {s['duration_s']:.2f} s, {s['streams']}, {s['bitrate_kbps']:.3f} kbps; "
                f"encode {s['encode_s']:.2f} s, decode of 3 tracks {s['decode_s']:.2f} s")
    return _guard(4, go)


def _speech_lm(store, lm_name):
    if not lm_name:
        raise UserError("no LM loaded")
    return store.speech_lm(lm_name)
