"""Shared kernel of nora-chat: settings, persistence models, reference data, time and logging.

It depends on nothing else in the project; ``chat``, ``admin`` and ``nora`` build on it.
"""
