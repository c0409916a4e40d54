"""audiotok pack: turn a recipe exp dir into a self-contained release model dir (recipe's last stage)."""

import shutil
import sys
from pathlib import Path

from audiotok.bin import entry

DESCRIPTION = "Pack a trained exp dir into a model dir (model.safetensors, config.yaml, meta.json, README)."


def add_arguments(p):
    p.add_argument("--exp-dir", required=True, help="recipe exp dir (holds model/ written by training)")
    p.add_argument("--out", required=True, help="release dir to write (replaced only if it is a packed model)")
    p.add_argument("--name", default=None,
                   help="short model name recorded in meta.json and in every token file (e.g. speech-12hz-v1)")
    p.add_argument("--version", default=None, help="model version recorded with the name (e.g. 1)")
    p.add_argument("--dtype", choices=("float32", "float16", "int8"), default="float32",
                   help="storage type of the weights (float16 halves the file; int8 stores the large matrices "
                        "with one scale per row, a quarter of float32; loading casts back to float32)")
    p.add_argument("--codec", default=None, metavar="NAME",
                   help="an LM's codec by shipped name (e.g. speech-25hz-v2), recorded in meta.json instead of "
                        "a codec/ copy: the packed LM then finds the codec in the install")
    p.add_argument("--card", action="store_true",
                   help="write MODEL_CARD.md: commands, git hash of each training segment, data, steps, "
                        "CPU hours and the exp's RESULTS.md")
    p.add_argument("--inner", default=None, metavar="KEY",
                   help="pack the model held inside instead (e.g. ssl: a codec's SSL encoder, so a new codec "
                        "can start from it with no SSL training); --exp-dir may then be a packed or shipped model")
    p.add_argument("--tokens-of", default=None, metavar="MODEL",
                   help="an earlier release of the same --name whose tokenizer this model keeps (new decoder weights "
                        "only, checked): its token files decode with this release, and this release's token files "
                        "record that release's version")
    p.add_argument("--results", default=None, metavar="FILE",
                   help="the RESULTS.md to ship and quote in the card (default: EXP/RESULTS.md; a recipe that "
                        "scores several models in one file passes that file)")


def _is_packed(d):
    return all((d / n).is_file() for n in ("model.safetensors", "config.yaml", "meta.json"))


def run(args):
    import torch

    from audiotok.train.checkpoint import training_state

    from audiotok import load_model
    from audiotok.errors import UserError
    from audiotok.fileio import atomic_dir, atomic_write_text

    exp, out = Path(args.exp_dir), Path(args.out)
    if out.exists() and not (out.is_dir() and _is_packed(out)):
        # never delete what pack did not make: an exp dir or a mistyped path stays as it is
        raise UserError(f"{out}: exists and is not a packed model dir; choose another --out")
    results = Path(args.results) if args.results else exp / "RESULTS.md"
    if args.results and not results.is_file():
        raise UserError(f"{results}: --results: no such file")
    outer = load_model(exp)
    model = _inner_model(outer, args.inner, exp) if args.inner else outer
    with atomic_dir(out, _is_packed, "a packed model dir") as tmp:
        meta = dict(getattr(model, "meta", {}))
        for key in ("model_id", "audiotok_version", "git_hash"):
            meta.pop(key, None)
        if args.name:
            meta["name"] = args.name
        if args.version is not None:
            meta["version"] = str(args.version)
        meta.pop("tokens_version", None)
        if args.tokens_of:
            meta["tokens_version"] = _tokens_version_of(model, args.tokens_of, meta.get("name"))
        state = None if args.inner else training_state(exp)
        if args.inner:
            o = getattr(outer, "meta", {})
            named = f"{o['name']} (version {o.get('version', '?')})" if o.get("name") else str(exp)
            meta["packed_from"] = f"{named}, its '{args.inner}'"
        if state:
            meta["training"] = state
        if args.codec:
            meta["codec"] = _shipped_codec_for(model, args.codec, exp)
        dtype = {"float32": None, "float16": torch.float16, "int8": "int8"}[args.dtype]
        model.save_pretrained(tmp, meta=meta, **({"dtype": dtype} if dtype else {}))
        if results.is_file():
            shutil.copy(results, tmp / "RESULTS.md")
        for name in ("config.yaml", "run.sh"):
            if (exp / name).is_file():
                shutil.copy(exp / name, tmp / ("train_" + name))
        # a release that cannot encode and decode a second of audio is no release
        check = load_model(tmp)
        if hasattr(check, "encode"):
            wav = 0.1 * torch.randn(1, 1, int(check.sample_rate))
            with torch.inference_mode():
                check.decode(check.encode(wav))
        atomic_write_text(tmp / "README.md", _readme(check, exp, out))
        if args.card:
            from audiotok.model_card import model_card

            atomic_write_text(tmp / "MODEL_CARD.md", model_card(check, exp, out, results))
    print(f"packed {exp} -> {out} ({check.model_id})", file=sys.stderr)
    return 0


def _inner_model(model, key, exp):
    """The model `model` is built around under `key` (build_inner_model's), checked to be one."""
    from audiotok.errors import UserError

    inner = getattr(model, key, None) if key in (model.config or {}) else None
    if not (hasattr(inner, "save_pretrained") and getattr(inner, "model_type", None)):
        raise UserError(f"{exp}: --inner {key}: this {model.model_type} holds no inner model under '{key}'")
    return inner


def _tokens_version_of(model, earlier, name):
    """The version whose codes `model` writes: that of the release `earlier` (a dir or shipped name) after
    checking it has this name and exactly this model's tokenizer weights (all but its decoder's)."""
    import torch

    from audiotok import load_model
    from audiotok.errors import UserError
    from audiotok.pretrained import resolve_model

    prefixes = getattr(model, "decoder_prefixes", None)
    if not prefixes:
        raise UserError(f"--tokens-of: a {model.model_type} does not mark its decoder weights; it cannot share tokens")
    other = load_model(resolve_model(earlier))
    o = getattr(other, "meta", None) or {}
    if not name or o.get("name") != name or o.get("version") is None:
        raise UserError(f"--tokens-of {earlier}: is '{o.get('name')}' version {o.get('version')}; it must be an "
                        f"earlier version of --name {name}")
    mine, theirs = model.state_dict(), other.state_dict()
    keys = {k for k in set(mine) | set(theirs) if not k.startswith(prefixes)}
    differ = sorted(k for k in keys if k not in mine or k not in theirs or mine[k].shape != theirs[k].shape
                    or not torch.equal(mine[k].float(), theirs[k].float()))
    if differ:
        raise UserError(f"--tokens-of {earlier}: its tokenizer differs from this model's ({len(differ)} tensors, "
                        f"e.g. {differ[0]}): its tokens would mean other sounds")
    return str(o.get("tokens_version") or o["version"])


def _shipped_codec_for(lm, name, exp):
    """`name` checked to be a shipped codec whose tokens `lm` reads; -> the name to record."""
    from audiotok import load_model
    from audiotok.errors import UserError
    from audiotok.pretrained import shipped_dir
    from audiotok.speechlm import check_pair

    if not hasattr(lm, "vocab"):
        raise UserError(f"{exp}: --codec names an LM's codec; this is a '{lm.model_type}' model")
    d = shipped_dir(name)
    if d is None:
        raise UserError(f"--codec {name}: not a codec shipped with this install")
    check_pair(lm, load_model(d), exp, d)
    return d.name


def _readme(model, exp, out):
    d = model.describe()
    streams = ", ".join(f"{s['name']} {s['n_codebooks']}x{s['codebook_size']}" for s in d.get("streams", []))
    lines = [
        f"# {model.model_id}",
        "",
        f"Packed from `{exp}` by `audiotok pack`.",
        "",
        f"- model: {d['model_type']}, sample rate {d.get('sample_rate')} Hz, frame rate "
        f"{d.get('frame_rate') or d.get('feature_rate')} Hz",
    ]
    if streams:
        lines.append(f"- streams: {streams}; full bitrate {model.bitrate() / 1000:.3f} kbps")
    if not hasattr(model, "encode"):
        return "\n".join(lines + [""])
    lines += [
        "",
        "```",
        f"audiotok encode speech.wav -o speech.atok --model {out}",
        "audiotok decode speech.atok -o speech_rec.wav",
        "```",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(entry(__name__))
