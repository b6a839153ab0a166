"""``secondme --install-desktop-entry`` / ``--uninstall-desktop-entry``: the desktop menu.

Installing puts, in the user's XDG folders (``$XDG_DATA_HOME``, default
``~/.local/share``; never system folders):

* ``applications/secondme.desktop`` — the menu entry, its ``Exec`` the absolute path of
  the ``secondme`` that ran the command (the bundle's executable, or the pip/pipx
  script), so it works without ``~/.local/bin`` on the PATH;
* ``icons/hicolor/<size>/apps/io.secondme.SecondMe.png`` and the scalable SVG;
* ``metainfo/io.secondme.SecondMe.metainfo.xml`` — for software centres;
* ``~/.local/bin/secondme`` — a symlink to the bundle's executable (bundle only, and only
  when that name is free or already one of ours), so ``secondme`` works in a terminal.

Uninstalling removes exactly these, and only files that say they are ours (the entry
carries ``X-SecondMe-Installed=true``; the symlink must point at a ``secondme``
executable). The source files are the ones in ``packaging/`` of a checkout: a wheel
installs them under ``<prefix>/share`` and the bundle carries them under
``_internal/share`` (see ``packaging/secondme.spec``).

Both options are eager: they run before any command and exit.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import click

APP_ID = "io.secondme.SecondMe"
DESKTOP_FILE = "secondme.desktop"
METAINFO_FILE = f"{APP_ID}.metainfo.xml"
MARKER = "X-SecondMe-Installed=true"


@dataclass
class Sources:
    """Where the desktop entry, metainfo and hicolor icon tree to install are."""

    desktop: Path
    metainfo: Path
    icons: Path  # the hicolor folder


@dataclass
class Targets:
    """Where they go for this user."""

    applications: Path
    icons: Path  # the user's hicolor folder
    metainfo: Path
    bin: Path
    installed: list[Path] = field(default_factory=list)


def find_sources() -> Sources:
    """The desktop files shipped with this installation: the bundle's, the wheel's
    (``<prefix>/share``) or a checkout's ``packaging/``. Raises ClickException when none
    is complete."""
    candidates = []
    meipass = getattr(sys, "_MEIPASS", None)  # set by PyInstaller in the bundle
    for share in ([Path(meipass) / "share"] if meipass else []) + [Path(sys.prefix) / "share"]:
        candidates.append(Sources(share / "applications" / DESKTOP_FILE,
                                  share / "metainfo" / METAINFO_FILE, share / "icons" / "hicolor"))
    pkg = Path(__file__).resolve().parents[2] / "packaging"
    candidates.append(Sources(pkg / DESKTOP_FILE, pkg / METAINFO_FILE, pkg / "icons" / "hicolor"))
    for c in candidates:
        if c.desktop.is_file() and c.metainfo.is_file() and \
                (c.icons / "scalable" / "apps" / f"{APP_ID}.svg").is_file():
            return c
    raise click.ClickException(
        "the desktop entry files are missing from this installation (looked in "
        + ", ".join(str(c.desktop.parent) for c in candidates) + "); reinstall secondme")


def user_targets() -> Targets:
    """The user's XDG data folders (``$XDG_DATA_HOME`` or ``~/.local/share``) and
    ``~/.local/bin``."""
    home = Path(os.environ.get("HOME") or Path.home())
    xdg = os.environ.get("XDG_DATA_HOME")
    data = Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".local" / "share"
    return Targets(applications=data / "applications", icons=data / "icons" / "hicolor",
                   metainfo=data / "metainfo", bin=home / ".local" / "bin")


def is_bundle() -> bool:
    """True when running as the PyInstaller bundle's executable."""
    return bool(getattr(sys, "frozen", False))


def launcher() -> Path:
    """The absolute path of the ``secondme`` executable to put in the menu entry."""
    if is_bundle():
        return Path(sys.executable).resolve()
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if argv0 is not None and argv0.name == "secondme" and argv0.is_file():
        return argv0.resolve()
    found = shutil.which("secondme")
    if found:
        return Path(found).resolve()
    raise click.ClickException(
        "cannot find the `secondme` command to put in the menu; install secondme with "
        "pipx (or pip) so that `secondme` is on your PATH, or use the bundle")


def exec_quote(path: Path) -> str:
    """``path`` as one argument of a desktop entry's Exec key (quoted when needed)."""
    s = str(path).replace("%", "%%")
    if not any(c in s for c in ' \t\n"\'\\><~|&;$*?#()`'):
        return s
    for c in ("\\", '"', "`", "$"):
        s = s.replace(c, "\\" + c)
    # the desktop file format itself unescapes backslashes once more in string values
    return '"' + s.replace("\\", "\\\\") + '"'


def render_entry(template: str, exe: Path) -> str:
    """The menu entry ``template`` with ``Exec``/``TryExec`` pointing at ``exe``."""
    out = []
    for line in template.splitlines():
        key, sep, value = line.partition("=")
        if sep and key == "Exec":
            args = value.split()[1:]
            line = "Exec=" + " ".join([exec_quote(exe), *args])
        elif sep and key == "TryExec":
            line = f"TryExec={exe}"
        out.append(line)
        if line.strip() == "[Desktop Entry]":
            out.append(MARKER)
    return "\n".join(out) + "\n"


def _copy(src: Path, dst: Path, t: Targets) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
    t.installed.append(dst)


def _write(text: str, dst: Path, t: Targets) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, dst)
    t.installed.append(dst)


def _icon_files(icons: Path) -> list[Path]:
    """The app's icons in a hicolor tree, relative to it."""
    return sorted(p.relative_to(icons) for p in icons.glob(f"*/apps/{APP_ID}.*"))


def _ours(link: Path) -> bool:
    """True when ``link`` is a symlink to a ``secondme`` executable (one we made)."""
    return link.is_symlink() and Path(os.readlink(link)).name == "secondme"


def install(src: Sources, t: Targets, exe: Path, link: bool) -> Targets:
    """Install the menu entry, icons and metainfo (and the ``~/.local/bin`` link when
    ``link``). Returns ``t`` with ``installed`` filled in."""
    _write(render_entry(src.desktop.read_text(encoding="utf-8"), exe),
           t.applications / DESKTOP_FILE, t)
    for rel in _icon_files(src.icons):
        _copy(src.icons / rel, t.icons / rel, t)
    _copy(src.metainfo, t.metainfo / METAINFO_FILE, t)
    dst = t.bin / "secondme"
    if link and (_ours(dst) or not (dst.exists() or dst.is_symlink())):
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(f".secondme.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(exe)
        os.replace(tmp, dst)
        t.installed.append(dst)
    _refresh_caches(t)
    return t


def uninstall(t: Targets) -> Targets:
    """Remove what :func:`install` put there. Files that are not ours stay."""
    entry = t.applications / DESKTOP_FILE
    if entry.is_file() and MARKER in entry.read_text(encoding="utf-8", errors="replace"):
        entry.unlink()
        t.installed.append(entry)
    if t.icons.is_dir():
        for rel in _icon_files(t.icons):
            (t.icons / rel).unlink()
            t.installed.append(t.icons / rel)
    meta = t.metainfo / METAINFO_FILE
    if meta.is_file():
        meta.unlink()
        t.installed.append(meta)
    dst = t.bin / "secondme"
    if _ours(dst):
        dst.unlink()
        t.installed.append(dst)
    _refresh_caches(t)
    return t


def _refresh_caches(t: Targets) -> None:
    """Tell the desktop about the change (best effort: the tools are optional)."""
    if t.icons.is_dir():
        os.utime(t.icons)  # icon themes notice a changed hicolor folder by its mtime
    # menus watch the applications folder themselves (the entry declares no MIME types,
    # so there is no mimeinfo.cache to update); an icon cache the user already has is
    # refreshed, none is started
    if (t.icons / "icon-theme.cache").exists() and shutil.which("gtk-update-icon-cache"):
        subprocess.run(["gtk-update-icon-cache", "-q", "-t", "-f", str(t.icons)],
                       capture_output=True, check=False, timeout=60)


def _run(action: str) -> None:
    t = user_targets()
    try:
        if action == "install":
            exe = launcher()
            install(find_sources(), t, exe, link=is_bundle())
            click.echo(f"secondme is in your applications menu (runs {exe}):")
        else:
            uninstall(t)
            click.echo("removed secondme from your applications menu:"
                       if t.installed else "secondme was not in your applications menu")
    except OSError as e:
        where = f" ({e.filename})" if e.filename else ""
        raise click.ClickException(f"cannot {action} the desktop entry: "
                                   f"{e.strerror or e}{where}") from e
    for p in t.installed:
        click.echo(f"  {p}")


def _install_callback(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        _run("install")
        ctx.exit(0)


def _uninstall_callback(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        _run("uninstall")
        ctx.exit(0)


def options() -> list[click.Option]:
    """The two eager options added to the ``secondme`` group."""
    return [
        click.Option(["--install-desktop-entry"], is_flag=True, is_eager=True,
                     expose_value=False, callback=_install_callback,
                     help="Add secondme to your desktop's applications menu and exit."),
        click.Option(["--uninstall-desktop-entry"], is_flag=True, is_eager=True,
                     expose_value=False, callback=_uninstall_callback,
                     help="Remove secondme from your applications menu and exit."),
    ]

