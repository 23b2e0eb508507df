"""The HTML page template for ``dvc plots show`` / ``dvc plots diff`` that renders with no network.

DVC's own page loads Vega, Vega-Lite and vega-embed from a CDN, so offline its interactive plots stay
blank. This template carries the three libraries inline, from the ``vl-convert-python`` package (a PyPI
wheel that ships them), and leaves out DVC's ``{scripts}`` placeholder, where the CDN tags would go: the
page DVC writes from it needs nothing but itself, wherever it is written or copied.
"""

from __future__ import annotations

from pathlib import Path

from ser.errors import SerError
from ser.files import atomic_path

VEGA_LITE_VERSION = "5.21"  # DVC's plot templates are Vega-Lite v5 specs
PLACEHOLDERS = ("{plot_divs}", "{refresh_tag}", "{scripts}")  # what DVC replaces in the template

HEAD = """<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>DVC Plot</title>
    <style>
        table {
            border-spacing: 15px;
        }
    </style>
    <script>
"""
TAIL = """
    </script>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def vega_bundle(vl_version: str = VEGA_LITE_VERSION) -> str:
    """Vega, Vega-Lite and vega-embed as one script that defines ``vega``, ``vegaLite`` and ``vegaEmbed``."""
    try:
        import vl_convert
    except ImportError:
        raise SerError(
            "the package vl-convert-python is missing (it ships the Vega libraries); "
            "install it with uv sync --locked --extra pipeline"
        ) from None
    bundle = vl_convert.javascript_bundle(vl_version=vl_version)
    clash = [text for text in ("</script", *PLACEHOLDERS) if text in bundle]
    if clash:
        raise SerError(
            f"vl-convert-python's Vega bundle contains {clash}, which would break the page; "
            "pin another vl-convert-python version"
        )
    return bundle


def write_template(path: str | Path) -> None:
    """Write the offline plots page template to ``path`` (atomically)."""
    with atomic_path(path) as tmp:
        tmp.write_text(HEAD + vega_bundle() + TAIL, encoding="utf-8")
