"""Testing helpers for overlaynet users: Hypothesis strategies that draw valid models.

Import them from ``overlaynet.testing.strategies``; this package needs ``hypothesis``
(the ``test`` extra), which ``import overlaynet`` never imports.
"""
