"""Parallel sentence retrieval per layer with the ratio-margin score (IMP paper, section 5 and Appendix E).

Every language's sentences are encoded by the model (a ticketed model wearing *that language's* ticket),
each layer's hidden states are mean-pooled over the sentence's tokens (special tokens included, padding
excluded), and for every ordered pair of languages (A, B) and every layer, sentence ``i`` of A retrieves
the sentence of B with the highest margin score (Artetxe & Schwenk, 2019, as used in the IMP paper):

    score(x, y) = cos(x, y) / ( sum_{z in N_k(x)} cos(x, z) / 2k + sum_{z in N_k(y)} cos(y, z) / 2k )

where ``N_k(x)`` are the ``k`` nearest neighbours of ``x`` among B's sentences and ``N_k(y)`` those of
``y`` among A's. Retrieval is correct when the best (top-1) or one of the ``t`` best (top-t) candidates is
line ``i`` of B. Layer 0 is the embedding output; layer ``l`` the output of transformer layer ``l``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from langtickets.analysis.common import finite_or_none, matrix_to_json
from langtickets.errors import ConfigError, InputError
from langtickets.io import write_json


def cosine_matrix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Cosines between the rows of ``x`` ``(n, d)`` and of ``y`` ``(m, d)``; a zero row has cosine 0."""
    def unit(a: np.ndarray) -> np.ndarray:
        norms = np.linalg.norm(a, axis=1, keepdims=True)
        return a / np.where(norms > 0, norms, 1.0)

    return unit(np.asarray(x, dtype=np.float64)) @ unit(np.asarray(y, dtype=np.float64)).T


def margin_scores(x: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """Ratio-margin scores ``(n, m)`` between source rows ``x`` and target rows ``y`` (Appendix E).

    ``k`` is capped at the number of candidates on each side.
    """
    cos = cosine_matrix(x, y)
    kx, ky = min(k, cos.shape[1]), min(k, cos.shape[0])
    # mean cosine of each source to its kx nearest targets, and of each target to its ky nearest sources
    near_x = np.sort(cos, axis=1)[:, -kx:].mean(axis=1)
    near_y = np.sort(cos, axis=0)[-ky:, :].mean(axis=0)
    return cos / ((near_x[:, None] + near_y[None, :]) / 2.0)


def retrieval_accuracy(scores: np.ndarray, top: int = 1) -> float:
    """Share of rows ``i`` whose ``top`` highest-scoring columns include column ``i`` (ties: lower index first)."""
    n = scores.shape[0]
    if scores.shape[1] < n:
        raise ValueError(f"{scores.shape[1]} candidates for {n} queries: every query needs its own line")
    order = np.argsort(-scores, axis=1, kind="stable")[:, :top]
    return float(np.mean([i in order[i] for i in range(n)]))


def layer_accuracies(embeddings: Mapping[str, Sequence[np.ndarray]], k: int, tops: Sequence[int]) -> dict[str, Any]:
    """``{layer: {"top{t}": {"matrix": [A][B] accuracy (diagonal null), "mean": over ordered pairs}}}``.

    ``embeddings[lang][layer]`` is ``(sentences, hidden)``; every language has the same layers.
    """
    langs = list(embeddings)
    layers = len(next(iter(embeddings.values())))
    out: dict[str, Any] = {}
    for layer in range(layers):
        matrices = {t: np.full((len(langs), len(langs)), np.nan) for t in tops}
        for a, source in enumerate(langs):
            for b, target in enumerate(langs):
                if a == b:
                    continue
                scores = margin_scores(embeddings[source][layer], embeddings[target][layer], k)
                for t in tops:
                    matrices[t][a, b] = retrieval_accuracy(scores, t)
        out[str(layer)] = {f"top{t}": {"matrix": matrix_to_json(m), "mean": _offdiag_mean(m)} for t, m in matrices.items()}
    return out


def _offdiag_mean(matrix: np.ndarray) -> float | None:
    values = matrix[~np.eye(len(matrix), dtype=bool)]
    values = values[np.isfinite(values)]
    return finite_or_none(values.mean()) if values.size else None


def read_parallel(paths: Mapping[str, Path], max_sentences: int = 0) -> dict[str, list[str]]:
    """``{lang: lines}`` with the same number of lines everywhere (line ``i`` is one meaning in all files).

    ``max_sentences`` > 0 keeps the first that many lines.
    """
    texts = {}
    for lang, path in paths.items():
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            raise InputError(path, "parallel file not found", "check analysis.retrieval.parallel_pattern") from None
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                raise InputError(path, "empty line in a parallel file", "give one sentence per line", line=number)
        texts[lang] = lines[:max_sentences] if max_sentences > 0 else lines
    counts = {lang: len(lines) for lang, lines in texts.items()}
    if len(set(counts.values())) != 1:
        first = next(iter(paths))
        odd = next(lang for lang in counts if counts[lang] != counts[first])
        raise InputError(paths[odd], f"{counts[odd]} sentences where {paths[first]} has {counts[first]}",
                         "parallel files must align line by line")
    if next(iter(counts.values())) < 2:
        raise InputError(next(iter(paths.values())), "fewer than 2 parallel sentences", "give more sentences")
    return texts


def mean_pooled_layers(model: Any, tokenizer: Any, sentences: Sequence[str], batch_size: int, max_length: int,
                       device: Any) -> list[np.ndarray]:
    """Mean-pooled hidden states of every layer (embeddings first): a list of ``(sentences, hidden)`` arrays."""
    import torch

    per_layer: list[list[np.ndarray]] = []
    with torch.no_grad():
        for start in range(0, len(sentences), batch_size):
            batch = tokenizer(list(sentences[start : start + batch_size]), padding=True, truncation=True,
                              max_length=max_length, return_tensors="pt").to(device)
            states = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                           output_hidden_states=True).hidden_states
            weights = batch["attention_mask"].unsqueeze(-1).to(states[0].dtype)  # (B, T, 1)
            pooled = [((h * weights).sum(1) / weights.sum(1)).double().cpu().numpy() for h in states]
            for layer, array in enumerate(pooled):
                if len(per_layer) <= layer:
                    per_layer.append([])
                per_layer[layer].append(array)
    return [np.concatenate(parts) for parts in per_layer]


def encode_languages(model_dir: Path, texts: Mapping[str, Sequence[str]], batch_size: int, max_length: int,
                     device: str) -> tuple[dict[str, list[np.ndarray]], bool]:
    """Embeddings per language and layer, each language through its own ticket when the model has masks.

    Returns ``(embeddings, ticketed)``.
    """
    from tqdm import tqdm

    from langtickets.masks import MaskSwitch
    from langtickets.tasks.encoders import load_pretrained
    from langtickets.tickets import resolve_device

    pretrained = load_pretrained(model_dir)
    target = resolve_device(device)
    model = pretrained.encoder.to(target).eval()
    switch = MaskSwitch(model, pretrained.masks) if pretrained.masks is not None else None
    out = {}
    try:
        for lang in tqdm(list(texts), desc="encode", unit="lang"):
            if switch is not None:
                switch.set(lang)  # a language without a ticket is a ConfigError naming the masks file
            out[lang] = mean_pooled_layers(model, pretrained.tokenizer, texts[lang], batch_size, max_length, target)
    finally:
        if switch is not None:
            switch.remove()
    return out, switch is not None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="langtickets analysis-retrieval", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="results/pretrain/VARIANT/model")
    parser.add_argument("--variant", required=True, help="name recorded in the output")
    parser.add_argument("--langs", nargs="+", required=True)
    parser.add_argument("--parallel", type=Path, nargs="+", required=True, help="one file per --langs, aligned by line")
    parser.add_argument("--k", type=int, default=4, help="nearest neighbours in the margin")
    parser.add_argument("--top", type=int, nargs="+", default=[1, 5], help="top-t accuracies to report")
    parser.add_argument("--max-sentences", type=int, default=0, help="first N lines (0 = all)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    import torch

    from langtickets.cli import summary

    args = _parser().parse_args(argv)
    if len(args.langs) != len(args.parallel) or len(set(args.langs)) < 2:
        raise ConfigError("give 2+ distinct --langs and one --parallel file per language, in the same order")
    if args.k < 1 or min(args.top) < 1:
        raise ConfigError("--k and --top must be >= 1")
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    texts = read_parallel(dict(zip(args.langs, args.parallel)), args.max_sentences)
    embeddings, ticketed = encode_languages(args.model, texts, args.batch_size, args.max_length, args.device)
    layers = layer_accuracies(embeddings, args.k, sorted(set(args.top)))
    sentences = len(next(iter(texts.values())))
    write_json(args.out, {"variant": args.variant, "languages": list(texts), "sentences": sentences, "k": args.k,
                          "tops": sorted(set(args.top)), "ticketed": ticketed, "chance_top1": 1.0 / sentences,
                          "layers": layers})
    first = f"top{min(args.top)}"
    best = max(layers, key=lambda layer: layers[layer][first]["mean"] or 0.0)
    summary("analysis-retrieval", started, variant=args.variant, sentences=sentences, best_layer=best,
            **{first: f"{layers[best][first]['mean'] or 0.0:.3f}"})
    return 0
