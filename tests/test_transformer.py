import pytest
import torch

from audiotok.nn.transformer import (
    Attention,
    RotaryEmbedding,
    Transformer,
    apply_rotary,
    bidirectional_span_mask,
    causal_mask,
    padding_mask,
)


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def as_int(m):
    return m.to(torch.int64).tolist()


def test_causal_mask_exact():
    assert as_int(causal_mask(3)) == [[[[1, 0, 0], [1, 1, 0], [1, 1, 1]]]]
    # two new tokens after three cached ones see all cached keys and themselves causally
    assert as_int(causal_mask(2, offset=3)) == [[[[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]]]


def test_padding_mask_exact():
    m = padding_mask(torch.tensor([3, 1]))
    assert m.shape == (2, 1, 3, 3)
    assert as_int(m[0, 0]) == [[1, 1, 1]] * 3
    assert as_int(m[1, 0]) == [[1, 0, 0]] * 3
    both = causal_mask(3) & padding_mask(torch.tensor([2, 3]))
    assert as_int(both[0, 0]) == [[1, 0, 0], [1, 1, 0], [1, 1, 0]]
    assert as_int(both[1, 0]) == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]


def test_bidirectional_span_mask_exact():
    m = bidirectional_span_mask(6, [(2, 5)])
    assert m.shape == (1, 1, 6, 6)
    assert as_int(m[0, 0]) == [
        [1, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0],
        [1, 1, 1, 1, 1, 0],
        [1, 1, 1, 1, 1, 0],
        [1, 1, 1, 1, 1, 0],
        [1, 1, 1, 1, 1, 1],
    ]
    per_item = bidirectional_span_mask(4, [[(0, 2)], [], [(1, 2), (2, 4)]])
    assert per_item.shape == (3, 1, 4, 4)
    assert as_int(per_item[0, 0]) == [[1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]]
    assert as_int(per_item[1, 0]) == as_int(causal_mask(4)[0, 0])
    assert as_int(per_item[2, 0]) == [[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1], [1, 1, 1, 1]]
    with pytest.raises(ValueError):
        bidirectional_span_mask(4, [(2, 5)])


def test_rope_depends_only_on_offset():
    torch.manual_seed(0)
    rope = RotaryEmbedding(16)
    q = torch.randn(1, 1, 1, 16)
    k = torch.randn(1, 1, 1, 16)

    def score(m, n):
        cq, sq = rope(torch.tensor([m]))
        ck, sk = rope(torch.tensor([n]))
        return (apply_rotary(q, cq, sq) * apply_rotary(k, ck, sk)).sum().item()

    base = score(3, 1)
    for shift in (1, 7, 100, 1000):
        assert abs(score(3 + shift, 1 + shift) - base) < 1e-4
    # and it does depend on the offset
    assert abs(score(3, 1) - score(5, 1)) > 1e-3
    # rotation preserves the norm
    c, s = rope(torch.tensor([57]))
    assert torch.allclose(apply_rotary(q, c, s).norm(), q.norm(), atol=1e-5)


def test_rope_batched_positions_match_shared():
    rope = RotaryEmbedding(8)
    x = torch.randn(2, 3, 5, 8)
    shared = apply_rotary(x, *rope(torch.arange(4, 9)))
    batched = apply_rotary(x, *rope(torch.arange(4, 9).expand(2, 5)))
    assert torch.allclose(shared, batched)


def _tiny_lm(n_kv_heads=2):
    torch.manual_seed(0)
    model = Transformer(dim=32, n_layers=3, n_heads=4, n_kv_heads=n_kv_heads, ffn_dim=48)
    return model.eval()


@pytest.mark.parametrize("max_len", [None, 16])
def test_kv_cache_incremental_equals_full(max_len):
    model = _tiny_lm()
    x = torch.randn(2, 10, 32)
    with torch.no_grad():
        full = model(x, mask=causal_mask(10))
        cache = model.new_cache(2, max_len=max_len)
        outs = [model(x[:, :4], mask=causal_mask(4), cache=cache)]
        for t in range(4, 10):
            outs.append(model(x[:, t : t + 1], mask=causal_mask(1, offset=cache.pos), cache=cache))
    inc = torch.cat(outs, dim=1)
    assert cache.pos == 10
    assert (inc - full).abs().max().item() < 1e-5


def test_kv_cache_with_bidirectional_prompt_span():
    """The unified LM's use: a bidirectional span in the prefix, then causal incremental decoding."""
    model = _tiny_lm(n_kv_heads=1)
    x = torch.randn(1, 9, 32)
    full_mask = bidirectional_span_mask(9, [(1, 5)])
    with torch.no_grad():
        full = model(x, mask=full_mask)
        cache = model.new_cache(1)
        outs = [model(x[:, :6], mask=full_mask[:, :, :6, :6], cache=cache)]
        for t in range(6, 9):
            outs.append(model(x[:, t : t + 1], mask=full_mask[:, :, t : t + 1, : t + 1], cache=cache))
    assert (torch.cat(outs, 1) - full).abs().max().item() < 1e-5
    # the span really is bidirectional: changing a later span token changes an earlier one
    x2 = x.clone()
    x2[:, 4] += 1.0
    with torch.no_grad():
        out2 = model(x2, mask=full_mask)
    assert (out2[:, 2] - full[:, 2]).abs().max() > 1e-4
    assert torch.equal(out2[:, 0], full[:, 0])


def test_kv_cache_crop_and_reorder():
    model = _tiny_lm()
    x = torch.randn(2, 6, 32)
    with torch.no_grad():
        full = model(x, mask=causal_mask(6))
        cache = model.new_cache(2, max_len=8)
        model(x[:, :5], mask=causal_mask(5), cache=cache)
        cache.crop(4)  # drop the 5th token and decode it again
        out = model(x[:, 4:6], mask=causal_mask(2, offset=4), cache=cache)
        assert (out - full[:, 4:6]).abs().max().item() < 1e-5
        cache.crop(5)
        cache.reorder(torch.tensor([1, 1]))
        out = model(x[[1, 1], 5:6], mask=causal_mask(1, offset=5), cache=cache)
    assert (out[0] - full[1, 5:6]).abs().max().item() < 1e-5


def test_gqa_shapes():
    attn = Attention(dim=48, n_heads=6, n_kv_heads=2)
    assert attn.wq.weight.shape == (48, 48)
    assert attn.wk.weight.shape == (16, 48)
    assert attn.wv.weight.shape == (16, 48)
    assert attn(torch.randn(3, 5, 48)).shape == (3, 5, 48)
    mqa = Attention(dim=48, n_heads=6, n_kv_heads=1)
    assert mqa.wk.weight.shape == (8, 48)
    with pytest.raises(ValueError):
        Attention(dim=48, n_heads=6, n_kv_heads=4)
    model = Transformer(dim=48, n_layers=2, n_heads=6, n_kv_heads=2)
    cache = model.new_cache(3, max_len=7)
    assert cache.k.shape == (2, 3, 2, 7, 8)
    with pytest.raises(ValueError):
        model(torch.randn(3, 8, 48), cache=cache, mask=causal_mask(8))


def test_gqa_equals_mha_with_duplicated_heads():
    torch.manual_seed(0)
    gqa = Attention(dim=16, n_heads=4, n_kv_heads=2)
    mha = Attention(dim=16, n_heads=4)
    with torch.no_grad():
        mha.wq.weight.copy_(gqa.wq.weight)
        mha.wo.weight.copy_(gqa.wo.weight)
        # kv head g serves query heads 2g and 2g+1
        mha.wk.weight.copy_(gqa.wk.weight.view(2, 4, 16).repeat_interleave(2, 0).reshape(16, 16))
        mha.wv.weight.copy_(gqa.wv.weight.view(2, 4, 16).repeat_interleave(2, 0).reshape(16, 16))
    x = torch.randn(2, 5, 16)
    assert torch.allclose(gqa(x, mask=causal_mask(5)), mha(x, mask=causal_mask(5)), atol=1e-6)


def test_hidden_states_and_truncated_run():
    model = _tiny_lm()
    x = torch.randn(1, 5, 32)
    with torch.no_grad():
        y, hidden = model(x, return_hidden_states=True)
        y2, hidden2 = model(x, return_hidden_states=True, num_layers=2)
    assert len(hidden) == 4 and torch.equal(hidden[0], x)
    assert len(hidden2) == 3
    assert torch.equal(hidden2[2], hidden[2])
    assert torch.allclose(y, model.norm(hidden[3]))


def test_padding_does_not_leak_into_valid_frames():
    """Bidirectional encoder with conv blocks: padded frames must not change the valid ones."""
    torch.manual_seed(0)
    model = Transformer(dim=32, n_layers=2, n_heads=4, conv_kernel=5).eval()
    a = torch.randn(1, 7, 32)
    padded = torch.cat([a, 100 * torch.randn(1, 4, 32)], dim=1)
    lengths = torch.tensor([7])
    valid = torch.arange(11)[None] < lengths[:, None]
    with torch.no_grad():
        ref = model(a)
        out = model(padded, mask=padding_mask(lengths, 11), valid=valid)
    assert (out[:, :7] - ref).abs().max().item() < 1e-5
    with pytest.raises(ValueError):
        model(a, cache=model.new_cache(1), mask=causal_mask(7))


def test_fully_masked_rows_stay_finite():
    model = _tiny_lm()
    mask = causal_mask(4).clone()
    mask[..., 0, :] = False  # a (padding) query with no visible key
    with torch.no_grad():
        out = model(torch.randn(1, 4, 32), mask=mask)
    assert torch.isfinite(out).all()


def test_grad_checkpoint_same_gradients():
    torch.manual_seed(0)
    a = Transformer(dim=16, n_layers=2, n_heads=2, conv_kernel=3)
    b = Transformer(dim=16, n_layers=2, n_heads=2, conv_kernel=3, grad_checkpoint=True)
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 6, 16)
    a(x).square().sum().backward()
    b(x).square().sum().backward()
    for (n, pa), pb in zip(a.named_parameters(), b.parameters()):
        assert torch.allclose(pa.grad, pb.grad, atol=1e-6), n
