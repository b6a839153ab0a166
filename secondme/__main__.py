from secondme.cli import run

run()
