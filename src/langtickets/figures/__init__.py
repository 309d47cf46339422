"""Figures from files under ``results/``: a registry of drawing functions and byte-reproducible PDF/PNG output.

See :mod:`langtickets.figures.base` for the framework (and how to add a figure), :mod:`.tickets`,
:mod:`.interference` and :mod:`.retrieval` for the figures, :mod:`.cli` for ``langtickets figure``.
"""
