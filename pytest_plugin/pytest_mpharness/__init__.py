"""pytest plugin for mpharness: ``pytest --device NAME`` runs test bodies on a MicroPython board."""
