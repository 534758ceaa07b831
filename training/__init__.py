"""Offline training of the course models into versioned artifacts (see ``python -m training --help``)."""
