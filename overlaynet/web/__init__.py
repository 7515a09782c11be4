"""The web view and the report: the topology drawn with a traced path on it, per-hop steps,
kube-proxy's branches and the reach matrix. ``view`` computes what is drawn (pure data);
``server`` serves the page and its JSON API on loopback; ``report`` writes the same page as
one self-contained HTML file. The page's assets ship in ``static/`` (no CDN: it works offline).
"""
