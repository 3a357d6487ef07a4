"""INPUT arguments -> sources: paths, directory walks, -, ms://, URLs, --files-from."""
