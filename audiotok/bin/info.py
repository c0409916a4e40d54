"""`audiotok info FILE...`: what an audio file or an .atok token file holds.

A bad file prints one error line and the others are still shown; the exit code is 1 if any failed.
"""

import json
import os
import sys
from pathlib import Path

from audiotok.bin import entry
from audiotok.errors import UserError

DESCRIPTION = ("Show duration, sample rate and format of audio files, or model, streams, code rate and file rate "
               "of .atok files.")


def add_arguments(parser):
    parser.add_argument("files", nargs="+", metavar="FILE", help="audio files and/or .atok token files")
    parser.add_argument("--json", action="store_true", help="one JSON object per file (JSON Lines)")


def _is_token_file(path):
    from audiotok.tokfile import MAGIC

    p = Path(path)
    if p.suffix.lower() == ".atok":
        return True
    try:
        with open(p, "rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except OSError:
        return False  # the audio reader names the problem (missing, a directory, ...)


def describe(path):
    """dict describing one file (kind 'tokens' or 'audio'); raises UserError for a bad file."""
    if _is_token_file(path):
        from audiotok.tokfile import summarize

        return dict(kind="tokens", **summarize(path))
    from audiotok.audio import audio_info

    return dict(kind="audio", **audio_info(path))


def format_text(d):
    if d["kind"] == "audio":
        sub = f" ({d['subtype']})" if d.get("subtype") and d["subtype"] != "?" else ""
        rows = [
            ("format", f"{d['format']}{sub}"),
            ("duration", f"{d['duration']:.3f} s"),
            ("sample rate", f"{d['sample_rate']} Hz"),
            ("channels", str(d["channels"])),
            ("frames", str(d["frames"])),
        ]
        if d.get("truncated"):
            t = d["truncated"]
            rows.append(("truncated", f"header says {t['header_seconds']:.3f} s, "
                                      f"file holds {t['present_seconds']:.3f} s"))
    else:
        model = d["model_id"] or "unknown"
        if d.get("model_version"):
            model += f" version {d['model_version']}"
        length = f" ({d['original_length']} samples)" if d.get("original_length") is not None else ""
        streams = [
            f"{s['name']}: {s['n_codebooks']} codebook{'s' if s['n_codebooks'] != 1 else ''} x {s['frames']} frames, "
            f"codebook size {s['codebook_size']} ({s['bits_per_code']} bits)"
            for s in d["streams"]
        ] or ["(none)"]
        rows = [
            ("model", model),
            ("sample rate", f"{d['sample_rate']} Hz"),
            ("frame rate", f"{d['frame_rate']:g} Hz"),
            ("duration", f"{d['duration']:.3f} s{length}"),
            ("streams", streams[0]),
            *[("", s) for s in streams[1:]],
            # code rate: the packed codes per second of frames; file rate: the whole file per second of audio
            ("code rate", f"{d['code_rate_kbps']:.3f} kbps (codes {d['payload_bytes']} bytes)"),
            ("file rate", f"{d['file_rate_kbps']:.3f} kbps (file {d['file_bytes']} bytes)"),
            ("overhead", f"{d['overhead_bytes']} bytes ({d['header_bytes']} header, "
                         f"{d['framing_bytes']} framing of {d['blocks']} block{'s' if d['blocks'] != 1 else ''})"),
        ]
    lines = [d["path"]]
    lines += [f"  {(k + ':') if k else '':<13}{v}" for k, v in rows]
    return "\n".join(lines)


def run(args):
    try:
        return _show_all(args)
    except BrokenPipeError:
        # `audiotok info ... | head`: the reader went away; stop quietly like other Unix tools
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _show_all(args):
    failed = 0
    for i, path in enumerate(args.files):
        try:
            d = describe(path)
        except UserError as e:
            failed += 1
            sys.stdout.flush()
            print(f"audiotok info: error: {e}", file=sys.stderr, flush=True)
            continue
        if args.json:
            print(json.dumps(d), flush=True)
        else:
            print(("\n" if i else "") + format_text(d), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(entry(__name__))
