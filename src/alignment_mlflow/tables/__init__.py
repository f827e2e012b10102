"""The table plumbing every room shares: table names, targets, the Spark session, Delta helpers."""
