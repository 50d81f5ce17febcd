"""Alembic script directory for optagent's schema (``env.py``, ``versions/``).

Run through :mod:`agent.adapters.persistence.migrate`; ``alembic.ini`` here is only for
developers who want the ``alembic`` command (e.g. ``revision --autogenerate``).
"""
