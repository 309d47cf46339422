"""The language-table loader on good and bad tables, and the real table config/languages.tsv."""

from __future__ import annotations

from pathlib import Path

import pytest

from langtickets import cli
from langtickets.errors import ConfigError
from langtickets.languages import COLUMNS, LanguageTable, load_table

HEADER = "\t".join(COLUMNS)
ROWS = [
    "de\tde\tGerman\tIndo-European\tGermanic\tLatn\tmoses\tdeu\tstan1295\tyes",
    "th\tth\tThai\tTai-Kadai\tKam-Tai\tThai\tstanza\ttha\tthai1261\tyes",
    "bxr\tbxr\tBuryat\tMongolic-Khitan\tMongolic\tCyrl\tmoses\tbxr\truss1264\tno",
]


def write_table(folder: Path, lines: list[str], name: str = "languages.tsv") -> Path:
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_table(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    return message


# --- the loader ---------------------------------------------------------------------------------------


def test_good_table_loads_in_file_order_skipping_comments_and_blank_lines(tmp_path):
    table = load_table(write_table(tmp_path, ["# a comment", HEADER, ROWS[0], "", ROWS[1], ROWS[2]]))
    assert isinstance(table, LanguageTable) and len(table) == 3
    assert table.codes == ["de", "th", "bxr"]
    assert table["th"].splitter == "stanza" and table["th"].in_mbert
    assert not table["bxr"].in_mbert and "bxr" in table and "xx" not in table
    assert [row.code for row in table.select(["bxr", "de"])] == ["bxr", "de"]


def test_missing_column_in_header_is_named(tmp_path):
    header = "\t".join(COLUMNS[:-1])
    message = load_error(write_table(tmp_path, [header, ROWS[0].rsplit("\t", 1)[0]]))
    assert ":1:" in message and "missing column(s) mbert" in message


def test_wrong_header_order_says_the_expected_order(tmp_path):
    swapped = "\t".join([COLUMNS[1], COLUMNS[0], *COLUMNS[2:]])
    message = load_error(write_table(tmp_path, [swapped, ROWS[0]]))
    assert ":1:" in message and "in this order" in message and HEADER.replace("\t", " ") in message


def test_row_with_a_missing_field_names_its_real_line(tmp_path):
    short = ROWS[1].rsplit("\t", 1)[0]
    message = load_error(write_table(tmp_path, ["# generated", HEADER, ROWS[0], "", short]))
    assert ":5:" in message and "expected 10 tab-separated columns, found 9" in message


def test_duplicate_code_names_both_lines(tmp_path):
    message = load_error(write_table(tmp_path, [HEADER, ROWS[0], ROWS[1], ROWS[0]]))
    assert ":4:" in message and "'de' repeats line 2" in message and "unique" in message


def test_unknown_splitter_lists_the_allowed_ones(tmp_path):
    message = load_error(write_table(tmp_path, [HEADER, ROWS[0].replace("\tmoses\t", "\tnltk\t")]))
    assert ":2:" in message and "'splitter'" in message and "'nltk'" in message and "trankit" in message


def test_empty_family_is_rejected(tmp_path):
    message = load_error(write_table(tmp_path, [HEADER, ROWS[0].replace("\tIndo-European\t", "\t\t")]))
    assert ":2:" in message and "'family'" in message and "Glottolog" in message


def test_bad_code_pattern_is_rejected(tmp_path):
    message = load_error(write_table(tmp_path, [HEADER, ROWS[1], "DE" + ROWS[0][2:]]))
    assert ":3:" in message and "'code'" in message and "'DE'" in message and "ISO 639-1" in message


def test_bad_mbert_flag_is_rejected(tmp_path):
    message = load_error(write_table(tmp_path, [HEADER, ROWS[0][: -len("yes")] + "true"]))
    assert ":2:" in message and "'mbert'" in message


def test_header_only_table_has_no_rows(tmp_path):
    assert "no rows" in load_error(write_table(tmp_path, [HEADER]))


def test_empty_file_says_what_to_write(tmp_path):
    path = tmp_path / "languages.tsv"
    path.write_text("# nothing yet\n\n", encoding="utf-8")
    assert "empty" in load_error(path) and "header" in load_error(path)


def test_missing_file_points_at_the_config_key(tmp_path):
    message = load_error(tmp_path / "absent.tsv")
    assert "not found" in message and "languages_table" in message


def test_unknown_language_in_select_names_table_and_config(tmp_path):
    table = load_table(write_table(tmp_path, [HEADER, *ROWS]))
    with pytest.raises(ConfigError) as caught:
        table.select(["de", "xx", "yy"], where="config/paper.yaml")
    message = str(caught.value)
    assert "'xx', 'yy'" in message and "config/paper.yaml" in message and str(table.path) in message
    assert "\n" not in message


def test_unknown_language_by_index_names_the_table(tmp_path):
    table = load_table(write_table(tmp_path, [HEADER, *ROWS]))
    with pytest.raises(ConfigError) as caught:
        table["xx"]
    assert "'xx'" in str(caught.value) and str(table.path) in str(caught.value)


def test_validate_command_reports_one_line_and_status_2(tmp_path, capsys):
    path = write_table(tmp_path, [HEADER, ROWS[0], ROWS[0]])
    assert cli.main(["validate-languages", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "repeats line 2" in err and "\n" not in err


# --- the real table -------------------------------------------------------------------------------------

#: multilingual.md of the BERT repository: 102 listed languages (Chinese twice) + Thai and Mongolian
MBERT = set(
    "af sq ar an hy ast az ba eu bar be bn bpy bs br bg my ca ceb ce zh cv hr cs da nl en et fi fr gl ka de "
    "el gu ht he hi hu is io id ga it ja jv kn kk ky ko la lv lt lmo nds lb mk mg ms ml mr min ne new no nn "
    "oc fa pms pl pt pa ro ru sco sr sh scn sk sl azb es su sw sv tl tg ta tt te th tr uk ur uz vi vo war "
    "cy fy pnb yo mn".split()
)
UD_SHARED = "af bm bxr ca cs da de en es et fi fo fr gl hsb is it kpv mt nl no pl pt ro ru sk sl sv uk yue"
MASAKHANER = "amh hau ibo kin lug luo pcm swa wol yor"
AMERICASNLI = "aym bzd cni gn hch nah oto quy shp tar"
#: XTREME-R (google-research/xtreme scripts/train_panx.sh and train_udpos.sh); PAN-X files use wiki codes
PANX = (
    "ar he vi id jv ms tl eu ml ta te af nl en de el bn hi mr ur fa fr it pt es bg ru ja ka ko th sw yo my zh "
    "kk tr et fi hu qu pl uk az lt pa gu ro"
)
UDPOS = "af ar bg de el en es et eu fa fi fr he hi hu id it ja kk ko mr nl pt ru ta te th tl tr ur vi yo zh lt pl uk ro"
#: LT-SFT paper, Table 1 and Appendix B (targets and multi-source languages)
LT_SFT = (
    "ar bm bxr yue zh myv fo ja olo mt gv sme kpv sa hsb ug hau ibo kin lug luo pcm swa wol yor "
    "aym cni bzd gn nah oto quy tar shp hch eu bg cs en et fr de el hi ko fa ru es th tr ur vi"
)
#: head-subnetwork paper: the 74 languages of its 86 UD test treebanks (Table 2), by UD language code
HEAD_SUBNETWORK_TEST = (
    "gub quc id jv mt gun ajp th tl vi wo hy kmr lt hyw apu myv hu krl koi kpv olo mdf sme sms tt tpn tr "
    "aqz am bm eu bej bn bho bxr urb xnr arr kk mpu mr myu sa ta ug wbp sjo sah ess akk aii br gl el ga lij "
    "gv pcm gd cy af sq fo got is nds gsw grc yue zh sr hsb yo"
)
HEAD_SUBNETWORK_TRAIN = "en ar cs et hi it no ru bg ja te fa"
TRANKIT = {"he", "hy", "ar", "azb", "ka", "my", "ne", "new", "pnb"}


@pytest.fixture(scope="module")
def table(repo_root):
    return load_table(repo_root / "config" / "languages.tsv")


def resolve(table: LanguageTable, dataset_code: str) -> str | None:
    """The table code a dataset's language code stands for: by code, else by ISO 639-3."""
    if dataset_code in table:
        return dataset_code
    matches = [row.code for row in table if row.iso639_3 == dataset_code]
    return matches[0] if len(matches) == 1 else None


def test_mbert_rows_are_the_104_pretraining_languages(table):
    mbert = {row.code for row in table if row.in_mbert}
    assert len(MBERT) == 103 and mbert == MBERT
    # Chinese Simplified and Traditional are two of the 104 but one Wikipedia, hence one row
    entries = sum(len(row.script.split("+")) if row.code == "zh" else 1 for row in table if row.in_mbert)
    assert table["zh"].script == "Hans+Hant" and entries == 104


@pytest.mark.parametrize(
    "codes", [UD_SHARED, MASAKHANER, AMERICASNLI, UDPOS, LT_SFT, HEAD_SUBNETWORK_TEST, HEAD_SUBNETWORK_TRAIN],
    ids=["ud-shared", "masakhaner", "americasnli", "xtreme-udpos", "lt-sft", "head-subnet-test", "head-subnet-train"],
)
def test_every_evaluation_language_resolves(table, codes):
    unresolved = [code for code in codes.split() if resolve(table, code) is None]
    assert unresolved == []


def test_head_subnetwork_test_set_has_74_languages(table):
    assert len({resolve(table, code) for code in HEAD_SUBNETWORK_TEST.split()}) == 74


def test_panx_languages_resolve_by_wikipedia(table):
    wikis = {row.wiki for row in table}
    assert [code for code in PANX.split() if code not in wikis] == []


def test_codes_wikis_and_iso_codes_are_unique(table):
    for column in ("wiki", "iso639_3", "glottocode"):
        values = [getattr(row, column) for row in table]
        assert len(values) == len(set(values)), column


def test_splitters_follow_the_paper(table):
    assert table["th"].splitter == "stanza"
    assert {row.code for row in table if row.splitter == "trankit"} == TRANKIT
    assert {row.splitter for row in table if row.code not in TRANKIT | {"th"}} == {"moses"}


def test_macrolanguages_keep_dataset_codes(table):
    assert resolve(table, "swa") == "sw" and resolve(table, "hau") == "ha" and resolve(table, "quy") == "qu"
    assert table["zh"].glottocode == "mand1415" and table["ar"].glottocode == "stan1318"
    assert table["yue"].wiki == "zh_yue" and table["gsw"].wiki == "als"


@pytest.mark.parametrize(
    "codes, family, genus",
    [
        ("de nl sv en af is fo no nn da", "Indo-European", "Germanic"),
        ("es fr it pt ro ca gl la", "Indo-European", "Italic"),
        ("ru uk pl cs bg sr hr lt lv hsb", "Indo-European", "Balto-Slavic"),
        ("hi ur fa bn mr ne sa", "Indo-European", "Indo-Iranian"),
        ("ga cy gd br gv", "Indo-European", "Celtic"),
        ("fi et olo krl", "Uralic", "Finnic"),
        ("kv koi", "Uralic", "Permian"),
        ("ar he mt am", "Afro-Asiatic", "Semitic"),
        ("zh yue", "Sino-Tibetan", "Sinitic"),
        ("tr az azb kk ky uz tt ug sah", "Turkic", "Common Turkic"),
        ("ta te ml kn", "Dravidian", "South Dravidian"),
        ("id ms jv su tl ceb war mg", "Austronesian", "Malayo-Polynesian"),
        ("sw yo ig rw lg", "Atlantic-Congo", "Volta-Congo"),
    ],
)
def test_related_languages_share_family_and_genus(table, codes, family, genus):
    assert {(table[code].family, table[code].genus) for code in codes.split()} == {(family, genus)}


def test_special_families(table):
    assert {table["vo"].family, table["io"].family} == {"Constructed"}
    assert (table["eu"].family, table["eu"].genus) == ("Isolate", "Basque")
    assert table["hu"].family == table["fi"].family == "Uralic"
    assert table["pcm"].family == "Indo-European"  # Glottolog files Nigerian Pidgin under English
