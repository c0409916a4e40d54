"""Written English to the words the LM's corpus uses (audiotok.tts_text.speakable), and the pieces `tts`
says one at a time (speakable_pieces)."""

import pytest

from audiotok.data.corpora.sentences import number_words, year_words
from audiotok.tts_text import MAX_WORDS, british_and, speakable, speakable_pieces


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


@pytest.mark.parametrize("text, said", [
    # dates: abbreviated months, days as ordinals, the day first with "the ... of"; a lower-case "may" is a verb
    ("On Jan. 5th and Dec 25, 2026", "ON JANUARY FIFTH AND DECEMBER TWENTY FIFTH TWENTY TWENTY SIX"),
    ("on 3 May 2020, not on the 4th of July", "ON THE THIRD OF MAY TWENTY TWENTY NOT ON THE FOURTH OF JULY"),
    ("you may 5 times", "YOU MAY FIVE TIMES"),
    ("the 1990s, the '80s, the 60s and the 1900s", "THE NINETEEN NINETIES THE EIGHTIES THE SIXTIES AND THE NINETEEN "
                                                   "HUNDREDS"),
    ("at 10:30 a.m. or 7pm", "AT TEN THIRTY A M OR SEVEN P M"),
    # roman numerals: counted after a cue word, ordinal after a name; a pronoun I is left alone
    ("Chapter IV of World War II under Henry VIII", "CHAPTER FOUR OF WORLD WAR TWO UNDER HENRY THE EIGHTH"),
    ("Part I. For my part I agree.", "PART ONE FOR MY PART I AGREE"),
    # ranges, codes, signs, fractions, multiples
    ("pages 5-10 in 2000-2005, 1,000-2,000 km", "PAGES FIVE TO TEN IN TWO THOUSAND TO TWO THOUSAND AND FIVE ONE "
                                                 "THOUSAND TO TWO THOUSAND KILOMETRES"),
    ("call 555-1234", "CALL FIVE FIVE FIVE ONE TWO THREE FOUR"),
    ("-5 degrees, 3/4 cup, 1/2 hour, 2/3 of it, 24/7", "MINUS FIVE DEGREES THREE QUARTERS CUP ONE HALF HOUR TWO "
                                                       "THIRDS OF IT TWENTY FOUR SEVEN"),
    ("3x faster, #1 fan, 4x4", "THREE TIMES FASTER NUMBER ONE FAN FOUR X FOUR"),
    # units (one is singular), temperatures, scales of money, numbers glued to letters
    ("1 km, 1.5 km, 2.5°C, 5 GHz and 16 GB", "ONE KILOMETRE ONE POINT FIVE KILOMETRES TWO POINT FIVE DEGREES CELSIUS "
                                             "FIVE GIGAHERTZ AND SIXTEEN GIGABYTES"),
    ("$2m and £5bn", "TWO MILLION DOLLARS AND FIVE BILLION POUNDS"),
    # the README's example
    ("Henry VIII left on Dec 25th in the 1530s, 3-4 km away", "HENRY THE EIGHTH LEFT ON DECEMBER TWENTY FIFTH IN THE "
                                                             "FIFTEEN THIRTIES THREE TO FOUR KILOMETRES AWAY"),
    ("221B Baker St. near St. Ives, 3.2m away", "TWO HUNDRED AND TWENTY ONE B BAKER STREET NEAR SAINT IVES THREE "
                                               "POINT TWO M AWAY"),
])
def test_dates_numerals_ranges_and_units_are_said_as_people_read_them(text, said):
    assert speakable(text) == said


def test_a_time_of_day_at_a_sentence_end_still_ends_the_sentence():
    assert speakable_pieces("We left at 7 p.m. Then it rained for a while.") == [
        ("WE LEFT AT SEVEN P M", True), ("THEN IT RAINED FOR A WHILE", True)]


def test_numbers_come_out_as_the_corpus_generator_says_them():
    for n in (7, 40, 100, 101, 345, 999, 1000, 1001, 1099, 1100, 2345, 20000, 101000, 999999):
        assert speakable(f"{n:,}") == " ".join(number_words(n)).upper(), n
    for y in (1905, 1984, 2000, 2005, 2015, 1800):
        assert speakable(str(y)) == " ".join(year_words(y)).upper(), y
    assert british_and("one thousand six hundred five".split()) == "one thousand six hundred and five".split()
    assert speakable("?! -- ...") == ""


@pytest.mark.parametrize("text, pieces", [
    # sentences; an abbreviation's period, a time's colon and a decimal point end none
    ("Dr. Lee left at 7:30. It was 3.5 km to the old station!",
     [("DOCTOR LEE LEFT AT SEVEN THIRTY", True), ("IT WAS THREE POINT FIVE KILOMETRES TO THE OLD STATION", True)]),
    # a short sentence joins its neighbour; quotes after the mark still end the sentence
    ("Yes. I think we should go home now.", [("YES I THINK WE SHOULD GO HOME NOW", True)]),
    ("\u201cStop the car!\u201d she said quietly to him.", [("STOP THE CAR", True), ("SHE SAID QUIETLY TO HIM", True)]),
    # over 16 words once the number is spelled out: cut at the comma
    ("The room was 871, and after a long walk we finally found the small grey door of it.",
     [("THE ROOM WAS EIGHT HUNDRED AND SEVENTY ONE", False),
      ("AND AFTER A LONG WALK WE FINALLY FOUND THE SMALL GREY DOOR OF IT", True)]),
    # no comma in 20 words: two equal halves; a lone clause opener goes with what follows it
    (" ".join(["word"] * 20) + ".", [(" ".join(["WORD"] * 10), False), (" ".join(["WORD"] * 10), True)]),
    ("Then, " + " ".join(["word"] * 16) + ".", [(" ".join(["THEN"] + ["WORD"] * 8), False),
                                                (" ".join(["WORD"] * 8), True)]),
    ("...", []),
])
def test_texts_are_cut_into_pieces_the_lm_can_say(text, pieces):
    assert speakable_pieces(text) == pieces
    assert all(len(p.split()) <= MAX_WORDS for p, _ in speakable_pieces(text))


def test_every_corpus_sentence_is_one_piece_and_raw_text_is_cut_by_length_only():
    sixteen = "THE TALL WOMAN SAID THAT THE SMALL BOY HAD FOUND A RED BALL IN THE PARK"
    assert len(sixteen.split()) == MAX_WORDS and speakable_pieces(sixteen) == [(sixteen, True)]
    assert speakable_pieces(sixteen, raw=True) == [(sixteen, True)]
    raw = speakable_pieces("A, B. " * 9, raw=True)  # punctuation is the text's own here: kept, not used
    assert [len(p.split()) for p, _ in raw] == [9, 9] and raw[0][0].startswith("A, B. A, B.")
