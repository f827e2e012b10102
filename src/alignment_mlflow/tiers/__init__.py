"""The intervention tiers table: one schema (pure), a delta-rs backend for paths, a Spark backend
for table names, and the writer that picks one from the target string."""
