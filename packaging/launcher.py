"""Entry point of the bundled app (PyInstaller): the same as the ``secondme`` command.

Without arguments it opens the desktop app; with arguments it is the command line.
"""
import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from secondme.cli import run

    sys.exit(run())
