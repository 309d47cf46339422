"""Build the language table (``config/languages.tsv``) from a curated seed list and Glottolog.

The seed list below holds what Glottolog cannot tell: the id used in paths, the Wikipedia the corpus comes
from, the ISO 639-3 code the datasets use, the script and whether multilingual BERT was pretrained on the
language. Family, genus and glottocode are looked up in the Glottolog CLDF export (``languages.csv`` and
``classification.nex``), so the families the figures colour by are Glottolog's, as in the multilingual-tickets
paper (section 4.3, "We identify language families using the Glottolog database").

Which languages: the 104 pretraining languages of mBERT (the BERT repository's ``multilingual.md``: 102
listed plus Thai and Mongolian, with Chinese Simplified and Traditional sharing the one ``zh`` Wikipedia, so
103 rows) and every evaluation language of the papers: XTREME(-R) PAN-X and UD-POS, the LT-SFT targets and
sources (UD, MasakhaNER, AmericasNLI; its Table 1 and Appendix B), and the 74 UD test languages of the
head-subnetwork paper (its Table 2) with its training and validation languages.

Conventions (one per column):

* ``code``: ISO 639-1 where the language (or the macrolanguage whose Wikipedia it is written in) has one,
  else ISO 639-3; ``oto`` and ``nah`` keep the papers' and AmericasNLI's collective codes.
* ``wiki``: the Wikipedia subdomain with '-' written '_'; the ISO 639-3 code where there is no Wikipedia.
* ``iso639_3``: the ISO 639-3 code paired with ``code`` (a macrolanguage code for a macrolanguage: ar ara,
  fa fas, sw swa...), except where a paper's dataset names one member language, then that member
  (qu quy from AmericasNLI, ku kmr and kv kpv from UD, no nob since mBERT lists Norwegian Bokmål).
  ``nah`` is the ISO 639-2/5 collective code: AmericasNLI's Nahuatl names no single variety.
* ``script``: ISO 15924 of the language's Wikipedia, else of its evaluation data; a '+' joins scripts a
  Wikipedia writes in about equally (zh Hans+Hant, sr Cyrl+Latn, sh Latn+Cyrl).
* ``splitter``: Stanza for Thai, Trankit for the nine languages of the multilingual-tickets paper
  (section 4.1), the Moses-style splitter otherwise.
* ``family``/``genus``: Glottolog's top-level family and the first subgroup below it on the path to the
  language (the family again when the language sits directly under it); an isolate gets family
  'Isolate' and its own name as genus; Glottolog's pseudo-family 'Artificial Language' is written
  'Constructed'. Glottolog's 'Classical Indo-European' is passed over (see :data:`GENUS_SKIP`), so
  Indo-European genera are the familiar branches. Nigerian Pidgin and Haitian Creole stay where Glottolog
  puts them (Indo-European: Germanic and Italic).

Glottolog lookups go by ``iso639_3`` unless a seed names another ISO code or a glottocode: Glottolog has no
entry for macrolanguage codes (ara, aze, est, fas, grn, mlg, msa, swa, zho) or files them as families
(aym, mon, nep, sqi, uzb), so those seeds name the member language their Wikipedia is written in.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from langtickets.cli import summary
from langtickets.errors import ConfigError, InputError
from langtickets.io import atomic_path
from langtickets.languages import COLUMNS, Language, load_table

#: languages split by Stanza or Trankit (multilingual-tickets paper, section 4.1); all others use Moses
SPLITTERS = {"th": "stanza", **dict.fromkeys(("he", "hy", "ar", "azb", "ka", "my", "ne", "new", "pnb"), "trankit")}

#: Glottolog pseudo-families renamed in the table
FAMILY_NAMES = {"arti1236": "Constructed"}

#: subgroups passed over when picking the genus: Glottolog (since 5.0) splits Indo-European into Anatolian
#: and "Classical Indo-European", which holds every living branch and so tells none apart; the genus is
#: taken one level further down (Germanic, Italic, Balto-Slavic, Indo-Iranian, Celtic, ...)
GENUS_SKIP = frozenset({"clas1257"})

# code  wiki  iso639_3  script  mbert  glottolog  name
# 'glottolog' is '-' to look the language up by iso639_3, else the ISO 639-3 code or glottocode to use.
SEED_TABLE = """
af    af     afr  Latn       yes  -         Afrikaans
aii   aii    aii  Syrc       no   -         Assyrian Neo-Aramaic
ajp   ajp    ajp  Arab       no   -         South Levantine Arabic
akk   akk    akk  Latn       no   -         Akkadian
am    am     amh  Ethi       no   -         Amharic
an    an     arg  Latn       yes  -         Aragonese
apu   apu    apu  Latn       no   -         Apurinã
aqz   aqz    aqz  Latn       no   -         Akuntsu
ar    ar     ara  Arab       yes  arb       Arabic
arr   arr    arr  Latn       no   -         Karo
ast   ast    ast  Latn       yes  -         Asturian
ay    ay     aym  Latn       no   ayr       Aymara
az    az     aze  Latn       yes  azj       Azerbaijani
azb   azb    azb  Arab       yes  -         South Azerbaijani
ba    ba     bak  Cyrl       yes  -         Bashkir
bar   bar    bar  Latn       yes  -         Bavarian
be    be     bel  Cyrl       yes  -         Belarusian
bej   bej    bej  Latn       no   -         Beja
bg    bg     bul  Cyrl       yes  -         Bulgarian
bho   bh     bho  Deva       no   -         Bhojpuri
bm    bm     bam  Latn       no   -         Bambara
bn    bn     ben  Beng       yes  -         Bengali
bpy   bpy    bpy  Beng       yes  -         Bishnupriya Manipuri
br    br     bre  Latn       yes  -         Breton
bs    bs     bos  Latn       yes  -         Bosnian
bxr   bxr    bxr  Cyrl       no   -         Buryat
bzd   bzd    bzd  Latn       no   -         Bribri
ca    ca     cat  Latn       yes  -         Catalan
ce    ce     che  Cyrl       yes  -         Chechen
ceb   ceb    ceb  Latn       yes  -         Cebuano
cni   cni    cni  Latn       no   -         Asháninka
cs    cs     ces  Latn       yes  -         Czech
cv    cv     chv  Cyrl       yes  -         Chuvash
cy    cy     cym  Latn       yes  -         Welsh
da    da     dan  Latn       yes  -         Danish
de    de     deu  Latn       yes  -         German
el    el     ell  Grek       yes  -         Greek
en    en     eng  Latn       yes  -         English
es    es     spa  Latn       yes  -         Spanish
ess   ess    ess  Latn       no   -         St. Lawrence Island Yupik
et    et     est  Latn       yes  ekk       Estonian
eu    eu     eus  Latn       yes  -         Basque
fa    fa     fas  Arab       yes  pes       Persian
fi    fi     fin  Latn       yes  -         Finnish
fo    fo     fao  Latn       no   -         Faroese
fr    fr     fra  Latn       yes  -         French
fy    fy     fry  Latn       yes  -         West Frisian
ga    ga     gle  Latn       yes  -         Irish
gd    gd     gla  Latn       no   -         Scottish Gaelic
gl    gl     glg  Latn       yes  -         Galician
gn    gn     grn  Latn       no   gug       Guarani
got   got    got  Goth       no   -         Gothic
grc   grc    grc  Grek       no   -         Ancient Greek
gsw   als    gsw  Latn       no   -         Swiss German
gu    gu     guj  Gujr       yes  -         Gujarati
gub   gub    gub  Latn       no   -         Guajajara
gun   gun    gun  Latn       no   -         Mbyá Guaraní
gv    gv     glv  Latn       no   -         Manx
ha    ha     hau  Latn       no   -         Hausa
hch   hch    hch  Latn       no   -         Wixarika
he    he     heb  Hebr       yes  -         Hebrew
hi    hi     hin  Deva       yes  -         Hindi
hr    hr     hrv  Latn       yes  -         Croatian
hsb   hsb    hsb  Latn       no   -         Upper Sorbian
ht    ht     hat  Latn       yes  -         Haitian Creole
hu    hu     hun  Latn       yes  -         Hungarian
hy    hy     hye  Armn       yes  -         Armenian
hyw   hyw    hyw  Armn       no   -         Western Armenian
id    id     ind  Latn       yes  -         Indonesian
ig    ig     ibo  Latn       no   -         Igbo
io    io     ido  Latn       yes  -         Ido
is    is     isl  Latn       yes  -         Icelandic
it    it     ita  Latn       yes  -         Italian
ja    ja     jpn  Jpan       yes  -         Japanese
jv    jv     jav  Latn       yes  -         Javanese
ka    ka     kat  Geor       yes  -         Georgian
kk    kk     kaz  Cyrl       yes  -         Kazakh
kn    kn     kan  Knda       yes  -         Kannada
ko    ko     kor  Kore       yes  -         Korean
koi   koi    koi  Cyrl       no   -         Komi-Permyak
krl   krl    krl  Latn       no   -         Karelian
ku    ku     kmr  Latn       no   -         Kurmanji
kv    kv     kpv  Cyrl       no   -         Komi-Zyrian
ky    ky     kir  Cyrl       yes  -         Kyrgyz
la    la     lat  Latn       yes  -         Latin
lb    lb     ltz  Latn       yes  -         Luxembourgish
lg    lg     lug  Latn       no   -         Luganda
lij   lij    lij  Latn       no   -         Ligurian
lmo   lmo    lmo  Latn       yes  -         Lombard
lt    lt     lit  Latn       yes  -         Lithuanian
luo   luo    luo  Latn       no   -         Luo
lv    lv     lav  Latn       yes  -         Latvian
mdf   mdf    mdf  Cyrl       no   -         Moksha
mg    mg     mlg  Latn       yes  plt       Malagasy
min   min    min  Latn       yes  -         Minangkabau
mk    mk     mkd  Cyrl       yes  -         Macedonian
ml    ml     mal  Mlym       yes  -         Malayalam
mn    mn     mon  Cyrl       yes  khk       Mongolian
mpu   mpu    mpu  Latn       no   -         Makurap
mr    mr     mar  Deva       yes  -         Marathi
ms    ms     msa  Latn       yes  zsm       Malay
mt    mt     mlt  Latn       no   -         Maltese
my    my     mya  Mymr       yes  -         Burmese
myu   myu    myu  Latn       no   -         Munduruku
myv   myv    myv  Cyrl       no   -         Erzya
nah   nah    nah  Latn       no   azte1234  Nahuatl
nds   nds    nds  Latn       yes  -         Low Saxon
ne    ne     nep  Deva       yes  npi       Nepali
new   new    new  Deva       yes  -         Newar
nl    nl     nld  Latn       yes  -         Dutch
nn    nn     nno  Latn       yes  -         Norwegian Nynorsk
no    no     nob  Latn       yes  -         Norwegian Bokmål
oc    oc     oci  Latn       yes  -         Occitan
olo   olo    olo  Latn       no   -         Livvi
oto   ote    ote  Latn       no   -         Otomí
pa    pa     pan  Guru       yes  -         Punjabi
pcm   pcm    pcm  Latn       no   -         Nigerian Pidgin
pl    pl     pol  Latn       yes  -         Polish
pms   pms    pms  Latn       yes  -         Piedmontese
pnb   pnb    pnb  Arab       yes  -         Western Punjabi
pt    pt     por  Latn       yes  -         Portuguese
qu    qu     quy  Latn       no   -         Quechua
quc   quc    quc  Latn       no   -         K'iche'
ro    ro     ron  Latn       yes  -         Romanian
ru    ru     rus  Cyrl       yes  -         Russian
rw    rw     kin  Latn       no   -         Kinyarwanda
sa    sa     san  Deva       no   -         Sanskrit
sah   sah    sah  Cyrl       no   -         Yakut
scn   scn    scn  Latn       yes  -         Sicilian
sco   sco    sco  Latn       yes  -         Scots
se    se     sme  Latn       no   -         Northern Sami
sh    sh     hbs  Latn+Cyrl  yes  -         Serbo-Croatian
shp   shp    shp  Latn       no   -         Shipibo-Konibo
sjo   sjo    sjo  Mong       no   -         Xibe
sk    sk     slk  Latn       yes  -         Slovak
sl    sl     slv  Latn       yes  -         Slovenian
sms   sms    sms  Latn       no   -         Skolt Sami
sq    sq     sqi  Latn       yes  als       Albanian
sr    sr     srp  Cyrl+Latn  yes  -         Serbian
su    su     sun  Latn       yes  -         Sundanese
sv    sv     swe  Latn       yes  -         Swedish
sw    sw     swa  Latn       yes  swh       Swahili
ta    ta     tam  Taml       yes  -         Tamil
tar   tar    tar  Latn       no   -         Rarámuri
te    te     tel  Telu       yes  -         Telugu
tg    tg     tgk  Cyrl       yes  -         Tajik
th    th     tha  Thai       yes  -         Thai
tl    tl     tgl  Latn       yes  -         Tagalog
tpn   tpn    tpn  Latn       no   -         Tupinambá
tr    tr     tur  Latn       yes  -         Turkish
tt    tt     tat  Cyrl       yes  -         Tatar
ug    ug     uig  Arab       no   -         Uyghur
uk    uk     ukr  Cyrl       yes  -         Ukrainian
ur    ur     urd  Arab       yes  -         Urdu
urb   urb    urb  Latn       no   -         Ka'apor
uz    uz     uzb  Latn       yes  uzn       Uzbek
vi    vi     vie  Latn       yes  -         Vietnamese
vo    vo     vol  Latn       yes  -         Volapük
war   war    war  Latn       yes  -         Waray
wbp   wbp    wbp  Latn       no   -         Warlpiri
wo    wo     wol  Latn       no   -         Wolof
xnr   xnr    xnr  Deva       no   -         Kangri
yo    yo     yor  Latn       yes  -         Yoruba
yue   zh_yue yue  Hant       no   -         Cantonese
zh    zh     zho  Hans+Hant  yes  cmn       Chinese
"""

_GLOTTOCODE = re.compile(r"^[a-z0-9]{4}[0-9]{4}$")
_TREE_LINE = re.compile(r"^\s*tree\s+(\S+)\s*=\s*(?:\[[^\]]*\]\s*)?(.+?);\s*$")
_NEWICK_TOKEN = re.compile(r"[(),]|[^(),:\s]+(?::[^(),\s]*)?")
_LANGUAGE_COLUMNS = ("ID", "Name", "Level", "Family_ID", "Language_ID", "ISO639P3code")


@dataclass(frozen=True)
class Seed:
    """What the table needs about a language beyond Glottolog (one line of :data:`SEED_TABLE`)."""

    code: str
    wiki: str
    iso639_3: str
    script: str
    mbert: str
    glottolog: str
    name: str

    @property
    def lookup(self) -> str:
        """The ISO 639-3 code or glottocode to find the language by in Glottolog."""
        return self.iso639_3 if self.glottolog == "-" else self.glottolog


@dataclass(frozen=True)
class Languoid:
    """One row of Glottolog's ``languages.csv`` (a family, language or dialect)."""

    id: str
    name: str
    level: str
    family_id: str
    language_id: str


@dataclass(frozen=True)
class Glottolog:
    """The parts of a Glottolog CLDF export the table needs: languoids, ISO index and the family trees."""

    folder: Path
    languoids: dict[str, Languoid]
    by_iso: dict[str, str]
    parents: dict[str, str]
    title: str


def parse_seeds(text: str = SEED_TABLE) -> list[Seed]:
    """Parse the whitespace-separated seed table (the name is the rest of the line)."""
    seeds = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split(None, 6)
        if len(parts) != 7:
            raise ConfigError(f"seed table line {number}: expected 7 fields, found {len(parts)}: {line!r}")
        seeds.append(Seed(*parts))
    return seeds


def parse_newick(text: str) -> dict[str, str]:
    """Map every labelled node of a Newick tree to its parent's label (branch lengths are ignored)."""
    parents: dict[str, str] = {}
    stack: list[list[str]] = [[]]
    closed: list[str] | None = None
    for token in _NEWICK_TOKEN.findall(text):
        if token == "(":
            stack.append([])
        elif token == ")":
            if len(stack) < 2 or closed is not None:
                raise ValueError("unbalanced or unlabelled group")
            closed = stack.pop()
        elif token == ",":
            if closed is not None:
                raise ValueError("a group has no label")
        else:
            label = token.split(":", 1)[0]
            for child in closed or ():
                parents[child] = label
            closed = None
            stack[-1].append(label)
    if len(stack) != 1 or closed is not None:
        raise ValueError("unbalanced parentheses or unlabelled root")
    return parents


def _read_languages(path: Path) -> tuple[dict[str, Languoid], dict[str, str]]:
    """Languoids by glottocode, and glottocodes by ISO 639-3 code."""
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [column for column in _LANGUAGE_COLUMNS if column not in (reader.fieldnames or ())]
        if missing:
            raise InputError(path, f"missing column(s) {', '.join(missing)}",
                             "use the CLDF languages.csv of glottolog-cldf")
        rows = list(reader)
    languoids = {
        row["ID"]: Languoid(row["ID"], row["Name"], row["Level"], row["Family_ID"], row["Language_ID"])
        for row in rows
    }
    return languoids, {row["ISO639P3code"]: row["ID"] for row in rows if row["ISO639P3code"]}


def _read_trees(path: Path) -> dict[str, str]:
    parents: dict[str, str] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            match = _TREE_LINE.match(line)
            if match is None:
                continue
            try:
                parents.update(parse_newick(match.group(2)))
            except ValueError as error:
                raise InputError(path, f"tree {match.group(1)} is not valid Newick ({error})",
                                 "use the classification.nex of glottolog-cldf", line=number) from None
    if not parents:
        raise InputError(path, "no 'tree NAME = ...;' lines found",
                         "use the classification.nex of glottolog-cldf")
    return parents


def _read_title(folder: Path) -> str:
    metadata = folder / "cldf-metadata.json"
    if not metadata.is_file():
        return "Glottolog"
    with open(metadata, encoding="utf-8") as handle:
        return str(json.load(handle).get("dc:title", "Glottolog"))


def load_glottolog(folder: str | Path) -> Glottolog:
    """Read ``languages.csv`` and ``classification.nex`` (and the title in ``cldf-metadata.json``, if any)."""
    folder = Path(folder)
    for name in ("languages.csv", "classification.nex"):
        if not (folder / name).is_file():
            raise InputError(folder / name, "not found",
                             "pass --glottolog the folder holding the glottolog-cldf files (cldf/ of the release)")
    languoids, by_iso = _read_languages(folder / "languages.csv")
    return Glottolog(folder, languoids, by_iso, _read_trees(folder / "classification.nex"), _read_title(folder))


def _find(glottolog: Glottolog, seed: Seed) -> Languoid:
    """The languoid a seed names; an ISO code must reach a language or dialect, not a family."""
    key = seed.lookup
    by_code = _GLOTTOCODE.match(key) is not None
    languoid = glottolog.languoids.get(key if by_code else glottolog.by_iso.get(key, ""))
    where = glottolog.folder / "languages.csv"
    if languoid is None:
        raise InputError(where, f"'{seed.code}' ({seed.name}): Glottolog has no languoid for '{key}'",
                         "set the seed's 'glottolog' field in langtickets.langtable.SEED_TABLE to a listed "
                         "ISO 639-3 code or glottocode")
    if languoid.level == "family" and not by_code:
        raise InputError(where, f"'{seed.code}' ({seed.name}): ISO code '{key}' names the Glottolog family "
                         f"'{languoid.name}' ({languoid.id})", "set the seed's 'glottolog' field to the ISO code "
                         "of the member language its Wikipedia is written in")
    return languoid


def classification_path(glottolog: Glottolog, languoid: Languoid) -> list[str]:
    """Glottocodes from the top-level family down to ``languoid``; a dialect stops at its language."""
    node = languoid.language_id if languoid.level == "dialect" and languoid.language_id else languoid.id
    path = [node]
    while path[-1] in glottolog.parents:
        path.append(glottolog.parents[path[-1]])
    path.reverse()
    if languoid.family_id and path[0] != languoid.family_id:
        raise InputError(glottolog.folder / "classification.nex",
                         f"{node} ({languoid.name}) is not in the tree of its family {languoid.family_id}",
                         "use classification.nex and languages.csv from the same Glottolog release")
    return path


def family_and_genus(glottolog: Glottolog, languoid: Languoid, name: str) -> tuple[str, str]:
    """Top-level family and the first subgroup below it (conventions in the module docstring)."""
    path = classification_path(glottolog, languoid)
    if len(path) == 1:
        return "Isolate", name
    family = FAMILY_NAMES.get(path[0], glottolog.languoids[path[0]].name)
    below = [node for node in path[1:] if node not in GENUS_SKIP]
    if len(below) < 2:  # the language sits directly under its family
        return family, family
    return family, glottolog.languoids[below[0]].name


def build_rows(glottolog: Glottolog, seeds: Iterable[Seed]) -> list[Language]:
    """One :class:`Language` per seed, sorted by code; codes must be unique."""
    rows: dict[str, Language] = {}
    for seed in seeds:
        if seed.code in rows:
            raise ConfigError(f"seed table: language code '{seed.code}' appears twice; keep one line")
        languoid = _find(glottolog, seed)
        family, genus = family_and_genus(glottolog, languoid, seed.name)
        rows[seed.code] = Language(
            code=seed.code, wiki=seed.wiki, name=seed.name, family=family, genus=genus, script=seed.script,
            splitter=SPLITTERS.get(seed.code, "moses"), iso639_3=seed.iso639_3, glottocode=languoid.id,
            mbert=seed.mbert,
        )
    return [rows[code] for code in sorted(rows)]


def render_table(rows: Sequence[Language], source: str) -> str:
    """The TSV text: a provenance comment, the header and one line per row."""
    lines = [
        f"# generated by `langtickets build-language-table` from {source};"
        " edit SEED_TABLE in src/langtickets/langtable.py and rebuild, not this file",
        "\t".join(COLUMNS),
    ]
    lines += ["\t".join(getattr(row, column) for column in COLUMNS) for row in rows]
    return "\n".join(lines) + "\n"


def write_table(rows: Sequence[Language], out: str | Path, source: str) -> None:
    """Write the table atomically, after checking it loads with :func:`langtickets.languages.load_table`."""
    with atomic_path(out) as tmp:
        tmp.write_text(render_table(rows, source), encoding="utf-8", newline="\n")
        load_table(tmp)


def build_language_table(
    glottolog_dir: str | Path, out: str | Path, seeds: Iterable[Seed] | None = None
) -> list[Language]:
    """Build the table from ``seeds`` (default :data:`SEED_TABLE`) and Glottolog, write it to ``out``."""
    glottolog = load_glottolog(glottolog_dir)
    rows = build_rows(glottolog, parse_seeds() if seeds is None else seeds)
    write_table(rows, out, glottolog.title)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="langtickets build-language-table",
                                     description=__doc__.split("\n", 1)[0])
    parser.add_argument("--glottolog", type=Path, required=True,
                        help="folder with Glottolog CLDF languages.csv and classification.nex")
    parser.add_argument("--out", type=Path, required=True, help="language table to write (TSV)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = build_language_table(args.glottolog, args.out)
    summary("build-language-table", started, out=args.out, languages=len(rows),
            families=len({row.family for row in rows}), mbert=sum(row.in_mbert for row in rows))
    return 0
