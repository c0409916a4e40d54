"""audiotok format-data-dir: resample a data dir's audio to one rate and layout (recipe stage 2)."""

import sys
from pathlib import Path

from audiotok.bin import entry
from audiotok.bin._parallel import run_jobs
from audiotok.errors import UserError

DESCRIPTION = "Copy a Kaldi data dir, resampling its audio to mono wav at --fs; drop too short/long utterances."


def add_arguments(p):
    p.add_argument("src", help="input data dir")
    p.add_argument("dst", help="output data dir (audio goes to DST/wav/)")
    p.add_argument("--fs", type=int, required=True, help="target sample rate")
    p.add_argument("--min-seconds", type=float, default=0.0, help="drop utterances shorter than this")
    p.add_argument("--max-seconds", type=float, default=None, help="drop utterances longer than this")
    p.add_argument("--nj", type=int, default=1, help="parallel processes")


def _no_model():
    return None


def _convert(_model, job):
    from audiotok.audio import read_audio, read_audio_segment, resample, write_audio

    key, src, dst, fs, span = job
    if span is None:
        wav, _ = read_audio(src, target_sr=fs)
    else:  # a Kaldi segment: [start, end) of a recording; end -1 = to the end
        start, end = span
        wav, sr = read_audio_segment(src, start, None if end < 0 else end - start)
        wav = resample(wav.mean(0, keepdim=True), sr, fs)
    write_audio(dst, wav, fs)


def _check_outputs(src, dst, jobs):
    """Converted audio and the new tables must not replace the source's audio or tables (DST = SRC, or a
    wav.scp that points into DST/wav/ from an earlier run)."""
    from audiotok.bin._files import prepare_outputs, refuse_overwriting_inputs
    from audiotok.data.kaldi_table import table_kind

    outputs = [job[2] for job in jobs]
    tables = [p for p in src.iterdir() if p.is_file() and table_kind(p.name)]
    refuse_overwriting_inputs(outputs + [dst / p.name for p in tables], [job[1] for job in jobs] + tables)
    prepare_outputs(outputs)


def run(args):
    from audiotok.audio import audio_info
    from audiotok.data.kaldi_dir import load_data_dir, write_data_dir

    src, dst = Path(args.src), Path(args.dst)
    data = load_data_dir(src)
    segs = data.segments or {}
    # with segments, wav.scp maps recordings; resolve every utterance to (path, span)
    sources = {u: (data.wav[s.reco], (s.start, s.end)) for u, s in segs.items()} or {
        u: (p, None) for u, p in data.wav.items()
    }
    keep, dropped = [], 0
    for utt, (path, span) in sources.items():
        if span is not None and span[1] >= 0:
            dur = span[1] - span[0]
        else:
            dur = audio_info(path)["duration"] - (span[0] if span else 0.0)
        if dur < args.min_seconds or (args.max_seconds and dur > args.max_seconds):
            dropped += 1
            continue
        keep.append(utt)
    if not keep:
        raise UserError(f"{src}: no utterance left after the length filter")
    # every scp (wav.scp and stems such as vocals.scp) is converted under its own subfolder
    tables = {"wav": sources, **{n: {u: (p, None) for u, p in t.items()} for n, t in (data.extra or {}).items()}}
    jobs = []
    out_tables = {}
    for name, table in tables.items():
        out_tables[name] = {}
        for utt in keep:
            if utt in table:
                out = (dst / name / f"{utt}.wav").resolve()
                jobs.append((f"{name}:{utt}", table[utt][0], out, args.fs, table[utt][1]))
                out_tables[name][utt] = str(out)
    _check_outputs(src, dst, jobs)
    failures = run_jobs(jobs, _convert, _no_model, (), nj=args.nj, desc="format")
    bad = {k.split(":", 1)[1] for k in failures}
    keep = [u for u in keep if u not in bad]
    write_data_dir(
        dst,
        wav={u: out_tables["wav"][u] for u in keep},
        utt2spk={u: data.utt2spk[u] for u in keep},
        text={u: data.text[u] for u in keep if u in data.text} if data.text else None,
        extra={n: {u: t[u] for u in keep if u in t} for n, t in out_tables.items() if n != "wav"} or None,
        info={
            **{n: {u: t[u] for u in keep if u in t} for n, t in (data.info or {}).items()
               if n.startswith("utt2") or n == "phones"},  # phones: CTC targets of the codec
            "utt2num_samples": {u: str(audio_info(out_tables["wav"][u])["frames"]) for u in keep},
        },
    )
    print(
        f"{src} -> {dst}: kept {len(keep)}, dropped {dropped} by length, {len(bad)} unreadable",
        file=sys.stderr,
    )
    if bad:
        raise UserError(f"{len(bad)} utterances of {src} could not be converted (see the errors above)")
    return 0


if __name__ == "__main__":
    sys.exit(entry(__name__))
