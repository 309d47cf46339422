# One shared WordPiece vocabulary over all languages, then packed token shards per language.
rule train_vocab:
    input:
        expand("results/corpus/{lang}/sentences.txt.gz", lang=LANGS),
    output:
        tokenizer="results/vocab/tokenizer.json",
        sampling="results/vocab/sampling.json",
    log:
        "logs/vocab/train_vocab.log",
    params:
        langs=LANGS,
        given=f"--given {VOCAB['given']}" if VOCAB["given"] else "",
        size=VOCAB["size"],
        alpha=VOCAB["alpha"],
        sample=VOCAB["sample_sentences"],
        min_frequency=VOCAB["min_frequency"],
        lowercase="--lowercase" if VOCAB["lowercase"] else "",
        seed=config["seed"],
    threads: 2
    resources:
        **rule_resources("train_vocab"),
    conda:
        "../../envs/corpus.yaml"
    shell:
        "python -m langtickets train-vocab --langs {params.langs} --sentences {input}"
        " --tokenizer {output.tokenizer} --sampling {output.sampling} --size {params.size}"
        " --alpha {params.alpha} --sample-sentences {params.sample} --min-frequency {params.min_frequency}"
        " --seed {params.seed} {params.given} {params.lowercase} > {log} 2>&1"


rule tokenize:
    input:
        sentences="results/corpus/{lang}/sentences.txt.gz",
        tokenizer="results/vocab/tokenizer.json",
    output:
        train="results/tokens/{lang}/train.bin",
        valid="results/tokens/{lang}/valid.bin",
        meta="results/tokens/{lang}/meta.json",
    log:
        "logs/tokens/{lang}/tokenize.log",
    params:
        validation_fraction=TOKENIZE["validation_fraction"],
        max_train_tokens=TOKENIZE["max_train_tokens"],
        seed=config["seed"],
    threads: 2
    group:
        chain_group("tokens")
    resources:
        **rule_resources("tokenize"),
    conda:
        "../../envs/corpus.yaml"
    shell:
        "python -m langtickets tokenize --lang {wildcards.lang} --sentences {input.sentences}"
        " --tokenizer {input.tokenizer} --train {output.train} --valid {output.valid} --meta {output.meta}"
        " --validation-fraction {params.validation_fraction} --max-train-tokens {params.max_train_tokens}"
        " --seed {params.seed} > {log} 2>&1"
