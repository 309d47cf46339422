"""Composable sparse fine-tuning by Lottery-Ticket SFT (Ansell et al., "Composable Sparse Fine-Tuning for
Cross-Lingual Transfer").

The value object is :class:`SparseFineTuning` (apply / revert / compose / save / load); :func:`lt_sft`
learns one, :func:`rand_sft`, :func:`bitfit` and :func:`full_finetune` are the baselines, and
:mod:`langtickets.sft.transfer` composes language and task SFTs for zero-shot transfer.
"""

from langtickets.sft.lt_sft import bitfit, full_finetune, lt_sft, rand_sft
from langtickets.sft.params import (
    ParameterPlan,
    base_fingerprint,
    language_sft_plan,
    task_sft_plan,
    untie_output_embeddings,
)
from langtickets.sft.selection import (
    PAPER_LANGUAGE_K,
    PAPER_REDUCTION_FACTORS,
    k_for_reduction_factor,
    random_selection,
    resolve_k,
    top_k_changed,
)
from langtickets.sft.sparse import SftInfo, SparseDiff, SparseFineTuning, applied, applied_sfts, compose
from langtickets.sft.training import LtSftConfig, training_steps
from langtickets.sft.transfer import SourceSwitcher, train_task_sft, train_task_sft_multisource, zero_shot

__all__ = [
    "PAPER_LANGUAGE_K",
    "PAPER_REDUCTION_FACTORS",
    "LtSftConfig",
    "ParameterPlan",
    "SftInfo",
    "SourceSwitcher",
    "SparseDiff",
    "SparseFineTuning",
    "applied",
    "applied_sfts",
    "base_fingerprint",
    "bitfit",
    "compose",
    "full_finetune",
    "k_for_reduction_factor",
    "language_sft_plan",
    "lt_sft",
    "rand_sft",
    "random_selection",
    "resolve_k",
    "task_sft_plan",
    "top_k_changed",
    "train_task_sft",
    "train_task_sft_multisource",
    "training_steps",
    "untie_output_embeddings",
    "zero_shot",
]
