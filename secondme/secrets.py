"""The only module that touches the OS keyring.

Secrets (an endpoint's API key, the database key) are stored under the service name
``secondme`` with a per-data-directory user name, so two data directories never share a
key. Nothing here ever logs or ``repr``s a secret.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Optional

from .errors import SecondMeError

SERVICE = "secondme"


def _user(home: Path, name: str) -> str:
    tag = hashlib.sha256(str(Path(home).resolve()).encode()).hexdigest()[:12]
    return f"{name}@{tag}"


def backend_name() -> str:
    """A human name for the keyring backend in use, or 'none' when there is no usable one."""
    try:
        import keyring
        from keyring.backends import fail

        kr = keyring.get_keyring()
        if isinstance(kr, fail.Keyring):
            return "none"
        name = type(kr).__module__ + "." + type(kr).__name__
        if "chainer" in name.lower():
            # keyring's ChainerBackend lists its backends; not every keyring version has it
            backends = getattr(kr, "backends", [])
            if not backends:
                return "none"
            name = ", ".join(type(b).__module__ + "." + type(b).__name__ for b in backends)
        return name
    except Exception as e:  # a broken D-Bus or backend is reported, not raised
        return f"unavailable ({type(e).__name__})"


def available() -> bool:
    return not (backend_name() == "none" or backend_name().startswith("unavailable"))


def get_secret(home: Path, name: str) -> Optional[str]:
    """The stored secret ``name`` for data dir ``home``, or None."""
    import keyring

    try:
        return keyring.get_password(SERVICE, _user(home, name))
    except Exception:
        return None


def set_secret(home: Path, name: str, value: str) -> None:
    """Store a secret. Raises SecondMeError when no keyring backend can store it."""
    import keyring

    try:
        keyring.set_password(SERVICE, _user(home, name), value)
    except Exception as e:
        raise SecondMeError(f"cannot store the secret in the system keyring "
                            f"({type(e).__name__}); no keyring backend is available") from e


def delete_secret(home: Path, name: str) -> None:
    import keyring

    try:
        keyring.delete_password(SERVICE, _user(home, name))
    except Exception:
        pass
