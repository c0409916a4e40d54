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


def speakable(text):
    """`text` as the LM's corpus writes it: upper-case words, numbers spelled out, no punctuation."""
    t = APOSTROPHES.sub("'", text or "")
    for pattern, words in _ABBREVIATIONS:
        t = pattern.sub(f" {words} ", t)
    t = _UNIT.sub(lambda m: f"{m.group(1)} {UNITS[m.group(2).lower()]}", t)
    t = _SYMBOL.sub(lambda m: SYMBOLS[m.group(0)], t)
    t = PUNCT.sub(" ", spell_numbers(t).lower())
    words = [w.strip("'") for w in t.split()]
    return " ".join(british_and([w for w in words if w])).upper()


__all__ = ["speakable", "british_and", "ABBREVIATIONS", "UNITS", "SYMBOLS"]
