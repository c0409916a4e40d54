"""Text pacing of the unified LM's TTS rows (audiotok/models/ulm_pacing.py): the layouts, and that
cached generation with text slots runs exactly the rows training sees."""

import pytest
import torch

from audiotok.errors import UserError
from audiotok.models.srh import speech_targets
from audiotok.models.ulm import TASK_IDS
from audiotok.models.ulm_pacing import FILL, SPEECH, TEXT, TTS, TextPacing
from test_ulm import K, S, _threads, tiny, vocab  # noqa: F401  (the fixtures: one BPE vocabulary, one thread)


def test_plain_and_paced_rows():
    seq, pred = TextPacing().row(3, 3)  # plain: the text, then <sos_speech> and the groups
    assert seq == [(TTS, 0), (TEXT, 0), (TEXT, 1), (TEXT, 2), (SPEECH, 0), (SPEECH, 1), (SPEECH, 2)]
    assert pred == [4, 5, 6]
    seq, pred = TextPacing(every=1, lead=2).row(3, 4)  # one piece after every group; <eos> past the text
    assert seq == [(TTS, 0), (TEXT, 0), (TEXT, 1), (SPEECH, 0), (SPEECH, 1), (TEXT, 2), (SPEECH, 2), (FILL, 0),
                   (SPEECH, 3), (FILL, 0)]
    assert pred == [3, 5, 7, 9]  # group i is predicted after speech input i and its text slot
    seq, pred = TextPacing(every=2, lead=1).row(5, 5)
    assert [s for s in seq if s[0] == TEXT] == [(TEXT, 0), (TEXT, 1), (TEXT, 2)]
    assert pred == [2, 3, 5, 6, 8]
    assert TextPacing(every=2, lead=1).extra_positions(5) >= 2
    # text slots fed between the groups (the TTS throughput counts them as LM positions)
    assert TextPacing(every=2, lead=1).slots(1, 5) == 2 and TextPacing(every=1).slots(3, 4) == 2
    assert TextPacing().slots(1, 9) == 0
    with pytest.raises(UserError, match="tts_pacing"):
        TextPacing(every=-1)


def teacher_forced_tokens(model, text, tokens):
    """The refined head's greedy choice for every token of `tokens` given the ones before it, through
    the training rows (UnifiedLM._tts_rows)."""
    ids = torch.tensor([model.vocab.encode_text(text)])
    tgt, ng = speech_targets(tokens[None], torch.tensor([tokens.numel()]), model.g, eos=model.S)
    N = tgt.shape[1]
    speech_in = torch.cat([model._sp("<sos_speech>", 1, "cpu"), model.embed_groups(tgt[:, : N - 1])], 1)
    x, total, predicts = model._tts_rows(ids, torch.tensor([ids.shape[1]]), speech_in, ng)
    h, _ = model._run("tts", x, torch.zeros_like(total), total)
    h_sp = h.gather(1, predicts[..., None].expand(-1, -1, h.shape[-1]))
    keep = torch.ones(1, N, dtype=torch.bool)
    logits = model.srh(h_sp if model.srh.context == "sequence" else h_sp[keep],
                       tgt if model.srh.context == "sequence" else tgt[keep])
    return logits.argmax(-1).reshape(-1)[: tokens.numel()]


@pytest.mark.parametrize("every,context", [(1, "sequence"), (2, "group"), (2, "sequence")])
def test_paced_generation_is_what_training_sees(vocab, every, context):
    model = tiny(vocab, g=2, seed=3, tts_pacing={"every": every, "lead": 2},
                 grouping={"srh_context": context}).eval()
    with torch.no_grad():
        for text in ("the cat sat on the mat", "hi"):  # a text longer and one shorter than the pace
            out = model.tts(text, max_frames=14, greedy=True, end_threshold=None)
            assert out.numel() > 0
            assert torch.equal(teacher_forced_tokens(model, text, out), out)


def test_paced_batches_with_prompts_of_different_lengths_equal_one_by_one(vocab):
    """Rows whose text slots fall at different steps (prompts of 4 and 1 groups, a slot every 2 groups)
    skip them without disturbing each other."""
    model = tiny(vocab, g=2, seed=4, tts_pacing={"every": 2, "lead": 1}, grouping={"srh_context": "sequence"}).eval()
    texts = ["the cat sat", "hello world this is a test"]
    prompts = [{"semantic": torch.randint(0, S, (9,)), "text": "a dog"}, {"semantic": torch.randint(0, S, (3,))}]
    both = model.tts(texts, prompt=prompts, max_frames=12, greedy=True, end_threshold=None)
    for t, p, got in zip(texts, prompts, both):
        assert torch.equal(got, model.tts(t, prompt=p, max_frames=12, greedy=True, end_threshold=None))


def test_paced_tts_learns_a_toy_utterance(vocab):
    """Trained on one (text, tokens) pair, the paced LM reproduces it greedily, stopping by itself."""
    model = tiny(vocab, g=3, seed=2, loss_weights={"end": 1.0}, tts_pacing={"every": 1, "lead": 1})
    text = torch.tensor([vocab.encode_text("the cat sat")])
    sem = torch.tensor([[3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5]])
    batch = {"task": torch.tensor([TASK_IDS["tts"]]), "semantic": sem, "semantic_len": torch.tensor([sem.shape[1]]),
             "acoustic": torch.zeros(1, K, sem.shape[1], dtype=torch.long), "text": text,
             "text_len": torch.tensor([text.shape[1]])}
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(120):
        loss, _ = model.generator_loss(batch, model.forward_train(batch, step), step)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    assert torch.equal(model.tts("the cat sat", greedy=True, max_frames=30), sem[0])


def test_tts_rows_learn_to_spell_their_text_with_the_ctc_head(vocab):
    """loss_weights.tts_ctc: the positions that predict each group are trained, through the ASR rows'
    CTC head, to spell the text that group speaks; it needs that head."""
    model = tiny(vocab, g=2, seed=5, loss_weights={"ctc": 0.5, "tts_ctc": 1.0}, ctc_units="chars", ctc_layer=1,
                 tts_pacing={"every": 1, "lead": 2})
    text = torch.tensor([vocab.encode_text("the cat sat")])
    sem = torch.randint(0, S, (1, 16))
    batch = {"task": torch.tensor([TASK_IDS["tts"]]), "semantic": sem, "semantic_len": torch.tensor([16]),
             "acoustic": torch.zeros(1, K, 16, dtype=torch.long), "text": text,
             "text_len": torch.tensor([text.shape[1]])}
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for step in range(60):
        out = model.forward_train(batch, step)
        loss, logs = model.generator_loss(batch, out, step)
        first = logs["loss_tts_ctc"] if first is None else first
        opt.zero_grad()
        loss.backward()
        if step == 0:
            assert model.ctc_head.proj.weight.grad.abs().sum() > 0
        opt.step()
    assert logs["loss_tts_ctc"] < 0.5 * first
    with pytest.raises(UserError, match="tts_ctc needs the CTC head"):
        tiny(vocab, loss_weights={"tts_ctc": 1.0})
