"""describe (with its scheduler), ask, upload, estimate, batch: orchestrate the layers below, return records."""
