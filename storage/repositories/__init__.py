"""Repositories: the only place that builds queries, one module per aggregate; storage/uow.py binds them
to a transaction. Only the shapes the console's listings are read in are named from here."""

from storage.repositories.submissions import SubmissionFilter, SubmissionRow

__all__ = ["SubmissionFilter", "SubmissionRow"]
