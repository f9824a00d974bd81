"""tunesmith: fine-tune open LLMs on a company's own data, on its own machines."""

__version__ = "0.1.0"
