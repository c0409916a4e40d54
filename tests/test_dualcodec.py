"""DualCodec on tiny configs: shapes, frame rates, bitrates, decoding, training steps, packing."""

import math
import shutil

import pytest
import torch
import torchaudio

from audiotok.errors import UserError
from audiotok.models.dualcodec import DualCodec
from audiotok.models.loading import load_model, save_model_dir
from audiotok.models.ssl import BestRQ
from tiny_models import merged

SSL = {
    "model": "bestrq",
    "model_conf": {"encoder": {"dim": 32, "n_layers": 2, "n_heads": 2, "dropout": 0.0}, "targets": {"codebook_size": 64}},
}


def tiny(strides=(4, 5, 6, 8, 2), **kw):
    cfg = dict(
        ssl=SSL,
        ssl_features={"layer": 1},
        latent_dim=32,
        wave={"encoder_dim": 4, "encoder_strides": list(strides), "decoder_dim": 64, "residual_dilations": [1]},
        semantic={"dim": 32, "intermediate_dim": 64, "layers": 1, "codebook_size": 64},
        acoustic={"n_codebooks": 3, "codebook_size": 32},
        mel={"n_mels": [20, 40], "window_lengths": [256, 512]},
        semantic_mel={"n_mels": [40], "window_lengths": [512]},
        discriminator={"channels": 2, "periods": [2, 3], "fft_sizes": [512]},
    )
    return DualCodec(**merged(cfg, kw))


def speechlike(batch=2, n=12000, seed=0, sr=24000):
    """Harmonic tones with a slow envelope: a waveform a tiny codec can learn quickly."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(n) / float(sr)
    f0 = 120 + 100 * torch.rand(batch, 1, 1, generator=g)
    wav = sum(torch.sin(2 * math.pi * k * f0 * t) / k for k in (1, 2, 3))
    return 0.3 * wav * (0.6 + 0.4 * torch.sin(2 * math.pi * 3 * t))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize("strides,rate,frames", [((4, 5, 6, 8, 2), 12.5, 7), ((4, 5, 6, 8), 25.0, 13)])
def test_shapes_and_frame_rates(strides, rate, frames):
    m = tiny(strides).eval()
    assert m.frame_rate == rate and m.hop_length == 24000 / rate
    assert [s.name for s in m.streams] == ["semantic", "acoustic"]
    wav = speechlike(2, 12000)  # 0.5 s: ceil(0.5 * rate) frames
    tok = m.encode(wav)
    assert tok["semantic"].shape == (2, 1, frames) and tok["acoustic"].shape == (2, 3, frames)
    assert tok["semantic"].dtype == torch.long and int(tok["acoustic"].max()) < 32
    assert set(m.encode(wav, n_q=2)) == {"semantic", "acoustic"} and m.encode(wav, n_q=2)["acoustic"].shape[1] == 1
    assert set(m.encode(wav, n_q=1)) == {"semantic"}  # no empty acoustic stream
    with pytest.raises(UserError):
        m.encode(wav, n_q=5)
    with pytest.raises(UserError):
        m.encode(wav[:, 0])


def test_non_integer_pooling_and_utterance_norm():
    ssl = {"model": "bestrq", "model_conf": {**SSL["model_conf"], "stack": 3}}  # 33.3 Hz SSL frames
    m = tiny(ssl=ssl, ssl_features={"norm": "utterance"}).train()
    assert abs(m.pool - 33.333 / 12.5) < 1e-2
    out = m.forward_train({"wav": speechlike(2, 12000)}, 0)
    assert out["ssl"].shape == (2, 32, 7) and m.ssl_batches.item() == 0  # no running stats kept
    assert torch.isfinite(out["recon"]).all()
    assert m.eval().encode(speechlike(1, 12000))["semantic"].shape == (1, 1, 7)


def test_bitrate_matches_reference_table():
    # the full-size stream layouts (codebook sizes and counts); the bitrate depends on nothing else
    m12 = tiny((4, 5, 6, 8, 2), semantic={"codebook_size": 16384}, acoustic={"codebook_size": 4096, "n_codebooks": 7})
    assert m12.frame_rate == 12.5
    assert [m12.bitrate(n) for n in (1, 6, 8)] == [175, 925, 1225]
    assert m12.tokens_per_second(6) == 75
    m25 = tiny((4, 5, 6, 8), semantic={"codebook_size": 16384}, acoustic={"codebook_size": 1024, "n_codebooks": 11})
    assert [m25.bitrate(n) for n in (1, 3, 12)] == [350, 850, 3100]
    assert m25.tokens_per_second(3) == 75


@pytest.mark.parametrize("n", [12000, 10001, 1500])
def test_encode_decode_length(n):
    m = tiny().eval()
    wav = speechlike(1, n)
    tok = m.encode(wav)
    frames = math.ceil(n / 1920)
    assert tok["semantic"].shape[-1] == frames
    assert m.decode(tok).shape == (1, 1, frames * 1920)
    out = m.decode(tok, length=n)
    assert out.shape == wav.shape and torch.isfinite(out).all() and out.abs().max() <= 1


def test_semantic_only_decode():
    m = tiny().eval()
    wav = speechlike(2, 12000)
    tok = m.encode(wav)
    sem = m.decode({"semantic": tok["semantic"]})
    full = m.decode(tok)
    assert sem.shape == full.shape and torch.isfinite(sem).all()
    assert not torch.allclose(sem, full)
    assert torch.allclose(sem, m.decoder(m.semantic_latent(tok["semantic"][:, 0])))
    # one acoustic codebook decodes too (a prefix of the acoustic stream)
    assert m.decode({"semantic": tok["semantic"], "acoustic": tok["acoustic"][:, :1]}).shape == full.shape
    with pytest.raises(UserError):
        m.decode({"acoustic": tok["acoustic"]})
    with pytest.raises(UserError):
        m.decode({"semantic": tok["semantic"] + 64})  # out of the codebook
    with pytest.raises(UserError):
        m.decode({"semantic": tok["semantic"], "acoustic": tok["acoustic"][..., :3]})


def _optimizers(m, lr=1e-3):
    g = [p for n, p in m.named_parameters() if p.requires_grad and not n.startswith("discriminator.")]
    return torch.optim.AdamW(g, lr, betas=(0.8, 0.9)), torch.optim.AdamW(m.discriminator.parameters(), lr)


def test_gan_step_updates_generator_and_discriminator():
    m = tiny(training={"semantic_only_prob": 0.5}).train()
    opt, opt_d = _optimizers(m)
    batch = {"wav": speechlike(4, 6000)}
    before = {n: p.detach().clone() for n, p in m.named_parameters()}
    out = m.forward_train(batch, step=0)
    assert out["recon"].shape == batch["wav"].shape
    assert m.uses_discriminator(0)
    loss_d, logs_d = m.discriminator_loss(batch, out, 0)
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    loss, logs = m.generator_loss(batch, out, 0)
    opt.zero_grad()
    loss.backward()
    opt.step()
    m.on_train_step_end(0)
    assert torch.isfinite(loss) and torch.isfinite(loss_d)
    for key in ("mel", "ssl_mse", "commit", "codebook", "adv", "fm", "usage_semantic", "usage_acoustic", "loss"):
        assert math.isfinite(logs[key]), key
    assert 0 < logs["usage_semantic"] <= 1 and 0 < logs["usage_acoustic"] <= 1
    changed = {n for n, p in m.named_parameters() if not torch.equal(p.detach(), before[n])}
    for prefix in ("encoder.", "decoder.", "sem_in.", "sem_enc.", "sem_vq.", "sem_out.", "rvq.", "discriminator."):
        assert any(n.startswith(prefix) for n in changed), prefix
    assert not any(n.startswith("ssl.") for n in changed)  # the SSL encoder stays frozen
    assert not m.ssl.training  # and in eval mode although the codec trains


def test_discriminator_starts_at_disc_start_step():
    m = tiny(training={"disc_start_step": 5}).train()
    batch = {"wav": speechlike(2, 6000)}
    out = m.forward_train(batch, 0)
    assert not m.uses_discriminator(4) and m.uses_discriminator(5)
    _, logs = m.generator_loss(batch, out, 0)
    assert "adv" not in logs and "fm" not in logs
    assert tiny(discriminator=False).discriminator is None


def test_warmup_and_semantic_only_paths():
    m = tiny(training={"quantize_warmup_steps": 10, "semantic_only_prob": 0.0}).train()
    batch = {"wav": speechlike(3, 6000)}
    assert m.forward_train(batch, 0)["passthrough"].all()
    assert not m.forward_train(batch, 10)["passthrough"].any()
    m.semantic_only_prob = 1.0
    out = m.forward_train(batch, 10)
    assert out["semantic_only"].all()
    _, logs = m.generator_loss(batch, out, 10)
    assert logs["semantic_mel"] > 0
    # semantic-only output depends on the semantic latent alone
    m.eval()
    ref = m.decoder(out["s_hat"])[..., : batch["wav"].shape[-1]]
    assert torch.allclose(out["recon"], ref, atol=1e-5)


def test_validation_scores_the_semantic_codebook_decoded_alone():
    """valid_quality also logs stoi_semantic: the STOI of each item decoded from codebook 1 alone."""
    from audiotok.metrics.quality import stoi

    m = tiny(training={"valid_quality": True}).eval()
    batch = {"wav": speechlike(2, 24000)}
    with torch.no_grad():
        _, logs = m.generator_loss(batch, m.forward_train(batch, 0), 0)
        semantic = m.decode({"semantic": m.encode(batch["wav"])["semantic"]})
    expected = [stoi(batch["wav"][i, 0].numpy(), semantic[i, 0, :24000].numpy(), 24000) for i in range(2)]
    assert {"pesq", "stoi", "stoi_semantic"} <= set(logs)
    assert logs["stoi_semantic"] == pytest.approx(sum(expected) / 2, abs=1e-4)
    assert logs["stoi_semantic"] != pytest.approx(logs["stoi"], abs=1e-4)


def test_running_ssl_stats_then_frozen():
    m = tiny(ssl_features={"layer": 1, "stats_batches": 2}).train()
    batch = {"wav": speechlike(2, 6000)}
    m.forward_train(batch, 0)
    mean1 = m.ssl_mean.clone()
    assert m.ssl_batches.item() == 1 and m.ssl_mean.abs().sum() > 0
    m.forward_train({"wav": speechlike(2, 6000, seed=1)}, 1)
    assert m.ssl_batches.item() == 2 and not torch.equal(m.ssl_mean, mean1)
    mean2 = m.ssl_mean.clone()
    m.forward_train(batch, 2)
    m.eval().forward_train(batch, 3)
    assert m.ssl_batches.item() == 2 and torch.equal(m.ssl_mean, mean2)
    # the merged stats equal the stats of both batches' raw SSL frames pooled together
    def raw(seed):
        wav, _ = m._pad(speechlike(2, 6000, seed=seed))
        return m.ssl.extract_features(torchaudio.functional.resample(wav, 24000, 16000), 1).transpose(1, 2)

    with torch.no_grad():
        frames = torch.cat([raw(0), raw(1)], dim=-1)
    assert torch.allclose(m.ssl_mean, frames.mean(dim=(0, 2)), atol=1e-4)
    assert torch.allclose(m.ssl_var, frames.var(dim=(0, 2), unbiased=False), rtol=1e-3, atol=1e-5)


def test_training_reduces_mel_loss_on_fixed_batch():
    m = tiny(discriminator=False, training={"semantic_only_prob": 0.0}, acoustic={"dropout": 0.0}).train()
    opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], 1e-2)
    batch = {"wav": speechlike(4, 12000)}

    def eval_mel():
        m.eval()
        with torch.no_grad():
            mel = m.generator_loss(batch, m.forward_train(batch, 100), 100)[1]["mel"]
        m.train()
        return mel

    first = eval_mel()
    for step in range(20):
        loss, _ = m.generator_loss(batch, m.forward_train(batch, step), step)
        opt.zero_grad()
        loss.backward()
        opt.step()
        m.on_train_step_end(step)
    last = eval_mel()
    assert last < 0.75 * first, (first, last)  # measured: 3.65 -> 1.6..2.0 over seeds


def test_pack_and_load_round_trip(tmp_path):
    ssl = BestRQ(**SSL["model_conf"]).eval()
    save_model_dir(ssl, tmp_path / "ssl")
    m = tiny(ssl_init_dir=str(tmp_path / "ssl"))
    assert m.config["ssl_init_dir"] is None and m.config["ssl"]["model"] == "bestrq"
    for k, v in ssl.state_dict().items():  # the SSL weights came from the dir
        assert torch.equal(m.ssl.state_dict()[k], v)
    m.train().forward_train({"wav": speechlike(2, 6000)}, 0)  # fills the running SSL stats
    m.eval()
    wav = speechlike(2, 12000, seed=3)
    tok = m.encode(wav)
    save_model_dir(m, tmp_path / "codec")
    shutil.rmtree(tmp_path / "ssl")  # a packed codec is self-contained
    loaded = load_model(tmp_path / "codec")
    assert isinstance(loaded, DualCodec) and not loaded.training
    tok2 = loaded.encode(wav)
    assert tok.keys() == tok2.keys() and all(torch.equal(tok[k], tok2[k]) for k in tok)
    assert torch.allclose(loaded.decode(tok2), m.decode(tok), atol=1e-6)
    assert torch.equal(loaded.ssl_mean, m.ssl_mean)
    from safetensors.torch import load_file

    assert not any(k.startswith("discriminator.") for k in load_file(str(tmp_path / "codec" / "model.safetensors")))
    with pytest.raises(UserError):
        tiny(ssl_init_dir=str(tmp_path / "missing"))
    with pytest.raises(UserError):
        DualCodec()


def test_default_config_packs_as_plain_yaml(tmp_path):
    m = DualCodec(ssl=SSL, ssl_features={"layer": 1}, latent_dim=16, wave={"encoder_dim": 2, "decoder_dim": 32},
                  semantic={"dim": 16, "intermediate_dim": 16, "layers": 1, "codebook_size": 16},
                  acoustic={"n_codebooks": 1, "codebook_size": 16}, discriminator=False)  # tuple defaults
    save_model_dir(m.eval(), tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.config == m.config and loaded.config["wave"]["encoder_strides"] == [4, 5, 6, 8, 2]
    wav = speechlike(1, 4000)
    assert torch.equal(loaded.encode(wav)["acoustic"], m.encode(wav)["acoustic"])


def test_dead_code_restart_hook():
    m = tiny(codebooks={"usage_decay": 0.0, "dead_threshold": 0.5}).train()
    m.forward_train({"wav": speechlike(2, 6000)}, 0)
    n = m.on_train_step_end(0)
    assert n is not False and n > 0  # 64 semantic codes, a handful of frames: most are dead
    assert m.on_train_step_end(1) is False  # nothing new seen since
