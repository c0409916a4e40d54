"""audiotok tts: text -> speech with the unified speech LM, in the voice of a prompt.

    audiotok tts "HELLO WORLD" --prompt voice.wav -o out.wav [--model LM_DIR]
        the voice of the prompt conditions the acoustic stage; with --prompt-mode continue the LM also
        continues the prompt (its transcript: --prompt-text, else recognised by the LM itself)
    audiotok tts --data-dir data/test -o exp/tts_test [--model LM_DIR] [--prompt-data-dir data/test]
        synthesizes every transcript of data/test/text; each utterance's voice prompt is an utterance
        of ANOTHER speaker from --prompt-data-dir (default: the same dir), picked in turn. Writes
        OUT/wav/<utt>.wav and the data dir OUT/{wav.scp,text,utt2spk,spk2utt}, OUT/utt2prompt and
        OUT/stats.json (LM, acoustic-stage and codec seconds, LM steps)
    audiotok tts --data-dir data/test --semantic-from dump/tokens/test -o exp/tts_oracle
        the same, but with each utterance's own semantic tokens (the tokens data dir's tokens.scp) in
        place of the LM's: the acoustic stage and the codec alone (TTS's acoustic-stage ceiling)
Greedy by default: speech-lm-v1 speaks more intelligibly so (release 4 on test_9perspk: Whisper WER
90.6 % greedy against 110.6 % sampled, egs/mini_synth/lm1/RESULTS.md); --sample draws the semantic tokens
(temperature 0.8, top-p 0.9, as Fun-Audio-Chat's speech generation). The acoustic stage draws with --seed
either way.
"""

import json
import sys
from pathlib import Path

from audiotok.bin import entry
from audiotok.bin.asr import add_decoding_arguments, check_decoding_arguments, load_speech_lm, sampling
from audiotok.errors import UserError

DESCRIPTION = "Synthesize speech from text with the unified speech LM, cloning the voice of a prompt (TTS)."


def add_arguments(p):
    p.add_argument("text", nargs="?", help="the text to speak")
    p.add_argument("--prompt", help="voice prompt: an audio file (or .atok of the LM's codec)")
    p.add_argument("--prompt-text", help="transcript of the prompt, for --prompt-mode continue (default: "
                                         "recognised by the LM)")
    p.add_argument("--data-dir", help="Kaldi data dir: synthesize its text file (needs -o, a folder)")
    p.add_argument("--prompt-data-dir", help="with --data-dir: where voice prompts come from (default: --data-dir)")
    p.add_argument("--semantic-from", metavar="TOKENS_DIR",
                   help="with --data-dir: take each utterance's semantic tokens from this tokens data dir "
                        "(tokens.scp of the LM's codec) instead of the LM: the acoustic stage's ceiling")
    p.add_argument("-o", "--out", required=True, help="output .wav (one text) or folder (--data-dir)")
    p.add_argument("--acoustic-steps", type=int, default=8, help="MaskGIT steps of the acoustic stage")
    p.add_argument("--acoustic-decode", choices=("auto", "codes", "expected", "none"), default="auto",
                   help="codes: decode the acoustic codes the acoustic stage chose; expected: decode each frame's "
                        "expected acoustic latent under its predicted distribution; none: no acoustic stage, the "
                        "semantic tokens decoded alone (the codec's own voice, no cloning); auto (default): "
                        "expected with a residual-VQ codec (more intelligible), else codes")
    p.add_argument("--raw-text", action="store_true",
                   help="give the LM the text as it is (default: numbers, abbreviations and symbols spelled out, "
                        "upper case, no punctuation, as the LM's training transcripts are written)")
    p.add_argument("--no-split", dest="split", action="store_false",
                   help="say each text in one go (default: sentence by sentence, long sentences cut at commas, "
                        "none over the 16 words the LM's training sentences reach, joined with short pauses)")
    p.add_argument("--max-seconds", type=float, default=None,
                   help="longest output per text, or per piece of it when split (default: by text length, at "
                        "most 30 s)")
    p.add_argument("--end-threshold", type=float, default=0.5,
                   help="stop once the LM's end head is this sure (>= 1: only the end token stops)")
    p.add_argument("--prompt-mode", choices=("acoustic", "continue"), default="acoustic",
                   help="acoustic: the voice prompt conditions the acoustic stage only (default); continue: "
                        "the LM also continues the prompt's transcript and semantic tokens")
    add_decoding_arguments(p, temperature=0.8, top_p=0.9)


def pick_prompts(targets, utt2spk, prompt_utts, prompt_spk):
    """For each target utt (sorted), a prompt utt of another speaker: the candidates of other
    speakers are taken in turn, so the prompts spread over the prompt set. {utt: prompt utt}."""
    pool = sorted(prompt_utts)
    out = {}
    for n, utt in enumerate(sorted(targets)):
        cands = [p for p in pool if prompt_spk[p] != utt2spk[utt]]
        if not cands:
            raise UserError(f"no voice prompt for '{utt}': every prompt utterance is of its speaker "
                            f"'{utt2spk[utt]}' (give --prompt-data-dir with other speakers)")
        out[utt] = cands[n % len(cands)]
    return out


def _plan_data_dir(args):
    """Read the data dirs and pick the prompts before the LM loads: (data, pdata, utts, prompts)."""
    from audiotok.data.kaldi_dir import load_data_dir

    data = load_data_dir(args.data_dir)
    if not data.text:
        raise UserError(f"{args.data_dir}/text: missing or empty (nothing to synthesize)")
    pdata = load_data_dir(args.prompt_data_dir) if args.prompt_data_dir else data
    if not pdata.wav:
        raise UserError(f"{pdata.path}/wav.scp: no prompt audio")
    if pdata.segments:
        raise UserError(f"{pdata.path}/segments: segmented prompt dirs are not read here; run format-data-dir")
    utts = sorted(data.text, key=lambda u: u.encode())
    prompts = pick_prompts(utts, data.utt2spk, list(pdata.wav), pdata.utt2spk)
    return data, pdata, utts, prompts


def _given_semantic(tokens_dir, utts, slm):
    """Each utterance's semantic tokens from a tokens data dir (checked to be of the LM's codec)."""
    from audiotok.data.kaldi_table import read_scp
    from audiotok.data.lm_dataset import resolve_scp_path
    from audiotok.speechlm import SEMANTIC

    scp_path = Path(tokens_dir) / "tokens.scp"
    if not scp_path.is_file():
        raise UserError(f"{scp_path}: missing (--semantic-from needs a tokens data dir)")
    scp = read_scp(scp_path)
    missing = [u for u in utts if u not in scp]
    if missing:
        raise UserError(f"{scp_path}: no tokens for {len(missing)} of the {len(utts)} utterances (first: {missing[0]})")
    return [slm.tokens(resolve_scp_path(scp[u], tokens_dir))[0][SEMANTIC][0] for u in utts]


_DATA_DIR_OUTPUTS = ("wav.scp", "text", "utt2spk", "spk2utt", "utt2prompt", "stats.json")


def _check_outputs(args, plan):
    """The outputs can be written and none of them is an input (the prompt, a data dir's audio or tables)."""
    from audiotok.bin._files import prepare_outputs, refuse_overwriting_inputs

    if plan is None:
        outputs, inputs = [Path(args.out)], [args.prompt]
    else:
        data, pdata, utts, _ = plan
        out = Path(args.out)
        outputs = [out / "wav" / f"{u}.wav" for u in utts] + [out / n for n in _DATA_DIR_OUTPUTS]
        inputs = list(pdata.wav.values()) + list(data.wav.values())
        for d in {Path(data.path), Path(pdata.path)}:
            inputs += [p for p in d.iterdir() if p.is_file()]
    refuse_overwriting_inputs(outputs, inputs)
    prepare_outputs(outputs)


def _run_data_dir(args, slm, plan):
    from audiotok.audio import write_audio
    from audiotok.data.kaldi_dir import write_data_dir
    from audiotok.data.kaldi_table import write_scp
    from audiotok.fileio import atomic_write_text

    data, pdata, utts, prompts = plan
    ptext = pdata.text or {}
    semantic = _given_semantic(args.semantic_from, utts, slm) if args.semantic_from else None
    results = slm.tts([data.text[u] for u in utts], prompt=[pdata.wav[prompts[u]] for u in utts],
                      prompt_text=[ptext.get(prompts[u]) for u in utts], acoustic_steps=args.acoustic_steps,
                      max_seconds=args.max_seconds, batch_size=args.batch_size, end_threshold=args.end_threshold,
                      prompt_mode=args.prompt_mode, raw_text=args.raw_text, semantic=semantic,
                      acoustic_decode=args.acoustic_decode, split=args.split, **sampling(args))
    out = Path(args.out)
    wavs = {}
    for u, (wav, sr) in zip(utts, results):
        path = (out / "wav" / f"{u}.wav").resolve()
        write_audio(path, wav, sr)
        wavs[u] = str(path)
    write_data_dir(out, wavs, {u: data.utt2spk[u] for u in utts}, text={u: data.text[u] for u in utts})
    write_scp(out / "utt2prompt", prompts)
    stats = dict(slm.last_stats, model=str(args.model), model_id=getattr(slm.lm, "model_id", None),
                 codec_id=getattr(slm.codec, "model_id", None), lm_rate_hz=slm.lm.frame_rate / slm.g,
                 frame_rate=slm.lm.frame_rate, sampling=sampling(args), prompt_data_dir=str(pdata.path))
    atomic_write_text(out / "stats.json", json.dumps(stats, indent=2) + "\n")
    return len(utts), stats, out


def run(args):
    from audiotok.audio import write_audio

    if bool(args.text) == bool(args.data_dir):
        raise UserError("give either a text or --data-dir")
    if args.data_dir and (args.prompt or args.prompt_text):
        raise UserError("--prompt/--prompt-text are for one text; with --data-dir prompts come from --prompt-data-dir")
    if args.prompt_data_dir and not args.data_dir:
        raise UserError("--prompt-data-dir needs --data-dir")
    if args.semantic_from and not args.data_dir:
        raise UserError("--semantic-from needs --data-dir")
    if args.prompt_text and not args.prompt:
        raise UserError("--prompt-text needs --prompt")
    if args.text is not None and not args.text.strip():
        raise UserError("empty text")
    if args.text and Path(args.out).suffix.lower() not in (".wav", ".flac"):
        raise UserError(f"{args.out}: the output of one text is a .wav or .flac file")
    if args.acoustic_steps < 1:
        raise UserError(f"--acoustic-steps must be >= 1, got {args.acoustic_steps}")
    if args.max_seconds is not None and not args.max_seconds > 0:
        raise UserError(f"--max-seconds must be > 0, got {args.max_seconds}")
    if not args.end_threshold > 0:
        raise UserError(f"--end-threshold must be > 0, got {args.end_threshold}")
    check_decoding_arguments(args)
    plan = _plan_data_dir(args) if args.data_dir else None
    _check_outputs(args, plan)
    slm = load_speech_lm(args)
    if args.data_dir:
        n, stats, where = _run_data_dir(args, slm, plan)
    else:
        wav, sr = slm.tts(args.text, prompt=args.prompt, prompt_text=args.prompt_text,
                          acoustic_steps=args.acoustic_steps, max_seconds=args.max_seconds,
                          end_threshold=args.end_threshold, prompt_mode=args.prompt_mode, raw_text=args.raw_text,
                          acoustic_decode=args.acoustic_decode, split=args.split, **sampling(args))
        write_audio(args.out, wav, sr)
        n, stats, where = 1, slm.last_stats, args.out
    busy = stats["lm_seconds"] + stats["acoustic_seconds"] + stats["decode_seconds"]
    pieces = f" in {stats['pieces']} pieces" if stats.get("pieces", n) != n else ""
    print(f"synthesized {n} text(s){pieces}: {stats['audio_seconds']:.1f} s of speech in {busy:.1f} s "
          f"({stats['audio_seconds'] / max(busy, 1e-9):.2f}x real time) -> {where}", file=sys.stderr)
    if stats.get("said") and not args.raw_text:
        print(f"said as: {' / '.join(stats['said'])}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(entry(__name__))
