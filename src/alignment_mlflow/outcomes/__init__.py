"""The campaign's outcome judged against the plan's claims and the spec's business target."""
