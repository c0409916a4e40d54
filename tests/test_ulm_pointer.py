"""The unified LM's text pointer (audiotok/models/ulm_pointer.py): pointers and advances from alignments,
the conditioning vectors, training and cached generation, the dataset's `text_starts`, and the forced
aligner that writes them (audiotok/data/text_align.py, `audiotok align-text`)."""

import warnings

import pytest
import torch

from audiotok.data.lm_dataset import LMTokenDataset
from audiotok.data.text_align import PieceChars, ctc_viterbi, unit_starts
from audiotok.errors import DataDirError, UserError
from audiotok.models.ulm import TASK_IDS
from audiotok.models.ulm_pointer import NEVER, PointerCond, TextPointer, advances, pointers
from test_ulm import K, S, _threads, tiny, vocab  # noqa: F401  (the fixtures: one BPE vocabulary, one thread)


def test_pointers_and_advances_from_starts():
    # 3 pieces starting at frames 2, 3 and 9, speech ending at frame 13; groups of 4 frames
    starts = torch.tensor([[2, 3, 9, 13, NEVER]])
    ptr = pointers(starts, 5, 4)
    assert ptr.tolist() == [[1, 1, 2, 3, 3]]  # group 0 starts pieces 0 and 1; group 3 is past the text
    a, clipped = advances(ptr, 1)
    assert a.tolist() == [[1, 0, 1, 1, 0]] and clipped == 1  # group 0's advance of 2 is clipped to 1
    assert pointers(torch.tensor([[5, 6]]), 2, 4).tolist() == [[-1, 1]]  # nothing started yet: -1
    with pytest.raises(UserError, match="max_advance"):
        TextPointer(max_advance=-1)
    assert not TextPointer().active and TextPointer(max_advance=3).active
    with pytest.raises(UserError, match="need max_advance > 0"):
        TextPointer(units="chars")  # configured, but off: it would train silently without the pointer


def test_conditioning_reads_the_pieces_each_group_speaks():
    D = 4
    cond = PointerCond(D, 3)
    with torch.no_grad():
        cond.span.weight.copy_(torch.eye(D))
        cond.next.weight.zero_()
    before, after = torch.full((1, D), -1.0), torch.full((1, D), 100.0)
    text = torch.arange(1.0, 4.0)[None, :, None].expand(1, 3, D)  # pieces 1, 2, 3 (+ padding below)
    text = torch.cat([text, torch.full((1, 2, D), 7.0)], 1)
    bank = cond.bank(before, text, torch.tensor([3]), after)
    assert bank[0, :, 0].tolist() == [-1, 1, 2, 3, 100, 100, 100]  # padding reads <eos>, never a pad piece
    prev, ptr = torch.tensor([[-1, 0, 2, 3]]), torch.tensor([[0, 2, 3, 3]])
    c = cond(bank, torch.tensor([3]), prev, ptr)
    assert c[0, :, 0].tolist() == pytest.approx([0.0, 2.0, 51.5, 100.0])  # means of slots 0-1, 1-3, 3-4, 4
    with torch.no_grad():
        cond.span.weight.zero_()
        cond.next.weight.copy_(torch.eye(D))
    assert cond(bank, torch.tensor([3]), prev, ptr)[0, :, 0].tolist() == [2, 100, 100, 100]  # the piece after


def _batch(vocab, text, sem, starts):
    ids = torch.tensor([vocab.encode_text(text)])
    return {"task": torch.tensor([TASK_IDS["tts"]]), "semantic": sem, "semantic_len": torch.tensor([sem.shape[1]]),
            "acoustic": torch.zeros(1, K, sem.shape[1], dtype=torch.long), "text": ids,
            "text_len": torch.tensor([ids.shape[1]]), "text_start": torch.tensor([starts])}


def test_a_new_pointer_leaves_a_trained_lm_as_it_was(vocab):
    """Zero-initialised projections: the same weights with and without the pointer give the same SRH loss."""
    plain = tiny(vocab, g=2, seed=1)
    pointed = tiny(vocab, g=2, seed=1, tts_pointer={"max_advance": 3})
    missing, unexpected = pointed.load_state_dict(plain.state_dict(), strict=False)
    assert all(k.startswith("pointer.") for k in missing) and not unexpected
    n = len(vocab.encode_text("the cat sat"))
    batch = _batch(vocab, "the cat sat", torch.randint(0, S, (1, 12)), list(range(1, n + 1)) + [11])
    torch.manual_seed(0)
    a = plain.forward_train(batch)["loss_srh"]
    torch.manual_seed(0)
    out = pointed.forward_train(batch)
    assert float(out["loss_srh"].detach()) == pytest.approx(float(a.detach()), abs=1e-5) and "loss_pointer" in out
    with pytest.raises(UserError, match="text_starts"):
        pointed.forward_train({k: v for k, v in batch.items() if k != "text_start"})
    with pytest.raises(UserError, match="one frame per text piece"):
        pointed.forward_train({**batch, "text_start": torch.tensor([[1, 2]])})
    with pytest.raises(UserError, match="plain TTS rows"):
        tiny(vocab, tts_pointer={"max_advance": 3}, tts_pacing={"every": 1})


@pytest.mark.parametrize("units", ["pieces", "chars"])
def test_pointer_tts_learns_a_toy_utterance_and_batches_match_one_by_one(vocab, units):
    """Trained on one aligned (text, tokens) pair, the LM keeps its place and reproduces the tokens greedily,
    stopping by itself; rows of a batch with voice prompts of different lengths generate what they do alone."""
    model = tiny(vocab, g=3, seed=2, loss_weights={"end": 1.0}, grouping={"srh_context": "sequence"},
                 tts_pointer={"max_advance": 3 if units == "pieces" else 8, "units": units})
    text = "the cat sat"
    n = len(model.pointer_units(vocab.encode_text(text)))
    assert n == (len(" " + text) if units == "chars" else len(vocab.encode_text(text)))  # "▁the": a space first
    sem = torch.tensor([[3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 7]])
    starts = [min(1 + k * 11 // n, 11) for k in range(n)] + [12]
    batch = _batch(vocab, text, sem, starts)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(150):
        loss, logs = model.generator_loss(batch, model.forward_train(batch, step), step)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert logs["acc_pointer"] == 1.0
    if units == "chars":  # the inventory rides in the config: a rebuilt model spells the same
        assert model.config["tts_pointer"]["chars"] == model.pointer_chars and "t" in model.pointer_chars
    model.eval()
    assert torch.equal(model.tts(text, greedy=True, max_frames=30), sem[0])
    texts = ["the cat sat", "hello world this is a test"]
    prompts = [{"semantic": torch.randint(0, S, (9,)), "text": "a dog"}, {"semantic": torch.randint(0, S, (3,))}]
    both = model.tts(texts, prompt=prompts, max_frames=12, greedy=True, end_threshold=None)
    for t, p, got in zip(texts, prompts, both):
        assert torch.equal(got, model.tts(t, prompt=p, max_frames=12, greedy=True, end_threshold=None))
    sampled = model.tts(texts, max_frames=12, greedy=False, top_k=5, generator=torch.Generator().manual_seed(0))
    assert all(0 < s.numel() <= 12 for s in sampled)


def _tokens_dir(tmp_path, vocab, texts):
    from audiotok.tokfile import write_tokens

    d = tmp_path / "tok"
    d.mkdir()
    scp = []
    for i, t in enumerate(texts):
        header = {"sample_rate": 16000, "frame_rate": 25.0, "model_type": "dualcodec", "original_length": 640 * 10,
                  "streams": [{"name": "semantic", "codebook_size": S, "n_codebooks": 1}]}
        write_tokens(d / f"u{i}.atok", {"semantic": torch.randint(0, S, (1, 10))}, header)
        scp.append(f"u{i} {d / f'u{i}.atok'}\n")
    (d / "tokens.scp").write_text("".join(scp))
    (d / "text").write_text("".join(f"u{i} {t}\n" for i, t in enumerate(texts)))
    return d


def test_dataset_reads_text_starts_and_skips_unaligned_tts_items(vocab, tmp_path):
    texts = ["the cat sat", "hello world"]
    d = _tokens_dir(tmp_path, vocab, texts)
    n0 = len(vocab.encode_text(texts[0]))
    (d / "text_starts").write_text("u0 " + " ".join(str(k) for k in range(n0 + 1)) + "\n")
    ds = LMTokenDataset(d, vocab, tasks=["asr", "tts"], text_starts="pieces")
    assert ds.skipped == {"no alignment": 1} and len(ds) == 3  # u1's TTS item; both ASR items stay
    tts = [ds[i] for i in range(len(ds)) if ds.items[i][1] == "tts"]
    batch = ds.collate([ds[0], *tts])
    assert batch["text_start"].shape == (2, n0 + 1)
    assert batch["text_start"][1].tolist() == list(range(n0 + 1))
    assert bool((batch["text_start"][0] == NEVER).all())  # an ASR row: no alignment
    (d / "text_starts").write_text("u0 1 2\n")
    with pytest.raises(DataDirError, match=r"text_starts: utterance u0 has 2 frames for \d+ text pieces"):
        LMTokenDataset(d, vocab, tasks=["tts"], text_starts="pieces")
    (d / "text_starts").unlink()
    with pytest.raises(DataDirError, match="text_starts: missing"):
        LMTokenDataset(d, vocab, tasks=["tts"], text_starts="pieces")
    # character units: one frame per character of the pieces, and the end
    (d / "char_starts").write_text("u0 " + " ".join(str(k) for k in range(len(" the cat sat") + 1)) + "\n")
    ds = LMTokenDataset(d, vocab, tasks=["tts"], text_starts="chars")
    assert ds.collate([ds[0]])["text_start"].shape == (1, len(" the cat sat") + 1)
    (d / "char_starts").rename(d / "text_starts")
    with pytest.raises(DataDirError, match=f"13 frames for {n0} text pieces"):
        LMTokenDataset(d, vocab, tasks=["tts"], text_starts="pieces")
    with pytest.raises(UserError, match="text_starts must be"):
        LMTokenDataset(d, vocab, tasks=["tts"], text_starts="words")


def test_viterbi_matches_torchaudio_and_spells_pieces(vocab):
    g = torch.Generator().manual_seed(0)
    checked = 0
    for _ in range(30):
        T = int(torch.randint(8, 40, (1,), generator=g))
        targets = torch.randint(1, 5, (int(torch.randint(1, T // 2, (1,), generator=g)),), generator=g)
        lp = (3 * torch.randn(T, 5, generator=g)).log_softmax(-1)
        first, last = ctc_viterbi(lp.numpy(), targets.tolist())
        assert (first <= last).all() and (first[1:] > last[:-1]).all()  # each symbol after the one before
        try:
            import torchaudio.functional as F

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                path, _ = F.forced_align(lp[None], targets[None].int(), blank=0)
        except (ImportError, AttributeError):
            continue
        labels = path[0].tolist()
        ref = []
        for t, s in enumerate(labels):
            if s and (t == 0 or s != labels[t - 1]):
                ref.append(t)
        assert ref == first.tolist()
        checked += 1
    assert checked or not hasattr(__import__("torchaudio").functional, "forced_align")
    with pytest.raises(UserError, match="cannot spell"):
        ctc_viterbi(torch.zeros(2, 3).numpy(), [1, 1])  # a repeat needs a blank between: 3 slots
    chars = PieceChars(vocab)
    pieces = vocab.encode_text("the cat sat")
    ids, firsts = chars.spell(pieces)
    assert chars.decode(ids) == "the cat sat" and len(firsts) == len(pieces)
    assert [chars.chars[ids[f] - 1] for f in firsts][0] == "t"  # a piece starts at its first letter, not its space
    assert chars.spell(pieces, "chars")[1] == list(range(len(ids)))  # character units: every character
    assert unit_starts([0, 2, 4, 6], [1, 3, 4, 9], [0, 2], 8) == [0, 4, 8]  # speech ends after the last frame, capped


SPELL = " abcd"


def test_align_text_finds_where_spelled_pieces_start(tmp_path):
    """Tokens that spell their text (each character held 3 frames, a silence first): the aligner's
    starts fall within a frame of the truth, and a re-run reuses the trained reader."""
    import subprocess
    import sys

    from audiotok.models.ulm_vocab import JointVocab, train_text_model
    from audiotok.tokfile import write_tokens

    words = ["ab", "ba", "cab", "abc", "bad", "dab", "cad", "add"]
    g = torch.Generator().manual_seed(0)
    sentences = [" ".join(words[int(j)] for j in torch.randint(0, 8, (3,), generator=g)) for _ in range(80)]
    model = train_text_model(sentences, tmp_path / "bpe.model", vocab_size=16)
    vocab = JointVocab.from_text_model(model, semantic_size=8)
    vocab.save(tmp_path / "vocab.json")
    chars = PieceChars(vocab)
    truth = {}
    for split, part in (("train", sentences[:64]), ("dev", sentences[64:])):
        d = tmp_path / split
        d.mkdir()
        scp = []
        for i, t in enumerate(part):
            pieces = vocab.encode_text(t)
            ids, firsts = chars.spell(pieces)
            spelled = [SPELL.index(chars.chars[c - 1]) + 1 for c in ids]
            codes = [0, 0] + [c for c in spelled for _ in range(3)] + [0, 0]
            truth[f"{split}{i}"] = [2 + 3 * f for f in firsts] + [2 + 3 * len(ids)]
            header = {"sample_rate": 16000, "frame_rate": 25.0, "model_type": "dualcodec",
                      "original_length": 640 * len(codes),
                      "streams": [{"name": "semantic", "codebook_size": 8, "n_codebooks": 1}]}
            write_tokens(d / f"{split}{i}.atok", {"semantic": torch.tensor([codes])}, header)
            scp.append(f"{split}{i} {d / f'{split}{i}.atok'}\n")
        (d / "tokens.scp").write_text("".join(scp))
        (d / "text").write_text("".join(f"{split}{i} {t}\n" for i, t in enumerate(part)))
    cmd = [sys.executable, "-m", "audiotok", "align-text", str(tmp_path / "train"), str(tmp_path / "dev"),
           "--train-dir", str(tmp_path / "train"), "--valid-dir", str(tmp_path / "dev"),
           "--vocab", str(tmp_path / "vocab.json"), "--exp-dir", str(tmp_path / "exp"), "--steps", "300",
           "--dim", "32", "--layers", "1", "--heads", "2", "--lr", "3e-3"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "64 utterances aligned" in r.stderr and "16 utterances aligned" in r.stderr
    off = []
    for split in ("train", "dev"):
        for line in (tmp_path / split / "text_starts").read_text().splitlines():
            utt, *frames = line.split()
            assert len(frames) == len(truth[utt])
            off += [abs(int(f) - t) for f, t in zip(frames, truth[utt])]
    assert max(off) <= 2 and sum(off) / len(off) < 1.0
    # the LM's dataset reads them
    ds = LMTokenDataset(tmp_path / "dev", vocab, tasks=["tts"], text_starts="pieces")
    assert len(ds) == 16 and not ds.skipped
    r = subprocess.run(cmd + ["--units", "chars"], capture_output=True, text=True)
    assert r.returncode == 0 and "reader from" in r.stderr  # the trained reader, not a second training
    off = []
    for line in (tmp_path / "dev" / "char_starts").read_text().splitlines():
        utt, *frames = line.split()
        n = len(frames) - 1  # every character, then the end
        assert int(frames[-1]) == truth[utt][-1] or abs(int(frames[-1]) - truth[utt][-1]) <= 2
        off += [abs(int(f) - (2 + 3 * k)) for k, f in enumerate(frames[:n])]
    assert max(off) <= 2 and sum(off) / len(off) < 1.0
    ds = LMTokenDataset(tmp_path / "dev", vocab, tasks=["tts"], text_starts="chars")
    assert len(ds) == 16 and not ds.skipped
    bad = [a if a != str(tmp_path / "vocab.json") else str(tmp_path / "missing.json") for a in cmd]
    r = subprocess.run(bad, capture_output=True, text=True)
    assert r.returncode != 0 and "missing.json: no such vocab.json" in r.stderr and "Traceback" not in r.stderr
