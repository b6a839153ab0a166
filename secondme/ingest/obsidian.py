"""Obsidian: vault detection, wikilinks, tags and link resolution.

A vault is a folder of Markdown notes. ``[[Note]]``, ``[[Note|alias]]``,
``[[Note#Heading]]`` and ``![[embed]]`` (and Markdown links to local ``.md`` files) are
ready-made links between notes; front-matter ``tags``/``aliases`` and inline ``#tag`` /
``#nested/tag`` are kept. Code (fenced blocks and inline spans) never yields links or
tags; that masking is done by the Markdown parser before these functions see the text.
"""
from __future__ import annotations

import posixpath
import re
from typing import Any, Iterable, Optional
from urllib.parse import unquote

from .model import WikiLink
from .tree import DirTree, FileTree, SubTree, Tree, ZipTree

_WIKILINK = re.compile(r"\[\[([^\[\]\n]+?)\]\]")
# [text](Some%20Note.md#Heading) or [text](<Some Note.md>) — a local note, no scheme.
_MDLINK = re.compile(
    r"(?<!!)\[([^\]\n]*)\]\(\s*(?:<([^>\n]+?\.md)(#[^>\n]*)?>|([^)\s]+?\.md)(#[^)\s]*)?)\s*\)",
    re.IGNORECASE)
# Obsidian: a tag starts after whitespace (or at the start), and its characters are
# anything but whitespace and ASCII punctuation other than _ - /.
_TAG = re.compile(r"#([^\s#!\"$%&'()*+,.:;<=>?@\[\\\]^`{|}~]+)")


def find_links(masked: str, folder: str = "") -> list[tuple[int, int, WikiLink]]:
    """Wikilinks and local Markdown links in ``masked`` (code already blanked out).

    A relative Markdown link (``../Projects/Garden.md``) is resolved from ``folder``, the
    note's folder inside the import, when it stays inside the import.

    Returns ``(start, end, link)`` in order. Links to a heading of the same note
    (``[[#Heading]]``) are not links between notes and are left out.
    """
    out: list[tuple[int, int, WikiLink]] = []
    for m in _WIKILINK.finditer(masked):
        start = m.start()
        embed = start > 0 and masked[start - 1] == "!"
        link = parse_wikilink(m.group(1), embed=embed)
        if link is not None:
            out.append((start - embed, m.end(), link))
    for m in (_MDLINK.finditer(masked) if "](" in masked else ()):
        raw_target = m.group(2) or m.group(4)
        frag = m.group(3) or m.group(5) or ""
        if "://" in raw_target or raw_target.lower().startswith(("mailto:", "file:")):
            continue
        target = unquote(raw_target)
        target = target[:-3] if target.lower().endswith(".md") else target
        if target.startswith(("./", "../")):
            joined = posixpath.normpath(posixpath.join(folder, target))
            target = joined if not joined.startswith("..") else target.lstrip("./")
        target = target.lstrip("/")
        heading = unquote(frag[1:]) if frag else ""
        if target:
            out.append((m.start(), m.end(),
                        WikiLink(target=target, heading=heading, alias=m.group(1).strip())))
    out.sort(key=lambda t: t[0])
    return out


def parse_wikilink(inner: str, embed: bool = False) -> Optional[WikiLink]:
    """``Note#Heading|alias`` → WikiLink; None for a link within the same note."""
    inner = inner.replace("\\|", "|")
    target, _, alias = inner.partition("|")
    target, _, heading = target.partition("#")
    target = target.strip()
    if not target:
        return None
    return WikiLink(target=target, heading=heading.strip(), alias=alias.strip(), embed=embed)


def find_tags(masked: str) -> list[str]:
    """Inline ``#tag`` / ``#nested/tag`` in ``masked``, without the ``#``, in order.

    Purely numeric tags (``#123``) are not tags, as in Obsidian.
    """
    out = []
    for m in _TAG.finditer(masked):
        if m.start() and not masked[m.start() - 1].isspace():
            continue  # "C#", "page#anchor", "a#b": not tags
        tag = m.group(1).strip("/")
        if tag and not tag.replace("/", "").isdigit():
            out.append(tag)
    return out


def tags_from_front_matter(value: Any) -> list[str]:
    """Front-matter ``tags``: a list or a string of comma/space separated tags."""
    items: list[Any]
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        items = list(value)
    else:
        items = [value]
    out = []
    for item in items:
        if item is None or isinstance(item, (dict, list)):
            continue
        for part in re.split(r"[,\s]+", str(item)):
            part = part.strip().lstrip("#").strip("/")
            if part:
                out.append(part)
    return out


def aliases_from_front_matter(value: Any) -> list[str]:
    """Front-matter ``aliases``: a list, or a comma separated string."""
    if value is None:
        return []
    items = list(value) if isinstance(value, (list, tuple)) else str(value).split(",")
    out = []
    for item in items:
        if item is None or isinstance(item, (dict, list)):
            continue
        s = str(item).strip()
        if s:
            out.append(s)
    return out


def unique(items: Iterable[str]) -> list[str]:
    """Items in first-seen order, case-insensitively deduplicated (tags are in Obsidian)."""
    seen: set[str] = set()
    out = []
    for item in items:
        key = item.casefold()
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def is_vault(tree: Tree, sample: int = 60) -> bool:
    """An Obsidian vault: a ``.obsidian/`` folder at the top (or in the ZIP's top
    folder), or else mostly Markdown files, a good share of which hold ``[[wikilinks]]``.

    Cheap: looks at the directory itself and reads at most ``sample`` file heads.
    """
    if isinstance(tree, FileTree):
        return False
    if _has_obsidian_dir(tree):
        return True
    files = tree.files()
    md = [f for f in files if f.lower().endswith((".md", ".markdown"))]
    if len(md) < 2 or len(md) < 0.6 * len(files):
        return False
    step = max(1, len(md) // sample)
    checked = linked = 0
    for rel in md[::step][:sample]:
        try:
            head = tree.head(rel, 16384)
        except Exception:  # an unreadable file does not decide what the folder is
            continue
        checked += 1
        if _WIKILINK.search(head.decode("utf-8", "replace")):
            linked += 1
    if checked < 2:
        return False
    return linked >= max(2, 0.2 * checked)


def _has_obsidian_dir(tree: Tree) -> bool:
    if isinstance(tree, DirTree):
        return (tree.path / ".obsidian").is_dir()
    if isinstance(tree, ZipTree):
        names = tree._zip.namelist()
        for name in names:
            parts = name.split("/")
            # the vault folder itself, or one top folder holding it (how ZIPs are made)
            if ".obsidian" in parts[:2]:
                return True
        return False
    if isinstance(tree, SubTree):
        parent = tree.parent
        if isinstance(parent, DirTree):
            return (parent.path / tree.prefix / ".obsidian").is_dir()
        if isinstance(parent, ZipTree):
            return any(n.startswith(tree.prefix + ".obsidian/") for n in parent._zip.namelist())
    return False


def resolve_link(target: str, paths: Iterable[str]) -> Optional[str]:
    """The vault-relative path a wikilink target points at, or None.

    As Obsidian does: ``[[folder/Note]]`` matches by path, ``[[Note]]`` by file name
    (case-insensitively, with or without ``.md``); when several notes share the name,
    the one with the shortest path wins. ``paths`` are POSIX paths relative to the vault.
    """
    t = target.strip().replace("\\", "/").lstrip("/")
    if not t:
        return None
    t_low = t.casefold()
    if not posixpath.splitext(t_low)[1]:
        t_low_md = t_low + ".md"
    else:
        t_low_md = t_low
    by_path = None
    by_name = []
    for p in paths:
        pl = p.casefold()
        if pl in (t_low_md, t_low):
            by_path = p
            break
        if "/" not in t and posixpath.basename(pl) in (t_low_md, t_low):
            by_name.append(p)
        elif "/" in t and (pl.endswith("/" + t_low_md) or pl.endswith("/" + t_low)):
            by_name.append(p)
    if by_path:
        return by_path
    if by_name:
        return min(by_name, key=lambda p: (p.count("/"), len(p), p))
    return None
