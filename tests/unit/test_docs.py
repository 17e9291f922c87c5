"""The product's docs stand alone: no product file points to notes outside the repository, and the REST
reference (docs/api.md) names every route the API serves."""

from __future__ import annotations

import re
from pathlib import Path

from backend.api import create_app
from backend.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
# Folders that are not the product: tools' caches, installed packages, test output.
NOT_PRODUCT = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis", "test-artifacts",
               "node_modules", ".whl", "runs", "data", ".shakelab"}
TEXT_SUFFIXES = {".py", ".md", ".js", ".css", ".html", ".json", ".toml", ".yml", ".yaml", ".txt", ".sh", ".ini",
                 ".cfg", ".svg", ".example", ".mako"}
TEXT_NAMES = {"Makefile", "Dockerfile", "run", ".gitignore", ".dockerignore"}
# Written escaped, so that this file does not match itself.
OUTSIDE_NOTES = re.compile(r"\.\./shared\b|\bshared/[A-Z]+\.md|\b(PAPERS|DESIGN|SEARCH|STYLE)\.md\b")


def product_files() -> list[Path]:
    files = []
    for path in ROOT.rglob("*"):
        parts = path.relative_to(ROOT).parts
        if any(p in NOT_PRODUCT or p.endswith(".egg-info") for p in parts) or not path.is_file():
            continue
        if path.suffix in TEXT_SUFFIXES or path.name in TEXT_NAMES or path.name.startswith("Dockerfile"):
            files.append(path)
    return files


def test_no_product_file_cites_notes_outside_the_repository():
    files = product_files()
    assert any(f.name == "tables.md" for f in files) and any(f.suffix == ".js" for f in files)
    found = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
             for path in files for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
             if OUTSIDE_NOTES.search(line)]
    assert not found, "cite the papers themselves (authors, year, arXiv id, table), not outside notes:\n" + \
        "\n".join(found)


def test_the_rest_reference_names_every_route(tmp_path):
    reference = (ROOT / "docs" / "api.md").read_text()
    documented = {(m.upper(), re.sub(r"\{\w+\}", "{id}", p)) for m, p in
                  re.findall(r"`(GET|POST|PUT|PATCH|DELETE) (/api/[^`?\s]*)", reference)}
    schema = create_app(Settings(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'db'}"), dispatch=False).openapi()
    served = {(method.upper(), re.sub(r"\{\w+\}", "{id}", path))
              for path, operations in schema["paths"].items() for method in operations}
    assert served - documented == set(), "routes missing from docs/api.md"
    assert documented - served == set(), "docs/api.md names routes the API does not serve"


def test_the_docs_links_lead_to_files_that_exist():
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "examples" / "seed_sweep.py"]:
        for target in re.findall(r"\b((?:docs/)?[a-z_]+\.md)\b", doc.read_text()):
            base = ROOT if target.startswith("docs/") or doc.parent == ROOT / "examples" else doc.parent
            if doc.parent == ROOT / "examples" and not target.startswith("docs/"):
                continue
            assert (base / target).is_file() or (ROOT / target).is_file(), f"{doc.relative_to(ROOT)} -> {target}"
