"""Call records: what happened on each call, kept in a database."""
