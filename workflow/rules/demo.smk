# The generated demo corpus (config corpus.source: demo): dumps in the MediaWiki export format, task data
# and parallel sentences from one grammar per language family, and the family tree of all languages.


rule make_demo_dump:
    localrule: True
    output:
        "resources/demo/dumps/{lang}wiki-demo-pages-articles.xml.bz2",
    log:
        "logs/demo/dumps/{lang}.log",
    params:
        table=LANGUAGE_TABLE_PATH,
        seed=config["seed"],
        documents=lambda wc: DEMO["documents_per_language"].get(wc.lang, DEMO["documents"]),
    conda:
        "../../envs/corpus.yaml"
    shell:
        "python -m langtickets make-demo dump --table {params.table} --lang {wildcards.lang}"
        " --seed {params.seed} --documents {params.documents} --out {output} > {log} 2>&1"


rule make_demo_tasks:
    localrule: True
    output:
        expand(
            "resources/demo/tasks/{{lang}}/{task}-{split}.{ext}",
            zip,
            task=["ud", "ud", "ud", "ner", "ner", "ner", "nli", "nli", "nli"],
            split=["train", "dev", "test"] * 3,
            ext=["conllu"] * 3 + ["txt"] * 3 + ["tsv"] * 3,
        ),
    log:
        "logs/demo/tasks/{lang}.log",
    params:
        table=LANGUAGE_TABLE_PATH,
        seed=config["seed"],
        out_dir=lambda wc: f"resources/demo/tasks/{wc.lang}",
        train=DEMO["task_sentences"]["train"],
        dev=DEMO["task_sentences"]["dev"],
        test=DEMO["task_sentences"]["test"],
    conda:
        "../../envs/corpus.yaml"
    shell:
        "python -m langtickets make-demo tasks --table {params.table} --lang {wildcards.lang}"
        " --seed {params.seed} --train {params.train} --dev {params.dev} --test {params.test}"
        " --out-dir {params.out_dir} > {log} 2>&1"


rule make_demo_parallel:
    localrule: True
    output:
        "resources/demo/parallel/{lang}.txt",
    log:
        "logs/demo/parallel/{lang}.log",
    params:
        table=LANGUAGE_TABLE_PATH,
        seed=config["seed"],
        sentences=DEMO["parallel_sentences"],
    conda:
        "../../envs/corpus.yaml"
    shell:
        "python -m langtickets make-demo parallel --table {params.table} --lang {wildcards.lang}"
        " --seed {params.seed} --sentences {params.sentences} --out {output} > {log} 2>&1"


rule family_tree:
    localrule: True
    output:
        table="results/languages/family_tree.tsv",
        newick="results/languages/family_tree.nwk",
    log:
        "logs/languages/family_tree.log",
    params:
        table=LANGUAGE_TABLE_PATH,
        langs=LANGS,
    conda:
        "../../envs/corpus.yaml"
    shell:
        "python -m langtickets family-tree --table {params.table} --langs {params.langs}"
        " --out {output.table} --newick {output.newick} > {log} 2>&1"
