"""A griffe extension for the API page (mkdocs.yml): Sphinx roles in docstrings become code spans.

The docstrings name other objects as Sphinx does (:class:`Prediction`, :func:`ser.load`), which reads well in
``help()``; Markdown has no roles, so the page shows each target as code instead.
"""

import re

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|attr|data|exc|obj|const):`~?([^`]+)`")


class SphinxRoles(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = ROLE.sub(r"`\1`", obj.docstring.value)
