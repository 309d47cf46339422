from langtickets.cli import entry

entry()
