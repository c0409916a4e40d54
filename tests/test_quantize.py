"""Vector quantizers: straight-through gradients, RVQ prefixes, quantizer dropout, dead codes, SimVQ."""

import pytest
import torch

from audiotok.nn.quantize import ResidualVQ, SimVQ, VectorQuantizer, code_perplexity, codebook_usage


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
def test_vq_straight_through_gradients(distance):
    vq = VectorQuantizer(6, 16, 3, distance=distance).train()
    x = torch.randn(2, 6, 5, requires_grad=True)
    out, codes, commit, codebook = vq(x)
    assert out.shape == x.shape and codes.shape == (2, 5) and commit.shape == codebook.shape == (2,)
    assert codes.min() >= 0 and codes.max() < 16
    out.pow(2).sum().backward()
    # the straight-through estimator passes gradients to the input and the in-projection
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in vq.in_proj.parameters())
    # the codebook is trained by the codebook loss only
    assert vq.codebook.grad is None or vq.codebook.grad.abs().sum() == 0
    vq.zero_grad()
    codebook.sum().backward()
    assert vq.codebook.grad.abs().sum() > 0


def test_vq_eval_matches_encode_decode():
    vq = VectorQuantizer(6, 16, 3).eval()
    x = torch.randn(2, 6, 7)
    out, codes, _, _ = vq(x)
    assert torch.equal(codes, vq.encode(x))
    assert torch.allclose(out, vq.decode(codes), atol=1e-6)


def test_vq_picks_nearest_code():
    vq = VectorQuantizer(4, 8, 4).eval()
    z = vq.project(torch.randn(1, 4, 9))
    codes = vq.nearest(z)
    d = ((z.transpose(1, 2)[0][:, None] - vq.codebook[None]) ** 2).sum(-1)
    assert torch.equal(codes[0], d.argmin(-1))


def test_rvq_prefix_property_and_shapes():
    rvq = ResidualVQ(4, 8, 32, 4).eval()
    z = torch.randn(3, 8, 10)
    full = rvq.encode(z)
    assert full.shape == (3, 4, 10)
    for n in (1, 2, 3):
        codes = rvq.encode(z, n_q=n)
        assert torch.equal(codes, full[:, :n])  # fewer codebooks = a prefix of the codes
        # decoding a prefix equals the sum of that prefix's contributions
        manual = sum(rvq.quantizers[i].decode(full[:, i]) for i in range(n))
        assert torch.allclose(rvq.decode(full[:, :n]), manual, atol=1e-6)
    out = rvq(z, n_q=2)
    assert torch.equal(out["codes"], full[:, :2])
    assert torch.allclose(out["z_q"], rvq.decode(full[:, :2]), atol=1e-5)
    with pytest.raises(ValueError):
        rvq.decode(torch.zeros(1, 5, 2, dtype=torch.long))


@pytest.mark.parametrize("kind", ["vq", "simvq"])
def test_expected_decode_is_the_decode_of_codes_averaged_by_their_probabilities(kind):
    rvq = ResidualVQ(3, 8, 16, 4, kind=kind).eval()
    codes = torch.randint(0, 16, (2, 3, 5))
    one_hot = torch.nn.functional.one_hot(codes, 16).float()
    assert torch.allclose(rvq.decode_expected(one_hot), rvq.decode(codes), atol=1e-5)
    other = torch.randint(0, 16, (2, 3, 5))
    mix = 0.25 * one_hot + 0.75 * torch.nn.functional.one_hot(other, 16).float()
    assert torch.allclose(rvq.decode_expected(mix), 0.25 * rvq.decode(codes) + 0.75 * rvq.decode(other), atol=1e-5)
    assert torch.allclose(rvq.decode_expected(one_hot[:, :2]), rvq.decode(codes[:, :2]), atol=1e-5)  # a prefix
    with pytest.raises(ValueError):
        rvq.decode_expected(torch.zeros(1, 4, 2, 16))


def test_rvq_more_codebooks_reconstruct_better_after_training():
    rvq = ResidualVQ(3, 8, 64, 4, quantizer_dropout=1.0)
    opt = torch.optim.Adam(rvq.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(1)
    for _ in range(150):
        z = torch.randn(8, 8, 16, generator=g)
        out = rvq(z)
        loss = (out["z_q"] - z).pow(2).mean() + 0.25 * out["commitment"] + out["codebook"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    rvq.eval()
    z = torch.randn(16, 8, 32, generator=g)
    errs = [(rvq.decode(rvq.encode(z, n)) - z).pow(2).mean().item() for n in (1, 2, 3)]
    assert errs[0] > errs[1] > errs[2]


def test_quantizer_dropout_masks_outputs_and_losses():
    rvq = ResidualVQ(4, 8, 16, 4, quantizer_dropout=1.0).train()
    z = torch.randn(64, 8, 6)
    out = rvq(z)
    n = out["n_q"]
    assert n.shape == (64,) and n.min() >= 1 and n.max() <= 4 and len(set(n.tolist())) > 1
    # per sample, z_q is exactly the sum of its first n codebooks' outputs
    rvq.eval()
    for b in range(4):
        k = int(n[b])
        ref = rvq.decode(out["codes"][b : b + 1, :k])
        assert torch.allclose(out["z_q"][b : b + 1], ref, atol=1e-5)
    rvq.train()
    # losses: equal to the mask-weighted per-codebook losses, recomputed by hand
    torch.manual_seed(3)
    out = rvq(z)
    n, residual, commit = out["n_q"], z, 0.0
    for i, q in enumerate(rvq.quantizers):
        o, _, cm, _ = q(residual)
        commit = commit + (cm * (i < n).float()).mean()
        residual = residual - o
    assert torch.allclose(out["commitment"], commit, atol=1e-6)
    # no dropout: every sample uses every codebook
    rvq.quantizer_dropout = 0.0
    assert (rvq(z)["n_q"] == 4).all()


def test_quantizer_dropout_only_tracks_used_codebooks():
    rvq = ResidualVQ(2, 4, 8, 2, quantizer_dropout=1.0, usage_decay=0.0).train()
    rvq._n_per_sample = lambda b, n_q, device: torch.ones(b, dtype=torch.long)  # everyone uses 1 codebook
    rvq(torch.randn(4, 4, 5))
    assert rvq.quantizers[0].usage.sum() == 20  # 4 samples x 5 frames counted
    assert rvq.quantizers[1].usage.sum() == 0  # masked out: nothing counted


def test_dead_code_restart_revives_unused_codes():
    vq = VectorQuantizer(4, 32, 4, usage_decay=0.5, dead_threshold=0.1).train()
    with torch.no_grad():  # park most codes far away from where the latents live
        vq.codebook[4:] = 50.0
    x = torch.randn(8, 4, 16)
    for _ in range(6):
        vq(x)
    dead = vq.dead_codes()
    assert dead[4:].all() and int(dead.sum()) >= 28
    assert codebook_usage(vq.encode(x), 32) <= 4 / 32
    n = vq.restart_dead_codes()
    assert n == int(dead.sum())
    assert not vq.dead_codes().any()
    # restarted codes sit on the latents now, so they are chosen
    assert codebook_usage(vq.encode(x), 32) > 0.5
    assert vq.restart_dead_codes() == 0  # the latents of a batch are used once


def test_first_restart_places_codes_on_distinct_latents():
    vq = VectorQuantizer(4, 32, 4, restart_noise=0.0).train()
    x = torch.randn(1, 4, 5)  # 5 latents, 32 codes: at most 5 codes move
    vq(x)
    assert int(vq.dead_codes().sum()) >= 27  # usage starts at zero: every unused code is dead
    before = vq.codebook.detach().clone()
    assert vq.restart_dead_codes() == 5
    moved = (vq.codebook.detach() != before).any(-1)
    assert int(moved.sum()) == 5
    latents = vq.project(x)[0].t()
    d = torch.cdist(vq.codebook.detach()[moved], latents)
    assert torch.allclose(d.min(-1).values, torch.zeros(5), atol=1e-5)  # each sits on a latent
    assert len(set(d.argmin(-1).tolist())) == 5  # and on a different one


def test_simvq_beats_vq_on_codebook_utilisation():
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
    sim = [train(SimVQ, s) for s in (0, 1)]
    # measured: plain VQ ~0.25, SimVQ ~0.46 of the 256 codes
    assert min(sim) > 1.4 * max(vq)


def test_simvq_codebook_is_frozen_and_saved():
    q = SimVQ(8, 32, 4)
    assert "frozen_codebook" in q.state_dict()
    assert not any(p is q.frozen_codebook for p in q.parameters())
    q2 = SimVQ(8, 32, 4)
    q2.load_state_dict(q.state_dict())
    x = torch.randn(2, 8, 5)
    assert torch.equal(q.eval().encode(x), q2.eval().encode(x))
    assert q.restart_dead_codes() == 0


def test_usage_helpers():
    codes = torch.tensor([0, 0, 1, 1])
    assert codebook_usage(codes, 4) == 0.5
    assert abs(code_perplexity(codes, 4) - 2.0) < 1e-5


def test_entropy_loss_is_frame_entropy_minus_codebook_entropy():
    q = VectorQuantizer(6, 16, 3, entropy_temperature=0.5)
    x = torch.randn(2, 6, 7)
    z = q.project(x).transpose(1, 2).reshape(-1, 3)
    p = torch.softmax(-((z[:, None] - q.codebook[None]) ** 2).sum(-1) / 0.5, dim=-1)
    frame = -(p * p.log()).sum(-1).mean()
    avg = p.mean(0)
    assert torch.allclose(q.entropy_loss(x), frame + (avg * avg.log()).sum(), atol=1e-5)
    # masked frames do not count: only the first sample's frames
    keep = torch.zeros(2, 7, dtype=torch.bool)
    keep[0] = True
    assert torch.allclose(q.entropy_loss(x, keep), q.entropy_loss(x[:1]), atol=1e-5)


def test_entropy_loss_spreads_clustered_latents_over_the_codebook():
    """Minimised alone, the usage loss moves SimVQ's shared map and the projection until frames that
    all chose a few codes use many more of them."""
    q = SimVQ(8, 64, 4, entropy_temperature=1.0).train()
    x = torch.randn(4, 8, 50) * 0.3 + 1.0  # one cluster of latents
    before = q.encode(x).unique().numel()
    opt = torch.optim.Adam(q.parameters(), lr=1e-2)
    for _ in range(200):
        loss = q.entropy_loss(x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert q.encode(x).unique().numel() >= 2 * before + 5


def test_rvq_adds_the_entropy_loss_only_when_asked():
    x = torch.randn(2, 8, 10)
    assert float(ResidualVQ(2, 8, 32, 4).train()(x)["entropy"]) == 0.0
    rvq = ResidualVQ(2, 8, 32, 4, entropy_temperature=1.0).train()
    out = rvq(x)
    assert out["entropy"].requires_grad and float(out["entropy"].detach()) < 0  # sharp frames, spread codebook
    assert float(rvq.eval()(x)["entropy"]) == 0.0  # a training loss only
