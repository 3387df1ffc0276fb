"""Network Explorer's Panel layer: the app state, cached services, one Viewer per tab.

Nothing here does maths; every number comes from :mod:`explorer`.
"""
