"""Language-specific head subnetworks with meta-learning for dependency parsing (Choenni, Garrette and
Shutova, "Data-Efficient Cross-Lingual Transfer with Language-Specific Subnetworks", sections 4-8).

* :mod:`.masks` -- one binary mask per fine-tuning language over the attention heads (layers x heads) or,
  for the unstructured baseline of section 8, over the attention weights; save/load as safetensors; the
  threshold that keeps an exact share and its straight-through estimator (section 4.3.2).
* :mod:`.use` -- how a model wears a language's mask: static (fixed, section 4.3) or dynamic (mask weights
  trained with the model, the lowest 20% dropped at every step, section 4.3.2).
* :mod:`.pruning` -- finding the masks (section 4.3.1): fine-tune on the language, remove the 10% least
  important heads until dev LAS falls below 95% of the unpruned model, union over seeds; the magnitude and
  random baselines of section 8.
* :mod:`.training` -- stage 1 on the source language, stage 2 non-episodic (one batch per language per
  iteration) or first-order MAML (Algorithm 1), with the gradient-conflict measurements of section 7.2.
* :mod:`.similarity` -- the fine-tuning language typologically closest to a target (URIEL syntax_knn
  cosine, section 4.5; demo languages use their grammar's typology).
* :mod:`.fewshot` -- test time: 20 target examples, 20 updates, under the closest language's subnetwork.
* :mod:`.subnetworks_cli`, :mod:`.train_cli`, :mod:`.tables` -- the ``headsub-*`` stages; :mod:`.figure`
  draws the per-language change against the full model.
"""
