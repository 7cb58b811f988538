"""Corpora, tokenizers and sequence sets (the state space and the data of :doc:`/concepts`).

:class:`~amlab.data.bpe.BPETokenizer` (``tokenizers``) and
:func:`~amlab.data.hub.load_hf_text` (optional ``datasets``) are imported from their modules.
"""

from amlab.data.corpus import BUNDLED_TEXTS, load_text, text_files
from amlab.data.pipeline import (
    TextSequences,
    load_text_sequences,
    text_sequences,
    tokenizer_from_dict,
)
from amlab.data.sequences import (
    CutReport,
    NestedSplit,
    cut_sequences,
    deduplicate,
    make_sequences,
    nested_split,
)
from amlab.data.tokenizer import CharTokenizer, Tokenizer

__all__ = [
    "BUNDLED_TEXTS",
    "CharTokenizer",
    "CutReport",
    "NestedSplit",
    "TextSequences",
    "Tokenizer",
    "cut_sequences",
    "deduplicate",
    "load_text",
    "load_text_sequences",
    "make_sequences",
    "nested_split",
    "text_files",
    "text_sequences",
    "tokenizer_from_dict",
]
