"""langtickets: a reproducible pipeline for language-specific subnetworks in multilingual BERT."""

__version__ = "0.1.0"
