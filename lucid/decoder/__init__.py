"""Decoding CTC outputs with a language model: the decoder, its n-gram LM and its results.

Plain beam search without a language model is
:func:`lucid.nn.functional.ctc_beam_search_decode`.
"""

from lucid.decoder.arpa import NGramLM
from lucid.decoder.ctc_decoder import CTCDecoder, ctc_decoder
from lucid.nn.functional.beam import CTCHypothesis, WordSpan

__all__ = ["ctc_decoder", "CTCDecoder", "NGramLM", "CTCHypothesis", "WordSpan"]
