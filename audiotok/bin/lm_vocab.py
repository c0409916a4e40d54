"""The language stages of the LM recipe (recipes/lm1/lm.sh), called as `python -m audiotok.bin.lm_vocab`:

    lm_vocab bpe   --text data/train/text --vocab-size 500 -o data/lang/bpe.model
        trains the sentencepiece text tokenizer on the transcripts of a Kaldi `text` file
    lm_vocab vocab --bpe data/lang/bpe.model --codec CODEC_DIR -o data/lang
        writes the joint vocabulary data/lang/vocab.json (+ text.model) sized from the codec's
        streams, data/lang/codec.json (which codec the vocabulary was built for) and
        data/lang/frame_rate (the codec frame rate, for the LM config)
"""

import json
import sys
from pathlib import Path

from audiotok.bin import entry
from audiotok.errors import UserError

DESCRIPTION = "Train the LM's text tokenizer (BPE) and build its joint text + speech vocabulary."


def add_arguments(p):
    sub = p.add_subparsers(dest="what", metavar="{bpe,vocab}", required=True)
    b = sub.add_parser("bpe", help="train the sentencepiece text tokenizer")
    b.add_argument("--text", required=True, help="Kaldi text file (uttid transcript)")
    b.add_argument("--vocab-size", type=int, required=True, help="number of pieces (a soft limit)")
    b.add_argument("--model-type", default="bpe", choices=("bpe", "unigram", "char"))
    b.add_argument("-o", "--out", required=True, help="the .model file to write")
    v = sub.add_parser("vocab", help="joint vocabulary from the text tokenizer and the codec")
    v.add_argument("--bpe", required=True, help="sentencepiece .model")
    v.add_argument("--codec", required=True, help="codec model dir (or its recipe exp dir)")
    v.add_argument("--n-acoustic", type=int, default=None,
                   help="acoustic codebooks the LM models (default: all of the codec's)")
    v.add_argument("-o", "--out", required=True, help="output folder (vocab.json, text.model, codec.json)")


def _sentences(path):
    from audiotok.data.kaldi_table import read_scp

    if not Path(path).is_file():
        raise UserError(f"{path}: no such text file")
    texts = [t.strip() for t in read_scp(path).values()]
    if not any(texts):
        raise UserError(f"{path}: holds no transcripts")
    return texts


def run_bpe(args):
    from audiotok.models.ulm_vocab import JointVocab, train_text_model

    if args.vocab_size < 2:
        raise UserError(f"--vocab-size must be at least 2, got {args.vocab_size}")
    out = train_text_model(_sentences(args.text), args.out, args.vocab_size, model_type=args.model_type)
    n = JointVocab.from_text_model(out, semantic_size=1).text_size
    print(f"trained a {args.model_type} text model of {n} pieces on {args.text} -> {out}", file=sys.stderr)
    return 0


def codec_streams(codec):
    """(semantic codebook size, acoustic codebook size, acoustic codebooks) of a codec model."""
    streams = {s.name: s for s in codec.streams}
    sem = streams.get("semantic")
    if sem is None or sem.n_codebooks != 1:
        raise UserError(f"{codec.model_dir}: the codec has no single-codebook 'semantic' stream")
    ac = streams.get("acoustic")
    return sem.codebook_size, (ac.codebook_size if ac else 0), (ac.n_codebooks if ac else 0)


def run_vocab(args):
    from audiotok.fileio import atomic_write_text
    from audiotok.models.loading import load_model
    from audiotok.models.ulm_vocab import JointVocab

    codec = load_model(args.codec)
    S, A, K = codec_streams(codec)
    n_ac = K if args.n_acoustic is None else int(args.n_acoustic)
    if not 0 <= n_ac <= K:
        raise UserError(f"--n-acoustic {n_ac}: the codec has {K} acoustic codebooks")
    vocab = JointVocab.from_text_model(args.bpe, semantic_size=S, acoustic_size=A if n_ac else 0, n_acoustic=n_ac)
    out = Path(args.out)
    vocab.save(out / "vocab.json", "text.model")
    info = {"codec_dir": str(Path(codec.model_dir).resolve()), "codec_model_id": codec.model_id,
            "sample_rate": codec.sample_rate, "frame_rate": float(codec.frame_rate), "semantic_size": S,
            "acoustic_size": A, "n_acoustic": n_ac}
    atomic_write_text(out / "codec.json", json.dumps(info, indent=2) + "\n")
    atomic_write_text(out / "frame_rate", f"{float(codec.frame_rate):g}\n")
    print(f"joint vocabulary {vocab} for {codec.model_id} ({float(codec.frame_rate):g} Hz) -> {out}/vocab.json",
          file=sys.stderr)
    return 0


def run(args):
    return run_bpe(args) if args.what == "bpe" else run_vocab(args)


if __name__ == "__main__":
    sys.exit(entry(__name__))
