"""What IMP trains a subnetwork on: masked language modelling on a language's corpus, or a downstream task
(NER, NLI; POS and DP work the same way) on a language's data (IMP paper, sections 4.2-4.3).

An objective hands out a fresh copy of the pretrained model (``fresh_model(seed)``: theta0, plus for a task
a new head whose initial weights depend only on the seed, so rewinding also resets the head), and trains a
model in place (``fit(model, seed)``), returning a record whose ``score`` is the *peak* development
performance over training -- the paper's "maximum evaluation performance a at iteration i" (section 3) --
with the state of that peak restored. Both objectives use the project's fine-tuning loop
(:func:`langtickets.tasks.finetune.train`: AdamW, linear warm-up and decay, gradient clipping, dev-based
checkpoint choice), so a mask worn with :func:`langtickets.analysis.weight_masks.wearing` is enforced the
same way in every round.

* **MLM**: sequences ``[CLS] window [SEP]`` from the language's token shard, BERT's 80/10/10 corruption;
  one example per update slot (``updates x batch_size`` examples, each drawn from its own seeded
  generator, so one pass is the paper's single epoch). Score: perplexity on a fixed sample of the
  validation stream (the same sample for every model of a run, so scores compare); lower is better.
* **tasks**: train split for training, dev split for the peak; the metric is the task's report metric
  (NER F1, NLI accuracy, ...); higher is better.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from langtickets.errors import ConfigError, InputError
from langtickets.seeding import derive_seed
from langtickets.tasks.finetune import TrainConfig, train
from langtickets.tasks.heads import HeadOutput

#: tasks IMP can prune for (the paper's MLM, NER, NLI; POS and DP through the same task path)
IMP_TASKS = ("mlm", "ner", "nli", "pos", "dep")


@dataclass(frozen=True)
class MlmData:
    """Sequence length, corruption rate and the validation sample of the MLM objective (Table 7: 512)."""

    seq_len: int = 512
    probability: float = 0.15
    eval_batches: int = 16
    eval_batch_size: int = 16

    def __post_init__(self) -> None:
        if self.seq_len < 3 or not 0 < self.probability < 1 or min(self.eval_batches, self.eval_batch_size) < 1:
            raise ConfigError("MLM needs seq_len >= 3, 0 < probability < 1 and positive eval batches / batch size")


@dataclass(frozen=True)
class ObjectiveSettings:
    """Everything an objective needs besides its data: recipe, lengths, head options, device, base seed."""

    train: TrainConfig = field(default_factory=TrainConfig)
    mlm: MlmData = field(default_factory=MlmData)
    max_length: int = 128
    head_options: Mapping[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    seed: int = 0

    @property
    def torch_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    def describe(self) -> dict[str, Any]:
        return {"train": self.train.to_dict(), "mlm": vars(self.mlm).copy(), "max_length": self.max_length,
                "head_options": dict(self.head_options)}  # fmt: skip


def run_seed(base: int, task: str, data_lang: str, run: int) -> int:
    """Seed of run ``run`` on ``data_lang``'s data: the same for the dense model, every IMP level, the random
    subnetwork and every source's transferred subnetwork, so they differ only in the mask."""
    return derive_seed(base, "imp", task, data_lang, run)


# ---------------------------------------------------------------------------------------------------------
# MLM


class MlmExamples(Sequence):
    """``count`` MLM training examples drawn lazily: example ``i`` comes from its own seeded generator, so
    the set is fixed by the seed without being held in memory (the paper's epoch is 1.6M sequences)."""

    def __init__(self, shard: Any, data: MlmData, vocab_size: int, count: int, seed: int):
        self.shard, self.data, self.vocab_size, self.count, self.seed = shard, data, vocab_size, count, seed

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        from langtickets.mlm import CLS_ID, SEP_ID, SPECIAL_IDS, mask_tokens, random_windows

        generator = torch.Generator().manual_seed(derive_seed(self.seed, "mlm-example", index))
        window, valid = random_windows(self.shard.train, self.data.seq_len - 2, 1, generator)
        ids = [CLS_ID, *window[0][valid[0]].tolist(), SEP_ID]
        corrupted, labels = mask_tokens(torch.tensor([ids]), self.vocab_size, SPECIAL_IDS, generator,
                                        self.data.probability)  # fmt: skip
        return {"input_ids": corrupted[0].tolist(), "attention_mask": [1] * len(ids),
                "token_type_ids": [0] * len(ids), "labels": labels[0].tolist()}  # fmt: skip


class MlmLossModel(nn.Module):
    """A masked-LM model seen by the fine-tuning loop: ``model(batch).loss`` is the mean cross-entropy over
    the batch's masked positions (the head runs only there, see ``summed_mlm_loss``)."""

    def __init__(self, mlm: nn.Module):
        super().__init__()
        self.mlm = mlm

    def forward(self, batch: Mapping[str, torch.Tensor]) -> HeadOutput:
        from langtickets.mlm import IGNORE_INDEX
        from langtickets.pretrain_loop import summed_mlm_loss

        inputs = {key: batch[key] for key in ("input_ids", "attention_mask", "token_type_ids", "labels")}
        count = (batch["labels"] != IGNORE_INDEX).sum().clamp(min=1)
        loss = summed_mlm_loss(self.mlm, inputs) / count
        return HeadOutput(loss, loss.detach())


class MlmObjective:
    """MLM on one language's corpus, starting from a pretrained masked-LM model (theta0)."""

    task, metric, higher_is_better = "mlm", "perplexity", False

    def __init__(self, pretrained: nn.Module, shard: Any, lang: str, settings: ObjectiveSettings):
        if not settings.train.updates:
            raise ConfigError("the MLM objective needs a fixed number of updates (--updates)")
        if settings.mlm.seq_len > pretrained.config.max_position_embeddings:
            raise ConfigError(f"MLM sequence length {settings.mlm.seq_len} exceeds the model's "
                              f"{pretrained.config.max_position_embeddings} positions; lower it")  # fmt: skip
        self.pretrained, self.shard, self.lang, self.settings = pretrained, shard, lang, settings
        self.vocab_size = int(pretrained.config.vocab_size)

    def fresh_model(self, seed: int) -> nn.Module:
        return copy.deepcopy(self.pretrained).to(self.settings.torch_device)

    def perplexity(self, model: nn.Module) -> float:
        """Perplexity on the fixed validation sample (the same masking for every model of a run)."""
        from langtickets.pretrain_loop import validation_perplexity

        data = self.settings.mlm
        result = validation_perplexity(model, {self.lang: self.shard}, None, data.seq_len, data.eval_batches,
                                       data.eval_batch_size, derive_seed(self.settings.seed, "imp-eval"),
                                       self.vocab_size, data.probability)[self.lang]  # fmt: skip
        if result["perplexity"] is None:
            raise InputError(self.shard.meta_path, "the validation stream has no maskable tokens",
                             "tokenize more text or raise the validation fraction")  # fmt: skip
        return float(result["perplexity"])

    def fit(self, model: nn.Module, seed: int) -> dict[str, Any]:
        config = self.settings.train
        examples = MlmExamples(self.shard, self.settings.mlm, self.vocab_size, config.updates * config.batch_size,
                               derive_seed(seed, "mlm-data"))  # fmt: skip
        result = train(MlmLossModel(model), examples, config, seed=seed, pad_token_id=0,
                       dev_score=lambda: -self.perplexity(model), device=self.settings.torch_device,
                       desc=f"mlm {self.lang}")  # fmt: skip
        return _record(result, sign=-1.0)


def _record(result: Any, sign: float) -> dict[str, Any]:
    """Score (the peak dev value, in the metric's own units), the update it was reached and updates run."""
    score = sign * max(value for _, value in result.dev_curve)
    return {"score": round(score, 6), "selected_update": result.selected_update, "updates": result.updates}


# ---------------------------------------------------------------------------------------------------------
# Downstream tasks


class TaskObjective:
    """A downstream task on one language's train/dev splits, starting from a pretrained encoder."""

    higher_is_better = True

    def __init__(self, pretrained: Any, task: str, lang: str, spec: Any, settings: ObjectiveSettings):
        from langtickets.tasks.evaluate import SELECTION_METRIC, featurize, task_labels
        from langtickets.tasks.protocols import check_length, read_split

        if "dev" not in spec.splits:
            raise ConfigError(f"{spec.name or 'the dataset'} has no dev split; IMP scores the peak dev performance")
        check_length(pretrained.encoder, settings.max_length)
        records = {split: read_split(spec, split) for split in ("train", "dev")}
        self.labels = task_labels(task, records["train"])
        self.data = {split: featurize(task, pretrained.tokenizer, rows, self.labels, settings.max_length,
                                      where=spec.source(split)) for split, rows in records.items()}  # fmt: skip
        self.pretrained, self.task, self.lang, self.settings = pretrained, task, lang, settings
        self.metric = SELECTION_METRIC[task]

    def fresh_model(self, seed: int) -> nn.Module:
        from langtickets.tasks.encoders import new_task_model

        model = new_task_model(self.pretrained.fresh_encoder(), self.task, self.labels, seed,
                               dict(self.settings.head_options))  # fmt: skip
        return model.to(self.settings.torch_device)

    def dev_score(self, model: nn.Module) -> float:
        from langtickets.tasks.evaluate import evaluate

        return evaluate(model, self.data["dev"], self.labels, pad_token_id=self.pretrained.tokenizer.pad_token_id,
                        batch_size=self.settings.train.eval_batch_size, device=self.settings.torch_device)["score"]

    def fit(self, model: nn.Module, seed: int) -> dict[str, Any]:
        result = train(model, self.data["train"].features, self.settings.train, seed=seed,
                       pad_token_id=self.pretrained.tokenizer.pad_token_id, dev_score=lambda: self.dev_score(model),
                       device=self.settings.torch_device, desc=f"{self.task} {self.lang}")  # fmt: skip
        return _record(result, sign=1.0)


# ---------------------------------------------------------------------------------------------------------
# Loading


def load_mlm_objectives(model_dir: str | Path, tokens: Mapping[str, str | Path],
                        settings: ObjectiveSettings) -> dict[str, MlmObjective]:  # fmt: skip
    """One MLM objective per language, sharing one loaded model; shards are checked against its tokenizer."""
    from langtickets.model import load_model
    from langtickets.tokens import TokenShard, check_tokenizer

    pretrained = load_model(model_dir)
    objectives = {}
    for lang, folder in tokens.items():
        shard = TokenShard.open(folder)
        if (Path(model_dir) / "tokenizer.json").is_file():
            check_tokenizer(shard, model_dir)
        if len(shard.train) == 0:
            raise InputError(shard.meta_path, "the train stream is empty", "tokenize more text for this language")
        objectives[lang] = MlmObjective(pretrained, shard, lang, settings)
    return objectives


def load_task_objectives(model_dir: str | Path, task: str, specs: Mapping[str, Any],
                         settings: ObjectiveSettings) -> dict[str, TaskObjective]:  # fmt: skip
    """One task objective per language (``specs``: language -> DatasetSpec), sharing one loaded encoder."""
    from langtickets.tasks.encoders import load_pretrained

    pretrained = load_pretrained(model_dir)
    if pretrained.masks is not None:
        raise InputError(model_dir, "is a ticketed model; IMP starts from a dense pretrained model",
                         "set subnetworks.imp.model to a dense variant")  # fmt: skip
    return {lang: TaskObjective(pretrained, task, lang, spec, settings) for lang, spec in specs.items()}
