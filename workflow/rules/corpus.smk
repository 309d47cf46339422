# Corpus stages: a dump per language (generated, local or downloaded) -> documents -> sentences.
rule download_dump:
    output:
        dump="resources/dumps/{wiki}wiki-{date}-pages-articles.xml.bz2",
        checksums="resources/dumps/{wiki}wiki-{date}-checksums.txt",
    log:
        "logs/dumps/{wiki}wiki-{date}.log",
    wildcard_constraints:
        wiki="[a-z][a-z0-9_]{1,15}",
        date="[0-9]{8}|latest",
    params:
        mirror=CORPUS["mirror"],
        algorithm=CORPUS["checksum"],
    retries: 3
    resources:
        **rule_resources("download_dump"),
    conda:
        "../../envs/corpus.yaml"
    shell:
        "python -m langtickets download --mirror {params.mirror} --wiki {wildcards.wiki}"
        " --date {wildcards.date} --algorithm {params.algorithm} --out {output.dump}"
        " --checksums-out {output.checksums} > {log} 2>&1"


rule extract:
    input:
        dump_path,
    output:
        docs="results/corpus/{lang}/docs.jsonl.gz",
        stats="results/corpus/{lang}/stats.json",
    log:
        "logs/corpus/{lang}/extract.log",
    params:
        min_chars=CORPUS["min_article_chars"],
        max_articles=CORPUS["max_articles"],
    threads: 2
    group:
        chain_group("corpus")
    resources:
        **rule_resources("extract"),
    conda:
        "../../envs/corpus.yaml"
    shell:
        "python -m langtickets extract --lang {wildcards.lang} --dump {input} --docs {output.docs}"
        " --stats {output.stats} --processes {threads} --min-chars {params.min_chars}"
        " --max-articles {params.max_articles} > {log} 2>&1"


SPLIT_SHELL = (
    "python -m langtickets split --lang {wildcards.lang} --splitter {params.splitter}"
    " --table {params.table} --docs {input} --out {output.sentences} --stats {output.stats}"
    " --processes {threads} {params.fallback} > {log} 2>&1"
)


rule split_sentences_moses:
    input:
        "results/corpus/{lang}/docs.jsonl.gz",
    output:
        sentences="results/corpus/{lang}/sentences.txt.gz",
        stats="results/corpus/{lang}/split_stats.json",
    log:
        "logs/corpus/{lang}/split.log",
    wildcard_constraints:
        lang=lang_regex(langs_with_splitter("moses")),
    threads: rule_threads("split_sentences", 2)
    group:
        chain_group("corpus")
    params:
        splitter="moses",
        table=LANGUAGE_TABLE_PATH,
        fallback="",
    resources:
        **rule_resources("split_sentences_moses"),
    conda:
        "../../envs/corpus.yaml"
    shell:
        SPLIT_SHELL


use rule split_sentences_moses as split_sentences_stanza with:
    wildcard_constraints:
        lang=lang_regex(langs_with_splitter("stanza")),
    params:
        splitter="stanza",
        table=LANGUAGE_TABLE_PATH,
        fallback="--fallback-moses" if CORPUS["splitter_fallback"] else "",
    resources:
        **rule_resources("split_sentences_stanza"),
    conda:
        "../../envs/stanza.yaml"


use rule split_sentences_moses as split_sentences_trankit with:
    wildcard_constraints:
        lang=lang_regex(langs_with_splitter("trankit")),
    params:
        splitter="trankit",
        table=LANGUAGE_TABLE_PATH,
        fallback="--fallback-moses" if CORPUS["splitter_fallback"] else "",
    resources:
        **rule_resources("split_sentences_trankit"),
    conda:
        "../../envs/trankit.yaml"
