"""Sentence splitters per language: Moses (default), Stanza and Trankit.

Multilingual Lottery Tickets, Section 4.1: Stanza for Thai, Trankit for Hebrew, Armenian and Arabic (its
Arabic model also for azb, ka, my, ne, new, pnb), Moses for every other language.

Moses: sacremoses' ``MosesPunctNormalizer``, then the ``sentence-splitter`` package (the Moses
``split-sentences.perl`` algorithm with non-breaking prefixes). Prefix lists come from sentence-splitter
when it ships one for the language, else from sacremoses (handed to sentence-splitter as a prefix file),
else none ("generic": only the language-independent rules). The Moses rules break only after ``. ? !``
followed by a space and an upper-case or caseless letter, so scripts with their own terminal marks would
never be split; before the Moses rules we therefore also break after ``。！？｡`` (CJK, no space needed),
``। ॥`` (Indic dandas), ``۔ ؟`` (Urdu full stop, Arabic question mark), ``։`` (Armenian), ``።``
(Ethiopic), ``။`` (Myanmar) and ``។`` (Khmer), together with any closing quotes or brackets after them,
except before a Japanese closing quote 「...。」 where the sentence goes on. Thai has no terminal mark: under
Moses a Thai paragraph stays one line (Stanza is the splitter for Thai).

Stanza and Trankit are imported only when used and never download anything here: their models must be in
place (``envs/stanza.post-deploy.sh``, ``envs/trankit.post-deploy.sh``); a missing package or model raises
:class:`SplitterUnavailable`.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

#: break after these (and closing quotes/brackets), see the module docstring
SCRIPT_TERMINALS = "。！？｡।॥۔؟։።။។"
CLOSERS = "\"'”’»)）]】〕〉》"
TERMINAL_RE = re.compile(f"([{SCRIPT_TERMINALS}]+[{re.escape(CLOSERS)}]*)(?![」』{SCRIPT_TERMINALS}])\\s*(?=\\S)")
#: Trankit's model per language code (the paper's Arabic model stands in where Trankit has none)
TRANKIT_MODELS = {
    "ar": "arabic", "he": "hebrew", "hy": "armenian", "fa": "persian", "hi": "hindi", "ur": "urdu",
    "ta": "tamil", "te": "telugu", "mr": "marathi", "ko": "korean", "ja": "japanese", "zh": "chinese",
    "vi": "vietnamese", "id": "indonesian", "tr": "turkish", "el": "greek", "ru": "russian", "uk": "ukrainian",
    "azb": "arabic", "ka": "arabic", "my": "arabic", "ne": "arabic", "new": "arabic", "pnb": "arabic",
}
TRANKIT_CACHE_ENV = "LANGTICKETS_TRANKIT_CACHE"


class SplitterUnavailable(Exception):
    """A splitter's package or model is not installed here (the caller may fall back to Moses)."""


class Splitter(Protocol):
    name: str
    info: dict

    def split(self, text: str) -> list[str]:
        """Sentences of one document whose paragraphs are separated by newlines."""


def base_code(code: str) -> str:
    """The ISO part of a table code (``zh_yue`` -> ``zh``)."""
    return code.split("_", 1)[0]


def _splitter_prefix_file(code: str) -> Path | None:
    import sentence_splitter

    path = Path(sentence_splitter.__file__).parent / "non_breaking_prefixes" / f"{code}.txt"
    return path if path.is_file() else None


def prefix_source(code: str) -> str:
    """Where ``code``'s non-breaking prefixes come from: ``sentence-splitter:xx``, ``sacremoses:xx`` or ``generic``."""
    from sacremoses.corpus import NonbreakingPrefixes

    if re.fullmatch(r"[a-z]{2}", code) and _splitter_prefix_file(code):
        return f"sentence-splitter:{code}"
    # NonbreakingPrefixes.words() silently returns English for unknown codes, so ask first.
    if code in NonbreakingPrefixes().available_langs.values():
        return f"sacremoses:{code}"
    return "generic"


def _sentence_splitter(code: str, source: str):
    """A ``SentenceSplitter`` using the prefixes named by ``source`` (a temporary file for sacremoses/generic)."""
    from sacremoses.corpus import NonbreakingPrefixes
    from sentence_splitter import SentenceSplitter

    if source.startswith("sentence-splitter:"):
        return SentenceSplitter(language=code)
    words = list(NonbreakingPrefixes().words(code)) if source.startswith("sacremoses:") else []
    with tempfile.TemporaryDirectory(prefix="langtickets-prefixes-") as folder:
        path = Path(folder) / "prefixes.txt"
        path.write_text("".join(f"{word}\n" for word in words), encoding="utf-8")
        # With an explicit prefix file the language code is only checked for form (two letters).
        return SentenceSplitter(language="xx", non_breaking_prefix_file=str(path))


def break_script_terminals(paragraph: str) -> list[str]:
    """Cut a paragraph after script-specific sentence terminals (see SCRIPT_TERMINALS)."""
    return TERMINAL_RE.sub("\\1\n", paragraph).split("\n")


class MosesSplitter:
    """Moses-style splitting: punctuation normalisation, script terminals, then sentence-splitter."""

    name = "moses"

    def __init__(self, code: str):
        from sacremoses import MosesPunctNormalizer

        code = base_code(code)
        source = prefix_source(code)
        self.normalizer = MosesPunctNormalizer(lang=code)
        self.splitter = _sentence_splitter(code, source)
        self.info = {"prefix_source": source}

    def split(self, text: str) -> list[str]:
        sentences = []
        for paragraph in self.normalizer.normalize(text).split("\n"):
            for piece in break_script_terminals(paragraph):
                if piece.strip():
                    sentences.extend(s.strip() for s in self.splitter.split(piece.strip()) if s.strip())
        return sentences


def _one_line(sentences) -> list[str]:
    return [" ".join(sentence.split()) for sentence in sentences if sentence and sentence.strip()]


class StanzaSplitter:
    """Stanza's neural tokenizer (``tokenize`` processor only), models from ``model_dir`` or $STANZA_RESOURCES_DIR."""

    name = "stanza"

    def __init__(self, code: str, model_dir: str | None = None, use_gpu: bool = False):
        try:
            import stanza
        except ImportError as error:
            raise SplitterUnavailable(f"the stanza package is not installed ({error})") from None
        folder = model_dir or os.environ.get("STANZA_RESOURCES_DIR") or str(Path.home() / "stanza_resources")
        try:
            self.pipeline = stanza.Pipeline(lang=base_code(code), processors="tokenize", dir=folder,
                                            download_method=None, use_gpu=use_gpu, logging_level="WARN")
        except Exception as error:  # stanza raises several types for a missing model or resources.json
            raise SplitterUnavailable(f"no stanza tokenize model for '{code}' in {folder} ({error})") from None
        self.info = {"model": f"stanza:{base_code(code)}", "model_dir": folder}

    def split(self, text: str) -> list[str]:
        document = self.pipeline("\n\n".join(line for line in text.split("\n") if line.strip()))
        return _one_line(sentence.text for sentence in document.sentences)


def _trankit_ready(folder: str, model: str) -> bool:
    # Trankit marks a complete model download with this file; without it Pipeline() would download.
    return os.path.isfile(os.path.join(folder, "xlm-roberta-base", model, f"{model}.downloaded"))


class TrankitSplitter:
    """Trankit's sentence splitter, models from ``model_dir`` or $LANGTICKETS_TRANKIT_CACHE."""

    name = "trankit"

    def __init__(self, code: str, model_dir: str | None = None, use_gpu: bool = False):
        model = TRANKIT_MODELS.get(code) or TRANKIT_MODELS.get(base_code(code))
        if model is None:
            raise SplitterUnavailable(f"Trankit has no model for '{code}' (add it to TRANKIT_MODELS)")
        try:
            import trankit
        except ImportError as error:
            raise SplitterUnavailable(f"the trankit package is not installed ({error})") from None
        folder = model_dir or os.environ.get(TRANKIT_CACHE_ENV) or str(Path.home() / ".cache/langtickets/trankit")
        if not _trankit_ready(folder, model):
            raise SplitterUnavailable(f"Trankit model '{model}' is not downloaded in {folder}")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # XLM-R must come from the local cache too
        try:
            self.pipeline = trankit.Pipeline(model, cache_dir=folder, gpu=use_gpu)
        except Exception as error:
            raise SplitterUnavailable(f"Trankit model '{model}' failed to load from {folder} ({error})") from None
        self.info = {"model": f"trankit:{model}", "model_dir": folder}

    def split(self, text: str) -> list[str]:
        paragraphs = [line for line in text.split("\n") if line.strip()]
        if not paragraphs:
            return []
        result = self.pipeline.ssplit("\n\n".join(paragraphs))
        return _one_line(sentence["text"] for sentence in result["sentences"])


def build_splitter(name: str, code: str, *, model_dir: str | None = None, use_gpu: bool = False) -> Splitter:
    """The splitter ``name`` (moses, stanza or trankit) for language ``code``; may raise :class:`SplitterUnavailable`.

    ``use_gpu`` is a wish: Stanza and Trankit run on the CPU when no GPU is visible.
    """
    if name == "moses":
        return MosesSplitter(code)
    if name == "stanza":
        return StanzaSplitter(code, model_dir, use_gpu)
    if name == "trankit":
        return TrankitSplitter(code, model_dir, use_gpu)
    raise ValueError(f"unknown splitter {name!r}")
