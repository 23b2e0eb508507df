"""The README stays a front page, and the docs site builds with warnings (broken links) as errors."""

import re
import subprocess
import sys

from tests.conftest import PROJECT, require

README_MAX_LINES = 200


def test_readme_is_a_front_page():
    lines = (PROJECT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move sections into docs/"


def test_readme_links_every_docs_page():
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\(docs/([\w./-]+\.md)(?:#[\w-]*)?\)", readme))
    pages = {path.name for path in (PROJECT / "docs").glob("*.md")}
    assert linked <= pages, f"README.md links missing docs pages: {sorted(linked - pages)}"
    assert pages - {"index.md"} <= linked, (
        f"README.md's Documentation list lacks {sorted(pages - linked - {'index.md'})}"
    )


def test_the_docs_home_links_every_page():
    index = (PROJECT / "docs/index.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\(([\w./-]+\.md)(?:#[\w-]*)?\)", index))
    pages = {str(path.relative_to(PROJECT / "docs")) for path in (PROJECT / "docs").rglob("*.md")} - {"index.md"}
    assert pages <= linked, f"docs/index.md's Documentation list lacks {sorted(pages - linked)}"


def test_docs_site_builds_strict_with_figures(tmp_path):
    require("mkdocs")
    site = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(PROJECT / "mkdocs.yml"), "-d", str(site)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, f"mkdocs build --strict failed:\n{build.stderr}"
    figures = sorted(path.name for path in (PROJECT / "docs/explore").glob("*.png"))
    assert figures, "docs/explore holds the exploratory figures the predict page shows"
    page = (site / "predict/index.html").read_text(encoding="utf-8")
    for name in figures:
        assert (site / "explore" / name).read_bytes() == (PROJECT / "docs/explore" / name).read_bytes()
        assert f'src="../explore/{name}"' in page, f"the predict page does not show {name}"
    for html in site.rglob("*.html"):
        remote = re.findall(
            r'<(?:script|link)[^>]+(?:src|href)="(?:https?:)?//[^"]*"', html.read_text(encoding="utf-8")
        )
        assert not remote, f"{html.relative_to(site)} loads from the network: {remote}"


def test_generated_tables_match_their_results():
    """Every table between <!-- table: NAME --> markers is what docs/tables.py renders from docs/results: a figure
    typed by hand, or results re-measured without regenerating the tables, fails here."""
    check = subprocess.run([sys.executable, str(PROJECT / "docs/tables.py"), "--check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    marked = sum(
        path.read_text().count("<!-- table: ") for path in [PROJECT / "README.md", *(PROJECT / "docs").glob("*.md")]
    )
    assert marked >= 5


def test_a_drifted_table_is_caught(tmp_path):
    import importlib.util as util

    spec = util.spec_from_file_location("tables", PROJECT / "docs/tables.py")
    tables = util.module_from_spec(spec)
    spec.loader.exec_module(tables)
    text = (PROJECT / "README.md").read_text()
    drifted = re.sub(r"\| \*\*(\d\.\d{3})", lambda m: f"| **{float(m[1]) + 0.001:.3f}", text, count=1)
    assert drifted != text and tables.rendered(drifted) == tables.rendered(text) == text


# The public API that docs/api.md documents: these objects, and every public function of these modules.
API_OBJECTS = [
    "load",
    "inference.predictor.Predictor",
    "inference.predictor.Prediction",
    "inference.inputs.Failure",
    "features.extractor.FeatureExtractor",
    "features.families.feature_names",
    "features.batch.extract_features",
]
API_MODULES = ["modeling.model", "modeling.metrics", "modeling.normalize"]


def test_the_api_page_documents_every_public_function_with_its_parameters_and_returns(tmp_path):
    require("mkdocstrings")
    griffe = require("griffe")

    package = griffe.load("ser", search_paths=[str(PROJECT / "src")], docstring_parser="numpy")
    objects = [package[path] for path in API_OBJECTS]
    for module in API_MODULES:
        objects += [
            member
            for member in package[module].members.values()  # aliases are imported names
            if not member.is_alias and member.is_function and not member.name.startswith("_")
        ]
    for cls in [obj for obj in objects if obj.is_class]:
        objects += [
            member
            for member in cls.members.values()
            if member.is_function and not member.name.startswith("_") and "property" not in member.labels
        ]
    undocumented = []
    for obj in objects:
        sections = {section.kind.value for section in obj.docstring.parsed} if obj.docstring else set()
        wanted = set()
        if obj.is_function:
            if [p for p in obj.parameters if p.name != "self"]:
                wanted.add("parameters")
            if str(obj.returns) != "None":
                wanted.add("returns")
        else:
            wanted.add("parameters" if "dataclass" not in obj.labels else "attributes")
        if not wanted <= sections:
            undocumented.append(f"{obj.path}: no {', '.join(sorted(wanted - sections))}")
    assert not undocumented, "numpy-style sections missing:\n" + "\n".join(undocumented)

    site = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(PROJECT / "mkdocs.yml"), "-d", str(site)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, f"mkdocs build --strict failed:\n{build.stderr}"
    page = (site / "api/index.html").read_text(encoding="utf-8")
    missing = [obj.path for obj in objects if f'id="{obj.path}"' not in page]
    assert not missing, f"docs/api.md does not show {missing}"
    assert not re.search(r":(?:func|class|meth|mod|attr|data):", page), "a Sphinx role was left unconverted"
