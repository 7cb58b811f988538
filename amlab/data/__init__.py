"""Corpora, tokenizers and sequence sets (DESIGN §1, §5).

:class:`~amlab.data.bpe.BPETokenizer` (``tokenizers``) and
:func:`~amlab.data.hub.load_hf_text` (optional ``datasets``) are imported from their modules.
"""

from amlab.data.corpus import BUNDLED_TEXTS, load_text
from amlab.data.pipeline import text_sequences, tokenizer_from_dict
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
    "text_sequences",
    "tokenizer_from_dict",
]
