"""Word lists for the mini_synth sentence generator, by part of speech.

Every word is lower case letters and apostrophes only, so a transcript is just the words
upper-cased. Irregular forms are spelled out ("man/men", "go/goes/went/going"); regular
ones are inflected by the rules in sentences.py. Words were chosen to be read plainly by
espeak-ng and flite (no abbreviations, no hyphens, no letters read one by one).
"""


def _words(block):
    return tuple(block.split())


# --- nouns (singular, or "singular/plural" when irregular) ---------------------------------

PEOPLE = _words("""
    teacher doctor nurse farmer baker driver pilot singer painter writer student child/children
    man/men woman/women boy girl friend neighbour stranger visitor guest soldier sailor captain
    king queen prince princess lawyer engineer scientist dancer player actor artist cook waiter
    clerk gardener fisherman/fishermen hunter shepherd tailor judge mayor officer guard manager
    worker builder carpenter plumber teenager grandmother grandfather uncle aunt cousin brother
    sister mother father daughter son baby/babies professor poet musician traveller tourist
    customer passenger doorman/doormen librarian chemist banker dentist merchant priest monk
    farmhand mechanic reporter editor
""")

ANIMALS = _words("""
    dog cat horse cow sheep/sheep goat pig rabbit mouse/mice fox wolf/wolves bear lion tiger
    elephant monkey donkey deer/deer duck goose/geese chicken owl eagle parrot swan crow pigeon
    frog snake turtle fish/fish whale dolphin shark crab spider bee butterfly ant squirrel
    camel zebra giraffe kitten puppy hamster beetle badger otter seal penguin
""")

THINGS = _words("""
    book letter table chair door window box bag hat coat shirt shoe boot glove scarf/scarves key lamp
    clock watch phone camera picture painting map ticket card pen pencil brush cup plate bowl
    spoon fork knife/knives bottle basket bucket blanket pillow mirror candle ladder rope hammer
    nail bell drum guitar piano violin flute trumpet radio umbrella wallet purse ring necklace
    bicycle car bus train lorry boat ship plane kite ball doll toy puzzle newspaper magazine
    envelope parcel stamp coin suitcase backpack jacket sweater dress skirt
    belt button towel soap bucket shovel wheel engine tent flag statue fence gate bridge tower
    wall roof stair carpet curtain shelf/shelves drawer cupboard sofa bed desk bench stove oven
    kettle teapot jar barrel
""")

FOODS = _words("""
    apple orange banana lemon cherry grape pear peach plum melon strawberry potato/potatoes
    tomato/tomatoes carrot onion cabbage pumpkin bean pea sandwich cake pie biscuit cookie
    muffin pancake egg sausage noodle
""")

# mass nouns take "some", never a plural
MASS = _words("""
    bread cheese butter milk coffee tea water juice soup rice pasta honey sugar salt pepper
    chocolate jam flour meat chicken fish fruit salad cereal yoghurt cream oil vinegar
""")

SETTINGS = _words("""
    kitchen garden park station library school office hospital market shop bakery museum
    theatre cinema church castle palace village town city forest river lake beach island
    mountain valley field farm harbour airport hotel restaurant cafe bank factory prison
    stadium zoo farmhouse cottage cabin barn attic cellar basement hallway balcony street
    corner square playground classroom studio laboratory
""")

NATURE = _words("""
    tree flower leaf/leaves grass stone rock cloud star moon sun wind storm rain snow river
    hill cave pond wave shell feather branch root seed
""")

ABSTRACT = _words("""
    idea story secret plan dream question answer problem reason promise mistake joke song poem
    lesson message report letter meeting party holiday journey adventure game race contest
    lecture concert festival wedding birthday dinner breakfast lunch supper picnic puzzle
    decision habit surprise warning rumour invitation
""")

# bare time words used as "in the <x>", "every <x>" or "last <x>"
TIME_UNITS = _words("""
    morning afternoon evening night week month year weekend summer winter spring autumn
""")

DAYS = _words("monday tuesday wednesday thursday friday saturday sunday")
MONTHS = _words("january february march april may june july august september october november december")

# --- verbs: "base" when regular, "base/third/past/participle-ing" otherwise ------------------

# verbs that take an object: "<subj> <verb> the <thing>"
TRANSITIVE = _words("""
    open close paint clean wash fix/fixes/fixed/fixing build/builds/built/building carry move
    lift push pull drop/drops/dropped/dropping find/finds/found/finding lose/loses/lost/losing
    buy/buys/bought/buying sell/sells/sold/selling bring/brings/brought/bringing
    take/takes/took/taking give/gives/gave/giving send/sends/sent/sending
    make/makes/made/making hold/holds/held/holding keep/keeps/kept/keeping
    hide/hides/hid/hiding borrow lend/lends/lent/lending steal/steals/stole/stealing
    deliver collect count check watch touch catch/catches/caught/catching throw/throws/threw/throwing
    kick hit/hits/hit/hitting cut/cuts/cut/cutting break/breaks/broke/breaking repair polish
    fold wrap/wraps/wrapped/wrapping pack unpack fill empty/empties/emptied/emptying pick share need want like love
    hate prefer/prefers/preferred/preferring remember forget/forgets/forgot/forgetting notice
    study/studies/studied/studying describe explain discover/discovers/discovered/discovering
    visit order/orders/ordered/ordering answer/answers/answered/answering follow
    paint draw/draws/drew/drawing read/reads/read/reading write/writes/wrote/writing
    sing/sings/sang/singing play cook bake boil fry/fries/fried/frying eat/eats/ate/eating
    drink/drinks/drank/drinking taste smell see/sees/saw/seeing hear/hears/heard/hearing
    choose/chooses/chose/choosing leave/leaves/left/leaving feed/feeds/fed/feeding
    climb cross/crosses/crossed/crossing guard measure weigh test/tests/tested/testing
    mend/mends/mended/mending sweep/sweeps/swept/sweeping decorate prepare protect/protects/protected/protecting
    plant/plants/planted/planting water/waters/watered/watering search/searches/searched/searching
    finish/finishes/finished/finishing return/returns/returned/returning
    print/prints/printed/printing copy/copies/copied/copying sign/signs/signed/signing
    chase examine/examines/examined/examining photograph/photographs/photographed/photographing
""")

# verbs used without an object: "<subj> <verb> <adverb>"
INTRANSITIVE = _words("""
    sleep/sleeps/slept/sleeping laugh smile cry/cries/cried/crying shout whisper/whispers/whispered/whispering
    run/runs/ran/running walk jump swim/swims/swam/swimming dance sing/sings/sang/singing
    wait/waits/waited/waiting arrive leave/leaves/left/leaving rest/rests/rested/resting
    work travel/travels/travelled/travelling listen/listens/listened/listening talk
    complain/complains/complained/complaining hurry/hurries/hurried/hurrying relax/relaxes/relaxed/relaxing
    agree/agrees/agreed/agreeing disappear/disappears/disappeared/disappearing
    fall/falls/fell/falling sit/sits/sat/sitting stand/stands/stood/standing
    win/wins/won/winning lose/loses/lost/losing shine/shines/shone/shining
    grow/grows/grew/growing smile wander/wanders/wandered/wandering
    snore/snores/snored/snoring whistle/whistles/whistled/whistling
    shiver/shivers/shivered/shivering yawn/yawns/yawned/yawning
    sneeze/sneezes/sneezed/sneezing knock/knocks/knocked/knocking
    cheer/cheers/cheered/cheering wave/waves/waved/waving pray/prays/prayed/praying
    hesitate/hesitates/hesitated/hesitating stumble/stumbles/stumbled/stumbling
    return/returns/returned/returning
""")

# --- modifiers ------------------------------------------------------------------------------

ADJECTIVES = _words("""
    big small tall short long wide narrow heavy light old young new ancient modern fresh
    clean dirty wet dry hot cold warm cool soft hard smooth rough sharp loud quiet noisy
    bright dark pale shiny dusty empty full cheap expensive rich poor happy sad angry calm
    brave shy proud lazy busy clever silly strange famous friendly gentle kind polite rude
    honest careful careless curious hungry thirsty tired sleepy sick healthy strong weak
    fast slow early late simple difficult easy important useful beautiful pretty ugly handsome
    lovely wonderful terrible awful delicious sweet sour bitter salty spicy tiny huge enormous
    little round square flat deep shallow thick thin fancy plain strict lucky nervous quick
    rare common secret special ordinary perfect broken golden silver wooden woollen cotton
    leather plastic glass paper stone iron crooked tidy messy cosy lonely crowded peaceful
    magnificent mysterious ridiculous cheerful grumpy elegant clumsy fierce generous
    jealous wise foolish noble humble patient restless stubborn graceful awkward splendid
    gloomy ordinary sturdy fragile precious ugly hollow
""")

COLOURS = _words("""
    red blue green yellow orange purple pink brown black white grey violet crimson golden
""")

MANNER_ADVERBS = _words("""
    quickly slowly quietly loudly carefully carelessly happily sadly angrily calmly gently
    politely rudely bravely proudly softly suddenly finally easily patiently eagerly nervously
    honestly secretly openly badly well hard fast gracefully clumsily cheerfully silently
    boldly warmly proudly wisely foolishly kindly
""")

FREQUENCY_ADVERBS = _words("always usually often sometimes rarely never seldom")

TIME_ADVERBS = _words("yesterday today tomorrow tonight now later soon recently")

DEGREE_ADVERBS = _words("very quite rather really extremely fairly too so")

# --- proper names -----------------------------------------------------------------------

FEMALE_NAMES = _words("""
    anna maria sarah emma olivia sophie lucy grace alice helen laura rachel rebecca hannah
    julia clara martha rose ruth susan nancy karen linda mary elizabeth margaret katherine
    jane emily charlotte amelia isabel jessica natalie victoria eleanor fiona irene monica
    paula sandra teresa vera wendy yvonne zoe nina lily molly daisy
""")

MALE_NAMES = _words("""
    john james robert michael william david richard thomas charles daniel matthew anthony
    mark paul steven andrew kenneth george edward brian ronald kevin jason jeffrey frank
    scott eric stephen gregory samuel benjamin patrick peter henry oliver harry jack oscar
    arthur albert walter victor simon martin hugo felix leo max adam noah lucas
""")

CITIES = _words("""
    london paris berlin madrid rome vienna prague dublin lisbon athens oslo stockholm
    helsinki copenhagen amsterdam brussels warsaw budapest moscow cairo nairobi lagos
    tokyo beijing shanghai seoul delhi mumbai bangkok sydney melbourne auckland toronto
    montreal vancouver chicago boston denver seattle houston dallas atlanta miami
    edinburgh glasgow manchester liverpool bristol oxford cambridge york venice florence
    naples geneva zurich munich hamburg barcelona seville
""")

COUNTRIES = _words("""
    england scotland ireland wales france germany spain italy portugal greece norway sweden
    finland denmark poland austria hungary egypt kenya nigeria japan china korea india
    thailand australia canada brazil mexico peru chile argentina iceland
""")

# --- numbers --------------------------------------------------------------------------------

ONES = _words("zero one two three four five six seven eight nine ten eleven twelve thirteen "
              "fourteen fifteen sixteen seventeen eighteen nineteen")
TENS = _words("_ _ twenty thirty forty fifty sixty seventy eighty ninety")
ORDINALS = _words("first second third fourth fifth sixth seventh eighth ninth tenth eleventh "
                  "twelfth thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth "
                  "nineteenth twentieth")
MEASURES = _words("second minute hour day week")  # "waited for ten minutes"

# --- closed classes -------------------------------------------------------------------------

PREPOSITIONS_PLACE = _words("in near behind under beside inside outside above below across")
CONJUNCTIONS = _words("because although while before after until unless since")

# --- frequent English words (wordfreq) ---------------------------------------------------------

# How many of wordfreq's most frequent English words are scanned for extra content words.
FREQUENT_SCAN = 4000
# Frequent words left out: spellings of abbreviations, clippings and interjections that TTS
# voices read letter by letter or that a transcript cannot spell one way, contractions written
# without their apostrophe, swearing and slurs, and brand or politician names.
FREQUENT_BLOCKLIST = frozenset(_words("""
    etc usa inc ltd los san van non pre pro anti mid app apps vol min max ups del des las sec rep
    doc com corp gop abc nba nfl isis tho yep nah nope yea yeah huh ugh lol lmao omg wow hey bro
    bye dude gonna wanna gotta ain't okay mom mum dad daddy mama jan feb mar apr jun jul aug sep
    sept oct nov dec mon tue wed thu fri gen con tech trans ads vs
    shit fuck fucking fuckin fucked fucks ass asshole bitch damn hell sex sexy sexual dick cock
    pussy crap bullshit suck sucks pissed porn slut whore nigga nigger butt weed rape
    nazi racist racism terrorist terrorism abortion hillary obama trump bush clinton isis
    google facebook twitter youtube instagram microsoft disney batman bitcoin iphone
    dont doesnt didnt cant wont isnt wasnt arent werent couldnt wouldnt shouldnt youre theyre
    thats whats hes shes ive youve weve theyve im id youd hed itll
"""))


def frequent_words(n=FREQUENT_SCAN):
    """Plain words among the `n` most frequent in English (wordfreq's ranking, most frequent
    first): lower-case a-z with at most one apostrophe, three letters or more, at least one
    vowel letter (an all-consonant string is read letter by letter), not blocklisted."""
    import re

    from wordfreq import top_n_list

    plain = re.compile(r"[a-z]+('[a-z]+)?")
    return tuple(w for w in top_n_list("en", n)
                 if plain.fullmatch(w) and len(w) >= 3 and re.search("[aeiou]", w)
                 and w not in FREQUENT_BLOCKLIST)
