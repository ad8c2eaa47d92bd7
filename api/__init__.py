"""HTTP API and approver page (FastAPI). Build the app with `api.app.create_app`."""
