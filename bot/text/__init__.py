"""Shared words worded: the message catalogues (Babel) and how dates, times and names are written."""
