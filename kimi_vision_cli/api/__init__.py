"""The only importer of openai: chat stream, files, batches, tokenizer, models."""
