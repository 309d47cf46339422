"""Corpus stages: download a Wikipedia dump, extract its articles, split them into sentences.

Multilingual Lottery Tickets, Section 4.1 ("Unlabeled Datasets and Languages for Pretraining"): Wikipedia
dumps of the mBERT languages, articles extracted with WikiExtractor, sentences split with Moses (default),
Stanza (th) or Trankit (he, hy, ar; its Arabic model for azb, ka, my, ne, new, pnb).
"""
