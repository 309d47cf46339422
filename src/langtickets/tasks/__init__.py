"""Downstream task data, heads and metrics: UD POS and dependency parsing, NER, NLI.

Submodules (import the one you need; only :mod:`features`, :mod:`heads` and :mod:`parser` import torch):

* :mod:`records`  -- the record types every loader returns, and the fixed label inventories;
* :mod:`ud`, :mod:`ner`, :mod:`nli` -- readers for the local file formats, with one-line errors;
* :mod:`hub`      -- the same records from Hugging Face ``datasets`` (``hf:<dataset>/<config>:<split>``);
* :mod:`spec`     -- :class:`~langtickets.tasks.spec.DatasetSpec`, the registry a config names datasets with;
* :mod:`features` -- first-sub-word alignment, truncation, padding;
* :mod:`heads`, :mod:`parser`, :mod:`mst` -- task heads on a pluggable encoder and tree decoding;
* :mod:`metrics`  -- POS accuracy, NER F1 (seqeval), UAS/LAS (CoNLL 2018), NLI accuracy.
"""
