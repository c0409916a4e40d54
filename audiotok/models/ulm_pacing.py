"""Where the text goes in a TTS row of the unified LM (`model_conf.tts_pacing`).

    every: 0 (plain)   <tts> t_0 .. t_n <sos_speech> G_0 G_1 ...
    every: m > 0       <tts> t_0 .. t_{lead-1} <sos_speech> G_0 [t] G_1 [t] ...   (a [t] after every m groups)

Plain rows give the whole text first. The word a group speaks then sits at a distance that depends on
the text's length, so the LM has to find it by content alone, which it learns late: after 3,700 joint
steps on 30 hours of speech, speech-lm-v1 still spoke fluent babble unrelated to its text.

Paced rows (CosyVoice 2's interleaved text-speech stream, at a fixed ratio) give `lead` text pieces
first, then one more after every m groups; a slot past the text's end holds <eos>. The text a group
speaks then sits a few positions behind it (about `lead` plus the drift between the pace and the
speaker's real rate), where attention finds it by relative position. The pace must outrun speech:
speech-25hz-v2's 5 Hz groups carry 0.7 text pieces each on average in our corpus, 1.1 at the 99th
percentile, hence every: 1, lead: 3. The same rows run at inference, one text slot fed after every m
generated groups.
"""

from dataclasses import dataclass

from audiotok.errors import UserError

TTS, FILL, TEXT, SPEECH = range(4)  # what a position of a TTS row holds: <tts>, the <eos> filler, text, speech


@dataclass
class TextPacing:
    """`every`: groups per text slot after the lead (0: the whole text first, the plain layout);
    `lead`: text pieces before the first group (paced rows only)."""
    every: int = 0
    lead: int = 3

    def __post_init__(self):
        if self.every < 0 or self.lead < 1:
            raise UserError(f"ulm: tts_pacing needs every >= 0 and lead >= 1, got every {self.every}, "
                            f"lead {self.lead}")

    @property
    def paced(self):
        return self.every > 0

    def slot_after(self, i):
        """Speech input i (0 is <sos_speech>, i > 0 is group i-1): the index of the text piece fed right
        after it, or None."""
        if not self.paced or i == 0 or i % self.every:
            return None
        return self.lead + i // self.every - 1

    def text_at(self, k, n_text):
        return (TEXT, k) if k < n_text else (FILL, 0)

    def row(self, n_text, n_speech):
        """One TTS row of n_text text pieces and n_speech speech inputs -> (its positions as (kind,
        index) pairs, and for each speech input i the position whose hidden predicts group i)."""
        seq = [(TTS, 0)]
        seq += [(TEXT, k) for k in range(n_text)] if not self.paced else \
            [self.text_at(k, n_text) for k in range(self.lead)]
        predicts = []
        for i in range(n_speech):
            seq.append((SPEECH, i))
            k = self.slot_after(i)
            if k is not None:
                seq.append(self.text_at(k, n_text))
            predicts.append(len(seq) - 1)
        return seq, predicts

    def slots(self, first, last):
        """How many text slots follow speech inputs first .. last."""
        return sum(self.slot_after(i) is not None for i in range(first, last + 1)) if self.paced else 0

    def extra_positions(self, n_groups):
        """Text slots fed while n_groups groups are generated (an upper bound, for the KV cache)."""
        return n_groups // self.every + 1 if self.paced else 0


__all__ = ["TextPacing", "TTS", "FILL", "TEXT", "SPEECH"]
