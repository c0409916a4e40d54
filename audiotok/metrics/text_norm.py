"""Text normalisation before WER, in the spirit of Whisper's English normaliser: both the reference
and every recogniser's hypothesis go through `normalize`, so that casing, punctuation and digits
versus spelled-out numbers are not counted as errors.

    lower case; numbers, ordinals, times, money and percentages spelled out ("12" -> "twelve",
    "1990" -> "nineteen ninety", "21st" -> "twenty first", "$5" -> "five dollars"); the British
    "and" inside a number ("three hundred and five") dropped, since digits cannot say whether it
    was spoken; hyphens and other punctuation to spaces; apostrophes kept only inside words
    ("don't" stays, "'quoted'" and "dogs'" lose theirs); whitespace collapsed.

The corpus references are upper-case words with numbers already spelled out (British style), so
they only lose case and the in-number "and"; Whisper writes digits, which become the same words.
"""

import re

ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen").split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
SCALES = ((10 ** 12, "trillion"), (10 ** 9, "billion"), (10 ** 6, "million"), (1000, "thousand"))
_ORDINAL = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
            "nine": "ninth", "twelve": "twelfth"}
NUMBER_WORDS = set(ONES) | set(TENS[2:]) | {"hundred"} | {s for _, s in SCALES}
AND_AFTER = {"hundred"} | {s for _, s in SCALES}
_CURRENCY = {"$": ("dollar", "dollars", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"),
             "€": ("euro", "euros", "cent", "cents")}


def number_to_words(n):
    """Cardinal words of an integer, American style (no "and"): 345 -> "three hundred forty five"."""
    n = int(n)
    if n < 0:
        return "minus " + number_to_words(-n)
    if n < 20:
        return ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return TENS[tens] + (" " + ONES[ones] if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return ONES[hundreds] + " hundred" + (" " + number_to_words(rest) if rest else "")
    for scale, name in SCALES:
        if n >= scale:
            # past the largest scale the leading group is itself spelled with scales
            high, rest = divmod(n, scale)
            return number_to_words(high) + " " + name + (" " + number_to_words(rest) if rest else "")
    raise AssertionError(n)


def year_to_words(y):
    """A year as it is said: 1990 -> "nineteen ninety", 1905 -> "nineteen oh five",
    1900 -> "nineteen hundred", 2005 -> "two thousand five", 2024 -> "twenty twenty four"."""
    y = int(y)
    if not 1000 <= y <= 9999 or y % 1000 == 0 or 2000 <= y < 2010:
        return number_to_words(y)
    high, low = divmod(y, 100)
    if low == 0:
        return number_to_words(high) + " hundred"
    return number_to_words(high) + (" oh " if low < 10 else " ") + number_to_words(low)


def ordinal_to_words(n):
    """21 -> "twenty first", 12 -> "twelfth", 40 -> "fortieth"."""
    words = number_to_words(n).split()
    last = words[-1]
    if last in _ORDINAL:
        words[-1] = _ORDINAL[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def digits_to_words(s):
    """Digit strings read one by one ("05" -> "oh five") when a leading zero says they are not a number."""
    return " ".join("oh" if c == "0" else ONES[int(c)] for c in s)


def _cardinal(text):
    """Words of "1,234", "12", "3.5" or "0.25"; 4-digit integers of 1100-2099 without a thousands
    separator read as years, since that is what Whisper writes them for."""
    whole, _, frac = text.partition(".")
    grouped = "," in whole
    whole = whole.replace(",", "")
    if len(whole) > 1 and whole.startswith("0"):
        out = digits_to_words(whole)
    elif not grouped and len(whole) == 4 and 1100 <= int(whole) <= 2099:
        out = year_to_words(whole)
    else:
        out = number_to_words(int(whole))
    if frac:
        out += " point " + " ".join(ONES[int(c)] for c in frac)
    return out


_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_TIME = re.compile(r"\b(\d{1,2}):(\d{2})\b")
_MONEY = re.compile(r"([$£€])\s?(" + _NUM + r")(?:\s?(million|billion|thousand))?")
_PERCENT = re.compile(r"(" + _NUM + r")\s?%")
_ORD = re.compile(r"\b(\d+)(?:st|nd|rd|th)\b", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w.])(" + _NUM + r")(?![\w])")
_DIGITS = re.compile(r"\d+")


def _time(m):
    h, mm = int(m.group(1)), int(m.group(2))
    if mm == 0:
        return f" {number_to_words(h)} o'clock "
    return f" {number_to_words(h)} {'oh ' if mm < 10 else ''}{number_to_words(mm)} "


def _money(m):
    one, many, sub_one, sub_many = _CURRENCY[m.group(1)]
    amount, scale = m.group(2), m.group(3)
    whole, _, cents = amount.replace(",", "").partition(".")
    if scale or (cents and len(cents) != 2):  # "$1.5 million": a decimal amount of the unit
        return f" {_cardinal(amount)} {(scale + ' ') if scale else ''}{many} "
    w = int(whole)
    out = f"{number_to_words(w)} {one if w == 1 else many}"
    if cents and int(cents):
        c = int(cents)
        out += f" and {number_to_words(c)} {sub_one if c == 1 else sub_many}"
    return f" {out} "


def spell_numbers(text):
    """Digits in `text` (any case) to lower-case words; the rest is left as it is."""
    text = _TIME.sub(_time, text)
    text = _MONEY.sub(_money, text)
    text = _PERCENT.sub(lambda m: f" {_cardinal(m.group(1))} percent ", text)
    text = _ORD.sub(lambda m: f" {ordinal_to_words(m.group(1))} ", text)
    text = _NUMBER.sub(lambda m: f" {_cardinal(m.group(1))} ", text)
    # whatever digits remain (glued to letters, "mp3", "4x4") are read digit by digit
    return _DIGITS.sub(lambda m: f" {digits_to_words(m.group(0))} ", text)


PUNCT = re.compile(r"[^\w' ]+|_")
APOSTROPHES = re.compile(r"[’‘`´]")


def _drop_number_and(words):
    """"three hundred and five" -> "three hundred five": the "and" between two number words."""
    out = []
    for i, w in enumerate(words):
        if w == "and" and out and out[-1] in AND_AFTER and i + 1 < len(words) and words[i + 1] in NUMBER_WORDS:
            continue
        out.append(w)
    return out


def normalize(text):
    """Whisper-style normalised form of `text` (see the module doc): lower-case words, single spaces."""
    t = APOSTROPHES.sub("'", text or "")
    t = spell_numbers(t).lower()
    t = PUNCT.sub(" ", t)
    words = [w.strip("'") for w in t.split()]
    return " ".join(_drop_number_and([w for w in words if w]))
