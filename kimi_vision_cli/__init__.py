"""kimi-vision: describe images and videos with Moonshot's Kimi vision models."""

__version__ = "0.1.0"
