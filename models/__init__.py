"""The bayesuq model zoo, installed as ``bayesuq.models``.

Each research model family lives in its own module here (``bayesuq.models.<family>``) and
builds on the shared inference core in :mod:`bayesuq`; the families arrive with their own
issues. This folder is mapped to the sub-package ``bayesuq.models`` by ``package-dir`` in
``pyproject.toml`` (see ``docs/architecture.md``).
"""
