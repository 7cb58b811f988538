"""Corpora, tokenizers and sequence sets (DESIGN §1, §5)."""

from amlab.data.corpus import BUNDLED_TEXTS, load_text
from amlab.data.sequences import NestedSplit, deduplicate, make_sequences, nested_split
from amlab.data.tokenizer import CharTokenizer, Tokenizer

__all__ = [
    "BUNDLED_TEXTS",
    "CharTokenizer",
    "NestedSplit",
    "Tokenizer",
    "deduplicate",
    "load_text",
    "make_sequences",
    "nested_split",
]
