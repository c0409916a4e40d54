"""`audiotok asr` / `audiotok tts` and the SpeechLM API on a debug pair built here: a tiny DualCodec
with random weights (packed) and a tiny unified LM trained for a few seconds to transcribe and
speak two espeak-ng utterances of that codec. Each command runs in real subprocesses, other cases
through audiotok.cli.main in-process (same parser and error handling); bad inputs give one error
line and exit 1."""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from audiotok.audio import read_audio
from audiotok.errors import UserError
from audiotok.compress import encode_waveform
from audiotok.models.dualcodec import DualCodec
from audiotok.models.loading import load_model, save_model_dir
from audiotok.models.ulm import TASK_IDS, UnifiedLM
from audiotok.models.ulm_vocab import JointVocab, train_text_model

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")

G = 5
UTTS = {  # uttid (speaker prefix) -> (espeak voice, text)
    "spka-001": ("en-us", "THE CAT SAT"),
    "spkb-001": ("en-us+f3", "A DOG RAN HOME"),
}
SENTENCES = ["THE CAT SAT ON THE MAT", "A DOG RAN HOME", "THE DOG SAT", "A CAT RAN", "HOME ON THE MAT"]


def make_codec(directory, seed=0, semantic=64, acoustic=32, n_acoustic=2, strides=(4, 5, 6, 8)):
    """A tiny DualCodec (25 Hz; 12.5 Hz with strides 4,5,6,8,2) with random weights, packed (what a
    trained codec exp holds)."""
    torch.manual_seed(seed)
    codec = DualCodec(
        ssl={"model": "bestrq", "model_conf": {"encoder": {"dim": 32, "n_layers": 2, "n_heads": 2, "dropout": 0.0},
                                                "targets": {"codebook_size": 64}}},
        ssl_features={"layer": 1}, latent_dim=16,
        wave={"encoder_dim": 2, "encoder_strides": list(strides), "decoder_dim": 32, "residual_dilations": [1]},
        semantic={"dim": 16, "intermediate_dim": 32, "layers": 1, "codebook_size": semantic},
        acoustic={"n_codebooks": n_acoustic, "codebook_size": acoustic},
        mel={"n_mels": [20], "window_lengths": [256]},
        discriminator={"channels": 2, "periods": [2], "fft_sizes": [512]})
    save_model_dir(codec.eval(), directory)
    return load_model(directory)


def espeak(path, text, voice):
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["espeak-ng", "-v", voice, "-s", "220", "-w", str(path), text], check=True)
    return path


def write_data_dir(d, wavs, texts):
    """A Kaldi data dir; the speaker is the uttid's prefix."""
    from audiotok.data import kaldi_dir

    return kaldi_dir.write_data_dir(d, {u: str(p) for u, p in wavs.items()}, {u: u.split("-")[0] for u in wavs},
                                    text=texts)


def train_toy_lm(vocab, codec, wavs, steps=150, seed=0):
    """A tiny LM that has learnt the two utterances: ASR of their tokens (of the files as they are, as .atok
    files hold them, and with the corpus's edge silence, as `asr` reads audio) and TTS of their texts."""
    from audiotok.asr_input import corpus_edges

    sem, ac, text, edged = [], [], [], []
    for utt in sorted(UTTS):
        wav, _ = read_audio(wavs[utt], target_sr=codec.sample_rate)
        tok = encode_waveform(codec, wav)
        sem.append(tok["semantic"][0])
        ac.append(tok["acoustic"])
        text.append(torch.tensor(vocab.encode_text(UTTS[utt][1])))
        x = torch.from_numpy(corpus_edges(wav[0].numpy(), codec.sample_rate)).reshape(1, -1)
        edged.append(encode_waveform(codec, x)["semantic"][0])
    torch.manual_seed(seed)
    lm = UnifiedLM(vocab, lm={"dim": 48, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2}, grouping={"size": G},
                   frame_rate=codec.frame_rate, srh={"dim": 32, "n_layers": 1, "n_heads": 2},
                   loss_weights={"end": 1.0}, prompt_frames=10)
    T, L = max(s.numel() for s in sem + edged), max(t.numel() for t in text)
    n = len(sem)

    def pad(rows, width):
        out = torch.zeros(len(rows), *rows[0].shape[:-1], width, dtype=torch.long)
        for i, r in enumerate(rows):
            out[i, ..., : r.shape[-1]] = r
        return out

    rows = edged + sem * 3
    batch = {"task": torch.tensor([TASK_IDS["asr"]] * 2 * n + [TASK_IDS["tts"]] * n + [TASK_IDS["acoustic"]] * n),
             "semantic": pad(rows, T), "semantic_len": torch.tensor([s.numel() for s in rows]),
             "acoustic": pad([torch.zeros_like(a[:, :1]).expand(-1, e.numel()) for a, e in zip(ac, edged)] + ac * 3, T),
             "text": pad(text * 4, L), "text_len": torch.tensor([t.numel() for t in text] * 3 + [0] * n)}
    opt = torch.optim.Adam(lm.parameters(), lr=3e-3)
    for step in range(steps):
        loss, _ = lm.generator_loss(batch, lm.forward_train(batch, step), step)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return lm.eval(), sem


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(root, LM release dir with codec/, codec, {utt: wav}, {utt: semantic tokens})."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("slm")
    codec = make_codec(root / "codec")
    wavs = {u: espeak(root / "wav" / f"{u}.wav", text, voice) for u, (voice, text) in UTTS.items()}
    train_text_model(SENTENCES * 3, root / "bpe.model", vocab_size=40)
    vocab = JointVocab.from_text_model(root / "bpe.model", semantic_size=64, acoustic_size=32, n_acoustic=2)
    lm, sem = train_toy_lm(vocab, codec, wavs)
    lm.save_pretrained(root / "lm")
    shutil.copytree(root / "codec", root / "lm" / "codec")
    return root, root / "lm", codec, wavs, dict(zip(sorted(UTTS), sem))


def audiotok(*args, cwd=REPO):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "audiotok.cli", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def one_line_error(r, cmd):
    assert r.returncode == 1, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"audiotok {cmd}: error: "), r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


# ---------------------------------------------------------------------------------------------
# ASR


def test_asr_cli_files_atok_and_data_dir(pair, tmp_path, capsys):
    from audiotok.cli import main
    from audiotok.compress import encode_file

    root, lm_dir, codec, wavs, sem = pair
    # a folder with a token file of the same codec (read directly) and an audio file
    (tmp_path / "in").mkdir()
    encode_file(codec, wavs["spka-001"], tmp_path / "in" / "spka-001.atok")
    shutil.copy(wavs["spkb-001"], tmp_path / "in" / "spkb-001.wav")
    r = audiotok("asr", tmp_path / "in", "--model", lm_dir)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [f"{u} {UTTS[u][1]}" for u in sorted(UTTS)]  # learnt: exact transcripts
    assert "transcribed 2 utterances" in r.stderr
    # a data dir: OUT/text + stats with the LM positions of grouped speech
    d = write_data_dir(tmp_path / "data", wavs, {u: t for u, (_, t) in UTTS.items()})
    assert main(["asr", "--data-dir", str(d), "-o", str(tmp_path / "dec"), "--model", str(lm_dir)]) == 0
    assert (tmp_path / "dec" / "text").read_text() == (d / "text").read_text()
    stats = json.loads((tmp_path / "dec" / "stats.json").read_text())
    # what asr read: each file with the corpus's edge silence (one piece each: short, no long pause)
    from audiotok.asr_input import asr_pieces

    read = []
    for u in sorted(UTTS):
        x = read_audio(wavs[u], target_sr=codec.sample_rate)[0][0].numpy()
        (piece,) = asr_pieces(x, codec.sample_rate)
        read.append(encode_waveform(codec, torch.from_numpy(piece).reshape(1, -1))["semantic"][0])
    groups = sum(math.ceil(s.numel() / G) for s in read)
    assert stats["speech_positions"] == groups and stats["speech_frames"] == sum(s.numel() for s in read)
    assert stats["pieces"] == 2 and read[0].numel() != sem[sorted(UTTS)[0]].numel()  # the edges did change
    n_text = sum(len(lm_vocab(lm_dir).encode_text(t)) for _, t in UTTS.values())
    assert stats["lm_positions"] == groups + 3 * len(UTTS) + n_text  # <asr> <sos_text> <eos> per utterance
    assert stats["group_size"] == G and stats["lm_rate_hz"] == 5.0 and stats["utts"] == 2
    # files given one by one, one per batch, -o writes a Kaldi text file
    assert main(["asr", str(wavs["spkb-001"]), str(wavs["spka-001"]), "--model", str(lm_dir), "--batch-size", "1",
                 "-o", str(tmp_path / "hyp.txt")]) == 0
    assert (tmp_path / "hyp.txt").read_text() == (d / "text").read_text()
    # beam search reads them as well
    assert main(["asr", "--data-dir", str(d), "-o", str(tmp_path / "beam"), "--model", str(lm_dir),
                 "--beam-size", "3"]) == 0
    assert (tmp_path / "beam" / "text").read_text() == (d / "text").read_text()
    assert json.loads((tmp_path / "beam" / "stats.json").read_text())["beam_size"] == 3


def test_asr_and_tts_default_to_the_shipped_lm(pair, tmp_path, monkeypatch, capsys):
    """No --model: the LM shipped under the `lm` alias (with its codec/) is used; without one, a
    one-line error says none ships."""
    import audiotok.pretrained as pretrained
    from audiotok.cli import main

    root, lm_dir, codec, wavs, sem = pair
    monkeypatch.setattr(pretrained, "HERE", tmp_path / "pretrained")
    (tmp_path / "pretrained").mkdir()
    assert main(["asr", str(wavs["spka-001"])]) == 1
    assert "no lm model ships with this install" in capsys.readouterr().err
    shutil.copytree(lm_dir, tmp_path / "pretrained" / pretrained.ALIASES["lm"])
    assert main(["asr", str(wavs["spka-001"])]) == 0
    assert capsys.readouterr().out.strip() == f"spka-001 {UTTS['spka-001'][1]}"
    assert main(["tts", "THE CAT SAT", "--prompt", str(wavs["spkb-001"]), "-o", str(tmp_path / "t.wav"),
                 "--seed", "0"]) == 0
    assert (tmp_path / "t.wav").stat().st_size > 1000


def test_an_int8_lm_packed_against_a_shipped_codec_finds_it_and_transcribes(pair, tmp_path, monkeypatch, capsys):
    """`pack --dtype int8 --codec NAME`: the LM's matrices stored as int8 with one scale per row and no
    codec/ copy, its meta naming a codec of the install; it still transcribes, also as the `lm`
    default. A codec of other shapes, or a name the install lacks, is a one-line error."""
    import audiotok.pretrained as pretrained
    from audiotok.cli import main

    root, lm_dir, codec, wavs, sem = pair
    here = tmp_path / "pretrained"
    monkeypatch.setattr(pretrained, "HERE", here)
    shutil.copytree(root / "codec", here / "tiny-25hz-v1")
    make_codec(here / "other-25hz-v1", semantic=32)
    exp = tmp_path / "exp"
    shutil.copytree(lm_dir, exp / "model", ignore=shutil.ignore_patterns("codec"))
    rel = tmp_path / "rel"
    assert main(["pack", "--exp-dir", str(exp), "--out", str(rel), "--dtype", "int8", "--codec", "tiny-25hz-v1"]) == 0
    assert not (rel / "codec").exists() and json.loads((rel / "meta.json").read_text())["codec"] == "tiny-25hz-v1"
    assert (rel / "model.safetensors").stat().st_size < 0.4 * (lm_dir / "model.safetensors").stat().st_size
    a, b = load_model(lm_dir), load_model(rel)
    assert next(b.parameters()).dtype == torch.float32
    w, q = a.state_dict()["embed.weight"], b.state_dict()["embed.weight"]
    assert not torch.equal(w, q) and (w - q).abs().max() <= w.abs().amax(1).max() / 254 + 1e-6  # half a step
    capsys.readouterr()
    assert main(["asr", str(wavs["spka-001"]), str(wavs["spkb-001"]), "--model", str(rel)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{u} {UTTS[u][1]}" for u in sorted(UTTS)]
    shutil.copytree(rel, here / pretrained.ALIASES["lm"])
    assert main(["asr", str(wavs["spka-001"])]) == 0
    assert capsys.readouterr().out.strip() == f"spka-001 {UTTS['spka-001'][1]}"
    for name, problem in (("other-25hz-v1", "not the codec"), ("nope-25hz-v9", "not a codec shipped")):
        assert main(["pack", "--exp-dir", str(exp), "--out", str(tmp_path / name), "--codec", name]) == 1
        assert problem in capsys.readouterr().err and not (tmp_path / name).exists()


def lm_vocab(lm_dir):
    return JointVocab.load(Path(lm_dir) / "vocab.json")


def test_asr_sampling_is_seeded(pair):
    from audiotok.speechlm import SpeechLM

    _, lm_dir, _, wavs, _ = pair
    slm = SpeechLM.from_pretrained(lm_dir)
    inputs = [wavs[u] for u in sorted(wavs)]
    a = slm.asr(inputs, greedy=False, temperature=3.0, seed=7)
    b = slm.asr(inputs, greedy=False, temperature=3.0, seed=7)
    assert a == b and len(a) == 2
    # a waveform at its own rate works like the file
    wav, sr = read_audio(wavs["spka-001"])
    assert slm.asr(wav[0], sr=sr) == UTTS["spka-001"][1]


# ---------------------------------------------------------------------------------------------
# TTS


def test_tts_api_speaks_the_learnt_tokens_and_cuts_the_prompt(pair):
    from audiotok.speechlm import SpeechLM

    _, lm_dir, codec, wavs, sem = pair
    slm = SpeechLM.from_pretrained(lm_dir)
    hop = codec.sample_rate // int(codec.frame_rate)
    wav, sr = slm.tts(UTTS["spka-001"][1], greedy=True)
    assert sr == codec.sample_rate and wav.shape == (sem["spka-001"].numel() * hop,)
    assert slm.last_stats["lm_steps"] == math.ceil(sem["spka-001"].numel() / G)
    assert torch.isfinite(wav).all() and wav.abs().max() > 0
    # written text is first put the way the training transcripts are written
    assert torch.equal(slm.tts("The cat, sat!", greedy=True)[0], wav)
    with pytest.raises(UserError, match="nothing to say once punctuation is dropped"):
        slm.tts("?!", greedy=True)
    # with a voice prompt: its (whole-group) frames are decoded with the new ones, then cut off
    prompt = slm.prompt_from(wavs["spkb-001"], UTTS["spkb-001"][1])
    assert prompt["semantic"].numel() % G == 0 and prompt["acoustic"].shape == (2, prompt["semantic"].numel())
    assert torch.equal(prompt["semantic"], sem["spkb-001"][: prompt["semantic"].numel()])
    out = slm.tts(["THE CAT SAT", "A DOG RAN HOME"], prompt=[prompt, None], greedy=False, seed=3, max_seconds=2.0)
    again = slm.tts(["THE CAT SAT", "A DOG RAN HOME"], prompt=[prompt, None], greedy=False, seed=3, max_seconds=2.0)
    for (w, _), (w2, _) in zip(out, again):
        assert torch.equal(w, w2) and w.numel() % hop == 0 and 0 < w.numel() <= 50 * hop
    # continuation: the LM also reads the prompt's transcript and tokens; the prompt audio is still cut off
    w, _ = slm.tts("THE CAT SAT", prompt=prompt, prompt_mode="continue", greedy=True, max_seconds=1.0)
    assert 0 < w.numel() <= 25 * hop and w.numel() % hop == 0 and slm.last_stats["prompt_mode"] == "continue"
    # the transcript of a prompt defaults to the LM's own ASR of it
    assert slm.prompt_from(wavs["spkb-001"])["text"] == UTTS["spkb-001"][1]


def test_tts_expected_acoustic_latents(pair):
    """acoustic_decode="expected": the same semantic tokens and length, the codec given each frame's
    expected acoustic latent; it equals the codes' decode when the acoustic stage is sure of them. It is
    what the default ("auto") picks with a DualCodec."""
    from audiotok.speechlm import SpeechLM

    _, lm_dir, codec, wavs, sem = pair
    slm = SpeechLM.from_pretrained(lm_dir)
    prompt = slm.prompt_from(wavs["spkb-001"], UTTS["spkb-001"][1])
    codes_wav, _ = slm.tts("THE CAT SAT", prompt=prompt, seed=1, max_seconds=1.0, acoustic_decode="codes")
    assert slm.last_stats["acoustic_decode"] == "codes"
    wav, _ = slm.tts("THE CAT SAT", prompt=prompt, seed=1, max_seconds=1.0, acoustic_decode="expected")
    assert wav.shape == codes_wav.shape and torch.isfinite(wav).all() and not torch.equal(wav, codes_wav)
    assert slm.last_stats["acoustic_decode"] == "expected"
    default_wav, _ = slm.tts("THE CAT SAT", prompt=prompt, seed=1, max_seconds=1.0)
    assert torch.equal(default_wav, wav) and slm.last_stats["acoustic_decode"] == "expected"
    s = sem["spka-001"]
    ac = torch.randint(0, 32, (2, s.numel()))
    one_hot = torch.nn.functional.one_hot(ac, 32).float()
    assert torch.allclose(slm._decode(s, ac, one_hot), slm._decode(s, ac), atol=1e-4)
    # none: no acoustic stage; given semantic tokens come out decoded alone, the prompt's frames cut off
    wav, _ = slm.tts("A DOG", prompt=prompt, semantic=s, acoustic_decode="none")
    assert slm.last_stats["acoustic_decode"] == "none"
    P = prompt["semantic"].numel()
    assert torch.equal(wav, slm._decode(torch.cat([prompt["semantic"], s]), None)[P * slm.hop:])
    with pytest.raises(UserError, match="acoustic_decode must be"):
        slm.tts("HI", acoustic_decode="soft")


def test_tts_cli_one_text_with_prompt(pair, tmp_path):
    from audiotok.cli import main

    _, lm_dir, codec, wavs, _ = pair
    r = audiotok("tts", "THE CAT SAT", "--prompt", wavs["spkb-001"], "-o", tmp_path / "out.wav", "--model", lm_dir,
                 "--seed", "1", "--top-k", "5", "--max-seconds", "3")
    assert r.returncode == 0, r.stderr
    assert "synthesized 1 text(s)" in r.stderr
    wav, sr = read_audio(tmp_path / "out.wav")
    hop = codec.sample_rate // int(codec.frame_rate)
    assert sr == codec.sample_rate and 0 < wav.shape[-1] <= 75 * hop and wav.shape[-1] % hop == 0
    assert main(["tts", "THE CAT SAT", "--prompt", str(wavs["spkb-001"]), "--prompt-text", "A DOG RAN HOME",
                 "--greedy", "-o", str(tmp_path / "g.wav"), "--model", str(lm_dir), "--codec",
                 str(lm_dir / "codec")]) == 0
    assert read_audio(tmp_path / "g.wav")[0].shape[-1] % hop == 0


def test_tts_is_greedy_by_default_with_sampling_on_request(pair, tmp_path):
    """Greedy semantic tokens are the default of the API and the CLI (the acoustic stage still draws with
    the seed); --sample keeps tts's own sampling defaults (temperature 0.8, top-p 0.9), asr's are 1.0."""
    import argparse

    from audiotok.bin import asr, tts
    from audiotok.cli import main
    from audiotok.speechlm import SpeechLM

    _, lm_dir, _, _, _ = pair
    slm = SpeechLM.from_pretrained(lm_dir)
    assert torch.equal(slm.tts("THE CAT SAT", seed=2, max_seconds=2.0)[0],
                       slm.tts("THE CAT SAT", greedy=True, seed=2, max_seconds=2.0)[0])
    for name, flags in (("default", []), ("greedy", ["--greedy"])):
        assert main(["tts", "A DOG RAN HOME", "-o", str(tmp_path / f"{name}.wav"), "--model", str(lm_dir),
                     "--seed", "4", "--max-seconds", "2", *flags]) == 0
    assert (tmp_path / "default.wav").read_bytes() == (tmp_path / "greedy.wav").read_bytes()

    def parsed(module, *argv):
        p = argparse.ArgumentParser()
        module.add_arguments(p)
        return p.parse_args(list(argv))

    a = parsed(tts, "HI", "-o", "x.wav")
    assert (a.sample, a.temperature, a.top_p) == (False, 0.8, 0.9)
    assert parsed(tts, "HI", "-o", "x.wav", "--sample").sample
    a = parsed(asr, "x.wav")
    assert (a.sample, a.temperature, a.top_p) == (False, 1.0, 1.0)


def test_tts_cli_data_dir_prompts_of_other_speakers(pair, tmp_path):
    from audiotok.cli import main

    _, lm_dir, _, wavs, _ = pair
    d = write_data_dir(tmp_path / "data", wavs, {u: t for u, (_, t) in UTTS.items()})
    assert main(["tts", "--data-dir", str(d), "-o", str(tmp_path / "tts"), "--model", str(lm_dir), "--seed", "0"]) == 0
    out = tmp_path / "tts"
    assert (out / "utt2prompt").read_text() == "spka-001 spkb-001\nspkb-001 spka-001\n"
    assert (out / "text").read_text() == (d / "text").read_text()
    for line in (out / "wav.scp").read_text().splitlines():
        utt, path = line.split()
        assert Path(path).is_file() and read_audio(path)[0].shape[-1] > 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["utts"] == 2 and stats["lm_steps"] >= 2 and stats["sampling"]["seed"] == 0
    assert stats["prompt_mode"] == "acoustic" and stats["semantic_given"] is False


def test_tts_cli_semantic_from_a_tokens_dir_runs_the_acoustic_stage_alone(pair, tmp_path):
    """--semantic-from: each utterance keeps its own semantic tokens (so its length) and only the acoustic
    stage and the codec run: the acoustic-stage ceiling of TTS."""
    from audiotok.cli import main
    from audiotok.compress import encode_file

    _, lm_dir, codec, wavs, sem = pair
    d = write_data_dir(tmp_path / "data", wavs, {u: t for u, (_, t) in UTTS.items()})
    toks = tmp_path / "toks"
    toks.mkdir()
    for u in UTTS:
        encode_file(codec, wavs[u], toks / f"{u}.atok")
    (toks / "tokens.scp").write_text("".join(f"{u} {u}.atok\n" for u in sorted(UTTS)))  # relative to the dir
    out = tmp_path / "oracle"
    assert main(["tts", "--data-dir", str(d), "--semantic-from", str(toks), "-o", str(out), "--model", str(lm_dir),
                 "--seed", "0"]) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["semantic_given"] is True and stats["speech_frames"] == sum(s.numel() for s in sem.values())
    for line in (out / "wav.scp").read_text().splitlines():
        utt, path = line.split()
        assert read_audio(path)[0].shape[-1] == sem[utt].numel() * 960  # 25 Hz frames at 24 kHz
    (toks / "tokens.scp").write_text(f"spka-001 spka-001.atok\n")
    err = one_line_error(audiotok("tts", "--data-dir", d, "--semantic-from", toks, "-o", tmp_path / "o2",
                                  "--model", lm_dir), "tts")
    assert "no tokens for 1 of the 2 utterances (first: spkb-001)" in err
    assert "needs --data-dir" in one_line_error(audiotok("tts", "HI", "--semantic-from", toks, "-o", tmp_path / "x.wav",
                                                         "--model", lm_dir), "tts")


def test_12hz_codec_with_g2(pair, tmp_path):
    """The 12.5 Hz codec with g=2 (6.25 LM positions per second): one LM position per 2 frames,
    TTS output in whole frames of the 12.5 Hz codec, the prompt cut off."""
    from audiotok.speechlm import SpeechLM

    root, _, _, wavs, _ = pair
    codec = make_codec(tmp_path / "codec12", strides=(4, 5, 6, 8, 2))
    assert codec.frame_rate == 12.5
    vocab = JointVocab.from_text_model(root / "bpe.model", semantic_size=64, acoustic_size=32, n_acoustic=2)
    torch.manual_seed(0)
    lm = UnifiedLM(vocab, lm={"dim": 32, "n_layers": 1, "n_heads": 4}, grouping={"size": 2}, frame_rate=12.5,
                   srh={"dim": 16, "n_layers": 1, "n_heads": 2})
    lm.save_pretrained(tmp_path / "lm12")
    slm = SpeechLM.from_pretrained(tmp_path / "lm12", codec=tmp_path / "codec12")
    assert isinstance(slm.asr(wavs["spka-001"], max_len=2, raw_audio=True), str)
    frames = math.ceil(read_audio(wavs["spka-001"], target_sr=24000)[0].shape[-1] / 1920)
    assert slm.last_stats["speech_positions"] == math.ceil(frames / 2)
    wav, sr = slm.tts("THE CAT SAT", prompt=wavs["spkb-001"], seed=0, max_seconds=1.0)
    assert sr == 24000 and 0 < wav.numel() <= 24000 and wav.numel() % 1920 == 0
    with pytest.raises(UserError, match="frame rate 25 Hz vs the LM's 12.5 Hz"):
        SpeechLM.from_pretrained(tmp_path / "lm12", codec=root / "codec")


def test_pick_prompts_round_robin_over_other_speakers():
    from audiotok.bin.tts import pick_prompts

    spk = {"a-1": "a", "a-2": "a", "b-1": "b", "c-1": "c"}
    got = pick_prompts(list(spk), spk, list(spk), spk)
    assert all(spk[p] != spk[u] for u, p in got.items())
    # the n-th target (sorted) takes candidate n modulo the number of its candidates
    assert got == {"a-1": "b-1", "a-2": "c-1", "b-1": "c-1", "c-1": "a-1"}
    with pytest.raises(UserError, match="every prompt utterance is of its speaker"):
        pick_prompts(["a-1"], spk, ["a-2"], spk)


# ---------------------------------------------------------------------------------------------
# bad inputs


def test_bad_inputs_are_one_line_errors(pair, tmp_path, capsys):
    """Two through real subprocesses; the rest through audiotok.cli.main in this process (the same
    parser and error handling, without paying a torch import per case)."""
    from audiotok.cli import main

    root, lm_dir, _, wavs, _ = pair
    wav = wavs["spka-001"]
    bare = tmp_path / "bare"  # an LM dir without its codec
    shutil.copytree(lm_dir, bare, ignore=shutil.ignore_patterns("codec"))
    other = tmp_path / "other_codec"
    make_codec(other, semantic=32)
    (tmp_path / "empty").mkdir()
    # an LM whose meta names its training tokens: a codec of the same shapes but other weights is refused
    from audiotok.compress import encode_file
    from audiotok.speechlm import SpeechLM

    tok = tmp_path / "tok"
    encode_file(load_model(root / "codec"), wav, tok / "u.atok")
    (tok / "tokens.scp").write_text(f"u {tok / 'u.atok'}\n")
    trained = tmp_path / "trained"
    shutil.copytree(lm_dir, trained)
    meta = json.loads((trained / "meta.json").read_text())
    (trained / "meta.json").write_text(json.dumps({**meta, "training_data": str(tok)}))
    make_codec(tmp_path / "same_shape", seed=1)
    assert SpeechLM.from_pretrained(trained).codec.model_id == load_model(root / "codec").model_id
    # a packed codec's token files record its name, not its weights' id: that is the same codec
    from audiotok.tokfile import read_header

    named = tmp_path / "named_codec"
    save_model_dir(load_model(root / "codec"), named, meta={"name": "toy-codec", "version": "1"})
    encode_file(load_model(named), wav, tmp_path / "ntok" / "u.atok")
    assert read_header(tmp_path / "ntok" / "u.atok")["model_id"] == "toy-codec"
    (tmp_path / "ntok" / "tokens.scp").write_text(f"u {tmp_path / 'ntok' / 'u.atok'}\n")
    named_lm = tmp_path / "named_lm"
    shutil.copytree(lm_dir, named_lm, ignore=shutil.ignore_patterns("codec"))
    (named_lm / "meta.json").write_text(json.dumps({**meta, "training_data": str(tmp_path / "ntok")}))
    named_slm = SpeechLM.from_pretrained(named_lm, codec=named)
    assert named_slm.codec.meta["name"] == "toy-codec"
    assert isinstance(named_slm.asr(tmp_path / "ntok" / "u.atok", max_len=2), str)  # its token files read too
    assert "holds no codec/" in one_line_error(audiotok("asr", wav, "--model", bare), "asr")
    assert "empty text" in one_line_error(audiotok("tts", " ", "-o", tmp_path / "x.wav", "--model", lm_dir), "tts")
    cases = [
        (("asr", wav, "--model", tmp_path / "nope"), "no such model dir"),
        (("asr", wav, "--model", lm_dir, "--codec", other), "not the codec"),
        (("asr", wav, "--model", trained, "--codec", tmp_path / "same_shape"), "training tokens were made by"),
        (("asr", wav, "--model", root / "codec"), "not 'ulm'"),
        (("asr", tmp_path / "missing.wav", "--model", lm_dir), "missing.wav"),
        (("asr", wav, "--model", lm_dir, "--top-p", "0"), "--top-p"),
        (("asr", wav, "--model", lm_dir, "--beam-size", "0"), "--beam-size must be >= 1"),
        (("asr", wav, "--model", lm_dir, "--beam-size", "2", "--sample"), "exclude each other"),
        (("asr", "--data-dir", tmp_path / "empty", "-o", tmp_path / "o", "--model", lm_dir), "not a data dir"),
        (("asr", "--data-dir", tmp_path / "empty", "--model", lm_dir), "needs -o"),
        (("asr", "--model", lm_dir), "give either"),
        (("tts", "HI", "-o", tmp_path / "x.mp3", "--model", lm_dir), ".wav or .flac"),
        (("tts", "HI", "--prompt", tmp_path / "missing.wav", "-o", tmp_path / "x.wav", "--model", lm_dir),
         "missing.wav"),
        (("tts", "HI", "--prompt-text", "A", "-o", tmp_path / "x.wav", "--model", lm_dir), "needs --prompt"),
        (("tts", "--data-dir", tmp_path / "empty", "-o", tmp_path / "t", "--model", lm_dir), "utt2spk"),
    ]
    capsys.readouterr()
    for args, needle in cases:
        assert main([str(a) for a in args]) == 1, args
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"audiotok {args[0]}: error: ") and needle in err[0], (args, err)


# ---------------------------------------------------------------------------------------------
# the language stages of the recipe


def test_lm_vocab_bpe_and_joint_vocab(pair, tmp_path):
    import argparse

    from audiotok.bin import lm_vocab, run_command

    root, _, codec, _, _ = pair
    (tmp_path / "text").write_text("".join(f"u{i} {s}\n" for i, s in enumerate(SENTENCES * 3)))
    r = subprocess.run([sys.executable, "-m", "audiotok.bin.lm_vocab", "bpe", "--text", str(tmp_path / "text"),
                        "--vocab-size", "30", "-o", str(tmp_path / "lang" / "bpe.model")], cwd=REPO,
                       env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr

    def lm_vocab_main(*args):
        parser = argparse.ArgumentParser(prog="lm_vocab")
        lm_vocab.add_arguments(parser)
        return run_command(lm_vocab.run, parser.parse_args([str(a) for a in args]), prog="lm_vocab")

    assert lm_vocab_main("vocab", "--bpe", tmp_path / "lang" / "bpe.model", "--codec", root / "codec", "-o",
                         tmp_path / "lang") == 0
    vocab = JointVocab.load(tmp_path / "lang" / "vocab.json")
    assert (vocab.semantic_size, vocab.acoustic_size, vocab.n_acoustic) == (64, 32, 2)
    assert vocab.text_size == 30 and vocab.decode_text(vocab.encode_text("THE CAT SAT")) == "THE CAT SAT"
    assert (tmp_path / "lang" / "frame_rate").read_text() == "25\n"
    info = json.loads((tmp_path / "lang" / "codec.json").read_text())
    assert info["codec_model_id"] == codec.model_id and info["frame_rate"] == 25.0
    assert lm_vocab_main("vocab", "--bpe", tmp_path / "lang" / "bpe.model", "--codec", root / "codec",
                         "--n-acoustic", "5", "-o", tmp_path / "lang2") == 1
    assert not (tmp_path / "lang2" / "vocab.json").exists()


# ---------------------------------------------------------------------------------------------
# outputs never replace inputs, and an unwritable output is one line (checked before the LM loads)


def test_asr_and_tts_refuse_to_overwrite_their_inputs(tmp_path):
    c = espeak(tmp_path / "c.wav", "hello there", "en-us")
    before = c.read_bytes()
    nowhere = tmp_path / "no_model"
    assert "also an input" in one_line_error(audiotok("asr", c, "-o", c, "--model", nowhere), "asr")
    r = audiotok("tts", "HELLO", "--prompt", c, "-o", c, "--model", nowhere)
    assert "also an input" in one_line_error(r, "tts")
    assert c.read_bytes() == before
    d = write_data_dir(tmp_path / "data", {"a-1": c, "b-1": c}, {"a-1": "HELLO", "b-1": "THERE"})
    text = (d / "text").read_bytes()
    r = audiotok("asr", "--data-dir", d, "-o", d, "--model", nowhere)
    assert "also an input" in one_line_error(r, "asr")
    r = audiotok("tts", "--data-dir", d, "-o", d, "--model", nowhere)
    assert "also an input" in one_line_error(r, "tts")
    assert (d / "text").read_bytes() == text


def test_asr_and_tts_unwritable_outputs_are_one_line(tmp_path):
    c = espeak(tmp_path / "c.wav", "hello there", "en-us")
    (tmp_path / "f.txt").write_text("x")
    nowhere = tmp_path / "no_model"
    r = audiotok("asr", c, "-o", tmp_path / "f.txt" / "hyp.txt", "--model", nowhere)
    assert "not a folder" in one_line_error(r, "asr")
    (tmp_path / "taken.wav").mkdir()
    r = audiotok("tts", "HELLO", "--prompt", c, "-o", tmp_path / "taken.wav", "--model", nowhere)
    assert "is a folder" in one_line_error(r, "tts")
