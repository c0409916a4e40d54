"""A seeded English sentence generator for the mini_synth corpus.

Sentences come from about twenty shapes (statements, yes/no and wh-questions, lists, numbers,
clock times and years, digit strings, subordinate and relative clauses, reported questions,
passives, comparisons, requests, sequences, commands, descriptions) filled from the word
lists in vocabulary.py, with subject-verb agreement and tense-matched time phrases. One shape
reads out words from a few thousand of the most frequent English words (wordfreq's ranking,
filtered in vocabulary.frequent_words) in frames like "the next word is ...", which widens
the lexical and phonetic coverage beyond the part-of-speech lists. Each sentence has two
renderings: `text` with capitals and punctuation, which is what the TTS engines read
(punctuation shapes their prosody), and `transcript`, the words upper-cased with apostrophes
kept and nothing else (Kaldi/LibriSpeech style), which is what WER is scored against.
Numbers are always spelled out so both renderings say the same words.
"""

import functools
import random
from dataclasses import dataclass

from audiotok.data.corpora import vocabulary as V

MIN_WORDS, MAX_WORDS = 4, 16
PUNCT = frozenset(",.?!")

# closed-class words that the templates below spell out directly
FUNCTION_WORDS = frozenset("""
    the a an some my your our their his her this
    i you we they he she it
    am is are was were do does did will can could should must might
    don't doesn't didn't won't can't i'm it's there's let's
    there what who where when why how which whose many please
    and but so if that ever
    say says said think thinks thought believe believes believed know knows knew hope hopes hoped
    to from of for at on in
    born costs cost leaves left arrives arrived opened waited
    years old floor room birthday
    o'clock half past quarter noon midnight hundred thousand oh
    pounds pence dollars euros cents kilometres miles
    last next every favourite colours have visited lives
    windy foggy sunny
    word words board spell sentence use not aloud these sound different next answer
    would like me may borrow pass first then after number phone code flight platform
    been has by asked whether as than less here
""".split())

@functools.lru_cache(maxsize=1)
def frequent_words():
    """The extra content words (vocabulary.frequent_words), loaded once."""
    return V.frequent_words()


# regular transitive verbs: their past tense is also the participle ("was painted")
REGULAR_TRANSITIVE = tuple(e for e in V.TRANSITIVE if "/" not in e)

_PROPER = frozenset(V.FEMALE_NAMES + V.MALE_NAMES + V.CITIES + V.COUNTRIES + V.DAYS + V.MONTHS
                    + tuple(d + "s" for d in V.DAYS))


# --- inflection ---------------------------------------------------------------------------

def singular(entry):
    return entry.split("/")[0]


def plural(entry):
    parts = entry.split("/")
    if len(parts) == 2:
        return parts[1]
    w = parts[0]
    if w.endswith(("s", "x", "z", "ch", "sh")):
        return w + "es"
    if w.endswith("y") and w[-2] not in "aeiou":
        return w[:-1] + "ies"
    return w + "s"


def verb_forms(entry):
    """(base, third person singular, past, -ing) of a verb entry."""
    parts = entry.split("/")
    if len(parts) == 4:
        return tuple(parts)
    base = parts[0]
    if base.endswith("e"):
        past = base + "d"
    elif base.endswith("y") and base[-2] not in "aeiou":
        past = base[:-1] + "ied"
    else:
        past = base + "ed"
    if base.endswith("ie"):
        ing = base[:-2] + "ying"
    elif base.endswith("e") and not base.endswith(("ee", "ye", "oe")):
        ing = base[:-1] + "ing"
    else:
        ing = base + "ing"
    return base, plural(base), past, ing


def article(word):
    """'a' or 'an' before `word` (by sound for the few exceptions in our lists)."""
    if word.startswith(("hour", "honest")):
        return "an"
    if word.startswith(("use", "uni", "eu", "one")):
        return "a"
    return "an" if word[0] in "aeiou" else "a"


# --- numbers ------------------------------------------------------------------------------

def number_words(n):
    """Cardinal number as words, British style: 345 -> three hundred and forty five."""
    if not 0 <= n < 1_000_000:
        raise ValueError(f"number out of range: {n}")
    if n < 20:
        return [V.ONES[n]]
    if n < 100:
        tens, ones = divmod(n, 10)
        return [V.TENS[tens]] + ([V.ONES[ones]] if ones else [])
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return [V.ONES[hundreds], "hundred"] + (["and"] + number_words(rest) if rest else [])
    thousands, rest = divmod(n, 1000)
    out = number_words(thousands) + ["thousand"]
    if rest == 0:
        return out
    return out + (["and"] if rest < 100 else []) + number_words(rest)


def year_words(y):
    """A year as people say it: 1984 -> nineteen eighty four, 2005 -> two thousand and five."""
    if 2000 <= y < 2010:
        return number_words(y)
    hi, lo = divmod(y, 100)
    if lo == 0:
        return number_words(hi) + ["hundred"]
    return number_words(hi) + (["oh"] + number_words(lo) if lo < 10 else number_words(lo))


# --- the sentence -------------------------------------------------------------------------

@dataclass(frozen=True)
class Sentence:
    tokens: tuple  # lower-case words and punctuation marks

    @property
    def words(self):
        return [t for t in self.tokens if t not in PUNCT]

    @property
    def transcript(self):
        """Normalised transcript: upper-case words and apostrophes, single spaces."""
        return " ".join(w.upper() for w in self.words)

    @property
    def text(self):
        """What the TTS engine reads: capitals for names and sentence start, punctuation attached."""
        out = []
        for i, t in enumerate(self.tokens):
            if t in PUNCT:
                out[-1] += t
                continue
            stem = t.split("'")[0]
            if stem in _PROPER or stem == "i":
                t = t[0].upper() + t[1:]
            if i == 0:
                t = t[0].upper() + t[1:]
            out.append(t)
        return " ".join(out)


@dataclass(frozen=True)
class NP:
    words: tuple
    person: str  # "1s", "2", "3s", "1p", "3p"


def be_present(person):
    return {"1s": "am", "3s": "is"}.get(person, "are")


def be_past(person):
    return "was" if person in ("1s", "3s") else "were"


class SentenceGenerator:
    """Draws sentences from a `random.Random`; the same rng state gives the same sentence."""

    def __init__(self, rng):
        self.rng = rng
        self._templates = [
            (self.statement_transitive, 6),
            (self.statement_intransitive, 4),
            (self.question_yes_no, 3),
            (self.question_wh, 4),
            (self.list_sentence, 2),
            (self.number_sentence, 3),
            (self.clause_sentence, 4),
            (self.command, 2),
            (self.description, 2),
            (self.word_sentence, 6),
            (self.comparison, 2),
            (self.request, 2),
            (self.sequence, 2),
            (self.digits_sentence, 2),
            (self.passive, 2),
            (self.reported_question, 1),
        ]

    # small helpers
    def pick(self, seq):
        return self.rng.choice(seq)

    def chance(self, p):
        return self.rng.random() < p

    def __call__(self):
        return self.sentence()

    def sentence(self):
        funcs, weights = zip(*self._templates)
        while True:
            tokens = self.rng.choices(funcs, weights)[0]()
            n = sum(t not in PUNCT for t in tokens)
            if MIN_WORDS <= n <= MAX_WORDS:
                return Sentence(tuple(tokens))

    # --- noun phrases
    def name(self):
        return self.pick(V.FEMALE_NAMES + V.MALE_NAMES)

    def possessor(self):
        if self.chance(0.3):
            return self.name() + "'s"
        return self.pick(("my", "your", "our", "their", "his", "her"))

    def modifiers(self, p_adj=0.5, p_colour=0.2):
        out = []
        if self.chance(p_adj):
            if self.chance(0.15):
                out.append(self.pick(("very", "quite", "rather", "really")))
            out.append(self.pick(V.ADJECTIVES))
        if self.chance(p_colour):
            out.append(self.pick(V.COLOURS))
        return out

    def person_np(self):
        r = self.rng.random()
        if r < 0.22:
            pron, person = self.pick((("i", "1s"), ("you", "2"), ("we", "1p"), ("they", "3p"),
                                      ("he", "3s"), ("she", "3s")))
            return NP((pron,), person)
        if r < 0.5:
            return NP((self.name(),), "3s")
        if r < 0.58:
            return NP((self.name(), "and", self.name()), "3p")
        noun = self.pick(V.PEOPLE)
        det = "the" if self.chance(0.6) else self.possessor()
        mods = self.modifiers(0.4, 0.0)
        if self.chance(0.25):
            return NP((det, *mods, plural(noun)), "3p")
        return NP((det, *mods, singular(noun)), "3s")

    def animal_np(self):
        noun = self.pick(V.ANIMALS)
        det = "the" if self.chance(0.7) else self.possessor()
        mods = self.modifiers(0.4, 0.2)
        if self.chance(0.3):
            return NP((det, *mods, plural(noun)), "3p")
        return NP((det, *mods, singular(noun)), "3s")

    def agent_np(self):
        return self.animal_np() if self.chance(0.2) else self.person_np()

    def thing_np(self, pool=None):
        pool = pool or self.pick((V.THINGS, V.THINGS, V.FOODS, V.ANIMALS, V.NATURE, V.ABSTRACT))
        noun = self.pick(pool)
        r = self.rng.random()
        mods = self.modifiers()
        if r < 0.35:
            return ["the", *mods, singular(noun)]
        if r < 0.6:
            words = [*mods, singular(noun)]
            return [article(words[0]), *words]
        if r < 0.75:
            return [*number_words(self.rng.randint(2, 12)), *mods, plural(noun)]
        if r < 0.85:
            return ["some", *mods, plural(noun)]
        return [self.possessor(), *mods, singular(noun)]

    def object_np(self):
        if self.chance(0.12):
            return ["some", self.pick(V.MASS)]
        return self.thing_np()

    def place_phrase(self):
        r = self.rng.random()
        if r < 0.55:
            prep = self.pick(V.PREPOSITIONS_PLACE)
            return [prep, "the", *self.modifiers(0.2, 0.0), self.pick(V.SETTINGS)]
        if r < 0.7:
            return ["at", "the", self.pick(V.SETTINGS)]
        return [self.pick(("in", "near", "to") if r < 0.8 else ("in",)),
                self.pick(V.CITIES + V.COUNTRIES)]

    def clock(self):
        hour = self.rng.randint(1, 12)
        r = self.rng.random()
        if r < 0.25:
            return number_words(hour) + ["o'clock"]
        if r < 0.4:
            return ["half", "past"] + number_words(hour)
        if r < 0.5:
            return ["quarter", self.pick(("past", "to"))] + number_words(hour)
        if r < 0.55:
            return [self.pick(("noon", "midnight"))]
        minute = self.rng.choice((5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 7, 12, 48))
        return number_words(hour) + (["oh"] if minute < 10 else []) + number_words(minute)

    def time_phrase(self, when):
        """A time expression that fits `when`: past, future, habit or now."""
        r = self.rng.random()
        if when == "now":
            return [self.pick(("now", "today", "tonight"))]
        if r < 0.2:
            return ["at"] + self.clock()
        if r < 0.35:
            return ["in", "the", self.pick(("morning", "afternoon", "evening"))]
        if when == "habit":
            if r < 0.7:
                return ["every", self.pick(V.TIME_UNITS + V.DAYS)]
            return ["on", plural(self.pick(V.DAYS))]
        if r < 0.5:
            return ["on", self.pick(V.DAYS)]
        if r < 0.6:
            return ["in", self.pick(V.MONTHS)]
        if when == "past":
            if r < 0.8:
                return ["last", self.pick(V.TIME_UNITS + V.DAYS)]
            return [self.pick(("yesterday", "recently"))]
        if r < 0.8:
            return ["next", self.pick(V.TIME_UNITS + V.DAYS)]
        return [self.pick(("tomorrow", "tonight", "soon", "later"))]

    # --- verb groups: (words, when)
    def verb_group(self, subj, entry, negative_ok=True):
        base, third, past, ing = verb_forms(entry)
        p = subj.person
        r = self.rng.random()
        if negative_ok and r < 0.12:
            neg = self.rng.random()
            if neg < 0.4:
                return ["didn't", base], "past"
            if neg < 0.6:
                return ["won't", base], "future"
            if neg < 0.8:
                return ["can't", base], "now"
            return ["doesn't" if p == "3s" else "don't", base], "habit"
        if r < 0.5:
            return [past], "past"
        if r < 0.62:
            verb = third if p == "3s" else base
            return [self.pick(V.FREQUENCY_ADVERBS), verb], "habit"
        if r < 0.75:
            return ["will", base], "future"
        if r < 0.82:
            return [be_past(p), ing], "past"
        if r < 0.9:
            return [be_present(p), ing], "now"
        return [self.pick(("can", "could", "should", "must", "might")), base], "future"

    def extras(self, when, p_place=0.45, p_time=0.4):
        out = []
        if self.chance(p_place):
            out += self.place_phrase()
        if self.chance(p_time):
            out += self.time_phrase(when)
        return out

    def clause(self):
        """A short clause without final punctuation, for complex sentences."""
        if self.chance(0.55):
            subj = self.person_np()
            vg, when = self.verb_group(subj, self.pick(V.TRANSITIVE))
            return [*subj.words, *vg, *self.object_np()]
        subj = self.agent_np()
        vg, when = self.verb_group(subj, self.pick(V.INTRANSITIVE))
        tail = [self.pick(V.MANNER_ADVERBS)] if self.chance(0.4) else self.extras(when, 0.5, 0.2)
        return [*subj.words, *vg, *tail]

    # --- templates
    def statement_transitive(self):
        subj = self.person_np()
        vg, when = self.verb_group(subj, self.pick(V.TRANSITIVE))
        return [*subj.words, *vg, *self.object_np(), *self.extras(when), "."]

    def statement_intransitive(self):
        subj = self.agent_np()
        vg, when = self.verb_group(subj, self.pick(V.INTRANSITIVE))
        manner = [self.pick(V.MANNER_ADVERBS)] if self.chance(0.5) else []
        return [*subj.words, *vg, *manner, *self.extras(when, 0.5, 0.5), "."]

    def question_yes_no(self):
        subj = self.person_np()
        base, third, past, ing = verb_forms(self.pick(V.TRANSITIVE))
        r = self.rng.random()
        if r < 0.3:
            return ["did", *subj.words, base, *self.object_np(), *self.extras("past", 0.3, 0.3), "?"]
        if r < 0.55:
            aux = self.pick(("will", "can", "could", "should", "might"))
            return [aux, *subj.words, base, *self.object_np(), *self.extras("future", 0.3, 0.3), "?"]
        if r < 0.7:
            aux = "does" if subj.person == "3s" else "do"
            return [aux, *subj.words, self.pick(("often", "ever", "usually")), base, *self.object_np(), "?"]
        if r < 0.85:
            be = {"1s": "am"}.get(subj.person, "is" if subj.person == "3s" else "are")
            return [be, *subj.words, ing, *self.object_np(), *self.extras("now", 0.4, 0.2), "?"]
        return ["have", "you", "ever", "visited", self.pick(V.CITIES + V.COUNTRIES), "?"]

    def question_wh(self):
        subj = self.person_np()
        base, third, past, ing = verb_forms(self.pick(V.TRANSITIVE))
        r = self.rng.random()
        if r < 0.3:
            wh = self.pick(("where", "when", "why", "how"))
            aux, when = self.pick((("did", "past"), ("will", "future"), ("can", "future"), ("should", "future")))
            return [wh, aux, *subj.words, base, *self.object_np(), "?"]
        if r < 0.45:
            return ["what", "did", *subj.words, base, *self.place_phrase(), "?"]
        if r < 0.6:
            return ["who", past, *self.object_np(), *self.extras("past", 0.3, 0.3), "?"]
        if r < 0.7:
            noun = singular(self.pick(V.THINGS))
            return ["which", noun, "did", *subj.words, base, "?"]
        if r < 0.8:
            noun = plural(self.pick(V.THINGS + V.FOODS + V.ANIMALS))
            return ["how", "many", noun, "did", *subj.words, base, *self.extras("past", 0.4, 0.3), "?"]
        if r < 0.9:
            deg = self.pick(("so", "very", "always", "never"))
            return ["why", "is", "the", singular(self.pick(V.SETTINGS + V.THINGS)), deg, self.pick(V.ADJECTIVES), "?"]
        return ["whose", singular(self.pick(V.THINGS)), "is", "this", "?"]

    def join_list(self, items):
        out = []
        for i, item in enumerate(items):
            if i == len(items) - 1:
                out += ["and"]
            elif i > 0:
                out += [","]
            out += item
        return out

    def list_sentence(self):
        r = self.rng.random()
        n = self.rng.randint(3, 4)
        if r < 0.6:
            subj = self.person_np()
            verb = self.pick(("buy/buys/bought/buying", "pack", "find/finds/found/finding", "need",
                              "order/orders/ordered/ordering", "bring/brings/brought/bringing",
                              "collect", "want", "carry", "sell/sells/sold/selling"))
            vg, when = self.verb_group(subj, verb, negative_ok=False)
            items = [self.pick((["some", self.pick(V.MASS)], self.thing_np(V.THINGS), self.thing_np(V.FOODS)))
                     for _ in range(n)]
            return [*subj.words, *vg, *self.join_list(items), "."]
        if r < 0.8:
            subj = self.person_np()
            cities = [[c] for c in self.rng.sample(V.CITIES, n)]
            return [*subj.words, "visited", *self.join_list(cities), *self.extras("past", 0.0, 0.5), "."]
        colours = [[c] for c in self.rng.sample(V.COLOURS, n)]
        return [self.possessor(), "favourite", "colours", "are", *self.join_list(colours), "."]

    def money(self):
        unit, small = self.pick((("pounds", "pence"), ("dollars", "cents"), ("euros", "cents")))
        out = number_words(self.rng.randint(2, 999)) + [unit]
        if self.chance(0.4):
            out += ["and"] + number_words(self.rng.randint(2, 99)) + [small]
        return out

    def number_sentence(self):
        r = self.rng.random()
        if r < 0.14:
            be = self.pick(("are", "were"))
            n = number_words(self.rng.randint(2, 2000))
            noun = plural(self.pick(V.THINGS + V.ANIMALS + V.FOODS + V.PEOPLE))
            return ["there", be, *n, noun, "in", "the", self.pick(V.SETTINGS), "."]
        if r < 0.28:
            vehicle = self.pick(("train", "bus", "plane", "boat"))
            verb = self.pick(("leaves", "arrives", "left", "arrived"))
            return ["the", vehicle, "to", self.pick(V.CITIES), verb, "at", *self.clock(), "."]
        if r < 0.4:
            where = ["in", self.pick(V.CITIES + V.COUNTRIES)] if self.chance(0.5) else []
            return [self.name(), "was", "born", "in", *year_words(self.rng.randint(1890, 2024)), *where, "."]
        if r < 0.52:
            thing = singular(self.pick(V.THINGS))
            return ["the", *self.modifiers(0.4, 0.2), thing, self.pick(("costs", "cost")), *self.money(), "."]
        if r < 0.62:
            a, b = self.rng.sample(V.CITIES, 2)
            unit = self.pick(("kilometres", "miles"))
            return ["it", "is", *number_words(self.rng.randint(2, 3000)), unit, "from", a, "to", b, "."]
        if r < 0.72:
            day = V.ORDINALS[self.rng.randint(0, 19)]
            return [self.name() + "'s", "birthday", "is", "on", "the", day, "of", self.pick(V.MONTHS), "."]
        if r < 0.8:
            unit = plural(self.pick(V.MEASURES))
            return [*self.person_np().words, "waited", "for", *number_words(self.rng.randint(2, 90)), unit, "."]
        if r < 0.87:
            floor = V.ORDINALS[self.rng.randint(0, 11)]
            return ["room", *number_words(self.rng.randint(1, 999)), "is", "on", "the", floor, "floor", "."]
        if r < 0.94:
            return [self.name(), "is", *number_words(self.rng.randint(2, 99)), "years", "old", "."]
        return ["the", self.pick(V.SETTINGS), "opened", "in", *year_words(self.rng.randint(1800, 2024)), "."]

    def clause_sentence(self):
        r = self.rng.random()
        if r < 0.3:
            return [self.pick(V.CONJUNCTIONS), *self.clause(), ",", *self.clause(), "."]
        if r < 0.5:
            return [*self.clause(), self.pick(V.CONJUNCTIONS + ("but", "and", "so")), *self.clause(), "."]
        if r < 0.7:
            subj = self.person_np()
            verb = self.pick(("said", "thought", "believed", "knew", "hoped")) if self.chance(0.6) else \
                self.pick(("says", "thinks", "believes", "knows", "hopes")) if subj.person == "3s" else \
                self.pick(("say", "think", "believe", "know", "hope"))
            return [*subj.words, verb, "that", *self.clause(), "."]
        if r < 0.85:
            _, _, past, _ = verb_forms(self.pick(V.TRANSITIVE))
            noun = singular(self.pick(V.PEOPLE))
            tail = ["lives", "in", self.pick(V.CITIES)] if self.chance(0.5) else \
                ["was", self.pick(V.ADJECTIVES)]
            return ["the", noun, "who", past, *self.object_np(), *tail, "."]
        subj = self.person_np()
        base, third, _, _ = verb_forms(self.pick(V.TRANSITIVE))
        verb = third if subj.person == "3s" else base
        return ["if", *subj.words, verb, *self.object_np(), ",", *self.person_np().words, "will",
                verb_forms(self.pick(V.INTRANSITIVE))[0], *self.extras("future", 0.0, 0.3), "."]

    def command(self):
        base = verb_forms(self.pick(V.TRANSITIVE))[0]
        r = self.rng.random()
        if r < 0.4:
            return ["please", base, *self.object_np(), *self.extras("future", 0.4, 0.3), "."]
        if r < 0.6:
            return ["don't", base, *self.object_np(), *self.extras("future", 0.4, 0.0), "."]
        if r < 0.8:
            return ["let's", base, *self.object_np(), *self.extras("future", 0.3, 0.4), "."]
        return [base, *self.object_np(), self.pick(V.MANNER_ADVERBS), "!"]

    def description(self):
        r = self.rng.random()
        adj = self.pick(V.ADJECTIVES)
        if r < 0.3:
            return ["the", self.pick(V.SETTINGS), self.pick(("is", "was")),
                    *([self.pick(V.DEGREE_ADVERBS)] if self.chance(0.4) else []), adj, "and",
                    self.pick(V.ADJECTIVES), "."]
        if r < 0.45:
            weather = self.pick(("cold", "warm", "hot", "wet", "dark", "quiet", "windy", "foggy", "sunny"))
            return ["it's", self.pick(V.DEGREE_ADVERBS), weather, self.pick(("today", "tonight")), "."]
        if r < 0.6:
            noun = singular(self.pick(V.THINGS + V.ANIMALS + V.SETTINGS))
            return ["what", article(adj), adj, noun, "!"]
        if r < 0.8:
            words = [*self.modifiers(1.0, 0.3), singular(self.pick(V.THINGS + V.ANIMALS))]
            return ["there's", article(words[0]), *words, *self.place_phrase(), "."]
        return ["i'm", self.pick(V.DEGREE_ADVERBS[:5]), self.pick(("tired", "hungry", "happy", "nervous", "proud",
                                                                  "sleepy", "thirsty", "cheerful", "lonely")),
                "because", *self.clause(), "."]

    # --- shapes added for the larger corpus
    def frequent(self):
        return self.pick(frequent_words())

    def word_sentence(self):
        """Frequent English words read out in frames, for phonetic and lexical breadth."""
        r = self.rng.random()
        if r < 0.15:
            return [self.name(), "wrote", "the", "word", self.frequent(), "on", "the", "board", "."]
        if r < 0.3:
            return ["the", "next", "word", "is", self.frequent(), "."]
        if r < 0.4:
            return ["how", "do", "you", "spell", self.frequent(), "?"]
        if r < 0.6:
            items = [[self.frequent()] for _ in range(self.rng.randint(3, 5))]
            return ["please", "say", *self.join_list(items), "."]
        if r < 0.7:
            a, b = self.frequent(), self.frequent()
            return ["i", "said", a, ",", "not", b, "."]
        if r < 0.8:
            return ["can", "you", "use", self.frequent(), "in", "a", "sentence", "?"]
        if r < 0.9:
            return ["the", "words", self.frequent(), "and", self.frequent(), "sound", "different", "."]
        items = [self.frequent() for _ in range(self.rng.randint(3, 5))]
        return ["read", "these", "words", "aloud", ",", *[t for w in items for t in (w, ",")][:-1], "."]

    def comparison(self):
        # a singular subject, so that "is"/"was" agree with it
        a = ["the", *self.modifiers(0.3, 0.2), singular(self.pick(V.THINGS + V.ANIMALS))]
        b = self.thing_np(V.THINGS + V.ANIMALS)
        adj = self.pick(V.ADJECTIVES)
        be = self.pick(("is", "was"))
        r = self.rng.random()
        if r < 0.4:
            return [*a, be, "as", adj, "as", *b, "."]
        if r < 0.7:
            return [*a, be, "less", adj, "than", *b, "."]
        return [*a, be, "not", "as", adj, "as", *b, "."]

    def request(self):
        r = self.rng.random()
        if r < 0.3:
            return ["would", "you", "like", "some", self.pick(V.MASS), "?"]
        if r < 0.6:
            return ["could", "you", "pass", "me", "the", singular(self.pick(V.THINGS + V.FOODS)), ",", "please", "?"]
        if r < 0.8:
            return ["may", "i", "borrow", self.possessor() if self.chance(0.3) else "your",
                    *self.modifiers(0.3, 0.2), singular(self.pick(V.THINGS)), "?"]
        return ["please", "wait", "here", "until", self.pick(("four", "five", "six", "seven")), "o'clock", "."]

    def sequence(self):
        subj = self.pick((("we", "1p"), ("they", "3p"), ("i", "1s")))[0]
        v1, v2 = (verb_forms(self.pick(V.TRANSITIVE))[2] for _ in range(2))
        tail = ["after", "that"] if self.chance(0.5) else ["then"]
        return ["first", subj, v1, *self.object_np(), ",", *tail, subj, v2, *self.object_np(), "."]

    def digits_sentence(self):
        digits = [V.ONES[self.rng.randint(0, 9)] for _ in range(self.rng.randint(4, 8))]
        r = self.rng.random()
        if r < 0.35:
            return [self.possessor(), "phone", "number", "is", *digits, "."]
        if r < 0.6:
            return ["the", "code", "is", *digits[:6], "."]
        if r < 0.8:
            return ["flight", *digits[:4], "leaves", "from", "platform", *number_words(self.rng.randint(1, 20)), "."]
        return ["the", "number", "is", *digits, ",", "not", *digits[::-1][:4], "."]

    def passive(self):
        noun = self.pick(V.THINGS + V.FOODS)
        det = "the" if self.chance(0.7) else self.possessor()
        past = verb_forms(self.pick(REGULAR_TRANSITIVE))[2]
        if self.chance(0.35):
            subject, be = [det, *self.modifiers(0.3, 0.2), plural(noun)], self.pick(("were", "have been"))
        else:
            subject, be = [det, *self.modifiers(0.3, 0.2), singular(noun)], self.pick(("was", "has been"))
        by = ["by", *self.person_np().words] if self.chance(0.6) else self.extras("past", 0.5, 0.3)
        return [*subject, *be.split(), past, *by, "."]

    def reported_question(self):
        subj = self.person_np()
        return [*subj.words, "asked", self.pick(("whether", "if")), *self.clause(), "."]


def vocabulary():
    """Every word the generator can emit, upper-cased like the transcripts."""
    words = set(FUNCTION_WORDS)
    for pool in (V.PEOPLE, V.ANIMALS, V.THINGS, V.FOODS, V.NATURE, V.ABSTRACT):
        for entry in pool:
            words.update((singular(entry), plural(entry)))
    words.update(singular(e) for e in V.SETTINGS)
    words.update(plural(e) for e in V.MEASURES)
    for pool in (V.TRANSITIVE, V.INTRANSITIVE):
        for entry in pool:
            words.update(verb_forms(entry))
    for pool in (V.MASS, V.TIME_UNITS, V.MONTHS, V.ADJECTIVES, V.COLOURS, V.MANNER_ADVERBS,
                 V.FREQUENCY_ADVERBS, V.TIME_ADVERBS, V.DEGREE_ADVERBS, V.CITIES, V.COUNTRIES,
                 V.ONES[1:], V.TENS[2:], V.ORDINALS, V.PREPOSITIONS_PLACE, V.CONJUNCTIONS):
        words.update(pool)
    words.update(V.DAYS)
    words.update(plural(d) for d in V.DAYS)
    for name in V.FEMALE_NAMES + V.MALE_NAMES:
        words.update((name, name + "'s"))
    words.update(frequent_words())
    return {w.upper() for w in words}


def generate(seed, n):
    """`n` sentences from a fresh generator seeded with `seed` (handy for tests and previews)."""
    gen = SentenceGenerator(random.Random(seed))
    return [gen() for _ in range(n)]
