"""Who the bundled demo export belongs to (see resources/make_demo.py)."""
DEMO_ME = "Sam Rivera"
DEMO_ALIASES = ("Sam", "sammy")
