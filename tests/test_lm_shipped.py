"""The shipped unified LM (speech-lm-v1) on a fresh install: `audiotok asr` and `audiotok tts` with no
--model, through the real CLI, on sentences it never saw in training spoken by an espeak-ng voice setting
the training corpus does not hold (its speakers are voice + pitch + rate + timbre). The LM finds its
codec (speech-25hz-v2) in the install by name."""

import json
import subprocess

import jiwer
import soundfile as sf

from audiotok.metrics.text_norm import normalize
from audiotok.speechlm import default_max_seconds
from cli_helpers import cli

SENTENCES = ["THE CHILDREN WALKED TO THE MARKET EARLY IN THE MORNING",
             "SHE OPENED THE WINDOW AND LOOKED AT THE GARDEN",
             "WE SHOULD FINISH THIS WORK BEFORE THE END OF THE WEEK"]


def test_a_fresh_install_transcribes_with_the_shipped_lm(tmp_path):
    from audiotok.pretrained import shipped_dir

    lm = shipped_dir("lm")
    assert lm is not None, "audiotok/pretrained/speech-lm-v1 must ship with the package"
    meta = json.loads((lm / "meta.json").read_text())
    assert meta["name"] == "speech-lm-v1" and meta["codec"] == "speech-25hz-v2" and not (lm / "codec").exists()
    assert "through the shipped codec `speech-25hz-v2`" in (lm / "MODEL_CARD.md").read_text()  # by name
    wavs = []
    for i, text in enumerate(SENTENCES):
        wavs.append(tmp_path / f"utt{i}.wav")
        subprocess.run(["espeak-ng", "-v", "en-us", "-p", "60", "-s", "150", "-w", str(wavs[-1]), text.lower()],
                       check=True)
    r = cli("asr", *wavs, "--beam-size", "4")  # no --model: the shipped LM
    hyps = dict(line.split(" ", 1) if " " in line else (line, "") for line in r.stdout.splitlines())
    assert sorted(hyps) == [f"utt{i}" for i in range(len(SENTENCES))]
    wer = jiwer.wer([normalize(t) for t in SENTENCES], [normalize(hyps[f"utt{i}"]) for i in range(3)])
    # an LM that does not read the speech is near 100 % (fluent sentences of its own); this one gets about
    # half of these words right (measured: release 2 53 %, release 3 63 %, release 4 57 % on these three;
    # over the recipe's 324 held-out utterances release 2 27 %, release 3 18 %, release 4 17 %)
    assert wer < 0.75, (wer, hyps)


def test_a_fresh_install_speaks_in_a_prompted_voice_with_the_shipped_lm(tmp_path):
    prompt = tmp_path / "prompt.wav"
    subprocess.run(["espeak-ng", "-v", "en-gb", "-w", str(prompt), "a short sentence for the voice"], check=True)
    r = cli("tts", "Dr. Lee paid $5 at 7:30.", "--prompt", prompt, "-o", tmp_path / "out.wav", "--seed", "0")
    wav, sr = sf.read(tmp_path / "out.wav")
    # the prompt's audio is cut off: what is left is the new speech, of a length the text can take
    assert sr == 16000 and 1.0 < len(wav) / sr <= default_max_seconds("DOCTOR LEE PAID FIVE DOLLARS AT SEVEN THIRTY")
    assert abs(wav).max() > 0.01 and "synthesized 1 text(s)" in r.stderr


def test_tts_says_a_paragraph_sentence_by_sentence(tmp_path):
    """Two sentences are said as two pieces joined by 0.2 s of silence: exactly what the two said apart
    give (same seed, same batch); --no-split says them in one go."""
    import torch

    from audiotok.pretrained import resolve_model
    from audiotok.speechlm import PAUSES, SpeechLM

    first, second = "The children walked to the market.", "She opened the window and looked at the garden."
    slm = SpeechLM.from_pretrained(resolve_model("speech-lm-v1"))
    wav, sr = slm.tts(f"{first} {second}", seed=0)
    assert slm.last_stats["utts"] == 1 and slm.last_stats["pieces"] == 2
    apart = slm.tts([first, second], seed=0, split=False)
    pause = torch.zeros(int(round(PAUSES[True] * sr)))
    assert torch.equal(wav, torch.cat([apart[0][0], pause, apart[1][0]]))
    whole, _ = slm.tts(f"{first} {second}", seed=0, split=False)
    assert slm.last_stats["pieces"] == 1 and not torch.equal(whole, wav)
    # the CLI does the same: the files hold these samples (as 16-bit PCM)
    r = cli("tts", f"{first} {second}", "-o", tmp_path / "split.wav", "--seed", "0")
    assert "synthesized 1 text(s) in 2 pieces" in r.stderr
    assert "said as: THE CHILDREN WALKED TO THE MARKET / SHE OPENED THE WINDOW AND LOOKED AT THE GARDEN" in r.stderr
    r = cli("tts", f"{first} {second}", "-o", tmp_path / "whole.wav", "--seed", "0", "--no-split")
    assert "synthesized 1 text(s):" in r.stderr
    for name, ours in (("split", wav), ("whole", whole)):
        got = torch.from_numpy(sf.read(tmp_path / f"{name}.wav", dtype="float32")[0])
        assert got.shape == ours.shape and (got - ours).abs().max() < 1e-3, name


def test_asr_reads_a_long_recording_piece_by_piece_with_the_corpus_edges(tmp_path):
    """Silence around a sentence does not change what asr reads (its edges become the corpus's 0.15 s);
    two sentences with a pause between are read as two pieces; --raw-audio reads the file as it is."""
    import numpy as np

    from audiotok.audio import read_audio
    from audiotok.pretrained import resolve_model
    from audiotok.speechlm import SpeechLM

    wavs = []
    for i, text in enumerate(SENTENCES[:2]):
        wavs.append(tmp_path / f"s{i}.wav")
        subprocess.run(["espeak-ng", "-v", "en-us", "-p", "60", "-s", "150", "-w", str(wavs[-1]), text.lower()],
                       check=True)
    sr = 16000  # the codec's rate: no resampling, so padding by whole analysis hops keeps the same frames
    a, b = [read_audio(w, target_sr=sr)[0][0].numpy() for w in wavs]
    pad = np.zeros(64 * int(0.008 * sr), dtype=np.float32)  # 0.512 s
    slm = SpeechLM.from_pretrained(resolve_model("speech-lm-v1"))
    # 1 s of silence before and 0.5 s after, or the other way round: the same edges reach the LM
    assert slm.asr(np.concatenate([pad, pad, a, pad]), sr=sr) == slm.asr(np.concatenate([pad, a, pad, pad]), sr=sr)
    both = tmp_path / "both.wav"
    sf.write(both, np.concatenate([pad, a, pad, b, pad]), sr)
    r = cli("asr", both)
    assert "transcribed 1 utterances in 2 pieces" in r.stderr
    hyp = r.stdout.split(" ", 1)[1]
    truth = normalize(" ".join(SENTENCES[:2]))
    raw = cli("asr", both, "--raw-audio")
    assert "pieces" not in raw.stderr
    # in pieces it gets most words of both sentences; as one file with half-second silences, a few
    # (release 5 on this unseen voice setting: 37 % and 74 % WER)
    pieces, whole = jiwer.wer(truth, normalize(hyp)), jiwer.wer(truth, normalize(raw.stdout.split(" ", 1)[1]))
    assert pieces < 0.5 < whole
