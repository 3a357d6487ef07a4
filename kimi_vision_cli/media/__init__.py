"""Bytes in, bytes out, no network: sniffing, image preparation, video probe, downscale and metadata stripping."""
