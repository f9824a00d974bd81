"""Data: read the company's files, check them, find duplicates and leaks, prepare token ids.

Importing this package is cheap: no tokenizer or model is loaded until a function needs one.
"""

from tunesmith.data.readers import (
    FORMATS,
    Problem,
    Record,
    data_error,
    detect_format,
    iter_records,
    read_examples,
)
from tunesmith.data.types import Conversation, Document, Message, TokenizedExample

__all__ = [
    "FORMATS",
    "Conversation",
    "Document",
    "Message",
    "Problem",
    "Record",
    "TokenizedExample",
    "data_error",
    "detect_format",
    "iter_records",
    "read_examples",
]
