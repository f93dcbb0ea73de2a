"""A generated corpus with known answers, for measuring file_search retrieval.

`build()` makes the same documents and questions on every call (a seeded generator, no
network): 60 site reports written in one house style, so they look alike to a reader
skimming them. Each holds one topical fact in its own words, and three rare identifiers:
a reference code, a person's name and a count. Every third report pads the start with
about 600 tokens of routine prose, so its fact sits past the first 256 word pieces that
all-MiniLM-L6-v2 reads (the embedder's sub-window pooling is what keeps it findable).

Questions, each answered by exactly one report:

* `paraphrase`: the fact asked in other words, sharing few content words with the report;
* `keyword`: the code, the name or the count, in a short generic question.

Run `python -m tests.quality.corpus` to print a sample.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

SEED = 20_240_817
Kind = Literal["paraphrase", "keyword"]

# (the fact as a report states it, the same fact asked in other words)
FACTS: list[tuple[str, str]] = [
    ("The beekeepers moved the hives indoors in November so the colonies would survive the "
     "frost.", "Where were the honey bee colonies kept during the cold months?"),
    ("Restorers replaced the cracked stained-glass panes in the chapel with panes blown "
     "in Bavaria.", "Who fixed the colored church windows and where did the new glass come "
     "from?"),
    ("The turbines in the estuary generate electricity from the rising and falling tide.",
     "Which site makes power from ocean water moving in and out twice a day?"),
    ("Sourdough loaves are proofed overnight at eight degrees before baking at dawn.",
     "How long does the fermented bread dough rest before it goes in the oven?"),
    ("The orchard switched to grafting apple scions onto dwarf rootstock to shorten the "
     "trees.", "How did the fruit farm make its trees smaller?"),
    ("Divers cleared invasive zebra mussels from the dam's water intake pipes.",
     "Who removed the non-native shellfish clogging the reservoir inlet?"),
    ("The observatory cools its infrared camera with liquid helium to cut thermal noise.",
     "How is the telescope's heat-sensing detector kept cold?"),
    ("Falconers fly hawks over the runway each morning to scare away gulls.",
     "How does the airport keep seabirds away from planes?"),
    ("The vineyard harvests its riesling grapes only after the first hard frost for ice "
     "wine.", "When are the grapes picked for the sweet frozen-berry dessert wine?"),
    ("Archivists digitised the crumbling parish registers with an overhead scanner and "
     "no flash.", "How were the fragile old church record books copied?"),
    ("The ferry now runs on batteries charged from the harbour's solar canopy.",
     "What powers the boat that carries passengers across the bay?"),
    ("A herd of goats grazes the steep slopes to keep wildfire fuel low.",
     "Which animals are used to reduce dry brush that could burn on the hillsides?"),
    ("Cheesemakers age the wheels in a limestone cave at a steady twelve degrees.",
     "Where does the dairy mature its cheese?"),
    ("The hospital's robotic pharmacy packs each patient's pills into labelled pouches.",
     "What machine sorts medication doses for people on the wards?"),
    ("Volunteers count migrating monarch butterflies at the ridge every September.",
     "Who tallies the orange insects passing over the hills in autumn?"),
    ("The brewery captures carbon dioxide from fermentation and reuses it to carbonate "
     "beer.", "How does the beer maker recycle the gas its yeast gives off?"),
    ("Snow groomers compact the cross-country ski trails every night after midnight.",
     "When are the tracks for Nordic skiing smoothed?"),
    ("The library lends out telescopes, sewing machines and power drills.",
     "Which place lets members borrow tools and equipment, not just books?"),
    ("Rangers fitted the wolves in the park with satellite collars to track the pack.",
     "How are the movements of the wild canines followed?"),
    ("The foundry casts bronze bells using sand moulds packed around wooden patterns.",
     "How does the metal workshop shape its church bells?"),
    ("Tea pickers pluck only the top two leaves and a bud from each bush.",
     "Which part of the plant do the plantation workers harvest?"),
    ("The data centre heats the nearby swimming pool with waste heat from its servers.",
     "What warms the public pool next to the computer building?"),
    ("Lighthouse keepers polish the Fresnel lens by hand every week.",
     "Who cleans the big glass optic at the coastal beacon?"),
    ("The rice paddies are flooded in spring and drained two weeks before harvest.",
     "When is water let out of the grain fields?"),
    ("Organ builders tuned the cathedral's pipes to a pitch of 415 hertz for baroque music.",
     "How was the church's large keyboard instrument adjusted for early music?"),
    ("The zoo feeds its pandas fresh bamboo cut from a farm two hours away.",
     "Where does the food for the black-and-white bears come from?"),
    ("Surveyors mapped the glacier's retreat with drones every summer since 2015.",
     "How has the shrinking ice field been measured?"),
    ("The printing house still sets wedding invitations in hand-cast lead type.",
     "How are the marriage cards typeset at the print shop?"),
    ("Beach crews rebuild the sand dunes with discarded Christmas trees each January.",
     "What do they use after the holidays to restore the coastal sand hills?"),
    ("The salt works evaporates seawater in shallow clay pans under the sun.",
     "How is sea salt produced at the coastal works?"),
    ("Clockmakers rebuilt the tower clock's escapement and regilded its hands.",
     "What repairs were made to the mechanism of the old town timepiece?"),
    ("The mushroom farm grows oyster mushrooms on spent coffee grounds.",
     "What waste product is the fungus grown on?"),
    ("Firefighters trained with a full-size mock subway carriage filled with smoke.",
     "How did the fire crews practise underground train rescues?"),
    ("The violin workshop seasons spruce tonewood for ten years before carving tops.",
     "How long is the wood dried before the string instruments are made?"),
    ("Shepherds use trained border collies to move the flock between pastures.",
     "What helps the herders move the sheep?"),
    ("The aquarium breeds seahorses to return juveniles to the seagrass meadows.",
     "Which fish with horse-like heads are raised and released?"),
    ("Road crews spray beet juice brine on the highway before ice storms.",
     "What vegetable product is put on roads to prevent freezing?"),
    ("The recording studio lined its vocal booth with panels of recycled denim.",
     "What material absorbs sound in the singing room?"),
    ("The quarry ships marble blocks by barge down the river to the sculptors.",
     "How does the stone reach the artists?"),
    ("Potters fire the stoneware in a wood-burning kiln for three days.",
     "How long does the ceramic firing take?"),
    ("The ice rink resurfaces its sheet with water recycled from melted snow.",
     "Where does the water used to smooth the skating surface come from?"),
    ("Cartographers corrected the harbour chart after a sandbar shifted in a storm.",
     "Why was the nautical map of the port updated?"),
    ("The bakery donates unsold croissants to the shelter every evening.",
     "What happens to pastries that are not sold?"),
    ("Engineers replaced the suspension bridge's main cables strand by strand while it "
     "stayed open.", "How was the hanging bridge rewired without closing it?"),
    ("The perfumery distils lavender from its own fields in copper stills.",
     "How is the purple flower's scent extracted?"),
    ("The railway runs a steam locomotive on heritage weekends using coal from Wales.",
     "What fuels the old-fashioned train on special days?"),
    ("Weavers dye the wool with madder root for red and woad for blue.",
     "Which plants colour the yarn at the textile workshop?"),
    ("The school garden harvests rainwater from the gym roof into a cistern.",
     "Where do the pupils get water for their vegetable beds?"),
    ("The museum keeps its silk kimonos in drawers at forty percent humidity.",
     "How are the Japanese garments stored to protect them?"),
    ("Tunnel workers bored through the mountain with a machine named after a local saint.",
     "What was the digging machine under the mountain called after?"),
    ("The sawmill turns bark and sawdust into pellets for heating homes.",
     "What is done with the leftover wood waste at the lumber mill?"),
    ("Marine biologists tag sharks with acoustic pingers along the reef.",
     "How are the predatory fish tracked near the coral?"),
    ("The chocolate maker ferments cacao beans in banana-leaf-lined boxes.",
     "How are the cocoa seeds fermented?"),
    ("The glass recycler crushes bottles into cullet sorted by colour.",
     "What does the plant do with old bottles?"),
    ("The choir rehearses in the crypt because of its long natural reverberation.",
     "Why do the singers practise underground?"),
    ("Pilots practise landings on a short gravel strip in the mountains.",
     "Where do the aviators train for rough-field touchdowns?"),
    ("The tannery now uses vegetable tannins from oak bark instead of chromium.",
     "What replaced the metal-based chemical in leather processing?"),
    ("The planetarium upgraded its dome projector to a laser system with 8K resolution.",
     "What new equipment shows the night sky in the theatre?"),
    ("Harbour pilots guide container ships through the channel at high water only.",
     "When do large cargo vessels get escorted into port?"),
    ("The monastery brews a herbal liqueur from twenty-seven alpine plants.",
     "What do the monks make from mountain herbs?"),
]

_FIRST = ["Orv", "Tel", "Quin", "Bryn", "Sael", "Yor", "Ced", "Mav", "Ilk", "Zan", "Fen",
          "Ruo", "Dag", "Wyl", "Pel", "Hask", "Ost", "Vel", "Jor", "Kest"]
_LAST = ["mundsrud", "varoth", "kelingard", "ebrecht", "dallow", "ostrand", "piketty",
         "wennberg", "zoltanyi", "fairhurst", "quellmann", "ardoyne", "brisbeck", "tamsalu",
         "hovgaard", "lindqvist", "marchetti", "szabados", "okonkwo", "vantongeren"]
_VOWELS = ["a", "e", "i", "o", "u", "ae", "y"]
_ROUTINE = [
    "The quarterly review covered staffing, budgets and the schedule of safety drills.",
    "Minutes of the meeting were circulated to all department heads for comment.",
    "The maintenance backlog was reduced compared with the previous reporting period.",
    "Contractors submitted their invoices before the end of the financial quarter.",
    "Staff completed the mandatory training on data protection and first aid.",
    "The committee agreed to revisit the procurement policy at its next session.",
    "Visitor numbers were broadly in line with the forecast made last spring.",
    "The insurance policy was renewed on the same terms as the year before.",
    "A new intranet page lists the contact details of every team coordinator.",
    "Office supplies are now ordered centrally to reduce administrative overhead.",
    "The auditors raised no material findings in their annual letter.",
    "Parking permits for employees will be reissued in the new calendar year.",
    "The heating system passed its routine inspection without remarks.",
    "Several vacancies were advertised and interviews are planned for next month.",
    "Board members thanked the volunteers for their continued commitment.",
    "The emergency contact tree was tested and updated where numbers had changed.",
    "Travel expenses remained within the approved budget for the period.",
    "The cleaning contract was extended for another twelve months.",
    "A survey of staff satisfaction will be distributed before the summer break.",
    "Printed reports will be replaced by digital copies wherever possible.",
]


@dataclass(frozen=True)
class Document:
    name: str
    text: str
    late: bool  # the fact sits past the first 256 word pieces


@dataclass(frozen=True)
class Question:
    text: str
    answer: str  # the name of the one document that answers it
    kind: Kind
    late: bool


@dataclass(frozen=True)
class Corpus:
    documents: list[Document]
    questions: list[Question]


def _code(rng: random.Random, taken: set[str]) -> str:
    while True:
        code = (f"{rng.choice('BCDFGHJKLMNPQRSTVWXZ')}{rng.choice('BCDFGHJKLMNPQRSTVWXZ')}-"
                f"{rng.randint(1000, 9999)}-{rng.choice('ABCDEFGH')}")
        if code not in taken:
            taken.add(code)
            return code


def _name(rng: random.Random, taken: set[str]) -> str:
    while True:
        name = (f"{rng.choice(_FIRST)}{rng.choice(_VOWELS)}{rng.choice('nlrsk')} "
                f"{rng.choice(_LAST).capitalize()}")
        if name not in taken:
            taken.add(name)
            return name


def _routine(rng: random.Random, sentences: int) -> str:
    return " ".join(rng.choice(_ROUTINE) for _ in range(sentences))


def build() -> Corpus:
    rng = random.Random(SEED)
    codes: set[str] = set()
    names: set[str] = set()
    counts = rng.sample(range(10_000, 99_999), len(FACTS))
    documents: list[Document] = []
    questions: list[Question] = []
    for number, (fact, paraphrase) in enumerate(FACTS):
        name = f"report-{number:03d}.txt"
        late = number % 3 == 2
        code, person, count = _code(rng, codes), _name(rng, names), counts[number]
        lead = _routine(rng, 30 if late else 2)
        text = "\n\n".join([
            f"Site report {number + 1}",
            lead,
            fact,
            _routine(rng, 2),
            f"The work order is filed under reference {code}. {person} signed off the final "
            f"inspection. Inspectors logged {count:,} checks during the year.",
            _routine(rng, 3),
        ])
        documents.append(Document(name, text, late))
        questions += [
            Question(paraphrase, name, "paraphrase", late),
            Question(f"Which report has reference {code}?", name, "keyword", late),
            Question(f"What did {person} sign off?", name, "keyword", late),
            Question(f"Where were {count:,} checks logged?", name, "keyword", late),
        ]
    return Corpus(documents, questions)


if __name__ == "__main__":
    corpus = build()
    print(f"{len(corpus.documents)} documents, {len(corpus.questions)} questions")
    print(corpus.documents[2].text)
    for question in corpus.questions[8:12]:
        print(f"[{question.kind}] {question.text} -> {question.answer}")
