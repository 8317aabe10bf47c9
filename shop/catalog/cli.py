"""`flask catalog ...` commands (seed demo games)."""
from flask.cli import AppGroup

catalog_cli = AppGroup("catalog", help="Catalog commands.")
