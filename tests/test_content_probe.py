"""`audiotok content-probe`: character CTC from token dirs tells tokens that carry the words from tokens that
do not, through the LM's grouping and through a codec's own semantic decoder."""

import json
import subprocess
import sys

import pytest
import torch

from tiny_models import packed_tiny_dualcodec

WORDS = ["ab", "ba", "cab", "abc", "bad", "dab", "cad", "add"]
ALPHABET = " abcd"


def _spell(text, frames_per_char=2):
    """Semantic codes that spell the text: each character (space included) held for a few frames."""
    return torch.tensor([ALPHABET.index(c) + 1 for c in text for _ in range(frames_per_char)])


def _write_tokens_dir(folder, n, seed, semantic_size=16, codes_for=_spell):
    """A tokens data dir (tokens.scp + text) like the LM recipe's, with a semantic and an acoustic stream."""
    from audiotok.tokfile import write_tokens

    g = torch.Generator().manual_seed(seed)
    folder.mkdir(parents=True)
    scp, text = [], []
    for i in range(n):
        words = [WORDS[int(j)] for j in torch.randint(0, len(WORDS), (3,), generator=g)]
        sentence = " ".join(words)
        sem = codes_for(sentence) if codes_for is _spell else codes_for(g, len(sentence) * 2, semantic_size)
        frames = sem.numel()
        header = {"sample_rate": 16000, "frame_rate": 25.0, "model_type": "dualcodec", "original_length": frames * 640,
                  "streams": [{"name": "semantic", "codebook_size": semantic_size, "n_codebooks": 1},
                              {"name": "acoustic", "codebook_size": 8, "n_codebooks": 2}]}
        path = folder / f"spk-{i:03d}.atok"
        write_tokens(path, {"semantic": sem[None], "acoustic": torch.randint(0, 8, (2, frames), generator=g)}, header)
        scp.append(f"spk-{i:03d} {path}\n")
        text.append(f"spk-{i:03d} {sentence.upper()}\n")
    (folder / "tokens.scp").write_text("".join(scp))
    (folder / "text").write_text("".join(text))
    return folder


def _noise(g, frames, size):
    return torch.randint(0, size, (frames,), generator=g)


def test_spelled_tokens_are_read_and_random_ones_are_not(tmp_path):
    from audiotok.cli import main

    for name, codes_for in (("spelled", _spell), ("noise", _noise)):
        _write_tokens_dir(tmp_path / name / "train", 64, seed=0, codes_for=codes_for)
        _write_tokens_dir(tmp_path / name / "test", 12, seed=1, codes_for=codes_for)
    md = tmp_path / "RESULTS.md"
    common = ["content-probe", "--out", str(tmp_path / "out"), "--steps", "240", "--eval-every", "120", "--dim", "32",
              "--layers", "1", "--heads", "2", "--lr", "3e-3", "--results-md", str(md)]
    systems = [a for n in ("spelled", "noise") for a in ("--system", f"{n}={tmp_path / n / 'train'},{tmp_path / n / 'test'}")]
    assert main(common + systems) == 0
    spelled = json.loads((tmp_path / "out/spelled/probe_result.json").read_text())
    noise = json.loads((tmp_path / "out/noise/probe_result.json").read_text())
    assert spelled["chars"] == " abcd" and spelled["train_utts"] == 64 and spelled["test_utts"] == 12
    assert [r["step"] for r in spelled["curve"]] == [120, 240]
    assert spelled["final"]["cer"] < 15 and noise["final"]["cer"] > 50
    assert (tmp_path / "out/spelled/curve.tsv").read_text().startswith("step\tcpu_minutes")
    text = md.read_text()
    assert "## content probe" in text and "| spelled | 1 | embed | 1 | 240 |" in text and "### Environment" in text
    assert f"audiotok content-probe --out {tmp_path / 'out'} --steps 240" in text  # the command as typed

    # the LM's 5 Hz view: groups of 2 frames, concatenated, 2 CTC slots per position
    grouped = common + ["--group", "2", "--group-mode", "concat", "--section", "grouped",
                        "--system", f"spelled={tmp_path / 'spelled/train'},{tmp_path / 'spelled/test'}"]
    assert main(grouped) == 0
    result = json.loads((tmp_path / "out/spelled/probe_result.json").read_text())
    assert result["final"]["cer"] < 25
    assert "| spelled | 1 | embed | 2 (concat) |" in md.read_text()


def test_codec_frontend_reads_codes_through_the_frozen_semantic_decoder(tmp_path):
    from audiotok.models.content_probe import ContentProbe
    from audiotok.models.loading import load_model
    from audiotok.models.ulm_frontend import read_codec_semantic_decoder

    codec_dir = packed_tiny_dualcodec(tmp_path / "codec")
    codec = load_model(codec_dir)
    probe = ContentProbe([64], n_chars=5, dim=16, layers=1, heads=2, group=2,
                         codec_decoder=read_codec_semantic_decoder(codec_dir))
    assert torch.equal(probe.frontend.vq.codebook, codec.sem_vq.codebook)
    frozen = {k: v.clone() for k, v in probe.frontend.state_dict().items() if not k.startswith("proj.")}
    trained = [n for n, p in probe.named_parameters() if p.requires_grad]
    assert "frontend.proj.weight" in trained and not any(n.startswith(("frontend.vq", "frontend.dec")) for n in trained)
    codes = torch.randint(0, 64, (2, 1, 9))
    codes[1, :, 7:] = -1  # padding
    probe.train()
    loss = probe.loss(codes, torch.tensor([9, 7]), [torch.tensor([1, 2, 3]), torch.tensor([4])])
    loss.backward()
    torch.optim.SGD([p for p in probe.parameters() if p.requires_grad], lr=1.0).step()
    assert probe.frontend.proj.weight.grad is not None
    after = probe.frontend.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in frozen.items())  # the codec's decoder stays frozen
    assert len(probe.transcribe(codes, torch.tensor([9, 7]))) == 2

    from audiotok.cli import main

    d = _write_tokens_dir(tmp_path / "tok", 8, seed=0, semantic_size=64)
    out = tmp_path / "out"
    assert main(["content-probe", "--system", f"c={d},{d}", "--frontend", "codec", "--codec", str(codec_dir),
                 "--out", str(out), "--steps", "4", "--dim", "16", "--layers", "1", "--heads", "2"]) == 0
    assert json.loads((out / "c/probe_result.json").read_text())["final"]["step"] == 4


def _feature_items(n, seed, spelled):
    """(ids, features [6,T], texts): a one-hot of each spelled character under noise, or the noise alone."""
    g = torch.Generator().manual_seed(seed)
    ids, feats, texts = [], [], []
    for i in range(n):
        sentence = " ".join(WORDS[int(j)] for j in torch.randint(0, len(WORDS), (3,), generator=g))
        chars = _spell(sentence)
        x = 0.3 * torch.randn(len(ALPHABET) + 1, chars.numel(), generator=g)
        if spelled:
            x[chars, torch.arange(chars.numel())] += 1.0
        ids.append(f"spk-{i:03d}")
        feats.append(x)
        texts.append(sentence.upper())
    return ids, feats, texts


def test_float_features_that_carry_the_text_are_read_and_noise_is_not():
    """The reader on continuous features (what a codec holds before its quantizer, or its teacher's states)."""
    from types import SimpleNamespace

    from audiotok.bin.content_probe import train_and_score

    args = SimpleNamespace(seed=0, device="cpu", max_frames=1000, dim=32, layers=1, heads=2, group=1,
                           group_mode="mean", lr=3e-3, steps=240, eval_every=120, batch_size=16)
    cer = {}
    for spelled in (True, False):
        result, model = train_and_score(_feature_items(64, 0, spelled), _feature_items(12, 1, spelled), [], args,
                                        log=lambda msg: None, return_model=True, feature_dim=len(ALPHABET) + 1)
        assert model.features_in.in_features == 6 and not model.embeds and model.frontend is None
        cer[spelled] = result["final"]["cer"]
    assert cer[True] < 15 and cer[False] > 50


@pytest.mark.parametrize("case", ["no_text", "no_codec", "unknown_codec", "bad_stream", "bad_system"])
def test_bad_input_is_a_one_line_error(tmp_path, case, capsys):
    from audiotok.cli import main

    d = _write_tokens_dir(tmp_path / "tok", 4, seed=0)
    args = ["content-probe", "--out", str(tmp_path / "out"), "--steps", "2", "--system", f"x={d},{d}"]
    expect = {"no_text": f"{d / 'text'}: missing", "no_codec": "--frontend codec needs --codec",
              "unknown_codec": "no-such-codec-v9: no such model dir, and not a shipped model name",
              "bad_stream": "has no stream 'pitch'", "bad_system": "expected NAME=TRAIN_DIR,TEST_DIR"}[case]
    if case == "no_text":
        (d / "text").unlink()
    elif case == "no_codec":
        args += ["--frontend", "codec"]
    elif case == "unknown_codec":  # --codec takes a dir or a shipped name (speech-25hz-v2)
        args += ["--frontend", "codec", "--codec", "no-such-codec-v9"]
    elif case == "bad_stream":
        args += ["--streams", "semantic,pitch"]
    else:
        args += ["--system", "y=only_one_dir"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert expect in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # nothing written on a bad input


def test_cli_subprocess_reports_a_missing_dir_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "audiotok.cli", "content-probe", "--out", str(tmp_path / "o"),
                           "--system", f"x={tmp_path / 'nope'},{tmp_path / 'nope'}"], capture_output=True, text=True)
    assert proc.returncode == 1
    assert f"{tmp_path / 'nope' / 'tokens.scp'}: missing" in proc.stderr and "Traceback" not in proc.stderr
