"""Analyses of tickets and pretrained models; each module holds pure functions and a thin ``main(argv)``.

* :mod:`.overlap` -- Jaccard overlap of tickets per layer and mask kind, beside the expectation for random
  masks of the same densities and a same-language (re-seeded SNIP) upper bound (IMP paper, section 5).
* :mod:`.structure` -- how tickets group by language family: UMAP coordinates (multilingual-tickets paper,
  section 4.3, Figure 4) and numbers for it (silhouette, intra- minus inter-family Jaccard, permutation null).
* :mod:`.interference` -- uc per layer at one step (Figure 3) and the gc/uc stability series (Figure 2).
* :mod:`.retrieval` -- parallel sentence retrieval per layer with the ratio-margin score (IMP paper, App. E).
* :mod:`.tables` -- CSV and Markdown tables (perplexity, FLOPs, ticket density, overlap, family coherence).

Every output lands under ``results/``; the figures (:mod:`langtickets.figures`) only read these files.
"""
