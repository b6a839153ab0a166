#!/bin/sh
# Add secondme to your desktop's applications menu (for you only: ~/.local/share), and
# `secondme` to ~/.local/bin. Remove both again with: ./install.sh --uninstall
# Nothing is written outside your home folder; no root needed.
set -e
here=$(cd "$(dirname "$0")" && pwd)
case "${1:-}" in
  --uninstall) exec "$here/secondme" --uninstall-desktop-entry ;;
  "") exec "$here/secondme" --install-desktop-entry ;;
  *) echo "usage: $0 [--uninstall]" >&2; exit 2 ;;
esac
