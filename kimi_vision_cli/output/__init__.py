"""Records (the JSON contract), answer renderers, listings, sidecars, diagnostics and progress."""
