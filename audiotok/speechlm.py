"""Python API of the unified speech LM with its codec: speech in, text out (ASR); text and a voice
prompt in, speech out (TTS with voice cloning).

    from audiotok.speechlm import SpeechLM
    slm = SpeechLM.from_pretrained("exp/packed/lm1")     # the codec comes from its codec/ subdir
    slm.asr("speech.wav")                                 # -> "THE TRANSCRIPT"
    wav, sr = slm.tts("HELLO WORLD", prompt="voice.wav")  # prompt transcript: given, or our own ASR

A model dir is an LM model dir (or a recipe exp dir holding model/) that finds its codec in a
`codec/` entry next to the weights (the packed release holds a packed copy, a recipe exp dir a
link), unless a codec dir is passed explicitly. The pair is checked: the LM's semantic and
acoustic vocabularies and its frame rate must be the codec's.

TTS runs three stages: the LM + Speech Refined Head write the semantic tokens, the acoustic
stage infills the acoustic codebooks in the prompt's voice (MaskGIT, bidirectional over prompt +
new frames), and the codec decodes prompt + new frames as one stream so the voice carries over;
the prompt's audio is cut off the result. The voice lives in the acoustic codebooks (DualCodec's
semantic layer is content), so by default (prompt_mode="acoustic") the LM writes the semantic
tokens from the text alone, exactly as it was trained; prompt_mode="continue" also puts the
prompt's transcript and semantic tokens before the text (VALL-E style continuation, which can
carry the prompt's pace and prosody, but only an LM trained on enough data continues well).
"""

import math
import time
from pathlib import Path

import torch

from audiotok.errors import UserError
from audiotok.tokfile import model_identity
from audiotok.tts_text import speakable, speakable_pieces

SEMANTIC, ACOUSTIC = "semantic", "acoustic"
ACOUSTIC_DECODES = ("auto", "codes", "expected", "none")  # what TTS decodes besides the semantic tokens


def find_codec_dir(model_dir):
    """The codec of an LM model dir: DIR/codec, or EXP/codec when DIR is EXP/model, or the shipped codec
    its meta.json names (`audiotok pack --codec NAME`). None when absent."""
    from audiotok.models.base import read_meta
    from audiotok.pretrained import shipped_dir

    p = Path(model_dir)
    for cand in (p / "codec", p.parent / "codec" if p.name == "model" else None):
        if cand is not None and cand.exists():
            return cand
    try:
        name = read_meta(p).get("codec") if (p / "meta.json").is_file() else None
    except (OSError, ValueError):
        return None
    return shipped_dir(name) if name else None


def check_pair(lm, codec, lm_dir="model", codec_dir="codec"):
    """Raise UserError when the codec's token streams or frame rate are not the LM's."""
    streams = {s.name: s for s in codec.streams}
    v = lm.vocab
    sem = streams.get(SEMANTIC)
    if sem is None or sem.n_codebooks != 1:
        raise UserError(f"{codec_dir}: the codec has no single-codebook '{SEMANTIC}' stream for the LM")
    problems = []
    if sem.codebook_size != v.semantic_size:
        problems.append(f"semantic codebook {sem.codebook_size} vs the LM's {v.semantic_size}")
    if v.n_acoustic:
        ac = streams.get(ACOUSTIC)
        if ac is None or ac.n_codebooks < v.n_acoustic:
            problems.append(f"the LM needs {v.n_acoustic} acoustic codebooks, the codec has "
                            f"{0 if ac is None else ac.n_codebooks}")
        elif ac.codebook_size != v.acoustic_size:
            problems.append(f"acoustic codebook {ac.codebook_size} vs the LM's {v.acoustic_size}")
    if not math.isclose(float(codec.frame_rate), float(lm.frame_rate), rel_tol=1e-6):
        problems.append(f"frame rate {float(codec.frame_rate):g} Hz vs the LM's {float(lm.frame_rate):g} Hz")
    trained = trained_codec_id(lm)  # same shapes, other weights: the tokens would mean nothing
    # token files record a packed codec's name (e.g. speech-25hz-v1), else its weights' model_id
    known = {getattr(codec, "model_id", None), model_identity(codec)[0]} - {None}
    if not problems and trained and getattr(codec, "model_id", None) and trained not in known:
        problems.append(f"it is {model_identity(codec)[0]}, the LM's training tokens were made by {trained}")
    if problems:
        raise UserError(f"{codec_dir}: not the codec {lm_dir} was trained with ({'; '.join(problems)})")


def trained_codec_id(lm):
    """The model id of the codec that made the LM's training tokens, read from the first token file
    its meta's training_data names; None when that data is not on this machine."""
    from audiotok.data.kaldi_table import read_scp
    from audiotok.tokfile import read_header

    data = (getattr(lm, "meta", None) or {}).get("training_data")
    try:
        scp = read_scp(Path(data) / "tokens.scp") if data and (Path(data) / "tokens.scp").is_file() else {}
        first = next(iter(scp.values()), None)
        if first is None:
            return None
        path = Path(first) if Path(first).exists() else Path(data) / first
        return read_header(path).get("model_id")
    except (UserError, OSError):
        return None


PAUSES = {True: 0.2, False: 0.1}  # seconds of silence after a piece that ends a sentence / a clause


def default_max_seconds(text):
    """Generation cap for a text: generous (about 7 characters per second), at most 30 s."""
    return min(30.0, 2.0 + 0.15 * len(text))


class SpeechLM:
    """A UnifiedLM (`.lm`) and its codec (`.codec`). `last_stats` holds timings and LM position
    counts of the latest asr/tts call (what the recipe reports as throughput)."""

    def __init__(self, lm, codec, device="cpu"):
        self.lm, self.codec = lm, codec
        self.device = torch.device(device)
        self.g = lm.g
        self.hop = int(round(codec.sample_rate / codec.frame_rate))
        self.last_stats = {}

    @classmethod
    def from_pretrained(cls, model_dir, codec=None, device="cpu"):
        from audiotok.models.loading import load_model
        from audiotok.models.ulm import UnifiedLM

        lm = UnifiedLM.from_pretrained(model_dir, device=device)
        codec_dir = Path(codec) if codec else find_codec_dir(model_dir)
        if codec_dir is None:
            raise UserError(f"{model_dir}: holds no codec/ (pass the codec dir it was trained with: --codec DIR)")
        codec_model = load_model(codec_dir, device=device)
        if not hasattr(codec_model, "encode") or not hasattr(codec_model, "streams"):
            raise UserError(f"{codec_dir}: holds a '{codec_model.model_type}' model, not a codec")
        check_pair(lm, codec_model, model_dir, codec_dir)
        return cls(lm, codec_model, device)

    # ---- audio and tokens ------------------------------------------------------------------
    def _wav(self, audio, sr=None):
        """A path or a waveform ([T] or [C,T], at `sr`) -> mono [1,T] at the codec's rate."""
        from audiotok.audio import read_audio, resample

        if isinstance(audio, (str, Path)):
            wav, _ = read_audio(audio, target_sr=self.codec.sample_rate)
            return wav
        wav = torch.as_tensor(audio, dtype=torch.float32)
        if sr is None:
            raise UserError("a waveform needs its sample rate (sr=...)")
        wav = wav.reshape(1, -1) if wav.dim() == 1 else wav.mean(0, keepdim=True)
        if wav.shape[-1] == 0:
            raise UserError("empty waveform")
        return resample(wav, int(sr), self.codec.sample_rate)

    def tokens(self, audio, sr=None, n_q=None):
        """Audio (path or waveform) or an .atok path -> ({stream: LongTensor [K,T]}, seconds)."""
        from audiotok.compress import encode_waveform

        if _is_atok(audio):
            return self._read_atok(audio)
        wav = self._wav(audio, sr)
        tokens = encode_waveform(self.codec, wav.to(self.device), n_q=n_q)
        return tokens, wav.shape[-1] / self.codec.sample_rate

    def _read_atok(self, path):
        from audiotok.tokfile import check_model_matches, model_identity, read_tokens

        tokens, header = read_tokens(path)
        # a packed codec's files record its name and version (model_identity), as `audiotok encode` writes them
        model_id, version = model_identity(self.codec)
        check_model_matches(header, {**self.codec.describe(), "model_id": model_id, "model_version": version}, path)
        if SEMANTIC not in tokens:
            raise UserError(f"{path}: holds no '{SEMANTIC}' stream")
        n = header.get("original_length")
        seconds = n / self.codec.sample_rate if n else tokens[SEMANTIC].shape[-1] / self.codec.frame_rate
        return tokens, seconds

    def _decode(self, semantic, acoustic, acoustic_probs=None):
        from audiotok.compress import decode_tokens

        if acoustic_probs is not None:  # expected acoustic latents: one pass (TTS outputs are short)
            return self.codec.decode({SEMANTIC: semantic.reshape(1, 1, -1).to(self.device)},
                                     acoustic_probs=acoustic_probs[None].to(self.device))[0, 0].cpu()
        tokens = {SEMANTIC: semantic.reshape(1, -1).cpu()}
        if acoustic is not None and acoustic.shape[0]:
            tokens[ACOUSTIC] = acoustic.cpu()
        return decode_tokens(self.codec, tokens)[0]

    # ---- ASR -------------------------------------------------------------------------------
    @torch.no_grad()
    def asr(self, audio, sr=None, batch_size=8, max_len=None, greedy=True, temperature=1.0, top_k=0, top_p=1.0,
            seed=None, beam_size=1, length_penalty=1.0, raw_audio=False):
        """Transcribe one input or a list (paths, .atok paths, or waveforms at `sr`) -> str / list.
        An audio input is read in pieces (asr_input.asr_pieces: cut at its pauses, none over 6 s, each with
        the 0.15 s of edge silence the training corpus has) and their transcripts joined, unless
        `raw_audio`; an .atok file is read as it is."""
        from audiotok.asr_input import asr_pieces
        from audiotok.compress import encode_waveform

        single = not isinstance(audio, (list, tuple))
        items = [audio] if single else list(audio)
        t0 = time.perf_counter()
        semantic, seconds, owner = [], [], []
        for i, a in enumerate(items):
            if raw_audio or _is_atok(a):
                tok, sec = self.tokens(a, sr, n_q=1)
                semantic.append(tok[SEMANTIC][0])
                seconds.append(sec)
                owner.append(i)
                continue
            wav = self._wav(a, sr)
            seconds.append(wav.shape[-1] / self.codec.sample_rate)
            for piece in asr_pieces(wav[0].cpu().numpy(), self.codec.sample_rate):
                x = torch.from_numpy(piece).reshape(1, -1).to(self.device)
                semantic.append(encode_waveform(self.codec, x, n_q=1)[SEMANTIC][0])
                owner.append(i)
        t_enc = time.perf_counter() - t0
        texts = self.asr_tokens(semantic, batch_size, max_len, greedy, temperature, top_k, top_p, seed, beam_size,
                                length_penalty)
        parts = [[] for _ in items]
        for t, o in zip(texts, owner):
            if t:
                parts[o].append(t)
        joined = [" ".join(p) for p in parts]
        self.last_stats.update(utts=len(items), pieces=len(semantic), audio_seconds=sum(seconds), encode_seconds=t_enc)
        return joined[0] if single else joined

    @torch.no_grad()
    def asr_tokens(self, semantic, batch_size=8, max_len=None, greedy=True, temperature=1.0, top_k=0, top_p=1.0,
                   seed=None, beam_size=1, length_penalty=1.0):
        """Semantic token rows (LongTensor [T] each) -> transcripts, batched by length; `beam_size` > 1
        decodes with beam search (hypotheses ranked by log-probability / length ** length_penalty)."""
        gen = torch.Generator(device=self.device).manual_seed(int(seed)) if seed is not None else None
        order = sorted(range(len(semantic)), key=lambda i: -int(semantic[i].numel()))
        out = [None] * len(semantic)
        positions = speech_positions = 0
        t0 = time.perf_counter()
        for b in range(0, len(order), max(1, int(batch_size))):
            idx = order[b: b + max(1, int(batch_size))]
            rows = [semantic[i].reshape(-1).to(self.device) for i in idx]
            limit = max_len or int(20 + 10 * max(r.numel() for r in rows) / self.lm.frame_rate)
            ids = self.lm.asr_ids(rows, max_len=limit, greedy=greedy, temperature=temperature, top_k=top_k,
                                  top_p=top_p, generator=gen, beam_size=beam_size, length_penalty=length_penalty)
            for i, r, t in zip(idx, rows, ids):
                out[i] = self.lm.vocab.decode_text(t)
                groups = math.ceil(r.numel() / self.g)
                speech_positions += groups
                positions += groups + 2 + len(t) + 1  # <asr> groups <sos_text> text <eos>
        self.last_stats = {"task": "asr", "utts": len(semantic), "lm_seconds": time.perf_counter() - t0,
                           "lm_positions": positions, "speech_positions": speech_positions,
                           "speech_frames": sum(int(r.numel()) for r in semantic), "group_size": self.g}
        return out

    # ---- TTS -------------------------------------------------------------------------------
    def prompt_from(self, prompt, prompt_text=None, sr=None, need_text=True):
        """Voice prompt (path, .atok path or waveform) -> {"semantic", "acoustic", "text"}, trimmed to
        whole LM groups. A missing transcript is recognised by the LM itself (with need_text)."""
        tok, _ = self.tokens(prompt, sr)
        sem = tok[SEMANTIC][0]
        keep = (sem.numel() // self.g) * self.g
        if keep == 0:
            raise UserError(f"{prompt if isinstance(prompt, (str, Path)) else 'prompt'}: shorter than one LM "
                            f"step ({self.g} frames = {self.g / self.codec.frame_rate:.2f} s)")
        ac = tok.get(ACOUSTIC, torch.zeros(0, sem.numel(), dtype=torch.long))[: self.lm.vocab.n_acoustic]
        if ac.shape[0] < self.lm.vocab.n_acoustic:
            raise UserError("the voice prompt lacks acoustic codebooks (encode it with all of them)")
        if prompt_text is None and need_text:
            prompt_text = self.asr_tokens([sem])[0]
        return {"semantic": sem[:keep], "acoustic": ac[:, :keep], "text": str(prompt_text or "").strip()}

    @torch.no_grad()
    def tts(self, text, prompt=None, prompt_text=None, sr=None, greedy=True, temperature=0.8, top_k=0, top_p=0.9,
            seed=None, acoustic_steps=8, max_seconds=None, end_threshold=0.5, batch_size=8, prompt_mode="acoustic",
            raw_text=False, semantic=None, acoustic_decode="auto", split=True):
        """Synthesize a text (or a list of texts) -> (wav Tensor [T], sample_rate) (or a list of them).

        Texts (and prompt texts) are first written as the LM's corpus writes them (tts_text.speakable:
        numbers and abbreviations spelled out, upper case, no punctuation) unless `raw_text`.
        split (the default): each text is said piece by piece (tts_text.speakable_pieces: its sentences,
        long ones cut at commas, none over the corpus's 16 words), the pieces joined with PAUSES seconds of
        silence; max_seconds then caps each piece.

        prompt: None, one voice for every text, or a list with one per text; each a path, an .atok
        path, a waveform (at `sr`) or a dict from prompt_from(). prompt_text: its transcript(s), used
        with prompt_mode="continue" (None: recognised by the LM). max_seconds: cap per text (default:
        default_max_seconds). end_threshold: stop a text once the end head is this sure (>= 1: only
        the Speech Refined Head's end token stops it). prompt_mode: see the module docstring.
        semantic: given semantic tokens (LongTensor [T] per text, e.g. the codec's tokens of a recording of
        it) instead of the LM's: only the acoustic stage and the codec run, which measures what they
        alone cost in intelligibility and voice (the acoustic-stage ceiling of TTS).
        acoustic_decode: "codes" decodes the acoustic codes MaskGIT chose; "expected" decodes, per frame,
        the expected acoustic latent under the distribution the acoustic stage predicted for it. Codes the
        stage cannot predict then average out instead of adding a wrong residual. "none" skips the acoustic
        stage and decodes the semantic codebook alone: the codec's own voice, no cloning, the content's ceiling.
        "auto" (the default) is "expected" with a residual-VQ codec, else "codes": on the true semantic tokens
        of 36 test utterances Whisper heard 62.8 % WER with expected latents against 94.5 % with the chosen
        codes (speech-25hz-v2 with speech-lm-v1, egs/mini_synth/lm1/RESULTS.md).
        greedy (the default) takes the LM's most likely semantic tokens: Whisper heard speech-lm-v1 release 4
        at 90.6 % WER on all 324 test_9perspk utterances greedy against 110.6 % sampled (temperature 0.8,
        top-p 0.9); the acoustic stage draws with `seed` either way.
        """
        if prompt_mode not in ("acoustic", "continue"):
            raise UserError(f"tts: prompt_mode must be 'acoustic' or 'continue', got '{prompt_mode}'")
        if acoustic_decode not in ACOUSTIC_DECODES:
            raise UserError(f"tts: acoustic_decode must be one of {', '.join(ACOUSTIC_DECODES)}, "
                            f"got '{acoustic_decode}'")
        if acoustic_decode == "auto":
            acoustic_decode = "expected" if hasattr(self.codec, "rvq") else "codes"
        expected = acoustic_decode == "expected"
        if expected and not hasattr(self.codec, "rvq"):
            raise UserError(f"tts: acoustic_decode 'expected' needs a codec with a residual VQ (DualCodec), "
                            f"not {type(self.codec).__name__}")
        continuing = prompt_mode == "continue"
        single = isinstance(text, str)
        texts = [text] if single else list(text)
        if not raw_text:
            texts = [speakable(str(t)) for t in texts]
            if isinstance(prompt_text, (list, tuple)):
                prompt_text = [None if t is None else speakable(t) for t in prompt_text]
            elif prompt_text is not None:
                prompt_text = speakable(prompt_text)
        if not texts or any(not str(t).strip() for t in texts):
            raise UserError("tts: empty text (nothing to say once punctuation is dropped)" if not raw_text
                            else "tts: empty text")
        prompts = list(prompt) if isinstance(prompt, (list, tuple)) else [prompt] * len(texts)
        ptexts = list(prompt_text) if isinstance(prompt_text, (list, tuple)) else [prompt_text] * len(texts)
        if len(prompts) != len(texts) or len(ptexts) != len(texts):
            raise UserError(f"tts: {len(prompts)} prompts / {len(ptexts)} prompt texts for {len(texts)} texts")
        if semantic is not None:
            semantic = [semantic] if torch.is_tensor(semantic) and single else list(semantic)
            if len(semantic) != len(texts) or any(s.numel() == 0 for s in semantic):
                raise UserError(f"tts: {len(semantic)} given semantic token rows for {len(texts)} texts "
                                "(one non-empty row per text)")
        n_texts, owner, pauses = len(texts), list(range(len(texts))), [0.0] * len(texts)
        if split and semantic is None:
            given = [text] if single else list(text)
            pieces = [speakable_pieces(str(t), raw=raw_text) for t in given]
            texts = [p for ps in pieces for p, _ in ps]
            owner = [i for i, ps in enumerate(pieces) for _ in ps]
            pauses = [PAUSES[ends] for ps in pieces for _, ends in ps]
            prompts, ptexts = [prompts[i] for i in owner], [ptexts[i] for i in owner]
        cache = {}
        resolved = []
        for p, pt in zip(prompts, ptexts):
            if p is None or isinstance(p, dict):
                resolved.append(p)
                continue
            key = (str(p), pt) if isinstance(p, (str, Path)) else None
            if key is None or key not in cache:
                value = self.prompt_from(p, pt, sr, need_text=continuing)
                if key is None:
                    resolved.append(value)
                    continue
                cache[key] = value
            resolved.append(cache[key])
        gen = torch.Generator(device=self.device).manual_seed(int(seed)) if seed is not None else None
        stats = {"task": "tts", "utts": n_texts, "pieces": len(texts), "lm_seconds": 0.0, "acoustic_seconds": 0.0,
                 "decode_seconds": 0.0, "lm_steps": 0, "speech_frames": 0, "empty": 0, "group_size": self.g,
                 "prompt_mode": prompt_mode, "semantic_given": semantic is not None, "acoustic_decode": acoustic_decode}
        if n_texts == 1:  # the words the LM was given, piece by piece (the CLI and the demo show them)
            stats["said"] = list(texts)
        caps = [max_seconds or default_max_seconds(t) for t in texts]
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = [None] * len(texts)
        bs = max(1, int(batch_size))
        for b in range(0, len(order), bs):
            idx = order[b: b + bs]
            frames_cap = [max(self.g, int(caps[i] * self.lm.frame_rate)) for i in idx]
            t0 = time.perf_counter()
            if semantic is None:
                lm_prompts = [_lm_prompt(resolved[i]) if continuing else None for i in idx]
                sem = self.lm.tts([texts[i] for i in idx], prompt=lm_prompts,
                                  max_frames=max(frames_cap), greedy=greedy, temperature=temperature, top_k=top_k,
                                  top_p=top_p, end_threshold=end_threshold, generator=gen)
                sem = [s[:c] for s, c in zip(sem, frames_cap)]
            else:
                lm_prompts = None
                sem = [semantic[i].reshape(-1).long().to(self.device) for i in idx]
            stats["lm_seconds"] += time.perf_counter() - t0
            for s in sem:
                if s.numel() == 0:  # stopped at once: one group of the most common token is no worse than nothing
                    stats["empty"] += 1
            sem = [s if s.numel() else torch.zeros(self.g, dtype=torch.long) for s in sem]
            # LM positions run: one per group, plus the text slots fed between them (paced TTS rows)
            for j, s in enumerate(sem):
                n, P = math.ceil(s.numel() / self.g), _prompt_groups(lm_prompts, j, self.g)
                stats["lm_steps"] += n + self.lm.pacing.slots(P + 1, P + n - 1)
            stats["speech_frames"] += sum(int(s.numel()) for s in sem)
            t0 = time.perf_counter()
            acoustic = ([None] * len(sem) if acoustic_decode == "none" else
                        self._acoustic(sem, [resolved[i] for i in idx], acoustic_steps, gen, expected))
            stats["acoustic_seconds"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            for i, s, ac in zip(idx, sem, acoustic):
                p = resolved[i]
                P = 0 if p is None else p["semantic"].numel()
                full_sem = s if p is None else torch.cat([p["semantic"].to(s.device), s])
                wav = self._decode(full_sem, *ac) if expected and ac is not None else self._decode(full_sem, ac)
                out[i] = wav[P * self.hop:].cpu()
            stats["decode_seconds"] += time.perf_counter() - t0
        if len(out) != n_texts:  # each text's pieces, in order, with a pause after all but its last
            sr, joined = self.codec.sample_rate, [[] for _ in range(n_texts)]
            for i, w, pause in zip(owner, out, pauses):
                joined[i] += [w, torch.zeros(int(round(pause * sr)), dtype=w.dtype)]
            out = [torch.cat(parts[:-1]) for parts in joined]
        stats["audio_seconds"] = sum(w.numel() for w in out) / self.codec.sample_rate
        self.last_stats = stats
        res = [(w, self.codec.sample_rate) for w in out]
        return res[0] if single else res

    def _acoustic(self, sem, prompts, steps, gen, with_probs=False):
        """Acoustic codebooks [K, P+T] per row (prompt frames first; with_probs: (codes, probs [K, P+T, A])),
        or None without acoustic stage."""
        if self.lm.vocab.n_acoustic == 0:
            return [None] * len(sem)
        K = self.lm.vocab.n_acoustic
        p_sem = [torch.zeros(0, dtype=torch.long) if p is None else p["semantic"] for p in prompts]
        p_ac = [torch.zeros(K, 0, dtype=torch.long) if p is None else p["acoustic"] for p in prompts]
        return self.lm.acoustic([s.to(self.device) for s in sem], p_sem, p_ac, steps=steps, generator=gen,
                                return_full=True, return_probs=with_probs)


def _is_atok(audio):
    return isinstance(audio, (str, Path)) and Path(audio).suffix == ".atok"


def _prompt_groups(lm_prompts, j, g):
    """Whole groups of the j-th LM prompt (0 without one)."""
    p = lm_prompts[j] if lm_prompts is not None else None
    return 0 if p is None else int(torch.as_tensor(p["semantic"]).numel()) // g


def _lm_prompt(p):
    return None if p is None else {"semantic": p["semantic"], "text": p["text"]}


__all__ = ["SpeechLM", "find_codec_dir", "check_pair", "trained_codec_id", "default_max_seconds"]
