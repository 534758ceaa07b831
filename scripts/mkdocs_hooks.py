"""mkdocs hooks (mkdocs.yml ``hooks:``): links from the docs to repository files outside docs/.

A page may link to a file of the repository that is not part of the site (``../deploy/README.md``),
as it reads on GitHub. The site has no such page, so those links become the file's path in plain
text when the file exists; a link to a file that exists nowhere is left alone, and
``mkdocs build --strict`` fails on it as on any broken link.
"""

import re
from pathlib import Path
from typing import Any

LINK = re.compile(r"\[([^\]]+)\]\(([^)\s#]+)(#[^)\s]*)?\)")


def repository_path(page_source: Path, target: str, docs_dir: Path) -> str | None:
    """The target's path from the repository root, when it lies outside docs/ and exists."""
    if "://" in target or target.startswith(("/", "mailto:")):
        return None
    resolved = (page_source.parent / target).resolve()
    root = docs_dir.resolve().parent
    if resolved.is_relative_to(docs_dir.resolve()) or not resolved.is_relative_to(root) or not resolved.exists():
        return None
    return resolved.relative_to(root).as_posix()


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    docs_dir = Path(config["docs_dir"])
    source = docs_dir / page.file.src_path

    def replace(match: re.Match[str]) -> str:
        text, target = match.group(1), match.group(2)
        path = repository_path(source, target, docs_dir)
        if path is None:
            return match.group(0)
        return text if path in text else f"{text} (`{path}` in the repository)"

    return LINK.sub(replace, markdown)
