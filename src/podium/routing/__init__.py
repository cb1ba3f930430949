"""Routing: which deployment serves a request, in which order the others stand in, and why."""
