"""Written English to the words the LM's corpus uses (audiotok.tts_text.speakable)."""

import pytest

from audiotok.data.corpora.sentences import number_words, year_words
from audiotok.tts_text import british_and, speakable


@pytest.mark.parametrize("text, said", [
    ("Room 871 is on the 11th floor.", "ROOM EIGHT HUNDRED AND SEVENTY ONE IS ON THE ELEVENTH FLOOR"),
    ("It is 1,633 km from Miami to Chicago.",
     "IT IS ONE THOUSAND SIX HUNDRED AND THIRTY THREE KILOMETRES FROM MIAMI TO CHICAGO"),
    ("Dr. Smith paid $5.50 & left at 7:30!",
     "DOCTOR SMITH PAID FIVE DOLLARS AND FIFTY CENTS AND LEFT AT SEVEN THIRTY"),
    ("Mrs. O'Neil's flat, e.g. No. 5, costs 20% more vs. St. Ives",
     "MISSUS O'NEIL'S FLAT FOR EXAMPLE NUMBER FIVE COSTS TWENTY PERCENT MORE VERSUS SAINT IVES"),
    ("Born in 2005, not 1905 or 2015 - well-known", "BORN IN TWO THOUSAND AND FIVE NOT NINETEEN OH FIVE OR "
                                                   "TWENTY FIFTEEN WELL KNOWN"),
    ("It's ‘3.5 kg’ at 9:00", "IT'S THREE POINT FIVE KILOGRAMS AT NINE O'CLOCK"),
])
def test_written_text_becomes_corpus_words(text, said):
    assert speakable(text) == said


def test_numbers_come_out_as_the_corpus_generator_says_them():
    for n in (7, 40, 100, 101, 345, 999, 1000, 1001, 1099, 1100, 2345, 20000, 101000, 999999):
        assert speakable(f"{n:,}") == " ".join(number_words(n)).upper(), n
    for y in (1905, 1984, 2000, 2005, 2015, 1800):
        assert speakable(str(y)) == " ".join(year_words(y)).upper(), y
    assert british_and("one thousand six hundred five".split()) == "one thousand six hundred and five".split()
    assert speakable("?! -- ...") == ""
