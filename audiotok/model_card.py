"""MODEL_CARD.md of a packed model, written from what its exp dir recorded (never typed by hand):
the recipe commands, the git hash of every training segment, the data, steps, CPU hours and the
scores of the exp's RESULTS.md."""

import json
from pathlib import Path


def _corpus_summary(training_data):
    """A line about the corpus a data dir came from (mini_synth writes corpus.json at its root)."""
    d = Path(training_data)
    for root in (d, d.parent, d.parent.parent):
        f = root / "corpus.json"
        if f.is_file():
            try:
                c = json.loads(f.read_text())
            except ValueError:
                return None
            splits = c.get("splits") or {}
            minutes = c.get("minutes")
            if minutes is None:  # mini_music counts seconds per split
                minutes = round(sum(s.get("seconds", 0) for s in splits.values() if isinstance(s, dict)) / 60, 1)
            parts = [f"{c.get('corpus', 'corpus')} seed {c.get('seed')}, {minutes} minutes at "
                     f"{c.get('sample_rate')} Hz"]
            for name, s in splits.items():
                if isinstance(s, dict):
                    parts.append(f"{name}: " + ", ".join(f"{k} {v}" for k, v in s.items()
                                                         if isinstance(v, (int, float, str)))[:160])
            return "; ".join(parts)
    return None


SCOPE = {
    "duotok": ("Trained by an audiotok recipe on **synthetic songs only** (a General MIDI band rendered by "
               "fluidsynth with the FluidR3 GM soundfont, sung by espeak-ng voices; no human recordings): "
               "expect it to code such songs best; real recordings, other instruments and real singers are "
               "outside what it saw."),
    "ulm": ("A unified speech LM trained by an audiotok recipe on **synthetic speech only** (espeak-ng and flite "
            "voices reading generated sentences; no human recordings): it transcribes (ASR) and speaks (TTS, "
            "in the voice of a prompt) through {codec}. Expect it to work best on such voices and "
            "on the corpus's vocabulary; real voices, other words and noise are outside what it saw."),
}
SPEECH_SCOPE = ("Trained by an audiotok recipe on **synthetic speech only** (espeak-ng and flite voices, no human "
                "recordings): expect it to code synthetic and clean speech best; real voices, noise and music are "
                "outside what it saw.")
USE = {
    "duotok": ["audiotok encode song.wav -o song.atok --model {name}",
               "audiotok decode song.atok -o vocals.wav --track vocals",
               "audiotok decode song.atok -o band.wav --track accompaniment"],
    "ulm": ["audiotok asr utt.wav --model {name}",
            "audiotok tts \"a short sentence\" --prompt voice.wav -o out.wav --model {name}"],
}
SPEECH_USE = ["audiotok encode speech.wav -o speech.atok --model {name}",
              "audiotok decode speech.atok -o speech_rec.wav"]


def _codec_phrase(meta):
    """How an LM's card names its codec: by shipped name when it refers to one, else the packed copy."""
    codec = meta.get("codec")
    return f"the shipped codec `{codec}`" if isinstance(codec, str) and codec else "the codec in `codec/`"


def _origin_line(origin):
    named = f"`{origin['model']}`" + (f" (version {origin['version']})" if origin.get("version") else "")
    hours = f", {origin['cpu_hours']} CPU hours" if origin.get("cpu_hours") is not None else ""
    took = "the tensors whose names and shapes fit" if origin.get("partial") else "all its weights"
    return f"{named}: {took}, its step {origin.get('step', '?')}{hours} (not counted above)"


def model_card(model, exp, out, results=None):
    exp = Path(exp)
    meta = getattr(model, "meta", {}) or {}
    d = model.describe()
    name = meta.get("name") or model.model_id
    train = meta.get("training") or {}
    streams = ", ".join(f"{s['name']} {s['n_codebooks']} x {s['codebook_size']}" for s in d.get("streams", []))
    lines = [f"# {name}" + (f" (version {meta['version']})" if meta.get("version") else ""), ""]
    lines += [
        SCOPE.get(d["model_type"], SPEECH_SCOPE).replace("{codec}", _codec_phrase(meta)), "",
        "## Model", "",
        f"- type: {d['model_type']}; " + (f"{d['sample_rate']} Hz audio, " if d.get("sample_rate") else "")
        + f"{d.get('frame_rate')} Hz frames",
    ]
    if streams:
        lines.append(f"- streams: {streams}; code rate {model.bitrate() / 1000:.3f} kbps with every codebook")
    n_params = sum(p.numel() for p in model.parameters())
    lines.append(f"- parameters: {n_params / 1e6:.2f} M" + (" (SSL encoder included)" if streams else ""))
    lines += ["", "## Training", ""]
    if meta.get("training_data"):
        lines.append(f"- data: `{meta['training_data']}` (validation `{meta.get('valid_data')}`)")
        corpus = _corpus_summary(meta["training_data"])
        if corpus:
            lines.append(f"- corpus: {corpus}")
    if train:
        best = meta.get("best_metric") or {}
        averaged = best.get("averaged_steps")
        weights = (f"weights of step {train.get('best_step', train.get('steps'))}, the "
                   f"{'last validated' if best.get('name') == 'step' else 'best validation'}")
        if averaged:
            steps = ", ".join(map(str, averaged))
            weights = f"weights: the mean of steps {steps}, the {len(averaged)} best validations"
        lines.append(f"- steps: {train.get('steps')} ({weights}); {train.get('cpu_hours')} CPU hours, "
                     f"{train.get('wall_hours')} wall hours")
        for i, seg in enumerate(train.get("segments") or [], 1):
            lines.append(f"- segment {i}: from step {seg.get('from_step')} at git `{seg.get('git')}` on "
                         f"{seg.get('device')}, started {seg.get('started')}"
                         + (f"; config changed: {', '.join(seg['config_changed'])}" if seg.get("config_changed") else "")
                         + (f"; `{seg['command']}`" if seg.get("command") else ""))
        origin = train.get("started_from")
        while origin:  # the weights it started from, and theirs: the hours above are this run's alone
            lines.append(f"- started from {_origin_line(origin)}")
            origin = origin.get("started_from")
    for run_sh in sorted(exp.glob("**/run.sh"))[:8]:
        cmd = [ln for ln in run_sh.read_text().splitlines() if ln and not ln.startswith("#")]
        if cmd:
            lines += ["", f"`{run_sh.relative_to(exp.parent)}`:", "", "```", *cmd, "```"]
    results = Path(results) if results else exp / "RESULTS.md"
    if results.is_file():
        lines += ["", "## Scores (the exp's RESULTS.md)", "", results.read_text().strip()]
    use = [c.format(name=name) for c in USE.get(d["model_type"], SPEECH_USE)]
    lines += ["", "## Use", "", "```", *use, "```", ""]
    return "\n".join(lines)
