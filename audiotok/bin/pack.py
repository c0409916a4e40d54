"""audiotok pack: turn a recipe exp dir into a self-contained release model dir (recipe's last stage)."""

import shutil
import sys
from pathlib import Path

from audiotok.bin import entry

DESCRIPTION = "Pack a trained exp dir into a model dir (model.safetensors, config.yaml, meta.json, README)."


def add_arguments(p):
    p.add_argument("--exp-dir", required=True, help="recipe exp dir (holds model/ written by training)")
    p.add_argument("--out", required=True, help="release dir to write")


def run(args):
    import torch

    from audiotok import load_model
    from audiotok.fileio import atomic_write_text

    exp, out = Path(args.exp_dir), Path(args.out)
    model = load_model(exp)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    meta = dict(getattr(model, "meta", {}))
    for key in ("model_id", "audiotok_version", "git_hash"):
        meta.pop(key, None)
    model.save_pretrained(tmp, meta=meta)
    for name in ("RESULTS.md", "config.yaml", "run.sh"):
        if (exp / name).is_file():
            shutil.copy(exp / name, tmp / ("train_" + name if name != "RESULTS.md" else name))
    # a release that cannot encode and decode a second of audio is no release
    check = load_model(tmp)
    if hasattr(check, "encode"):
        wav = 0.1 * torch.randn(1, 1, int(check.sample_rate))
        with torch.inference_mode():
            check.decode(check.encode(wav))
    atomic_write_text(tmp / "README.md", _readme(check, exp, out))
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    print(f"packed {exp} -> {out} ({check.model_id})", file=sys.stderr)
    return 0


def _readme(model, exp, out):
    d = model.describe()
    streams = ", ".join(f"{s['name']} {s['n_codebooks']}x{s['codebook_size']}" for s in d.get("streams", []))
    lines = [
        f"# {model.model_id}",
        "",
        f"Packed from `{exp}` by `audiotok pack`.",
        "",
        f"- model: {d['model_type']}, sample rate {d.get('sample_rate')} Hz, frame rate {d.get('frame_rate')} Hz",
    ]
    if streams:
        lines.append(f"- streams: {streams}; full bitrate {model.bitrate() / 1000:.3f} kbps")
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
