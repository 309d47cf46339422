# langtickets: Wikipedia dumps -> sentences -> tokens -> tickets -> pretraining -> sparse fine-tuning
# -> evaluation -> analyses and figures. Stages live in workflow/rules/; target logic in common.smk.
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "config/schema/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/corpus.smk"
include: "workflow/rules/vocab.smk"
include: "workflow/rules/tickets.smk"
include: "workflow/rules/pretrain.smk"


rule all:
    input:
        all_targets(),
    default_target: True
