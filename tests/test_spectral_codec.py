"""The CPU-efficient DualCodec (frame-rate ConvNeXt nets, iSTFT head, CTC content head) on tiny
configs: exact iSTFT, shapes and bitrates, causality, padding that changes nothing, fp32 quantizers."""


import pytest
import torch
import torch.nn.functional as F

from audiotok.models.dualcodec import DualCodec
from audiotok.nn.content_ctc import ContentCTC, phone_error_rate
from audiotok.nn.losses import MultiScaleMelLoss
from audiotok.nn.quantize import ResidualVQ, VectorQuantizer
from audiotok.nn.spectral import OverlapAddISTFT, SpectralDecoder, SpectralEncoder
from test_dualcodec import speechlike
from tiny_models import merged

SSL = {"model": "bestrq", "model_conf": {"encoder": {"dim": 32, "n_layers": 2, "n_heads": 2, "dropout": 0.0},
                                          "targets": {"codebook_size": 64}, "input_sample_rate": 16000}}
PHONES = ["a", "b", "k", "s", "t"]


def tiny(**kw):
    cfg = dict(
        sample_rate=16000, ssl=SSL, backbone="spectral", latent_dim=32,
        spectral_encoder={"dim": 32, "n_mels": 20, "fine_layers": 1, "coarse_layers": 1},
        spectral_decoder={"dim": 32, "fine_layers": 1, "coarse_layers": 1},
        semantic={"dim": 32, "intermediate_dim": 64, "layers": 1, "codebook_size": 64},
        acoustic={"n_codebooks": 3, "codebook_size": 32}, mel={"n_mels": [20, 40], "window_lengths": [256, 512]},
        semantic_mel={"n_mels": [40], "window_lengths": [512]}, discriminator=False,
        content_ctc={"phones": PHONES, "upsample": 2},
    )
    return DualCodec(**merged(cfg, kw))


def voiced(batch=2, n=16000, seed=0):
    return speechlike(batch, n, seed, sr=16000)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_overlap_add_istft_inverts_its_framing_exactly():
    n_fft, hop, frames = 1280, 320, 40
    x = torch.randn(2, frames * hop)
    trim = (n_fft - hop) // 2
    chunks = F.pad(x, (trim, n_fft)).unfold(-1, n_fft, hop)[:, :frames] * torch.hann_window(n_fft)
    y = OverlapAddISTFT(n_fft, hop)(torch.fft.rfft(chunks, dim=-1).transpose(1, 2))
    assert y.shape == x.shape
    assert (y - x).abs().max() < 1e-5


def test_shapes_rates_and_bitrate():
    m = tiny().eval()
    assert m.hop_length == 1280 and m.frame_rate == 12.5
    wav = voiced(1, 16000 * 2 + 100)
    tok = m.encode(wav)
    assert tok["semantic"].shape == (1, 1, 26) and tok["acoustic"].shape == (1, 3, 26)
    assert m.decode(tok).shape == (1, 1, 26 * 1280)
    assert m.decode({"semantic": tok["semantic"]}, length=wav.shape[-1]).shape == wav.shape
    assert m.bitrate() == pytest.approx(12.5 * (6 + 3 * 5))


def test_causal_nets_ignore_the_future():
    enc = SpectralEncoder(16000, 16, dim=16, n_mels=20, fine_layers=1, coarse_layers=1, causal=True).eval()
    dec = SpectralDecoder(16, dim=16, fine_layers=1, coarse_layers=1, causal=True).eval()
    wav = torch.randn(1, 1, 1280 * 8)
    changed = wav.clone()
    changed[..., 1280 * 5:] = torch.randn(1, 1, 1280 * 3)
    with torch.no_grad():
        a, b = enc(wav), enc(changed)
        assert torch.equal(a[..., :5], b[..., :5]) and not torch.equal(a[..., 5:], b[..., 5:])
        z = torch.randn(1, 16, 8)
        z2 = z.clone()
        z2[..., 5:] = torch.randn(1, 16, 3)
        ya, yb = dec(z), dec(z2)
    # only the iSTFT overlap (n_fft - hop samples) reaches back before the changed frames
    cut = 1280 * 5 - (1280 - 320)
    assert torch.allclose(ya[..., :cut], yb[..., :cut], atol=1e-6)
    assert not torch.allclose(ya[..., cut:], yb[..., cut:])


def test_training_step_learns_with_padding_and_phones():
    m = tiny(training={"quantize_warmup_steps": 0, "semantic_only_prob": 0.0})
    opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], 3e-3)
    wav = voiced(2, 16000)
    batch = {"wav": wav, "lengths": torch.tensor([16000, 11000]), "phones": [list("tasks"), None]}
    first = None
    for step in range(25):
        out = m.forward_train(batch, step)
        loss, logs = m.generator_loss(batch, out, step)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first or logs
    assert "ctc" in logs and logs["ctc"] < first["ctc"]
    assert logs["mel"] < first["mel"]
    m.eval()
    with torch.no_grad():
        out = m.forward_train(batch)
        _, logs = m.generator_loss(batch, out)
    assert 0.0 <= logs["per"] <= 1.5


def test_a_bf16_autocast_training_step_runs_and_keeps_the_spectrum_in_fp32():
    # trainer.cpu_amp=bf16 wraps forward and loss in autocast: the iSTFT head must still get fp32
    m = tiny(training={"quantize_warmup_steps": 0, "semantic_only_prob": 0.0}, semantic={"causal": True},
             spectral_encoder={"dim": 32, "n_mels": 20, "fine_layers": 1, "coarse_layers": 1, "causal": True},
             spectral_decoder={"dim": 32, "fine_layers": 1, "coarse_layers": 1, "causal": True})
    batch = {"wav": voiced(2, 16000), "lengths": torch.tensor([16000, 12000]), "phones": [list("tasks"), None]}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = m.forward_train(batch, 0)
        loss, logs = m.generator_loss(batch, out, 0)
    assert out["recon"].dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in m.decoder.parameters() if p.grad is not None)


def test_padding_changes_no_loss():
    """The same utterance alone, or padded inside a longer batch, gives the same losses."""
    m = tiny(training={"semantic_only_prob": 0.0, "quantize_warmup_steps": 0}).eval()
    wav = voiced(1, 12800)
    alone = {"wav": wav, "lengths": torch.tensor([12800]), "phones": [list("taks")]}
    padded = {"wav": F.pad(wav, (0, 3 * 1280)), "lengths": torch.tensor([12800]), "phones": [list("taks")]}
    with torch.no_grad():
        a = m.generator_loss(alone, m.forward_train(alone))[1]
        b = m.generator_loss(padded, m.forward_train(padded))[1]
    keys = ("mel", "ssl_mse", "commit", "codebook", "semantic_commit", "ctc")
    assert {k: round(a[k], 4) for k in keys} == {k: round(b[k], 4) for k in keys}


def test_running_ssl_statistics_skip_padding():
    m = tiny(ssl_features={"stats_batches": 10}).train()
    wav = voiced(1, 12800)
    with torch.no_grad():
        m.ssl_features(wav, 10, update_stats=True, lengths=torch.tensor([12800]))
        mean_alone = m.ssl_mean.clone()
        m.ssl_mean.zero_(), m.ssl_var.fill_(1), m.ssl_frames.zero_(), m.ssl_batches.zero_()
        m.ssl_features(F.pad(wav, (0, 6400)), 15, update_stats=True, lengths=torch.tensor([12800]))
    assert torch.allclose(m.ssl_mean, mean_alone, atol=1e-4)


def test_quantizers_choose_codes_in_fp32_under_bf16_autocast():
    torch.manual_seed(1)
    vq = VectorQuantizer(64, 4096, 8).eval()
    x = torch.randn(4, 64, 200)
    ref = vq.encode(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(vq.encode(x), ref)
        out = vq(x)
        assert torch.equal(out[1], ref) and out[0].dtype == torch.float32
        rvq = ResidualVQ(3, 64, 256, 8).eval()
        assert rvq(x)["z_q"].dtype == torch.float32


def test_ctc_head_and_phone_error_rate():
    head = ContentCTC(8, phones=PHONES, upsample=2)
    h = torch.randn(2, 8, 5)
    assert head.log_probs(h).shape == (2, 10, len(PHONES) + 1)
    loss, n = head.loss(h, torch.tensor([5, 4]), [list("bat"), None])
    assert n == 1 and loss.item() > 0
    assert head.loss(h, torch.tensor([5, 4]), [None, None])[1] == 0
    assert phone_error_rate([["a", "b"]], [["a", "b", "k"]]) == pytest.approx(1 / 3)
    with pytest.raises(Exception, match="not in the model's inventory"):
        head.loss(h, torch.tensor([5, 4]), [["zz"], None])


def test_chunked_decode_is_the_whole_file_decode_at_its_seams(tmp_path):
    import subprocess

    import soundfile as sf

    from audiotok.compress import decode_receptive_frames, decode_tokens, encode_waveform

    m = tiny().eval()
    path = tmp_path / "s.wav"
    subprocess.run(["espeak-ng", "-w", str(path), "one two three four five six seven eight nine ten"], check=True)
    wav, sr = sf.read(path, dtype="float32")
    wav = torch.from_numpy(wav)[None]
    import torchaudio

    wav = torchaudio.functional.resample(wav, sr, 16000)
    tokens = encode_waveform(m, wav)
    reach = decode_receptive_frames(m)
    assert 0 < reach < 40
    whole = decode_tokens(m, tokens, chunk_seconds=1000)
    chunked = decode_tokens(m, tokens, chunk_seconds=0.4)  # many seams, context from the receptive field
    assert chunked.shape == whole.shape
    assert (chunked - whole).abs().max() < 1e-4
    short = decode_tokens(m, tokens, chunk_seconds=0.4, context_seconds=0.08)  # too little context: seams show
    assert (short - whole).abs().max() > 1e-3
    # chunked encoding: the SSL attends to the whole chunk, so some tokens differ from a whole-file pass
    chunked_tokens = encode_waveform(m, wav, chunk_seconds=0.8, context_seconds=0.4)
    differ = sum(int((chunked_tokens[k] != tokens[k]).sum()) for k in tokens)
    total = sum(v.numel() for v in tokens.values())
    assert 0 <= differ < total


def test_utterance_dataset_whole_items_phones_and_length_buckets(tmp_path):
    import soundfile as sf

    from audiotok.data.kaldi_dir import write_data_dir
    from audiotok.data.utterance_dataset import UtteranceDataset

    lengths = {f"s1-{i}": 0.3 + 0.3 * i for i in range(8)}  # 0.3 .. 2.4 s
    wav = {}
    for utt, sec in lengths.items():
        wav[utt] = str(tmp_path / f"{utt}.wav")
        sf.write(wav[utt], voiced(1, int(sec * 16000))[0, 0].numpy(), 16000)
    d = tmp_path / "d"
    write_data_dir(d, wav, {u: "s1" for u in wav})
    (d / "phones").write_text("".join(f"{u} t a s k\n" for u in sorted(wav)))
    ds = UtteranceDataset(d, 16000, max_seconds=2.0, phones=True, seed=3)
    items = {ds.entries[i][0]: ds[i] for i in range(len(ds))}
    assert items["s1-0"]["length"] == 4800 and items["s1-0"]["phones"] == ["t", "a", "s", "k"]
    long = items["s1-7"]  # 2.4 s > max 2.0 s: a crop, whose transcript no longer applies
    assert long["length"] == 32000 and long["phones"] is None
    batch = ds.collate([ds[0], ds[7]])
    assert batch["wav"].shape == (2, 1, 32000) and batch["lengths"].tolist() == [4800, 32000]
    sampler = ds.make_batch_sampler(2, 0, 1, seed=3)
    first = [[int(i) for i in b] for b in sampler.epoch_batches(0)]
    assert first == [[int(i) for i in b] for b in sampler.epoch_batches(0)]  # deterministic per epoch
    assert sorted(i for b in first for i in b) == list(range(8))
    spans = [abs(ds._duration(b[0]) - ds._duration(b[1])) for b in first]
    assert max(spans) <= 0.31  # sorted windows: neighbours in length share a batch
    sampler.set_state(0, 2)
    assert [[int(i) for i in b] for b in sampler] == first[2:]  # resumes at a batch
    with pytest.raises(Exception, match="phones: missing"):
        (d / "phones").unlink()
        UtteranceDataset(d, 16000, phones=True)


def _silence_after_training(frame_gain, steps=150):
    """A tiny decoder taught one latent frame pattern -> a 440 Hz tone, another -> digital silence;
    returns the energy it puts in the silent half relative to the tone half."""
    torch.manual_seed(0)
    dec = SpectralDecoder(8, dim=32, hop_length=40, n_fft=160, upsample=2, fine_layers=1, coarse_layers=1,
                          frame_gain=frame_gain)
    loss_fn = MultiScaleMelLoss(16000, n_mels=[20, 40], window_lengths=[256, 512])
    z = torch.zeros(1, 8, 40)
    z[0, 0, :20] = z[0, 1, 20:] = 1.0
    t = torch.arange(40 * 80) / 16000
    ref = (0.3 * torch.sin(2 * torch.pi * 440 * t) * (t < 0.1))[None, None]
    opt = torch.optim.Adam(dec.parameters(), 3e-3)
    for _ in range(steps):
        loss = loss_fn(dec(z), ref)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        out = dec(z)[0, 0]
    return float(out[2000:].pow(2).mean() / out[:1400].pow(2).mean())


def test_frame_gain_reaches_deep_silence_the_plain_head_does_not():
    # measured: 1.6e-6 with the per-frame gain against 1.2e-2 without, at the same steps
    with_gain, plain = _silence_after_training(True), _silence_after_training(False)
    assert with_gain < 1e-4 and plain > 100 * with_gain


def test_frame_gain_starts_as_the_plain_decoder():
    torch.manual_seed(0)
    plain = SpectralDecoder(8, dim=32, hop_length=40, n_fft=160, upsample=2, fine_layers=1, coarse_layers=1)
    gained = SpectralDecoder(8, dim=32, hop_length=40, n_fft=160, upsample=2, fine_layers=1, coarse_layers=1,
                             frame_gain=True)
    missing, unexpected = gained.load_state_dict(plain.state_dict(), strict=False)
    assert sorted(missing) == ["gain.bias", "gain.weight"] and not unexpected
    z = torch.randn(2, 8, 10)
    assert torch.equal(plain(z), gained(z))
