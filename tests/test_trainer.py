"""The trainer, checkpoints, resume, DDP, the audio dataset and `audiotok train`, on tiny real
wav files and tiny real models (a conv autoencoder, a GAN pair, the BEST-RQ encoder)."""

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from audiotok.audio import write_audio
from audiotok.data.datasets import AudioSegmentDataset, EpochIndex, ResumableBatchSampler
from audiotok.data.kaldi_dir import write_data_dir
from audiotok.errors import UserError
from audiotok.train import checkpoint as ckpt_mod
from audiotok.train.checkpoint import CheckpointManager, load_checkpoint, seed_everything
from audiotok.train.trainer import Trainer

REPO = Path(__file__).resolve().parents[1]
SR = 16000
SUBPROCESS_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


# ---- tiny real models ------------------------------------------------------------------------

class ToyAE(nn.Module):
    """A strided conv autoencoder on waveforms with an L1 + MSE reconstruction loss."""

    model_type = "toy_ae"

    def __init__(self, channels=8):
        super().__init__()
        self.config = {"channels": channels}
        self.sample_rate = SR
        self.enc = nn.Sequential(nn.Conv1d(1, channels, 8, stride=4, padding=2), nn.GELU(),
                                 nn.Conv1d(channels, channels, 3, padding=1))
        self.dec = nn.Sequential(nn.GELU(), nn.ConvTranspose1d(channels, 1, 8, stride=4, padding=2))

    def forward_train(self, batch, step):
        wav = batch["wav"]
        return {"y": self.dec(self.enc(wav))[..., :wav.shape[-1]]}

    def generator_loss(self, batch, out, step):
        err = out["y"] - batch["wav"]
        l1, mse = err.abs().mean(), err.square().mean()
        return l1 + mse, {"l1": l1.item(), "mse": mse.item()}

    def describe(self):
        return {"model_type": self.model_type, "sample_rate": SR}


class ToyGAN(ToyAE):
    """ToyAE plus an LSGAN discriminator that joins from step 1 on."""

    model_type = "toy_gan"

    def __init__(self, channels=8):
        super().__init__(channels)
        self.discriminator = nn.Sequential(nn.Conv1d(1, 4, 15, stride=4, padding=7), nn.LeakyReLU(0.2),
                                           nn.Conv1d(4, 1, 3, padding=1))

    def uses_discriminator(self, step):
        return step >= 1

    def discriminator_loss(self, batch, out, step):
        real, fake = self.discriminator(batch["wav"]), self.discriminator(out["y"].detach())
        loss = (real - 1).square().mean() + fake.square().mean()
        return loss, {"d_loss": loss.item()}

    def generator_loss(self, batch, out, step):
        loss, logs = super().generator_loss(batch, out, step)
        if self.uses_discriminator(step):
            adv = (self.discriminator(out["y"]) - 1).square().mean()
            loss = loss + 0.1 * adv
            logs["adv"] = adv.item()
        return loss, logs


BESTRQ_CONF = {"sample_rate": SR, "features": {"n_mels": 16, "n_fft": 256, "hop_length": 160, "stack": 4},
               "encoder": {"dim": 32, "n_layers": 1, "n_heads": 2, "conv_kernel": 3, "dropout": 0.1},
               "targets": {"codebook_size": 32, "codebook_dim": 8}, "masking": {"prob": 0.2, "span": 2}}


def make_model(kind):
    if kind == "bestrq":
        from audiotok.registry import build_model

        return build_model({"model": "bestrq", "model_conf": BESTRQ_CONF})
    return {"ae": ToyAE, "gan": ToyGAN}[kind]()


def make_config(model="toy_ae", model_conf=None, **trainer):
    t = {"max_steps": 6, "log_interval": 2, "valid_interval": 3, "save_interval": 100, "seed": 0,
         "keep_nbest": 2, "grad_clip": 5.0}
    t.update(trainer)
    return {"model": model, "model_conf": model_conf or {}, "dataset": "audio_segments",
            "dataset_conf": {"sample_rate": SR, "segment_seconds": 0.25}, "batch_size": 2, "num_workers": 0,
            "optim": "adamw", "optim_conf": {"lr": 3e-3}, "optim_d_conf": {"lr": 1e-3, "betas": [0.5, 0.9]},
            "scheduler": "warmup_cosine", "scheduler_conf": {"warmup_steps": 2, "min_lr": 1e-4}, "trainer": t}


# ---- tiny real data --------------------------------------------------------------------------

def _tone(rng, seconds, sr):
    t = np.arange(int(seconds * sr)) / sr
    f0 = rng.uniform(120, 400)
    x = sum(0.3 / k * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6)) for k in range(1, 4))
    return (x + 0.01 * rng.standard_normal(t.shape)).astype(np.float32)


def _data_dir(root, name, n, rng):
    wav, utt2spk = {}, {}
    for i in range(n):
        utt = f"spk{i % 2}-{name}{i:02d}"
        sr = 8000 if i % 4 == 3 else SR  # some files need resampling
        seconds = 0.15 if i == 1 else rng.uniform(0.3, 0.8)  # one shorter than a crop
        path = root / "wavs" / f"{utt}.wav"
        write_audio(path, torch.from_numpy(_tone(rng, seconds, sr)), sr)
        wav[utt], utt2spk[utt] = str(path), f"spk{i % 2}"
    write_data_dir(root / name, wav, utt2spk)
    return root / name


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    return _data_dir(root, "train", 8, rng), _data_dir(root, "valid", 4, rng)


def make_trainer(cfg, model, data, exp, resume=False, info=None):
    conf = cfg["dataset_conf"]
    train = AudioSegmentDataset(data[0], train=True, seed=cfg["trainer"]["seed"], **conf)
    valid = AudioSegmentDataset(data[1], train=False, seed=cfg["trainer"]["seed"], **conf)
    return Trainer(cfg, model, train, valid, Path(exp), info=info, resume=resume)


def fit(cfg, kind, data, exp, resume=False, hook=None):
    seed_everything(cfg["trainer"]["seed"])
    model = make_model(kind)
    if hook is not None:
        model.on_train_step_end = hook
    trainer = make_trainer(cfg, model, data, exp, resume=resume)
    return trainer, trainer.train()


# ---- dataset and sampler ---------------------------------------------------------------------

def test_dataset_crops_pad_resample_and_collate(data):
    ds = AudioSegmentDataset(data[0], SR, segment_seconds=0.25, train=True, seed=3)
    seg = int(0.25 * SR)
    a, b = ds[EpochIndex(0, 0)], ds[EpochIndex(0, 0)]
    assert a["wav"].shape == (1, seg) and torch.equal(a["wav"], b["wav"])
    assert not torch.equal(a["wav"], ds[EpochIndex(0, 1)]["wav"])  # a new crop every epoch
    index = {e[0]: i for i, e in enumerate(ds.entries)}
    short = ds[index["spk1-train01"]]  # 0.15 s file: zero-padded, length says how much is real
    assert short["length"] == int(0.15 * SR) and short["wav"][0, short["length"]:].abs().max() == 0
    assert short["wav"][0, :short["length"]].abs().max() > 0.1
    resampled = ds[index["spk1-train03"]]  # an 8 kHz file comes out at 16 kHz with a full crop
    assert resampled["wav"].shape == (1, seg) and resampled["length"] == seg
    # the crop comes from the file: it matches the resampled file at some offset
    from audiotok.audio import read_audio

    full, _ = read_audio(ds.entries[0][1], target_sr=SR)
    offs = [o for o in range(full.shape[-1] - seg + 1) if torch.allclose(full[0, o:o + seg], a["wav"][0], atol=1e-6)]
    assert len(offs) == 1
    valid = AudioSegmentDataset(data[1], SR, segment_seconds=0.25, train=False)
    assert torch.equal(valid[0]["wav"], valid[0]["wav"])
    whole = AudioSegmentDataset(data[1], SR, segment_seconds=None, train=False)
    batch = whole.collate([whole[0], whole[1]])
    assert batch["wav"].shape == (2, 1, int(batch["lengths"].max()))
    assert set(batch["lengths"].tolist()) == {whole[0]["length"], whole[1]["length"]}


def test_sampler_ranks_epochs_and_resume_position():
    s0, s1 = ResumableBatchSampler(10, 2, 0, 2, seed=1), ResumableBatchSampler(10, 2, 1, 2, seed=1)
    assert len(s0) == 2
    b0, b1 = s0.epoch_batches(0), s1.epoch_batches(0)
    flat = [int(i) for b in b0 + b1 for i in b]
    assert len(flat) == 8 and len(set(flat)) == 8  # disjoint across ranks
    assert [int(i) for b in s0.epoch_batches(1) for i in b] != [int(i) for b in b0 for i in b]
    assert all(i.epoch == 1 for b in s0.epoch_batches(1) for i in b)
    s0.set_state(0, 1)
    assert [list(map(int, b)) for b in s0] == [list(map(int, b)) for b in b0[1:]]
    tiny = ResumableBatchSampler(3, 4, 0, 1, seed=0)  # smaller than one batch: repeated to fill it
    assert len(tiny) == 1 and sorted(set(map(int, tiny.epoch_batches(0)[0]))) == [0, 1, 2]
    # EpochIndex survives the pickling to DataLoader workers
    import pickle

    k = pickle.loads(pickle.dumps(EpochIndex(5, 7)))
    assert int(k) == 5 and k.epoch == 7


# ---- training --------------------------------------------------------------------------------

def test_training_reduces_validation_loss(data, tmp_path):
    cfg = make_config(max_steps=25, valid_interval=100, log_interval=5)
    seed_everything(0)
    trainer = make_trainer(cfg, ToyAE(), data, tmp_path / "exp")
    before = trainer.validate()["loss"]
    summary = trainer.train()
    after = trainer.validate()["loss"]
    assert summary["step"] == 25 and summary["stopped_by"] is None
    assert after < 0.7 * before, (before, after)
    state = load_checkpoint(tmp_path / "exp" / "checkpoints" / "latest.pt")
    assert state["step"] == 25 and state["epoch"] == 25 // 4 and state["batches_in_epoch"] == 25 % 4
    assert summary["last_valid"]["loss"] == pytest.approx(after)


def test_gan_step_order_and_separate_optimizers(data, tmp_path):
    cfg = make_config(max_steps=1, valid_interval=1)
    trainer, _ = fit(cfg, "gan", data, tmp_path / "a")
    model = trainer.model
    seed_everything(0)
    init = ToyGAN()
    same = lambda m1, m2: all(torch.equal(p, q) for p, q in zip(m1.parameters(), m2.parameters()))  # noqa: E731
    assert same(model.discriminator, init.discriminator)  # step 0: no discriminator step
    assert not same(model.enc, init.enc)
    assert trainer.opt_d is not None and trainer.opt_d.param_groups[0]["betas"] == (0.5, 0.9)
    assert {id(p) for g in trainer.opt.param_groups for p in g["params"]}.isdisjoint(
        {id(p) for p in model.discriminator.parameters()})
    cfg = make_config(max_steps=3, valid_interval=3, log_interval=1)
    trainer, summary = fit(cfg, "gan", data, tmp_path / "b")
    assert not same(trainer.model.discriminator, init.discriminator)
    assert all(p.requires_grad for p in trainer.model.discriminator.parameters())  # unfrozen after G steps
    assert "adv" in summary["last_valid"] and trainer.sched_d.last_epoch == 3
    log = tmp_path / "b" / "tensorboard"
    assert any(log.iterdir())


def test_best_metric_step_keeps_the_last_validated_weights(data, tmp_path):
    # a GAN's validation loss holds adversarial terms that do not rank checkpoints: rank by recency instead
    cfg = make_config(max_steps=6, valid_interval=2, keep_nbest=2, best_metric="step", best_mode="max")
    trainer, summary = fit(cfg, "gan", data, tmp_path / "exp")
    assert [b["step"] for b in trainer.ckpt.best] == [6, 4] and "step" not in summary["last_valid"]
    state, info = trainer.ckpt.best_weights()
    assert info["metric"] == "step" and info["value"] == 6.0
    for k, v in trainer.model.state_dict().items():
        assert torch.equal(state[k], v), k  # the final weights
    with pytest.raises(UserError, match="best_metric 'steps' is not among the validation logs"):
        fit(make_config(max_steps=2, valid_interval=2, best_metric="steps"), "gan", data, tmp_path / "bad")


@pytest.mark.parametrize("kind", ["bestrq", "gan"])
def test_resume_after_sigterm_is_bit_for_bit(data, tmp_path, kind):
    cfg = make_config(model=kind, max_steps=6, valid_interval=2, save_interval=4)
    straight, s_sum = fit(cfg, kind, data, tmp_path / "straight")
    s_rng = (torch.rand(4), np.random.rand(2), random.random())

    def stop_at_3(step):  # a real signal, delivered during step 3
        if step == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return False

    exp = tmp_path / "stopped"
    first, f_sum = fit(cfg, kind, data, exp, hook=stop_at_3)
    assert f_sum["step"] == 3 and f_sum["stopped_by"] == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handler restored
    assert load_checkpoint(exp / "checkpoints" / "latest.pt")["step"] == 3
    with pytest.raises(Exception, match="--resume"):
        fit(cfg, kind, data, exp)  # refuses to overwrite without --resume
    if kind == "gan":
        with pytest.raises(Exception, match="latest.pt: does not fit the model"):
            seed_everything(0)
            make_trainer(cfg, ToyGAN(channels=4), data, exp, resume=True)
    if kind == "gan":  # the data a step sees does not depend on the number of loader workers
        cfg = {**cfg, "num_workers": 2}
    resumed, r_sum = fit(cfg, kind, data, exp, resume=True)
    r_rng = (torch.rand(4), np.random.rand(2), random.random())
    assert resumed.resumed and r_sum["step"] == 6
    for (name, p), q in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(p, q), name
    for a, b in zip(straight.opt.state_dict()["state"].values(), resumed.opt.state_dict()["state"].values()):
        assert torch.equal(a["exp_avg_sq"], b["exp_avg_sq"])
    assert torch.equal(s_rng[0], r_rng[0]) and np.array_equal(s_rng[1], r_rng[1]) and s_rng[2] == r_rng[2]
    assert s_sum["best"] == r_sum["best"] and s_sum["last_valid"] == r_sum["last_valid"]


class NaNAfter(ToyAE):
    """Its loss turns NaN from step `bad_from` on (as a diverging model's would)."""

    def __init__(self, bad_from):
        super().__init__()
        self.bad_from = bad_from

    def generator_loss(self, batch, out, step):
        loss, logs = super().generator_loss(batch, out, step)
        return (loss * float("nan") if step >= self.bad_from else loss), {}


def test_non_finite_steps_are_skipped_then_stop(data, tmp_path):
    cfg = make_config(max_steps=4, valid_interval=100, max_nonfinite=3)
    seed_everything(0)
    trainer = make_trainer(cfg, NaNAfter(bad_from=2), data, tmp_path / "a")
    trainer.max_steps = 2
    trainer.train()
    after_two = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.max_steps = 4  # two NaN steps: skipped, weights untouched, training goes on
    trainer.train()
    assert trainer.step == 4 and trainer.nonfinite_streak == 2
    assert all(torch.equal(v, after_two[k]) for k, v in trainer.model.state_dict().items())
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    trainer.max_steps = 6
    with pytest.raises(UserError, match="non-finite gradients for 3 steps in a row at step 5"):
        trainer.train()


# ---- checkpoints -----------------------------------------------------------------------------

def test_checkpoint_save_is_atomic(tmp_path, monkeypatch):
    mgr = CheckpointManager(tmp_path / "ck")
    mgr.save_latest({"step": 1, "model": {"w": torch.ones(3)}})
    real_save = torch.save

    def dying_save(obj, f, *a, **k):  # writes half a file, then the disk "fails"
        real_save(obj, f, *a, **k)
        with open(f, "r+b") as fh:
            fh.truncate(10)
        raise OSError("No space left on device")

    monkeypatch.setattr(ckpt_mod.torch, "save", dying_save)
    with pytest.raises(OSError):
        mgr.save_latest({"step": 2, "model": {"w": torch.zeros(3)}})
    monkeypatch.undo()
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["latest.pt"]
    state = mgr.load_latest()
    assert state["step"] == 1 and torch.equal(state["model"]["w"], torch.ones(3))
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(Exception, match="junk.pt: cannot read checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")


def test_best_checkpoint_selection_and_export(tmp_path, monkeypatch):
    mgr = CheckpointManager(tmp_path / "ck", metric="loss", keep_nbest=2)
    for step, value in [(1, 5.0), (2, 3.0), (3, 4.0), (4, 1.0), (5, 2.0), (6, float("nan"))]:
        mgr.update_best(step, value, {"w": torch.full((2,), float(step))})
    assert [(b["step"], b["value"]) for b in mgr.best] == [(4, 1.0), (5, 2.0)]
    names = sorted(p.name for p in (tmp_path / "ck").iterdir())
    assert names == ["best.json", "best.step4.pt", "best.step5.pt"]
    assert json.loads((tmp_path / "ck" / "best.json").read_text())[0]["step"] == 4
    state, info = mgr.best_weights()
    assert info["step"] == 4 and torch.equal(state["w"], torch.full((2,), 4.0))
    assert CheckpointManager(tmp_path / "ck").read_index() == mgr.best  # what a reader of the exp dir sees
    assert CheckpointManager(tmp_path / "none").read_index() == []
    # the packed weights are step 4's: the meta says so, and keeps the run's last step apart
    import audiotok.models.loading as loading

    model, written = torch.nn.Module(), {}
    model.w = torch.nn.Parameter(torch.zeros(2))
    monkeypatch.setattr(loading, "save_model_dir",
                        lambda m, out, meta=None: written.update(meta=meta, w=m.w.detach().clone()) or out)
    ckpt_mod.export_model(mgr, model, tmp_path / "model", {"steps": 6, "training_data": "d"})
    monkeypatch.undo()
    assert written["meta"]["steps"] == 4 and written["meta"]["steps_run"] == 6
    assert written["meta"]["best_metric"]["step"] == 4 and torch.equal(written["w"], torch.full((2,), 4.0))
    mgr.save_latest({"step": 5})
    mgr.update_best(6, 0.5, {"w": torch.zeros(2)})  # written after latest, then a crash
    reloaded = CheckpointManager(tmp_path / "ck", keep_nbest=2)
    reloaded.load_latest()  # resuming from step 5 forgets (and deletes) the step-6 file
    assert [b["step"] for b in reloaded.best] == [4, 5] and not (tmp_path / "ck" / "best.step6.pt").exists()
    # resumed with another best metric: the old ranking is dropped (its values are another quantity)
    other = CheckpointManager(tmp_path / "ck", metric="loss_srh", keep_nbest=2)
    other.load_latest()
    assert other.best == [] and not (tmp_path / "ck" / "best.step4.pt").exists()
    other.update_best(7, 9.0, {"w": torch.zeros(2)})
    assert [b["step"] for b in other.best] == [7]
    maxi = CheckpointManager(tmp_path / "m", metric="acc", keep_nbest=1, mode="max")
    for step, value in [(1, 0.2), (2, 0.9), (3, 0.5)]:
        maxi.update_best(step, value, {})
    assert [b["step"] for b in maxi.best] == [2]


def test_export_averages_the_n_best_checkpoints(tmp_path, monkeypatch):
    mgr = CheckpointManager(tmp_path / "ck", metric="loss", keep_nbest=3)
    for step, value in [(1, 5.0), (2, 3.0), (3, 4.0), (4, 1.0)]:
        mgr.update_best(step, value, {"w": torch.full((2,), float(step)), "n": torch.tensor([step])})
    state, info = mgr.best_weights(average=2)  # steps 4 and 2
    assert info["step"] == 4 and info["averaged_steps"] == [4, 2]
    assert torch.equal(state["w"], torch.full((2,), 3.0)) and state["w"].dtype == torch.float32
    assert torch.equal(state["n"], torch.tensor([4]))  # not averaged: the best's
    state, info = mgr.best_weights(average=10)  # as many as are kept
    assert info["averaged_steps"] == [4, 2, 3] and torch.allclose(state["w"], torch.full((2,), 3.0))
    assert "averaged_steps" not in mgr.best_weights(average=1)[1]
    import audiotok.models.loading as loading

    model, written = torch.nn.Module(), {}
    model.w = torch.nn.Parameter(torch.zeros(2))
    model.register_buffer("n", torch.zeros(1, dtype=torch.long))
    monkeypatch.setattr(loading, "save_model_dir",
                        lambda m, out, meta=None: written.update(meta=meta, w=m.w.detach().clone()) or out)
    ckpt_mod.export_model(mgr, model, tmp_path / "model", {"steps": 4}, average=2)
    assert written["meta"]["best_metric"] == {"name": "loss", "value": 1.0, "step": 4, "averaged_steps": [4, 2]}
    assert torch.equal(written["w"], torch.full((2,), 3.0))
    with pytest.raises(UserError, match="different models"):
        ckpt_mod.average_weights([{"w": torch.zeros(2)}, {"w": torch.zeros(3)}])


def test_cli_resume_of_a_finished_run_packs_the_mean_of_its_best(data, tmp_path):
    """ESPnet's valid.loss.ave: trainer.average_nbest packs the mean of the n best checkpoints, also when a
    finished run is resumed only to change that."""
    from safetensors.torch import load_file

    cfg = make_config(model="bestrq", model_conf=BESTRQ_CONF, max_steps=3, valid_interval=1, log_interval=1)
    conf = _write_yaml(tmp_path / "c.yaml", cfg)
    exp = tmp_path / "exp"
    base = [sys.executable, "-m", "audiotok", "train", "--config", str(conf), "--train-data", str(data[0]),
            "--valid-data", str(data[1]), "--exp-dir", str(exp), "--resume", "trainer.keep_nbest=3"]

    def run(*extra):
        return subprocess.run(base + list(extra), env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=300)

    assert run().returncode == 0
    best = json.loads((exp / "checkpoints" / "best.json").read_text())
    assert len(best) == 3
    out = run("trainer.average_nbest=4", "--allow-config-change")
    assert out.returncode == 1 and "average_nbest must be between 1 and keep_nbest (3)" in out.stderr
    out = run("trainer.average_nbest=3", "--allow-config-change")
    assert out.returncode == 0, out.stderr[-2000:]
    log = (exp / "train.log").read_text()
    assert "packed the mean of the best (steps " in log
    meta = json.loads((exp / "model" / "meta.json").read_text())
    assert sorted(meta["best_metric"]["averaged_steps"]) == [1, 2, 3] and meta["steps_run"] == 3
    states = [load_checkpoint(exp / "checkpoints" / b["file"])["model"] for b in best]
    packed = load_file(str(exp / "model" / "model.safetensors"))
    floats = [k for k, v in packed.items() if torch.is_floating_point(v)]
    assert floats and not all(torch.equal(states[0][k], states[1][k]) for k in floats)
    for k in floats:
        assert torch.allclose(packed[k], sum(s[k] for s in states) / 3, atol=1e-6), k
    r = subprocess.run([sys.executable, "-m", "audiotok", "pack", "--exp-dir", str(exp), "--out", str(tmp_path / "rel"),
                        "--name", "tiny-ssl", "--version", "1", "--card"],
                       env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    steps = ", ".join(map(str, meta["best_metric"]["averaged_steps"]))
    card = (tmp_path / "rel" / "MODEL_CARD.md").read_text()
    assert f"(weights: the mean of steps {steps}, the 3 best validations)" in card


def test_cli_best_metric_step_packs_and_cards_the_last_validated_weights(data, tmp_path):
    cfg = make_config(model="bestrq", model_conf=BESTRQ_CONF, max_steps=2, valid_interval=1, log_interval=1,
                      best_metric="step", best_mode="max")
    exp = tmp_path / "exp"
    cmd = [sys.executable, "-m", "audiotok", "train", "--config", str(_write_yaml(tmp_path / "c.yaml", cfg)),
           "--train-data", str(data[0]), "--valid-data", str(data[1]), "--exp-dir", str(exp)]
    out = subprocess.run(cmd, env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "packed the last validated (step 2) weights" in (exp / "train.log").read_text()
    r = subprocess.run([sys.executable, "-m", "audiotok", "pack", "--exp-dir", str(exp), "--out", str(tmp_path / "rel"),
                        "--name", "tiny-ssl", "--version", "1", "--card"],
                       env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "(weights of step 2, the last validated)" in (tmp_path / "rel" / "MODEL_CARD.md").read_text()


def test_resume_removes_temp_files_of_killed_saves(tmp_path):
    ck = tmp_path / "ck"
    mgr = CheckpointManager(ck, keep_nbest=2)
    mgr.update_best(1, 1.0, {"w": torch.ones(2)})
    mgr.save_latest({"step": 1, "model": {"w": torch.ones(2)}})
    real = sorted(p.name for p in ck.iterdir())
    # what kill -9 in the middle of atomic writes leaves (temp names as audiotok.fileio makes them)
    orphans = [".latest.pt.k2j3_x.tmp", ".best.step2.pt.abc123.tmp", ".best.json.q9w8.tmp"]
    for name in orphans:
        (ck / name).write_bytes(b"\0" * 4096)
    (ck / "notes.tmp").write_text("not ours")
    CheckpointManager(ck, keep_nbest=2).load_latest()
    left = sorted(p.name for p in ck.iterdir())
    assert left == sorted(real + ["notes.tmp"]), left
    assert load_checkpoint(ck / "latest.pt")["step"] == 1 and (ck / "best.step1.pt").is_file()


@pytest.mark.filterwarnings("ignore:Detected call of")
def test_schedules_and_optimizer_groups():
    from audiotok.train.optim import build_optimizer, build_scheduler

    lin = nn.Linear(4, 4)
    opt = build_optimizer(lin.named_parameters(), "adamw", {"lr": 1.0, "weight_decay": 0.1})
    assert [g["weight_decay"] for g in opt.param_groups] == [0.1, 0.0]  # the bias is not decayed
    sched = build_scheduler(opt, "warmup_cosine", {"warmup_steps": 4, "min_lr": 0.1}, max_steps=14)
    lrs = []
    for _ in range(16):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0]) and lrs[9] == pytest.approx(0.55)
    assert lrs[14] == pytest.approx(0.1) and lrs[15] == pytest.approx(0.1) and lrs == sorted(lrs[:4]) + lrs[4:]
    opt = build_optimizer(lin.named_parameters(), "adam", {"lr": 2.0})
    sched = build_scheduler(opt, "exponential", {"gamma": 0.5})
    sched.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5)
    from audiotok.errors import UserError

    with pytest.raises(UserError, match="unknown scheduler 'cosine'"):
        build_scheduler(opt, "cosine")
    with pytest.raises(UserError, match="optim_conf: unknown keys"):
        build_optimizer(lin.named_parameters(), "adamw", {"learning_rate": 1})


# ---- data parallel ---------------------------------------------------------------------------

DDP_SCRIPT = """
import os, signal, sys, torch
sys.path.insert(0, {tests!r})
from pathlib import Path
from test_trainer import ToyAE, make_config, make_trainer
from audiotok.train import distributed as D
from audiotok.train.checkpoint import seed_everything

info = D.init_distributed(0)
data = (Path({train!r}), Path({valid!r}))
cfg = make_config(max_steps=3, valid_interval=3, log_interval=1)

def stop_rank0(step):  # only rank 0 is signalled: both ranks must stop after the same step
    if step == 1 and info.rank == 0:
        os.kill(os.getpid(), signal.SIGTERM)
    return False

seed_everything(100 + info.rank)  # different initial weights: rank 0's must win
model = ToyAE()
model.on_train_step_end = stop_rank0
first = make_trainer(cfg, model, data, Path({exp!r}), info=info).train()
assert first["step"] == 2 and first["stopped_by"] == signal.SIGTERM, first
model = ToyAE()  # resume both ranks from rank 0's checkpoint (weights, optimizer, each rank's RNG)
summary = make_trainer(cfg, model, data, Path({exp!r}), info=info, resume=True).train()
assert summary["step"] == 3
torch.save({{"model": model.state_dict(), "valid": summary["last_valid"], "backend": info.backend}},
           Path({exp!r}) / f"rank{{info.rank}}.pt")
D.barrier(info)  # as `audiotok train` does: no rank tears the group down while the other still uses it
D.cleanup()
D.leave_worker(0)  # as `audiotok train` does: gloo's threads can abort interpreter teardown (seen in CI)
"""


def test_ddp_two_cpu_processes_stop_resume_and_match_one_process(data, tmp_path):
    exp = tmp_path / "ddp"
    exp.mkdir()
    script = tmp_path / "ddp_run.py"
    script.write_text(DDP_SCRIPT.format(tests=str(REPO / "tests"), train=str(data[0]), valid=str(data[1]),
                                        exp=str(exp)))
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          str(script)], env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    r0, r1 = (torch.load(exp / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert r0["backend"] == "gloo"
    for name, p in r0["model"].items():
        assert torch.equal(p, r1["model"][name]), name
    latest = load_checkpoint(exp / "checkpoints" / "latest.pt")  # written once, by rank 0
    assert latest["world_size"] == 2 and len(latest["rng"]) == 2
    assert not torch.equal(latest["rng"][0]["torch"], latest["rng"][1]["torch"])
    for name, p in r0["model"].items():
        assert torch.equal(latest["model"][name], p)
    # one process with batch 2 x 2 sees the same samples per step: same result up to float order
    cfg = make_config(max_steps=3, valid_interval=3, log_interval=1)
    cfg["batch_size"] = 4
    seed_everything(100)
    single = make_trainer(cfg, ToyAE(), data, tmp_path / "single")
    s_sum = single.train()
    for name, p in single.model.state_dict().items():
        torch.testing.assert_close(p, r0["model"][name], atol=2e-5, rtol=1e-4)
    assert r0["valid"]["loss"] == pytest.approx(s_sum["last_valid"]["loss"], rel=1e-4)


# ---- the command -----------------------------------------------------------------------------

def _write_yaml(path, cfg):
    import yaml

    path.write_text(yaml.safe_dump(cfg))
    return path


def test_cli_train_ddp_cpu_writes_a_loadable_exp_dir(data, tmp_path):
    cfg = make_config(model="bestrq", model_conf=BESTRQ_CONF, max_steps=4, valid_interval=2, log_interval=2,
                      amp="bf16")
    conf = _write_yaml(tmp_path / "bestrq_debug.yaml", cfg)
    exp = tmp_path / "exp"
    cmd = [sys.executable, "-m", "audiotok", "train", "--config", str(conf), "--train-data", str(data[0]),
           "--valid-data", str(data[1]), "--exp-dir", str(exp), "--ddp-cpu", "2", "--seed", "5",
           "trainer.keep_nbest=1", "optim_conf.lr=0.002"]
    out = subprocess.run(cmd, env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    from audiotok.config import load_config

    resolved = load_config(exp / "config.yaml")
    assert resolved["trainer"]["seed"] == 5 and resolved["optim_conf"]["lr"] == 0.002
    log = (exp / "train.log").read_text()
    assert "2 process(es) on cpu" in log and "step 4/4" in log and "valid step 4" in log
    assert "trainer.amp=bf16 applies to CUDA; on cpu: fp32" in log
    best_file = json.loads((exp / "checkpoints" / "best.json").read_text())[0]["file"]
    assert sorted(p.name for p in (exp / "checkpoints").iterdir()) == sorted(["best.json", "latest.pt", best_file])
    assert any(p.name.startswith("events.out.tfevents") for p in (exp / "tensorboard").iterdir())
    import audiotok

    model = audiotok.load_model(exp)
    meta = json.loads((exp / "model" / "meta.json").read_text())
    assert meta["training_data"] == str(data[0]) and meta["steps"] == 4 and meta["best_metric"]["name"] == "loss"
    best = json.loads((exp / "checkpoints" / "best.json").read_text())[0]
    state = load_checkpoint(exp / "checkpoints" / best["file"])["model"]
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    feats = model.extract_features(torch.randn(1, 1, SR // 2), layer=-1)
    assert feats.shape[-1] == 32


def test_cli_errors_are_one_line(data, tmp_path, capsys):
    from audiotok.cli import main

    assert main(["train", "--config", str(tmp_path / "nope.yaml"), "--train-data", str(data[0]),
                 "--valid-data", str(data[1]), "--exp-dir", str(tmp_path / "e")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"audiotok train: error: {tmp_path / 'nope.yaml'}: config file not found"]
    conf = _write_yaml(tmp_path / "c.yaml", make_config())
    assert main(["train", "--config", str(conf), "--train-data", str(tmp_path / "missing"),
                 "--valid-data", str(data[1]), "--exp-dir", str(tmp_path / "e")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing: --train-data is not a directory" in err[0]
    assert main(["train", "--config", str(conf), "--train-data", str(data[0]), "--valid-data", str(data[1]),
                 "--exp-dir", str(tmp_path / "e"), "trainer.max_step=3"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "trainer: unknown keys ['max_step']" in err[0]
    assert not (tmp_path / "e").exists()
    assert main(["train", "--config", str(conf), "--train-data", str(data[0]), "--valid-data", str(data[1]),
                 "--exp-dir", str(tmp_path / "e"), "--print-config", "batch_size=3"]) == 0
    import yaml

    assert yaml.safe_load(capsys.readouterr().out)["batch_size"] == 3


def test_cli_sigterm_saves_and_resume_finishes(data, tmp_path, capsys):
    """`audiotok train` (in this process) gets a real SIGTERM mid-run, then --resume finishes it."""
    import threading
    import time

    from audiotok.cli import main

    cfg = make_config(max_steps=100000, log_interval=1, valid_interval=100000)
    cfg.update(model="bestrq", model_conf=BESTRQ_CONF, scheduler="constant", scheduler_conf={})
    conf = _write_yaml(tmp_path / "c.yaml", cfg)
    exp = tmp_path / "exp"
    argv = ["train", "--config", str(conf), "--train-data", str(data[0]), "--valid-data", str(data[1]),
            "--exp-dir", str(exp)]

    def kill_after_step_2():
        deadline = time.time() + 120
        while time.time() < deadline:
            if (exp / "train.log").is_file() and "step 2/100000" in (exp / "train.log").read_text():
                os.kill(os.getpid(), signal.SIGTERM)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_after_step_2, daemon=True)
    killer.start()
    assert main(argv) == 128 + signal.SIGTERM
    killer.join()
    stopped = load_checkpoint(exp / "checkpoints" / "latest.pt")["step"]
    assert stopped >= 2 and f"stopped at step {stopped}" in (exp / "train.log").read_text()
    assert not (exp / "model").exists() and "Traceback" not in capsys.readouterr().err
    assert main(argv + ["--resume", f"trainer.max_steps={stopped + 2}"]) == 0
    log = (exp / "train.log").read_text()
    assert f"resuming from step {stopped} of {stopped + 2}" in log and "trainer.max_steps" in log
    assert json.loads((exp / "model" / "meta.json").read_text())["steps"] == stopped + 2


def test_cpu_budget_stops_training_and_history_records_cpu_hours(data, tmp_path):
    cfg = make_config(max_steps=10_000, valid_interval=5, log_interval=5, save_interval=5)
    cfg["trainer"]["max_cpu_hours"] = 1e-9  # spent after the first logged steps
    trainer = make_trainer(cfg, ToyAE(), data, tmp_path / "exp")
    summary = trainer.train()
    assert summary["step"] == 5 and summary["stopped_by"] is None
    rows = [json.loads(x) for x in (tmp_path / "exp" / "valid_history.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [5] and rows[0]["cpu_hours"] > 0 and "loss" in rows[0]
    state = torch.load(tmp_path / "exp" / "checkpoints" / "latest.pt", weights_only=False)
    assert state["cpu_seconds"] > 0 and state["wall_seconds"] > 0
    assert [seg["from_step"] for seg in state["segments"]] == [0] and state["segments"][0]["git"]
    # the curve and the race table are read back from that history
    md = tmp_path / "RESULTS.md"
    cmd = [sys.executable, "-m", "audiotok", "curves", str(tmp_path / "exp"), str(tmp_path / "exp"), "--names", "a,b",
           "--summary", "--results-md", str(md), "--section", "race"]
    out = subprocess.run(cmd, env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    rows = [ln for ln in md.read_text().splitlines() if ln.startswith("| a |") or ln.startswith("| b |")]
    assert len(rows) == 2 and "| 5 |" in rows[0]
    out = subprocess.run(cmd[:4] + [str(tmp_path / "nothing")], env=SUBPROCESS_ENV, capture_output=True, text=True)
    assert out.returncode == 1 and "valid_history.jsonl: missing" in out.stderr


def test_curves_tables_show_the_metrics_their_exps_logged():
    from audiotok.bin.curves import table

    lm = table([("", {"step": 1000, "cpu_hours": 0.3, "wer_asr": 0.42, "acc_asr": 0.5, "loss": 4.0})], "")
    assert lm.splitlines()[0] == "|  | CPU h | step | ASR WER % | ASR token acc |" and "| 42.0% | 0.500 |" in lm
    codec = table([("A", {"step": 5, "cpu_hours": 0.1, "mel": 3.0, "per": 0.5}), ("B", {"step": 5, "cpu_hours": 0.1})])
    assert codec.splitlines()[0] == "| exp | CPU h | step | mel | PER % |" and "| B | 0.100 | 5 | — | — |" in codec
    acoustic = table([("", {"step": 250, "cpu_hours": 0.1, "loss_acoustic": 6.383, "acc_acoustic": 0.0225})], "")
    assert acoustic.splitlines()[0] == "|  | CPU h | step | acoustic loss | acoustic acc |" and "| 6.383 | 0.022 |" in acoustic
    student = table([("", {"step": 500, "cpu_hours": 0.1, "cos": 0.8251, "l1": 0.4264, "loss": 0.6})], "")
    assert student.splitlines()[0] == "|  | CPU h | step | cosine to teacher | L1 to teacher |" and "| 0.825 | 0.426 |" in student


def test_cli_resume_refuses_a_changed_config(data, tmp_path):
    cfg = make_config(model="bestrq", model_conf=BESTRQ_CONF, max_steps=2, valid_interval=2, log_interval=1)
    conf = _write_yaml(tmp_path / "c.yaml", cfg)
    exp = tmp_path / "exp"
    base = [sys.executable, "-m", "audiotok", "train", "--config", str(conf), "--train-data", str(data[0]),
            "--valid-data", str(data[1]), "--exp-dir", str(exp), "--resume"]

    def run(*extra):
        return subprocess.run(base + list(extra), env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=300)

    assert run().returncode == 0
    before = (exp / "config.yaml").read_text()
    out = run("optim_conf.lr=0.5")
    assert out.returncode == 1 and "optim_conf.lr" in out.stderr and "--allow-config-change" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and (exp / "config.yaml").read_text() == before
    assert run("trainer.max_steps=3").returncode == 0  # extending a run is a normal resume
    assert run("optim_conf.lr=0.5", "trainer.max_steps=4", "--allow-config-change").returncode == 0
    assert sorted(p.name for p in exp.glob("config.before_resume*.yaml")) == ["config.before_resume1.yaml",
                                                                              "config.before_resume2.yaml"]
    # each segment keeps its command line and what changed, so a model card shows how every resume ran
    from audiotok.train.checkpoint import training_state

    segs = training_state(exp)["segments"]
    assert [s["from_step"] for s in segs] == [0, 2, 3]
    assert "config_changed" not in segs[0] and segs[0]["command"].startswith("audiotok train --config")
    assert segs[1]["config_changed"] == ["trainer.max_steps"] and segs[1]["command"].endswith("trainer.max_steps=3")
    assert sorted(segs[2]["config_changed"]) == ["optim_conf.lr", "trainer.max_steps"]
    assert "optim_conf.lr=0.5 trainer.max_steps=4 --allow-config-change" not in segs[2]["command"]  # options first
    assert segs[2]["command"].endswith("--resume --allow-config-change optim_conf.lr=0.5 trainer.max_steps=4")


def test_cli_init_from_starts_a_new_run_from_packed_weights(data, tmp_path):
    from safetensors.torch import load_file

    from audiotok.bin.train import init_weights
    from audiotok.registry import build_model

    cfg = make_config(model="bestrq", model_conf=BESTRQ_CONF, max_steps=2, valid_interval=2, log_interval=1)
    conf = _write_yaml(tmp_path / "c.yaml", cfg)
    base = [sys.executable, "-m", "audiotok", "train", "--config", str(conf), "--train-data", str(data[0]),
            "--valid-data", str(data[1])]
    out = subprocess.run(base + ["--exp-dir", str(tmp_path / "first")], env=SUBPROCESS_ENV, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    packed = load_file(str(tmp_path / "first" / "model" / "model.safetensors"))
    fresh = build_model(cfg)
    assert not all(torch.equal(fresh.state_dict()[k], v) for k, v in packed.items())
    init_weights(fresh, tmp_path / "first")
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in packed.items())
    out = subprocess.run(base + ["--exp-dir", str(tmp_path / "second"), "--init-from", str(tmp_path / "first")],
                         env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "initial weights from" in (tmp_path / "second" / "train.log").read_text()
    # where the weights came from is recorded, packed and named on the model card, with the hours behind them
    from audiotok.train.checkpoint import init_origin, training_state

    origin = json.loads((tmp_path / "second" / "init_from.json").read_text())
    first_hours = training_state(tmp_path / "first")["cpu_hours"]
    assert origin["model"] == str(tmp_path / "first" / "model") and origin["step"] == 2
    assert origin["cpu_hours"] == first_hours and origin["partial"] is False
    r = subprocess.run([sys.executable, "-m", "audiotok", "pack", "--exp-dir", str(tmp_path / "second"), "--out",
                        str(tmp_path / "rel"), "--name", "tiny-ssl", "--version", "2", "--card"],
                       env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    card = (tmp_path / "rel" / "MODEL_CARD.md").read_text()
    first = tmp_path / "first" / "model"
    assert f"- started from `{first}`: all its weights, its step 2, {first_hours} CPU hours" in card
    assert f"; `audiotok train --config {conf} " in card and f"--exp-dir {tmp_path / 'second'}" in card
    chained = init_origin(tmp_path / "rel")  # a third run from the release: the chain of origins goes along
    assert chained["model"] == "tiny-ssl" and chained["version"] == "2" and chained["started_from"] == origin
    assert chained["step"] == json.loads((tmp_path / "rel" / "meta.json").read_text())["best_metric"]["step"]
    other = make_config(model="bestrq", model_conf={**BESTRQ_CONF, "encoder": {**BESTRQ_CONF["encoder"], "dim": 48}},
                        max_steps=2)
    out = subprocess.run(base[:5] + [str(_write_yaml(tmp_path / "o.yaml", other))] + base[6:] +
                         ["--exp-dir", str(tmp_path / "third"), "--init-from", str(tmp_path / "first")],
                         env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1 and "do not fit this config" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_init_partial_copies_what_fits_and_counts_the_rest(data, tmp_path):
    """--init-partial: a deeper model takes the tensors of a shallower one that fit (names and shapes), its
    extra layer keeps its fresh init; without the flag the same pair is refused; nothing fitting is an error."""
    from audiotok.bin.train import init_weights
    from audiotok.errors import UserError
    from audiotok.registry import build_model

    small = build_model(make_config(model="bestrq", model_conf=BESTRQ_CONF))
    small.save_pretrained(tmp_path / "small")
    deep_conf = {**BESTRQ_CONF, "encoder": {**BESTRQ_CONF["encoder"], "n_layers": 2}}
    deep = build_model(make_config(model="bestrq", model_conf=deep_conf))
    before = {k: v.clone() for k, v in deep.state_dict().items()}
    with pytest.raises(UserError, match="--init-partial copies what fits"):
        init_weights(deep, tmp_path / "small")
    said = init_weights(deep, tmp_path / "small", partial=True)
    after, src = deep.state_dict(), small.state_dict()
    copied = [k for k in after if k in src and src[k].shape == after[k].shape]
    fresh = [k for k in after if k not in copied]
    assert copied and fresh and all(".layers.1." in k for k in fresh)
    assert all(torch.equal(after[k], src[k]) for k in copied)
    assert all(torch.equal(after[k], before[k]) for k in fresh)
    assert f"{len(copied)} of {len(after)} tensors copied, {len(fresh)} fresh" in said
    wide = build_model(make_config(model="bestrq", model_conf={**BESTRQ_CONF, "features": {
        **BESTRQ_CONF["features"], "n_mels": 20, "n_fft": 512}, "encoder": {**BESTRQ_CONF["encoder"], "dim": 48},
        "targets": {"codebook_size": 16, "codebook_dim": 4}}))
    with pytest.raises(UserError, match="no tensor of it has a name and shape"):
        init_weights(wide, tmp_path / "small", partial=True)
    out = subprocess.run([sys.executable, "-m", "audiotok", "train", "--config",
                          str(_write_yaml(tmp_path / "c.yaml", make_config(model="bestrq", model_conf=BESTRQ_CONF))),
                          "--train-data", str(data[0]), "--valid-data", str(data[1]), "--exp-dir",
                          str(tmp_path / "exp"), "--init-partial"],
                         env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1 and "--init-partial needs --init-from" in out.stderr
    assert not (tmp_path / "exp").exists()


def test_init_skip_keeps_the_named_tensors_new(data, tmp_path):
    """--init-skip PREFIX: tensors so named keep the new model's values, all others are copied (even without
    --init-partial, the skipped ones are not required); a prefix naming nothing is an error, and the CLI
    refuses --init-skip without --init-from."""
    from audiotok.bin.train import init_weights
    from audiotok.errors import UserError
    from audiotok.registry import build_model

    src = build_model(make_config(model="bestrq", model_conf=BESTRQ_CONF))
    src.save_pretrained(tmp_path / "src")
    torch.manual_seed(7)
    new = build_model(make_config(model="bestrq", model_conf=BESTRQ_CONF))
    before = {k: v.clone() for k, v in new.state_dict().items()}
    said = init_weights(new, tmp_path / "src", skip=("encoder.layers.0.",))
    after, ref = new.state_dict(), src.state_dict()
    skipped = [k for k in after if k.startswith("encoder.layers.0.")]
    assert skipped and "skipped (--init-skip encoder.layers.0.)" in said
    assert all(torch.equal(after[k], before[k]) for k in skipped)
    assert not any(torch.equal(after[k], ref[k]) for k in skipped if after[k].dim() >= 2)  # random matrices
    assert all(torch.equal(after[k], ref[k]) for k in after if k not in skipped)
    with pytest.raises(UserError, match="no tensor of this model has such a name"):
        init_weights(new, tmp_path / "src", skip=("nothing.",))
    out = subprocess.run([sys.executable, "-m", "audiotok", "train", "--config",
                          str(_write_yaml(tmp_path / "c.yaml", make_config(model="bestrq", model_conf=BESTRQ_CONF))),
                          "--train-data", str(data[0]), "--valid-data", str(data[1]), "--exp-dir",
                          str(tmp_path / "exp"), "--init-skip", "encoder."],
                         env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1 and "--init-skip needs --init-from" in out.stderr
    assert not (tmp_path / "exp").exists()


def test_kill_9_at_hooked_points_resumes_exactly(data, tmp_path):
    """`audiotok train` killed with SIGKILL mid-step and mid-checkpoint-write (AUDIOTOK_FAULT), then
    resumed with --resume: every trial ends with the weights of an uninterrupted run, and no temp
    file survives. Counts: 2 mid-step kills + 2 mid-write kills, 4 of 4 exact."""
    from safetensors.torch import load_file

    cfg = make_config(model="bestrq", model_conf=BESTRQ_CONF, max_steps=6, valid_interval=2, save_interval=2,
                      log_interval=1)
    cfg.update(scheduler="constant", scheduler_conf={})
    conf = _write_yaml(tmp_path / "c.yaml", cfg)

    def train(exp, fault=None, resume=False):
        env = {**SUBPROCESS_ENV, **({"AUDIOTOK_FAULT": fault} if fault else {})}
        cmd = [sys.executable, "-m", "audiotok", "train", "--config", str(conf), "--train-data", str(data[0]),
               "--valid-data", str(data[1]), "--exp-dir", str(exp)] + (["--resume"] if resume else [])
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)

    straight = tmp_path / "straight"
    assert train(straight).returncode == 0
    want = load_file(straight / "model" / "model.safetensors")
    # steps 1 and 6 are mid-step kills (before any checkpoint, after the last); save 1 is the step-2
    # best (before any latest.pt), save 3 the step-4 latest.pt
    trials = ["step:1", "step:6", "checkpoint_write:1", "checkpoint_write:3"]
    exact = 0
    for fault in trials:
        exp = tmp_path / fault.replace(":", "_")
        killed = train(exp, fault)
        assert killed.returncode == -signal.SIGKILL, (fault, killed.stderr[-2000:])
        resumed = train(exp, resume=True)
        assert resumed.returncode == 0, (fault, resumed.stderr[-2000:])
        got = load_file(exp / "model" / "model.safetensors")
        exact += all(torch.equal(got[k], want[k]) for k in want) and set(got) == set(want)
        assert not [p for p in (exp / "checkpoints").iterdir() if p.name.endswith(".tmp")], fault
    assert exact == len(trials), f"{exact} of {len(trials)} killed runs resumed exactly"


def test_train_only_the_decoder_keeps_the_codec_tokens(data, tmp_path):
    """trainer.train_only [decoder]: the decoder learns; everything else (encoders, quantizer codebooks
    and their usage statistics) stays bit-identical and in eval mode, so the tokens do not change."""
    from test_spectral_codec import tiny

    seed_everything(0)
    model = tiny(acoustic={"n_codebooks": 3, "codebook_size": 32, "dropout": 0.5},
                 training={"semantic_only_prob": 0.0, "passthrough_prob": 0.0, "quantize_warmup_steps": 0})
    cfg = make_config(model="dualcodec", max_steps=4, valid_interval=4, log_interval=2, train_only=["decoder"])
    cfg["dataset_conf"]["segment_seconds"] = 0.5
    wav = torch.from_numpy(_tone(np.random.default_rng(1), 1.0, SR))[None, None]
    model.eval()
    tokens = model.encode(wav)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = make_trainer(cfg, model, data, tmp_path / "exp")
    assert {id(p) for g in trainer.opt.param_groups for p in g["params"]} == {id(p) for p in model.decoder.parameters()}
    seen = []
    model.rvq.register_forward_pre_hook(lambda m, _: seen.append(m.training))
    trainer.train()
    assert seen and not any(seen)  # the frozen RVQ never ran in training mode (no quantizer dropout)
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("decoder.") for k in changed), sorted(k for k in changed if not k.startswith("decoder."))
    model.eval()
    new = model.encode(wav)
    assert all(torch.equal(tokens[k], new[k]) for k in tokens)
    with pytest.raises(Exception, match="train_only: encoder_x names no parameters"):
        Trainer({**cfg, "trainer": {**cfg["trainer"], "train_only": ["encoder_x"]}}, model, None, None, tmp_path / "e2")
