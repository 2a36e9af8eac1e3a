"""Composition root: builds the app from ``core``, ``routing``, ``chat`` and ``admin``; nothing imports it."""
