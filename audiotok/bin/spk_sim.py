"""audiotok spk-sim: speaker similarity of voice-cloned TTS output to its prompts (Resemblyzer).

    audiotok spk-sim --data-dir exp/lm/tts_test --prompt-data-dir dump/raw/test --out exp/lm/spk_sim

--data-dir is an `audiotok tts --data-dir` output (wav.scp + utt2prompt); --prompt-data-dir the data
dir its prompts came from (its utt2spk tells which utterances share a speaker). Writes
OUT/utt_result.jsonl and OUT/summary.json and, with --results-md, a section with the cosine to the
prompt next to the cosine to other speakers' utterances, the same-speaker ceiling and the
other-speaker floor of the prompt set.
"""

import json
import sys
from pathlib import Path

from audiotok.bin import command_line, entry
from audiotok.errors import UserError

DESCRIPTION = ("Speaker similarity (Resemblyzer) of TTS output to its voice prompts, next to same- and "
               "other-speaker baselines.")


def add_arguments(p):
    p.add_argument("--data-dir", required=True, help="an `audiotok tts --data-dir` output: wav.scp and utt2prompt")
    p.add_argument("--prompt-data-dir", required=True, help="the data dir the voice prompts were taken from")
    p.add_argument("--out", required=True, help="output folder for utt_result.jsonl and summary.json")
    p.add_argument("--results-md", action="append", default=None, metavar="FILE", help="write a section here")
    p.add_argument("--section", default=None, metavar="TITLE", help="section title (default: from --data-dir)")


def _table(s):
    from audiotok.metrics.report import _cell

    def f(x):
        return _cell(x, "{:.3f}")

    n = s["utts"]
    return "\n".join([
        "| cosine similarity (Resemblyzer) | mean |", "|---|---|",
        f"| TTS output to its prompt | {f(s['to_prompt'])} |",
        f"| TTS output to other speakers' utterances | {f(s['to_other_speakers'])} |",
        f"| prompt set: two utterances of one speaker (ceiling) | {f(s['same_speaker_ceiling'])} |",
        f"| prompt set: utterances of two speakers (floor) | {f(s['other_speaker_floor'])} |",
        "",
        f"- outputs nearer their prompt than the mean of other speakers: "
        f"{s['nearer_prompt_than_others_mean']} of {n}",
        f"- outputs nearer their prompt than every other speaker's utterance: "
        f"{s['nearer_prompt_than_every_other']} of {n}",
        f"- prompt set: {s['prompt_speakers']} speakers",
    ])


def run(args):
    from audiotok.data.kaldi_dir import load_data_dir
    from audiotok.data.kaldi_table import read_scp
    from audiotok.fileio import atomic_open, atomic_write_text
    from audiotok.metrics import speaker
    from audiotok.metrics.report import json_safe

    out_dir = Path(args.data_dir)
    data = load_data_dir(out_dir)
    u2p_file = out_dir / "utt2prompt"
    if not u2p_file.is_file():
        raise UserError(f"{u2p_file}: missing (spk-sim reads the output of `audiotok tts --data-dir`)")
    utt2prompt = read_scp(u2p_file)
    pdata = load_data_dir(args.prompt_data_dir)
    unknown = sorted(set(utt2prompt.values()) - set(pdata.wav))
    if unknown:
        raise UserError(f"{args.prompt_data_dir}/wav.scp: has no prompt '{unknown[0]}' named in {u2p_file}")
    lost = [u for u in data.wav if u not in utt2prompt]
    if lost:
        raise UserError(f"{u2p_file}: no prompt for {len(lost)} utterances of {out_dir}/wav.scp (first: {lost[0]})")
    speaker.encoder()  # a missing Resemblyzer fails here, before any work
    prompts = {u: speaker.embed_file(p) for u, p in sorted(pdata.wav.items())}
    outputs = {u: speaker.embed_file(p) for u, p in sorted(data.wav.items())}
    rows, summary = speaker.voice_cloning(outputs, utt2prompt, pdata.utt2spk, prompts)
    res = Path(args.out)
    res.mkdir(parents=True, exist_ok=True)
    with atomic_open(res / "utt_result.jsonl") as f:
        for u in sorted(rows):
            f.write(json.dumps(json_safe({"key": u, **rows[u]})) + "\n")
    atomic_write_text(res / "summary.json", json.dumps(json_safe(summary), indent=2) + "\n")
    table = _table(summary)
    print(table)
    if args.results_md:
        from audiotok.metrics import report

        title = args.section or f"speaker similarity of {args.data_dir}"
        body = "\n".join([f"## {title}", "", report.environment_block(report.environment(command_line(args))), "",
                          "### Results", "", table])
        for path in args.results_md:
            report.write_section(path, title, body)
    return 0


if __name__ == "__main__":
    sys.exit(entry(__name__))
