"""Duo-Tok on tiny configs: stem crops, chroma and mask targets, hard routing, shared SimVQ map,
stage-by-stage training through the real trainer, packing, and stem decoding through the CLI."""

import json
import math
import re

import pytest
import torch

from audiotok.audio import read_audio, write_audio
from audiotok.data.kaldi_dir import write_data_dir
from audiotok.errors import DataDirError, UserError
from audiotok.models.duotok import DuoTok
from audiotok.models.duotok_encoder import DuoTokEncoder
from audiotok.models.duotok_targets import Chroma, apply_mask, ratio_mask, text_to_ids
from tiny_models import merged

SR = 24000
SSL = {"model": "bestrq", "model_conf": {
    "sample_rate": SR, "features": {"n_mels": 32, "n_fft": 512, "hop_length": 240, "stack": 4},
    "encoder": {"dim": 32, "n_layers": 2, "n_heads": 2, "conv_kernel": 3, "dropout": 0.0},
    "targets": {"codebook_size": 64}, "masking": {"prob": 0.1, "span": 3}}}
DEC = {"n_mels": 24, "n_fft": 512, "dim": 32, "layers": 1, "intermediate_dim": 64, "steps": 2}
VOC = {"channels": 16, "rates": [8, 6, 5], "dilations": [1], "segment_frames": 10}
VOC_MEL = {"n_mels": [20], "window_lengths": [512]}


def song(seed, n=int(1.5 * SR)):
    """A 'singer' (harmonic tone, on/off syllables) and a 'band' (bass tone + noise hits), float32."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(n) / SR
    f0 = 200 + 150 * torch.rand(1, generator=g)
    syll = (torch.sin(2 * math.pi * 3 * t) > 0).float()
    vocals = 0.2 * syll * sum(torch.sin(2 * math.pi * k * f0 * t) / k for k in (1, 2, 3))
    hits = (torch.remainder(t, 0.25) < 0.03).float() * torch.randn(n, generator=g) * 0.1
    accompaniment = 0.2 * torch.sin(2 * math.pi * 55 * (1 + seed % 3) * t) + hits
    return vocals, accompaniment


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("stems")
    wav, voc, acc, text, spk = {}, {}, {}, {}, {}
    for i in range(3):
        utt = f"song{i}"
        v, a = song(i)
        for name, x, table in (("mix", v + a, wav), ("vocals", v, voc), ("accompaniment", a, acc)):
            path = root / "audio" / f"{utt}_{name}.wav"
            path.parent.mkdir(exist_ok=True)
            write_audio(path, x, SR, subtype="FLOAT")
            table[utt] = str(path)
        text[utt], spk[utt] = "la la la", utt
    write_data_dir(root / "d", wav=wav, utt2spk=spk, text=text, extra={"vocals": voc, "accompaniment": acc})
    return root / "d"


def stem_batch(data, seconds=0.8, n=2):
    from audiotok.data.stem_dataset import MusicStemDataset

    ds = MusicStemDataset(data, SR, seconds, train=True, seed=0)
    return ds.collate([ds[i] for i in range(n)])


def tiny_encoder(**kw):
    return DuoTokEncoder(ssl=SSL, **kw)


def tiny_duotok(encoder, **kw):
    conf = dict(encoder={"model": "duotok_encoder", "model_conf": encoder.config}, layer=1,
                codebooks={"size": 32, "dim": 8}, branch={"dim": 16, "intermediate_dim": 32}, decoder=DEC,
                vocoder=VOC, vocoder_mel=VOC_MEL)
    m = DuoTok(**merged(conf, kw))
    m.encoder.load_state_dict(encoder.state_dict())
    return m


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# ---- data and targets --------------------------------------------------------------------------
def test_stem_crops_are_aligned_and_deterministic(data, tmp_path):
    from audiotok.data.datasets import EpochIndex
    from audiotok.data.stem_dataset import MusicStemDataset

    ds = MusicStemDataset(data, SR, 0.5, train=True, seed=3)
    a, b = ds[EpochIndex(1, 0)], ds[EpochIndex(1, 0)]
    assert torch.equal(a["wav"], b["wav"]) and a["wav"].shape == (1, SR // 2)
    assert torch.allclose(a["wav"], a["vocals"] + a["accompaniment"], atol=1e-6)  # same span of every file
    assert not torch.equal(a["wav"], ds[EpochIndex(1, 1)]["wav"])  # a new crop next epoch
    whole = MusicStemDataset(data, SR, None, train=False)[0]
    assert whole["length"] == int(1.5 * SR) and whole["text"] == "la la la"
    batch = ds.collate([ds[0], ds[2]])
    assert set(batch) == {"wav", "vocals", "accompaniment", "lengths"} and batch["vocals"].shape == (2, 1, SR // 2)
    bad = tmp_path / "nostems"
    write_data_dir(bad, wav={"song0": ds.entries[0][1]}, utt2spk={"song0": "song0"},
                   extra={"vocals": {"song0": ds.entries[0][1]}})
    with pytest.raises(DataDirError, match="accompaniment.scp"):
        MusicStemDataset(bad, SR, 0.5)


def test_chroma_finds_the_pitch_class():
    t = torch.arange(SR) / SR
    for hz, cls in ((440.0, 9), (261.63, 0), (196.0, 7)):
        c = Chroma(SR, hop_length=240, pool=4)(torch.sin(2 * math.pi * hz * t)[None, None])
        assert c.shape == (1, 25, 12)
        assert int(c[0, 5:-5].mean(0).argmax()) == cls
        assert torch.allclose(c[0, 5:-5].amax(-1), torch.ones(15))
    assert float(Chroma(SR)(torch.zeros(1, 1, SR)).abs().max()) == 0.0  # silence stays 0


def test_ratio_mask_and_mask_split():
    lv, la = torch.log(torch.tensor([[[4.0, 1e-5]]])), torch.log(torch.tensor([[[1.0, 1.0]]]))
    assert torch.allclose(ratio_mask(lv, la), torch.tensor([[[0.8, 1e-5 / (1 + 1e-5)]]]))
    mix = torch.log(torch.tensor([[[5.0, 2.0]]]))
    v, a = apply_mask(mix, torch.tensor([[[0.8, 0.5]]]))
    assert torch.allclose(v.exp(), torch.tensor([[[4.0, 1.0]]]))
    assert torch.allclose(a.exp(), torch.tensor([[[1.0, 1.0]]]))
    assert text_to_ids("La  la!") == [13, 2, 1, 13, 2]  # blank 0, space 1, a 2, l 13


# ---- stage 2: multi-task encoder ----------------------------------------------------------------
def test_encoder_heads_noise_freezing_and_ctc(data):
    enc = tiny_encoder(freeze_schedule=[[1, 1]], ctc=True).train()
    batch = stem_batch(data)
    out = enc.forward_train(batch, 0)
    assert out["mask"].any() and out["mask_target"].shape == (2, 32, 80)
    loss, logs = enc.generator_loss(batch, out, 0)
    assert {"mlm", "mel", "chroma", "sep"} <= set(logs) and math.isfinite(float(loss.detach()))
    loss.backward()
    assert enc.ssl.encoder.layers[0].attn.wq.weight.grad is not None
    enc.zero_grad(set_to_none=True)
    out = enc.forward_train(batch, 1)  # step 1: input projection and block 0 frozen
    enc.generator_loss(batch, out, 1)[0].backward()
    assert enc.frozen_layers == 1
    assert enc.ssl.input_proj.weight.grad is None and enc.ssl.encoder.layers[0].attn.wq.weight.grad is None
    assert enc.ssl.encoder.layers[1].attn.wq.weight.grad is not None and enc.sep_head.weight.grad is not None
    whole = {"wav": batch["wav"], "text": ["la la", "la"]}
    _, logs = enc.generator_loss(whole, enc.forward_train(whole, 2), 2)
    assert logs["ctc"] > 0 and "sep" not in logs  # no stems in this batch: no mask loss


def test_encoder_keeps_padding_out_of_ctc_lengths(data):
    """A text that fits the padded frames but not the real ones cannot be aligned: with lengths, CTC sees
    only the real frames (the loss is infinite, zeroed), never the padding."""
    enc = tiny_encoder(ctc=True).eval()
    wav = stem_batch(data)["wav"]
    frames = enc.forward_train({"wav": wav}, 0)["valid"].shape[1]
    text = ["l" * (frames // 2)] * 2  # the same letter repeated needs a blank between: ~frames - 1 slots
    short = torch.tensor([wav.shape[-1] // 4] * 2)
    _, padded = enc.generator_loss({"wav": wav, "text": text}, enc.forward_train({"wav": wav, "text": text}, 0))
    batch = {"wav": wav, "text": text, "lengths": short}
    out = enc.forward_train(batch, 0)
    assert int(out["valid"].sum(1).max()) < frames // 2
    _, real = enc.generator_loss(batch, out)
    assert padded["ctc"] > 0 and real["ctc"] == 0.0


# ---- stage 3: hard routing --------------------------------------------------------------------
def test_hard_routing_splits_the_mix_by_the_separation_head(data):
    enc = tiny_encoder().eval()
    m = tiny_duotok(enc).eval()
    batch = stem_batch(data)
    mix = batch["wav"]
    assert [s.name for s in m.streams] == ["vocals", "accompaniment"] and m.frame_rate == 25.0
    assert m.bitrate() == 2 * 25 * 5  # 2 tracks x 25 Hz x log2(32)
    tokens = m.encode(mix)
    assert tokens["vocals"].shape == (2, 1, 20) and tokens["accompaniment"].shape == (2, 1, 20)
    # exactly the documented routing: mask from the head, vocal mel = log(m P), accompaniment log((1-m) P)
    mel = m.encoder.logmel(mix)
    vm, am = apply_mask(mel, m.encoder.separation_mask(mel), m.encoder.ssl.logmel.log_floor)
    feats = m.track_features({"vocals": vm, "accompaniment": am}, 20)
    assert torch.equal(tokens["vocals"], m.branches["vocals"].encode(feats["vocals"]))
    assert torch.equal(tokens["accompaniment"], m.branches["accompaniment"].encode(feats["accompaniment"]))
    # a head that calls everything vocal sends the whole mix to the vocal codebook
    with torch.no_grad():
        m.encoder.sep_head.weight.zero_()
        m.encoder.sep_head.bias.fill_(30.0)
    all_vocal = m.encode(mix)
    assert torch.equal(all_vocal["vocals"], m.encode_stems(mix, torch.zeros_like(mix))["vocals"])
    assert torch.equal(all_vocal["accompaniment"], m.encode_stems(mix, torch.zeros_like(mix))["accompaniment"])
    # hard routing: a track's codes depend only on its own branch and its own stem
    v, a = batch["vocals"], batch["accompaniment"]
    ref = m.encode_stems(v, a)
    assert torch.equal(m.encode_stems(v, 0.5 * a.flip(-1))["vocals"], ref["vocals"])
    with torch.no_grad():
        for p in m.branches["accompaniment"].parameters():
            p.add_(0.1)
    again = m.encode_stems(v, a)
    assert torch.equal(again["vocals"], ref["vocals"]) and not torch.equal(again["accompaniment"], ref["accompaniment"])


def test_paper_simvq_uses_its_codebook_where_plain_vq_does_not():
    """The toy of tests/test_quantize.py (random latents, 256 codes) with Duo-Tok's SimVQ variant."""
    from audiotok.models.duotok import PaperSimVQ
    from audiotok.nn.quantize import VectorQuantizer, codebook_usage

    def train(cls, seed):
        torch.manual_seed(seed)
        q = cls(16, 256, 4)
        opt = torch.optim.Adam(q.parameters(), lr=3e-3)
        g = torch.Generator().manual_seed(1)
        for _ in range(150):
            x = torch.randn(16, 16, 16, generator=g)
            out, _, commit, codebook = q(x)
            loss = (out - x).pow(2).mean() + 0.25 * commit.mean() + codebook.mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        q.eval()
        return codebook_usage(q.encode(torch.randn(64, 16, 64, generator=g)), 256)

    vq = [train(VectorQuantizer, s) for s in (0, 1)]
    sim = [train(PaperSimVQ, s) for s in (0, 1)]
    # measured: plain VQ 0.24-0.27, PaperSimVQ 1.0 of the 256 codes
    assert min(sim) > 0.9 and min(sim) > 3 * max(vq)


def test_shared_simvq_map_is_saved_once_and_trained(data, tmp_path):
    from audiotok.models.loading import load_model, save_model_dir

    enc = tiny_encoder().eval()
    m = tiny_duotok(enc)
    keys = [k for k in m.state_dict() if "codebook_map" in k or "shared_map" in k]
    assert keys == ["shared_map.0.weight"]
    assert not any(p.requires_grad for p in m.encoder.parameters())
    before = {t: m.branches[t].rvq.quantizers[0].code_vectors().detach().clone() for t in m.in_tracks}
    opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=1e-2)
    m.train()
    batch = stem_batch(data)
    enc_before = {k: v.clone() for k, v in m.encoder.state_dict().items()}
    for step in range(2):
        loss, logs = m.generator_loss(batch, m.forward_train(batch, step), step)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert {"feat_vocals", "feat_accompaniment", "usage_vocals", "aux_mel", "aux_chroma"} <= set(logs)
    for t in m.in_tracks:  # one map W moves both codebooks
        assert not torch.allclose(m.branches[t].rvq.quantizers[0].code_vectors(), before[t])
    assert all(torch.equal(v, m.encoder.state_dict()[k]) for k, v in enc_before.items())  # encoder frozen
    m.eval()
    save_model_dir(m, tmp_path / "m")
    m2 = load_model(tmp_path / "m")
    wav = batch["wav"]
    assert all(torch.equal(a, b) for a, b in zip(m.encode(wav).values(), m2.encode(wav).values()))


def test_single_track_control_and_decode_api(data):
    enc = tiny_encoder().eval()
    ctl = tiny_duotok(enc, routing="none", codebooks={"kind": "vq", "n_codebooks": 2, "shared_map": False}).eval()
    dual = tiny_duotok(enc).eval()
    assert [s.name for s in ctl.streams] == ["mix"] and ctl.bitrate() == dual.bitrate()
    wav = stem_batch(data)["wav"]
    tok = ctl.encode(wav)
    assert set(tok) == {"mix"} and tok["mix"].shape == (2, 2, 20)
    for model, tokens in ((ctl, tok), (dual, dual.encode(wav))):
        outs = {tr: model.decode(tokens, track=tr) for tr in ("vocals", "accompaniment", "mix")}
        assert all(o.shape == (2, 1, 20 * 960) for o in outs.values())
        scale = float(outs["mix"].abs().max())
        assert torch.allclose(outs["mix"], outs["vocals"] + outs["accompaniment"], atol=1e-4 * scale)
        assert torch.equal(model.decode(tokens, track="vocals"), outs["vocals"])  # seeded: repeatable
    only_vocals = dual.encode(wav, n_q=1)
    assert set(only_vocals) == {"vocals"} and dual.decode(only_vocals, track="mix").shape == (2, 1, 19200)
    with pytest.raises(UserError, match="track"):
        dual.decode(only_vocals, track="drums")
    with pytest.raises(UserError, match="streams"):
        dual.decode({"mix": tok["mix"]})
    with pytest.raises(UserError, match="out of range"):
        dual.decode({"vocals": torch.full((1, 1, 3), 99)})


# ---- all stages through the trainer, packing, CLI -----------------------------------------------
def _train(cfg, data, exp):
    from audiotok.bin.train import train

    cfg = {"batch_size": 2, "num_workers": 0, "optim": "adamw", "optim_conf": {"lr": 1e-3},
           "trainer": {"max_steps": 2, "log_interval": 1, "valid_interval": 2, "save_interval": 2,
                       "valid_batches": 1, "best_metric": "loss", "keep_nbest": 1, "seed": 0}, **cfg}
    summary = train(cfg, data, data, exp)
    assert summary["step"] == 2 and summary["stopped_by"] is None
    assert all(math.isfinite(v) for v in summary["last_valid"].values())
    return summary


def test_four_stages_pack_and_cli_stem_decoding(data, tmp_path, capsys):
    from safetensors.torch import load_file

    from audiotok.cli import main
    from audiotok.models.loading import load_model, save_model_dir
    from audiotok.tokfile import read_tokens

    stems = {"dataset": "music_stems", "dataset_conf": {"sample_rate": SR, "segment_seconds": 0.8}}
    _train({"model": "bestrq", "model_conf": SSL["model_conf"], "dataset": "audio_segments",
            "dataset_conf": {"sample_rate": SR, "segment_seconds": 0.8}}, data, tmp_path / "ssl")
    _train({"model": "duotok_encoder", "model_conf": {"ssl_init_dir": str(tmp_path / "ssl/model"),
            "freeze_schedule": [[1, 1]]}, **stems}, data, tmp_path / "enc")
    tok_conf = {"layer": 1, "codebooks": {"size": 32, "dim": 8}, "branch": {"dim": 16}, "decoder": DEC,
                "vocoder": VOC, "vocoder_mel": VOC_MEL}
    _train({"model": "duotok", "model_conf": {**tok_conf, "encoder_init_dir": str(tmp_path / "enc/model")},
            **stems}, data, tmp_path / "q")
    with pytest.raises(UserError, match="was trained with codebooks="):
        DuoTok(**{**tok_conf, "codebooks": {"size": 64, "dim": 8}, "init_dir": str(tmp_path / "q"),
                  "train_stage": "decoder"})
    _train({"model": "duotok", "model_conf": {**tok_conf, "init_dir": str(tmp_path / "q/model"),
            "train_stage": "decoder"}, **stems, "trainer": {
                "max_steps": 2, "log_interval": 1, "valid_interval": 2, "save_interval": 2, "valid_batches": 1,
                "best_metric": "loss", "keep_nbest": 1, "seed": 0}}, data, tmp_path / "dec")
    q = load_file(str(tmp_path / "q/model/model.safetensors"))
    d = load_file(str(tmp_path / "dec/model/model.safetensors"))
    for k, v in q.items():  # stage 4 trained only the decoder: tokenizer weights are the stage-3 ones
        if k != "flow.null":  # the null condition learns only from dropped conditions
            assert torch.equal(d[k], v) != k.startswith(("flow.", "vocoder.")), k
    # two steps leave the vocoder whispering below 16-bit resolution: make it loud enough to compare files
    model = load_model(tmp_path / "dec")
    with torch.no_grad():
        model.vocoder.net.block[-2].parametrizations.weight.original0.mul_(300.0)
    save_model_dir(model, tmp_path / "dec/model", meta=model.meta)
    packed = tmp_path / "packed"
    assert main(["pack", "--exp-dir", str(tmp_path / "dec"), "--out", str(packed)]) == 0
    conf = json.loads(json.dumps(load_model(packed).config))
    assert conf["encoder_init_dir"] is None and conf["init_dir"] is None
    assert conf["encoder"]["model"] == "duotok_encoder"
    assert conf["encoder"]["model_conf"]["ssl_init_dir"] is None  # self-contained

    song0 = tmp_path / "song.wav"
    v, a = song(5, 30000)
    write_audio(song0, v + a, SR)
    atok = tmp_path / "song.atok"
    assert main(["encode", str(song0), "-o", str(atok), "--model", str(packed)]) == 0
    tokens, header = read_tokens(atok)
    assert set(tokens) == {"vocals", "accompaniment"} and tokens["vocals"].shape == (1, 32)
    assert [s["name"] for s in header["streams"]] == ["vocals", "accompaniment"]
    outs = {}
    for track in ("vocals", "accompaniment", "mix"):
        out = tmp_path / f"{track}.wav"
        assert main(["decode", str(atok), "-o", str(out), "--track", track]) == 0
        outs[track], sr = read_audio(out)
        assert sr == SR and outs[track].shape == (1, 30000)
    assert 0.01 < float(outs["vocals"].abs().max()) < 1 and not torch.equal(outs["vocals"], outs["accompaniment"])
    assert torch.allclose(outs["mix"], outs["vocals"] + outs["accompaniment"], atol=1e-4)  # 16-bit files
    assert main(["decode", str(atok), "-o", str(tmp_path / "x.wav"), "--track", "drums"]) == 1
    assert "track must be one of" in capsys.readouterr().err


# ---- token-LM perplexity --------------------------------------------------------------------------
def _write_token_dir(folder, streams, make, n_files=4, frames=120, seed=0):
    """Token files with the given {stream: (codebook_size, n_codebooks)} and codes from make(g, k, frames)."""
    from audiotok.tokfile import write_tokens

    g = torch.Generator().manual_seed(seed)
    folder.mkdir(parents=True)
    header = {"sample_rate": SR, "frame_rate": 25.0, "model_type": "duotok", "original_length": frames * 960,
              "streams": [{"name": n, "codebook_size": k, "n_codebooks": c} for n, (k, c) in streams.items()]}
    for i in range(n_files):
        tokens = {n: make(g, k, c, frames) for n, (k, c) in streams.items()}
        write_tokens(folder / f"utt{i}.atok", tokens, header)


def test_token_ppl_at_1024_separates_predictable_from_random_tokens(tmp_path, capsys):
    from audiotok.cli import main
    from audiotok.models.perplexity_probe import PerplexityProbe, normalised_ppl

    assert normalised_ppl(64.0, 32768) == 2.0 and normalised_ppl(10.0, 256) == 40.0
    lm = PerplexityProbe([8, 16], dim=16, layers=1, heads=2)
    codes = torch.stack([torch.randint(0, 8, (2, 5)), torch.randint(0, 16, (2, 5))], 1)
    logits = lm(codes)
    assert [x.shape for x in logits] == [(2, 5, 8), (2, 5, 16)]
    changed = codes.clone()
    changed[:, :, -1] = 0
    assert torch.allclose(lm(changed)[0], logits[0])  # frame t never sees frame t (causal, shifted by BOS)

    def periodic(g, k, c, frames):  # a repeating riff: predictable from context, flat histogram
        start = int(torch.randint(0, 8, (1,), generator=g))
        return torch.stack([(torch.arange(frames) + start + j) % 8 * (k // 8) for j in range(c)])

    def noise(g, k, c, frames):
        return torch.randint(0, k, (c, frames), generator=g)

    streams = {"vocals": (64, 1), "accompaniment": (64, 1)}
    for name, make in (("riff", periodic), ("noise", noise)):
        _write_token_dir(tmp_path / name / "train", streams, make, seed=0)
        _write_token_dir(tmp_path / name / "test", streams, make, n_files=2, seed=1)
    md = tmp_path / "RESULTS.md"
    args = ["token-ppl", "--out", str(tmp_path / "lm"), "--steps", "60", "--context", "32", "--dim", "32",
            "--layers", "1", "--batch-size", "8", "--lr", "3e-3", "--results-md", str(md)]
    for name in ("riff", "noise"):
        args += ["--system", f"{name}={tmp_path / name / 'train'},{tmp_path / name / 'test'}"]
    assert main(args) == 0
    riff = json.loads((tmp_path / "lm/riff/lm_result.json").read_text())
    noise_r = json.loads((tmp_path / "lm/noise/lm_result.json").read_text())
    assert riff["codebooks"] == ["vocals/0", "accompaniment/0"] and riff["sizes"] == [64, 64]
    assert max(riff["ppl"]) < 3.0  # the riff is learnt
    assert min(noise_r["ppl"]) > 40.0  # random codes stay near the codebook size
    assert abs(riff["ppl_at_1024"][0] - riff["ppl"][0] * 16) < 1e-6
    assert riff["usage"][0]["n_used"] == 8 and noise_r["usage"][0]["n_used"] == 64
    text = md.read_text()
    assert "token LM perplexity" in text and "| riff | vocals/0 | 64 |" in text and "### Environment" in text
    assert main(["token-lm", "--out", str(tmp_path / "x"), "--system", "bad"]) == 1  # the old name still works
    assert "NAME=TRAIN_TOKENS,TEST_TOKENS" in capsys.readouterr().err


def test_lm_recipe_helpers_are_audiotok_commands():
    from audiotok.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["lm-vocab", "bpe", "--text", "t", "--vocab-size", "8", "-o", "m"])
    assert args._run.__module__ == "audiotok.bin.lm_vocab" and args.what == "bpe"
    args = parser.parse_args(["lm-report", "--ref-data", "d", "--results-md", "R.md", "--section", "s"])
    assert args._run.__module__ == "audiotok.bin.lm_report"
    # lm-report has a --command option of its own: it must not hide which subcommand runs
    from audiotok.cli import main

    assert main(["lm-report", "--ref-data", "no_such_dir", "--results-md", "R.md", "--section", "s"]) == 1
    assert parser.parse_args(["lm-report", "--ref-data", "d", "--results-md", "R.md", "--section", "s",
                              "--command", "x"]).command == "x"


def test_recipe_pairs_quantizer_and_decoder_configs(tmp_path):
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    rec = tmp_path / "egs" / "x" / "tok1"
    rec.mkdir(parents=True)
    for link, target in (("utils", "recipes/utils"), ("path.sh", "recipes/utils/path.sh"),
                         ("cmd.sh", "recipes/utils/cmd.sh"), ("tok.sh", "recipes/tok1/tok.sh")):
        (rec / link).symlink_to(root / target)

    def tok(*args):
        return subprocess.run(["bash", "./tok.sh", "--ssl-config", "a.yaml", "--enc-config", "b.yaml", *args],
                              cwd=rec, capture_output=True, text=True, timeout=60)

    bad = tok("--tok-configs", "conf/p.yaml conf/q.yaml", "--dec-configs", "conf/p_dec.yaml")
    assert bad.returncode == 1 and "2 --tok-configs but 1 --dec-configs" in bad.stderr
    ok = tok("--tok-configs", "conf/p.yaml conf/q.yaml", "--dec-configs", "conf/p_dec.yaml conf/q_dec.yaml",
             "--stage", "10")
    assert ok.returncode == 0 and "Finished stages 10..10000: p q" in ok.stderr


def test_flat_duotok_and_encoder_configs_upgrade_to_the_groups():
    from audiotok.models.duotok_config import upgrade_conf
    from audiotok.registry import build_model

    flat = {"quantizer": "vq", "codebook_size": 32, "codebook_dim": 8, "n_codebooks": 2, "shared_map": False,
            "branch_dim": 16, "branch_intermediate_dim": 32, "layer": 1, "routing": "none"}
    assert upgrade_conf(flat) == {"layer": 1, "routing": "none", "branch": {"dim": 16, "intermediate_dim": 32},
                                  "codebooks": {"kind": "vq", "size": 32, "dim": 8, "n_codebooks": 2,
                                                "shared_map": False}}
    enc = build_model({"model": "duotok_encoder", "model_conf": {"ssl": SSL, "mask_prob": 0.3, "mask_span": None}})
    assert enc.mask_prob == 0.3 and enc.mask_span == 3  # left out: the SSL's masking
    assert enc.config["masking"] == {"prob": 0.3}
    with pytest.raises(UserError, match=r"duotok: codebooks: unknown key\(s\) codebook_size"):
        tiny_duotok(enc, codebooks={"codebook_size": 8})
    with pytest.raises(UserError, match="duotok: codebooks.kind must be one of simvq, vq, got 'rvq'"):
        tiny_duotok(enc, codebooks={"kind": "rvq"})


def test_simvq_restarts_move_dead_codes_onto_latents_through_the_shared_map():
    """With `restarts`, a dead code's frozen vector becomes the one W maps onto a recent latent; W and
    the live codes stay as they were (measured on the music recipe: 10 % -> all of 1024 codes used)."""
    from audiotok.models.duotok import SharedMapSimVQ

    w = torch.nn.Linear(4, 4, bias=False)
    q = SharedMapSimVQ(8, 64, 4, restarts=True).attach(w)
    plain = SharedMapSimVQ(8, 64, 4).attach(w)
    assert q.restarts and not plain.restarts  # SimVQ's default: no restarts, as the paper
    x = torch.randn(2, 8, 50) * 0.01 + 3.0  # latents bunched in one spot: most codes go dead
    q.train()
    q(x)
    live = ~q.dead_codes()
    before, w_before = q.code_vectors().detach().clone(), w.weight.detach().clone()
    n = q.restart_dead_codes()
    after = q.code_vectors().detach()
    assert n == min(int((~live).sum()), 100) and n > 0
    assert torch.equal(w.weight, w_before) and torch.allclose(after[live], before[live])
    latents = q.project(x).transpose(1, 2).reshape(-1, 4).detach()
    moved = after[~live][:n]
    # each restarted code sits on (near) a latent it was copied from
    assert torch.cdist(moved, latents).min(1).values.max() < 0.1 * latents.std() + 1e-3
    plain.train()
    plain(x)
    assert plain.restart_dead_codes() == 0


def test_spectral_stem_decoders_train_and_keep_each_stem_to_its_own_tokens(data):
    spec = {"kind": "spectral", "n_fft": 960, "upsample": 4, "dim": 24, "layers": 1, "coarse_layers": 1}
    enc = tiny_encoder().eval()
    dual = tiny_duotok(enc, train_stage="decoder", decoder=spec)
    ctl = tiny_duotok(enc, train_stage="decoder", decoder=spec, routing="none",
                      codebooks={"kind": "vq", "n_codebooks": 2, "shared_map": False})
    assert dual.flow is None and dual.vocoder is None
    assert {k.split(".")[0] for k, p in dual.named_parameters() if p.requires_grad} == {"stem_decoder"}
    batch = stem_batch(data)
    for model in (dual, ctl):
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
        model.train()
        losses = []
        for step in range(6):
            loss, logs = model.generator_loss(batch, model.forward_train(batch, step), step)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(logs["vocoder_mel"])
        assert "flow" not in logs and losses[-1] < losses[0]
    dual.eval()
    tokens = dual.encode(batch["wav"])
    outs = {tr: dual.decode(tokens, track=tr) for tr in ("vocals", "accompaniment", "mix")}
    assert all(o.shape == (2, 1, 20 * 960) for o in outs.values())
    assert torch.allclose(outs["mix"], outs["vocals"] + outs["accompaniment"], atol=1e-5)
    # hard routing: the vocal stem is a function of the vocal tokens alone
    other = dict(tokens, accompaniment=torch.randint(0, 32, tokens["accompaniment"].shape))
    assert torch.equal(dual.decode(other, track="vocals"), outs["vocals"])
    only_vocals = {"vocals": tokens["vocals"]}
    assert torch.equal(dual.decode(only_vocals, track="mix"), outs["vocals"])  # no accompaniment stream: silent
    ctl.eval()
    assert ctl.decode(ctl.encode(batch["wav"]), track="vocals").shape == (2, 1, 20 * 960)
    with pytest.raises(UserError, match="multiple of the decoder hop"):
        tiny_duotok(enc, decoder={**spec, "n_fft": 1000})


def test_adversarial_decoders_judge_one_window_per_step_and_the_generator_moves(data):
    spec = {"kind": "spectral", "n_fft": 960, "upsample": 4, "dim": 24, "layers": 1, "coarse_layers": 1}
    disc = {"channels": 2, "periods": [2], "fft_sizes": [256], "stft_channels": 2}
    enc = tiny_encoder().eval()
    model = tiny_duotok(enc, train_stage="decoder", decoder=spec, discriminator=disc, disc_start_step=1,
                        disc_segment_s=0.25)
    batch = stem_batch(data)
    model.train()
    out = model.forward_train(batch, 0)
    assert not model.uses_discriminator(0) and model.uses_discriminator(1)
    d_loss, d_logs = model.discriminator_loss(batch, out, 1)
    fake, real = out["disc_window"]
    n = int(0.25 * SR)
    assert fake.shape[-1] == real.shape[-1] == n < out["voc"].shape[-1]
    start = next(i for i in range(out["voc_ref"].shape[-1] - n + 1)
                 if torch.equal(out["voc_ref"][..., i:i + n], real))
    assert torch.equal(out["voc"][..., start:start + n], fake)  # decoded and true audio: the same window
    _, g_logs = model.generator_loss(batch, out, 1)
    assert out["disc_window"][0] is fake and {"adv", "fm"} <= set(g_logs) and "disc" in d_logs
    # training: the generator's GAN terms reach the stem decoders
    d_loss.backward()
    assert all(p.grad is not None for p in model.discriminator.parameters() if p.requires_grad)
    model.zero_grad()
    loss, _ = model.generator_loss(batch, model.forward_train(batch, 1), 1)
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.stem_decoder.parameters())
    model.eval()  # validation: the middle of each item
    out = model.forward_train(batch, 1)
    mid = (out["voc"].shape[-1] - n) // 2
    assert torch.equal(model._disc_window(out)[1], out["voc_ref"][..., mid:mid + n])


def test_remixed_crops_pair_vocals_with_another_songs_band(data):
    from audiotok.data.stem_dataset import MusicStemDataset

    plain = MusicStemDataset(data, SR, 0.8, train=True, seed=0)
    remix = MusicStemDataset(data, SR, 0.8, train=True, seed=0, remix_prob=1.0, remix_gain_db=6.0)
    valid = MusicStemDataset(data, SR, 0.8, train=False, seed=0, remix_prob=1.0)
    for i in range(3):
        a, b = plain[i], remix[i]
        assert torch.allclose(b["wav"], b["vocals"] + b["accompaniment"], atol=1e-6)
        # the band comes from another song: its spectrum peaks elsewhere than this song's bass
        ratio = b["vocals"].abs().max() / a["vocals"].abs().max()
        assert 10 ** (-6 / 20) - 1e-4 <= ratio <= 10 ** (6 / 20) + 1e-4
        assert not torch.allclose(b["accompaniment"] / b["accompaniment"].abs().max(),
                                  a["accompaniment"] / a["accompaniment"].abs().max(), atol=1e-2)
        assert all(torch.equal(b[k], remix[i][k]) for k in ("wav", "vocals", "accompaniment"))  # seeded
        assert all(torch.equal(valid[i][k], MusicStemDataset(data, SR, 0.8, train=False)[i][k]) for k in b
                   if k != "length")


def test_mixed_train_routing_takes_either_route_in_training_and_the_encode_route_in_validation(data):
    enc = tiny_encoder().eval()
    m = tiny_duotok(enc, train_routing="mixed")
    batch = stem_batch(data)
    wav, t = m._pad(batch["wav"])
    v, a = m._pad(batch["vocals"])[0], m._pad(batch["accompaniment"])[0]
    by_stems = m.track_features(m.track_mels(wav, {"vocals": v, "accompaniment": a}), t)["vocals"]
    by_mask = m.track_features(m.track_mels(wav), t)["vocals"]
    assert not torch.allclose(by_stems, by_mask)

    def routes(n):
        seen = []
        for _ in range(n):
            f = m.forward_train(batch)["vocals"]["feats"]
            seen.append("stems" if torch.allclose(f, by_stems) else "mask" if torch.allclose(f, by_mask) else "?")
        return set(seen)

    assert routes(12) == {"stems", "mask"}
    m.eval()
    assert routes(4) == {"mask"}
    with pytest.raises(UserError, match="train_routing"):
        tiny_duotok(enc, train_routing="both")


def test_stem_targets_keep_the_split_mix_as_input_and_rebuild_the_true_stems(data):
    enc = tiny_encoder().eval()
    band = {"dim": 16, "intermediate_dim": 32, "pitch_band_hz": 1500}
    m = tiny_duotok(enc, branch=band, train_targets="stems")
    batch = stem_batch(data)
    wav, t = m._pad(batch["wav"])
    stems = {k: m._pad(batch[k])[0] for k in ("vocals", "accompaniment")}
    split, true = m.track_inputs(wav, t), m.track_inputs(wav, t, stems)
    hidden = enc.hidden_size
    out = m.forward_train(batch)
    for name in ("vocals", "accompaniment"):
        assert not torch.allclose(split[name], true[name])
        assert torch.allclose(out[name]["feats"], true[name][:, :hidden])  # rebuilt: the true stem's
        assert torch.allclose(out[name]["band"], true[name][:, hidden:])
    # what the branch read is the split mix: its codes are those of the encode-time input
    m.eval()
    h, _ = m.branches["vocals"](split["vocals"])
    assert torch.allclose(m.forward_train(batch)["vocals"]["h"], h, atol=1e-6)
    loss, logs = m.generator_loss(batch, out)
    loss.backward()
    assert logs["band"] > 0 and any(p.grad is not None for p in m.branches.parameters())
    default = tiny_duotok(enc, branch=band).forward_train(batch)  # train_targets: input, as before
    assert torch.allclose(default["vocals"]["feats"], split["vocals"][:, :hidden])
    with pytest.raises(UserError, match="train_targets: stems needs routing: hard"):
        tiny_duotok(enc, routing="none", codebooks={"kind": "vq", "size": 32, "dim": 8, "n_codebooks": 2},
                    separator={"layers": 0}, train_targets="stems")
    with pytest.raises(UserError, match="train_targets"):
        tiny_duotok(enc, train_targets="true")


def test_a_control_trains_on_a_packed_tokenizers_encoder_and_frame_gain_reaches_the_stem_decoders(tmp_path):
    from audiotok.models.loading import load_model, save_model_dir

    spec = {"kind": "spectral", "n_fft": 960, "upsample": 4, "dim": 24, "layers": 1, "coarse_layers": 1}
    enc = tiny_encoder().eval()
    with torch.no_grad():
        for p in enc.parameters():  # weights a fresh encoder would not have
            p.add_(0.01 * torch.randn_like(p))
    release = tiny_duotok(enc, decoder=spec)
    save_model_dir(release, tmp_path / "release")
    ctl = DuoTok(layer=1, routing="none", codebooks={"kind": "vq", "size": 32, "n_codebooks": 2, "shared_map": False},
                 branch={"dim": 16}, decoder={**spec, "frame_gain": True}, vocoder_mel=VOC_MEL,
                 encoder_init_dir=str(tmp_path / "release"))
    for k, v in release.encoder.state_dict().items():
        assert torch.equal(ctl.encoder.state_dict()[k], v), k
    assert ctl.config["encoder_init_dir"] is None and ctl.config["encoder"]["model"] == "duotok_encoder"
    assert all(net.gain is not None for net in ctl.stem_decoder.nets.values())
    assert all(net.gain is None for net in release.stem_decoder.nets.values())
    save_model_dir(ctl, tmp_path / "ctl")  # self-contained: loads without the release
    (tmp_path / "release" / "model.safetensors").unlink()
    again = load_model(tmp_path / "ctl")
    assert all(torch.equal(again.state_dict()[k], v) for k, v in ctl.state_dict().items())


def test_pack_tokens_of_an_earlier_release_keeps_its_token_files_decodable(tmp_path, capsys):
    from audiotok.cli import main
    from audiotok.models.loading import save_model_dir
    from audiotok.tokfile import read_tokens

    spec = {"kind": "spectral", "n_fft": 960, "upsample": 4, "dim": 24, "layers": 1, "coarse_layers": 1}
    enc = tiny_encoder().eval()
    save_model_dir(tiny_duotok(enc, decoder=spec), tmp_path / "r1/model")
    assert main(["pack", "--exp-dir", str(tmp_path / "r1"), "--out", str(tmp_path / "v1"), "--name", "tune",
                 "--version", "1"]) == 0
    new = DuoTok.from_pretrained(tmp_path / "v1")
    with torch.no_grad():
        for p in new.stem_decoder.parameters():  # release 2: other decoder weights, the same tokenizer
            p.add_(0.1 * torch.randn_like(p))
    save_model_dir(new, tmp_path / "r2/model")
    assert main(["pack", "--exp-dir", str(tmp_path / "r2"), "--out", str(tmp_path / "v2"), "--name", "tune",
                 "--version", "2", "--tokens-of", str(tmp_path / "v1")]) == 0
    meta = json.loads((tmp_path / "v2/meta.json").read_text())
    assert meta["version"] == "2" and meta["tokens_version"] == "1"
    wav = tmp_path / "song.wav"
    v, a = song(3, 24000)
    write_audio(wav, v + a, SR)
    for made_by in ("v1", "v2"):  # either release's files decode with the other
        atok = tmp_path / f"{made_by}.atok"
        assert main(["encode", str(wav), "-o", str(atok), "--model", str(tmp_path / made_by)]) == 0
        assert read_tokens(atok)[1]["model_version"] == "1"
        for model in ("v1", "v2"):
            assert main(["decode", str(atok), "-o", str(tmp_path / f"{made_by}_{model}.wav"), "--track", "vocals",
                         "--model", str(tmp_path / model)]) == 0
    a1, _ = read_audio(tmp_path / "v1_v1.wav")
    a2, _ = read_audio(tmp_path / "v1_v2.wav")
    assert not torch.equal(a1, a2)  # the new decoder was used
    with torch.no_grad():
        next(new.branches["vocals"].parameters()).add_(0.1)  # now the tokens would differ
    save_model_dir(new, tmp_path / "r3/model")
    capsys.readouterr()
    assert main(["pack", "--exp-dir", str(tmp_path / "r3"), "--out", str(tmp_path / "v3"), "--name", "tune",
                 "--version", "3", "--tokens-of", str(tmp_path / "v1")]) == 1
    assert "its tokenizer differs" in capsys.readouterr().err and not (tmp_path / "v3").exists()
    assert main(["pack", "--exp-dir", str(tmp_path / "r2"), "--out", str(tmp_path / "v4"), "--name", "other",
                 "--version", "2", "--tokens-of", str(tmp_path / "v1")]) == 1
    assert "earlier version of --name other" in capsys.readouterr().err


def _adam_steps(m, batch, n):
    """n Adam steps of m's trainable parameters on one batch; the logs of each."""
    opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=3e-3)
    logs = []
    for _ in range(n):
        loss, log = m.generator_loss(batch, m.forward_train(batch))
        opt.zero_grad()
        loss.backward()
        opt.step()
        logs.append(log)
    return logs


def test_separator_stage_refines_the_routing_split_from_a_tokenizer_without_one(data, tmp_path):
    from audiotok.models.loading import load_model, save_model_dir

    spec = {"kind": "spectral", "n_fft": 960, "upsample": 4, "dim": 24, "layers": 1, "coarse_layers": 1}
    enc = tiny_encoder().eval()
    release = tiny_duotok(enc, decoder=spec).eval()
    save_model_dir(release, tmp_path / "release")
    tok = dict(layer=1, codebooks={"size": 32, "dim": 8}, branch={"dim": 16, "intermediate_dim": 32}, decoder=spec,
               vocoder=VOC, vocoder_mel=VOC_MEL)
    sep = {"layers": 1, "dim": 16}
    m = DuoTok(**tok, init_dir=str(tmp_path / "release"), train_stage="separator", separator=sep)
    assert {n.split(".")[0] for n, p in m.named_parameters() if p.requires_grad} == {"separator"}
    m.eval()
    batch = stem_batch(data)
    mix = batch["wav"]
    # an untrained refiner splits as the encoder's head does, and the release's decoders came along
    before = release.encode(mix)
    assert all(torch.equal(m.encode(mix)[k], v) for k, v in before.items())
    assert torch.equal(m.decode(before, "vocals"), release.decode(before, "vocals"))

    m.train()
    logs = _adam_steps(m, batch, 40)
    assert logs[0]["sep"] == pytest.approx(logs[0]["sep_head"], rel=1e-5)  # the same split at the start
    assert logs[-1]["sep"] < 0.7 * logs[-1]["sep_head"]  # then better than the head on these crops
    m.eval()
    padded = m._pad(mix)[0]
    vocal_mel = m.track_mels(padded)["vocals"]  # the routing now splits by the refined share
    assert not torch.allclose(vocal_mel, release.track_mels(padded)["vocals"])
    mel = m.encoder.logmel(padded)
    assert torch.equal(vocal_mel, apply_mask(mel, m.separation_mask(mel), m.encoder.ssl.logmel.log_floor)[0])
    save_model_dir(m, tmp_path / "sep")

    # the refiner is part of the tokenizer: the decoder stage keeps it, a config without one is refused
    dec = DuoTok(**tok, init_dir=str(tmp_path / "sep"), train_stage="decoder", separator=sep)
    assert all(torch.equal(dec.state_dict()[k], v) for k, v in m.state_dict().items() if k.startswith("separator."))
    with pytest.raises(UserError, match="was trained with separator="):
        DuoTok(**tok, init_dir=str(tmp_path / "sep"), train_stage="decoder")
    assert torch.equal(load_model(tmp_path / "sep").track_mels(padded)["vocals"], vocal_mel)
    with pytest.raises(UserError, match="needs routing: hard"):
        DuoTok(**{**tok, "codebooks": {"kind": "vq", "size": 32, "shared_map": False}}, routing="none",
               separator=sep, encoder={"model": "duotok_encoder", "model_conf": enc.config})


def test_low_band_splits_the_mix_spectrum_by_the_mel_share_and_tells_a_semitone_apart():
    from audiotok.models.duotok_band import LowBand

    enc = tiny_encoder().eval()
    band = LowBand(enc.ssl.logmel, 2000, enc.stack)
    assert band.n_bins == 2000 * 512 // SR + 1 and band.dim == 4 * band.n_bins
    t = torch.arange(SR) / SR
    tones = torch.stack([torch.sin(2 * math.pi * f * t) for f in (440.0, 466.2)])[:, None]  # A4 and A#4
    p = band.power(tones)
    assert p.shape == (2, band.n_bins, SR // 240 + 1)
    # a share of 1 (0) gives the vocals all (none) of every bin a mel filter covers
    m = enc.ssl.logmel.n_mels
    ones = torch.ones(2, m, p.shape[-1])
    v, a = band.split(p, ones)
    assert torch.allclose(v[:, 1:], p[:, 1:]) and bool((a[:, 1:] <= 1e-5 * p[:, 1:]).all())
    assert torch.allclose(v + a, p)
    feats = band.features(p, 30)
    assert feats.shape == (2, band.dim, 30)
    # LayerNorm'd logs: a semitone moves them far more than halving the level does (which moves them
    # only where the spectrum sinks to the log floor)
    quieter = band.features(band.power(0.5 * tones[:1]), 30)
    level_change, pitch_change = (quieter[0] - feats[0]).pow(2).mean(), (feats[0] - feats[1]).pow(2).mean()
    assert pitch_change > 4 * level_change


def test_pitch_band_branches_train_rebuild_the_band_and_keep_older_tokenizers_loadable(data, tmp_path):
    from audiotok.models.loading import load_model, save_model_dir

    spec = {"kind": "spectral", "n_fft": 960, "upsample": 4, "dim": 24, "layers": 1, "coarse_layers": 1}
    enc = tiny_encoder().eval()
    m = tiny_duotok(enc, decoder=spec, branch={"dim": 16, "intermediate_dim": 32, "pitch_band_hz": 1500})
    hidden, band = enc.hidden_size, m.band.dim
    assert m.branches["vocals"].inp.in_channels == hidden + band
    batch = stem_batch(data)
    padded, t = m._pad(batch["wav"])
    inputs = m.track_inputs(padded, t)
    assert inputs["vocals"].shape == (2, hidden + band, t)
    # the encoder features are the ones without a band; the band splits like the mels (the stems' own given)
    plain = m.track_features(m.track_mels(padded), t)
    assert torch.equal(inputs["vocals"][:, :hidden], plain["vocals"])
    stems = {k: m._pad(batch[k])[0] for k in ("vocals", "accompaniment")}
    by_stems = m.track_inputs(padded, t, stems)
    assert torch.allclose(by_stems["vocals"][:, hidden:], m.band.features(m.band.power(stems["vocals"]), t))
    assert not torch.allclose(by_stems["vocals"][:, hidden:], inputs["vocals"][:, hidden:])

    m.train()
    logs = _adam_steps(m, batch, 30)
    assert logs[-1]["band"] < 0.8 * logs[0]["band"]  # the codes learn to carry the band
    m.eval()
    codes = m.encode(batch["wav"])
    save_model_dir(m, tmp_path / "band")
    back = load_model(tmp_path / "band")
    assert all(torch.equal(back.encode(batch["wav"])[k], v) for k, v in codes.items())

    # a tokenizer whose config predates the setting is one without a band
    old = tiny_duotok(enc, decoder=spec).eval()
    save_model_dir(old, tmp_path / "old")
    cfg = json.loads(json.dumps(old.config))
    text = (tmp_path / "old" / "config.yaml").read_text()
    (tmp_path / "old" / "config.yaml").write_text(re.sub(r"\n *pitch_band_hz: 0.0", "", text))
    assert "pitch_band_hz" not in (tmp_path / "old" / "config.yaml").read_text()
    tok = {k: cfg[k] for k in ("layer", "codebooks", "branch", "vocoder", "vocoder_mel")}
    dec = DuoTok(**tok, decoder=spec, init_dir=str(tmp_path / "old"), train_stage="decoder")
    assert dec.band is None
    with pytest.raises(UserError, match="was trained with branch="):
        DuoTok(**{**tok, "branch": {**tok["branch"], "pitch_band_hz": 1500}}, decoder=spec,
               init_dir=str(tmp_path / "old"), train_stage="decoder")


def test_separator_init_dir_takes_a_trained_refiner_from_a_tokenizer_on_the_same_encoder(tmp_path):
    from audiotok.models.loading import save_model_dir

    spec = {"kind": "spectral", "n_fft": 960, "upsample": 4, "dim": 24, "layers": 1, "coarse_layers": 1}
    sep = {"layers": 1, "dim": 16}
    save_model_dir(tiny_encoder().eval(), tmp_path / "enc")
    other = tiny_encoder()  # another init: another encoder
    save_model_dir(other.eval(), tmp_path / "other_enc")

    def duo(enc="enc", **kw):
        conf = dict(encoder_init_dir=str(tmp_path / enc), layer=1, codebooks={"size": 32, "dim": 8},
                    branch={"dim": 16, "intermediate_dim": 32}, decoder=spec, vocoder=VOC, vocoder_mel=VOC_MEL)
        return DuoTok(**merged(conf, kw))

    donor = duo(separator=sep)
    with torch.no_grad():
        for p in donor.separator.parameters():
            p.normal_()  # a 'trained' refiner: not the zero-initialised one
    save_model_dir(donor, tmp_path / "donor")
    save_model_dir(donor, tmp_path / "donor16", dtype=torch.float16)  # as music-v1 ships
    save_model_dir(duo(), tmp_path / "no_refiner")

    m = duo(separator=sep, separator_init_dir=str(tmp_path / "donor"), branch={"pitch_band_hz": 1500})
    assert all(torch.equal(m.separator.state_dict()[k], v) for k, v in donor.separator.state_dict().items())
    assert m.config["separator_init_dir"] is None  # its weights are the model's own from now on
    assert not any(p.requires_grad for p in m.separator.parameters())  # frozen in the quantizer stage
    # a float16 pack holds the same encoder, rounded: accepted, its refiner taken at float16 precision
    from_fp16 = duo(separator=sep, separator_init_dir=str(tmp_path / "donor16")).separator.state_dict()
    assert all(torch.allclose(from_fp16[k], v, rtol=1e-2, atol=1e-3) for k, v in donor.separator.state_dict().items())
    with pytest.raises(UserError, match="not a duotok with a separation refiner"):
        duo(separator=sep, separator_init_dir=str(tmp_path / "no_refiner"))
    with pytest.raises(UserError, match="its refiner has settings"):
        duo(separator={"layers": 2, "dim": 16}, separator_init_dir=str(tmp_path / "donor"))
    with pytest.raises(UserError, match="another encoder"):
        duo("other_enc", separator=sep, separator_init_dir=str(tmp_path / "donor"))


def test_cross_stem_leakage_loss_counts_only_what_lands_where_the_other_stem_is_louder():
    from audiotok.metrics.quality import stem_leakage
    from audiotok.nn.losses import cross_stem_leakage_loss, stem_bins, stft_power

    t = torch.arange(24000) / 24000
    own = 0.5 * torch.sin(2 * math.pi * 440 * t)[None]      # the "voice": 440 Hz
    other = 0.5 * torch.sin(2 * math.pi * 110 * t)[None]    # the "bass": 110 Hz
    own_bins, other_bins = stem_bins(stft_power(own), stft_power(other))
    assert not (own_bins & other_bins).any() and own_bins.any() and other_bins.any()
    clean = cross_stem_leakage_loss(own, own, other)
    leaky = cross_stem_leakage_loss(own + 0.25 * other, own, other)
    # energy, relative to both stems' (equally loud here): the amplitude 0.25 leaks 0.25 ** 2 / 2
    assert clean.shape == (1,) and float(clean) < 1e-3 and float(leaky) == pytest.approx(0.25 ** 2 / 2, rel=0.1)
    silent = cross_stem_leakage_loss(0.1 * other, 0 * own, other)  # a crop where the own stem is silent
    assert float(silent) == pytest.approx(0.01, rel=0.1)
    assert float(cross_stem_leakage_loss(2 * own, own, other)) < 0.1 * float(leaky)  # louder is not leakier
    est = (own + 0.25 * other).clone().requires_grad_(True)
    cross_stem_leakage_loss(est, own, other).sum().backward()
    assert est.grad.abs().sum() > 0
    # the score's leakage reads the same bins: the leaky estimate leaks, the clean one does not
    assert stem_leakage(own[0].numpy(), other[0].numpy(), (own + 0.25 * other)[0].numpy()) > -20
    assert stem_leakage(own[0].numpy(), other[0].numpy(), own[0].numpy()) < -30


def test_leak_weight_trains_the_stem_decoders_to_leak_less(data):
    spec = {"kind": "spectral", "n_fft": 960, "upsample": 4, "dim": 24, "layers": 1, "coarse_layers": 1}
    enc = tiny_encoder().eval()
    batch = stem_batch(data)
    plain = tiny_duotok(enc, train_stage="decoder", decoder=spec)
    assert "leak" not in _adam_steps(plain, batch, 1)[0]  # off by default: older configs train as they did
    torch.manual_seed(0)
    model = tiny_duotok(enc, train_stage="decoder", decoder=spec, loss_weights={"leak": 50.0})
    logs = _adam_steps(model, batch, 8)
    assert logs[-1]["leak"] < logs[0]["leak"] and logs[0]["loss"] > logs[0]["vocoder_mel"]
    with pytest.raises(UserError, match="loss_weights.leak needs the spectral stem decoders"):
        tiny_duotok(enc, train_stage="decoder", loss_weights={"leak": 1.0})  # the flow-matching decoder
