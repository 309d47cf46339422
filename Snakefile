# langtickets: Wikipedia dumps -> sentences -> tokens -> tickets -> pretraining -> sparse fine-tuning
# -> evaluation -> analyses and figures. Stages live in workflow/rules/; target logic in common.smk.
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

sys.path.insert(0, f"{workflow.basedir}/src")
from langtickets.config_check import check_shell_safe, validation_message  # noqa: E402  (no torch)
from langtickets.errors import ConfigError  # noqa: E402

min_version("9.0")


# The embedded default runs when no --configfile is given; a given config stands alone (keys it leaves out
# take the schema's defaults, which are the papers' settings) rather than being merged into the demo's.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


# Defaults filled in from the schema; a violation is one line naming the config files, the key and the fix.
SCHEMA = f"{workflow.basedir}/config/schema/config.schema.yaml"
try:
    validate(config, SCHEMA)
except WorkflowError:
    raise ConfigError(validation_message(config, SCHEMA, workflow.configfiles)) from None
check_shell_safe(config, workflow.configfiles)


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/corpus.smk"
include: "workflow/rules/vocab.smk"
include: "workflow/rules/tickets.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/tasks.smk"
include: "workflow/rules/sft.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/subnetworks.smk"
include: "workflow/rules/headsub.smk"


rule all:
    input:
        all_targets(),
    default_target: True
