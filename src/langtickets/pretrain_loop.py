"""The pretraining loop behind :mod:`langtickets.pretrain` (kept apart so the workflow can read the variant
table without importing torch). See that module for the recipe; this one holds the moving parts."""

from __future__ import annotations

import json
import math
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm import tqdm

from langtickets import checkpoint as ckpt
from langtickets import interference as itf
from langtickets.errors import ConfigError, InputError
from langtickets.io import atomic_path, read_json, write_bytes, write_json
from langtickets.masks import MaskSwitch, TicketMasks, find_bert_layers
from langtickets.mlm import IGNORE_INDEX, mlm_batches
from langtickets.optim import FrozenUnits, build_optimizer, linear_schedule
from langtickets.parallel import uses_cpu
from langtickets.pretrain import PretrainConfig
from langtickets.sampling import LanguageSampler, SeqLenSchedule, step_batch
from langtickets.seeding import derive_seed, seed_everything
from langtickets.tokens import TokenShard, check_tokenizer, file_sha256

LOG_NAME = "train_log.partial.jsonl"
#: files of the init folder that are the model itself; everything else (tokenizer files) is copied along
MODEL_FILES = {"config.json", "model.safetensors", "arch.json", "masks.safetensors", "generation_config.json"}


# ---------------------------------------------------------------------------------------------------------
# Batches and evaluation


class MaskedLMLoss(nn.Module):
    """Summed MLM cross-entropy that runs the prediction head only at the masked positions.

    ``BertForMaskedLM.forward`` scores every position against the whole vocabulary and then ignores the 85%
    that carry no label; gathering the labelled positions first (as BERT's original pipeline did) gives the
    same loss for a fraction of the work. Wrapping the model in a module keeps data-parallel training
    (``accelerate``'s DDP wraps this module) and the model's own parameters unchanged.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        if not hasattr(model, "cls") or not hasattr(model, "base_model"):
            raise ConfigError(f"{type(model).__name__} is not a BERT masked-LM model (no 'cls' prediction head)")
        self.model = model

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        hidden = self.model.base_model(input_ids=input_ids, attention_mask=attention_mask,
                                       token_type_ids=token_type_ids).last_hidden_state  # (B, T, H)
        chosen = labels != IGNORE_INDEX
        logits = self.model.cls(hidden[chosen])  # (M, V) for the M labelled positions
        return F.cross_entropy(logits.float(), labels[chosen], reduction="sum")


def summed_mlm_loss(model: nn.Module, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Sum (not mean) of the cross-entropy over the batch's masked positions; ``model`` is a
    :class:`MaskedLMLoss` (possibly wrapped for data parallelism) or a BERT masked-LM model."""
    loss_module = model if not hasattr(model, "cls") else MaskedLMLoss(model)
    return loss_module(**batch)


@torch.no_grad()
def validation_perplexity(model: nn.Module, shards: Mapping[str, TokenShard], switch: MaskSwitch | None,
                          seq_len: int, batches: int, batch_size: int, seed: int, vocab_size: int,
                          prob: float) -> dict[str, Any]:
    """MLM perplexity on each language's validation stream (its ticket active), with fixed-seed masking."""
    model.eval()
    device = next(model.parameters()).device
    result = {}
    for lang, shard in shards.items():
        if len(shard.valid) == 0:  # e.g. a wiki of one article of one sentence: all of it went to training
            tqdm.write(f"warning: {shard.meta_path}: no validation tokens for '{lang}'; its perplexity is left "
                       "empty (more text or a larger tokenize.validation_fraction gives it one)", file=sys.stderr)
            result[lang] = {"loss": None, "perplexity": None, "masked_tokens": 0, "sequences": 0,
                            "reason": "no validation tokens"}
            continue
        if switch is not None:
            switch.set(lang)
        generator = torch.Generator().manual_seed(derive_seed(seed, "perplexity", lang))
        stream = mlm_batches(shard, seq_len, batch_size, generator, split="valid", vocab_size=vocab_size, prob=prob)
        total, count = 0.0, 0
        for _ in range(batches):
            batch = {name: tensor.to(device) for name, tensor in next(stream).items()}
            total += float(summed_mlm_loss(model, batch))
            count += int((batch["labels"] != IGNORE_INDEX).sum())
        loss = total / count if count else None
        result[lang] = {"loss": loss, "perplexity": math.exp(loss) if loss is not None else None,
                        "masked_tokens": count, "sequences": batches * batch_size}
    return result


# ---------------------------------------------------------------------------------------------------------
# Inputs


def open_shards(config: PretrainConfig, vocab_size: int) -> dict[str, TokenShard]:
    """Token shards by language, each checked against the init model's tokenizer and vocabulary."""
    shards = {}
    for lang, folder in zip(config.langs, config.tokens):
        shard = TokenShard.open(folder)
        if shard.meta.get("lang") not in (None, lang):
            raise InputError(shard.meta_path, f"holds tokens of '{shard.meta['lang']}', not '{lang}'",
                             "pass the --tokens folders in the order of --langs")
        if int(shard.meta["vocab_size"]) > vocab_size:
            raise InputError(shard.meta_path, f"vocabulary of {shard.meta['vocab_size']} exceeds the model's "
                             f"{vocab_size}", "initialise the model with the same tokenizer")
        if (config.init / "tokenizer.json").is_file():
            check_tokenizer(shard.meta, config.init)
        if len(shard.train) == 0:
            raise InputError(shard.meta_path, "the train stream is empty", "tokenize more text for this language")
        shards[lang] = shard
    return shards


def load_init(config: PretrainConfig) -> tuple[nn.Module, str]:
    """The initial model, checked to be of the variant's architecture; also its arch name."""
    from langtickets.model import load_model, read_arch

    name, arch = read_arch(config.init)
    if name != config.arch:
        raise InputError(config.init / "arch.json", f"is a '{name}' model but variant '{config.variant}' starts "
                         f"from the '{config.arch}' architecture", f"pass results/models/init/{config.arch}")
    longest = max(config.seq_len_short, config.seq_len_long, config.eval_seq_len or 0)
    if longest > arch.max_position:
        raise ConfigError(f"sequence length {longest} exceeds the model's {arch.max_position} positions; "
                          "shorten the sequence lengths or initialise a model with more positions")
    return load_model(config.init), name


def load_masks(config: PretrainConfig, model: nn.Module) -> TicketMasks | None:
    if config.masks is None:
        return None
    masks = TicketMasks.load(config.masks)
    masks.check_model(model)
    missing = [lang for lang in config.langs if lang not in masks.languages]
    if missing:
        raise InputError(config.masks, f"has no ticket for languages {missing}",
                         "search tickets for every pretraining language")
    return masks


# ---------------------------------------------------------------------------------------------------------
# The run


class Pretrainer:
    """One pretraining run: ``run()`` resumes from the newest checkpoint, trains, and writes the outputs."""

    def __init__(self, config: PretrainConfig):
        from accelerate import Accelerator

        self.config = config
        if config.threads > 0:
            torch.set_num_threads(config.threads)
        seed_everything(config.seed)
        # 'auto' on a machine without CUDA means CPU processes: accelerate must be told, or processes started
        # by torchrun/accelerate launch would each train alone instead of joining one gloo group.
        self.accelerator = Accelerator(cpu=uses_cpu(config.device))
        self.rank, self.world = self.accelerator.process_index, self.accelerator.num_processes
        if config.batch_size % self.world:
            raise ConfigError(f"--batch-size {config.batch_size} is not divisible by {self.world} processes")
        self.raw_model, self.arch_name = load_init(config)
        self.vocab_size = int(self.raw_model.config.vocab_size)
        self.shards = open_shards(config, self.vocab_size)
        self.sampler = LanguageSampler.from_counts({lang: len(s.train) for lang, s in self.shards.items()},
                                                   config.alpha, derive_seed(config.seed, "pretrain"))
        self.seq_len = SeqLenSchedule(config.steps, config.seq_len_short, config.seq_len_long, config.long_fraction)
        self.masks = load_masks(config, self.raw_model)
        self.switch = MaskSwitch(self.raw_model, self.masks) if self.masks is not None else None
        self.torch_optimizer = build_optimizer(self.raw_model, config.lr, config.weight_decay, config.betas,
                                               config.adam_eps)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.torch_optimizer,
                                                           linear_schedule(config.warmup, config.steps))
        self.model, self.optimizer = self.accelerator.prepare(MaskedLMLoss(self.raw_model), self.torch_optimizer)
        self.frozen = (FrozenUnits(self.raw_model, self.masks, self.torch_optimizer)
                       if self.masks is not None and config.masked_update == "frozen" else None)
        self._init_interference()

    @property
    def is_main(self) -> bool:
        return self.accelerator.is_main_process

    def _init_interference(self) -> None:
        config = self.config
        depth = len(find_bert_layers(self.raw_model))
        chosen = range(depth) if config.uc_layers is None else config.uc_layers
        self.layers = itf.check_layers(chosen, depth)
        self.layer_params = itf.layer_parameters(self.raw_model, self.layers)
        # Each process keeps uc (and computes gc) for its share of the layers, on its device: at the paper's
        # scale (103 languages x 16 BERT-base layers) the float32 sums are ~47 GB, 1/processes of it each.
        # Parameters are the same in every process after a step, so each sees the true update of its layers.
        self.owned = self.layers[self.rank :: self.world]
        self.owned_params = {layer: self.layer_params[layer] for layer in self.owned}
        sizes = {layer: sum(p.numel() for p in params) for layer, params in self.owned_params.items()}
        self.updates = itf.CumulativeUpdates(config.langs, sizes, device=self.accelerator.device)
        self.gc_langs = list(config.gc_langs or config.langs)
        self.records: dict[str, list] = {"uc_snapshots": [], "gc": [], "uc_at_gc": []}

    def _gathered(self, local: itf.Matrices) -> itf.Matrices:
        """Every process's per-layer matrices merged (each process computes those of the layers it keeps)."""
        if self.world == 1:
            return local
        from accelerate.utils import gather_object

        parts = gather_object([{layer: matrix.tolist() for layer, matrix in local.items()}])
        return {int(layer): torch.tensor(rows, dtype=torch.float64) for part in parts for layer, rows in part.items()}

    def _step_seed(self, kind: str, step: int, *keys: object) -> int:
        # No variant in the seed: every variant sees the same languages, windows and corruption at each step,
        # so dense and ticketed runs differ only in the model (a controlled comparison).
        return derive_seed(self.config.seed, "pretrain", kind, step, *keys)

    # -- one step --------------------------------------------------------------------------------------

    def train_step(self, step: int) -> dict[str, Any]:
        """Update the model with (1-based) ``step``'s batch; returns its log record."""
        config, lang, seq_len = self.config, self.sampler.language(step), self.seq_len(step)
        batch, masked = step_batch(self.shards[lang], seq_len, config.batch_size, self._step_seed("batch", step),
                                   self.vocab_size, config.mlm_probability, self.rank, self.world)
        if self.switch is not None:
            self.switch.set(lang)
        torch.manual_seed(self._step_seed("dropout", step, self.rank))
        self.model.train()
        batch = {name: tensor.to(self.accelerator.device) for name, tensor in batch.items()}
        # Sum over this process's masked tokens / (global masked tokens / processes): averaged over the
        # processes by data parallelism this is the mean over the global batch.
        loss = summed_mlm_loss(self.model, batch) * self.world / masked
        self.accelerator.backward(loss)
        if config.max_grad_norm > 0:
            self.accelerator.clip_grad_norm_(self.model.parameters(), config.max_grad_norm)
        self._apply_update(lang)
        lr = self.scheduler.get_last_lr()[0]
        self.scheduler.step()
        mean_loss = float(self.accelerator.reduce(loss.detach(), reduction="mean"))
        return {"step": step, "lang": lang, "loss": mean_loss, "seq_len": seq_len, "lr": lr,
                "tokens": config.batch_size * seq_len}

    def _apply_update(self, lang: str) -> None:
        """Optimiser step, keeping frozen units in place and adding ``delta_t`` to ``u`` of ``lang`` (Eq. 6)."""
        before = itf.layer_vectors(self.owned_params) if self.owned else {}
        frozen = self.frozen.snapshot(lang) if self.frozen is not None else None
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if frozen is not None:
            self.frozen.restore(frozen)
        if self.owned:
            after = itf.layer_vectors(self.owned_params)
            self.updates.add(lang, {layer: after[layer] - before[layer] for layer in self.owned})
        else:
            self.updates.add(lang, {})

    # -- interference ----------------------------------------------------------------------------------

    def measure(self, step: int) -> None:
        """Record what §3.3 asks for at ``step``: a uc snapshot and/or gc with uc for the stability plot."""
        config = self.config
        if step in config.uc_steps or step == config.steps:
            self.records["uc_snapshots"].append(self._uc_snapshot(step))
        if config.gc_every and step % config.gc_every == 0 and self.layers:
            local = (itf.gradient_cosines(self.gc_langs, lambda lang: self._gc_loss(lang, step), self.owned_params)
                     if self.owned else {})  # fmt: skip
            gc = self._gathered(local)
            index = [config.langs.index(lang) for lang in self.gc_langs]
            self.records["gc"].append({"step": step, "layers": itf.matrices_to_json(gc, self.gc_langs)})
            uc = self._gathered(self.updates.cosines(index))
            self.records["uc_at_gc"].append({"step": step, "layers": itf.matrices_to_json(uc, self.gc_langs)})

    def _uc_snapshot(self, step: int) -> dict[str, Any]:
        counts = {lang: int(n) for lang, n in zip(self.config.langs, self.updates.steps.tolist())}
        cosines = itf.matrices_to_json(self._gathered(self.updates.cosines()), self.config.langs)
        return {"step": step, "steps_per_language": counts, "layers": cosines}

    def _gc_loss(self, lang: str, step: int) -> torch.Tensor:
        """Mean MLM loss of a fixed-size batch of ``lang`` at the current parameters (no dropout, no update)."""
        config = self.config
        self.raw_model.eval()
        if self.switch is not None:
            self.switch.set(lang)
        generator = torch.Generator().manual_seed(self._step_seed("gc", step, lang))
        batch = next(mlm_batches(self.shards[lang], self.seq_len(step), config.gc_batch_size, generator,
                                 vocab_size=self.vocab_size, prob=config.mlm_probability))
        batch = {name: tensor.to(self.accelerator.device) for name, tensor in batch.items()}
        masked = int((batch["labels"] != IGNORE_INDEX).sum())
        return summed_mlm_loss(self.raw_model, batch) / masked

    # -- checkpoints -----------------------------------------------------------------------------------

    def save(self, step: int, log_bytes: int) -> None:
        """A checkpoint of ``step``: each process writes the uc sums of its layers, the main process the rest."""
        root = self.config.checkpoints
        staging = ckpt.staging_path(root, step)
        for layer, total in self.updates.sums.items():
            write_safetensors(staging / f"layer-{layer}.safetensors", {"sum": total.cpu().contiguous()})
        self.accelerator.wait_for_everyone()
        if self.is_main:
            tensors, rng_values = ckpt.rng_state()
            tensors["uc.steps"] = self.updates.steps
            extra = {f"uc/layer-{layer}.safetensors": staging / f"layer-{layer}.safetensors" for layer in self.layers}
            state = {"fingerprint": self._fingerprint(), "log_bytes": log_bytes, "rng": rng_values,
                     "interference": self.records, "world_size": self.world}
            optimizer = {"optimizer": self.torch_optimizer.state_dict(), "scheduler": self.scheduler.state_dict()}
            ckpt.save_checkpoint(root, self.raw_model, ckpt.Checkpoint(step, optimizer, tensors, state), extra)
            shutil.rmtree(staging, ignore_errors=True)
            ckpt.prune_checkpoints(root, self.config.keep_checkpoints)
            tqdm.write(f"checkpoint step {step} -> {ckpt.checkpoint_path(root, step)}", file=sys.stderr)
        self.accelerator.wait_for_everyone()

    def _fingerprint(self) -> dict[str, Any]:
        files = {"init": file_sha256(self.config.init / "model.safetensors")}
        if self.config.masks is not None:
            files["masks"] = file_sha256(self.config.masks)
        tokens = {lang: len(shard.train) for lang, shard in self.shards.items()}
        return {**self.config.fingerprint(), "files": files, "train_tokens": tokens}

    def resume(self) -> tuple[int, int]:
        """Load the newest valid checkpoint; returns (completed steps, train-log bytes to keep)."""
        root = self.config.checkpoints
        path = ckpt.latest_checkpoint(root)
        self.accelerator.wait_for_everyone()  # every process has chosen before the main one tidies up
        if self.is_main:
            ckpt.remove_partial(root)
        if path is None:
            return 0, 0
        expected = json.loads(json.dumps(self._fingerprint()))
        recorded = read_json(path / "state.json").get("fingerprint", {})
        if recorded != expected:
            diff = sorted(k for k in expected if recorded.get(k) != expected[k])
            raise ConfigError(f"checkpoint {path} was made with different settings ({', '.join(diff)}); delete "
                              f"{root} to start afresh or restore the settings to resume")
        found = ckpt.load_checkpoint(path, self.raw_model, self.accelerator.device)
        self.torch_optimizer.load_state_dict(found.optimizer["optimizer"])
        self.scheduler.load_state_dict(found.optimizer["scheduler"])
        self.updates.steps.copy_(found.tensors["uc.steps"])
        for layer, total in self.updates.sums.items():  # any process reads any layer: the count may change
            total.copy_(load_file(str(path / "uc" / f"layer-{layer}.safetensors"))["sum"].to(total.device))
        self.records = found.state["interference"]
        ckpt.set_rng_state(found.tensors, found.state["rng"])
        tqdm.write(f"resuming from {path} (step {found.step})", file=sys.stderr)
        return found.step, int(found.state["log_bytes"])

    # -- the loop and the outputs ----------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Train from the newest checkpoint to the last step, then write every output; returns summary fields."""
        config = self.config
        start, log_bytes = self.resume()
        log_path = config.checkpoints / LOG_NAME
        log = self._open_log(log_path, log_bytes) if self.is_main else None
        try:
            bar = tqdm(range(start + 1, config.steps + 1), initial=start, total=config.steps, unit="step",
                       desc=f"pretrain {config.variant}", file=sys.stderr, disable=not self.is_main, mininterval=2)
            for step in bar:
                record = self.train_step(step)
                if log is not None:
                    log.write(json.dumps(record, sort_keys=True) + "\n")
                bar.set_postfix(lang=record["lang"], loss=f"{record['loss']:.3f}", refresh=False)
                self.measure(step)
                if step % config.checkpoint_every == 0 or step == config.steps:
                    if log is not None:
                        log.flush()
                    self.save(step, log.tell() if log is not None else 0)
        finally:
            if log is not None:
                log.close()
        if self.is_main:
            return self.write_outputs(log_path)
        return {}

    @staticmethod
    def _open_log(path: Path, keep_bytes: int):
        """The partial train log, cut back to what the resumed checkpoint had written."""
        path.parent.mkdir(parents=True, exist_ok=True)
        if keep_bytes and (not path.is_file() or path.stat().st_size < keep_bytes):
            raise InputError(path, f"holds fewer than the {keep_bytes} bytes the checkpoint recorded",
                             f"delete {path.parent} to restart the run from step 0")
        with open(path, "ab") as handle:
            handle.truncate(keep_bytes)
        return open(path, "a", encoding="utf-8", newline="\n")

    def write_outputs(self, log_path: Path) -> dict[str, Any]:
        config = self.config
        eval_len = config.eval_seq_len or config.seq_len_long
        ppl = validation_perplexity(self.raw_model, self.shards, self.switch, eval_len, config.eval_batches,
                                    config.eval_batch_size, config.seed, self.vocab_size, config.mlm_probability)
        self.save_model(config.out_dir / "model")
        write_bytes(config.out_dir / "train_log.jsonl", log_path.read_bytes())
        write_json(config.out_dir / "perplexity.json", {
            "variant": config.variant, "seq_len": eval_len, "batches": config.eval_batches,
            "batch_size": config.eval_batch_size, "mlm_probability": config.mlm_probability,
            "ticket": config.masks is not None, "languages": ppl,
        })
        self.write_interference(config.out_dir / "interference")
        losses = [v["loss"] for v in ppl.values() if v["loss"] is not None]
        mean = sum(losses) / len(losses) if losses else float("nan")
        return {"variant": config.variant, "steps": config.steps, "processes": self.world,
                "mean_valid_ppl": f"{math.exp(mean):.2f}" if losses else "n/a"}

    def save_model(self, out: Path) -> None:
        """The trained model in the Hugging Face layout, with tokenizer files, arch.json and the masks."""
        config = self.config
        with atomic_path(out) as tmp:
            tmp.mkdir()
            self.raw_model.save_pretrained(tmp)
            for path in sorted(config.init.iterdir()):
                if path.is_file() and path.name not in MODEL_FILES:
                    shutil.copyfile(path, tmp / path.name)
            from langtickets.model import ArchConfig

            arch = ArchConfig.from_bert_config(self.raw_model.config)
            write_json(tmp / "arch.json", {"name": self.arch_name, "variant": config.variant, "seed": config.seed,
                                           "steps": config.steps, "arch": arch.to_dict()})
            if config.masks is not None:
                shutil.copyfile(config.masks, tmp / "masks.safetensors")

    def write_interference(self, out: Path) -> None:
        config = self.config
        common = {"variant": config.variant, "layers": self.layers}
        write_json(out / "uc.json", {**common, "languages": list(config.langs), "metric": "uc (Eq. 7)",
                                     "snapshots": self.records["uc_snapshots"]})
        write_json(out / "gc.json", {**common, "languages": self.gc_langs, "metric": "gc (Eq. 2)",
                                     "every": config.gc_every, "batch_size": config.gc_batch_size,
                                     "records": self.records["gc"]})
        write_json(out / "stability.json", stability_report(self.records, config.gc_every, self.gc_langs))


def write_safetensors(path: Path, tensors: Mapping[str, torch.Tensor]) -> None:
    """``tensors`` to ``path`` atomically (the folder is created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        save_file(dict(tensors), str(tmp))


def stability_report(records: Mapping[str, Sequence[Mapping]], every: int, langs: Sequence[str]) -> dict[str, Any]:
    """Figure 2's data: relative change of gc and of uc between measurements ``every`` steps apart."""
    out: dict[str, Any] = {
        "interval_steps": every, "languages": list(langs),
        "definition": "mean over layers and language pairs of |m_t - m_(t-K)| / |m_(t-K)|, K = interval_steps; "
                      "pairs undefined at either time or with m_(t-K) = 0 are left out",
    }
    for name, key in (("gc", "gc"), ("uc", "uc_at_gc")):
        steps = [r["step"] for r in records[key]]
        series = itf.stability_series(steps, [itf.matrices_from_json(r["layers"]) for r in records[key]])
        values = [v for v in series["relative_change"] if v is not None]
        out[name] = {**series, "mean": sum(values) / len(values) if values else None}
    return out
