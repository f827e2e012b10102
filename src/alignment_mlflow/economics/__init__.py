"""Tier economics on scored customers: cost, expected saves, budget fit and fairness of a plan."""
