# Corpus, demo-data and vocabulary targets and input functions (rules: demo.smk, corpus.smk, vocab.smk).
CORPUS = config["corpus"]
DEMO = config["demo"]
VOCAB = config["vocab"]
TOKENIZE = config["tokenize"]


def dump_path(wildcards):
    """The dump a language's extraction reads, by corpus source."""
    row = LANGUAGE_TABLE[wildcards.lang]
    source = CORPUS["source"]
    if source == "demo":
        return f"resources/demo/dumps/{row.code}wiki-demo-pages-articles.xml.bz2"
    if source == "download":
        return f"resources/dumps/{row.wiki}wiki-{CORPUS['dump_date']}-pages-articles.xml.bz2"
    pattern = CORPUS["local_overrides"].get(row.code, CORPUS["local_pattern"])
    return str(repo_path(pattern.format(data_dir=DATA_DIR, wiki=row.wiki, lang=row.code)))


def corpus_targets():
    return expand(
        "results/corpus/{lang}/{name}",
        lang=LANGS,
        name=["docs.jsonl.gz", "stats.json", "sentences.txt.gz", "split_stats.json"],
    )


def vocab_targets():
    return ["results/vocab/tokenizer.json", "results/vocab/sampling.json"] + expand(
        "results/tokens/{lang}/{name}", lang=LANGS, name=["train.bin", "valid.bin", "meta.json"]
    )


def demo_targets():
    """Task data and parallel sentences of the demo languages (only with the demo corpus)."""
    if CORPUS["source"] != "demo":
        return []
    return expand("resources/demo/tasks/{lang}/ud-train.conllu", lang=LANGS) + expand(
        "resources/demo/parallel/{lang}.txt", lang=LANGS
    )
