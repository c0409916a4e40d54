"""audiotok align-text: where each text piece starts in a tokens data dir's speech, for the unified LM's
text pointer (model_conf.tts_pointer, audiotok/models/ulm_pointer.py).

A small character CTC reader (the content probe's, reading the semantic tokens through the codec's
frozen semantic decoder, or with no --codec through embeddings of its own) learns the characters of the
LM's text pieces from --train-dir for --steps steps, its character error rate on --valid-dir logged as it
goes. It then forced-aligns every utterance of each DIR (audiotok.data.text_align) and writes
DIR/text_starts: `<utt> s_0 .. s_{n-1} s_end`, each text piece's first codec frame and the frame where
speech ends (with --units chars, DIR/char_starts: each character's). The reader is kept in
EXP/aligner.pt: a second run with the same --exp-dir aligns with it instead of training again.

An utterance the reader cannot align (fewer frames than its characters need, or no text) is left out of
the file and counted; the LM's dataset then skips its TTS item, counted too.
"""

import sys
import time
from pathlib import Path

from audiotok.bin import entry
from audiotok.bin.content_probe import add_reader_arguments
from audiotok.errors import UserError

DESCRIPTION = ("Train a character CTC reader on tokens and force-align the LM's text pieces to the codec frames of "
               "each data dir (DIR/text_starts, for model_conf.tts_pointer).")


def add_arguments(p):
    p.add_argument("dirs", nargs="+", metavar="DIR", help="tokens data dirs (tokens.scp + text) to align")
    p.add_argument("--train-dir", required=True, help="tokens data dir the reader learns from")
    p.add_argument("--valid-dir", required=True, help="tokens data dir of held-out speakers its error rate is logged on")
    p.add_argument("--vocab", required=True, help="the LM's vocab.json (its text pieces are what gets aligned)")
    p.add_argument("--codec", default=None,
                   help="the codec that wrote the tokens (packed dir, exp dir or shipped name): the reader reads "
                        "through its frozen semantic decoder (default: embeddings learned from scratch)")
    p.add_argument("--exp-dir", required=True, help="where the reader is kept (EXP/aligner.pt)")
    p.add_argument("--units", choices=("pieces", "chars"), default="pieces",
                   help="what gets a start frame: the text pieces, or their characters (the LM's "
                        "tts_pointer.units)")
    add_reader_arguments(p, steps=1500)
    p.add_argument("--eval-every", type=int, default=0, help="log the valid CER every N steps (0: a tenth of the steps)")
    p.add_argument("--eval-utts", type=int, default=100)


def _reader(args, vocab, codec, log):
    """The trained reader and its characters: loaded from EXP/aligner.pt, or trained and saved there."""
    import torch

    from audiotok.bin.content_probe import load_dir, train_and_score
    from audiotok.data.text_align import PieceChars
    from audiotok.fileio import atomic_path
    from audiotok.models.content_probe import ContentProbe

    path = Path(args.exp_dir) / "aligner.pt"
    if path.is_file():
        saved = torch.load(path, map_location="cpu", weights_only=True)
        if saved["codec"] != (codec is not None):
            raise UserError(f"{path}: this reader was trained {'with' if saved['codec'] else 'without'} --codec; "
                            f"give the same, or another --exp-dir")
        chars = PieceChars(vocab)
        if saved["chars"] != chars.chars:
            raise UserError(f"{path}: this reader spells other characters than {args.vocab}'s pieces hold")
        model = ContentProbe(saved["sizes"], len(chars.chars), saved["dim"], saved["layers"], saved["heads"],
                             codec_decoder=codec)
        model.load_state_dict(saved["state"])
        log(f"reader from {path} (trained {saved['steps']} steps, valid CER {saved['cer']:.1f} %)")
        return model.eval(), chars
    ids, codes, texts, sizes = load_dir(args.train_dir, ["semantic"])
    v_ids, v_codes, v_texts, v_sizes = load_dir(args.valid_dir, ["semantic"])
    if v_sizes != sizes:
        raise UserError(f"{args.valid_dir}: codebooks {v_sizes} differ from {args.train_dir}'s {sizes}")
    chars = PieceChars(vocab)
    n = args.eval_utts or len(v_ids)
    args.group, args.group_mode = 1, "mean"
    result, model = train_and_score((ids, codes, texts), (v_ids[:n], v_codes[:n], v_texts[:n]), sizes, args,
                                    codec, log, chars=chars, return_model=True)
    with atomic_path(path) as tmp:
        torch.save({"state": model.state_dict(), "chars": chars.chars, "sizes": sizes, "dim": args.dim,
                    "layers": args.layers, "heads": args.heads, "steps": args.steps,
                    "cer": result["final"]["cer"], "codec": codec is not None}, tmp)
    return model.eval(), chars


def align_dir(model, chars, data_dir, device, batch_size=16, units="pieces"):
    """Force-align every utterance of a tokens dir -> ({utt: [s_0 .. s_end]}, {reason: count} left out)."""
    import torch

    from audiotok.bin.content_probe import _batch, load_dir
    from audiotok.data.text_align import ctc_viterbi, unit_starts

    ids, codes, texts, _ = load_dir(data_dir, ["semantic"])
    out, failed = {}, {}
    for s in range(0, len(ids), batch_size):
        part = range(s, min(s + batch_size, len(ids)))
        c, lengths, _ = _batch([(codes[i], []) for i in part], device)
        with torch.no_grad():
            h, _ = model.hidden(c, lengths)
            lp = model.head.log_probs(h).cpu().numpy()
        for row, i in enumerate(part):
            pieces = chars.vocab.encode_text(texts[i])
            if not pieces:
                failed["no text"] = failed.get("no text", 0) + 1
                continue
            T = int(lengths[row])
            try:
                targets, firsts = chars.spell(pieces, units)
                first, last = ctc_viterbi(lp[row, :T], targets)
            except UserError as e:
                why = "too few frames" if "frames" in str(e) else "unspellable text"
                failed[why] = failed.get(why, 0) + 1
                continue
            out[ids[i]] = unit_starts(first, last, firsts, T)
    return out, failed


def run(args):
    from audiotok.fileio import atomic_write_text
    from audiotok.models.ulm_frontend import read_codec_semantic_decoder
    from audiotok.models.ulm_pointer import STARTS_FILE
    from audiotok.models.ulm_vocab import JointVocab
    from audiotok.pretrained import resolve_model

    if min(args.steps, args.batch_size, args.max_frames) < 1:
        raise UserError("--steps, --batch-size and --max-frames must be >= 1")
    if not Path(args.vocab).is_file():
        raise UserError(f"{args.vocab}: no such vocab.json")
    def log(msg):
        print(f"align-text: {msg}", file=sys.stderr, flush=True)

    vocab = JointVocab.load(args.vocab)
    codec = read_codec_semantic_decoder(resolve_model(args.codec)) if args.codec else None
    model, chars = _reader(args, vocab, codec, log)
    model.to(args.device)
    for d in args.dirs:
        t0 = time.time()
        starts, failed = align_dir(model, chars, d, args.device, args.batch_size, args.units)
        out = Path(d) / STARTS_FILE[args.units]
        atomic_write_text(out, "".join(f"{u} {' '.join(map(str, f))}\n" for u, f in starts.items()))
        left = ", ".join(f"{n} {why}" for why, n in failed.items()) or "none"
        log(f"{out}: {len(starts)} utterances aligned in {time.time() - t0:.0f} s (left out: {left})")
    return 0


if __name__ == "__main__":
    sys.exit(entry(__name__))
