"""Infilling that listens to what comes after: the middle's NLL with and without the suffix, and
smooth landings into the suffix, on held-out Bach chorales (issue 12 item 5)."""
