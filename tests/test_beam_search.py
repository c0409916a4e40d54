"""Beam search: finds what greedy misses on a toy bigram model, one beam equals greedy, and the unified
LM's batched beam search (KV cache reordered between beams) equals decoding each utterance alone."""

import math

import pytest
import torch
from test_ulm import SENTENCES, tiny

from audiotok.errors import UserError
from audiotok.models.beam_search import beam_search
from audiotok.models.ulm_vocab import JointVocab, train_text_model

EOS = 0


def bigram(table):
    """A toy decoder whose next-token distribution depends on the last token only: the caller's KV cache
    becomes nothing, so reorder is a no-op (the fed token carries the state)."""
    logp = torch.tensor(table).log()
    return logp, (lambda tok: logp[tok]), (lambda index: None)


# token 1 looks best first but leads to a flat distribution; token 2 leads to a sure end
TABLE = [[1.0, 0.0, 0.0],       # after eos (never fed)
         [0.34, 0.33, 0.33],    # after 1
         [0.98, 0.01, 0.01]]    # after 2
FIRST = torch.tensor([[0.0, 0.55, 0.45]]).log()


def test_beam_finds_the_sequence_greedy_misses_and_one_beam_is_greedy():
    logp, step, reorder = bigram(TABLE)
    assert beam_search(FIRST, step, reorder, beam_size=1, max_len=5, eos=EOS, length_penalty=0) == [[1]]
    assert beam_search(FIRST, step, reorder, beam_size=2, max_len=5, eos=EOS, length_penalty=0) == [[2]]
    # p(1, eos) = 0.187 < p(2, eos) = 0.441: the exact best of all sequences
    assert math.log(0.45 * 0.98) > math.log(0.55 * 0.34)


def test_beam_batches_utterances_independently_and_stops_at_max_len():
    logp, step, reorder = bigram([[1.0, 0.0, 0.0], [0.01, 0.98, 0.01], [0.98, 0.01, 0.01]])
    first = torch.tensor([[0.0, 0.9, 0.1], [0.0, 0.1, 0.9], [0.0, 0.5, 0.5]]).log()
    together = beam_search(first, step, reorder, beam_size=3, max_len=4, eos=EOS)
    assert together == [beam_search(first[i: i + 1], step, reorder, 3, 4, EOS)[0] for i in range(3)]
    # a finished hypothesis beats the likelier ones still running at max_len
    assert together[0] == [2]
    # nothing can end (eos impossible): the best unfinished hypothesis, max_len tokens long
    logp, step, reorder = bigram([[1.0, 0.0, 0.0], [0.0, 0.9, 0.1], [0.0, 0.1, 0.9]])
    assert beam_search(torch.tensor([[0.0, 0.9, 0.1]]).log(), step, reorder, 2, 4, EOS) == [[1, 1, 1, 1]]


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    d = tmp_path_factory.mktemp("lang")
    model = train_text_model(SENTENCES * 4, d / "bpe.model", vocab_size=48)
    vocab = JointVocab.from_text_model(model, semantic_size=16, acoustic_size=8, n_acoustic=2)
    return tiny(vocab, g=2, asr_attention="bidirectional").eval()


def test_ulm_batched_beam_search_equals_one_by_one(tiny_lm):
    torch.manual_seed(1)
    rows = [torch.randint(0, 16, (n,)) for n in (9, 4, 13)]
    together = tiny_lm.asr_ids(rows, max_len=12, beam_size=3)
    alone = [tiny_lm.asr_ids([r], max_len=12, beam_size=3)[0] for r in rows]
    assert together == alone
    assert all(len(t) <= 12 for t in together)
    with pytest.raises(UserError, match="beam_size must be >= 1"):
        tiny_lm.asr_ids(rows, beam_size=0)
