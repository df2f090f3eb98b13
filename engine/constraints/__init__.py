"""Declared constraints choose the hardware (docs/constraints.md).

``model.py`` holds the profile and the choice, ``factors.py`` the documented
scaling factors per hardware class, ``solver.py`` the search over (hardware,
replicas, batch size, batching delay), and ``resolve.py`` the engine's seam:
called before a provider's ``plan_change`` for an endpoint with ``constraints``.
"""
