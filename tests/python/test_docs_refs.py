"""The repository explains itself: comments cite docs/ (format.md, algorithm.md, architecture.md),
never design notes that are not in it (spec/..., DESIGN.md, "issue N"), and every cited
`docs/<file>.md §N` names a section that exists."""
import pathlib
import re
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]
STALE = re.compile(r"spec/[a-z]+\.md|\bspec §|spec gguf\.md|DESIGN\.md|\(issue \d+\)|landscape\.md")
CITE = re.compile(r"docs/(format|algorithm|architecture)\.md(?: §([0-9A-Z]+(?:\.[0-9]+)?))?")


def tracked_text_files():
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for rel in out.split():
        if rel.startswith("docs/") or rel.endswith((".gguf", ".csv")) or rel == "tests/python/test_docs_refs.py":
            continue
        try:
            yield rel, (ROOT / rel).read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue


def sections(doc: str):
    text = (ROOT / "docs" / f"{doc}.md").read_text(encoding="utf-8")
    return set(re.findall(r"^#+ §([0-9A-Z]+(?:\.[0-9]+)?)\b", text, flags=re.M))


def test_no_citations_of_missing_documents():
    bad = [f"{rel}:{n + 1}: {line.strip()}" for rel, text in tracked_text_files()
           for n, line in enumerate(text.splitlines()) if STALE.search(line)]
    assert not bad, "cite docs/ instead:\n" + "\n".join(bad)


def test_cited_sections_exist():
    known = {d: sections(d) for d in ("format", "algorithm", "architecture")}
    assert "B" in known["format"] and "8.3" in known["algorithm"]
    bad = []
    for rel, text in tracked_text_files():
        for m in CITE.finditer(text):
            doc, sec = m.group(1), m.group(2)
            if sec and sec not in known[doc]:
                bad.append(f"{rel}: {m.group(0)}")
    assert not bad, "no such section:\n" + "\n".join(bad)
