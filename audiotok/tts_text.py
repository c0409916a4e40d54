"""What `audiotok tts` reads: written English turned into the words the LM was trained on.

The LM's corpus transcripts are upper-case words with numbers spelled out British style ("ROOM EIGHT
HUNDRED AND SEVENTY ONE"), no punctuation, apostrophes only inside words. So before synthesis:

    abbreviations      Dr. -> DOCTOR, Mr. -> MISTER, St. -> SAINT, e.g. -> FOR EXAMPLE, No. 5 -> NUMBER FIVE
    units and symbols  5 km -> FIVE KILOMETRES, & -> AND, + -> PLUS, = -> EQUALS, @ -> AT
    numbers            times, money, percentages, ordinals, years, decimals and digit strings as the
                       WER normaliser spells them (audiotok.metrics.text_norm), with the British "and"
                       the corpus uses: 871 -> EIGHT HUNDRED AND SEVENTY ONE, 2005 -> TWO THOUSAND AND FIVE
    punctuation        dropped (sentence and clause marks end words; hyphens split them)
"""

import re

from audiotok.metrics.text_norm import AND_AFTER, APOSTROPHES, NUMBER_WORDS, PUNCT, spell_numbers

ABBREVIATIONS = [  # (pattern, words); case-insensitive, the trailing period optional
    (r"\bdr\b\.?", "doctor"), (r"\bmrs\b\.?", "missus"), (r"\bmr\b\.?", "mister"), (r"\bms\b\.?", "miz"),
    (r"\bprof\b\.?", "professor"), (r"\bst\b\.?", "saint"), (r"\bjr\b\.?", "junior"), (r"\bsr\b\.?", "senior"),
    (r"\bmt\b\.?", "mount"), (r"\betc\b\.?", "et cetera"), (r"\bvs\b\.?", "versus"),
    (r"\be\.\s?g\b\.?", "for example"), (r"\bi\.\s?e\b\.?", "that is"), (r"\bno\.\s?(?=\d)", "number "),
]
UNITS = {"km": "kilometres", "kg": "kilograms", "cm": "centimetres", "mm": "millimetres", "mph": "miles per hour",
         "kph": "kilometres per hour", "km/h": "kilometres per hour"}
SYMBOLS = {"&": " and ", "+": " plus ", "=": " equals ", "@": " at "}
_ABBREVIATIONS = [(re.compile(p, re.IGNORECASE), w) for p, w in ABBREVIATIONS]
_UNIT = re.compile(r"(\d)\s?(" + "|".join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True)) + r")\b",
                   re.IGNORECASE)
_SYMBOL = re.compile("|".join(re.escape(s) for s in SYMBOLS))


def british_and(words):
    """American number words -> British: "and" after hundred (and after thousand, million, ... when
    fewer than a hundred follow), as the corpus's number_words says them."""
    out = []
    for i, w in enumerate(words):
        out.append(w)
        nxt = words[i + 1] if i + 1 < len(words) else None
        if w not in AND_AFTER or nxt not in NUMBER_WORDS or nxt in AND_AFTER:
            continue
        hundreds_follow = i + 2 < len(words) and words[i + 2] == "hundred"
        if w == "hundred" or not hundreds_follow:
            out.append("and")
    return out


def _expanded(text):
    """Abbreviations, units and symbols written out; punctuation kept (sentences are found by it)."""
    t = APOSTROPHES.sub("'", text or "")
    for pattern, words in _ABBREVIATIONS:
        t = pattern.sub(f" {words} ", t)
    t = _UNIT.sub(lambda m: f"{m.group(1)} {UNITS[m.group(2).lower()]}", t)
    return _SYMBOL.sub(lambda m: SYMBOLS[m.group(0)], t)


def _words(expanded):
    t = PUNCT.sub(" ", spell_numbers(expanded).lower())
    words = [w.strip("'") for w in t.split()]
    return [w.upper() for w in british_and([w for w in words if w])]


def speakable(text):
    """`text` as the LM's corpus writes it: upper-case words, numbers spelled out, no punctuation."""
    return " ".join(_words(_expanded(text)))


# The LM learned sentences of 4 to 16 words (the corpus's range, up to 10 s): a paragraph said as one
# text drifts, is cut short or runs on. Speech-lm-v1 release 5 on 36 paragraphs of 3 unseen test sentences:
# Whisper WER 91.3 % as one text each, 81.7 % sentence by sentence (egs/mini_synth/lm1/RESULTS.md).
MAX_WORDS = 16
MIN_WORDS = 3
_SENTENCE_END = re.compile(r"(?<=[.!?;:])[\"'”’)\]]*\s+|\n\s*\n")  # after the abbreviations' periods are gone
_CLAUSE_END = re.compile(r"(?<=[,])\s+|\s+[-–—]+\s+")


def _even_chunks(words, max_words):
    n = -(-len(words) // max_words)
    size = -(-len(words) // n)
    return [words[i:i + size] for i in range(0, len(words), size)]


def speakable_pieces(text, max_words=MAX_WORDS, min_words=MIN_WORDS, raw=False):
    """`text` cut into the pieces `tts` says one at a time -> [(words, ends_a_sentence)]: its sentences;
    one longer than `max_words` (counted once numbers are spelled out) at its commas and dashes, clauses
    packed back together up to `max_words`, and a clause still longer in equal parts; a piece under
    `min_words` joins a neighbour when the two fit. `raw`: the text is already corpus words (no
    punctuation to go by): only cut by length."""
    if raw:
        sentences = [[w for w in str(text).split()]]
        clauses_of = lambda i: sentences[i:i + 1]  # noqa: E731
    else:
        parts = [p for p in _SENTENCE_END.split(_expanded(text)) if p and p.strip()]
        sentences = [_words(p) for p in parts]
        clauses_of = lambda i: [_words(c) for c in _CLAUSE_END.split(parts[i])]  # noqa: E731
    pieces = []
    for i, words in enumerate(sentences):
        if not words:
            continue
        chunks = [words] if len(words) <= max_words else []
        for clause in ([] if chunks else clauses_of(i)):
            for part in _even_chunks(clause, max_words) if clause else []:
                if chunks and len(chunks[-1]) + len(part) <= max_words:
                    chunks[-1] = chunks[-1] + part
                else:
                    chunks.append(part)
        pieces += [[c, k == len(chunks) - 1] for k, c in enumerate(chunks)]
    k = 0
    while k < len(pieces) and len(pieces) > 1:  # a short piece joins the neighbour it belongs with
        words, ends = pieces[k]
        if len(words) >= min_words:
            k += 1
            continue
        a = k if (not ends and k + 1 < len(pieces)) or k == 0 else k - 1  # the pair a, a + 1
        (wa, ea), (wb, eb) = pieces[a], pieces[a + 1]
        if len(wa) + len(wb) <= max_words:
            pieces[a:a + 2] = [[wa + wb, eb]]
        elif not ea:  # parts of one sentence: share its words evenly instead
            first, second = _even_chunks(wa + wb, max_words)
            pieces[a:a + 2] = [[first, False], [second, eb]]
        else:  # a short sentence beside a long one: said alone
            k += 1
            continue
        k = a
    return [(" ".join(w), ends) for w, ends in pieces]


__all__ = ["speakable", "speakable_pieces", "MAX_WORDS", "MIN_WORDS", "british_and", "ABBREVIATIONS", "UNITS", "SYMBOLS"]
