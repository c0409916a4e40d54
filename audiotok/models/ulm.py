"""The unified speech LM: one decoder-only transformer for ASR, TTS and acoustic infilling.

Tasks (the first token selects the behaviour; the transformer weights are shared):

  asr       [<asr>, G_0 .. G_{n-1}, <sos_text>, t_1 .. t_L] -> t_1 .. t_L <eos>     causal
            G_i = one LM position for g semantic tokens (GroupEmbed: mean or concat + Linear)
  tts       [<tts>, t_1 .. t_L, <sos_speech>, G_0 .. G_{n-2}] -> the SRH emits group i from the
            hidden state of the position before it; the target stream is the semantic tokens,
            <eos_speech>, then padding to whole groups; a binary end head predicts whether the
            group about to be emitted is the last one                                causal
  acoustic  [<acoustic>, frame_1 .. frame_T] with frame_t = E(semantic_t) + sum_k E(acoustic_k,t),
            or E(semantic_t) + E(<mask>) for a masked frame; the first P frames are the voice
            prompt (never masked); K heads predict the acoustic codebooks of masked frames
            (MaskGIT: cosine schedule in training, iterative decoding at inference)
            causal before the span, bidirectional inside the frame span (UniVoice's dual mask)

Training batch (what `audiotok.data.lm_dataset.LMTokenDataset.collate` builds); ids are
stream-local (sentencepiece ids, codebook indices); the model adds the joint-vocab offsets:
    task          LongTensor [B]      0 asr, 1 tts, 2 acoustic (TASKS order)
    semantic      LongTensor [B,T]    semantic tokens at the codec rate, right-padded
    semantic_len  LongTensor [B]
    acoustic      LongTensor [B,K,T]  acoustic codebooks (K = vocab.n_acoustic; K may be 0)
    text          LongTensor [B,L]    text BPE ids, right-padded
    text_len      LongTensor [B]
    prompt_len    LongTensor [B]      optional: acoustic prompt frames (else drawn at random)
    text_start    LongTensor [B,n+1]  with `tts_pointer`: each text unit's first frame, then where
                                      speech ends (audiotok.models.ulm_pointer), padded with NEVER
"""

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from audiotok.config import config_group, plain_config
from audiotok.errors import UserError
from audiotok.models.beam_search import beam_search
from audiotok.models.maskgit import maskgit_decode, sample_train_mask
from audiotok.models.sampling import Sampler
from audiotok.models.srh import IGNORE, GroupEmbed, SpeechRefinedHead, group_tokens, speech_targets
from audiotok.models.ulm_config import LM_DEFAULTS, SRH_DEFAULTS, Grouping, SpeechAugment, TaskWeights, upgrade_conf
from audiotok.models.ulm_frontend import build_codec_frontend
from audiotok.models.ulm_pacing import FILL, SPEECH, TEXT, TTS, TextPacing
from audiotok.models.ulm_pointer import NEVER, PointerCond, TextPointer, advances, pointers, spell_pieces, vocab_chars
from audiotok.models.ulm_vocab import JointVocab
from audiotok.nn.ctc import CTCHead
from audiotok.nn.transformer import TransformerConf, bidirectional_span_mask, causal_mask

TASKS = ("asr", "tts", "acoustic")
TASK_IDS = {name: i for i, name in enumerate(TASKS)}


# ---------------------------------------------------------------------------------------------
# sequence layout and masks


@dataclass
class Layout:
    """Where the real tokens of each row sit in a padded [B, T] sequence.

    start   [B] first real position (> 0 with left padding, used by the AR decoders)
    lengths [B] real positions per row
    span    [B, 2] or None: the bidirectional speech span [begin, end) of each row
    """

    T: int
    start: torch.Tensor
    lengths: torch.Tensor
    span: torch.Tensor = None

    @property
    def valid(self):
        t = torch.arange(self.T, device=self.start.device)[None]
        return (t >= self.start[:, None]) & (t < (self.start + self.lengths)[:, None])

    @property
    def positions(self):
        """RoPE positions: 0 at each row's first real token (left padding does not shift them)."""
        t = torch.arange(self.T, device=self.start.device)[None]
        return (t - self.start[:, None]).clamp(min=0)


def task_attention_mask(task, layout):
    """The bool attention mask [B,1,T,T] of a task (True = may attend). tts is causal; acoustic is
    causal outside and bidirectional inside `layout.span`; asr is causal, or with a span (the speech
    of a prefix LM, `asr_attention: bidirectional`) like acoustic. Keys outside a row's real tokens
    are masked."""
    T, dev = layout.T, layout.start.device
    if task == "tts" or (task == "asr" and layout.span is None):
        mask = causal_mask(T, device=dev)
    elif task in ("asr", "acoustic"):
        if layout.span is None:
            raise ValueError("the acoustic mask needs layout.span")
        mask = bidirectional_span_mask(T, [[(int(s), int(e))] for s, e in layout.span.tolist()], device=dev)
    else:
        raise ValueError(f"unknown task '{task}' (known: {', '.join(TASKS)})")
    return mask & layout.valid[:, None, None, :]


def pack_segments(segments, left=False, fill=0.0):
    """Concatenate per-row variable-length segments without gaps.

    segments: [(x [B, L_i, ...], lengths_i [B])]; row b takes the first lengths_i[b] items of
    each segment in order. Returns (packed [B, T, ...], offsets (list of [B] start positions
    of each segment), start [B], total [B]) with T = max total; padding goes to the right, or
    to the left with `left=True` (so every row ends at T-1, as incremental decoding wants).
    """
    x0 = segments[0][0]
    B, dev = x0.shape[0], x0.device
    lens = [torch.as_tensor(n, device=dev).long().expand(B) for _, n in segments]
    total = sum(lens)
    T = int(total.max())
    start = (T - total) if left else torch.zeros_like(total)
    out = x0.new_full((B, T, *x0.shape[2:]), fill)
    rows_all = torch.arange(B, device=dev)
    offsets, off = [], start.clone()
    for (x, _), n in zip(segments, lens):
        L = x.shape[1]
        ar = torch.arange(L, device=dev)
        keep = ar[None] < n[:, None]
        pos = (off[:, None] + ar[None])[keep]
        rows = rows_all[:, None].expand(B, L)[keep]
        out = out.index_put((rows, pos), x[keep].to(out.dtype))
        offsets.append(off)
        off = off + n
    return out, offsets, start, total


def _append_at(tokens, lengths, value, fill=IGNORE):
    """[B,L] -> [B,L+1]: the first lengths[b] tokens of each row, then `value`, then `fill`."""
    B, L = tokens.shape
    out = torch.full((B, L + 1), fill, dtype=tokens.dtype, device=tokens.device)
    keep = torch.arange(L, device=tokens.device)[None] < lengths[:, None]
    out[:, :L] = torch.where(keep, tokens, out[:, :L])
    out[torch.arange(B, device=tokens.device), lengths] = value
    return out


def _gather_rows(x, offsets, n):
    """x [B,T,D] -> [B,n,D] taking positions offsets[b] .. offsets[b]+n-1 (clamped)."""
    idx = (offsets[:, None] + torch.arange(n, device=x.device)[None]).clamp(max=x.shape[1] - 1)
    return x.gather(1, idx[..., None].expand(-1, -1, x.shape[-1]))


def _tail(prefix, tokens, n):
    """The last n of prefix [P] followed by the list `tokens`, as a LongTensor."""
    tail = torch.tensor(tokens[-n:], dtype=torch.long)
    if tail.numel() < n:
        tail = torch.cat([prefix.reshape(-1).long().cpu()[max(0, prefix.numel() - (n - tail.numel())):], tail])
    return tail


def _word_error_rate(refs, hyps):
    """jiwer's WER over the pairs with a non-empty reference (an empty hypothesis counts as all deleted);
    None when no reference has words."""
    import jiwer

    pairs = [(r, h if h.strip() else "<empty>") for r, h in zip(refs, hyps) if r.strip()]
    if not pairs:
        return None
    return float(jiwer.wer([r for r, _ in pairs], [h for _, h in pairs]))


def _ragged(x, lengths=None, name="tokens"):
    """A 1-D tensor, a list of 1-D (or [K,T]) tensors, or a padded tensor [B,T] (+ lengths) ->
    (list of tensors, whether the input was a single item)."""
    if torch.is_tensor(x):
        if x.dim() == 1:
            return [x], True
        if lengths is None:
            return list(x), False
        return [row[..., : int(n)] for row, n in zip(x, lengths)], False
    if isinstance(x, (list, tuple)):
        return [torch.as_tensor(r) for r in x], False
    raise UserError(f"ulm: {name} must be a tensor or a list of tensors")


def _pad_stack(rows, fill=0):
    """list of [..., T_b] -> ([B, ..., T_max], lengths [B])."""
    T = max(int(r.shape[-1]) for r in rows)
    out = rows[0].new_full((len(rows), *rows[0].shape[:-1], T), fill)
    for i, r in enumerate(rows):
        out[i, ..., : r.shape[-1]] = r
    return out, torch.tensor([int(r.shape[-1]) for r in rows], device=out.device)


# ---------------------------------------------------------------------------------------------
# the model


class UnifiedLM(nn.Module):
    """Decoder-only LM over a joint vocabulary (text BPE + speech tokens) with a Speech Refined
    Head and acoustic heads. See the module docstring for the tasks and the batch format.

    vocab: a vocab.json path, a JointVocab, or its to_dict() spec (how config.yaml stores it).
    The sentencepiece model rides along in the weights (buffer `text_model_proto`), so a packed
    model dir needs no side files to turn text into ids.
    """

    model_type = "ulm"
    training_only_prefixes = ("ctc_head.",)

    upgrade_conf = staticmethod(upgrade_conf)  # older flat configs -> the groups (registry.build_model)

    def __init__(self, vocab, frame_rate=25.0, lm=None, grouping=None, srh=None, loss_weights=None, prompt_frames=75,
                 init_from_hf=None, valid_wer=True, ctc_layer=-1, speech_frontend=None, codec_dir=None,
                 asr_attention="causal", speech_augment=None, ctc_units="pieces", ctc_chars=None,
                 acoustic_frontend=False, tts_pacing=None, tts_pointer=None):
        """`lm` and `srh`: TransformerConf (or its mapping); `grouping`: Grouping; `loss_weights`:
        TaskWeights (audiotok.models.ulm_config). `valid_wer`: validation also transcribes its ASR
        rows greedily and logs their word error rate (`wer_asr`: recognition against compute).
        `loss_weights.ctc` > 0 adds an auxiliary CTC head on the ASR rows' speech positions, fed by
        the output of LM block `ctc_layer` (-1: the last, normed): it pushes what was said into the
        hidden states the text positions attend to, so the LM learns to read speech sooner. It only
        trains (packed models leave it out). `grouping.frontend: codec` reads the speech tokens through the
        codec's frozen semantic decoder, copied from `codec_dir` when training starts and stored with
        the LM (`speech_frontend` is its architecture, which config.yaml keeps). `asr_attention:
        bidirectional` lets the ASR rows' speech positions see the whole utterance (a prefix LM over
        the speech, as an encoder would; the text after it stays causal); TTS is causal either way.
        `speech_augment` (SpeechAugment): time masks and random codes on the ASR rows' speech while
        training. `ctc_units`: what the auxiliary CTC spells, the text pieces or the characters
        (`chars`: the characters of the text vocabulary, kept in the config as `ctc_chars`); a few dozen
        dense character classes learn far sooner than thousands of sparse pieces (the content probe).
        `acoustic_frontend`: the acoustic stage reads each frame's semantic token through the codec front end
        too (the codec's own features of it, which its acoustic codes refine) instead of a learned embedding.
        `tts_pacing` (TextPacing): the whole text before the speech in TTS rows, or paced with it
        (audiotok.models.ulm_pacing). `tts_pointer` (TextPointer): TTS rows keep an explicit place in
        their text, learned from forced alignments (audiotok.models.ulm_pointer; plain rows only)."""
        super().__init__()
        lm = config_group(TransformerConf, lm, "ulm: lm", LM_DEFAULTS)
        srh = config_group(TransformerConf, srh, "ulm: srh", SRH_DEFAULTS)
        grouping = config_group(Grouping, grouping, "ulm: grouping")
        loss_weights = config_group(TaskWeights, loss_weights, "ulm: loss_weights")
        speech_augment = config_group(SpeechAugment, speech_augment, "ulm: speech_augment")
        tts_pacing = config_group(TextPacing, tts_pacing, "ulm: tts_pacing")
        tts_pointer = config_group(TextPointer, tts_pointer, "ulm: tts_pointer")
        if tts_pointer.active and tts_pacing.paced:
            raise UserError("ulm: tts_pointer needs plain TTS rows (tts_pacing.every: 0): the pointer places the text")
        config = plain_config(locals(), skip=("vocab",))
        self.vocab, proto = self._make_vocab(vocab)
        self.config = {"vocab": {**self.vocab.to_dict(), "text_model_bytes": len(proto)}, **config}
        self.dim, self.g, self.frame_rate = int(lm.dim), int(grouping.size), float(frame_rate)
        self.weights = {k: float(w) for k, w in asdict(loss_weights).items()}
        self.prompt_frames = int(prompt_frames)
        self.valid_wer = bool(valid_wer)
        self.augment = speech_augment
        self.pacing = tts_pacing
        v = self.vocab
        self.S, self.K, self.A = v.semantic_size, v.n_acoustic, v.acoustic_size
        self.n_text_out = v.token_bias["text"] + v.text_size  # specials + text: the text head's classes

        self.embed = nn.Embedding(v.size, self.dim)
        self.frontend = None
        if grouping.frontend == "codec":
            self.frontend, self.config["speech_frontend"] = build_codec_frontend(self.dim, speech_frontend, codec_dir)
            if not self.frontend.arch["causal"]:
                raise UserError("ulm: the codec front end needs a causal codec (a centred semantic decoder looks "
                                "ahead, which speech generated group by group cannot give it)")
        elif grouping.frontend != "embed":
            raise UserError(f"ulm: grouping.frontend must be 'embed' or 'codec', got '{grouping.frontend}'")
        self.config["codec_dir"] = None  # the weights now carry the front end; a packed dir must not need the codec
        self.frontend_context = 0 if self.frontend is None else self.frontend.context
        self.acoustic_frontend = bool(acoustic_frontend)
        if self.acoustic_frontend and self.frontend is None:
            raise UserError("ulm: acoustic_frontend needs the codec front end (grouping.frontend: codec)")
        self.group_embed = GroupEmbed(self.dim, self.g, grouping.mode)
        self.lm = lm.build()
        self.text_head = nn.Linear(self.dim, self.n_text_out, bias=False)
        self.srh = SpeechRefinedHead(self.dim, self.g, self.S, srh, grouping.srh_context)
        self.end_head = nn.Linear(self.dim, 1)
        self.pointer = self.pointer_chars = None
        if tts_pointer.active:
            if tts_pointer.units == "chars":
                self.pointer_chars = tts_pointer.chars or vocab_chars(v)
                self.config["tts_pointer"]["chars"] = self.pointer_chars
                self.pointer_index = {c: i + 1 for i, c in enumerate(self.pointer_chars)}  # 0 pads
            self.pointer = PointerCond(self.dim, tts_pointer.max_advance, len(self.pointer_chars or ""), lm.n_heads)
        self.acoustic_heads = nn.ModuleList(nn.Linear(self.dim, self.A, bias=False) for _ in range(self.K))
        self.ctc_layer = int(ctc_layer)
        if asr_attention not in ("causal", "bidirectional"):
            raise UserError(f"ulm: asr_attention must be 'causal' or 'bidirectional', got '{asr_attention}'")
        self.asr_bidirectional = asr_attention == "bidirectional"
        if not -1 <= self.ctc_layer <= lm.n_layers or self.ctc_layer == 0:
            raise UserError(f"ulm: ctc_layer {ctc_layer} is not an LM block (1 .. {lm.n_layers}, or -1 for the last)")
        if ctc_units not in ("pieces", "chars"):
            raise UserError(f"ulm: ctc_units must be 'pieces' or 'chars', got '{ctc_units}'")
        self.ctc_chars = self.ctc_index = None
        if ctc_units == "chars":
            self.ctc_chars = ctc_chars or "".join(sorted({c for i in range(v.text_size) for c in v.decode_text([i])}))
            self.config["ctc_chars"] = self.ctc_chars
            self.ctc_index = {c: i + 1 for i, c in enumerate(self.ctc_chars)}  # 0 is the blank
        # blank + the text pieces (or characters); each 5 Hz position emits g slots (one per codec frame)
        n_ctc = v.text_size if self.ctc_chars is None else len(self.ctc_chars)
        self.ctc_head = CTCHead(self.dim, n_ctc + 1, self.g, norm=True) if self.weights["ctc"] > 0 else None
        if self.weights["tts_ctc"] > 0 and self.ctc_head is None:
            raise UserError("ulm: loss_weights.tts_ctc needs the CTC head (loss_weights.ctc > 0)")
        for m in (self.embed, self.text_head, *self.acoustic_heads):
            nn.init.normal_(m.weight, std=0.02)
        nn.init.normal_(self.end_head.weight, std=0.02)
        nn.init.zeros_(self.end_head.bias)
        if self.group_embed.proj is not None:
            nn.init.normal_(self.group_embed.proj.weight, std=0.02)

        proto_t = torch.zeros(0, dtype=torch.uint8)
        if proto:
            proto_t = torch.frombuffer(bytearray(proto), dtype=torch.uint8).clone()
        self.register_buffer("text_model_proto", proto_t)
        self.register_load_state_dict_post_hook(_reattach_text_model)
        if init_from_hf:
            from audiotok.models.hf_lm import load_hf_blocks

            load_hf_blocks(self.lm, init_from_hf)
            self.config["init_from_hf"] = None  # the weights now carry it; a packed dir must not need the HF dir

    @staticmethod
    def _make_vocab(vocab):
        if isinstance(vocab, JointVocab):
            pass
        elif isinstance(vocab, dict):
            # rebuilt from config.yaml: the tokenizer bytes come with the weights (zeros until then)
            n = int(vocab.get("text_model_bytes", 0))
            return JointVocab.from_dict({k: x for k, x in vocab.items() if k != "text_model_bytes"}), bytes(n)
        elif isinstance(vocab, str) or hasattr(vocab, "__fspath__"):
            vocab = JointVocab.load(vocab)
        else:
            raise UserError("ulm: vocab must be a vocab.json path, a JointVocab or its spec dict")
        return vocab, (vocab.text_model or b"")

    def _attach_from_buffer(self):
        data = bytes(self.text_model_proto.cpu().numpy().tobytes())
        if data and any(data):
            self.vocab.attach_text_model(data)

    # ---- info / packing ----------------------------------------------------------------------
    @property
    def tasks(self):
        return [t for t in TASKS if t != "acoustic" or self.K > 0]

    def describe(self):
        return {
            "model_type": self.model_type,
            "frame_rate": self.frame_rate,
            "group_size": self.g,
            "lm_rate": self.frame_rate / self.g,
            "grouping": self.group_embed.mode,
            "frontend": "embed" if self.frontend is None else "codec",
            "asr_attention": "bidirectional" if self.asr_bidirectional else "causal",
            "tasks": self.tasks,
            "vocab": self.vocab.to_dict(),
            "parameters": sum(p.numel() for p in self.parameters()),
        }

    def save_pretrained(self, directory, meta=None, dtype=None):
        """Packed model dir (model.safetensors + config.yaml + meta.json) plus vocab.json and the
        sentencepiece model next to it (the weights already carry the tokenizer). `dtype`
        float16 halves the file; loading casts back to float32."""
        from pathlib import Path

        from audiotok.models.loading import save_model_dir

        out = save_model_dir(self, directory, meta=meta, dtype=dtype)
        self.vocab.save(Path(out) / "vocab.json", "text.model")
        return out

    @classmethod
    def from_pretrained(cls, directory, device="cpu"):
        from audiotok.models.loading import load_model

        model = load_model(directory, device)
        if not isinstance(model, cls):
            raise UserError(f"{directory}: holds a '{model.model_type}' model, not '{cls.model_type}'")
        return model

    # ---- embeddings --------------------------------------------------------------------------
    def _sp(self, name, B, device):
        """Embedding of one special token for B rows -> [B,1,D]."""
        ids = torch.full((B, 1), self.vocab.special(name), dtype=torch.long, device=device)
        return self.embed(ids)

    def _speech_ids(self, local):
        """semantic-local ids (0..S-1, S = EOS, < 0 pad) -> joint ids."""
        v = self.vocab
        out = local + v.token_bias["semantic"]
        out = torch.where(local == self.S, torch.full_like(local, v.special("<eos_speech>")), out)
        return torch.where(local < 0, torch.full_like(local, v.special("<pad>")), out)

    def _speech_frames(self, local, features=None):
        """[B,T] semantic-local ids of whole sequences -> per-frame vectors [B,T,D]: the learned embedding,
        or the codec front end's features (`features` when the caller has them already); specials, i.e.
        EOS and padding, keep their embeddings."""
        e = self.embed(self._speech_ids(local))
        if self.frontend is None:
            return e
        f = self.frontend(local.clamp(0, self.S - 1)) if features is None else features
        return torch.where(((local < 0) | (local == self.S))[..., None], e, f.to(e.dtype))

    def embed_groups(self, groups, masked=None):
        """[B,N,g] semantic-local ids (each row a sequence from its start) -> LM inputs [B,N,D]. Frames
        where `masked` [B,N,g] is true read the <mask> embedding instead (training augmentation)."""
        B, N, g = groups.shape
        frames = self._speech_frames(groups.reshape(B, N * g)).view(B, N, g, -1)
        if masked is not None:
            mask_e = self.embed.weight[self.vocab.special("<mask>")].to(frames.dtype)
            frames = torch.where(masked[..., None], mask_e, frames)
        return self.group_embed(frames)

    def _augment_speech(self, groups):
        """Training noise on ASR speech (SpeechAugment): [B,N,g] ids -> (ids with random codes, time-mask
        [B,N,g]). Padding (< 0) is left alone."""
        a, (B, N, g) = self.augment, groups.shape
        real = groups >= 0
        flat = real.reshape(B, N * g)
        starts = (torch.rand(flat.shape, device=groups.device) < a.mask_prob) & flat
        # a frame is masked when a span started within the a.mask_span frames up to it
        covered = F.max_pool1d(F.pad(starts[:, None].float(), (a.mask_span - 1, 0)), a.mask_span, stride=1)[:, 0]
        masked = (covered > 0) & flat
        swap = (torch.rand(flat.shape, device=groups.device) < a.substitute) & flat & ~masked
        codes = torch.randint(0, self.S, flat.shape, device=groups.device)
        ids = torch.where(swap, codes, groups.reshape(B, N * g))
        return ids.view(B, N, g), masked.view(B, N, g)

    def _embed_next_group(self, seqs, group):
        """The LM input of each row's newest group [B,g], whose sequence so far (prompt and generated tokens,
        that group last) is seqs[b]: the codec front end's features need the frames before the group."""
        if self.frontend is None:
            return self.embed_groups(group[:, None])[:, 0]
        features = self.frontend.last_features([s.clamp(0, self.S - 1) for s in seqs], self.g)
        return self.group_embed(self._speech_frames(group, features))

    def _text_ids(self, text):
        return text + self.vocab.token_bias["text"]

    def embed_frames(self, semantic, acoustic, masked):
        """Acoustic-stage frame inputs [B,T,D]: E(semantic) (or its front-end features, with
        acoustic_frontend) + (sum_k E(acoustic_k) or E(<mask>))."""
        if self.acoustic_frontend:
            x = self.frontend(semantic.clamp(0, self.S - 1))
        else:
            x = self.embed(semantic + self.vocab.token_bias["semantic"])
        bias = torch.tensor(self.vocab.token_bias["acoustic"], device=semantic.device)
        ac = self.embed(acoustic.clamp(0, self.A - 1) + bias[None, :, None]).sum(1)
        mask_e = self.embed.weight[self.vocab.special("<mask>")]
        return x + torch.where(masked[..., None], mask_e.to(ac.dtype), ac)

    def _run(self, task, x, start, total, span=None, hidden=False):
        """-> (last hidden [B,T,D], layout), or with `hidden` (last, layout, every block's raw output)."""
        layout = Layout(x.shape[1], start, total, span)
        out = self.lm(x, mask=task_attention_mask(task, layout), positions=layout.positions,
                      return_hidden_states=hidden)
        return (out[0], layout, out[1]) if hidden else (out, layout)

    # ---- training ----------------------------------------------------------------------------
    def _asr_train(self, semantic, sem_len, text, text_len):
        B, dev = semantic.shape[0], semantic.device
        groups, ng = group_tokens(semantic, sem_len, self.g)
        ids_in = torch.cat([torch.full((B, 1), self.vocab.special("<sos_text>"), device=dev, dtype=torch.long),
                            self._text_ids(text)], 1)
        labels = _append_at(self._text_ids(text), text_len, self.vocab.special("<eos>"))
        one = torch.ones(B, dtype=torch.long, device=dev)
        masked = None
        if self.training and self.augment.active:
            groups, masked = self._augment_speech(groups)
        segs = [(self._sp("<asr>", B, dev), one), (self.embed_groups(groups, masked), ng),
                (self.embed(ids_in), text_len + 1)]
        x, offsets, start, total = pack_segments(segs)
        span = torch.stack([offsets[1], offsets[1] + ng], 1) if self.asr_bidirectional else None
        if self.ctc_head is None:
            h, _ = self._run("asr", x, start, total, span)
        else:
            h, _, blocks = self._run("asr", x, start, total, span, hidden=True)
        L = labels.shape[1]
        h_text = _gather_rows(h, offsets[2], L)
        keep = labels != IGNORE
        logits = self.text_head(h_text[keep]).float()
        target = labels[keep]
        loss = F.cross_entropy(logits, target)
        acc = (logits.argmax(-1) == target).float().mean()
        out = {"loss_asr": loss, "acc_asr": acc.detach()}
        if self.ctc_head is not None:
            out.update(self._asr_ctc(h if self.ctc_layer == -1 else blocks[self.ctc_layer], offsets[1], ng,
                                     text, text_len))
        return out

    def _asr_ctc(self, h, speech_at, ng, text, text_len):
        """The auxiliary CTC of the ASR rows: the speech positions' hidden states -> the text pieces (or
        characters). Validation also logs the greedy CTC transcript's word error rate (`wer_ctc`)."""
        return self._text_ctc(_gather_rows(h, speech_at, int(ng.max())), ng, text, text_len,
                              scoring=not self.training and self.valid_wer)

    def _text_ctc(self, h_sp, ng, text, text_len, scoring=False, name="ctc"):
        """The CTC head: hidden states h_sp [B,N,D] (ng [B] real) -> the text pieces or characters
        -> {loss_<name>} (and wer_<name> when scoring)."""
        refs = None
        if self.ctc_chars is not None or scoring:
            refs = [self.vocab.decode_text(text[b, : int(n)].tolist()) for b, n in enumerate(text_len)]
        if self.ctc_chars is None:
            targets = [text[b, : int(n)] + 1 for b, n in enumerate(text_len)]  # 0 is the blank
        else:
            targets = [torch.tensor([self.ctc_index[c] for c in r if c in self.ctc_index], dtype=torch.long)
                       for r in refs]
        loss, _ = self.ctc_head.loss(h_sp, ng, targets)
        out = {f"loss_{name}": loss}
        if scoring:
            best = self.ctc_head.greedy(h_sp, ng)
            if self.ctc_chars is None:
                hyps = [self.vocab.decode_text([i - 1 for i in ids]) for ids in best]
            else:
                hyps = ["".join(self.ctc_chars[i - 1] for i in ids) for ids in best]
            wer = _word_error_rate(refs, hyps)
            if wer is not None:
                out[f"wer_{name}"] = torch.tensor(wer)
        return out

    def _tts_train(self, semantic, sem_len, text, text_len, text_start=None):
        B, dev = semantic.shape[0], semantic.device
        tgt, ng = speech_targets(semantic, sem_len, self.g, eos=self.S)  # [B,N,g]
        N = tgt.shape[1]
        groups_in = self.embed_groups(tgt[:, : N - 1])
        out = {}
        if self.pointer is not None:
            cond, adv, after_prompt, out = self._pointer_train(text, text_len, text_start, ng, N)
            groups_in = groups_in + cond[:, : N - 1]
        speech_in = torch.cat([self._sp("<sos_speech>", B, dev), groups_in], 1)
        x, total, predicts = self._tts_rows(text, text_len, speech_in, ng)
        spell = self.ctc_head is not None and self.weights["tts_ctc"] > 0
        h, _, *blocks = self._run("tts", x, torch.zeros_like(total), total, hidden=spell)
        at = predicts[..., None].expand(-1, -1, h.shape[-1])
        h_sp = h.gather(1, at)  # hidden that predicts group i
        if spell:  # the positions that predict each group spell its text, read where the ASR rows' CTC reads
            h_ctc = h if self.ctc_layer == -1 else blocks[0][self.ctc_layer]
            out.update(self._text_ctc(h_ctc.gather(1, at), ng, text, text_len, name="tts_ctc"))
        keep = torch.arange(N, device=dev)[None] < ng[:, None]
        if self.pointer is not None:
            scored = keep & after_prompt
            logits = self.pointer.head(h_sp[scored]).float()
            out["loss_pointer"] = F.cross_entropy(logits, adv[scored])
            out["acc_pointer"] = (logits.argmax(-1) == adv[scored]).float().mean().detach()
            h_sp = h_sp + cond
        srh_loss, srh_acc = self.srh.loss(h_sp, tgt, keep)
        is_last = (torch.arange(N, device=dev)[None] == (ng - 1)[:, None])[keep].float()
        end_logit = self.end_head(h_sp[keep]).float()[:, 0]
        end_loss = F.binary_cross_entropy_with_logits(end_logit, is_last)
        end_acc = ((end_logit > 0).float() == is_last).float().mean()
        return {**out, "loss_srh": srh_loss, "acc_srh": srh_acc.detach(), "loss_end": end_loss,
                "acc_end": end_acc.detach()}

    @property
    def pointer_unit_name(self):
        return "piece" if self.pointer_chars is None else "character"

    def pointer_units(self, ids):
        """A text's piece ids -> the units the pointer steps through (the pieces, or their character ids)."""
        return list(ids) if self.pointer_chars is None else spell_pieces(self.vocab, ids, self.pointer_index)

    def _pointer_bank(self, text, text_len):
        """The slots a text pointer indexes, per row: <tts> (before the text), its units, <eos> (after it)
        -> (bank [B, n+2, D], units per row n [B])."""
        B, dev = text.shape[0], text.device
        if self.pointer_chars is None:
            units, n = self.embed(self._text_ids(text)), text_len
        else:
            chars, n = _pad_stack([torch.tensor(self.pointer_units(text[b, : int(k)].tolist()) or [0],
                                                dtype=torch.long, device=dev) for b, k in enumerate(text_len)])
            units = self.pointer.chars(chars, n).to(self.embed.weight.dtype)
        bank = self.pointer.bank(self._sp("<tts>", B, dev)[:, 0], units, n, self._sp("<eos>", B, dev)[:, 0])
        return bank, n

    def _pointer_train(self, text, text_len, text_start, ng, N):
        """The TTS rows' pointer (audiotok.models.ulm_pointer) -> (c [B,N,D], advance targets [B,N], which
        groups come after the row's voice prompt [B,N], logs). A prompt of P groups (drawn as inference
        prompts are long) carries the learned prompt vector in its first P-1 groups."""
        if text_start is None:
            raise UserError(f"ulm: tts_pointer needs the alignments of the TTS rows' text (dataset_conf.text_starts: "
                            f"{self.pointer_unit_name}s; `audiotok align-text` writes them)")
        B, dev = text.shape[0], text.device
        bank, n = self._pointer_bank(text, text_len)
        starts = text_start.to(dev)
        if bool(((starts < NEVER).sum(1) != n + 1).any()):
            raise UserError(f"ulm: text_start must hold one frame per text {self.pointer_unit_name} plus the end of "
                            f"speech")
        ptr = torch.minimum(pointers(starts, N, self.g), n[:, None])
        adv, clipped = advances(ptr, self.pointer.max_advance)
        prev = torch.cat([ptr.new_full((B, 1), -1), ptr[:, :-1]], 1)
        cond = self.pointer(bank, n, prev, ptr)
        cap = torch.minimum((ng - 1) // 2, torch.full_like(ng, self.prompt_frames // self.g))
        n_prompt = torch.floor(torch.rand(B, device=dev) * (cap + 1).float()).long()
        i = torch.arange(N, device=dev)[None]
        voiceless = i < (n_prompt - 1)[:, None]
        cond = torch.where(voiceless[..., None], self.pointer.prompt.to(cond.dtype), cond)
        return cond, adv, i >= n_prompt[:, None], {"pointer_clipped": torch.tensor(float(clipped))}

    def _tts_rows(self, text, text_len, speech_in, n_speech):
        """TTS rows laid out by the text pacing: text [B,L] (text-local ids), speech inputs [B,N,D]
        (<sos_speech>, then the groups), n_speech [B] real ones -> (x [B,T,D] right-padded, lengths [B],
        predicts [B,N]: the position whose hidden predicts group i)."""
        B, N, D = speech_in.shape
        rows = [self.pacing.row(int(text_len[b]), int(n_speech[b])) for b in range(B)]
        base = {TTS: 0, FILL: 1, TEXT: 2, SPEECH: 2 + text.shape[1]}
        index = torch.zeros(B, max(len(seq) for seq, _ in rows), dtype=torch.long)
        predicts = torch.zeros(B, N, dtype=torch.long)
        for b, (seq, pred) in enumerate(rows):
            index[b, : len(seq)] = torch.tensor([base[kind] + i for kind, i in seq])
            predicts[b, : len(pred)] = torch.tensor(pred)
        dev = speech_in.device
        bank = torch.cat([self._sp("<tts>", B, dev), self._sp("<eos>", B, dev), self.embed(self._text_ids(text)),
                          speech_in.to(self.embed.weight.dtype)], 1)
        x = bank.gather(1, index.to(dev)[..., None].expand(-1, -1, D))
        lengths = torch.tensor([len(seq) for seq, _ in rows], device=dev)
        return x, lengths, predicts.to(dev)

    def _draw_prompt_len(self, sem_len):
        """Training prompts: a uniform 0 .. min(prompt_frames, T // 2) frame prefix of the utterance."""
        cap = torch.minimum(sem_len // 2, torch.full_like(sem_len, self.prompt_frames))
        return torch.floor(torch.rand(sem_len.shape, device=sem_len.device) * (cap + 1).float()).long()

    def _acoustic_train(self, semantic, sem_len, acoustic, prompt_len=None):
        if self.K == 0:
            raise UserError("ulm: the batch has acoustic items but the vocabulary has no acoustic codebooks")
        if acoustic.shape[1] < self.K:
            raise UserError(f"ulm: batch has {acoustic.shape[1]} acoustic codebooks, the model needs {self.K}")
        acoustic = acoustic[:, : self.K]
        B, T = semantic.shape
        dev = semantic.device
        if prompt_len is None:
            prompt_len = self._draw_prompt_len(sem_len)
        t = torch.arange(T, device=dev)[None]
        maskable = (t >= prompt_len[:, None]) & (t < sem_len[:, None])
        masked = sample_train_mask(maskable)
        frames = self.embed_frames(semantic, acoustic, masked)
        one = torch.ones(B, dtype=torch.long, device=dev)
        x, offsets, start, total = pack_segments([(self._sp("<acoustic>", B, dev), one), (frames, sem_len)])
        span = torch.stack([offsets[1], offsets[1] + sem_len], 1)
        h, _ = self._run("acoustic", x, start, total, span)
        h_m = _gather_rows(h, offsets[1], T)[masked]  # [M, D]
        if h_m.shape[0] == 0:  # nothing to predict (every frame a prompt): a zero loss, not NaN
            zero = h.sum() * 0.0
            return {"loss_acoustic": zero, "acc_acoustic": zero.detach(), "masked_frac": zero.detach()}
        losses, correct = [], []
        for k, head in enumerate(self.acoustic_heads):
            logits = head(h_m).float()
            target = acoustic[:, k][masked]
            losses.append(F.cross_entropy(logits, target))
            correct.append((logits.argmax(-1) == target).float().mean())
        return {"loss_acoustic": torch.stack(losses).mean(), "acc_acoustic": torch.stack(correct).mean().detach(),
                "masked_frac": (masked.sum() / maskable.sum().clamp(min=1)).detach().float()}

    def forward_train(self, batch, step=0):
        """Runs every task present in the batch on its own rows (one transformer pass per task:
        their lengths differ a lot, so packing them together would mostly add padding)."""
        task = batch["task"]
        out = {}
        for name in TASKS:
            rows = (task == TASK_IDS[name]).nonzero()[:, 0]
            if rows.numel() == 0:
                continue
            sem_len = batch["semantic_len"][rows]
            semantic = batch["semantic"][rows][:, : int(sem_len.max())]
            if name in ("asr", "tts"):
                text_len = batch["text_len"][rows]
                text = batch["text"][rows][:, : max(1, int(text_len.max()))]
                if name == "asr":
                    out.update(self._asr_train(semantic, sem_len, text, text_len))
                else:
                    start = batch["text_start"][rows] if "text_start" in batch else None
                    out.update(self._tts_train(semantic, sem_len, text, text_len, start))
            else:
                acoustic = batch["acoustic"][rows][..., : semantic.shape[1]]
                prompt = batch["prompt_len"][rows] if "prompt_len" in batch else None
                out.update(self._acoustic_train(semantic, sem_len, acoustic, prompt))
        if not out:
            raise UserError("ulm: the batch holds no known task")
        return out

    def generator_loss(self, batch, out, step=0):
        w = self.weights
        terms = []
        if "loss_asr" in out:
            terms.append(w["asr"] * out["loss_asr"])
        if "loss_ctc" in out:
            terms.append(w["ctc"] * out["loss_ctc"])
        if "loss_tts_ctc" in out:
            terms.append(w["tts_ctc"] * out["loss_tts_ctc"])
        if "loss_srh" in out:
            terms.append(w["tts"] * (out["loss_srh"] + w["end"] * out["loss_end"]))
        if "loss_pointer" in out:
            terms.append(w["tts"] * w["pointer"] * out["loss_pointer"])
        if "loss_acoustic" in out:
            terms.append(w["acoustic"] * out["loss_acoustic"])
        loss = torch.stack(terms).sum()
        logs = {k: float(v.detach()) for k, v in out.items()}
        logs["loss"] = float(loss.detach())
        if not self.training and self.valid_wer and "loss_asr" in out:
            wer = self.greedy_asr_wer(batch)
            if wer is not None:
                logs["wer_asr"] = wer
        return loss, logs

    @torch.no_grad()
    def greedy_asr_wer(self, batch):
        """Word error rate of greedy ASR on the ASR rows of a training batch (None: no such row)."""
        rows = (batch["task"] == TASK_IDS["asr"]).nonzero()[:, 0].tolist()
        refs = [self.vocab.decode_text(batch["text"][r, : int(batch["text_len"][r])].tolist()) for r in rows]
        keep = [(r, ref) for r, ref in zip(rows, refs) if ref.strip()]
        if not keep:
            return None
        semantic = [batch["semantic"][r, : int(batch["semantic_len"][r])] for r, _ in keep]
        max_len = int(max(batch["text_len"][r] for r, _ in keep)) + 8
        hyps = [self.vocab.decode_text(x) for x in self.asr_ids(semantic, max_len=max_len)]
        return _word_error_rate([ref for _, ref in keep], hyps)

    # ---- inference: shared AR pieces ---------------------------------------------------------
    def _prefill(self, task, segments, max_new, span_segment=None):
        """Left-pack the prompt segments, run them through the LM with a fresh KV cache; segment
        `span_segment` (an index) is the bidirectional span. Returns (last hidden [B,D], state) for `_step`."""
        x, offsets, start, total = pack_segments(segments, left=True)
        span = None
        if span_segment is not None:
            span = torch.stack([offsets[span_segment], offsets[span_segment] + segments[span_segment][1]], 1)
        layout = Layout(x.shape[1], start, total, span)
        cache = self.lm.new_cache(x.shape[0], max_len=x.shape[1] + max_new, device=x.device, dtype=x.dtype)
        h = self.lm(x, mask=task_attention_mask(task, layout), positions=layout.positions, cache=cache)
        state = {"cache": cache, "keys": layout.valid, "pos": total.clone(), "hidden": h}
        return h[:, -1], state

    def _step(self, x, state, real=None):
        """Feed one new position per row (x [B,D]); returns its hidden state [B,D]. Rows where `real` [B]
        is false feed nothing: later positions never see that slot, and its hidden is meaningless."""
        B = x.shape[0]
        if real is None:
            real = torch.ones(B, dtype=torch.bool, device=x.device)
        state["keys"] = torch.cat([state["keys"], real[:, None]], 1)
        mask = state["keys"][:, None, None, :].clone()
        mask[:, 0, 0, -1] = True  # a slot a row skips attends to itself (its output is dropped)
        h = self.lm(x[:, None], mask=mask, positions=state["pos"][:, None], cache=state["cache"])
        state["pos"] = state["pos"] + real.long()
        return h[:, 0]

    def _text_allowed(self, device):
        """Text-head classes ASR may emit: the BPE pieces and <eos>."""
        allowed = torch.zeros(self.n_text_out, dtype=torch.bool, device=device)
        allowed[self.vocab.token_bias["text"]:] = True
        allowed[self.vocab.special("<eos>")] = True
        return allowed

    # ---- inference: ASR ----------------------------------------------------------------------
    def _asr_prefix(self, rows):
        dev = rows[0].device
        sem, sem_len = _pad_stack([r.long() for r in rows])
        B = sem.shape[0]
        groups, ng = group_tokens(sem, sem_len, self.g)
        one = torch.ones(B, dtype=torch.long, device=dev)
        return [(self._sp("<asr>", B, dev), one), (self.embed_groups(groups), ng),
                (self._sp("<sos_text>", B, dev), one)]

    @torch.no_grad()
    def asr_ids(self, semantic, semantic_len=None, max_len=200, greedy=True, temperature=1.0, top_k=0, top_p=1.0,
                generator=None, return_logits=False, beam_size=1, length_penalty=1.0):
        """Batched ASR with a KV cache -> list of text-local id lists (and the raw per-step
        text-head logits [B, steps, classes] with return_logits). `beam_size` > 1: beam search
        (audiotok.models.beam_search) instead of greedy decoding or sampling."""
        rows, _ = _ragged(semantic, semantic_len, "semantic")
        rows = [r.to(self.embed.weight.device).long().reshape(-1) for r in rows]
        if any(r.numel() == 0 for r in rows):
            raise UserError("ulm.asr: an utterance has no semantic tokens")
        if int(beam_size) < 1:
            raise UserError(f"ulm.asr: beam_size must be >= 1, got {beam_size}")
        h, state = self._prefill("asr", self._asr_prefix(rows), max_len, 1 if self.asr_bidirectional else None)
        allowed = self._text_allowed(h.device)
        eos = self.vocab.special("<eos>")
        bias = self.vocab.token_bias["text"]
        if int(beam_size) > 1:
            if return_logits:
                raise UserError("ulm.asr: return_logits needs greedy decoding or sampling (beam_size 1)")

            def log_probs(hidden):
                return F.log_softmax(self.text_head(hidden).float().masked_fill(~allowed, float("-inf")), -1)

            def reorder(index):
                state["cache"].reorder(index)
                state["keys"], state["pos"] = state["keys"][index], state["pos"][index]

            ids = beam_search(log_probs(h), lambda tok: log_probs(self._step(self.embed(tok), state)), reorder,
                              beam_size, max_len, eos, length_penalty)
            return [[t - bias for t in row if t >= bias] for row in ids]
        sampler = Sampler(greedy, temperature, top_k, top_p, generator)
        B = h.shape[0]
        done = torch.zeros(B, dtype=torch.bool, device=h.device)
        out, all_logits = [], []
        for i in range(int(max_len)):
            logits = self.text_head(h).float()
            all_logits.append(logits)
            tok = sampler(logits.masked_fill(~allowed, float("-inf")))
            tok = torch.where(done, torch.full_like(tok, eos), tok)
            out.append(tok)
            done = done | (tok == eos)
            if bool(done.all()) or i == max_len - 1:
                break
            h = self._step(self.embed(tok), state)
        ids = torch.stack(out, 1).tolist()
        texts = [[t - bias for t in row[: row.index(eos)] if t >= bias] if eos in row else [t - bias for t in row]
                 for row in ids]
        return (texts, torch.stack(all_logits, 1)) if return_logits else texts

    def asr(self, semantic, semantic_len=None, max_len=200, greedy=True, temperature=1.0, top_k=0, top_p=1.0,
            generator=None, beam_size=1, length_penalty=1.0):
        """Semantic tokens ([T], list of [T_b], or [B,T] + lengths) -> transcript(s)."""
        rows, single = _ragged(semantic, semantic_len, "semantic")
        ids = self.asr_ids(rows, None, max_len, greedy, temperature, top_k, top_p, generator,
                           beam_size=beam_size, length_penalty=length_penalty)
        texts = [self.vocab.decode_text(x) for x in ids]
        return texts[0] if single else texts

    # ---- inference: TTS ----------------------------------------------------------------------
    def _tts_prefix(self, text_rows, prompt_groups, prompt_cond=None):
        """The TTS prompt as one segment per row (<tts>, the text or its lead, <sos_speech>, the prompt's
        groups with their text slots; `prompt_cond` [B,P,D] is added to the groups, with the pointer)
        -> ([(x, lengths)], predicts [B, P+1]: the position whose hidden predicts prompt group i, the last
        one the first new group)."""
        dev = self.embed.weight.device
        B = len(text_rows)
        text, text_len = _pad_stack([torch.tensor(t, dtype=torch.long, device=dev) for t in text_rows])
        pg, pg_len = _pad_stack([g.reshape(-1).to(dev).long() for g in prompt_groups], fill=-1)
        pg = pg.view(B, -1, self.g) if pg.shape[1] else pg.new_zeros(B, 0, self.g)
        speech_in = self._sp("<sos_speech>", B, dev)
        if pg.shape[1]:
            groups = self.embed_groups(pg)
            speech_in = torch.cat([speech_in, groups if prompt_cond is None else groups + prompt_cond], 1)
        x, lengths, predicts = self._tts_rows(text, text_len, speech_in, pg_len // self.g + 1)
        return [(x, lengths)], predicts

    def _srh_prompt(self, hidden, prompt_groups, max_groups, predicts, start, prompt_cond=None):
        """A sequence-context head's state with the prompt's tokens prefilled (None for group context).
        `predicts` [B, P+1] (from _tts_prefix) are positions within each row, which starts at `start` [B]
        in the left-packed prefix: the hidden at predicts[b, i] predicts prompt group i (plus
        prompt_cond[b, i] with the pointer)."""
        P = max(int(p.numel()) // self.g for p in prompt_groups)
        state = self.srh.start(hidden.shape[0], (P + max_groups) * self.g, hidden.device, hidden.dtype)
        if state is None or P == 0:
            return state
        B = hidden.shape[0]
        tokens = torch.full((B, P, self.g), -1, dtype=torch.long, device=hidden.device)
        index = torch.zeros(B, P, dtype=torch.long, device=hidden.device)
        for b, p in enumerate(prompt_groups):
            n = int(p.numel()) // self.g
            if n:  # right-aligned: rows with shorter prompts lead with ignored slots
                tokens[b, P - n :] = p.to(hidden.device).long().view(n, self.g)
                index[b, P - n :] = start[b] + predicts[b, :n]
        h = hidden.gather(1, index[..., None].expand(-1, -1, hidden.shape[-1]))
        if prompt_cond is not None:  # right-aligned as the tokens are
            for b, p in enumerate(prompt_groups):
                n = int(p.numel()) // self.g
                if n:
                    h[b, P - n:] = h[b, P - n:] + prompt_cond[b, :n]
        return self.srh.prefill(state, h, tokens)

    def _prompt_pointer(self, bank, text_len, n_prompt_text, prompt_groups):
        """With the pointer: each row's prompt groups' c [B,P,D] (the learned prompt vector, the last group
        at the prompt transcript's last unit) and the pointer after the prompt [B]."""
        B, D = bank.shape[0], bank.shape[-1]
        P = max([int(p.numel()) // self.g for p in prompt_groups] + [0])
        prev = torch.tensor([n - 1 if int(p.numel()) >= self.g else -1 for n, p in zip(n_prompt_text, prompt_groups)],
                            device=bank.device)
        cond = self.pointer.prompt.to(bank.dtype).expand(B, P, D).clone()
        last = self.pointer(bank, text_len, prev[:, None], prev[:, None])[:, 0]
        for b, p in enumerate(prompt_groups):
            n = int(p.numel()) // self.g
            if n:
                cond[b, n - 1] = last[b]
        return cond, prev

    def _text_slot(self, text_rows, fed, state):
        """After each row's speech input fed[b], its text slot (if the pacing has one there) -> the new
        hidden [B,D], or None when no row has a slot."""
        slots = [self.pacing.slot_after(int(i)) for i in fed]
        real = torch.tensor([k is not None for k in slots], device=self.embed.weight.device)
        if not bool(real.any()):
            return None, real
        eos = self.vocab.special("<eos>")
        ids = [self._text_ids(text_rows[b][k]) if k is not None and k < len(text_rows[b]) else eos
               for b, k in enumerate(slots)]
        h = self._step(self.embed(torch.tensor(ids, device=real.device)), state, real)
        return h, real

    @torch.no_grad()
    def tts(self, text, prompt=None, max_frames=None, greedy=False, temperature=1.0, top_k=0, top_p=1.0,
            end_threshold=0.5, generator=None):
        """Text -> semantic tokens at the codec rate (LM + SRH, KV cache).

        text: a str or a list of str. prompt: None, or {"semantic": LongTensor [T], "text": str}
        (or a list of those, one per text): the prompt's transcript goes before the text and its
        tokens (trimmed to whole groups) start the speech, so the output continues its voice.
        Generation of a row stops at the SRH's <eos_speech>, or after a group the end head
        gives a probability > end_threshold (None: ignore the end head), or at max_frames
        (default 30 s). Returns LongTensor [T'] per text (a list for a list input), prompt
        tokens excluded.
        """
        single = isinstance(text, str)
        texts = [text] if single else list(text)
        prompts = [prompt] * len(texts) if prompt is None or isinstance(prompt, dict) else list(prompt)
        if len(prompts) != len(texts):
            raise UserError(f"ulm.tts: {len(prompts)} prompts for {len(texts)} texts")
        text_rows, prompt_groups, n_prompt_text = [], [], []
        for t, p in zip(texts, prompts):
            if p is not None:
                n_prompt_text.append(len(self.pointer_units(self.vocab.encode_text(p.get("text", "").strip())))
                                     if self.pointer is not None else 0)
                t = f"{p.get('text', '')} {t}".strip()
                sem = torch.as_tensor(p["semantic"]).reshape(-1)
                prompt_groups.append(sem[: (sem.numel() // self.g) * self.g])
            else:
                n_prompt_text.append(0)
                prompt_groups.append(torch.zeros(0, dtype=torch.long))
            ids = self.vocab.encode_text(t)
            if not ids:
                raise UserError("ulm.tts: empty text")
            text_rows.append(ids)
        max_frames = int(max_frames or round(self.frame_rate * 30))
        max_groups = max(1, math.ceil(max_frames / self.g))
        sampler = Sampler(greedy, temperature, top_k, top_p, generator)
        prompt_cond = bank = text_len = prev = None
        if self.pointer is not None:
            dev = self.embed.weight.device
            text, text_len = _pad_stack([torch.tensor(t, dtype=torch.long, device=dev) for t in text_rows])
            bank, text_len = self._pointer_bank(text, text_len)
            prompt_cond, prev = self._prompt_pointer(bank, text_len, n_prompt_text, prompt_groups)
        segments, predicts = self._tts_prefix(text_rows, prompt_groups, prompt_cond)
        h, state = self._prefill("tts", segments, max_groups + self.pacing.extra_positions(max_groups))
        B = h.shape[0]
        start = state["pos"].new_tensor(state["keys"].shape[1]) - segments[0][1]
        srh_state = self._srh_prompt(state.pop("hidden"), prompt_groups, max_groups, predicts, start, prompt_cond)
        fed = torch.tensor([int(p.numel()) // self.g for p in prompt_groups])  # speech inputs after <sos_speech>
        done = torch.zeros(B, dtype=torch.bool, device=h.device)
        out = [[] for _ in range(B)]
        for p in range(max_groups):
            end_prob = torch.sigmoid(self.end_head(h).float()[:, 0])
            cond = None
            if self.pointer is not None:  # where in the text this group speaks: drawn, then used
                ptr = torch.minimum(prev + sampler(self.pointer.head(h).float()), text_len)
                cond = self.pointer(bank, text_len, prev[:, None], ptr[:, None])[:, 0]
                prev = ptr
            group = self.srh.generate(h if cond is None else h + cond, sampler, srh_state)  # [B,g], EOS after EOS
            has_eos = (group == self.S).any(1)
            for b in range(B):
                if not done[b]:
                    out[b].extend(t for t in group[b].tolist() if t != self.S)
            done = done | has_eos
            if end_threshold is not None:
                done = done | (end_prob > end_threshold)
            if bool(done.all()) or p == max_groups - 1:
                break
            # a finished row's input no longer matters: its group alone stands in for its sequence
            seqs = [group[b] if done[b] else _tail(prompt_groups[b], out[b], self.g + self.frontend_context)
                    for b in range(B)]
            x = self._embed_next_group(seqs, group)
            h = self._step(x if cond is None else x + cond, state)
            fed = fed + 1
            h_text, real = self._text_slot(text_rows, fed, state)
            if h_text is not None:
                h = torch.where(real[:, None], h_text, h)
        res = [torch.tensor(o[:max_frames], dtype=torch.long) for o in out]
        return res[0] if single else res

    # ---- inference: acoustic infilling -------------------------------------------------------
    def _acoustic_logits(self, semantic, sem_len, tokens, masked):
        """All frames' acoustic logits [B,K,T,A] for the acoustic-stage input."""
        B, T = semantic.shape
        dev = semantic.device
        frames = self.embed_frames(semantic, tokens, masked)
        one = torch.ones(B, dtype=torch.long, device=dev)
        x, offsets, start, total = pack_segments([(self._sp("<acoustic>", B, dev), one), (frames, sem_len)])
        span = torch.stack([offsets[1], offsets[1] + sem_len], 1)
        h, _ = self._run("acoustic", x, start, total, span)
        h_f = _gather_rows(h, offsets[1], T)
        return torch.stack([head(h_f) for head in self.acoustic_heads], 1)

    @torch.no_grad()
    def acoustic(self, semantic, prompt_semantic=None, prompt_acoustic=None, steps=8, temperature=0.0, noise=1.0,
                 generator=None, return_full=False, return_probs=False):
        """Acoustic codebooks for semantic tokens, in the voice of a prompt (MaskGIT decoding).

        semantic: [T] or a list of [T_b]; prompt_semantic: [P] / list of [P_b] (or None);
        prompt_acoustic: [K', P] / list (the first K codebooks are used). Returns LongTensor
        [K, T] per item (a list for list input); with return_full the prompt frames are
        included ([K, P+T]). With return_probs each item is (codes, probs [K, T, A]): every generated
        frame's distribution when MaskGIT fixed it, one-hot at the prompt's frames.
        """
        if self.K == 0:
            raise UserError("ulm.acoustic: the model has no acoustic codebooks")
        rows, single = _ragged(semantic, None, "semantic")
        B = len(rows)
        dev = self.embed.weight.device
        if prompt_semantic is None:
            p_sem = [torch.zeros(0, dtype=torch.long)] * B
            p_ac = [torch.zeros(self.K, 0, dtype=torch.long)] * B
        else:
            p_sem = [prompt_semantic] if torch.is_tensor(prompt_semantic) and prompt_semantic.dim() == 1 \
                else list(prompt_semantic)
            p_ac = [prompt_acoustic] if torch.is_tensor(prompt_acoustic) and prompt_acoustic.dim() == 2 \
                else list(prompt_acoustic)
            if len(p_sem) == 1 and B > 1:
                p_sem, p_ac = p_sem * B, p_ac * B
            if len(p_sem) != B or len(p_ac) != B:
                raise UserError(f"ulm.acoustic: {len(p_sem)} prompts for {B} utterances")
        sem_rows, ac_rows, plen = [], [], []
        for r, ps, pa in zip(rows, p_sem, p_ac):
            ps, pa, r = ps.reshape(-1).long(), torch.as_tensor(pa).long(), r.reshape(-1).long()
            if pa.dim() != 2 or pa.shape[0] < self.K or pa.shape[1] != ps.numel():
                raise UserError(f"ulm.acoustic: prompt acoustic tokens must be [>={self.K}, {ps.numel()}], "
                                f"got {list(pa.shape)}")
            sem_rows.append(torch.cat([ps, r]).to(dev))
            ac_rows.append(torch.cat([pa[: self.K], torch.zeros(self.K, r.numel(), dtype=torch.long)], 1).to(dev))
            plen.append(ps.numel())
        sem, sem_len = _pad_stack(sem_rows)
        ac, _ = _pad_stack(ac_rows)
        plen = torch.tensor(plen, device=dev)
        t = torch.arange(sem.shape[1], device=dev)[None]
        masked = (t >= plen[:, None]) & (t < sem_len[:, None])

        def predict(tokens, m):
            return self._acoustic_logits(sem, sem_len, tokens, m)

        filled = maskgit_decode(predict, ac, masked, steps, temperature, noise, generator, return_probs=return_probs)
        if return_probs:
            filled, probs = filled
            probs = F.one_hot(filled, self.A).float() if probs is None else probs

        def rows(x):  # [B,K,T,...] -> per item, prompt frames first with return_full
            return [x[b, :, : int(sem_len[b])] if return_full else x[b, :, int(plen[b]): int(sem_len[b])]
                    for b in range(B)]

        res = rows(filled)
        if return_probs:
            res = list(zip(res, rows(probs)))
        return res[0] if single else res


def _reattach_text_model(module, incompatible_keys):
    """After load_state_dict: the tokenizer bytes arrived in the buffer; parse them."""
    module._attach_from_buffer()
