"""What `audiotok tts` reads: written English turned into the words the LM was trained on.

The LM's corpus transcripts are upper-case words with numbers spelled out British style ("ROOM EIGHT
HUNDRED AND SEVENTY ONE"), no punctuation, apostrophes only inside words. So before synthesis:

    abbreviations      Dr. -> DOCTOR, Mr. -> MISTER, e.g. -> FOR EXAMPLE, No. 5 / #5 -> NUMBER FIVE,
                       St. Ives -> SAINT IVES but Baker St. -> BAKER STREET, Rd. -> ROAD
    dates              Jan. 5th / Dec 25 -> JANUARY FIFTH / DECEMBER TWENTY FIFTH, 3 May -> THIRD OF MAY,
                       the 1990s / '80s -> THE NINETEEN NINETIES / EIGHTIES, 7pm -> SEVEN P M
    roman numerals     World War II, Chapter IV -> WORLD WAR TWO, CHAPTER FOUR; Henry VIII -> HENRY THE EIGHTH
    units and symbols  5 km -> FIVE KILOMETRES (1 km -> ONE KILOMETRE), 2.5°C -> TWO POINT FIVE DEGREES
                       CELSIUS, 3x -> THREE TIMES, & -> AND, + -> PLUS, = -> EQUALS, @ -> AT
    numbers            times, money ($2m -> TWO MILLION DOLLARS), percentages, ordinals, years, decimals and
                       digit strings as the WER normaliser spells them (audiotok.metrics.text_norm), with the
                       British "and" the corpus uses: 871 -> EIGHT HUNDRED AND SEVENTY ONE, 2005 -> TWO
                       THOUSAND AND FIVE; 5-10 -> FIVE TO TEN, -5 -> MINUS FIVE, 3/4 -> THREE QUARTERS,
                       555-1234 -> FIVE FIVE FIVE ONE TWO THREE FOUR
    punctuation        dropped (sentence and clause marks end words; hyphens split them)
"""

import re

from audiotok.metrics.text_norm import (AND_AFTER, APOSTROPHES, NUMBER_WORDS, PUNCT, digits_to_words, number_to_words,
                                        ordinal_to_words, spell_numbers, year_to_words)

ABBREVIATIONS = [  # (pattern, words); case-insensitive, the trailing period optional
    (r"\bdr\b\.?", "doctor"), (r"\bmrs\b\.?", "missus"), (r"\bmr\b\.?", "mister"), (r"\bms\b\.?", "miz"),
    (r"\bprof\b\.?", "professor"), (r"\bjr\b\.?", "junior"), (r"\bsr\b\.?", "senior"),
    (r"\bmt\b\.?", "mount"), (r"\betc\b\.?", "et cetera"), (r"\bvs\b\.?", "versus"),
    (r"\be\.\s?g\b\.?", "for example"), (r"\bi\.\s?e\b\.?", "that is"), (r"\bno\.\s?(?=\d)", "number "),
    (r"#\s?(?=\d)", "number "), (r"\bave\b\.", "avenue"), (r"\brd\b\.", "road"), (r"\bblvd\b\.?", "boulevard"),
]
UNITS = {  # unit: (one, many); after a number
    "km": ("kilometre", "kilometres"), "kg": ("kilogram", "kilograms"), "cm": ("centimetre", "centimetres"),
    "mm": ("millimetre", "millimetres"), "mg": ("milligram", "milligrams"), "ml": ("millilitre", "millilitres"),
    "mph": ("mile per hour", "miles per hour"), "kph": ("kilometre per hour", "kilometres per hour"),
    "km/h": ("kilometre per hour", "kilometres per hour"), "ft": ("foot", "feet"), "lb": ("pound", "pounds"),
    "lbs": ("pound", "pounds"), "oz": ("ounce", "ounces"), "hz": ("hertz", "hertz"), "khz": ("kilohertz", "kilohertz"),
    "mhz": ("megahertz", "megahertz"), "ghz": ("gigahertz", "gigahertz"), "kb": ("kilobyte", "kilobytes"),
    "mb": ("megabyte", "megabytes"), "gb": ("gigabyte", "gigabytes"), "tb": ("terabyte", "terabytes"),
    "ms": ("millisecond", "milliseconds"), "min": ("minute", "minutes"), "mins": ("minute", "minutes"),
    "sec": ("second", "seconds"), "secs": ("second", "seconds"), "hr": ("hour", "hours"),
    "hrs": ("hour", "hours"), "°c": ("degree celsius", "degrees celsius"),
    "°f": ("degree fahrenheit", "degrees fahrenheit"), "°": ("degree", "degrees"),
}
SYMBOLS = {"&": " and ", "+": " plus ", "=": " equals ", "@": " at "}
MONTHS = "january february march april may june july august september october november december".split()
_ABBREVIATIONS = [(re.compile(p, re.IGNORECASE), w) for p, w in ABBREVIATIONS]
_UNIT = re.compile(r"(\d)\s?(" + "|".join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True)) + r")(?!\w)",
                   re.IGNORECASE)
_SYMBOL = re.compile("|".join(re.escape(s) for s in SYMBOLS))
_SAINT_OR_STREET = re.compile(r"\b(St|ST|st)\b\.?(?=(\s+[A-Z])?)")
_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|" + "|".join(MONTHS) + r")\b\.?"
_MONTH_DAY = re.compile(r"\b" + _MONTH + r"\s+(\d{1,2})(?:st|nd|rd|th)?\b(?![:.,]?\d)", re.IGNORECASE)
_DAY_MONTH = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH + r"(?!\w)", re.IGNORECASE)
_CLOCK = re.compile(r"(\d)\s?([ap])\.?\s?m\b(\.?)(?=(\s+[A-Z])?)", re.IGNORECASE)
_DECADE = re.compile(r"(?<![\w'.])'?(1[1-9]|20)?(\d)0'?s\b")
_CURRENCY_SCALE = re.compile(r"([$£€]\s?[\d.,]*\d)\s?(k|m|bn|b)\b", re.IGNORECASE)
_RANGE = re.compile(r"(?<![\w.,-])(\d{1,3}(?:,\d{3})+|\d+)\s?[-–]\s?(\d{1,3}(?:,\d{3})+|\d+)(?![\w.,]*\d|-)")
_NEGATIVE = re.compile(r"(?<![\w.,])[-−](?=\d)")
_FRACTION = re.compile(r"(?<![\w./])(\d{1,2})/(\d{1,2})(?![\w/]|\.\d)")
_TIMES = re.compile(r"(\d)\s?[x×](?=\s|$|[.,;:!?])")
_GLUED = re.compile(r"(\d)(?!(?:st|nd|rd|th)\b)([a-z]+)\b", re.IGNORECASE)
_ROMAN = r"(X{0,3}(?:IX|IV|V?I{0,3}))"
_ROMAN_COUNT = re.compile(r"\b((?i:chapter|part|volume|vol\.?|book|act|scene|war|phase|level|section|article|"
                          r"class|type|grade|stage|round|series|season|episode|psalm|appendix))\s+" + _ROMAN + r"\b")
_ROMAN_NAME = re.compile(r"\b([A-Z][a-z]+)\s+" + _ROMAN + r"\b(?!['’]\w)")
_SCALES = {"k": "thousand", "m": "million", "b": "billion", "bn": "billion"}
_DENOMINATORS = {2: ("half", "halves"), 4: ("quarter", "quarters")}


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


def _roman_value(numeral):
    values = {"I": 1, "V": 5, "X": 10}
    total = 0
    for a, b in zip(numeral, numeral[1:] + " "):
        total += -values[a] if values.get(b, 0) > values[a] else values[a]
    return total


def _saint_or_street(m):
    """St. before a name is a saint (St. Ives); after one, a street (Baker St.)."""
    if m.group(2):
        return " saint "
    before = m.string[:m.start()].rstrip()
    return " street " if re.search(r"\b[A-Z][a-z]+$", before) else " saint "


def _month(word):
    word = word.lower().rstrip(".")
    return next(m for m in MONTHS if m.startswith(word[:3]))


def _roman_count(m):
    """Chapter IV: four. A lone I counts only before a mark or the end ("For my part I agree")."""
    numeral = m.group(2)
    if not numeral or numeral == "I" and re.match(r"\s*\w", m.string[m.end():]):
        return m.group(0)
    return f"{m.group(1)} {number_to_words(_roman_value(numeral))}"


def _month_day(m):
    """Dec 25 / December 25th: December twenty fifth. Written in lower case it is left alone ("you may 5")."""
    if not m.group(1)[0].isupper() or not 1 <= int(m.group(2)) <= 31:
        return m.group(0)
    return f"{_month(m.group(1))} {ordinal_to_words(m.group(2))}"


def _day_month(m):
    """25 Dec / 3rd of May: the twenty fifth of December."""
    if not m.group(2)[0].isupper() or not 1 <= int(m.group(1)) <= 31:
        return m.group(0)
    the = "" if re.search(r"\bthe\s*$", m.string[:m.start()], re.IGNORECASE) else "the "
    return f"{the}{ordinal_to_words(m.group(1))} of {_month(m.group(2))}"


def _range(m):
    """5-10: five to ten; a code or phone number (both sides over two digits, not two years): digit by digit."""
    a, b = m.group(1).replace(",", ""), m.group(2).replace(",", "")
    grouped = "," in m.group(0)
    years = len(a) == len(b) == 4 and int(a) < int(b)
    if len(a) > 2 and len(b) > 2 and not (years or grouped) or a.startswith("0") or b.startswith("0"):
        return f" {digits_to_words(a)} {digits_to_words(b)}"
    return f" {m.group(1)} to {m.group(2)}"


def _fraction(m):
    top, bottom = int(m.group(1)), int(m.group(2))
    if not 0 < top < bottom or bottom < 2:
        return m.group(0)
    one, many = _DENOMINATORS.get(bottom, (ordinal_to_words(bottom), ordinal_to_words(bottom) + "s"))
    return f" {number_to_words(top)} {one if top == 1 else many} "


def _decade(m):
    if m.group(1) is None:  # '80s, 80s
        if m.group(2) in "01":
            return m.group(0)
        return f" {number_to_words(int(m.group(2)) * 10)[:-1]}ies "
    words = year_to_words(int(m.group(1) + m.group(2) + "0")).split()
    last = words[-1]
    words[-1] = last[:-1] + "ies" if last.endswith("y") else last + "s"
    return " " + " ".join(words) + " "


def _unit(m):
    one, many = UNITS[m.group(2).lower()]
    before = m.string[:m.start(1)]
    single = m.group(1) == "1" and not re.search(r"[\d.,]$", before)
    return f"{m.group(1)} {one if single else many}"


def _dates_and_numerals(t):
    """Written forms whose meaning hangs on their neighbours (dates, times of day, numerals, ranges),
    turned to words or to plain numbers that spell_numbers then reads."""
    t = _ROMAN_COUNT.sub(_roman_count, t)
    t = _ROMAN_NAME.sub(lambda m: f"{m.group(1)} the {ordinal_to_words(_roman_value(m.group(2)))}"
                        if len(m.group(2)) > 1 else m.group(0), t)
    t = _MONTH_DAY.sub(_month_day, t)
    t = _DAY_MONTH.sub(_day_month, t)
    t = _CLOCK.sub(lambda m: f"{m.group(1)} {m.group(2).lower()} m" + ("." if m.group(3) and m.group(4) else ""), t)
    t = _DECADE.sub(_decade, t)
    t = _CURRENCY_SCALE.sub(lambda m: f"{m.group(1)} {_SCALES[m.group(2).lower()]}", t)
    t = _RANGE.sub(_range, t)
    t = _NEGATIVE.sub(" minus ", t)
    t = _FRACTION.sub(_fraction, t)
    return _TIMES.sub(lambda m: f"{m.group(1)} times", t)


def _expanded(text):
    """Abbreviations, dates, units and symbols written out; punctuation kept (sentences are found by it)."""
    t = APOSTROPHES.sub("'", text or "")
    t = _SAINT_OR_STREET.sub(_saint_or_street, t)
    t = _dates_and_numerals(t)
    for pattern, words in _ABBREVIATIONS:
        t = pattern.sub(f" {words} ", t)
    t = _UNIT.sub(_unit, t)
    t = _GLUED.sub(lambda m: f"{m.group(1)} {m.group(2)}", t)  # 221B, 3.2m: the number, then the letters
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


__all__ = ["speakable", "speakable_pieces", "MAX_WORDS", "MIN_WORDS", "british_and", "ABBREVIATIONS", "UNITS",
           "SYMBOLS", "MONTHS"]
