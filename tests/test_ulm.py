"""Unified speech LM: vocabulary, masks, grouping + SRH, KV-cache decoding, MaskGIT, one training
step per task from a real tokens data dir, HF init, packing."""

import json
import math

import pytest
import torch

from audiotok.data.lm_dataset import LMTokenDataset
from audiotok.errors import DataDirError, TokenFileError, UserError
from audiotok.models.loading import load_model, save_model_dir
from audiotok.models.maskgit import cosine_mask_ratio, maskgit_decode, sample_train_mask
from audiotok.models.sampling import filter_logits
from audiotok.models.srh import GroupEmbed, SpeechRefinedHead, group_tokens, speech_targets, ungroup_tokens
from audiotok.models.ulm import TASK_IDS, Layout, UnifiedLM, pack_segments, task_attention_mask
from audiotok.models.ulm_vocab import JointVocab, train_text_model
from audiotok.nn.transformer import TransformerConf
from audiotok.registry import dataset_class
from audiotok.tokfile import write_tokens
from tiny_models import merged

S, A, K = 16, 8, 2
SENTENCES = [
    "the quick brown fox jumps over the lazy dog",
    "a cat sat on the mat and looked at the dog",
    "speech tokens are fun to model with a small transformer",
    "hello world this is a test of the unified speech model",
    "one two three four five six seven eight nine ten",
]


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def vocab(tmp_path_factory):
    d = tmp_path_factory.mktemp("lang")
    model = train_text_model(SENTENCES * 4, d / "bpe.model", vocab_size=48)
    return JointVocab.from_text_model(model, semantic_size=S, acoustic_size=A, n_acoustic=K)


def tiny(vocab, g=2, seed=0, **kw):
    torch.manual_seed(seed)
    conf = dict(lm={"dim": 32, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2}, grouping={"size": g},
                srh={"dim": 16, "n_layers": 1, "n_heads": 2}, prompt_frames=4)
    return UnifiedLM(vocab, **merged(conf, kw))


def as_int(m):
    return m.to(torch.int64).tolist()


# ---------------------------------------------------------------------------------------------
# vocabulary


def test_vocab_layout_ids_and_json_round_trip(vocab, tmp_path):
    n_sp = len(vocab.specials)
    assert vocab.token_bias == {"special": 0, "text": n_sp, "semantic": n_sp + vocab.text_size,
                                "acoustic": [n_sp + vocab.text_size + S, n_sp + vocab.text_size + S + A]}
    assert vocab.size == n_sp + vocab.text_size + S + K * A
    assert vocab.special("<pad>") == 0 and vocab.special("<mask>") == vocab.specials.index("<mask>")
    ids = vocab.encode_text("the cat sat on the mat")
    assert ids and all(0 <= i < vocab.text_size for i in ids)
    assert vocab.decode_text(ids) == "the cat sat on the mat"
    path = vocab.save(tmp_path / "vocab.json")
    spec = json.loads(path.read_text())
    assert spec["text_model"] == "vocab.model" and (tmp_path / "vocab.model").is_file()
    again = JointVocab.load(path)
    assert again.to_dict() == vocab.to_dict()
    assert again.encode_text("hello dog") == vocab.encode_text("hello dog")
    with pytest.raises(UserError, match="lack <mask>"):
        JointVocab(10, S, specials=["<pad>", "<bos>", "<eos>", "<asr>", "<tts>", "<acoustic>", "<sos_text>",
                                    "<sos_speech>", "<eos_speech>"])
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(UserError, match="bad.json: not valid JSON"):
        JointVocab.load(tmp_path / "bad.json")
    (tmp_path / "bad.model").write_bytes(b"not a model")
    with pytest.raises(UserError, match="not a sentencepiece model"):
        JointVocab.from_text_model(tmp_path / "bad.model", S)


# ---------------------------------------------------------------------------------------------
# attention masks


def test_asr_and_tts_masks_are_causal_with_key_padding():
    layout = Layout(4, start=torch.tensor([0, 0]), lengths=torch.tensor([4, 2]))
    for task in ("asr", "tts"):
        m = task_attention_mask(task, layout)
        assert m.shape == (2, 1, 4, 4)
        assert as_int(m[0, 0]) == [[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]]
        assert as_int(m[1, 0]) == [[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 0, 0]]
    # left padding (incremental decoding): the pad keys are hidden, positions restart at 0
    left = Layout(4, start=torch.tensor([1]), lengths=torch.tensor([3]))
    assert as_int(task_attention_mask("asr", left)[0, 0]) == [[0, 0, 0, 0], [0, 1, 0, 0], [0, 1, 1, 0], [0, 1, 1, 1]]
    assert left.positions.tolist() == [[0, 0, 1, 2]]


def test_acoustic_mask_is_bidirectional_inside_the_frame_span():
    # row 0: <acoustic> + 4 frames (span 1..5); row 1: <acoustic> + 2 frames, padded to 5
    layout = Layout(5, start=torch.tensor([0, 0]), lengths=torch.tensor([5, 3]), span=torch.tensor([[1, 5], [1, 3]]))
    m = task_attention_mask("acoustic", layout)
    assert as_int(m[0, 0]) == [[1, 0, 0, 0, 0]] + [[1, 1, 1, 1, 1]] * 4
    assert as_int(m[1, 0]) == [[1, 0, 0, 0, 0], [1, 1, 1, 0, 0], [1, 1, 1, 0, 0], [1, 1, 1, 0, 0], [1, 1, 1, 0, 0]]
    with pytest.raises(ValueError):
        task_attention_mask("acoustic", Layout(5, torch.tensor([0]), torch.tensor([5])))
    with pytest.raises(ValueError):
        task_attention_mask("mt", layout)


def test_pack_segments_right_and_left():
    a = torch.tensor([[1, 2], [3, 4]])
    b = torch.tensor([[5, 6, 7], [8, 9, 0]])
    x, offsets, start, total = pack_segments([(a, torch.tensor([2, 1])), (b, torch.tensor([3, 2]))], fill=-1)
    assert x.tolist() == [[1, 2, 5, 6, 7], [3, 8, 9, -1, -1]]
    assert [o.tolist() for o in offsets] == [[0, 0], [2, 1]] and total.tolist() == [5, 3]
    x, offsets, start, _ = pack_segments([(a, torch.tensor([2, 1])), (b, torch.tensor([3, 2]))], left=True, fill=-1)
    assert x.tolist() == [[1, 2, 5, 6, 7], [-1, -1, 3, 8, 9]] and start.tolist() == [0, 2]


# ---------------------------------------------------------------------------------------------
# grouping and the Speech Refined Head


@pytest.mark.parametrize("g", [1, 2, 5])
def test_group_ungroup_shapes_and_exact_inverse(g):
    T = 13
    tokens = torch.randint(0, S, (4, T))
    lengths = torch.tensor([13, 7, 1, 10])
    groups, n = group_tokens(tokens, lengths, g)
    assert groups.shape == (4, math.ceil(T / g), g)
    assert n.tolist() == [math.ceil(x / g) for x in lengths.tolist()]
    flat = groups.reshape(4, -1)
    for b, length in enumerate(lengths.tolist()):
        assert flat[b, :length].tolist() == tokens[b, :length].tolist()
        assert (flat[b, length:] == -1).all()  # the tail of the last group and beyond: pad
    back = ungroup_tokens(groups, lengths, T)
    assert back.shape == (4, T)
    expect = torch.where(torch.arange(T)[None] < lengths[:, None], tokens, torch.full_like(tokens, -1))
    assert torch.equal(back, expect)


@pytest.mark.parametrize("g", [1, 2, 5])
def test_speech_targets_end_with_eos_then_pad(g):
    tokens = torch.randint(0, S, (2, 10))
    lengths = torch.tensor([10, 4])
    tgt, n = speech_targets(tokens, lengths, g, eos=S)
    assert n.tolist() == [math.ceil(11 / g), math.ceil(5 / g)]
    for b, length in enumerate(lengths.tolist()):
        flat = tgt[b].reshape(-1)
        assert flat[:length].tolist() == tokens[b, :length].tolist()
        assert flat[length] == S and (flat[length + 1:] == -1).all()


def test_group_embed_modes():
    e = torch.randn(2, 3, 5, 8)
    for mode in ("mean", "concat"):
        ge = GroupEmbed(8, 5, mode)
        assert ge(e).shape == (2, 3, 8)
    assert GroupEmbed(8, 5, "concat").proj.in_features == 40 and GroupEmbed(8, 5, "mean").proj.in_features == 8
    one = torch.randn(2, 3, 1, 8)
    assert torch.equal(GroupEmbed(8, 1, "mean")(one), one[:, :, 0])  # g = 1: plain, one token per position
    with pytest.raises(UserError):
        GroupEmbed(8, 2, "sum")


@pytest.mark.parametrize("context", ["group", "sequence"])
def test_srh_teacher_forced_loss_decreases(context):
    torch.manual_seed(0)
    srh = SpeechRefinedHead(lm_dim=24, group_size=5, n_tokens=S, conf=TransformerConf(dim=32, n_layers=1, n_heads=4),
                            context=context)
    h = torch.randn(2, 3, 24)
    targets = torch.randint(0, S, (2, 3, 5))
    targets[1, 2, 3], targets[1, 2, 4] = S, -1  # a final group: EOS then padding (ignored)
    keep = torch.ones(2, 3, dtype=torch.bool)
    opt = torch.optim.Adam(srh.parameters(), lr=3e-3)
    with torch.no_grad():
        first, _ = srh.loss(h, targets, keep)
    for _ in range(40):
        loss, _ = srh.loss(h, targets, keep)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        last, acc = srh.loss(h, targets, keep)
    assert float(first) > math.log(S) * 0.8  # starts near chance
    assert float(last) < 0.3 * float(first)
    assert float(acc) > 0.9


def test_srh_cached_generation_matches_teacher_forcing():
    torch.manual_seed(1)
    conf = TransformerConf(dim=32, n_layers=2, n_heads=4, n_kv_heads=2)
    srh = SpeechRefinedHead(lm_dim=24, group_size=5, n_tokens=S, conf=conf).eval()
    h = torch.randn(3, 24)
    tokens, logits = srh.generate(h, lambda x: x.argmax(-1), return_logits=True)
    ref = srh(h, tokens)  # one pass, teacher-forced with the generated tokens
    eos = (tokens == S).float().cumsum(1)
    before = (eos - (tokens == S).float()) == 0  # positions up to and including the first EOS
    assert torch.allclose(logits[before], ref[before], atol=1e-4)


def test_sequence_srh_sees_earlier_groups_and_its_cache_matches_teacher_forcing():
    """DrVoice's head: causal over the whole 25 Hz sequence. Group after group with one KV cache, after
    a left-padded prompt prefill, gives the logits of one teacher-forced pass over prompt + output."""
    torch.manual_seed(2)
    conf = TransformerConf(dim=32, n_layers=2, n_heads=4)
    srh = SpeechRefinedHead(lm_dim=24, group_size=5, n_tokens=S, conf=conf, context="sequence").eval()
    B, P, N = 2, 2, 3
    h = torch.randn(B, P + N, 24)
    prompt = torch.randint(0, S - 1, (B, P, 5))
    prompt[1, 0] = -1  # row 1 has one prompt group (left padding)
    greedy = lambda x: x[..., : S].argmax(-1)  # noqa: E731  (never EOS: every group stays comparable)
    state = srh.start(B, (P + N) * 5, device="cpu")
    srh.prefill(state, h[:, :P], prompt)
    groups, logits = zip(*(srh.generate(h[:, P + n], greedy, state, return_logits=True) for n in range(N)))
    tokens, logits = torch.stack(groups, 1), torch.stack(logits, 1)  # [B, N, g], [B, N, g, S+1]
    for b, p in ((0, P), (1, 1)):  # each row alone, prompt and output as one teacher-forced sequence
        hb = torch.cat([h[b : b + 1, P - p : P], h[b : b + 1, P:]], 1)
        tb = torch.cat([prompt[b : b + 1, P - p :], tokens[b : b + 1]], 1)
        ref = srh(hb, tb)[0, p:]
        assert torch.allclose(logits[b], ref, atol=1e-4)
    # the earlier groups matter: another prompt changes the first generated group's logits
    state2 = srh.start(B, (P + N) * 5, device="cpu")
    srh.prefill(state2, h[:, :P], torch.randint(0, S - 1, (B, P, 5)))
    _, other = srh.generate(h[:, P], greedy, state2, return_logits=True)
    assert not torch.allclose(other, logits[:, 0], atol=1e-3)
    with pytest.raises(UserError, match="srh_context"):
        SpeechRefinedHead(24, 5, S, conf, context="utterance")


# ---------------------------------------------------------------------------------------------
# AR decoding with the KV cache


@pytest.mark.parametrize("asr_attention", ["causal", "bidirectional"])
def test_asr_kv_cache_equals_full_recompute(vocab, asr_attention):
    model = tiny(vocab, g=2, asr_attention=asr_attention).eval()
    rows = [torch.randint(0, S, (9,)), torch.randint(0, S, (4,))]
    ids, logits = model.asr_ids(rows, max_len=6, return_logits=True)
    steps = logits.shape[1]
    assert steps >= 2
    # recompute every step from scratch: the left-packed prompt + the tokens fed so far
    fed = logits[:, :-1].masked_fill(~model._text_allowed("cpu"), float("-inf")).argmax(-1)
    eos = vocab.special("<eos>")
    done = torch.zeros(2, dtype=torch.bool)
    for t in range(fed.shape[1]):  # rows that finished keep being fed <eos>
        fed[:, t] = torch.where(done, torch.full_like(fed[:, t], eos), fed[:, t])
        done |= fed[:, t] == eos
    prefix = model._asr_prefix(rows)
    x, offsets, start, total = pack_segments(prefix, left=True)
    P = x.shape[1]
    full = torch.cat([x, model.embed(fed)], 1)
    span = torch.stack([offsets[1], offsets[1] + prefix[1][1]], 1) if asr_attention == "bidirectional" else None
    layout = Layout(P + fed.shape[1], start, total + fed.shape[1], span)
    with torch.no_grad():
        h = model.lm(full, mask=task_attention_mask("asr", layout), positions=layout.positions)
        ref = model.text_head(h[:, P - 1:])
    assert torch.allclose(logits, ref, atol=1e-4)


def test_batched_decoding_equals_one_by_one(vocab):
    model = tiny(vocab, g=3).eval()
    rows = [torch.randint(0, S, (11,)), torch.randint(0, S, (5,))]
    batched = model.asr_ids(rows, max_len=5)
    assert batched == [model.asr_ids([r], max_len=5)[0] for r in rows]
    texts = ["the cat sat", "hello world this is a test"]
    both = model.tts(texts, max_frames=15, greedy=True, end_threshold=None)
    for t, got in zip(texts, both):
        alone = model.tts(t, max_frames=15, greedy=True, end_threshold=None)
        assert torch.equal(got, alone)
        assert got.dtype == torch.long and ((got >= 0) & (got < S)).all() and got.numel() <= 15


@pytest.mark.parametrize("context", ["group", "sequence"])
def test_batched_tts_with_prompts_of_different_lengths_equals_one_by_one(vocab, context):
    """Left padding of the prompts (LM and, in sequence context, the refined head's cache) changes nothing."""
    model = tiny(vocab, g=3, seed=1, grouping={"srh_context": context}).eval()
    texts = ["the cat sat", "hello world"]
    prompts = [{"semantic": torch.randint(0, S, (9,)), "text": "a dog"}, {"semantic": torch.randint(0, S, (3,))}]
    both = model.tts(texts, prompt=prompts, max_frames=12, greedy=True, end_threshold=None)
    for t, p, got in zip(texts, prompts, both):
        assert torch.equal(got, model.tts(t, prompt=p, max_frames=12, greedy=True, end_threshold=None))


@pytest.mark.parametrize("context", ["group", "sequence"])
def test_tts_with_prompt_continues_after_the_prompt(vocab, context):
    model = tiny(vocab, g=2, grouping={"srh_context": context}).eval()
    prompt = {"semantic": torch.randint(0, S, (7,)), "text": "the cat"}
    out = model.tts("sat on the mat", prompt=prompt, max_frames=8, greedy=True, end_threshold=None)
    assert out.ndim == 1 and out.numel() <= 8 and ((out >= 0) & (out < S)).all()
    # the prompt changes the context: with it the continuation differs from the bare text's
    bare = model.tts("sat on the mat", max_frames=8, greedy=True, end_threshold=None)
    trimmed = {"semantic": prompt["semantic"][:6], "text": "the cat"}  # 7 tokens use 3 whole groups of 2
    assert torch.equal(out, model.tts("sat on the mat", prompt=trimmed, max_frames=8, greedy=True,
                                      end_threshold=None))
    assert out.numel() != bare.numel() or not torch.equal(out, bare)


# ---------------------------------------------------------------------------------------------
# MaskGIT


def test_train_mask_follows_the_cosine_schedule():
    g = torch.Generator().manual_seed(0)
    maskable = torch.zeros(2000, 12, dtype=torch.bool)
    maskable[:, 3:] = True  # 3 prompt frames, 9 maskable
    maskable[1::2, 10:] = False  # half the rows shorter: 7 maskable
    m = sample_train_mask(maskable, generator=g)
    assert not (m & ~maskable).any()
    counts = m.sum(1)
    assert (counts >= 1).all() and (counts[0::2] <= 9).all() and (counts[1::2] <= 7).all()
    # E[ceil(cos(pi/2 u) n)] ~ n * 2/pi + 1/2
    assert abs(counts[0::2].float().mean().item() - (9 * 2 / math.pi + 0.5)) < 0.3
    assert cosine_mask_ratio(0.0) == 1.0 and abs(cosine_mask_ratio(1.0)) < 1e-12


def test_maskgit_decode_fills_every_mask_and_keeps_the_prompt(vocab):
    model = tiny(vocab, g=2).eval()
    T, P = 14, 5
    sem = torch.randint(0, S, (2, T))
    sem_len = torch.tensor([T, 10])
    tokens = torch.full((2, K, T), -1)
    tokens[:, :, :P] = torch.randint(0, A, (2, K, P))
    t = torch.arange(T)[None]
    masked = (t >= P) & (t < sem_len[:, None])
    seen = []

    def predict(tok, m):
        seen.append(m.sum(1).tolist())
        return model._acoustic_logits(sem, sem_len, tok, m)

    steps = 4
    gen = torch.Generator().manual_seed(0)
    out = maskgit_decode(predict, tokens, masked, steps=steps, temperature=1.0, generator=gen)
    assert torch.equal(out[:, :, :P], tokens[:, :, :P])  # prompt frames kept
    assert ((out[masked[:, None].expand_as(out)] >= 0) & (out[masked[:, None].expand_as(out)] < A)).all()
    assert (out[1, :, 10:] == -1).all()  # padding untouched
    n0 = [T - P, 10 - P]
    expect = [[n for n in n0]] + [[math.floor(n * math.cos(math.pi / 2 * (i + 1) / steps)) for n in n0]
                                  for i in range(steps - 1)]
    assert seen == expect


def test_maskgit_probabilities_are_those_that_fixed_each_frame(vocab):
    torch.manual_seed(0)
    logits = torch.randn(2, K, 9, A)

    def predict(tok, m):
        return logits + 0.1 * tok[..., None].float()  # depends on what is filled so far

    tokens = torch.randint(0, A, (2, K, 9))
    masked = torch.zeros(2, 9, dtype=torch.bool)
    masked[:, 3:] = True
    filled, probs = maskgit_decode(predict, tokens, masked, steps=3, temperature=0.0, return_probs=True)
    assert probs.shape == (2, K, 9, A) and torch.allclose(probs.sum(-1), torch.ones(2, K, 9))
    assert torch.equal(probs[:, :, :3], torch.nn.functional.one_hot(tokens[:, :, :3], A).float())  # known frames
    assert torch.equal(probs[:, :, 3:].argmax(-1), filled[:, :, 3:])  # greedy: each code is its frame's argmax
    assert torch.equal(filled, maskgit_decode(predict, tokens, masked, steps=3, temperature=0.0))
    assert maskgit_decode(predict, tokens, torch.zeros_like(masked), return_probs=True)[1] is None


def test_acoustic_api_shapes_and_prompt(vocab):
    model = tiny(vocab, g=2).eval()
    sem = [torch.randint(0, S, (6,)), torch.randint(0, S, (3,))]
    p_sem, p_ac = torch.randint(0, S, (4,)), torch.randint(0, A, (K + 1, 4))  # extra codebook is ignored
    out = model.acoustic(sem, [p_sem, p_sem], [p_ac, p_ac], steps=3)
    assert [tuple(o.shape) for o in out] == [(K, 6), (K, 3)]
    assert all(((o >= 0) & (o < A)).all() for o in out)
    full = model.acoustic(sem[0], p_sem, p_ac, steps=3, return_full=True)
    assert full.shape == (K, 10) and torch.equal(full[:, :4], p_ac[:K])
    with pytest.raises(UserError, match="prompt acoustic tokens"):
        model.acoustic(sem[0], p_sem, p_ac[:, :3])


def test_filter_logits_top_k_and_top_p():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isinf(filter_logits(logits, top_k=2)).tolist() == [[False, False, True, True]]
    assert torch.isinf(filter_logits(logits, top_p=0.7)).tolist() == [[False, False, True, True]]
    assert torch.isinf(filter_logits(logits, top_p=0.1)).tolist() == [[False, True, True, True]]


# ---------------------------------------------------------------------------------------------
# data and training


def _make_token_dir(d, vocab, lengths=(23, 9, 31, 17, 5), sem_codebook=S, n_acoustic=3):
    d.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(3)
    scp, text = [], []
    for i, T in enumerate(lengths):
        utt = f"spk1-utt{i}"
        path = d / "tok" / f"{utt}.atok"
        path.parent.mkdir(exist_ok=True)
        tokens = {"semantic": torch.randint(0, sem_codebook, (1, T), generator=g),
                  "acoustic": torch.randint(0, A, (n_acoustic, T), generator=g)}
        header = {"sample_rate": 16000, "frame_rate": 25.0,
                  "streams": [{"name": "semantic", "codebook_size": sem_codebook},
                              {"name": "acoustic", "codebook_size": A}]}
        write_tokens(path, tokens, header)
        scp.append(f"{utt} {path}\n")
        text.append(f"{utt} {SENTENCES[i % len(SENTENCES)]}\n")
    (d / "tokens.scp").write_text("".join(scp))
    (d / "text").write_text("".join(text))
    return d


def test_lm_dataset_items_crops_and_collate(vocab, tmp_path):
    d = _make_token_dir(tmp_path / "tok", vocab)
    assert dataset_class("lm_tokens") is LMTokenDataset
    ds = LMTokenDataset(d, vocab, tasks=["asr", "tts", "acoustic"], max_frames=20)
    # 23 and 31 frames are too long for asr/tts (kept whole), cropped for acoustic
    assert len(ds) == 3 + 3 + 5 and ds.skipped == {"too long": 4}
    acoustic_items = [i for i, (_, t) in enumerate(ds.items) if t == "acoustic"]
    item = ds[acoustic_items[2]]  # the 31-frame utterance
    assert item["semantic"].shape == (20,) and item["acoustic"].shape == (K, 20)
    batch = ds.collate([ds[0], ds[4], ds[acoustic_items[0]]])
    assert batch["task"].tolist() == [TASK_IDS["asr"], TASK_IDS["tts"], TASK_IDS["acoustic"]]
    assert batch["semantic"].shape == (3, 20) and batch["acoustic"].shape == (3, K, 20)
    assert batch["text_len"][2] == 0 and batch["text_len"][0] == len(vocab.encode_text(SENTENCES[1]))
    assert batch["text"][0, : batch["text_len"][0]].tolist() == vocab.encode_text(SENTENCES[1])
    with pytest.raises(DataDirError, match="tokens.scp: missing"):
        LMTokenDataset(tmp_path, vocab)
    bad = _make_token_dir(tmp_path / "bad", vocab, lengths=(5,), sem_codebook=2 * S)
    with pytest.raises(TokenFileError, match="semantic codebook of 32 codes"):
        LMTokenDataset(bad, vocab)
    with pytest.raises(UserError, match="unknown task"):
        LMTokenDataset(d, vocab, tasks=["mt"])


def test_lm_dataset_task_repeat_weights_training_items_only(vocab, tmp_path):
    d = _make_token_dir(tmp_path / "tok", vocab)
    ds = LMTokenDataset(d, vocab, tasks=["asr", "tts"], task_repeat={"asr": 3})
    tasks = [t for _, t in ds.items]
    assert tasks.count("asr") == 15 and tasks.count("tts") == 5
    assert sorted({u for u, t in ds.items if t == "asr"}) == sorted(ds.utts)
    valid = LMTokenDataset(d, vocab, tasks=["asr", "tts"], train=False, task_repeat={"asr": 3})
    assert len(valid) == 10
    # validation goes utterance by utterance, so its first batch already holds both tasks
    assert [t for _, t in valid.items[:4]] == ["asr", "tts", "asr", "tts"]
    assert valid.items[0][0] == valid.items[1][0] != valid.items[2][0]
    with pytest.raises(UserError, match="task_repeat names 'acoustic'"):
        LMTokenDataset(d, vocab, tasks=["asr", "tts"], task_repeat={"acoustic": 2})
    with pytest.raises(UserError, match="integer >= 1"):
        LMTokenDataset(d, vocab, tasks=["asr"], task_repeat={"asr": 0})


TASK_PARAMS = {"asr": "text_head.weight", "tts": "srh.head.weight", "acoustic": "acoustic_heads.0.weight"}


@pytest.mark.parametrize("task", ["asr", "tts", "acoustic"])
def test_one_training_step_per_task(vocab, tmp_path, task):
    d = _make_token_dir(tmp_path / "tok", vocab)
    ds = LMTokenDataset(d, vocab, tasks=[task], max_frames=40)
    batch = ds.collate([ds[i] for i in range(len(ds))])
    model = tiny(vocab, g=5).train()
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    out = model.forward_train(batch, 0)
    loss, logs = model.generator_loss(batch, out, 0)
    assert torch.isfinite(loss) and logs["loss"] == pytest.approx(loss.item())
    key = {"asr": "loss_asr", "tts": "loss_srh", "acoustic": "loss_acoustic"}[task]
    assert key in logs and set(logs) & {"loss_asr", "loss_srh", "loss_acoustic"} == {key}
    opt.zero_grad()
    loss.backward()
    opt.step()
    params = dict(model.named_parameters())
    assert not torch.equal(params[TASK_PARAMS[task]], before[TASK_PARAMS[task]])
    assert not torch.equal(params["lm.layers.0.attn.wq.weight"], before["lm.layers.0.attn.wq.weight"])
    for other, name in TASK_PARAMS.items():  # heads of the other tasks got no gradient
        if other != task:
            assert params[name].grad is None and torch.equal(params[name], before[name])


def test_mixed_batch_equals_per_task_batches(vocab, tmp_path):
    d = _make_token_dir(tmp_path / "tok", vocab)
    ds = LMTokenDataset(d, vocab, tasks=["asr", "tts"])
    model = tiny(vocab, g=2).eval()
    mixed = ds.collate([ds[0], ds[5], ds[1], ds[6]])  # asr, tts, asr, tts
    with torch.no_grad():
        out = model.forward_train(mixed, 0)
        asr = model.forward_train(ds.collate([ds[0], ds[1]]), 0)
        tts = model.forward_train(ds.collate([ds[5], ds[6]]), 0)
    assert torch.allclose(out["loss_asr"], asr["loss_asr"], atol=1e-6)
    assert torch.allclose(out["loss_srh"], tts["loss_srh"], atol=1e-6)
    assert torch.allclose(out["loss_end"], tts["loss_end"], atol=1e-6)


@pytest.mark.parametrize("context", ["group", "sequence"])
def test_tts_learns_a_toy_utterance(vocab, context):
    """LM + SRH trained on one (text, tokens) pair reproduce it greedily, EOS and end head included."""
    model = tiny(vocab, g=3, seed=2, loss_weights={"end": 1.0}, grouping={"srh_context": context})
    text = torch.tensor([vocab.encode_text("the cat sat")])
    sem = torch.tensor([[3, 1, 4, 1, 5, 9, 2, 6]])
    batch = {"task": torch.tensor([TASK_IDS["tts"]]), "semantic": sem, "semantic_len": torch.tensor([8]),
             "acoustic": torch.zeros(1, K, 8, dtype=torch.long), "text": text,
             "text_len": torch.tensor([text.shape[1]])}
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(120):
        loss, logs = model.generator_loss(batch, model.forward_train(batch, step), step)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    assert torch.equal(model.tts("the cat sat", greedy=True, max_frames=30), sem[0])


def test_validation_logs_the_greedy_asr_word_error_rate(vocab):
    """In eval mode generator_loss also transcribes the ASR rows: WER 1 before training on two
    utterances, 0 once they are learnt; training steps never decode."""
    model = tiny(vocab, g=2, seed=3)
    texts = [vocab.encode_text(t) for t in ("the cat sat", "a dog ran")]
    L = max(map(len, texts))
    batch = {"task": torch.tensor([TASK_IDS["asr"]] * 2),
             "semantic": torch.tensor([[3, 1, 4, 1, 5, 9], [2, 7, 1, 8, 2, 8]]), "semantic_len": torch.tensor([6, 6]),
             "acoustic": torch.zeros(2, K, 6, dtype=torch.long),
             "text": torch.tensor([t + [0] * (L - len(t)) for t in texts]),
             "text_len": torch.tensor(list(map(len, texts)))}
    model.eval()
    assert model.generator_loss(batch, model.forward_train(batch))[1]["wer_asr"] >= 0.5
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(100):
        loss, logs = model.generator_loss(batch, model.forward_train(batch, step), step)
        assert "wer_asr" not in logs
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    assert model.generator_loss(batch, model.forward_train(batch))[1]["wer_asr"] == 0.0


@pytest.mark.parametrize("units", ["pieces", "chars"])
def test_auxiliary_ctc_learns_to_read_the_speech_positions_and_is_left_out_of_packs(vocab, tmp_path, units):
    """loss_weights.ctc adds a CTC head on the ASR rows' speech positions (fed by block ctc_layer), spelling
    text pieces or characters: trained alone it transcribes two utterances (wer_ctc 1 -> 0 in validation),
    the blocks above its layer get no gradient from it, and a packed model leaves the head out and loads
    without it."""
    texts = [vocab.encode_text(t) for t in ("the cat sat", "a dog ran")]
    L = max(map(len, texts))
    T = 4 * L if units == "pieces" else 24  # 2 slots per piece / character at g = 2: room for CTC's blanks
    batch = {"task": torch.tensor([TASK_IDS["asr"]] * 2),
             "semantic": torch.randint(0, S, (2, T), generator=torch.Generator().manual_seed(0)),
             "semantic_len": torch.tensor([T, T]), "acoustic": torch.zeros(2, K, T, dtype=torch.long),
             "text": torch.tensor([t + [0] * (L - len(t)) for t in texts]),
             "text_len": torch.tensor(list(map(len, texts)))}
    model = tiny(vocab, g=2, seed=4, loss_weights={"asr": 0.0, "ctc": 1.0}, ctc_layer=1, ctc_units=units)
    if units == "chars":
        assert set("the cat sat a dog ran") <= set(model.ctc_chars) and len(model.ctc_chars) < 40
        assert model.ctc_head.n_classes == len(model.ctc_chars) + 1
    model.eval()
    assert model.generator_loss(batch, model.forward_train(batch))[1]["wer_ctc"] >= 0.5
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(150):
        out = model.forward_train(batch, step)
        loss, logs = model.generator_loss(batch, out, step)
        assert "wer_ctc" not in logs and logs["loss_ctc"] > 0
        opt.zero_grad()
        loss.backward()
        if step == 0:  # block 2 sits above the head's layer and the ASR loss weighs 0
            assert all(p.grad is None or not p.grad.any() for p in model.lm.layers[1].parameters())
            assert model.lm.layers[0].attn.wq.weight.grad.abs().sum() > 0
        opt.step()
    model.eval()
    logs = model.generator_loss(batch, model.forward_train(batch))[1]
    assert logs["wer_ctc"] == 0.0 and logs["loss_ctc"] < 0.5
    packed = model.save_pretrained(tmp_path / "m")
    from safetensors.torch import load_file

    assert not any(k.startswith("ctc_head.") for k in load_file(str(packed / "model.safetensors")))
    assert load_model(packed).ctc_head is not None  # rebuilt from the config, fresh weights
    with pytest.raises(UserError, match="ctc_layer 5 is not an LM block"):
        tiny(vocab, loss_weights={"ctc": 0.3}, ctc_layer=5)
    with pytest.raises(UserError, match="ctc_units must be"):
        tiny(vocab, loss_weights={"ctc": 0.3}, ctc_units="phones")


def test_init_from_a_run_without_ctc(vocab, tmp_path):
    """A run that adds the CTC head can start from the packed weights of one without it."""
    from audiotok.bin.train import init_weights

    plain = tiny(vocab, g=2, seed=5).save_pretrained(tmp_path / "plain")
    with_ctc = tiny(vocab, g=2, seed=6, loss_weights={"ctc": 0.3})
    init_weights(with_ctc, plain)
    ref = load_model(plain).state_dict()
    assert all(torch.equal(v, ref[k]) for k, v in with_ctc.state_dict().items() if not k.startswith("ctc_head."))


def test_init_from_an_exp_dir_keeps_its_training_only_heads(vocab, tmp_path):
    """From an exp dir, the CTC head a pack leaves out comes from the best checkpoint it packed."""
    from audiotok.bin.train import init_weights
    from audiotok.train.checkpoint import CheckpointManager

    trained = tiny(vocab, g=2, seed=7, loss_weights={"ctc": 0.3})
    exp = tmp_path / "exp"
    trained.save_pretrained(exp / "model")
    CheckpointManager(exp / "checkpoints", metric="loss").update_best(40, 1.0, trained.state_dict())
    fresh = tiny(vocab, g=2, seed=8, loss_weights={"ctc": 0.3})
    init_weights(fresh, exp)
    ref = trained.state_dict()
    assert all(torch.equal(v, ref[k]) for k, v in fresh.state_dict().items())
    packed_only = tiny(vocab, g=2, seed=8, loss_weights={"ctc": 0.3})
    init_weights(packed_only, trained.save_pretrained(tmp_path / "packed"))  # a pack alone: the head keeps its init
    assert not torch.equal(packed_only.ctc_head.proj.weight, trained.ctc_head.proj.weight)


# ---------------------------------------------------------------------------------------------
# Hugging Face init and packing


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_init_from_a_tiny_hf_causal_lm(vocab, tmp_path, arch):
    transformers = pytest.importorskip("transformers")
    from audiotok.models.hf_lm import hf_lm_conf

    torch.manual_seed(0)
    kw = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
              intermediate_size=64, vocab_size=40, rope_theta=5000.0, rms_norm_eps=1e-5, max_position_embeddings=64)
    if arch == "llama":
        hf = transformers.LlamaForCausalLM(transformers.LlamaConfig(**kw))
    else:
        hf = transformers.Qwen2ForCausalLM(transformers.Qwen2Config(**kw))
    hf.save_pretrained(tmp_path / "hf")
    conf = hf_lm_conf(tmp_path / "hf")
    assert conf["qkv_bias"] == (arch == "qwen2") and conf["rope_base"] == 5000.0
    srh = {"dim": 16, "n_layers": 1, "n_heads": 2}
    model = UnifiedLM(vocab, lm=conf, grouping={"size": 2}, srh=srh, init_from_hf=str(tmp_path / "hf"))
    assert model.config["init_from_hf"] is None
    x = torch.randn(2, 7, 32)
    from audiotok.nn.transformer import causal_mask

    with torch.no_grad():
        ref = hf.model(inputs_embeds=x).last_hidden_state
        ours = model.lm(x, mask=causal_mask(7))
    assert torch.allclose(ours, ref, atol=1e-4)
    with pytest.raises(UserError, match="does not fit the model.*ffn_dim 128 vs 64"):
        UnifiedLM(vocab, lm={**conf, "ffn_dim": 128}, init_from_hf=str(tmp_path / "hf"))
    with pytest.raises(UserError, match="not a Hugging Face model dir"):
        UnifiedLM(vocab, lm=conf, init_from_hf=str(tmp_path))


def test_save_and_load_round_trip(vocab, tmp_path):
    model = tiny(vocab, g=5, grouping={"mode": "concat"}).eval()
    out = model.save_pretrained(tmp_path / "m")
    assert (out / "vocab.json").is_file() and (out / "text.model").is_file()
    meta = json.loads((out / "meta.json").read_text())
    assert meta["model_type"] == "ulm" and meta["group_size"] == 5 and meta["lm_rate"] == 5.0
    loaded = load_model(out)
    assert isinstance(loaded, UnifiedLM) and loaded.model_id.startswith("ulm-")
    assert loaded.vocab.has_text_model  # the tokenizer came back inside the weights
    sd, sd2 = model.state_dict(), loaded.state_dict()
    assert sd.keys() == sd2.keys() and all(torch.equal(sd[k], sd2[k]) for k in sd)
    rows = [torch.randint(0, S, (12,))]
    assert loaded.asr(rows, max_len=4) == model.asr(rows, max_len=4)
    # a plain save_model_dir (what the trainer's packing does) is enough to get text back
    save_model_dir(model, tmp_path / "plain")
    assert load_model(tmp_path / "plain").vocab.encode_text("the dog") == vocab.encode_text("the dog")
    # float16 storage (what ships) halves the file and loads back as float32 within half precision
    half = model.save_pretrained(tmp_path / "half", dtype=torch.float16)
    assert (half / "model.safetensors").stat().st_size < 0.6 * (out / "model.safetensors").stat().st_size
    sd3 = load_model(half).state_dict()
    assert all(sd3[k].dtype == sd[k].dtype and torch.allclose(sd3[k], sd[k], rtol=1e-3, atol=1e-4) for k in sd)


def test_trainer_end_to_end_packs_a_loadable_model(vocab, tmp_path):
    """Registry keys + the one trainer: a few mixed-task steps, validation, packing, loading."""
    from audiotok.bin.train import train

    vocab.save(tmp_path / "lang" / "vocab.json")
    train_dir = _make_token_dir(tmp_path / "train", vocab)
    valid_dir = _make_token_dir(tmp_path / "valid", vocab, lengths=(12, 8))
    cfg = {
        "model": "ulm",
        "model_conf": {"vocab": str(tmp_path / "lang" / "vocab.json"), "dim": 32, "n_layers": 2, "n_heads": 4,
                       "group_size": 5, "srh_dim": 16, "srh_layers": 1, "srh_heads": 2, "prompt_frames": 4},
        "dataset": "lm_tokens",
        "dataset_conf": {"vocab": str(tmp_path / "lang" / "vocab.json"), "tasks": ["asr", "tts", "acoustic"],
                         "max_frames": 40},
        "batch_size": 4, "num_workers": 0, "optim": "adamw", "optim_conf": {"lr": 1e-3},
        "trainer": {"max_steps": 4, "log_interval": 2, "valid_interval": 2, "save_interval": 2,
                    "best_metric": "loss", "seed": 1},
    }
    summary = train(cfg, train_dir, valid_dir, tmp_path / "exp")
    assert summary["step"] == 4
    valid = summary["last_valid"]
    assert {"loss_asr", "loss_srh", "loss_end", "loss_acoustic", "wer_asr"} <= set(valid)
    assert all(math.isfinite(x) for x in valid.values())
    model = load_model(tmp_path / "exp")
    assert isinstance(model, UnifiedLM) and model.vocab.has_text_model
    assert isinstance(model.asr(torch.randint(0, S, (10,)), max_len=3), str)


def test_acoustic_loss_only_on_masked_target_frames(vocab):
    """Changing a prompt frame's tokens changes the loss (it is context); a batch whose frames are
    all prompt has nothing to predict and gives a zero (not NaN) loss."""
    model = tiny(vocab, g=2).eval()
    T = 12
    sem = torch.randint(0, S, (1, T))
    ac = torch.randint(0, A, (1, K, T))
    batch = {"task": torch.tensor([TASK_IDS["acoustic"]]), "semantic": sem, "semantic_len": torch.tensor([T]),
             "acoustic": ac, "text": torch.zeros(1, 1, dtype=torch.long), "text_len": torch.tensor([0]),
             "prompt_len": torch.tensor([4])}
    with torch.no_grad():
        torch.manual_seed(5)
        a = model.forward_train(batch, 0)["loss_acoustic"]
        ac2 = ac.clone()
        ac2[0, :, :4] = (ac2[0, :, :4] + 1) % A
        torch.manual_seed(5)
        b = model.forward_train({**batch, "acoustic": ac2}, 0)["loss_acoustic"]
        all_prompt = model.forward_train({**batch, "prompt_len": torch.tensor([T])}, 0)
    assert torch.isfinite(a) and not torch.allclose(a, b)
    assert float(all_prompt["loss_acoustic"]) == 0.0


def test_a_flat_lm_config_upgrades_to_the_groups_and_builds_the_same_model(vocab):
    from audiotok.models.ulm_config import upgrade_conf
    from audiotok.registry import build_model

    flat = {"vocab": vocab.to_dict(), "dim": 32, "n_layers": 2, "n_heads": 4, "dropout": 0.1, "rope_base": 500.0,
            "group_size": 3, "grouping": "concat", "srh_dim": 16, "srh_layers": 1, "srh_heads": 2,
            "end_weight": 0.5, "prompt_frames": 4}
    grouped = upgrade_conf(flat)
    assert grouped["lm"] == {"dim": 32, "n_layers": 2, "n_heads": 4, "dropout": 0.1, "rope_base": 500.0}
    assert grouped["grouping"] == {"size": 3, "mode": "concat"} and grouped["loss_weights"] == {"end": 0.5}
    # the flat layout's refined head used the LM's dropout and rotary base
    assert grouped["srh"] == {"dim": 16, "n_layers": 1, "n_heads": 2, "dropout": 0.1, "rope_base": 500.0}
    torch.manual_seed(0)
    old = build_model({"model": "ulm", "model_conf": flat})
    torch.manual_seed(0)
    new = UnifiedLM(**grouped)
    assert old.config == new.config and old.g == 3 and old.weights["end"] == 0.5
    assert all(torch.equal(a, b) for a, b in zip(old.state_dict().values(), new.state_dict().values()))
    with pytest.raises(UserError, match=r"ulm: srh: unknown key\(s\) layers \(known: dim, n_layers"):
        UnifiedLM(vocab, srh={"layers": 2})


# ---------------------------------------------------------------------------------------------
# codec front end: the tokens read through the codec's frozen semantic decoder


@pytest.fixture(scope="module")
def causal_codec(tmp_path_factory):
    from tiny_models import packed_tiny_dualcodec

    return packed_tiny_dualcodec(tmp_path_factory.mktemp("codec") / "c", semantic={"codebook_size": S, "layers": 2})


def test_codec_front_end_is_the_frozen_codec_decoder_and_generates_exactly_as_it_trains(vocab, causal_codec, tmp_path):
    codec = load_model(causal_codec)
    model = tiny(vocab, g=2, grouping={"frontend": "codec", "srh_context": "sequence"}, codec_dir=str(causal_codec))
    front = model.frontend
    assert front.context == 12 and model.describe()["frontend"] == "codec"
    assert all(torch.equal(a, b) for a, b in zip(front.dec.state_dict().values(), codec.sem_dec.state_dict().values()))
    assert torch.equal(front.vq.codebook, codec.sem_vq.codebook)
    assert not any(p.requires_grad for p in [*front.vq.parameters(), *front.dec.parameters()])

    # a training step moves the projection and never the copied decoder
    before = {k: v.clone() for k, v in front.state_dict().items()}
    groups = torch.randint(0, S, (2, 6, 2))
    model.train()
    assert not front.dec.training  # frozen parts stay in eval mode
    model.embed_groups(groups).square().sum().backward()
    torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1).step()
    after = front.state_dict()
    assert not torch.equal(after["proj.weight"], before["proj.weight"])
    assert all(torch.equal(after[k], before[k]) for k in before if not k.startswith("proj."))

    # group-by-group inputs (generation) equal the whole-sequence ones (training), history included
    model.eval()
    seq = torch.randint(0, S, (20,))
    whole = model.embed_groups(seq.view(1, 10, 2))[0]
    for i in range(10):
        prefix = seq[: 2 * (i + 1)]
        step = model._embed_next_group([prefix[-(2 + model.frontend_context):]], prefix[-2:][None])[0]
        assert torch.allclose(step, whole[i], atol=1e-5)
    # EOS and padding keep their learned embeddings
    eos = torch.tensor([[[3, S]]])
    assert torch.allclose(model._speech_frames(eos.view(1, 2))[0, 1], model.embed.weight[vocab.special("<eos_speech>")])

    # prompted, batched TTS equals one by one; the packed LM rebuilds without the codec
    texts = ["the cat sat", "hello world"]
    prompts = [{"semantic": torch.randint(0, S, (9,)), "text": "a dog"}, {"semantic": torch.randint(0, S, (4,))}]
    both = model.tts(texts, prompt=prompts, max_frames=10, greedy=True, end_threshold=None)
    for t, p, got in zip(texts, prompts, both):
        assert torch.equal(got, model.tts(t, prompt=p, max_frames=10, greedy=True, end_threshold=None))
    out = model.save_pretrained(tmp_path / "m")
    loaded = load_model(out)
    assert loaded.config["codec_dir"] is None and loaded.config["speech_frontend"]["codebook_size"] == S
    sd, sd2 = model.state_dict(), loaded.state_dict()
    assert sd.keys() == sd2.keys() and all(torch.equal(sd[k], sd2[k]) for k in sd)
    rows = [torch.randint(0, S, (12,))]
    assert loaded.asr(rows, max_len=4) == model.asr(rows, max_len=4)


def test_codec_front_end_needs_a_causal_codec(vocab, tmp_path):
    from tiny_models import packed_tiny_dualcodec

    centred = packed_tiny_dualcodec(tmp_path / "c", semantic={"codebook_size": S, "causal": False})
    with pytest.raises(UserError, match="needs a causal codec"):
        tiny(vocab, grouping={"frontend": "codec"}, codec_dir=str(centred))
    with pytest.raises(UserError, match="model_conf.codec_dir"):
        tiny(vocab, grouping={"frontend": "codec"})
    with pytest.raises(UserError, match="not a codec model dir"):
        tiny(vocab, grouping={"frontend": "codec"}, codec_dir=str(tmp_path))
    # only config.yaml and the semantic decoder's tensors are read: a dir holding just those is enough
    from safetensors.torch import load_file, save_file

    trimmed = tmp_path / "trimmed"
    trimmed.mkdir()
    (trimmed / "config.yaml").write_text((centred / "config.yaml").read_text().replace("causal: false", "causal: true"))
    save_file({k: v for k, v in load_file(str(centred / "model.safetensors")).items()
               if k.startswith(("sem_vq.", "sem_dec."))}, str(trimmed / "model.safetensors"))
    assert tiny(vocab, grouping={"frontend": "codec"}, codec_dir=str(trimmed)).frontend.context == 6
    with pytest.raises(UserError, match="'embed' or 'codec'"):
        tiny(vocab, grouping={"frontend": "mel"})


def test_bidirectional_asr_speech_sees_the_whole_utterance_and_text_stays_causal(vocab, tmp_path):
    """asr_attention: bidirectional turns the ASR rows into a prefix LM over the speech."""
    speech = torch.randint(0, S, (1, 8))
    later = speech.clone()
    later[0, -2:] = (later[0, -2:] + 1) % S  # only the last group differs
    text, text_len = torch.tensor([[3, 4, 5]]), torch.tensor([3])
    for attention, first_changes in (("causal", False), ("bidirectional", True)):
        model = tiny(vocab, g=2, asr_attention=attention, loss_weights={"ctc": 0.5}).eval()
        hidden = []
        for sem in (speech, later):
            segs = model._asr_prefix([sem[0]])
            x, offsets, start, total = pack_segments(segs)
            span = torch.stack([offsets[1], offsets[1] + segs[1][1]], 1) if model.asr_bidirectional else None
            with torch.no_grad():
                hidden.append(model._run("asr", x, start, total, span)[0])
        first_speech = int(offsets[1])
        assert (not torch.allclose(hidden[0][0, first_speech], hidden[1][0, first_speech])) == first_changes
        assert model.describe()["asr_attention"] == attention
        out = model._asr_train(speech, torch.tensor([8]), text, text_len)
        assert torch.isfinite(out["loss_asr"]) and torch.isfinite(out["loss_ctc"])
    # text after the speech stays causal: a later text token never changes an earlier position
    model = tiny(vocab, g=2, asr_attention="bidirectional").eval()
    segs = model._asr_prefix([speech[0]])
    a = torch.cat([pack_segments(segs)[0], model.embed(torch.tensor([[7, 8]]))], 1)
    b = torch.cat([pack_segments(segs)[0], model.embed(torch.tensor([[7, 9]]))], 1)
    x, offsets, start, total = pack_segments(segs)
    span = torch.stack([offsets[1], offsets[1] + segs[1][1]], 1)
    with torch.no_grad():
        ha = model._run("asr", a, start, total + 2, span)[0]
        hb = model._run("asr", b, start, total + 2, span)[0]
    assert torch.allclose(ha[:, :-1], hb[:, :-1]) and not torch.allclose(ha[:, -1], hb[:, -1])
    with pytest.raises(UserError, match="'causal' or 'bidirectional'"):
        tiny(vocab, asr_attention="both")


def test_speech_augment_masks_spans_swaps_codes_and_only_in_training(vocab):
    """SpeechAugment: about the configured share of real frames masked in whole spans, some codes
    replaced, padding untouched; eval mode (validation, decoding) sees the clean speech."""
    model = tiny(vocab, g=5, speech_augment={"mask_prob": 0.05, "mask_span": 4, "substitute": 0.1})
    torch.manual_seed(0)
    groups, ng = group_tokens(torch.randint(0, S, (64, 200)), torch.tensor([200] * 32 + [120] * 32), 5)
    ids, masked = model._augment_speech(groups)
    real = groups >= 0
    assert not masked[~real].any() and torch.equal(ids[~real], groups[~real])
    share = masked[real].float().mean().item()
    assert 0.12 < share < 0.22  # 1 - (1 - 0.05)^4 = 0.185
    flat = masked.reshape(64, -1)[:32].int()
    runs = (flat[:, 1:] - flat[:, :-1] == 1).sum().item()  # span starts (a span may merge with the next)
    assert flat.sum().item() / max(runs, 1) >= 4
    swapped = (ids != groups) & real & ~masked
    assert 0.05 < swapped.sum().item() / (real & ~masked).sum().item() < 0.1  # 0.1, less codes drawn equal
    assert not (ids[real] < 0).any() and (ids[real] < S).all()

    batch = {"semantic": torch.randint(0, S, (4, 30)), "semantic_len": torch.tensor([30, 25, 20, 12]),
             "text": torch.randint(0, vocab.text_size, (4, 6)), "text_len": torch.tensor([6, 5, 4, 3])}
    plain = tiny(vocab, g=5)
    plain.load_state_dict(model.state_dict())
    args = (batch["semantic"], batch["semantic_len"], batch["text"], batch["text_len"])
    model.eval(), plain.eval()
    with torch.no_grad():
        assert torch.equal(model._asr_train(*args)["loss_asr"], plain._asr_train(*args)["loss_asr"])
    model.train(), plain.train()
    with torch.no_grad():
        assert not torch.equal(model._asr_train(*args)["loss_asr"], plain._asr_train(*args)["loss_asr"])
    with pytest.raises(UserError, match="speech_augment mask_prob"):
        tiny(vocab, speech_augment={"mask_prob": 1.5})
    with pytest.raises(UserError, match="unknown key"):
        tiny(vocab, speech_augment={"mask": 0.1})


def test_acoustic_stage_can_read_semantic_tokens_through_the_codec_front_end(vocab, causal_codec):
    """acoustic_frontend: the acoustic stage's frame inputs carry the front end's features of each semantic
    token (the semantic embeddings play no part), training reaches the front end's projection, and the
    stage decodes; without a front end it is a one-line error."""
    model = tiny(vocab, g=2, grouping={"frontend": "codec"}, codec_dir=str(causal_codec), acoustic_frontend=True)
    sem = torch.randint(0, S, (2, 12))
    ac = torch.randint(0, A, (2, K, 12))
    masked = torch.rand(2, 12) < 0.5
    before = model.embed_frames(sem, ac, masked)
    with torch.no_grad():
        model.embed.weight[vocab.token_bias["semantic"]: vocab.token_bias["semantic"] + S] += 1.0
    assert torch.equal(model.embed_frames(sem, ac, masked), before)
    expected = model.frontend(sem) + torch.where(
        masked[..., None], model.embed.weight[vocab.special("<mask>")],
        model.embed(ac + torch.tensor(vocab.token_bias["acoustic"])[None, :, None]).sum(1))
    assert torch.allclose(before, expected, atol=1e-6)
    out = model.forward_train({"task": torch.tensor([TASK_IDS["acoustic"]] * 2), "semantic": sem,
                               "semantic_len": torch.tensor([12, 9]), "acoustic": ac,
                               "text": torch.zeros(2, 1, dtype=torch.long), "text_len": torch.zeros(2, dtype=torch.long)})
    out["loss_acoustic"].backward()
    assert model.frontend.proj.weight.grad.abs().sum() > 0
    model.eval()
    got = model.acoustic(torch.randint(0, S, (7,)), torch.randint(0, S, (4,)), torch.randint(0, A, (K, 4)), steps=2)
    assert got.shape == (K, 7)
    with pytest.raises(UserError, match="acoustic_frontend needs the codec front end"):
        tiny(vocab, acoustic_frontend=True)
