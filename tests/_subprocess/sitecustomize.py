"""Imported at start-up by every Python process the tests start (tests/_sqlite_template.py puts
this folder on PYTHONPATH): see mlflow_template.py."""

import mlflow_template

mlflow_template.install_hook()
