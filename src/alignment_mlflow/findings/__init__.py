"""The framework's findings files: the document model and discovery, reading and writing them
back (io), the data-constraint checks against them, and storage backends by kind of location."""
