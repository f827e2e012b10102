"""The band table: which tier holds a churn score, one definition for every room and engine."""
