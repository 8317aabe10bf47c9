"""Test support shared by every test package: launchers, factories, ports."""
