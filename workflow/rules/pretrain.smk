# Multilingual MLM pretraining per variant (dense, scaled, wide, ticket-{snip,magnitude,random}) with the
# interference measurements of section 3.3. Checkpoints go to results/pretrain/{variant}/checkpoints/, outside
# the declared outputs, so a killed job resumes from them when rerun.

wildcard_constraints:
    variant="|".join(sorted(VARIANTS, key=len, reverse=True)),


rule pretrain:
    input:
        unpack(pretrain_inputs),
    output:
        model=directory("results/pretrain/{variant}/model"),
        log="results/pretrain/{variant}/train_log.jsonl",
        perplexity="results/pretrain/{variant}/perplexity.json",
        uc="results/pretrain/{variant}/interference/uc.json",
        gc="results/pretrain/{variant}/interference/gc.json",
        stability="results/pretrain/{variant}/interference/stability.json",
    log:
        "logs/pretrain/{variant}.log",
    params:
        launch=launch_command("pretrain"),
        out_dir="results/pretrain/{variant}",
        langs=LANGS,
        masks=pretrain_masks_flag,
        steps=PRETRAIN["steps"],
        batch_size=PRETRAIN["batch_size"],
        lr=PRETRAIN["lr"],
        warmup=PRETRAIN["warmup"],
        weight_decay=PRETRAIN["weight_decay"],
        adam_eps=PRETRAIN["adam_eps"],
        max_grad_norm=PRETRAIN["max_grad_norm"],
        seq_len_short=PRETRAIN["seq_len_short"],
        seq_len_long=PRETRAIN["seq_len_long"],
        long_fraction=PRETRAIN["long_fraction"],
        alpha=PRETRAIN["alpha"],
        mlm_probability=PRETRAIN["mlm_probability"],
        masked_update=PRETRAIN["masked_update"],
        checkpoint_every=PRETRAIN["checkpoint_every"],
        keep_checkpoints=PRETRAIN["keep_checkpoints"],
        clean="--clean-checkpoints" if PRETRAIN["clean_checkpoints"] else "",
        eval_batches=PRETRAIN["eval_batches"],
        eval_batch_size=PRETRAIN["eval_batch_size"],
        eval_seq_len=PRETRAIN["eval_seq_len"],
        device=PRETRAIN["device"],
        uc_layers=uc_layers_arg(),
        uc_steps=INTERFERENCE["uc_steps"],
        gc_every=INTERFERENCE["gc_every"],
        gc_batch_size=INTERFERENCE["gc_batch_size"],
        gc_langs=INTERFERENCE["gc_langs"],
        seed=config["seed"],
    threads: rule_threads("pretrain", 1)
    resources:
        **training_resources("pretrain"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "{params.launch} pretrain --variant {wildcards.variant} --init {input.init} --tokens {input.meta}"
        " --langs {params.langs} {params.masks} --out-dir {params.out_dir} --steps {params.steps}"
        " --batch-size {params.batch_size} --lr {params.lr} --warmup {params.warmup}"
        " --weight-decay {params.weight_decay} --adam-eps {params.adam_eps} --max-grad-norm {params.max_grad_norm}"
        " --seq-len-short {params.seq_len_short} --seq-len-long {params.seq_len_long}"
        " --long-fraction {params.long_fraction} --alpha {params.alpha} --mlm-probability {params.mlm_probability}"
        " --masked-update {params.masked_update} --checkpoint-every {params.checkpoint_every}"
        " --keep-checkpoints {params.keep_checkpoints} {params.clean} --eval-batches {params.eval_batches}"
        " --eval-batch-size {params.eval_batch_size} --eval-seq-len {params.eval_seq_len}"
        " --uc-layers {params.uc_layers} --uc-steps {params.uc_steps} --gc-every {params.gc_every}"
        " --gc-batch-size {params.gc_batch_size} --gc-langs {params.gc_langs} --seed {params.seed}"
        " --device {params.device} --threads {threads} > {log} 2>&1"


# Beyond the paper: a language's ticket exported as a smaller dense model (masked units removed).
rule export_ticket:
    input:
        "results/pretrain/{variant}/model",
    output:
        directory("results/pretrain/{variant}/export/{lang}"),
    log:
        "logs/pretrain/{variant}/export/{lang}.log",
    wildcard_constraints:
        variant="ticket-[a-z-]+",
    params:
        seq_len=TICKETS["flops_seq_len"],
        seed=config["seed"],
    resources:
        **rule_resources("export_ticket"),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m langtickets export-ticket --model {input} --masks {input}/masks.safetensors"
        " --lang {wildcards.lang} --seq-len {params.seq_len} --seed {params.seed} --out {output} > {log} 2>&1"
